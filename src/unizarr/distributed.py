"""Running work on a ``dask.distributed`` cluster: which client, and futures in flight.

Nothing here is specific to pyramids (their cluster executor,
:mod:`unizarr.pyramid.cluster`, is built on it): choosing the client a call runs on
(:func:`resolve_client`, which never imports ``distributed`` itself), a bounded window
of futures that reports progress and re-raises the first error with its own type
(:class:`Pending`, :class:`Tracker`), and the per-worker allocator setting that keeps
numpy's short-lived arrays cheap (:func:`keep_heap_padding`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Collection
from functools import cache
from typing import Any, Self

from . import heap


# -- which client ------------------------------------------------------------------------
def resolve_client(client: Any, url: str) -> Any | None:
    """The ``dask.distributed`` client a pyramid runs on, or ``None`` for local threads.

    ``False``: local threads. ``None``: the active (default) client when there is one,
    else local threads; ``distributed`` is not even imported when nothing imported it
    yet (then no client can exist), and a call made inside a task stays local (a
    task scheduling tasks on its own cluster can starve it). A ``Client``: that one.

    Raises
    ------
    TypeError
        ``client`` is neither ``None``, ``False`` nor a ``distributed.Client``.
    ValueError
        A client given for a ``memory://`` store, which only this process can see.
    """
    if client is False:
        return None
    local_only = url.startswith("memory://")
    if client is None:
        active = _active_client()
        return None if local_only else active
    dist = sys.modules.get("distributed")
    if dist is None or not isinstance(client, dist.Client):
        raise TypeError(
            f"client must be a dask.distributed Client, None or False, got {type(client).__name__}"
        )
    if local_only:
        raise ValueError(
            f"{url} is an in-memory store: worker processes cannot see it; use client=False"
        )
    return client


def _active_client() -> Any | None:
    dist = sys.modules.get("distributed")
    if dist is None:
        return None
    try:
        dist.get_worker()
        return None  # inside a task
    except ValueError:
        pass
    try:
        return dist.default_client()
    except ValueError:  # no client started
        return None


def worker_threads(client: Any) -> int:
    """Threads of all the cluster's workers (at least 1)."""
    return max(1, sum(client.nthreads().values()))


# -- futures in flight ---------------------------------------------------------------------
class Tracker:
    """Calls ``progress(done, total)`` in the client process as tasks finish."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


class Pending:
    """Futures in flight with their progress weight; cancelled on error or Ctrl-C,
    and only then left: once every cancelled task a worker had already started has
    ended (:func:`wait_until_stopped`)."""

    def __init__(self, client: Any, tracker: Tracker) -> None:
        from distributed import as_completed

        self.client = client
        self.tracker = tracker
        self.weights: dict[Any, int] = {}
        self.finished = as_completed(loop=client.loop)  # the client need not be the default

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and self.weights:
            keys = [f.key for f in self.weights]
            self.client.cancel(list(self.weights))
            # A cancelled task that is running goes on to its end (a worker cannot stop
            # a thread): its block write would land after the error was raised, when
            # the output's lock is gone and a resume may be writing the same block.
            wait_until_stopped(self.client, keys)

    def add(self, future: Any, weight: int) -> None:
        self.weights[future] = weight
        self.finished.add(future)

    def wait(self, keep: int = 0) -> None:
        """Wait until at most ``keep`` futures are in flight; raise the first error
        (a task's exception is re-raised with its own type)."""
        while len(self.weights) > keep:
            future = next(self.finished)
            future.result()
            self.tracker.advance(self.weights.pop(future))


#: Worker task states in which a task may still run (and write): queued to run,
#: running, or cancelled / resumed while running.
ACTIVE_STATES = frozenset({"waiting", "ready", "constrained", "executing", "long-running",
                           "cancelled", "resumed"})
#: How long an error waits for cancelled tasks to end before it is raised anyway.
STOP_TIMEOUT = 600.0


def _active_keys(keys: Collection[Any], dask_worker: Any = None) -> list[Any]:
    """The ``keys`` this worker may still run (run on the workers by ``client.run``)."""
    tasks = dask_worker.state.tasks
    return [k for k in keys if k in tasks and tasks[k].state in ACTIVE_STATES]


def wait_until_stopped(client: Any, keys: Collection[Any], timeout: float = STOP_TIMEOUT) -> bool:
    """Wait until no worker runs, or will run, a task of ``keys`` (after cancelling them).

    Returns whether they all stopped within ``timeout`` seconds (``False``: some worker
    still runs one; a worker that does not answer counts as stopped). A second Ctrl-C
    ends the wait.
    """
    deadline = time.monotonic() + timeout
    keys = list(keys)
    delay = 0.01
    while keys:
        try:
            busy = client.run(_active_keys, keys, on_error="ignore")
        except Exception:  # noqa: BLE001 - the cluster is gone: nothing runs there
            return True
        keys = [k for found in busy.values() for k in found]
        if not keys:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    return True


# -- worker processes ------------------------------------------------------------------------
#: Free heap a worker process keeps instead of returning it to the OS at once.
HEAP_TOP_PAD = 64 * 2**20


@cache
def keep_heap_padding() -> None:
    """Once per worker process: keep :data:`HEAP_TOP_PAD` of freed heap.

    dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, so glibc hands
    freed memory back to the OS and faults it in again on the next allocation; the
    kernels' many short-lived arrays of a few hundred KiB then spend more time in the
    kernel than in numpy (512³ uint16 on one worker: 0.8 s of system time instead of
    0.1 s, 2x the wall time). A top pad keeps that churn inside the process, at the
    cost of this much idle memory per worker. Only where dask set the trim threshold
    and the workers' environment does not set ``MALLOC_TOP_PAD_`` (set it, even to 0,
    to opt out); glibc only.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or "MALLOC_TOP_PAD_" in os.environ:
        return
    heap.set_option(heap.M_TOP_PAD, HEAP_TOP_PAD)


__all__ = [
    "HEAP_TOP_PAD",
    "Pending",
    "Tracker",
    "keep_heap_padding",
    "resolve_client",
    "wait_until_stopped",
    "worker_threads",
]
