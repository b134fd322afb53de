"""Physical-limit rows: what the hardware allows for level 0, no Zarr at all.

``limit.blosc+write`` (compress every chunk on all cores while writing them
to one file) is the floor the pipeline targets are measured against: any
writer must at least compress and write level 0. It is a floor for a
straightforward implementation, not a hard bound: a writer that overlaps
compression and I/O better can come in slightly under it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .contenders import RunContext
from .layouts import CHUNK, CLEVEL, CNAME


def _cores() -> int:
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


def _chunk_slices(shape: tuple[int, ...], edge: int = CHUNK) -> Iterator[tuple[slice, ...]]:
    for z in range(0, shape[0], edge):
        for y in range(0, shape[1], edge):
            for x in range(0, shape[2], edge):
                yield (slice(z, z + edge), slice(y, y + edge), slice(x, x + edge))


def _compressor():  # noqa: ANN202 - numcodecs type
    from numcodecs import Blosc, blosc

    # One Blosc context per call instead of Blosc's global thread pool: the
    # calls release the GIL, so a Python thread per core scales better than
    # Blosc's internal threads on 4 MiB chunks (measured 0.15 s vs 0.22 s).
    blosc.use_threads = False
    return Blosc(CNAME, CLEVEL, Blosc.SHUFFLE)


def memcpy_setup(ctx: RunContext) -> None:
    """Allocate and pre-fault the destination, so only the copy is timed."""
    dst = np.empty_like(ctx.volume)
    dst.fill(1)
    ctx.state["dst"] = dst


def memcpy(ctx: RunContext) -> None:
    """Memory bandwidth: one full copy of the volume."""
    np.copyto(ctx.state["dst"], ctx.volume)


def blosc(ctx: RunContext) -> None:
    """Compress every 128³ chunk (gather to contiguous + Blosc) on all cores."""
    codec = _compressor()
    vol = ctx.volume

    def encode(sl: tuple[slice, ...]) -> int:
        return len(codec.encode(np.ascontiguousarray(vol[sl])))

    with ThreadPoolExecutor(_cores()) as pool:
        ctx.info["compressed_bytes"] = sum(pool.map(encode, _chunk_slices(vol.shape)))


def tofile_fsync(ctx: RunContext) -> None:
    """Disk bandwidth: the raw volume in one file, fsynced."""
    with open(ctx.out, "wb") as f:
        ctx.volume.tofile(f)
        f.flush()
        os.fsync(f.fileno())


def blosc_write(ctx: RunContext) -> None:
    """Compress every chunk on all cores, each thread appending its chunk to one file.

    Offsets are handed out under a lock and the ``pwrite`` happens outside
    it, so compression and I/O overlap like in a real chunked writer.
    """
    codec = _compressor()
    vol = ctx.volume
    lock = threading.Lock()
    offset = [0]
    fd = os.open(ctx.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:

        def work(sl: tuple[slice, ...]) -> None:
            data = codec.encode(np.ascontiguousarray(vol[sl]))
            with lock:
                at = offset[0]
                offset[0] += len(data)
            os.pwrite(fd, data, at)

        with ThreadPoolExecutor(_cores()) as pool:
            list(pool.map(work, _chunk_slices(vol.shape)))
        if ctx.fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
