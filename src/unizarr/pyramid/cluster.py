"""Pyramids on a ``dask.distributed`` cluster: one task per tile of a pass.

:func:`unizarr.generate_pyramid` with a client runs the same plan as the local
executor (:class:`~unizarr.pyramid.plan.PyramidPlan`: passes and their tile grid) and
changes only who computes a tile: each tile becomes one task that a worker process runs
from start to end (:meth:`~unizarr.pyramid.tiles.TileWork.run_tile`): it reopens the
arrays from their pickled handles, reads its region of the source level, reduces it to
every level of the pass and writes them. Tiles are whole write blocks (shards, or chunks), so no two
tasks ever write the same stored object. Passes run one after another, since a pass
reads the level the previous one wrote. A pass with fewer tiles than the cluster has
threads (a small volume, or the big tiles of fused levels) would leave workers idle:
its tiles are split into one task per piece (read and reduce,
:meth:`~unizarr.pyramid.tiles.TileWork.reduce_piece`) and one that assembles and writes
the tile (:meth:`~unizarr.pyramid.tiles.TileWork.write_reduced`).

The client process only plans, submits (a bounded window of tasks, so a huge volume
does not flood the scheduler), reports progress and re-raises the first error with
its original type. With ``resume`` it also computes the finished blocks and skips
finished tiles before submitting anything.

Level 0 itself is written through the cluster first when it comes from a source the
workers cannot open (a dask array, a small numpy array): a dask graph of
write-block-aligned chunks whose tasks each write their own blocks.

Choosing the client and keeping a window of futures in flight are not specific to
pyramids: they live in :mod:`unizarr.distributed`.
"""

from __future__ import annotations

import math
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise, product
from typing import Any

import numpy as np

from ..blocks import within as _within
from ..core import ZarrArray
from ..dask_io import align_dask as _align_dask
from ..dask_io import is_dask as _is_dask
from ..distributed import Pending, Tracker, keep_heap_padding, worker_threads
from ..reduction import Reducer, get_kernel
from .plan import Pass, PyramidPlan, Tile, blocks_of, scaled
from .tiles import TileWork, write_missing

#: Largest numpy ``source=`` sent to the workers (scattered once). Anything bigger
#: would travel through the client's connection and sit in worker memory whole; a
#: dask array (whose tasks read the data where they run) does not.
MAX_SCATTER_BYTES = 64 * 2**20

Blocks = set[tuple[int, ...]]


# -- level 0 -------------------------------------------------------------------------------
class Level0:
    """Level 0 written through the cluster from a dask array, before the passes.

    Each task writes one write-block-aligned chunk of the source into its own blocks
    (skipping, with ``resume``, the blocks an interrupted run finished).
    """

    def __init__(
        self, data: Any, target: ZarrArray, done: Blocks | None, holds: Sequence[Any] = ()
    ) -> None:
        import dask
        import dask.array as da

        data = da.broadcast_to(da.asarray(data), target.shape).astype(target.dtype)
        data = _align_dask(data, target.write_block)
        # Named for the dashboard's task group ("unizarr-base").
        name = f"unizarr-base-{uuid.uuid4().hex[:12]}"
        # Futures the graph reads (scattered data): the scheduler forgets data no
        # client holds, and the graph of ``to_delayed`` refers to it by key only.
        self.holds = list(holds)
        self.jobs = []
        cells = product(*(_spans(c) for c in data.chunks))
        wb = target.write_block
        for i, (region, block) in enumerate(zip(cells, data.to_delayed().ravel())):
            finished = None if done is None else _within(region, wb, done)
            if finished is not None and all(b in finished for b in blocks_of(region, wb)):
                continue  # resume: an interrupted run stored all of it
            write = dask.delayed(write_missing, pure=False)
            self.jobs.append(write(target, region, block, finished, dask_key_name=f"{name}-{i}"))

    def run(self, client: Any, tracker: Tracker) -> None:
        # One graph: dask's scheduler orders it and bounds the chunks held in memory
        # (root-task queuing), and upstream tasks shared by several chunks (after a
        # rechunk) are computed once.
        with Pending(client, tracker) as pending:
            for fut in client.compute(self.jobs):
                pending.add(fut, 1)
            pending.wait()


def _spans(chunks: Sequence[int]) -> list[slice]:
    ends = np.cumsum((0,) + tuple(chunks))
    return [slice(int(a), int(b)) for a, b in pairwise(ends)]


def stage_source(
    client: Any, source: Any, write_base: bool, base: ZarrArray, done: Blocks | None
) -> tuple[Any, bool, Level0 | None]:
    """What the passes read on the cluster, and how level 0 gets written.

    Returns ``(source, write_base, level0)`` for the pass plan:

    * no source, or a unizarr / zarr-python array (workers reopen it from its
      pickled handle): unchanged; the first pass writes level 0 as it does locally;
    * ``write_base=False``: any other source is dropped, the workers read the stored
      level 0 (the source only saves decompressing it, and must equal it);
    * a dask array, or a numpy array of at most :data:`MAX_SCATTER_BYTES` (scattered
      once): level 0 is stored through the cluster first (``level0``), then the
      passes read it.

    Raises
    ------
    ValueError
        ``write_base=True`` with a bigger numpy array or another array-like: it would
        have to be sent whole from this process.
    """
    if source is None or _workers_can_open(source):
        return source, write_base, None
    if not write_base:
        return None, False, None
    if _is_dask(source):
        return None, False, Level0(source, base, done)
    if isinstance(source, np.ndarray) and source.nbytes <= MAX_SCATTER_BYTES:
        import dask.array as da

        scattered = client.scatter(source)
        lazy = da.from_delayed(scattered, source.shape, source.dtype)
        return None, False, Level0(lazy, base, done, holds=[scattered])
    raise ValueError(
        f"with a dask.distributed client, source= must be a dask array, a unizarr or "
        f"zarr array, or a numpy array of at most {MAX_SCATTER_BYTES >> 20} MiB (got "
        f"{type(source).__name__} of {math.prod(np.shape(source)) * base.dtype.itemsize >> 20} "
        "MiB): wrap it with dask.array (e.g. from_zarr, or from_array of a reader that "
        "opens the file on the worker), or store level 0 first and call without "
        "source=; client=False builds the pyramid in this process"
    )


def _workers_can_open(source: Any) -> bool:
    """Arrays that pickle as a reference to their store, not as their data."""
    if isinstance(source, ZarrArray):
        return True
    zarr = sys.modules.get("zarr")
    return zarr is not None and isinstance(source, zarr.Array)


# -- the passes ------------------------------------------------------------------------------
def run_plan(
    client: Any,
    plan: PyramidPlan,
    level0: Level0 | None,
    *,
    method: str | Reducer,
    dtype: np.dtype,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Run ``plan`` on the cluster: level 0 first (when staged), then each run of
    passes in order (:func:`run_on_cluster`)."""
    for k, run in enumerate(plan.runs):
        run_on_cluster(client, run.passes, level0 if k == 0 else None, axes=run.axes,
                       method=method, dtype=dtype, progress=progress)


def run_on_cluster(
    client: Any,
    passes: Sequence[Pass],
    level0: Level0 | None,
    *,
    axes: Sequence[int],
    method: str | Reducer,
    dtype: np.dtype,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Write level 0 (when staged), then run ``passes`` one after another, one task
    per unfinished tile."""
    count = len(level0.jobs) if level0 is not None else 0
    tracker = Tracker(progress, count + sum(p.count_pieces(axes) for p in passes))
    # From each worker's main thread, before any task: called first from a task
    # thread, the setting only half works (measured); workers that join later
    # still get it from their first task.
    client.run(keep_heap_padding, on_error="ignore")
    if level0 is not None:
        level0.run(client, tracker)
    for p in passes:
        _run_pass(client, p, tuple(axes), method, dtype, tracker)


def _run_pass(
    client: Any,
    p: Pass,
    axes: tuple[int, ...],
    method: str | Reducer,
    dtype: np.dtype,
    tracker: Tracker,
) -> None:
    # A window of about two tasks per worker thread keeps every thread busy while
    # the next tiles are queued, without handing the scheduler the whole grid.
    window = 2 * worker_threads(client)
    # With fewer tiles than that (a small volume, or the big tiles of fused levels),
    # tiles are split into one task per piece, so that every worker reads; otherwise
    # a task per tile moves no voxel between workers.
    split = p.count_tiles(axes) < window
    check = TileWork(axes, get_kernel(method))
    name = f"{p.first}-{uuid.uuid4().hex[:12]}"
    with Pending(client, tracker) as pending:
        for i, tile in enumerate(p.tiles(axes)):
            if p.done is not None and check.tile_done(p, tile):
                tracker.advance(len(tile.pieces))
                continue
            job = _Job(_for_tile(p, tile, axes), axes, method, dtype)
            pending.add(_submit(client, job, tile, f"{name}-{i}", split), len(tile.pieces))
            pending.wait(keep=window - 1)
        pending.wait()


def _submit(client: Any, job: _Job, tile: Tile, key: str, split: bool) -> Any:
    """The future of writing ``tile``: one task, or with ``split`` one per piece and
    one that assembles their results and writes. Keys are named for the dashboard's
    task groups ("unizarr-tile", "unizarr-piece")."""
    if not split or len(tile.pieces) == 1:
        return client.submit(_tile_task, job, tile.bounds, key=f"unizarr-tile-{key}", pure=False)
    parts = [
        client.submit(_piece_task, job, piece.bounds, key=f"unizarr-piece-{key}-{k}", pure=False)
        for k, piece in enumerate(tile.pieces)
    ]
    return client.submit(_write_task, job, tile.bounds, *parts, key=f"unizarr-tile-{key}", pure=False)


def _for_tile(p: Pass, tile: Tile, axes: Sequence[int]) -> Pass:
    """The pass as one tile's task needs it: with ``resume``, the finished-block sets
    cut down to the tile's blocks (the whole sets of a huge volume would otherwise
    travel with every task)."""
    if p.done is None:
        return p
    done = [
        _within(scaled(tile.bounds, axes, j), target.write_block, blocks)
        for j, (target, blocks) in enumerate(zip(p.targets, p.done), start=1)
    ]
    source_done = None
    if p.write_source is not None and p.source_done is not None:
        region = tuple(slice(lo, hi) for lo, hi in tile.bounds)
        source_done = _within(region, p.write_source.write_block, p.source_done)
    return replace(p, done=done, source_done=source_done)


# -- what the workers run ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    """What a task of one tile needs, pickled with it (the arrays as reopenable handles)."""

    plan: Pass
    axes: tuple[int, ...]
    method: str | Reducer
    dtype: np.dtype

    def work(self) -> TileWork:
        keep_heap_padding()
        return TileWork(self.axes, get_kernel(self.method))


def _tile_task(job: _Job, bounds: tuple[tuple[int, int], ...]) -> None:
    """Compute and write one tile."""
    job.work().run_tile(job.plan, job.plan.tile_at(bounds), job.dtype)


def _piece_task(job: _Job, bounds: tuple[tuple[int, int], ...]) -> list[np.ndarray]:
    """Read and reduce one piece of a split tile; its results go to the tile's writer."""
    return job.work().reduce_piece(job.plan, bounds, job.dtype)


def _write_task(job: _Job, bounds: tuple[tuple[int, int], ...], *parts: list[np.ndarray]) -> None:
    """Assemble a split tile from its pieces' results and write it."""
    job.work().write_reduced(job.plan, job.plan.tile_at(bounds), parts, job.dtype)


__all__ = ["MAX_SCATTER_BYTES", "Level0", "run_on_cluster", "run_plan", "stage_source"]
