"""Level 1 of a pyramid computed while level 0 is written.

Writing level 0 keeps both cores busy encoding; reducing the same array to level 1
afterwards reads it all again. When a whole level-0 array is written from a numpy
array, the 2x reduction can run on a second thread *during* the write instead, while the
data is at hand (512^3 uint16: the pyramid after the write then takes about half the
CPU time; ``benchmarks/README.md`` has the timings). The level is computed by
the pyramid's own kernels on the very values written, so the pyramid built from it is
byte for byte the one built from the stored level 0.

Two ways in:

* **asked for** (:func:`reduce_while`): :func:`~unizarr.pyramid.generate_pyramid` with
  ``source=`` a numpy array and ``write_base=True`` writes level 0 while a second thread
  reduces the source with the pyramid's actual axes and method;
* **ahead of the call** (:func:`write`): a whole-array write into an array named
  ``"0"`` from a numpy array that :mod:`unizarr.level0_reuse` would remember also
  computes the level-1 *mean* over the default pyramid axes, kept with that record;
  :func:`~unizarr.pyramid.generate_pyramid` uses it only when its own first step, method
  and the record all still match (otherwise it is dropped unused). Only small levels are
  computed ahead (:data:`AHEAD_MAX_BYTES`, the pyramid's default budget for a level it
  keeps), and only one is held at a time, so the memory this costs is bounded whatever
  the caller writes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from .axes import next_level_shape, pyramid_axes
from .reduction import Kernel, downsample_into, get_kernel
from .threads import shared_pool

#: Largest level 1 computed ahead of a pyramid nobody asked for yet: a quarter of the
#: pyramid's default memory budget (128 MiB), the size of a level it keeps in memory.
AHEAD_MAX_BYTES = 32 * 2**20
#: Smaller level-0 writes are not worth a second thread.
AHEAD_MIN_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Level1:
    """A level 1 computed from a whole level-0 write: its axes, the kernel that reduced
    it (compared as a whole: a callable named ``mean`` is not the ``"mean"`` method) and
    its voxels."""

    axes: tuple[int, ...]
    kernel: Kernel
    data: np.ndarray


_local = threading.local()


def _reduce(block: np.ndarray, axes: tuple[int, ...], kernel: Kernel,
            out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        out = np.empty(next_level_shape(block.shape, axes), block.dtype)
    downsample_into(block, out, axes, kernel)
    return out


def _ahead_axes(arr: Any, block: np.ndarray) -> tuple[int, ...] | None:
    """The default pyramid axes of ``arr`` when a level 1 is worth computing ahead."""
    if arr.name.rsplit("/", 1)[-1] != "0" or block.nbytes < AHEAD_MIN_BYTES:
        return None
    try:
        axes = pyramid_axes(block.ndim)
    except ValueError:  # rank > 5: the pyramid needs spatial_ndim=, nothing to guess
        return None
    shape = next_level_shape(block.shape, axes)
    if math.prod(shape) * block.itemsize > AHEAD_MAX_BYTES:
        return None
    chunks = arr.chunks
    if all(block.shape[a] <= chunks[a] for a in axes):
        return None  # one chunk along every axis: a default pyramid has no level 1
    return axes


def reduce_while(
    write_fn: Callable[[], None], block: np.ndarray, axes: Sequence[int], kernel: Kernel,
    out: np.ndarray | None = None,
) -> np.ndarray | None:
    """Run ``write_fn`` in this thread while a second thread reduces ``block`` 2x along
    ``axes`` with ``kernel`` (into ``out`` when given, of the reduced shape and
    ``block``'s dtype); return the reduced array (``None`` when the reduction could not
    run, e.g. ``MemoryError``: it only costs the level). Errors of the write propagate
    after the reduction has stopped: nothing is left running."""
    data: np.ndarray | None = None
    pending: Future[np.ndarray] = shared_pool("level1-ahead", 1).submit(
        _reduce, block, tuple(axes), kernel, out
    )
    outer = getattr(_local, "reducing", False)
    _local.reducing = True  # writes inside write_fn compute nothing ahead: this is it
    try:
        write_fn()
    finally:
        _local.reducing = outer
        try:
            data = pending.result()
        except Exception:  # noqa: BLE001 - a level not computed is only a level not saved
            data = None
    return data


def write(arr: Any, block: np.ndarray, speculate: bool,
          write_fn: Callable[[], None]) -> Level1 | None:
    """Run ``write_fn`` (the write of ``block`` into ``arr``) and, when ``speculate``
    (:func:`unizarr.level0_reuse.would_remember` holds: a whole-array write) and ``arr``
    is a level 0 worth it, compute its level-1 mean over the default pyramid axes
    meanwhile (:func:`reduce_while`). Returns that level, for
    :mod:`unizarr.level0_reuse` to keep, or ``None``."""
    busy = getattr(_local, "reducing", False)
    axes = _ahead_axes(arr, block) if speculate and not busy else None
    if axes is None:
        write_fn()
        return None
    kernel = get_kernel("mean")
    data = reduce_while(write_fn, block, axes, kernel)
    return Level1(axes, kernel, data) if data is not None else None


__all__ = ["AHEAD_MAX_BYTES", "AHEAD_MIN_BYTES", "Level1", "reduce_while", "write"]
