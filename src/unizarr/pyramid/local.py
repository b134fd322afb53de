"""The local executor: a pyramid plan run on threads of this process.

Worker threads read each piece of a tile once, reduce it with numpy (which releases
the GIL) into the tile's buffers, every level of the pass, while the data is in
memory; the thread that finishes a tile's last piece writes the tile of every level.
At most ``max_tiles`` (two) tiles of a pass are in flight and their buffers are
recycled, so peak memory is a few pieces per worker plus two tiles, whatever the
volume size.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..heap import Watch
from ..reduction import Kernel
from .plan import Pass, Piece, PyramidPlan, ceil_div, scaled
from .tiles import TileWork


def run_local(
    plan: PyramidPlan,
    kernel: Kernel,
    dtype: np.dtype,
    workers: int,
    progress: Callable[[int, int], None] | None,
    watch: Watch | None = None,
) -> None:
    """Run every pass of ``plan`` in order on ``workers`` threads; ``progress(done,
    total)`` counts pieces over the whole plan (called from the worker threads).
    ``watch`` is checked after each tile is written (:class:`unizarr.heap.Watch`)."""
    total = plan.count_pieces()
    done_pieces = 0
    for run in plan.runs:
        offset = done_pieces
        report = progress if progress is None or not offset else (
            lambda d, t, _o=offset: progress(d + _o, total)
        )
        n = run.count_pieces()
        runner = _Runner(run.axes, kernel, dtype, workers, report, total - offset, watch)
        kept: np.ndarray | None = None
        for p in run.passes:
            if p.reads_kept:
                # The level the pass before kept whole: read in memory, not decoded.
                p = dataclasses.replace(p, source=kept)
            kept = runner.run(p)
        done_pieces += n


class _Runner(TileWork):
    """Runs the passes of one :func:`~unizarr.pyramid.generate_pyramid` call on a thread pool."""

    def __init__(
        self,
        axes: Sequence[int],
        kernel: Kernel,
        dtype: np.dtype,
        workers: int,
        progress: Callable[[int, int], None] | None,
        total: int,
        watch: Watch | None = None,
    ) -> None:
        super().__init__(axes, kernel)
        self.watch = watch
        self.dtype = dtype
        self.workers = workers
        self.progress = progress
        self.total = total
        self.done = 0
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def run(self, p: Pass) -> np.ndarray | None:
        """Run pass ``p``; return its last level, whole, when the pass keeps it."""
        slots = threading.BoundedSemaphore(p.max_tiles)
        # A kept level is one array; each tile reduces into its region of it (a view)
        # instead of a recycled buffer, so keeping costs no copy.
        kept = np.empty(p.shapes[-1], self.dtype) if p.keep else None
        levels = p.depth - 1 if p.keep else p.depth
        # Tile buffers are recycled: at most ``max_tiles`` sets exist, so memory stays
        # flat and big blocks are not handed back to the OS and faulted in again.
        full = [
            math.prod(ceil_div(t, 2 ** (j - 1)) if a in self.axes else t for a, t in enumerate(p.tile))
            for j in range(1, levels + 1)
        ]
        spares: list[list[np.ndarray]] = []
        with ThreadPoolExecutor(self.workers, thread_name_prefix="unizarr-pyramid") as pool:
            for tile in p.tiles(self.axes):
                if p.done is not None and self.tile_done(p, tile):
                    self._advance(len(tile.pieces))
                    continue
                slots.acquire()
                if self.errors:
                    slots.release()
                    break
                with self.lock:
                    flat = spares.pop() if spares else [np.empty(n, self.dtype) for n in full]
                tile.flat = flat
                tile.buffers = [
                    buf[: math.prod(shape)].reshape(shape)
                    for buf, shape in zip(flat, self.tile_shapes(p, tile))
                ]
                if kept is not None:
                    tile.buffers.append(kept[scaled(tile.bounds, self.axes, p.depth)])
                tile.remaining = len(tile.pieces)
                for piece in tile.pieces:
                    pool.submit(self._piece, p, piece, slots, spares)
        if self.errors:
            raise self.errors[0]
        return kept

    def _advance(self, n: int) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.done += n
            done = self.done
        self.progress(done, self.total)

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(exc)

    def _piece(
        self,
        p: Pass,
        piece: Piece,
        slots: threading.BoundedSemaphore,
        spares: list[list[np.ndarray]],
    ) -> None:
        tile = piece.tile
        try:
            if not self.errors:
                self.compute(p, piece)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            tile.failed = True
            self._fail(exc)
        with tile.lock:
            tile.remaining -= 1
            last = tile.remaining == 0
        if self.progress is not None:
            with self.lock:
                self.done += 1
                done = self.done
            self.progress(done, self.total)
        if not last:
            return
        try:
            if not tile.failed and not self.errors:
                self.write_tile(p, tile)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            self._fail(exc)
        finally:
            with self.lock:
                spares.append(tile.flat)
            tile.buffers, tile.flat = [], []
            slots.release()
        if self.watch is not None:
            self.watch.check()


__all__ = ["run_local"]
