"""The levels of a pyramid below a level 1 held in memory, reduced and written at once.

When level 1 was computed while level 0 was written (:mod:`unizarr.level1_ahead`), it
is at most a quarter of the pyramid's memory budget, and every level below it together
is smaller than it again. Those levels are reduced in memory, one from the other, and
each level is handed to the engine as one whole-array write, all of them in flight
together: the engine then encodes the chunks of every level on all its threads at
once, instead of writing level 1 tile by tile and the small levels one after the other
on one thread (512^3 uint16, 128^3 chunks, TensorStore, warm process: the pyramid
after ``create_array(data=)`` took a median 85 ms over 12 runs, 70 ms this way over 10;
``benchmarks/README.md``). Whole-array writes cover every write block, so each chunk
or shard is still one atomic object. The bytes written are those of the tiled path:
the same kernels reduce the same values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..heap import Watch
from ..reduction import Kernel, downsample_into


def write_from_level1(
    targets: Sequence[Any],
    level1: np.ndarray,
    steps: Sequence[Sequence[int]],
    kernel: Kernel,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
    watch: Watch | None = None,
) -> None:
    """Write ``level1`` into ``targets[0]`` and each level below it into the next
    target, every level reduced from the one before along ``steps[j]`` (the axes
    halved to make ``targets[j + 1]``) with ``kernel``.

    The writes run on up to ``workers`` threads while this thread reduces the next
    level; ``progress(done, len(targets))`` follows each finished write and ``watch``
    (:class:`unizarr.heap.Watch`) is checked after it. Every write is waited for before
    this returns or raises, so nothing is left running; the first failure (in level
    order) is raised.
    """
    total = len(targets)
    lock = threading.Lock()
    done = [0]

    def write(target: Any, data: np.ndarray) -> None:
        target[...] = data
        if progress is not None:
            with lock:
                done[0] += 1
                count = done[0]
            progress(count, total)
        if watch is not None:
            watch.check()

    futures: list[Future[None]] = []
    with ThreadPoolExecutor(max(1, min(workers, total)),
                            thread_name_prefix="unizarr-levels") as pool:
        data = level1
        futures.append(pool.submit(write, targets[0], data))
        for target, step in zip(targets[1:], steps, strict=True):
            out = np.empty(tuple(target.shape), data.dtype)
            downsample_into(data, out, tuple(step), kernel)
            data = out
            futures.append(pool.submit(write, target, data))
    for future in futures:
        future.result()


__all__ = ["write_from_level1"]
