"""Dask arrays in and out of Zarr arrays: recognising them (without importing dask),
aligning their chunks to the target's write blocks, and storing them in parallel.

Dask is imported only when a dask array is actually written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .core import ZarrArray


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a dask array (checked by type, without importing dask)."""
    return type(obj).__module__.startswith("dask.") and hasattr(obj, "chunks") and hasattr(obj, "dask")


def align_dask(data: Any, block: Sequence[int], offset: Sequence[int] | None = None) -> Any:
    """Rechunk ``data`` so every dask chunk boundary falls on a ``block`` boundary of the
    target (written at ``offset``): no two tasks then write the same chunk/shard."""
    offset = tuple(offset or (0,) * data.ndim)

    def aligned(chunks: tuple[int, ...], b: int, off: int) -> bool:
        return all((off + x) % b == 0 for x in np.cumsum(chunks)[:-1])

    if all(aligned(c, b, o) for c, b, o in zip(data.chunks, block, offset)):
        return data
    new_chunks = []
    for chunks, b, off, n in zip(data.chunks, block, offset, data.shape):
        # Whole blocks, about as large as the source chunks (keeps the task count sane).
        size = max(b, (max(chunks, default=b) // b) * b)
        cuts = [min(n, (b - off % b) % b)] if off % b else []
        rest = n - sum(cuts)
        while rest > 0:
            cuts.append(min(size, rest))
            rest -= cuts[-1]
        new_chunks.append(tuple(c for c in cuts if c) or (n,))
    return data.rechunk(tuple(new_chunks))


def write_data(arr: ZarrArray, data: Any) -> None:
    """Write ``data`` (numpy-like or dask) into the whole of ``arr``."""
    if is_dask(data):
        import dask.array as da

        data = da.broadcast_to(data, arr.shape).astype(arr.dtype)
        da.store(align_dask(data, arr.write_block), arr, lock=False)
    else:
        arr[...] = data


def store_dask(arr: ZarrArray, value: Any, region: tuple[slice, ...]) -> None:
    """Write the dask array ``value`` into ``arr[region]`` (positive-step slices), each
    dask block written through ``arr.__setitem__`` on block-aligned boundaries."""
    import dask.array as da

    shape = tuple(len(range(s.start, s.stop, s.step)) for s in region)
    value = da.broadcast_to(da.asarray(value), shape).astype(arr.dtype)
    if all(s.step == 1 for s in region):
        offset = tuple(s.start for s in region)
        value = align_dask(value, arr.write_block, offset)
    da.store(value, arr, regions=region, lock=False)
