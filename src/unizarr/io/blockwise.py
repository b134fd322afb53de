"""Out-of-core block copy: read a region, write it to the same region of a Zarr array.

Used by ``convert`` (input volume -> level 0) and ``copy`` (array -> array). Regions are
whole multiples of the target's write block (see
:func:`unizarr.readers.volume.aligned_chunks`), so no two tasks write the same shard or chunk,
and at most ``2 * workers`` regions are in memory at once, whatever the array size.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from typing import Any

import numpy as np

Region = tuple[slice, ...]


def regions(shape: Sequence[int], chunks: Sequence[int]) -> Iterator[Region]:
    """The ``chunks``-sized regions tiling ``shape``, in C order (last axis fastest).

    >>> list(regions((3, 4), (2, 4)))
    [(slice(0, 2, None), slice(0, 4, None)), (slice(2, 3, None), slice(0, 4, None))]
    """
    starts = [range(0, n, c) for n, c in zip(shape, chunks)]
    for corner in product(*starts):
        yield tuple(slice(s, min(s + c, n)) for s, c, n in zip(corner, chunks, shape))


def copy_blocks(
    read: Callable[[Region], Any],
    target: Any,
    chunks: Sequence[int],
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``read(region)`` into ``target[region]`` for every region, in parallel.

    Parameters
    ----------
    read : callable
        Returns the data of a region (anything numpy can convert; cast to the target's
        dtype on write).
    target : ZarrArray
        The array written (``shape`` and ``__setitem__``).
    chunks : sequence of int
        Region shape; whole multiples of ``target``'s write block.
    workers : int
        Threads; the engines release the GIL while (de)compressing and doing I/O.
    progress : callable, optional
        Called with the bytes of each region once it is written.

    Raises
    ------
    Exception
        The first error of any region; no new region starts after it.
    """
    shape = tuple(target.shape)
    if 0 in shape:
        return
    errors: list[BaseException] = []
    # Bounded submission: queued regions would otherwise each hold a block in memory.
    slots = threading.BoundedSemaphore(2 * max(1, workers))

    def task(region: Region) -> None:
        try:
            if not errors:
                block = np.asarray(read(region))
                target[region] = block
                if progress is not None:
                    progress(int(block.nbytes))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
        finally:
            slots.release()

    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="unizarr-copy")
    try:
        for region in regions(shape, chunks):
            slots.acquire()
            if errors:
                slots.release()
                break
            pool.submit(task, region)
    except BaseException:
        # Ctrl-C (or any error) in this thread: let the running regions finish, drop
        # the queued ones, and propagate.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if errors:
        raise errors[0]
