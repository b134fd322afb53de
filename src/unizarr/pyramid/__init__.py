"""Multiscale pyramids: levels ``"1"``, ``"2"``, ... of a group, built from level ``"0"``.

Each level halves the spatial axes of the one before: an axis of size ``n`` becomes
``ceil(n / 2)``; at an odd end the last output voxel reduces over the one voxel that
exists, so nothing is dropped. :func:`generate_pyramid` checks its arguments, plans the
build and hands the plan to one of two executors that write the same bytes:

* :mod:`~unizarr.pyramid.plan`: level shapes, passes (one read of a level builds the
  next levels while the data is in memory), tiles (regions of whole write blocks, one
  write each) and pieces (what one reader takes), within a memory budget;
* :mod:`~unizarr.reduction`: the 2x reductions (mean, median, mode, min, max,
  nearest, or a callable), exact for every dtype;
* :mod:`~unizarr.pyramid.tiles`: reading, reducing and writing one tile;
* :mod:`~unizarr.pyramid.local`: threads of this process (the default);
* :mod:`~unizarr.pyramid.cluster`: tasks on a ``dask.distributed`` cluster;
* :mod:`~unizarr.pyramid.held`: the levels below a level 1 already in memory (computed
  while level 0 was written), reduced in memory and written all at once;
* :mod:`~unizarr.pyramid.resume`: the build's run record, and what an interrupted
  build keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import level0_reuse, level1_ahead
from ..blocks import aligned_chunks, copy_data, regions
from ..core import ZarrArray, ZarrGroup
from ..distributed import resolve_client
from ..errors import ReadOnlyError
from ..heap import Watch
from ..integrity import available_memory
from ..level1_ahead import Level1
from ..reduction import (
    METHODS,
    Kernel,
    Reducer,
    downsample,
    downsample_into,
    get_kernel,
    window_mode,
)
from ..threads import usable_cpus
from .cluster import run_on_cluster, run_plan, stage_source
from .held import write_from_level1
from .local import run_local
from .plan import (
    DEFAULT_MAX_MEMORY,
    SAMPLINGS,
    Pass,
    Piece,
    PyramidPlan,
    Run,
    Tile,
    kept_level,
    level_plan,
    level_shapes,
    next_level_shape,
    parse_factors,
    plan_passes,
    plan_pyramid,
    pyramid_axes,
    spatial_axes,
    writers_within,
)
from .resume import (
    RUN_RECORD,
    copy_missing,
    finish_run,
    finished_blocks,
    run_options,
    same_layout,
    start_run,
)


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def generate_pyramid(
    group: ZarrGroup,
    levels: int = -1,
    *,
    method: str | Reducer = "mean",
    no_pyramid_axis: Any = None,
    max_memory: int | None = None,
    spatial_ndim: int | None = None,
    source: Any = None,
    write_base: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    resume: bool = False,
    client: Any = None,
    source_id: str | None = None,
    voxel_size: Sequence[float] | None = None,
    sampling: str = "isotropic",
    factors: Any = None,
) -> list[tuple[int, ...]]:
    """Build the pyramid levels ``"1"``, ``"2"``, ... of ``group`` from level ``"0"``.

    Each level halves the spatial axes of the previous one (``ceil(n / 2)``; at an odd
    end the last voxel reduces over the voxels that exist). Channel and time axes are
    never downsampled. Every level keeps level 0's layout (dtype, chunks, shards,
    codecs, fill value, order). Existing levels are replaced; numbered arrays beyond
    the new last level (left by an earlier, deeper pyramid) are deleted.

    Parameters
    ----------
    group : ZarrGroup
        Group holding the base array ``"0"``.
    levels : int
        Number of levels to add. ``-1`` (default): until the last level fits in one
        chunk along every downsampled axis.
    method : {"mean", "median", "mode", "min", "max", "nearest"} or callable
        ``mean``: float data is averaged in float64; integers are rounded to nearest,
        ties to even (no truncation bias). ``median``: the window's median (the mean of
        the two middle values for even windows; rounded as ``mean`` for integers).
        ``mode``: the most frequent value, ties to the smallest (label images).
        ``nearest``: the first voxel of each window. A callable is called like a
        numpy reduction, ``fn(blocks, axis=axes)``, on blocks reshaped as
        ``dask.array.coarsen`` does; float results are rounded for integer data.
    no_pyramid_axis : {"x", "y", "z"} or int, optional
        A spatial axis never to downsample (thick slices); an int counts the spatial
        axes from the first (``0`` is ``z`` of a (z, y, x) volume).
    max_memory : int, optional
        Budget in bytes (default 128 MiB) for the tiles being written and the pieces
        being read. The engines' decode/encode buffers come on top: a 2 GiB volume
        (1024^3 uint16, 256^3 shards) peaks at about 350 MiB RSS with the defaults,
        interpreter included. One write block (a shard) per tile is the floor:
        sharded arrays always write whole shards. With ``write_base``, each thread
        writes whole level-0 shards, each taking the driver's ``SHARD_WRITE_UNIT``
        shard sizes (zarr-python 5, TensorStore 2, measured): fewer threads run when
        the budget holds fewer such writers (one is the floor).
    spatial_ndim : int, optional
        Number of trailing spatial axes (default: all axes of rank <= 3 arrays, the
        last 3 of 4-D and 5-D arrays). linc-convert's ``ndim``.
    source : array-like, optional
        Level 0's data (numpy array, memmap, anything sliceable) to read instead of the
        stored level 0, saving its decompression. It must hold the same values.
    write_base : bool
        Also write level 0 from ``source`` during the same pass (create ``"0"`` first,
        without data): each voxel of the volume is then read once for everything. A
        numpy ``source`` whose level 1 fits a quarter of ``max_memory`` is written in
        pieces of whole write blocks of at most ``max_memory`` (and 128 MiB) while a
        second thread reduces it whole to level 1, and the
        levels below are built from that level in memory; a larger one whose second
        read costs no disk read (in memory, or a memmap of at most half the available
        memory) is written first, then read again for the pyramid (neither with
        ``resume`` or a cluster).
    workers : int, optional
        Worker threads of this process (default: the CPUs this process may use): they
        build the pyramid when it runs locally, and check the stored blocks for
        ``resume`` in any case.
    progress : callable, optional
        Called as ``progress(done, total)`` after each piece (from worker threads);
        on a cluster, in this thread as each task finishes (a tile's pieces, or one
        chunk of level 0).
    resume : bool
        Finish an interrupted call with the same arguments instead of starting over:
        existing levels with the expected shape and layout are kept, and only their
        write blocks (shards, or chunks) that are not stored yet are computed (from
        ``source``, or from the stored level 0) and written. Every block is one atomic
        object, so a stored block that decodes is a finished one (each stored block is
        read back once to catch the torn files of non-atomic writers); blocks equal to
        the fill value are never stored and are simply recomputed. The result is the
        same as an uninterrupted run's. A build records its level shapes, axes, method,
        ``write_base`` and ``source_id`` in the group when it starts and keeps the
        record (marked complete) when it ends; resuming needs that record: a group
        without one (levels that are not known to be ours), or one started with other
        options, is a ``ValueError`` before anything is written. Resuming a complete
        build with the same options verifies it (torn blocks are rewritten). Empty
        blocks, and shards whose index does not fit them, count as torn. See
        ``docs/resume.md``.
    source_id : str, optional
        What the data comes from (e.g. a file's path, size and modification time), for
        ``resume`` to refuse finishing a build from another source.
    voxel_size : sequence of float, optional
        Level-0 voxel size of the downsampled axes (e.g. z, y, x), for
        ``sampling="anisotropic"``.
    sampling : {"isotropic", "anisotropic"}
        ``isotropic`` (default here): every level halves every downsampled axis.
        ``anisotropic``: an axis is halved only while it is finer than about half the
        coarsest, so 0.5 x 0.5 x 4 um light-sheet voxels become near-isotropic before
        z is touched (see :func:`level_plan`). The CLI's default is anisotropic.
    factors : str or sequence, optional
        Force the factor (1 or 2) of each downsampled axis: one tuple for every level,
        or one per level (the last repeated), e.g. ``(1, 2, 2)`` or ``"1,2,2;2,2,2"``.
    client : dask.distributed.Client, None or False
        Where the tiles are computed. ``None`` (default): on the active
        ``dask.distributed`` client when there is one (none is started, and
        ``distributed`` is not imported for this), else on local threads.
        ``False``: always local threads. A ``Client``: on its workers. On a cluster,
        each tile of each pass is one task that reopens the arrays by URL (so the
        workers must reach the store: a shared file system or object storage; not
        ``memory://``), reads its region, computes every level of the pass and writes
        them; the result is identical to a local run. ``source=`` there must be a
        unizarr or zarr-python array (read by the workers), or, with
        ``write_base=True``, a dask array or a numpy array of at most 64 MiB: level 0
        is then stored through the cluster first and the pyramid built from it.
        Without ``write_base``, other sources are ignored in favour of the stored
        level 0. See :mod:`unizarr.pyramid.cluster`.

    Returns
    -------
    list of tuple of int
        The shape of every level, level 0 first.

    Raises
    ------
    KeyError
        The group has no array ``"0"``.
    ValueError
        Bad ``levels``, ``method``, ``no_pyramid_axis``, ``max_memory`` or ``source``
        (on a cluster: a numpy ``source`` above 64 MiB, or an array-like the workers
        cannot read, with ``write_base=True``).
    TypeError
        ``client`` is not a ``dask.distributed.Client``, ``None`` or ``False``.
    ReadOnlyError
        The group is opened read-only.

    Examples
    --------
    >>> g = uz.open_group("brain.zarr", mode="w")                # doctest: +SKIP
    >>> g.create_array("0", data=volume, chunks=(64,))           # doctest: +SKIP
    >>> uz.generate_pyramid(g)                                   # doctest: +SKIP
    [(256, 256, 256), (128, 128, 128), (64, 64, 64)]
    """
    if not isinstance(group, ZarrGroup):
        raise TypeError(f"generate_pyramid needs a unizarr ZarrGroup, got {type(group).__name__}")
    if group.read_only:
        raise ReadOnlyError(f"{group.url} is opened read-only (mode 'r'); reopen with mode='r+'")
    levels = _check_int(levels, "levels", -1)
    kernel = get_kernel(method)
    max_memory = DEFAULT_MAX_MEMORY if max_memory is None else _check_int(max_memory, "max_memory", 1)
    workers = usable_cpus() if workers is None else _check_int(workers, "workers", 1)
    cluster = resolve_client(client, group.url)
    base = group["0"]
    if not isinstance(base, ZarrArray):
        raise KeyError(f"'0' in {group.url} is a group; the pyramid base must be an array")
    if base.ndim == 0:
        raise ValueError("a 0-d array has no axes to downsample")
    axes = pyramid_axes(base.ndim, no_pyramid_axis, spatial_ndim)
    ahead: Level1 | None = None
    if source is None and not write_base and cluster is None:
        # Level 0 just written from a numpy array that provably still holds it: read
        # that instead of decompressing level 0 (same values, so the same output), and
        # start from the level 1 computed during that write when it is this one.
        source, ahead = level0_reuse.reusable(base)
    if source is not None:
        if tuple(np.shape(source)) != tuple(base.shape):
            raise ValueError(
                f"source has shape {tuple(np.shape(source))} but level 0 has shape {base.shape}"
            )
    elif write_base:
        raise ValueError("write_base=True needs the level-0 data as source=")

    shapes, steps = level_plan(
        base.shape, base.chunks, axes, levels,
        voxel_size=voxel_size, sampling=sampling, factors=factors,
    )
    recorded: Any = axes if all(st == axes for st in steps) else [list(st) for st in steps]
    run = run_options(shapes, recorded, method, write_base, source_id)
    start_run(group, run, resume)
    targets = [base]
    for i, s in enumerate(shapes[1:], 1):
        old = group.get(str(i)) if resume else None
        if isinstance(old, ZarrArray) and same_layout(old.spec, base.spec.with_shape(s)):
            targets.append(old)  # kept: its stored blocks are finished work
        else:
            targets.append(group.create_array_from_base(str(i), s))
    done = [finished_blocks(t, workers) for t in targets] if resume else None
    stale = len(shapes)
    while str(stale) in group and isinstance(group[str(stale)], ZarrArray):
        del group[str(stale)]
        stale += 1
    level0 = None
    if cluster is not None:
        # Sources the workers cannot open are written as level 0 through the cluster
        # first (or dropped for the stored level 0); see unizarr.pyramid.cluster.
        source, write_base, level0 = stage_source(
            cluster, source, write_base, base, done[0] if done is not None else None
        )
    if write_base and len(shapes) == 1:
        if done is None:
            copy_data(source, base)  # no level to build: just the base, block by block
        else:
            copy_missing(source, base, done[0], workers)
    if len(shapes) == 1 or base.size == 0:
        if level0 is not None and base.size:  # no level to build, but level 0 to store
            run_on_cluster(cluster, [], level0, axes=axes, method=method, dtype=base.dtype,
                           progress=progress)
        finish_run(group, run)
        return shapes

    # Freed memory the engines' threads leave in malloc's heaps is handed back whenever
    # the process grows past the budget (unizarr.heap): the budget bounds what it holds.
    watch = Watch(max_memory) if cluster is None else None
    if cluster is None and done is None:
        level1 = _matching_level1(ahead, kernel, steps[0], shapes[1])
        if level1 is not None:
            # Level 1 was computed while level 0 was written: the levels below it are
            # reduced in memory and all of them written at once (pyramid.held).
            write_from_level1(targets[1:], level1, steps[1:], kernel, workers, progress,
                              watch)
            finish_run(group, run)
            return shapes
        if write_base and _keeps_level1(base, source, shapes[1], max_memory):
            # Level 0 written now while a second thread reduces the whole source into
            # level 1, then the pyramid of level 1. Should that reduction fail, the
            # plan below builds the levels from the source (level 0 is written).
            level1 = np.empty(shapes[1], base.dtype)
            pieces = _level0_pieces(base, source, max_memory)
            counter = _Progress(progress, len(pieces) + len(shapes) - 1)
            reduced = level1_ahead.reduce_while(
                lambda: _write_in_pieces(base, source, pieces, counter, watch),
                source, steps[0], kernel, out=level1,
            )
            if reduced is not None:
                write_from_level1(targets[1:], level1, steps[1:], kernel, workers,
                                  counter.after, watch)
                finish_run(group, run)
                return shapes
            write_base = False
            progress = counter.after
        elif write_base and _reread_is_cheap(source):
            # Level 0 in few large engine writes, then the pyramid from the source
            # again: faster than writing it piece by piece from the reducing threads
            # (1024^3: 8-25%, benchmarks/README.md) when the second read costs no disk
            # read.
            plan = plan_pyramid(shapes, steps, targets, source=source, write_base=False,
                                done=None, max_memory=max_memory, workers=workers,
                                keep_levels=True)
            pieces = _level0_pieces(base, source, max_memory)
            counter = _Progress(progress, len(pieces) + plan.count_pieces())
            _write_in_pieces(base, source, pieces, counter, watch)
            run_local(plan, kernel, base.dtype, workers, counter.after, watch)
            finish_run(group, run)
            return shapes
    if write_base:
        workers = writers_within(max_memory, base, workers)
    plan = plan_pyramid(shapes, steps, targets, source=source, write_base=write_base,
                        done=done, max_memory=max_memory, workers=workers,
                        keep_levels=cluster is None)
    if cluster is not None:
        run_plan(cluster, plan, level0, method=method, dtype=base.dtype, progress=progress)
    else:
        run_local(plan, kernel, base.dtype, workers, progress, watch)
    finish_run(group, run)
    return shapes


def _matching_level1(
    ahead: Level1 | None, kernel: Kernel, step: tuple[int, ...], shape: tuple[int, ...]
) -> np.ndarray | None:
    """The level 1 computed during the write of level 0 (``ahead``) when its kernel,
    axes and shape are this pyramid's first step, else ``None``."""
    if ahead is not None and ahead.kernel == kernel and ahead.axes == tuple(step) \
            and ahead.data.shape == tuple(shape):
        return ahead.data
    return None


def _keeps_level1(base: ZarrArray, source: Any, shape: tuple[int, ...],
                  max_memory: int) -> bool:
    """Whether level 1 may be reduced from the whole numpy ``source`` while level 0 is
    written: the source is level 0 itself (dtype and shape), and level 1 is small
    enough to keep (a quarter of ``max_memory``, as the plan keeps levels)."""
    return (isinstance(source, np.ndarray) and source.dtype == base.dtype
            and tuple(source.shape) == tuple(base.shape)
            and kept_level(shape, base.dtype.itemsize, max_memory // 4))


#: Largest piece of a source of level 0's dtype that :func:`_write_in_pieces` hands an
#: engine in one write. Such a piece is a view of the source, not a buffer: the engines
#: stream from it, holding only the blocks in flight (1024^3 uint16 written whole: 86-143
#: MiB peak anonymous memory on TensorStore, zarr-python and zarrs, v2 and v3-sharded).
#: Fewer writes leave the cores idle less often at their ends (1024^3 v3-sharded,
#: TensorStore: level 0 in one write 1.49-1.67 s, in 128 MiB pieces 1.77-1.93 s); the
#: pieces remain for the progress count and the heap checks (:mod:`unizarr.heap`).
PIECE_BYTES = 2**30
#: Largest piece of a source of another dtype: each piece is converted into a new block
#: before the write (numpy casting), so those pieces also stay within ``max_memory``.
CONVERTED_PIECE_BYTES = 128 * 2**20


def _level0_pieces(base: ZarrArray, source: np.ndarray,
                   max_memory: int) -> list[tuple[slice, ...]]:
    """The regions :func:`_write_in_pieces` writes: whole write blocks, grown along the
    last axis first (the engines' contiguous direction) up to :data:`PIECE_BYTES`, or,
    for a source to convert, to ``max_memory`` and :data:`CONVERTED_PIECE_BYTES`; one
    write block at least."""
    limit = PIECE_BYTES if source.dtype == base.dtype else min(max_memory,
                                                                CONVERTED_PIECE_BYTES)
    piece = aligned_chunks(base.shape, base.write_block, base.dtype.itemsize, limit)
    return list(regions(base.shape, piece))


def _write_in_pieces(base: ZarrArray, source: np.ndarray,
                     pieces: Sequence[tuple[slice, ...]], counter: _Progress,
                     watch: Watch | None = None) -> None:
    """``base[...] = source`` piece by piece (:func:`_level0_pieces`), reporting each
    piece and checking the heap (``watch``) between them."""
    for region in pieces:
        base[region] = source[region]
        counter.step()
        if watch is not None:
            watch.check()


class _Progress:
    """``progress(done, total)`` over the level-0 pieces this module writes itself,
    then over the plan run after them (:meth:`after`), as one count of ``total``."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress = progress
        self.done = 0
        self.total = total

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def after(self, done: int, total: int) -> None:
        """The reporter of the plan run after level 0."""
        if self.progress is not None:
            self.progress(self.done + done, max(self.total, self.done + total))


def _reread_is_cheap(source: Any) -> bool:
    """Whether reading a numpy ``source`` a second time costs no disk read: it is in
    memory, or a memory map of at most half the memory available now (its pages then
    stay in the page cache between the two reads)."""
    if not isinstance(source, np.ndarray):
        return False
    if level0_reuse.memory_map(source) is None:
        return True  # plain memory (or bytes): already in RAM
    available = available_memory()
    if available is None:
        return False  # no way to tell: keep the one-read order
    return source.nbytes <= available // 2


__all__ = [
    "DEFAULT_MAX_MEMORY",
    "METHODS",
    "RUN_RECORD",
    "SAMPLINGS",
    "Kernel",
    "Pass",
    "Piece",
    "PyramidPlan",
    "Reducer",
    "Run",
    "Tile",
    "downsample",
    "downsample_into",
    "generate_pyramid",
    "get_kernel",
    "level_plan",
    "level_shapes",
    "next_level_shape",
    "parse_factors",
    "plan_passes",
    "plan_pyramid",
    "pyramid_axes",
    "same_layout",
    "spatial_axes",
    "window_mode",
]
