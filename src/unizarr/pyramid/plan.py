"""The pyramid plan: what each level is, and how its building is cut into work.

Pure decisions, no I/O: both executors (:mod:`unizarr.pyramid.local`, threads of this
process, and :mod:`unizarr.pyramid.cluster`, ``dask.distributed`` workers) run the same
plan and write the same bytes.

* **Levels**: the shape of each level and the axes halved to make it
  (:func:`level_plan`, :func:`level_shapes`, :func:`parse_factors`), on the axes a
  pyramid downsamples (:func:`pyramid_axes`).
* **Passes** (:class:`Pass`): one read of a level builds the next ``depth`` levels
  while the data is in memory (:func:`plan_passes` chooses the depth).
* **Tiles** (:class:`Tile`): the output of a pass is cut into regions of whole write
  blocks (shards, or chunks when unsharded) of the first level the pass builds, so
  every write is one call that replaces whole stored objects (no read-modify-write).
  A tile's input region is cut into **pieces** (:class:`Piece`) aligned to the input's
  chunk grid and sized to the memory budget (:data:`DEFAULT_MAX_MEMORY`).
* **The whole build** (:class:`PyramidPlan`, made by :func:`plan_pyramid`): the
  passes of each run of levels that halve the same axes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np

from ..axes import next_level_shape, pyramid_axes, spatial_axes
from ..blocks import blocks_of, ceil_div

if TYPE_CHECKING:
    from ..core import ZarrArray

#: Default working-set budget of :func:`~unizarr.pyramid.generate_pyramid` (bytes).
#: 128 MiB keeps the tiles of a 512^3 uint16 pyramid (128^3 chunks) to one chunk per
#: level instead of the whole of level 1: 1.2x instead of 1.3x the input in peak
#: memory, same speed.
DEFAULT_MAX_MEMORY = 128 * 2**20


# -- axes and shapes (pure) ---------------------------------------------------------------
def level_shapes(
    shape: Sequence[int], chunks: Sequence[int], axes: Sequence[int], levels: int = -1
) -> list[tuple[int, ...]]:
    """Shapes of the pyramid levels, level 0 included.

    ``levels=-1`` adds levels until every downsampled axis fits in one chunk; a
    non-negative ``levels`` adds that many levels, stopping early only once every
    downsampled axis has size 1 (further levels would be copies).

    >>> level_shapes((300, 256, 256), (64, 64, 64), (0, 1, 2))
    [(300, 256, 256), (150, 128, 128), (75, 64, 64), (38, 32, 32)]
    """
    return level_plan(shape, chunks, axes, levels)[0]


#: Sampling modes of :func:`level_plan`.
SAMPLINGS = ("isotropic", "anisotropic")


def parse_factors(factors: Any, naxes: int) -> list[tuple[int, ...]]:
    """Forced per-axis factors: one tuple of ``naxes`` values in ``{1, 2}`` (every
    level), or a list of them (level by level, the last one repeated), or the text
    forms ``"1,2,2"`` and ``"1,2,2;2,2,2"``.

    Raises
    ------
    ValueError
        Wrong count, a factor other than 1 or 2, or no axis halved.
    """
    if isinstance(factors, str):
        factors = [[p for p in lvl.split(",") if p.strip()] for lvl in factors.split(";") if lvl.strip()]
    factors = list(factors)
    if factors and not isinstance(factors[0], (list, tuple)):
        factors = [factors]
    out = []
    for lvl in factors:
        try:
            vals = tuple(int(str(v).strip()) for v in lvl)
        except ValueError:
            raise ValueError(f"factors {lvl!r}: use 1 or 2 per axis, e.g. 1,2,2") from None
        if len(vals) != naxes:
            raise ValueError(
                f"factors {list(vals)} have {len(vals)} values for {naxes} downsampled axes"
            )
        if any(v not in (1, 2) for v in vals) or 2 not in vals:
            raise ValueError(
                f"factors {list(vals)}: each factor must be 1 or 2, and at least one 2 "
                "(levels are built by halving)"
            )
        out.append(vals)
    if not out:
        raise ValueError("factors is empty; give one value per downsampled axis, e.g. 1,2,2")
    return out


def _anisotropic_step(sizes: Sequence[float]) -> tuple[bool, ...]:
    """Which axes to halve given their current voxel sizes: those still finer than the
    coarsest by at least about a factor of two (after halving, within sqrt(2) of it);
    all of them once none is (the voxels are then near-isotropic)."""
    coarsest = max(sizes)
    halve = tuple(2 * v <= math.sqrt(2) * coarsest * (1 + 1e-9) for v in sizes)
    return halve if any(halve) else (True,) * len(sizes)


def level_plan(
    shape: Sequence[int],
    chunks: Sequence[int],
    axes: Sequence[int],
    levels: int = -1,
    *,
    voxel_size: Sequence[float] | None = None,
    sampling: str = "isotropic",
    factors: Any = None,
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Shapes of the pyramid levels (level 0 included) and, for each level after the
    first, the axes halved to make it from the previous one.

    ``sampling="isotropic"`` halves every axis of ``axes`` at every level.
    ``"anisotropic"`` (needs ``voxel_size``, one per axis of ``axes``) halves an
    axis only while it is finer than about half the coarsest (see
    :func:`_anisotropic_step`): 0.5 x 0.5 x 4 um voxels (z, y, x = 4, 0.5, 0.5) go
    (4, 1, 1), (4, 2, 2), (4, 4, 4), then every axis halves. Equal voxel sizes give
    the isotropic pyramid. ``factors`` (see :func:`parse_factors`) forces the choice.
    An axis of size 1 is never halved. ``levels=-1`` adds levels until every axis of
    ``axes`` fits in one chunk; a non-negative ``levels`` adds that many, stopping
    early once no axis can be halved.

    >>> level_plan((40, 256, 256), (64, 64, 64), (0, 1, 2), voxel_size=(4, .5, .5),
    ...            sampling="anisotropic")[0]
    [(40, 256, 256), (40, 128, 128), (40, 64, 64)]
    """
    axes = tuple(axes)
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling {sampling!r} must be one of {SAMPLINGS}")
    forced = parse_factors(factors, len(axes)) if factors is not None else None
    sizes: list[float] | None = None
    if sampling == "anisotropic" and forced is None:
        if voxel_size is None:
            raise ValueError("anisotropic sampling needs the voxel size of the downsampled axes")
        sizes = [float(v) for v in voxel_size]
        if len(sizes) != len(axes) or not all(math.isfinite(v) and v > 0 for v in sizes):
            raise ValueError(
                f"voxel_size {list(voxel_size)} must hold {len(axes)} positive numbers, "
                "one per downsampled axis"
            )
    shapes = [tuple(int(n) for n in shape)]
    steps: list[tuple[int, ...]] = []
    while True:
        cur = shapes[-1]
        if levels >= 0 and len(shapes) > levels:
            break
        if levels < 0 and all(cur[a] <= chunks[a] for a in axes):
            break
        if forced is not None:
            want = [f == 2 for f in forced[min(len(steps), len(forced) - 1)]]
        elif sizes is not None:
            want = list(_anisotropic_step(sizes))
        else:
            want = [True] * len(axes)
        if all(cur[a] <= 1 for a in axes):
            break
        if forced is None and sizes is None:
            step = axes  # unizarr's classic pyramid (size-1 axes "halve" to 1)
        else:
            step = tuple(a for a, w in zip(axes, want) if w and cur[a] > 1)
            # An axis that reached size 1 cannot lead any more: halve the others.
            if not step and forced is None:
                step = tuple(a for a in axes if cur[a] > 1)
            if not step:
                break
        if sizes is not None:
            sizes = [v * 2 if a in step else v for v, a in zip(sizes, axes)]
        steps.append(step)
        shapes.append(next_level_shape(cur, step))
    return shapes, steps


# -- regions and block grids (pure) ------------------------------------------------------------
#: A region of an array, one slice per axis.
Region = tuple[slice, ...]


def scaled(region0: Sequence[tuple[int, int]], axes: Sequence[int], j: int) -> Region:
    """The level-``j`` region of a level-0 region of the pass (starts are multiples of
    ``2**j`` along the downsampled axes, ends are either that or the array end)."""
    return tuple(
        slice(lo >> j, ceil_div(hi, 2**j)) if a in axes else slice(lo, hi)
        for a, (lo, hi) in enumerate(region0)
    )


# -- the plan's units ----------------------------------------------------------------------------
@dataclass
class Piece:
    """What one reader takes at a time: a region of the source level of a pass, within
    one tile, aligned to the source's chunk grid and sized to the piece budget."""

    tile: Tile
    bounds: tuple[tuple[int, int], ...]  # level-0-of-the-pass coordinates


@dataclass
class Tile:
    """What one write takes: a region of whole write blocks of the pass's first level,
    given by its ``bounds`` at the pass's source level, and its :class:`Piece` s.

    The fields after ``pieces`` are the state of the executor running the tile (its
    buffers, one per level of the pass, and the local executor's bookkeeping); the
    plan leaves them empty.
    """

    bounds: tuple[tuple[int, int], ...]
    pieces: list[Piece] = field(default_factory=list)
    buffers: list[np.ndarray] = field(default_factory=list)
    flat: list[np.ndarray] = field(default_factory=list)  # the recycled storage of buffers
    remaining: int = 0
    failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Pass:
    """Build levels ``first .. first + len(targets) - 1`` from one read of ``source``.

    Executors walk :meth:`tiles` (or rebuild one with :meth:`tile_at`) and write each
    tile of every target level; ``write_source`` is level 0 itself when the first pass
    also stores it from ``source``.
    """

    first: int
    source: Any
    targets: list[ZarrArray]
    shapes: list[tuple[int, ...]]  # level shapes, the source level first
    tile: tuple[int, ...]  # tile shape at the first target level
    piece: tuple[int, ...]  # piece shape at the source level
    max_tiles: int
    write_source: ZarrArray | None = None
    #: With ``resume``: the stored write blocks of each target (and of
    #: ``write_source``); ``None`` means write everything.
    done: list[set[tuple[int, ...]]] | None = None
    source_done: set[tuple[int, ...]] | None = None
    #: The local executor keeps the last level the pass builds in memory (whole) as
    #: well as writing it, and the next pass (``reads_kept``) reads it from there
    #: instead of decoding it again.
    keep: bool = False
    reads_kept: bool = False

    @property
    def depth(self) -> int:
        """How many levels the pass builds."""
        return len(self.targets)

    def _tile_ranges(self, axes: Sequence[int]) -> list[list[tuple[int, int]]]:
        """Per axis, the source-level extent of each tile position."""
        ranges = []
        for a, (n_src, n_first, t) in enumerate(zip(self.shapes[0], self.shapes[1], self.tile)):
            if a in axes:
                ranges.append([(2 * o, min(2 * (o + t), n_src)) for o in range(0, n_first, t)])
            else:
                ranges.append([(o, min(o + t, n_src)) for o in range(0, n_first, t)])
        return ranges

    def tiles(self, axes: Sequence[int]) -> Iterator[Tile]:
        """Tiles in C order, each with its pieces (made lazily: a huge volume has many)."""
        for bounds in product(*self._tile_ranges(axes)):
            yield self.tile_at(tuple(bounds))

    def tile_at(self, bounds: tuple[tuple[int, int], ...]) -> Tile:
        """The tile of these source-level ``bounds``, with its pieces (a distributed
        task rebuilds its tile from the bounds: tiles hold locks, which do not pickle)."""
        tile = Tile(bounds)
        ranges = [range(lo, hi, p) for (lo, hi), p in zip(bounds, self.piece)]
        for start in product(*ranges):
            pb = tuple((s, min(s + p, hi)) for s, p, (_, hi) in zip(start, self.piece, bounds))
            tile.pieces.append(Piece(tile, pb))
        return tile

    def count_tiles(self, axes: Sequence[int]) -> int:
        """How many tiles :meth:`tiles` yields."""
        return math.prod(len(per_axis) for per_axis in self._tile_ranges(axes))

    def count_pieces(self, axes: Sequence[int]) -> int:
        """How many pieces :meth:`tiles` yields (the grid is a product of axes)."""
        return math.prod(
            sum(ceil_div(hi - lo, p) for lo, hi in per_axis)
            for per_axis, p in zip(self._tile_ranges(axes), self.piece)
        )


# -- choosing the passes (memory budgeting) -------------------------------------------------------
def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def _fit(units: Sequence[int], extent: Sequence[int], itemsize: int, budget: int) -> tuple[int, ...]:
    """A box of whole ``units`` within ``extent``, as large as ``budget`` bytes allows,
    shrinking the outer axes first (so pieces stay contiguous slabs). Never smaller
    than one unit."""
    box = list(extent)
    for a in range(len(box)):
        if math.prod(box) * itemsize <= budget:
            break
        others = math.prod(box[:a]) * math.prod(box[a + 1:]) * itemsize
        n_units = max(1, budget // max(1, others * units[a]))
        box[a] = min(box[a], n_units * units[a])
    return tuple(box)


def kept_level(shape: Sequence[int], itemsize: int, keep_within: int) -> bool:
    """Whether a level of ``shape`` is small enough (``keep_within`` bytes) for the
    local executor to keep it whole in memory for the pass that reads it next."""
    return math.prod(shape) * itemsize <= keep_within


def _tile_bytes(tile: Sequence[int], axes: Sequence[int], depth: int, itemsize: int) -> int:
    """Bytes of the buffers of a tile (shape at the first level of the pass), every
    level of the pass."""
    return sum(
        math.prod(ceil_div(t, 2**j) if a in axes else t for a, t in enumerate(tile))
        for j in range(depth)
    ) * itemsize


def _grow_tile(
    base: tuple[int, ...],
    shape: Sequence[int],
    axes: Sequence[int],
    depth: int,
    itemsize: int,
    budget: int,
) -> tuple[int, ...]:
    """``base`` (one tile unit: whole write blocks of every level of the pass) grown by
    whole units along the inner axes first while its buffers fit ``budget``."""
    tile = list(base)
    for a in range(len(tile) - 1, -1, -1):
        unit = base[a]
        while tile[a] < shape[a]:
            trial = tile.copy()
            trial[a] = min(tile[a] + unit, shape[a])
            if _tile_bytes(trial, axes, depth, itemsize) > budget:
                break
            tile = trial
        if tile[a] < shape[a]:
            break  # an outer axis grows only over whole inner extents
    return tuple(tile)


def writers_within(max_memory: int, base: ZarrArray, workers: int) -> int:
    """Threads for a build that writes level 0 (``write_base``): each thread writes
    whole level-0 write blocks, and one shard write takes the driver's
    ``SHARD_WRITE_UNIT`` shard sizes of ``max_memory``, so a big shard gets
    fewer threads (fewer shards in flight); one thread is the floor."""
    block = math.prod(base.write_block) * base.dtype.itemsize
    need = max(1, int(base.SHARD_WRITE_UNIT * block))  # the driver's measured unit
    return max(1, min(workers, max_memory // need))


#: Working memory of one tile in flight, in tile sizes: its buffer, and while it is
#: written the engine's copy and encode buffers (see ``layout.SHARD_WRITE_UNIT``, which
#: also counts the decoded level-0 shard a one-pass writer holds).
TILE_WRITE_UNIT = 3


def plan_passes(
    shapes: Sequence[tuple[int, ...]],
    axes: Sequence[int],
    *,
    chunks: Sequence[int],
    write_block: Sequence[int],
    itemsize: int,
    max_memory: int,
    workers: int,
    base_write_block: Sequence[int] | None = None,
    source_grid: Sequence[int] | None = None,
    keep_within: int = 0,
) -> list[tuple[int, int, tuple[int, ...], tuple[int, ...], int]]:
    """Split the building of ``shapes[1:]`` into passes.

    Returns ``(first, depth, tile, piece, max_tiles)`` per pass: the pass reads level
    ``first - 1`` once and builds ``depth`` levels; ``tile`` is the tile shape at level
    ``first`` (whole write blocks), ``piece`` the piece shape at level ``first - 1``.

    Budget: two tiles (all their levels) in flight take at most half of
    ``max_memory``, leaving room for the engine's encoded copy while it writes them,
    and only when ``2 * 3 * tile`` fits ``max_memory`` (else one tile at a time);
    each worker's piece takes at most an eighth divided by the workers, leaving room
    for the chunks the engine decodes into it. With ``base_write_block`` (level 0
    is written during the first pass) the first pass's pieces are whole write blocks
    of level 0 (even above the piece budget), so each piece writes its own part.
    ``source_grid`` is the chunk grid of what the first pass reads when that is not
    the stored level 0 (all ones for a numpy array or memmap: no chunk to align to).
    A later pass reads the level before it from memory when that level is at most
    ``keep_within`` bytes (:func:`kept_level`): the executor kept it.

    A tile holds as many write blocks as fit a quarter of the memory one tile in
    flight may take (``max_memory / (2 * TILE_WRITE_UNIT)``), added along the inner
    axes first: pieces are then wide slabs whose rows the kernels reduce at memory
    speed (2x faster than 128^3 cubes), and writes are fewer, larger calls.
    """
    tile_budget = max_memory // 4
    piece_budget = max(max_memory // (8 * max(1, workers)), 2**20)
    plans = []
    first = 1
    n = len(shapes)
    while first < n:
        src = shapes[first - 1]
        depth = 1
        for d in range(n - first, 0, -1):
            tile = tuple(
                min(b * 2 ** (d - 1), s) if a in axes else min(b, s)
                for a, (b, s) in enumerate(zip(write_block, shapes[first]))
            )
            total = sum(
                math.prod(ceil_div(t, 2**j) if a in axes else t for a, t in enumerate(tile))
                for j in range(d)
            ) * itemsize
            if total <= tile_budget or d == 1:
                depth = d
                break
        tile = _grow_tile(
            tuple(
                min(b * 2 ** (depth - 1), s) if a in axes else min(b, s)
                for a, (b, s) in enumerate(zip(write_block, shapes[first]))
            ),
            shapes[first],
            axes,
            depth,
            itemsize,
            min(tile_budget, max_memory // (4 * TILE_WRITE_UNIT)),
        )
        grid = chunks
        in_memory = first == 1 and source_grid is not None and base_write_block is None
        if in_memory:
            grid = source_grid  # type: ignore[assignment]
        elif first > 1 and kept_level(src, itemsize, keep_within):
            in_memory, grid = True, (1,) * len(src)
        if first == 1 and base_write_block is not None:
            # Whole level-0 write blocks, even above the piece budget (one write block
            # is the floor anyway): each piece then writes its own part of level 0,
            # instead of the tile writing a region of many shards in one call.
            grid = base_write_block
        units = tuple(_lcm(c, 2**depth) if a in axes else c for a, c in enumerate(grid))
        extent = tuple(
            min(2 * t, s) if a in axes else t for a, (t, s) in enumerate(zip(tile, src))
        )
        # A piece read from a stored level also holds the chunks decoded into it (and
        # their encoded bytes) while it is read: half the size for the same memory.
        from_store = not (first == 1 and base_write_block is not None) and not (
            in_memory and all(g == 1 for g in grid)
        )
        piece = _fit(units, extent, itemsize, piece_budget // 2 if from_store else piece_budget)
        tile_bytes = math.prod(tile) * itemsize
        # A second tile in flight overlaps reading with writing, but each tile being
        # written also holds the engine's copy and encode buffers: two tiles only when
        # both, with their writes, fit the budget (a 1024^3 uint16 pyramid with 256^3
        # shards under 128 MiB: one 32 MiB tile at a time, 205-235 MiB peak instead of
        # 235-300, 10-25% slower).
        two_fit = 2 * TILE_WRITE_UNIT * tile_bytes <= max_memory
        max_tiles = 2 if tile_bytes <= tile_budget and two_fit else 1
        plans.append((first, depth, tile, piece, max_tiles))
        first += depth
    return plans



# -- the whole build ---------------------------------------------------------------------------------
@dataclass
class Run:
    """Consecutive levels made by halving the same ``axes``: its passes run in order,
    each reading the level the one before wrote."""

    axes: tuple[int, ...]
    passes: list[Pass]

    def count_pieces(self) -> int:
        """How many pieces the run's passes read (the unit of progress)."""
        return sum(p.count_pieces(self.axes) for p in self.passes)


@dataclass
class PyramidPlan:
    """Every level of a pyramid build (level 0 first) and the runs of passes that
    build levels 1 and up, in order. Executors take it as it is."""

    shapes: list[tuple[int, ...]]
    runs: list[Run]

    def count_pieces(self) -> int:
        """How many pieces the whole build reads."""
        return sum(r.count_pieces() for r in self.runs)


def plan_pyramid(
    shapes: Sequence[tuple[int, ...]],
    steps: Sequence[tuple[int, ...]],
    targets: Sequence[ZarrArray],
    *,
    source: Any,
    write_base: bool,
    done: Sequence[set[tuple[int, ...]]] | None,
    max_memory: int,
    workers: int,
    keep_levels: bool = False,
) -> PyramidPlan:
    """The passes that build ``shapes[1:]`` (from :func:`level_plan`) into ``targets``
    (level 0 first, all created with their final shapes).

    ``source`` is what the first pass reads instead of the stored level 0 (``None``:
    the store), ``write_base`` whether that pass also stores level 0 from it, and
    ``done`` (with ``resume``) the finished write blocks of each level, which the
    executors skip. ``keep_levels`` (the local executor; not with ``done``, whose
    skipped tiles would leave holes) lets a pass keep a level of at most a quarter of
    ``max_memory`` in memory for the next pass of its run, which then reads it from
    there in wide slabs instead of decoding it from the store.
    """
    keep_within = max_memory // 4 if keep_levels and done is None else 0
    base = targets[0]
    # Levels made by halving the same axes are built together (one pass may fuse
    # several); a change of axes starts a new run of passes reading the level before.
    segments: list[tuple[int, int, tuple[int, ...]]] = []  # (first, last, axes)
    for j, step in enumerate(steps, start=1):
        if segments and segments[-1][2] == step:
            segments[-1] = (segments[-1][0], j, step)
        else:
            segments.append((j, j, step))
    runs: list[Run] = []
    for seg_first, seg_last, seg_axes in segments:
        plans = plan_passes(
            shapes[seg_first - 1:seg_last + 1],
            seg_axes,
            chunks=base.chunks,
            write_block=base.write_block,
            itemsize=base.dtype.itemsize,
            max_memory=max_memory,
            workers=workers,
            base_write_block=base.write_block if (write_base and seg_first == 1) else None,
            source_grid=(
                (1,) * len(shapes[0])
                if seg_first == 1 and isinstance(source, np.ndarray)
                else None
            ),
            keep_within=keep_within,
        )
        passes: list[Pass] = []
        for rel_first, depth, tile, piece, max_tiles in plans:
            first = seg_first - 1 + rel_first
            src = targets[first - 1]
            if first == 1 and source is not None:
                src = source
            passes.append(
                Pass(
                    first=first,
                    source=src,
                    targets=list(targets[first:first + depth]),
                    shapes=list(shapes[first - 1:first + depth]),
                    tile=tile,
                    piece=piece,
                    max_tiles=max_tiles,
                    write_source=base if (first == 1 and write_base) else None,
                    done=list(done[first:first + depth]) if done is not None else None,
                    source_done=(
                        done[0] if (done is not None and first == 1 and write_base) else None
                    ),
                    reads_kept=bool(passes) and kept_level(
                        shapes[first - 1], base.dtype.itemsize, keep_within
                    ),
                )
            )
            if passes[-1].reads_kept:
                passes[-2].keep = True
        runs.append(Run(tuple(seg_axes), passes))
    return PyramidPlan([tuple(s) for s in shapes], runs)


__all__ = [
    "DEFAULT_MAX_MEMORY",
    "SAMPLINGS",
    "Pass",
    "Piece",
    "PyramidPlan",
    "Region",
    "Run",
    "Tile",
    "blocks_of",
    "ceil_div",
    "kept_level",
    "level_plan",
    "level_shapes",
    "next_level_shape",
    "parse_factors",
    "plan_passes",
    "plan_pyramid",
    "pyramid_axes",
    "scaled",
    "spatial_axes",
]
