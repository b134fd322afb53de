"""Copy any Zarr (group tree or array) to any Zarr: :func:`copy`, the library behind
``unizarr copy``.

The copy is planned first (:func:`unizarr.io.tree_copy.plan_copy`: every destination
layout resolved, so a bad option fails before anything is written), then written under
the destination's write lock (:func:`unizarr.outputs.write_output`: a local
``overwrite`` builds beside the old store and swaps last). A ``.ozx`` (zipped
OME-Zarr, RFC-9) at either end is packed or unpacked. Nothing here prints: progress
goes to the caller's ``progress(done, total)`` callback, in bytes.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import ozx
from .blocks import aligned_chunks, copy_blocks
from .config import ZarrConfig
from .convert import DEFAULT_MAX_MEMORY, shard_within_budget
from .core import ZarrArray
from .io.tree_copy import _OPTION_KWARGS, CopyPlan, _restyled, copy_tree, plan_copy
from .layout import refuse_v2_shards, shard_write_bytes
from .outputs import Interrupted, _is_local, _local_path, check_output, write_output
from .readers.zarr_store import open_zarr
from .threads import usable_cpus

__all__ = ["CopyResult", "copy", "LAYOUT_OPTIONS"]

#: Layout keywords of :func:`copy` that replace the source's layout when given.
LAYOUT_OPTIONS = tuple(_OPTION_KWARGS)
#: Keywords of :func:`copy` that only shape the :class:`ZarrConfig` of given options.
_CONFIG_FLAGS = ("chunk_channels", "chunk_time", "shard_channels", "shard_time", "no_time")

Progress = Callable[[int, int], None]


@dataclass
class CopyResult:
    """What :func:`copy` wrote."""

    src: str
    dst: str
    #: Arrays and groups copied (0 for a byte-for-byte .ozx pack or unpack).
    arrays: int
    groups: int
    #: Logical bytes of the copied arrays, and the bytes they take in the destination.
    nbytes: int
    nbytes_stored: int
    zarr_version: int
    seconds: float
    #: ``"packed"`` (DST is a .ozx), ``"unpacked"`` (SRC was a .ozx, copied byte for
    #: byte) or ``""``.
    ozx: str = ""
    #: Entries of the written .ozx archive.
    ozx_entries: int = 0


def workers_for(block_bytes: int, max_memory: int) -> int:
    """Threads that fit ``max_memory`` when each writes a region of ``block_bytes``
    (uncompressed): :func:`~unizarr.layout.shard_write_bytes` (about five copies: the
    source read, the engine's copy and encode buffers), convert's rule for a writer."""
    return max(1, min(usable_cpus(), max_memory // max(1, shard_write_bytes(block_bytes))))


def write_level(
    read: Callable[[tuple[slice, ...]], Any],
    array: ZarrArray,
    advance: Callable[[int], None] | None,
    max_memory: int,
) -> None:
    """Copy ``read(region)`` into ``array`` in write-block-aligned regions sized to the
    memory budget, on as many threads as that budget allows; ``advance(nbytes)`` after
    each region. One write block is the floor of a region (its size is the shard rule's
    business, see :func:`_shards_within_budget`)."""
    itemsize = array.dtype.itemsize
    block_bytes = math.prod(array.write_block) * itemsize
    workers = workers_for(block_bytes, max_memory)
    per_task = max(1, max_memory // shard_write_bytes(workers))  # bytes of one region
    chunks = aligned_chunks(array.shape, array.write_block, itemsize, per_task)
    copy_blocks(read, array, chunks, workers=workers, progress=advance)


def _config(layout: dict[str, Any], zarr_version: int, driver: str | None,
            overwrite: bool) -> ZarrConfig | None:
    """The :class:`ZarrConfig` of the given layout options (``None`` when none is
    given: every array keeps the source's layout)."""
    unknown = set(layout) - set(LAYOUT_OPTIONS) - set(_CONFIG_FLAGS)
    if unknown:
        raise TypeError(f"copy() got unexpected keyword argument(s) {sorted(unknown)}; "
                        f"layout options are {', '.join(LAYOUT_OPTIONS + _CONFIG_FLAGS)}")
    if not set(layout) & set(LAYOUT_OPTIONS):
        return None
    values = dict(layout, zarr_version=zarr_version, overwrite=overwrite)
    if driver is not None:
        values["driver"] = driver
    if values.get("shard") == "none":
        values["shard"] = None
    cfg = ZarrConfig(**values)
    refuse_v2_shards(zarr_version, cfg.shard, "a shard shape", "Zarr v3 (--zarr-version 3)")
    if cfg.compressor == "zlib" and zarr_version == 3:
        raise ValueError("zlib is not a Zarr v3 codec; use gzip or Zarr v2 (--zarr-version 2)")
    return cfg


def copy(
    src: str,
    dst: str,
    *,
    driver: str | None = None,
    zarr_version: int | None = None,
    ome_version: str = "keep",
    max_memory: int | None = None,
    src_storage_options: dict[str, Any] | None = None,
    dst_storage_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **layout: Any,
) -> CopyResult:
    """Copy the Zarr group tree or array ``src`` to ``dst``, optionally with another
    layout, Zarr version, OME-NGFF version or engine.

    Layout options that are given (``chunk``, ``shard`` - ``None`` or ``"none"`` for no
    shards -, ``compressor``, ``compressor_opt``, ``dimension_separator``, ``order``;
    ``chunk_channels``, ``chunk_time``, ``shard_channels``, ``shard_time``, ``no_time`` as in
    :class:`~unizarr.ZarrConfig`) apply to every image array (2-D or more; a NIfTI header
    array keeps its own); the rest keeps the source's layout. Converting to Zarr v2
    drops shards and moves OME-NGFF 0.5 metadata to 0.4. Group attributes are written
    last, so an interrupted copy never carries complete OME metadata. A ``dst`` ending
    in ``.ozx`` is a zipped OME-Zarr (RFC-9) that the store is packed into; a ``src``
    ending in ``.ozx`` is read (or, for a plain copy to a local directory, unpacked).

    Parameters
    ----------
    src, dst : str
        Source and destination (local paths or URLs).
    driver : str, optional
        Engine that reads and writes. [default: zarr-python]
    zarr_version : {2, 3}, optional
        Zarr format of the copy. [default: the source's; 3 for a .ozx]
    ome_version : {"keep", "0.4", "0.5", "0.6"}
        OME-NGFF version of the copy's metadata (keep: as the source, 0.4 on Zarr v2).
    max_memory : int, optional
        Working-memory budget in bytes (one block is the floor). [default: 512 MiB]
    src_storage_options, dst_storage_options : dict, optional
        Credentials/endpoint of a remote ``src`` / ``dst``.
    overwrite : bool
        Replace ``dst`` if it exists (checked first: only a Zarr store is replaced).
    progress : callable, optional
        ``progress(done, total)`` in logical bytes, from worker threads.

    Returns
    -------
    CopyResult

    Raises
    ------
    FileExistsError
        ``dst`` exists and ``overwrite`` is false (or it is not a store to replace).
    ValueError
        A layout or metadata the destination cannot hold; nothing was written.
    Interrupted
        Ctrl-C: the message says what state ``dst`` was left in.
    """
    budget = max_memory or DEFAULT_MAX_MEMORY
    start = time.perf_counter()
    if ome_version not in ("keep", "0.4", "0.5", "0.6"):
        raise ValueError(f"ome_version must be keep, 0.4, 0.5 or 0.6, got {ome_version!r}")
    if ozx.is_ozx(dst) or ozx.is_ozx(src):
        done = _copy_ozx(src, dst, driver, zarr_version, layout, ome_version, budget,
                         src_storage_options, dst_storage_options, overwrite, progress, start)
        if done is not None:
            return done
    check_output(dst, overwrite, [src], dst_storage_options)
    source = open_zarr(src, "r", driver=driver, storage_options=src_storage_options)
    version = zarr_version or source.zarr_version
    cfg = _config(layout, version, driver, overwrite)
    if ome_version in ("0.5", "0.6") and version == 2:
        raise ValueError(f"--ome-version {ome_version} needs a Zarr v3 destination "
                         "(--zarr-version 3)")
    given = {k for k in LAYOUT_OPTIONS if k in layout}
    target_ome = None if ome_version == "keep" else ome_version
    plan = plan_copy(source, version, cfg, given=given, ome_version=target_ome)
    _shards_within_budget(plan, cfg, budget)
    total = sum(item.nbytes for item in plan.arrays)
    advance = _bytes_counter(progress, total)

    def build(path: str) -> int:
        arrays = copy_tree(
            plan, path, driver=driver,
            overwrite=False,  # write_output cleared or set aside the previous dst
            ome_version=target_ome, storage_options=dst_storage_options,
            write=lambda source_array, target: write_level(
                source_array.__getitem__, target, advance, budget
            ),
        )
        return sum(a.nbytes_stored for a in arrays)  # measured before a local swap

    try:
        stored = write_output(dst, overwrite, dst_storage_options, build)
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {dst} is incomplete (its group attributes were not "
            "written): copy again with --overwrite"
        ) from None
    return CopyResult(src, dst, len(plan.arrays), len(plan.groups), total, stored, version,
                      time.perf_counter() - start)


def _shards_within_budget(plan: CopyPlan, cfg: ZarrConfig | None, budget: int) -> None:
    """Resolve ``shard="auto"`` of every restyled array of ``plan`` for the memory
    ``budget``, by convert's rule (:func:`~unizarr.convert.shard_within_budget`: a
    shard grows only while two writers fit; a :class:`MemoryBudgetWarning` when even one
    chunk does not). Each array has its own shape and chunks (the source's when no
    ``chunk`` is given), so each gets its own shard."""
    if cfg is None or cfg.shard != "auto":
        return
    for item in plan.arrays:
        if _restyled(item.name, item.source) and item.kwargs.get("shards") == "auto":
            shape, dtype = item.source.shape, item.source.dtype
            array_cfg = replace(cfg, chunk=tuple(item.kwargs["chunks"]))
            item.kwargs["shards"] = shard_within_budget(array_cfg, shape, dtype, budget).shard


def _bytes_counter(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    """``advance(nbytes)`` (called from worker threads) as ``progress(done, total)``."""
    if progress is None:
        return None
    lock = threading.Lock()
    done = [0]

    def advance(n: int) -> None:
        with lock:
            done[0] += n
            now = done[0]
        progress(now, total)

    return advance


def _copy_ozx(
    src: str, dst: str, driver: str | None, zarr_version: int | None, layout: dict[str, Any],
    ome_version: str, budget: int, src_opts: dict[str, Any] | None,
    dst_opts: dict[str, Any] | None, overwrite: bool, progress: Progress | None, start: float,
) -> CopyResult | None:
    """:func:`copy` to or from a zipped OME-Zarr (``.ozx``, RFC-9); ``None`` when SRC
    is a .ozx that is read through its zip store like any other source. A plain copy of
    a local store is packed (or unpacked) byte for byte; otherwise the copy is written
    to a hidden directory beside DST, then packed."""
    remote = bool(src_opts or dst_opts)
    plain = not (set(layout) & set(LAYOUT_OPTIONS)) and ome_version == "keep" and not remote
    if not ozx.is_ozx(dst):
        if not (plain and _is_local(dst)):
            return None  # read through the zip store like any other source
        check_output(dst, overwrite, [src])
        ozx.unpack(_local_path(src), _local_path(dst), overwrite=overwrite)
        return CopyResult(src, dst, 0, 0, 0, 0, 3, time.perf_counter() - start,
                          ozx="unpacked")
    if not _is_local(dst):
        raise ValueError(f"{dst}: .ozx files are written on local disk; copy there first")
    if zarr_version == 2:
        raise ValueError("a .ozx holds a Zarr v3 store (RFC-9); drop --zarr-version 2")
    out = Path(_local_path(dst))
    if out.exists() and not overwrite:
        raise FileExistsError(f"{dst} already exists; pass --overwrite to replace it")
    if out.exists() and not (out.is_file() and "zarr.json" in ozx.entries(out)):
        raise FileExistsError(f"{dst} exists and is not a .ozx archive; remove it first")
    local_src = _is_local(src) and Path(_local_path(src)).is_dir()
    if plain and local_src and (Path(_local_path(src)) / "zarr.json").is_file():
        ozx.pack(_local_path(src), out, overwrite=overwrite)
        arrays = groups = nbytes = 0
    else:
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".d", dir=out.parent))
        try:
            inner = copy(src, str(work / "store.zarr"), driver=driver, zarr_version=3,
                         ome_version=ome_version, max_memory=budget,
                         src_storage_options=src_opts, progress=progress, **layout)
            ozx.pack(work / "store.zarr", out, overwrite=overwrite)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        arrays, groups, nbytes = inner.arrays, inner.groups, inner.nbytes
    return CopyResult(src, dst, arrays, groups, nbytes, out.stat().st_size, 3,
                      time.perf_counter() - start, ozx="packed",
                      ozx_entries=len(ozx.entries(out)))
