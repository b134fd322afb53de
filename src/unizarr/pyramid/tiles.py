"""One tile of a pass, start to end: read its pieces, reduce them into the tile's
buffers (every level of the pass), write the tile of every level.

Both executors run tiles through :class:`TileWork`: :mod:`unizarr.pyramid.local` spreads
the pieces of a tile over threads, :mod:`unizarr.pyramid.cluster` runs a whole tile (or
one piece) per task. Writes cover whole write blocks, so each is one atomic object and
no two tiles ever write the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..blocks import write_missing
from ..reduction import Kernel, downsample_into
from ..threads import shared_pool, usable_cpus
from .plan import Pass, Piece, Region, Tile, blocks_of, scaled

if TYPE_CHECKING:
    pass


def read_region(source: Any, region: Region) -> np.ndarray:
    """``source[region]`` as a numpy array (any sliceable source)."""
    block = source[region]
    return block if isinstance(block, np.ndarray) else np.asarray(block)


def _io_pool() -> ThreadPoolExecutor:
    """Threads that write level-0 blocks for the reducing threads (each of which waits
    for its own write, so at most one write per reducing thread is in flight)."""
    return shared_pool("level0", 2 * usable_cpus())


class TileWork:
    """What one tile of a pass takes: read its pieces, reduce them into the tile's
    buffers, write the tile of every level. :mod:`unizarr.pyramid.local` spreads the
    pieces of a tile over threads (:meth:`compute` each, then :meth:`write_tile`);
    the other methods do it in the calling thread, for the tasks of
    :mod:`unizarr.pyramid.cluster`: a whole tile (:meth:`run_tile`), or one piece
    (:meth:`reduce_piece`) whose results the tile's writer assembles
    (:meth:`write_reduced`)."""

    def __init__(self, axes: Sequence[int], kernel: Kernel) -> None:
        self.axes = tuple(axes)
        self.kernel = kernel

    def run_tile(self, p: Pass, tile: Tile, dtype: np.dtype) -> None:
        """Compute and write ``tile`` (all levels of the pass) synchronously."""
        self.allocate(p, tile, dtype)
        for piece in tile.pieces:
            self.compute(p, piece)
        self.write_tile(p, tile)

    def reduce_piece(
        self, p: Pass, bounds: tuple[tuple[int, int], ...], dtype: np.dtype
    ) -> list[np.ndarray]:
        """Every level of the pass over one piece alone (and its part of level 0
        written, when the pass writes level 0 and the piece holds whole blocks)."""
        part = p.tile_at(bounds)  # a piece is a tile of one piece
        self.allocate(p, part, dtype)
        self.compute(p, part.pieces[0])
        return part.buffers

    def write_reduced(
        self, p: Pass, tile: Tile, parts: Sequence[Sequence[np.ndarray]], dtype: np.dtype
    ) -> None:
        """Write ``tile`` from the :meth:`reduce_piece` results of its pieces (in the
        order of ``tile.pieces``)."""
        self.allocate(p, tile, dtype)
        for piece, levels in zip(tile.pieces, parts, strict=True):
            for j, data in enumerate(levels, start=1):
                tile.buffers[j - 1][self.in_tile(piece, j)] = data
        self.write_tile(p, tile)

    def allocate(self, p: Pass, tile: Tile, dtype: np.dtype) -> None:
        """Give ``tile`` one new buffer per level of the pass."""
        tile.buffers = [np.empty(shape, dtype) for shape in self.tile_shapes(p, tile)]

    def tile_done(self, p: Pass, tile: Tile) -> bool:
        """Whether an interrupted run stored every write block of ``tile`` (all its
        levels, and level 0 when the pass writes it): then it is skipped entirely."""
        if p.write_source is not None:
            region = tuple(slice(lo, hi) for lo, hi in tile.bounds)
            done0 = p.source_done or set()
            if any(b not in done0 for b in blocks_of(region, p.write_source.write_block)):
                return False
        for j, (target, done) in enumerate(zip(p.targets, p.done or []), start=1):
            region = scaled(tile.bounds, self.axes, j)
            if any(b not in done for b in blocks_of(region, target.write_block)):
                return False
        return True

    def tile_shapes(self, p: Pass, tile: Tile) -> list[tuple[int, ...]]:
        """The shape of ``tile`` at each level the pass builds."""
        return [
            tuple(s.stop - s.start for s in scaled(tile.bounds, self.axes, j))
            for j in range(1, p.depth + 1)
        ]

    def compute(self, p: Pass, piece: Piece) -> None:
        """Read ``piece`` and reduce it into its tile's buffers, every level of the pass
        (writing its part of level 0 meanwhile, when the pass writes level 0)."""
        block = read_region(p.source, tuple(slice(lo, hi) for lo, hi in piece.bounds))
        pending = None
        if p.write_source is not None and self._piece_writes_source(p, piece):
            # Level 0 is encoded and written while this thread reduces the same block:
            # the engine's write waits on file I/O a good part of its time, which the
            # reduction fills (the 512^3 one-pass pipeline: 0.5-0.8 s -> 0.45 s).
            region = tuple(slice(lo, hi) for lo, hi in piece.bounds)
            pending = _io_pool().submit(
                write_missing, p.write_source, region, block, p.source_done
            )
        try:
            for j in range(1, p.depth + 1):
                out = piece.tile.buffers[j - 1][self.in_tile(piece, j)]
                downsample_into(block, out, self.axes, self.kernel)
                block = out
        finally:
            if pending is not None:
                pending.result()  # the write's error, if any; never leave it running

    def in_tile(self, piece: Piece, j: int) -> Region:
        """Where the level-``j`` voxels of ``piece`` lie in its tile's level-``j`` buffer."""
        tregion = scaled(piece.tile.bounds, self.axes, j)
        pregion = scaled(piece.bounds, self.axes, j)
        return tuple(slice(r.start - t.start, r.stop - t.start) for r, t in zip(pregion, tregion))

    @staticmethod
    def _piece_writes_source(p: Pass, piece: Piece) -> bool:
        wb = p.write_source.write_block  # type: ignore[union-attr]
        shape = p.shapes[0]
        return all(
            lo % b == 0 and (hi % b == 0 or hi == n)
            for (lo, hi), b, n in zip(piece.bounds, wb, shape)
        )

    def write_tile(self, p: Pass, tile: Tile) -> None:
        """Write the buffers of ``tile`` (and level 0, where no piece wrote it)."""
        if p.write_source is not None and not all(
            self._piece_writes_source(p, piece) for piece in tile.pieces
        ):
            region = tuple(slice(lo, hi) for lo, hi in tile.bounds)
            write_missing(p.write_source, region, read_region(p.source, region), p.source_done)
        for j, (target, buf) in enumerate(zip(p.targets, tile.buffers), start=1):
            done = p.done[j - 1] if p.done is not None else None
            write_missing(target, scaled(tile.bounds, self.axes, j), buf, done)


__all__ = ["TileWork", "read_region", "write_missing"]
