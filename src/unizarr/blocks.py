"""The write-block grid of an array, in one place: which blocks a region covers, the
region of a block, the store key of a block, which blocks are stored, and copying an
array block by block (all of it, or the blocks a resumed run still misses).

A *write block* is the shard when an array is sharded, else the chunk: one stored
object, written atomically by both engines. Writers that split their work on this
grid never write the same object twice.

The functions take plain values (shapes, key-value stores) or any array-like with
``shape``, ``write_block`` and slicing, so the node model (:mod:`unizarr.core`), the
pyramid builder and the cluster executor all use them without importing each other.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .errors import CorruptDataError
from .integrity import block_problem
from .kvstore import KVStore
from .paths import join_key
from .threads import usable_cpus

Region = tuple[slice, ...]
Index = tuple[int, ...]


# -- grid maths ---------------------------------------------------------------------------
def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def grid_shape(shape: Sequence[int], block: Sequence[int]) -> tuple[int, ...]:
    """Blocks per axis of an array of ``shape`` on the ``block`` grid."""
    return tuple(-(-n // b) if b else 0 for n, b in zip(shape, block))


def block_ranges(region: Region, block: Sequence[int]) -> list[range]:
    """Per axis, the grid indices of the blocks ``region`` (non-negative, step-1
    slices) touches."""
    return [
        range(s.start // b, -(-s.stop // b)) if b else range(0)
        for s, b in zip(region, block)
    ]


def blocks_of(region: Region, block: Sequence[int]) -> Iterator[Index]:
    """Grid indices of the write blocks a block-aligned ``region`` covers."""
    return itertools.product(
        *(range(s.start // b, ceil_div(s.stop, b)) for s, b in zip(region, block))
    )


def block_region(index: Sequence[int], block: Sequence[int], shape: Sequence[int]) -> Region:
    """The region of the block at grid ``index`` (clipped at the array's edge)."""
    return tuple(slice(i * w, min((i + 1) * w, n)) for i, w, n in zip(index, block, shape))


def within(region: Region, block: Sequence[int], done: set[Index]) -> set[Index]:
    """The blocks of ``done`` that lie in ``region``."""
    return {b for b in blocks_of(region, block) if b in done}


# -- block keys -----------------------------------------------------------------------------
def key_encoding(doc: Mapping[str, Any], separator: str) -> tuple[str, str]:
    """(prefix, separator) of a Zarr v3 array's block keys from its ``zarr.json``
    document: ``("c", "/")`` for the default encoding, ``("", sep)`` for "v2"."""
    enc = doc.get("chunk_key_encoding") or {}
    sep = (enc.get("configuration") or {}).get("separator", separator)
    # The "default" encoding puts keys under "c"; the "v2" one does not.
    return ("c" if enc.get("name", "default") == "default" else ""), sep


def block_key(index: Sequence[int], prefix: str, sep: str) -> str:
    """The store key (below the array) of the write block at grid ``index``."""
    parts = [str(int(i)) for i in index]
    if not parts:
        return prefix or "0"
    return sep.join(([prefix] if prefix else []) + parts)


def stored_blocks(
    kv: KVStore, path: str, shape: Sequence[int], block: Sequence[int], prefix: str, sep: str
) -> set[Index]:
    """Grid indices of the write blocks stored below the array at ``path`` (see
    :meth:`unizarr.ZarrArray.stored_blocks`)."""
    grid = grid_shape(shape, block)
    if not grid:
        return {()} if (prefix or "0") in kv.list_dir(path) else set()

    def index(parts: Sequence[str]) -> Index | None:
        if len(parts) != len(grid) or not all(p.isdigit() for p in parts):
            return None
        idx = tuple(int(p) for p in parts)
        return idx if all(i < n for i, n in zip(idx, grid)) else None

    found: set[Index] = set()
    if sep == ".":
        for name in kv.list_dir(path):
            if prefix:
                if not name.startswith(prefix + "."):
                    continue
                name = name[len(prefix) + 1:]
            idx = index(name.split("."))
            if idx is not None:
                found.add(idx)
        return found
    # "/" separator: one directory level per axis, listed level by level.
    level: list[tuple[str, tuple[str, ...]]] = [(join_key(path, prefix) if prefix else path, ())]
    for depth in range(len(grid)):
        nxt = []
        for key, parts in level:
            for name in kv.list_dir(key):
                if name.isdigit() and int(name) < grid[depth]:
                    nxt.append((join_key(key, name), parts + (name,)))
        level = nxt
    for _, parts in level:
        idx = index(parts)
        if idx is not None:
            found.add(idx)
    return found


# -- checks of stored blocks ----------------------------------------------------------------
def block_check(
    doc: Mapping[str, Any], shards: Sequence[int] | None, chunks: Sequence[int],
    compressor: str | None, zarr_version: int,
) -> tuple[str, int]:
    """What to check of each stored block before a read (see
    :meth:`unizarr.core.ZarrArray._block_check`), from the array's metadata ``doc``."""
    result = ("", 0)
    if shards is not None and zarr_version == 3:
        for codec in doc.get("codecs") or []:
            if isinstance(codec, Mapping) and codec.get("name") == "sharding_indexed":
                cfg = codec.get("configuration") or {}
                inner = math.prod(s // c for s, c in zip(shards, chunks))
                crc = any(
                    isinstance(c, Mapping) and c.get("name") == "crc32c"
                    for c in cfg.get("index_codecs") or []
                )
                index = 16 * inner + (4 if crc else 0)
                at_end = cfg.get("index_location", "end") == "end"
                # with a checksum the engine detects a torn index itself; only a
                # file too short to hold one (zarr-python: read as fill!) is ours
                result = ("size", index) if crc else ("index", index if at_end else -index)
    elif (compressor or "").lower() == "blosc":
        result = ("blosc", 1)
    return result


def check_block_dirs_inside(
    kv: KVStore, path: str, region: Region, block: Sequence[int], prefix: str, sep: str
) -> None:
    """Refuse a write whose nested block directory (``c/0/1``) a symlink leads out of
    the store (one ``realpath`` per distinct directory, local disk only)."""
    if sep != "/" and not prefix:
        return  # block files sit directly in the array directory, checked already
    ranges = block_ranges(region, block)
    outer = ranges[:-1] if sep == "/" else []
    seen: set[str] = set()
    for idx in itertools.product(*outer):
        parts = ([prefix] if prefix else []) + [str(i) for i in idx]
        if not parts:
            continue
        key = join_key(path, "/".join(parts))
        if key not in seen:
            seen.add(key)
            kv.check_inside(key, "write data of")


def check_stored_blocks(
    base: str, url: str, region: Region, block: Sequence[int], kind: str, n: int,
    prefix: str, sep: str,
) -> None:
    """Raise :class:`~unizarr.CorruptDataError` for a damaged stored block (under the
    local directory ``base`` of the array at ``url``) that ``region`` touches."""
    for idx in itertools.product(*block_ranges(region, block)):
        path = os.path.join(base, *block_key(idx, prefix, sep).split("/"))
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            problem = block_problem(fd, kind, n)
        finally:
            os.close(fd)
        if problem:
            raise CorruptDataError(
                f"{path} (block {tuple(idx)} of {url}) {problem}: it is damaged "
                "(left by a crash?); rewrite that region, or delete the block with "
                "delete_block() to read it as the fill value"
            )


def remove_partial_files(root: str, suffixes: Sequence[str]) -> int:
    """Delete leftovers of interrupted atomic writes below the local directory ``root``:
    the files whose names end with one of ``suffixes`` (the drivers' temporary files,
    see :func:`unizarr.registry.temp_suffixes`); returns how many were removed."""
    ends = tuple(s for s in suffixes if s)  # an empty suffix would match every file
    if not ends:
        return 0
    removed = 0
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        for f in files:
            if f.endswith(ends):
                os.unlink(os.path.join(dirpath, f))
                removed += 1
    return removed


# -- copying block by block -----------------------------------------------------------------
def write_missing(target: Any, region: Region, data: np.ndarray, done: set[Index] | None) -> None:
    """``target[region] = data``, skipping the write blocks in ``done`` (already stored
    by an interrupted run). ``region`` is aligned to the write blocks, so each block
    written is whole: one atomic object, no read-modify-write."""
    wb = target.write_block
    if not done:
        target[region] = data
        return
    blocks = list(blocks_of(region, wb))
    missing = [b for b in blocks if b not in done]
    if len(missing) == len(blocks):
        target[region] = data  # one call, as an uninterrupted run writes it
        return
    for b in missing:
        sub = tuple(
            slice(max(i * w, s.start), min((i + 1) * w, s.stop)) for i, w, s in zip(b, wb, region)
        )
        local = tuple(slice(q.start - s.start, q.stop - s.start) for q, s in zip(sub, region))
        target[sub] = data[local]


def regions(shape: Sequence[int], chunks: Sequence[int]) -> Iterator[Region]:
    """The ``chunks``-sized regions tiling ``shape``, in C order (last axis fastest).

    >>> list(regions((3, 4), (2, 4)))
    [(slice(0, 2, None), slice(0, 4, None)), (slice(2, 3, None), slice(0, 4, None))]
    """
    starts = [range(0, n, c) for n, c in zip(shape, chunks)]
    for corner in itertools.product(*starts):
        yield tuple(slice(s, min(s + c, n)) for s, c, n in zip(corner, chunks, shape))


def copy_regions(
    read: Callable[[Region], Any],
    target: Any,
    todo: Iterable[Region],
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``read(region)`` into ``target[region]`` for every region of ``todo``, in
    parallel: the one block-copy loop (whole arrays, resumed arrays, ``uz.copy``).

    Regions must be whole multiples of ``target``'s write block (or reach the array's
    end), so no two tasks write the same shard or chunk. At most ``2 * workers``
    regions are submitted at once (a queued region would otherwise hold its block in
    memory), so memory stays bounded whatever the array size.

    Parameters
    ----------
    read : callable
        Returns the data of a region (anything numpy can convert; cast to the target's
        dtype on write).
    target : ZarrArray
        The array written (``__setitem__``).
    todo : iterable of tuple of slice
        The regions to write.
    workers : int
        Threads; the engines release the GIL while (de)compressing and doing I/O.
    progress : callable, optional
        Called with the bytes of each region once it is written (from worker threads).

    Raises
    ------
    Exception
        The first error of any region; no new region starts after it.
    """
    errors: list[BaseException] = []
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
        for region in todo:
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


def copy_blocks(
    read: Callable[[Region], Any],
    target: Any,
    chunks: Sequence[int],
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> None:
    """:func:`copy_regions` over the ``chunks``-sized regions tiling ``target`` (whole
    multiples of its write block; a budget picks them, see :func:`unizarr.copy.write_level`)."""
    shape = tuple(target.shape)
    if 0 in shape:
        return
    copy_regions(read, target, regions(shape, chunks), workers=workers, progress=progress)


def copy_missing(source: Any, target: Any, done: set[Index], workers: int) -> None:
    """Copy the write blocks of ``target`` not in ``done`` from ``source``."""
    wb = target.write_block
    grid = [range(ceil_div(n, b)) for n, b in zip(target.shape, wb)]
    todo = (block_region(b, wb, target.shape) for b in itertools.product(*grid) if b not in done)
    copy_regions(source.__getitem__, target, todo, workers=workers)


def copy_data(
    src: Any,
    dst: Any,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Copy ``src`` (a ZarrArray or any array-like with shape, dtype and slicing) into
    ``dst`` one destination write block at a time, on ``workers`` threads (default: the
    usable CPUs), without holding the whole array in memory; ``progress(nbytes)`` after
    each block."""
    copy_blocks(src.__getitem__, dst, dst.write_block,
                workers=workers or usable_cpus(), progress=progress)


def aligned_chunks(
    shape: Sequence[int], block: Sequence[int], itemsize: int, budget: int
) -> tuple[int, ...]:
    """Dask chunk shape for writing ``shape`` into an array whose write block is ``block``.

    Every chunk is a whole number of blocks (or reaches the end of an axis), so no two
    tasks write the same shard/chunk. Starting from one block, chunks grow along the
    last (fastest) axis first - the direction in which every input format here reads
    contiguously - as long as a chunk stays within ``budget`` bytes. One block is the
    floor whatever the budget.

    >>> aligned_chunks((100, 100, 100), (32, 32, 32), 2, 2 * 32 * 100 * 100)
    (32, 100, 100)
    """
    shape = tuple(int(s) for s in shape)
    chunks = [max(1, min(int(b), s)) for b, s in zip(block, shape)]
    for axis in reversed(range(len(shape))):
        step = int(block[axis])
        while chunks[axis] < shape[axis]:
            grown = chunks.copy()
            grown[axis] = min(chunks[axis] * 2, math.ceil(shape[axis] / step) * step)
            grown[axis] = min(grown[axis], shape[axis])
            if math.prod(grown) * itemsize > budget:
                return tuple(chunks)
            chunks = grown
    return tuple(chunks)
