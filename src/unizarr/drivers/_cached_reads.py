"""Reads of the ``"zarr-python"`` driver through the decoded-chunk cache
(:mod:`unizarr.readcache`).

A read that covers part of some chunk (a 32³ box of 128³ chunks, a plane of a volume)
is served chunk by chunk: each chunk comes from the cache when the stored object it was
decoded from is unchanged (same ``os.stat`` identity), else it is decoded by
zarr-python — all the missing chunks of one read in **one** call on zarr-python's event
loop — after the pre-read damage check of its stored block
(:func:`unizarr.integrity.block_problem`), and cached when its stored object did not
change while it was decoded. A chunk the read covers whole is not cached (a streaming
pass, such as a pyramid build reading a level, would only churn the cache and add its
bound to the peak memory), and a read that covers every chunk whole goes to zarr-python
in one piece, as without the cache.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.core.sync import sync
from zarr.storage import LocalStore

from .. import readcache
from ..errors import CorruptDataError
from ..integrity import block_problem

if TYPE_CHECKING:
    from .zarr_python import ZarrPythonArray

#: Reads touching more chunks than this go to zarr-python in one piece (its own
#: batching is better for large reads, and they rarely repeat).
MAX_CHUNKS = 64


@dataclass
class Plan:
    """The chunks of one read: grid indices, and which the read covers only in part."""

    chunks: list[tuple[int, ...]]
    partial: list[bool]


def _usable(arr: ZarrPythonArray) -> bool:
    cached = arr.__dict__.get("_read_cache_usable")
    if cached is None:
        kv = arr._ref.kv
        spec = arr._spec
        cached = (
            isinstance(getattr(kv, "store", None), LocalStore)
            and kv.local_root is not None
            and spec.dtype.kind in "biufcmM"
            and len(spec.shape) > 0
            and all(c > 0 for c in spec.chunks)
        )
        arr.__dict__["_read_cache_usable"] = cached
    return bool(cached)


def plan(arr: ZarrPythonArray, region: tuple[slice, ...]) -> Plan | None:
    """The chunk plan of a read served through the cache, or ``None`` when zarr-python
    should read ``region`` in one piece (cache disabled or not usable for this array,
    strided or large reads, reads covering every chunk whole)."""
    if not readcache.cache().enabled or not _usable(arr):
        return None
    if any(s.step != 1 for s in region):
        return None
    chunks = arr._spec.chunks
    ranges = [range(s.start // c, -(-s.stop // c)) for s, c in zip(region, chunks)]
    count = 1
    for r in ranges:
        count *= len(r)
    if count == 0 or count > MAX_CHUNKS:
        return None
    shape = arr._spec.shape
    # per axis: does the read cover chunk i of that axis whole?
    whole = [
        {i: s.start <= i * c and min((i + 1) * c, n) <= s.stop for i in r}
        for s, c, n, r in zip(region, chunks, shape, ranges)
    ]
    idxs = list(itertools.product(*ranges))
    partial = [not all(w[i] for w, i in zip(whole, idx)) for idx in idxs]
    if not any(partial):
        return None
    return Plan(idxs, partial)


def _tag(arr: ZarrPythonArray) -> str:
    """What the decoded form of a stored object depends on besides its bytes (a handle
    opened on other metadata must not share entries)."""
    tag = arr.__dict__.get("_read_cache_tag")
    if tag is None:
        tag = repr(arr._spec)
        arr.__dict__["_read_cache_tag"] = tag
    return tag


def _block_path(arr: ZarrPythonArray, bidx: tuple[int, ...]) -> str:
    # memoised per handle (a path join and key encoding per block cost more than the
    # cache hit itself); bounded, random reads of a huge array touch many blocks
    paths = arr.__dict__.setdefault("_read_cache_paths", {})
    path = paths.get(bidx)
    if path is None:
        if len(paths) >= 4096:
            paths.clear()
        path = os.path.join(arr._ref.location.path, *arr._block_key(bidx).split("/"))
        paths[bidx] = path
    return path


def _stat(path: str) -> readcache.Identity | None:
    try:
        return readcache.identity(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _check_block(arr: ZarrPythonArray, path: str, bidx: tuple[int, ...]) -> readcache.Identity | None:
    """The identity of the stored block at ``path`` after checking it is not damaged
    (``None``: not stored; it reads as the fill value)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        ident = readcache.identity(os.fstat(fd))
        kind, n = arr._block_check()
        problem = block_problem(fd, kind, n) if kind else None
    finally:
        os.close(fd)
    if problem:
        raise CorruptDataError(
            f"{path} (block {tuple(bidx)} of {arr.url}) {problem}: it is damaged "
            "(left by a crash?); rewrite that region, or delete the block with "
            "delete_block() to read it as the fill value"
        )
    return ident


async def _gather(native: Any, selections: list[tuple[slice, ...]]) -> list[Any]:
    return await asyncio.gather(*(native.getitem(sel) for sel in selections))


def read(arr: ZarrPythonArray, region: tuple[slice, ...], plan: Plan) -> np.ndarray:
    """Read ``region`` as ``plan`` says (see the module docstring)."""
    cache = readcache.cache()
    spec = arr._spec
    chunks, shape, block = spec.chunks, spec.shape, spec.write_block
    tag = _tag(arr)
    # stored block of each chunk (the shard holding it when sharded)
    bidxs = [tuple(i * c // b for i, c, b in zip(idx, chunks, block)) for idx in plan.chunks]
    paths: dict[tuple[int, ...], str] = {}
    for b in bidxs:
        if b not in paths:
            paths[b] = _block_path(arr, b)
    idents = {b: _stat(p) for b, p in paths.items()}

    got: list[np.ndarray | None] = []
    for idx, b in zip(plan.chunks, bidxs):
        ident = idents[b]
        got.append(None if ident is None else cache.get((paths[b], (tag, idx)), ident))
    missing = [k for k, g in enumerate(got) if g is None]
    if missing:
        # the damage check of every block still to decode, and its identity before
        before = {}
        for k in missing:
            b = bidxs[k]
            if b not in before:
                before[b] = _check_block(arr, paths[b], b)
        boxes = [
            tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(plan.chunks[k], chunks, shape))
            for k in missing
        ]
        decoded = sync(_gather(arr._native._async_array, boxes))
        for k, chunk in zip(missing, decoded):
            got[k] = np.asarray(chunk)
        for b, ident in before.items():
            if ident is None or _stat(paths[b]) != ident:
                continue  # not stored, or changed while decoded: used once, not kept
            for k in missing:
                if bidxs[k] == b and plan.partial[k]:
                    cache.put((paths[b], (tag, plan.chunks[k])), ident, got[k])  # type: ignore[arg-type]

    # (the dtype zarr-python decodes to: its byte order may differ from the metadata)
    out = np.empty(tuple(s.stop - s.start for s in region), dtype=got[0].dtype)  # type: ignore[union-attr]
    for idx, chunk in zip(plan.chunks, got):
        dst, src = [], []
        for i, c, s in zip(idx, chunks, region):
            lo, hi = max(i * c, s.start), min((i + 1) * c, s.stop)
            dst.append(slice(lo - s.start, hi - s.start))
            src.append(slice(lo - i * c, hi - i * c))
        out[tuple(dst)] = chunk[tuple(src)]  # type: ignore[index]
    return out


def forget(arr: ZarrPythonArray, region: tuple[slice, ...]) -> None:
    """Drop the cached chunks of the stored blocks a write of ``region`` touched."""
    cache = readcache.cache()
    if not cache.nbytes or not _usable(arr):
        return
    block = arr._spec.write_block
    ranges = [
        range(s.start // b, -(-s.stop // b)) if b else range(0) for s, b in zip(region, block)
    ]
    count = 1
    for r in ranges:
        count *= len(r)
    if count > 4096:  # cheaper to drop the whole array's entries
        cache.invalidate_below(arr._ref.location.path)
        return
    cache.invalidate(_block_path(arr, tuple(b)) for b in itertools.product(*ranges))


def forget_below(path: str) -> None:
    """Drop the cached chunks decoded from files at or below ``path`` (deleted)."""
    cache = readcache.cache()
    if cache.nbytes:
        cache.invalidate_below(path)
