"""Thread pools and semaphores shared by every call in a process.

A forked child gets copies of the parent's pool objects but none of their threads, so
work submitted there would never run, and copies of semaphores that the parent's
threads may hold: the child starts with none and makes its own.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[str, ThreadPoolExecutor] = {}
_SEMAPHORES: dict[str, threading.BoundedSemaphore] = {}
_LOCK = threading.Lock()


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask on Linux, e.g. under SLURM or
    ``taskset``; the machine's count elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def shared_pool(name: str, workers: int) -> ThreadPoolExecutor:
    """The process's pool called ``name`` (made with ``workers`` threads on first use)."""
    with _LOCK:
        pool = _POOLS.get(name)
        if pool is None:
            pool = _POOLS[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"unizarr-{name}")
        return pool


def shared_semaphore(name: str, value: int) -> threading.BoundedSemaphore:
    """The process's semaphore called ``name`` (made with ``value`` slots on first use)."""
    with _LOCK:
        sem = _SEMAPHORES.get(name)
        if sem is None:
            sem = _SEMAPHORES[name] = threading.BoundedSemaphore(value)
        return sem


def _forget_in_child() -> None:
    global _LOCK
    _POOLS.clear()
    _SEMAPHORES.clear()
    _LOCK = threading.Lock()  # a parent thread may have held it at fork time


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
