"""Freed memory handed back to the system when a long call outgrows its budget.

glibc's ``malloc`` keeps memory that was freed in the heap it came from: every thread
that allocates gets a heap ("arena") of its own, and a free block inside a heap cannot
be given back while blocks above it live. The engines' writer threads allocate and free
chunk buffers all the time, so a process's resident memory drifts above what is in use:
a 1024^3 one-pass pyramid on TensorStore held 155-238 MiB of the system's memory while
its live blocks took about 50-60 MiB of it (``mallinfo2``), and its peak moved between
166 and 287 MiB from run to run. ``malloc_trim`` hands those free pages back.

A :class:`Watch` is started with the budget of a call (the pyramid's ``max_memory``) and
checked between the pieces it writes; only when the process's anonymous memory has
grown past the budget does it trim, so a call that stays within it costs one read of
``/proc/self/statm`` per piece and nothing else (trimming every piece costs 10-25% of
the time: the next piece faults its buffers in again). Where there is no glibc or no
``/proc`` (macOS, Windows, musl) a watch does nothing.
"""

from __future__ import annotations

import ctypes
import os
import threading
from functools import cache

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: ``mallopt`` parameter: free heap kept at the top of the main heap.
M_TOP_PAD = -2


@cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (has ``malloc_trim``), else ``None``."""
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows, musl)
        return None
    return libc


def set_option(param: int, value: int) -> bool:
    """glibc's ``mallopt(param, value)``; whether this C library has it."""
    libc = _libc()
    if libc is None:
        return False
    libc.mallopt(param, value)
    return True


def anon_bytes() -> int | None:
    """Resident memory of this process not backed by files (``/proc/self/statm``:
    resident minus shared pages), or ``None`` where the system does not say."""
    try:
        with open("/proc/self/statm", "rb") as f:
            fields = f.read().split()
        return (int(fields[1]) - int(fields[2])) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def trim() -> bool:
    """Hand the free memory of every ``malloc`` heap back to the system; whether this
    C library can."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class Watch:
    """Trims the heaps when this process's anonymous memory grows more than
    ``allowance`` bytes above what it was when the watch started.

    After a trim that leaves the process above that mark (its live memory is there:
    nothing to hand back), the next trim waits until it has grown another quarter of
    ``allowance``, so a call over its budget does not trim at every check.
    """

    def __init__(self, allowance: int) -> None:
        start = anon_bytes() if _libc() is not None else None
        self.mark = None if start is None else start + max(0, int(allowance))
        self.step = max(1, int(allowance) // 4)
        self.trims = 0
        self._after = 0  # the process's memory after a trim that left it over the mark
        self._lock = threading.Lock()

    def check(self) -> None:
        """Trim when the process is over the mark (called between pieces of work; safe
        from any thread)."""
        if self.mark is None:
            return
        with self._lock:  # one trim at a time; the others see the lowered figure
            now = anon_bytes()
            if now is None or now <= self.mark:
                self._after = 0
                return
            if now <= self._after + self.step:
                return
            trim()
            self.trims += 1
            after = anon_bytes()
            self._after = after if after is not None and after > self.mark else 0


__all__ = ["M_TOP_PAD", "Watch", "anon_bytes", "set_option", "trim"]
