"""Multiscale pyramids: 2x downsampling kernels and the out-of-core level builder.

Levels ``"1"``, ``"2"``, ... are built from level ``"0"`` by halving the spatial axes.
An axis of size ``n`` becomes ``ceil(n / 2)``; at an odd end the last output voxel
reduces over the one voxel that exists, so nothing is dropped.

How a level is computed (see :func:`generate_pyramid`):

* The output of a *pass* is cut into **tiles**: regions of whole write blocks (shards,
  or chunks when unsharded) of the first level the pass builds, so every write is one
  call that replaces whole stored objects (no read-modify-write).
* A tile's input region is cut into **pieces** aligned to the input's chunk grid and
  sized to a memory budget. Worker threads read each piece once, reduce it with numpy
  (which releases the GIL) into the tile's buffer, and also reduce that result again
  for the next levels of the pass: one read of level ``L`` yields levels ``L+1`` ...
  ``L+K`` while the data is in memory. The thread that finishes a tile's last piece
  writes the tile of every level of the pass.
* At most two tiles are in flight, so peak memory is a few pieces per worker plus two
  tiles, whatever the volume size.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from . import layout
from .core import ZarrArray, ZarrGroup, copy_data
from .errors import ReadOnlyError, StoreUnavailableError
from .layout import ArraySpec
from .threads import shared_pool, usable_cpus

#: Reduction methods accepted by name.
METHODS = ("mean", "median", "mode", "min", "max", "nearest")
#: Default working-set budget of :func:`generate_pyramid` (bytes). 128 MiB keeps the
#: tiles of a 512^3 uint16 pyramid (128^3 chunks) to one chunk per level instead of the
#: whole of level 1: 1.2x instead of 1.3x the input in peak memory, same speed.
DEFAULT_MAX_MEMORY = 128 * 2**20
#: The cluster executor: :mod:`unizarr.distributed` (above this module, whose plan,
#: tiles and kernels it runs on ``dask.distributed`` workers) registers its
#: ``resolve_client``, ``stage_source`` and ``run_on_cluster`` here when it is imported,
#: which ``import unizarr`` does. A peer of the local threaded executor, not a callee.
_CLUSTER_EXECUTOR: tuple[Callable[..., Any], ...] | None = None


def register_cluster_executor(
    resolve_client: Callable[..., Any],
    stage_source: Callable[..., Any],
    run_on_cluster: Callable[..., Any],
) -> None:
    """Install the cluster executor :func:`generate_pyramid` uses for ``client=``."""
    global _CLUSTER_EXECUTOR
    _CLUSTER_EXECUTOR = (resolve_client, stage_source, run_on_cluster)


def _cluster_executor() -> tuple[Callable[..., Any], ...]:
    if _CLUSTER_EXECUTOR is None:  # only when unizarr.pyramid is loaded on its own
        raise RuntimeError("no cluster executor registered: import unizarr first")
    return _CLUSTER_EXECUTOR


#: Input bytes a kernel processes at a time: small enough to stay in the CPU cache.
_CACHE_BLOCK = 512 * 2**10

Reducer = Callable[..., Any]


# -- axes and shapes (pure) ---------------------------------------------------------------
def spatial_axes(ndim: int, spatial_ndim: int | None = None) -> tuple[int, ...]:
    """The spatial axes of an array of rank ``ndim``: its last ``spatial_ndim`` axes
    (all of them when ``spatial_ndim >= ndim``).

    By default the unizarr axis conventions decide: arrays of rank <= 3 are all
    spatial, 4-D arrays are (t or c, z, y, x) and 5-D arrays are (t, c, z, y, x).

    Raises
    ------
    ValueError
        A rank above 5 without ``spatial_ndim``, or ``spatial_ndim`` out of range.
    """
    if spatial_ndim is None:
        if ndim > 5:
            raise ValueError(
                f"cannot tell the spatial axes of a {ndim}-D array; pass spatial_ndim="
            )
        spatial_ndim = min(ndim, 3)
    if isinstance(spatial_ndim, bool) or not isinstance(spatial_ndim, (int, np.integer)):
        raise ValueError(f"spatial_ndim must be an int, got {spatial_ndim!r}")
    if spatial_ndim < 1:
        raise ValueError(f"spatial_ndim must be >= 1, got {spatial_ndim}")
    # More than the rank means "all axes", as linc-convert's ``shape[-ndim:]`` does.
    spatial_ndim = min(int(spatial_ndim), ndim)
    return tuple(range(ndim - spatial_ndim, ndim))


def pyramid_axes(
    ndim: int, no_pyramid_axis: Any = None, spatial_ndim: int | None = None
) -> tuple[int, ...]:
    """The axes a pyramid downsamples: the spatial axes except ``no_pyramid_axis``.

    ``no_pyramid_axis`` is ``"x"``, ``"y"`` or ``"z"`` (the last, second-last and
    third-last spatial axis) or an index among the spatial axes (``0`` is the first
    spatial axis, e.g. ``z`` of a (z, y, x) volume; negative indices count from the end).

    Examples
    --------
    >>> pyramid_axes(5)
    (2, 3, 4)
    >>> pyramid_axes(3, "z")
    (1, 2)
    """
    spatial = spatial_axes(ndim, spatial_ndim)
    if no_pyramid_axis is None:
        return spatial
    n = len(spatial)
    names = {"x": n - 1, "y": n - 2, "z": n - 3}
    key = no_pyramid_axis
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        key = int(key)
    if isinstance(key, str):
        index = names.get(key.lower())
        if index is None or index < 0:
            raise ValueError(
                f"no_pyramid_axis {no_pyramid_axis!r} is not one of the {n} spatial axes "
                f"{['zyx'[3 - n + i] if n <= 3 else i for i in range(n)]}"
            )
    elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not -n <= key < n:
            raise ValueError(
                f"no_pyramid_axis {key} is out of range for {n} spatial axes (use 0..{n - 1} "
                "or 'x'/'y'/'z')"
            )
        index = int(key) % n
    else:
        raise ValueError(f"no_pyramid_axis must be 'x', 'y', 'z' or an int, got {no_pyramid_axis!r}")
    return tuple(a for i, a in enumerate(spatial) if i != index)


def next_level_shape(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    """``shape`` with every axis in ``axes`` halved, rounding up.

    >>> next_level_shape((3, 9, 8), (1, 2))
    (3, 5, 4)
    """
    return tuple(-(-n // 2) if a in axes else int(n) for a, n in enumerate(shape))


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


# -- numpy kernels --------------------------------------------------------------------------
def _at(axis: int, s: slice) -> tuple[slice, ...]:
    return (slice(None),) * axis + (s,)


def _pair(x: np.ndarray, axis: int, op: np.ufunc, dtype: np.dtype) -> np.ndarray:
    """Combine neighbour pairs along ``axis`` with ``op`` (computed in ``dtype``); an
    odd last element is carried over alone."""
    n = x.shape[axis]
    m = n // 2
    shape = list(x.shape)
    shape[axis] = m + n % 2
    out = np.empty(shape, dtype)
    if m:
        op(x[_at(axis, slice(0, 2 * m, 2))], x[_at(axis, slice(1, 2 * m, 2))],
           out=out[_at(axis, slice(0, m))], dtype=dtype)
    if n % 2:
        out[_at(axis, slice(m, m + 1))] = x[_at(axis, slice(n - 1, n))]
    return out


def _sum_dtype(dtype: np.dtype, nsum: int) -> np.dtype:
    """The narrowest type that holds the exact sum of ``nsum`` values of ``dtype``
    (64-bit integers are summed in two 32-bit limbs instead: see :func:`_mean_wide`)."""
    if dtype.kind == "b":
        dtype = np.dtype(np.uint8)
    if dtype.kind in "iu":
        bits = dtype.itemsize * 8 + max(1, math.ceil(math.log2(max(nsum, 2))))
        for size in (16, 32, 64):
            if bits <= size:
                return np.dtype(f"{dtype.kind}{size // 8}")
        return np.dtype(np.uint64)  # limbs of _mean_wide
    if dtype.kind == "c":
        return np.dtype(np.complex128) if dtype.itemsize <= 16 else dtype
    if dtype.itemsize >= 8:
        # float64 sums of values near the float64 maximum overflow to inf; long double
        # (x87 extended on x86: 15-bit exponent, 64-bit mantissa) holds them.
        return np.dtype(np.longdouble)
    return np.dtype(np.float64)  # float16/32: no overflow, sums of 8 values exact enough


def _shift_counts(shape: Sequence[int], axes: Sequence[int]) -> int | np.ndarray:
    """log2 of how many voxels each output voxel of a block of input ``shape`` sums:
    one per downsampled axis, except at an odd end where the window is one voxel."""
    tails = [a for a in axes if shape[a] % 2]
    if not tails:
        return len(axes)
    ndim = len(shape)
    k: Any = len(axes) - len(tails)
    for a in tails:
        m = -(-shape[a] // 2)
        v = np.ones(m, np.int8)
        v[-1] = 0
        k = k + v.reshape((1,) * a + (m,) + (1,) * (ndim - a - 1))
    return k


def _divide_round(s: np.ndarray, k: int | np.ndarray, out: np.ndarray) -> None:
    """``out[...] = s / 2**k``, integers rounded to nearest with ties to even (unbiased)."""
    if s.dtype.kind in "iu":
        if isinstance(k, np.ndarray):
            k = k.astype(s.dtype)
        q = np.right_shift(s, k)
        one = s.dtype.type(1)
        r = np.bitwise_and(s, np.left_shift(one, k) - one)
        # round up when 2r > 2**k, or 2r == 2**k and q is odd (ties to even)
        up = np.left_shift(r, one) + np.bitwise_and(q, one) > np.left_shift(one, k)
        q += up
        out[...] = q
        return
    scaled = s * (np.ldexp(1.0, -k) if isinstance(k, np.ndarray) else 0.5**k)
    if out.dtype.kind in "iub":
        out[...] = np.rint(scaled)
    else:
        out[...] = scaled


def _to_unsigned(x: np.ndarray) -> np.ndarray:
    """Signed integers mapped order-preserving onto the unsigned type of their width
    (``x + 2**(bits-1)``): means and medians of the biased values, biased back, are
    those of the signed ones (the bias is even, so rounding ties keep their parity)."""
    if x.dtype.kind != "i":
        return x
    u = x.view(f"u{x.dtype.itemsize}")
    return np.bitwise_xor(u, u.dtype.type(1 << (8 * x.dtype.itemsize - 1)))


def _from_unsigned(u: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind != "i":
        return u
    return np.bitwise_xor(u, u.dtype.type(1 << (8 * dtype.itemsize - 1))).view(dtype)


def _mean_wide(x: np.ndarray, out: np.ndarray, axes: Sequence[int]) -> None:
    """Exact mean of 64-bit integers: no float type holds their sums exactly (long
    double is off by one above 2**63), so each value is split into 32-bit limbs whose
    sums fit uint64, and the quotient by 2**k is assembled from the limbs."""
    u = _to_unsigned(x).astype(np.uint64, copy=False)
    mask = np.uint64(0xFFFFFFFF)
    hi = np.right_shift(u, np.uint64(32))
    lo = np.bitwise_and(u, mask)
    for a in axes:
        hi = _pair(hi, a, np.add, np.dtype(np.uint64))
        lo = _pair(lo, a, np.add, np.dtype(np.uint64))
    hi += np.right_shift(lo, np.uint64(32))  # carry: sum = hi * 2**32 + lo, lo < 2**32
    lo = np.bitwise_and(lo, mask)
    k = _shift_counts(x.shape, axes)
    k = np.asarray(k, np.uint64)
    one = np.uint64(1)
    q = np.left_shift(hi, np.uint64(32) - k) + np.right_shift(lo, k)
    r = np.bitwise_and(lo, np.left_shift(one, k) - one)
    # round half to even, as _divide_round (r < 2**k <= 2**3: no overflow)
    up = np.left_shift(r, one) + np.bitwise_and(q, one) > np.left_shift(one, k)
    q = q + up.astype(np.uint64)
    out[...] = _from_unsigned(q, x.dtype)


def _pair_twosum(
    s: np.ndarray, e: np.ndarray, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise sums along ``axis`` with Knuth's TwoSum: ``s + e`` stays the exact sum
    (``e`` gathers the rounding errors, which a float adds exactly in practice), so
    cancellation (``1 + max - max``) does not lose the small terms."""
    n = s.shape[axis]
    m = n // 2
    a, b = s[_at(axis, slice(0, 2 * m, 2))], s[_at(axis, slice(1, 2 * m, 2))]
    total = a + b
    bv = total - a
    err = (a - (total - bv)) + (b - bv)
    err += e[_at(axis, slice(0, 2 * m, 2))]
    err += e[_at(axis, slice(1, 2 * m, 2))]
    if n % 2:
        total = np.concatenate([total, s[_at(axis, slice(n - 1, n))]], axis=axis)
        err = np.concatenate([err, e[_at(axis, slice(n - 1, n))]], axis=axis)
    return total, err


def _mean_float(x: np.ndarray, out: np.ndarray, axes: Sequence[int]) -> None:
    """Mean of floats in a wider float (no overflow near the maximum), compensated so
    that cancelling extremes do not swallow the small values; NaN and inf as numpy."""
    acc = _sum_dtype(x.dtype, 2 ** len(axes))
    s = x.astype(acc)
    e = np.zeros_like(s)
    with np.errstate(invalid="ignore", over="ignore"):
        for a in axes:
            s, e = _pair_twosum(s, e, a)
        exact = np.isfinite(s)
        total = np.where(exact, s + np.where(exact, e, 0), s)  # inf/NaN: as numpy's sum
    k = _shift_counts(x.shape, axes)
    out[...] = total * (np.ldexp(acc.type(1), -np.asarray(k)) if isinstance(k, np.ndarray)
                        else acc.type(0.5) ** k)


def _mean_block(x: np.ndarray, out: np.ndarray, axes: Sequence[int]) -> None:
    if x.dtype.kind in "iu" and x.dtype.itemsize == 8:
        _mean_wide(x, out, axes)
        return
    if x.dtype.kind == "f":
        _mean_float(x, out, axes)
        return
    acc = _sum_dtype(x.dtype, 2 ** len(axes))
    s = x
    for a in axes:  # outer axes first: the inner loops stay contiguous
        s = _pair(s, a, np.add, acc)
    _divide_round(s, _shift_counts(x.shape, axes), out)


def _extreme_block(op: np.ufunc) -> Callable[[np.ndarray, np.ndarray, Sequence[int]], None]:
    def kernel(x: np.ndarray, out: np.ndarray, axes: Sequence[int]) -> None:
        s = x
        for a in axes:
            s = _pair(s, a, op, x.dtype)
        out[...] = s

    return kernel


def _windows(x: np.ndarray, axes: Sequence[int]) -> list[tuple[tuple[slice, ...], np.ndarray]]:
    """Split ``x`` into regions of uniform window shape (full pairs, and the lone voxel
    of an odd end), each reshaped as ``dask.array.coarsen`` does:
    ``(n0, f0, n1, f1, ...)`` with ``fi`` the window size on axis ``i``.

    Returns (output slices, reshaped blocks) pairs.
    """
    per_axis = []
    for a, n in enumerate(x.shape):
        if a not in axes:
            per_axis.append([(slice(0, n), slice(0, n), 1)])
            continue
        m = n // 2
        parts = [(slice(0, 2 * m), slice(0, m), 2)] if m else []
        if n % 2:
            parts.append((slice(n - 1, n), slice(m, m + 1), 1))
        per_axis.append(parts)
    regions = []
    for combo in product(*per_axis):
        src = x[tuple(c[0] for c in combo)]
        shape: list[int] = []
        for (_, o, f), n in zip(combo, src.shape):
            shape += [o.stop - o.start, f]
        regions.append((tuple(c[1] for c in combo), src.reshape(shape)))
    return regions


def _store(dst: np.ndarray, value: Any) -> None:
    """Write a reduction result; float results round to nearest for integer outputs."""
    value = np.asarray(value)
    if dst.dtype.kind in "iub" and value.dtype.kind in "fc":
        value = np.rint(value.real)
    dst[...] = value


def _window_block(fn: Reducer) -> Callable[[np.ndarray, np.ndarray, Sequence[int]], None]:
    def kernel(x: np.ndarray, out: np.ndarray, axes: Sequence[int]) -> None:
        if x.dtype.kind == "b":  # numpy's median cannot subtract booleans
            x = x.view(np.uint8)
        waxes = tuple(range(1, 2 * x.ndim, 2))
        for oslices, blocks in _windows(x, axes):
            _store(out[oslices], fn(blocks, axis=waxes))

    return kernel


def window_mode(blocks: np.ndarray, axis: Sequence[int]) -> np.ndarray:
    """The most frequent value of each window (ties: the smallest value).

    Called like a numpy reduction, ``window_mode(blocks, axis=(1, 3, 5))``.
    """
    axis = tuple(a % blocks.ndim for a in np.atleast_1d(axis))
    keep = [a for a in range(blocks.ndim) if a not in axis]
    out_shape = [blocks.shape[a] for a in keep]
    w = blocks.transpose(keep + list(axis)).reshape(out_shape + [-1])
    k = w.shape[-1]
    if k == 1:
        return w[..., 0].copy()
    s = np.sort(w, axis=-1)
    # Backward sweep over the sorted window: ``run`` is the length of the run of equal
    # values starting at j, which is the full count at a value's first occurrence;
    # ">=" makes ties go to the smaller value (met later in the sweep).
    best = s[..., k - 1].copy()
    best_run = np.ones(out_shape, np.int16)
    run = np.ones(out_shape, np.int16)
    for j in range(k - 2, -1, -1):
        same = s[..., j] == s[..., j + 1]
        run = np.where(same, run + 1, 1).astype(np.int16)
        better = run >= best_run
        np.copyto(best, s[..., j], where=better)
        np.copyto(best_run, run, where=better)
    return best


def _median(blocks: np.ndarray, axis: Sequence[int]) -> np.ndarray:
    """``np.median`` of each window, exact over the whole range of the dtype.

    numpy averages the two middle values of an even window in the input's own type
    (float32 max + max -> inf) or in float64 (uint64/int64 lose their low bits, and
    2**64 - 1 rounds to 2**64, which wraps to 0). Here the middle pair is averaged
    without overflow: integers as ``lo + (hi - lo) / 2`` in the unsigned domain,
    rounded half to even; floats in a wider float. A window holding NaN is NaN, as
    with numpy.
    """
    axis = tuple(a % blocks.ndim for a in np.atleast_1d(axis))
    keep = [a for a in range(blocks.ndim) if a not in axis]
    w = blocks.transpose(keep + list(axis)).reshape([blocks.shape[a] for a in keep] + [-1])
    n = w.shape[-1]
    dtype = w.dtype
    if dtype.kind in "iu":
        s = np.sort(_to_unsigned(w), axis=-1)
        lo, hi = s[..., (n - 1) // 2], s[..., n // 2]
        d = hi - lo  # hi >= lo: no wrap-around in the unsigned type
        one = d.dtype.type(1)
        q = lo + np.right_shift(d, one)
        # (lo + hi) / 2 = q + 1/2 when d is odd: ties to even
        q = q + (np.bitwise_and(d, one) & np.bitwise_and(q, one))
        return _from_unsigned(q, dtype)
    s = np.sort(w, axis=-1)  # NaN sorts last
    lo, hi = s[..., (n - 1) // 2], s[..., n // 2]
    if dtype.itemsize >= 8:
        # fl(lo + hi) / 2 is the correctly rounded mean; where the sum overflows,
        # halve first (exact for values that large).
        with np.errstate(over="ignore", invalid="ignore"):
            total = lo + hi
            mid = np.where(np.isinf(total) & np.isfinite(lo) & np.isfinite(hi),
                           lo * 0.5 + hi * 0.5, total * 0.5).astype(dtype)
    else:
        mid = ((lo.astype(np.float64) + hi.astype(np.float64)) / 2).astype(dtype)
    if dtype.kind == "f":
        mid = np.where(np.isnan(w).any(axis=-1), dtype.type(np.nan), mid)
    return mid


def _nearest_into(x: np.ndarray, out: np.ndarray, axes: Sequence[int]) -> None:
    out[...] = x[tuple(slice(None, None, 2) if a in axes else slice(None) for a in range(x.ndim))]


@dataclass(frozen=True)
class Kernel:
    """A downsampling method as a numpy kernel ``kernel(block, out, axes)``.

    ``blocked`` kernels are applied to cache-sized sub-blocks (see
    :func:`downsample_into`).
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, Sequence[int]], None]
    blocked: bool = True


def get_kernel(method: str | Reducer) -> Kernel:
    """The kernel of a method name (see :data:`METHODS`) or of a callable used like a
    numpy reduction, ``fn(blocks, axis=axes)`` as ``dask.array.coarsen`` calls it.

    Raises
    ------
    ValueError
        An unknown method name.
    """
    if callable(method):
        return Kernel(getattr(method, "__name__", "custom"), _window_block(method))
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"unknown pyramid method {method!r}; use one of {METHODS} or a callable")
    method = method.lower()
    if method == "mean":
        return Kernel(method, _mean_block)
    if method == "min":
        return Kernel(method, _extreme_block(np.minimum))
    if method == "max":
        return Kernel(method, _extreme_block(np.maximum))
    if method == "nearest":
        return Kernel(method, _nearest_into, blocked=False)
    if method == "median":
        return Kernel(method, _window_block(_median))
    return Kernel(method, _window_block(window_mode))


def downsample_into(
    block: np.ndarray, out: np.ndarray, axes: Sequence[int], kernel: Kernel
) -> None:
    """Reduce ``block`` 2x along ``axes`` into ``out`` (of the ceil-halved shape).

    The block is walked in sub-blocks of about :data:`_CACHE_BLOCK` input bytes so the
    kernels' temporaries stay in the CPU cache. Sub-block boundaries fall on even
    offsets along the downsampled axes, so windows are never split.
    """
    axes = tuple(sorted(axes))
    if not kernel.blocked or block.nbytes <= _CACHE_BLOCK:
        kernel.fn(block, out, axes)
        return
    ndim = block.ndim
    # Input bytes behind one output index of axis k (all later axes whole).
    per_index = [0] * ndim
    inner = block.itemsize
    for k in range(ndim - 1, -1, -1):
        per_index[k] = inner * (2 if k in axes else 1)
        inner *= block.shape[k]
    k = next(k for k in range(ndim) if per_index[k] <= _CACHE_BLOCK or k == ndim - 1)
    step = max(1, _CACHE_BLOCK // per_index[k])

    def in_slice(a: int, lo: int, hi: int) -> slice:
        if a in axes:
            return slice(2 * lo, min(2 * hi, block.shape[a]))
        return slice(lo, hi)

    for outer in np.ndindex(*out.shape[:k]):
        head_in = tuple(in_slice(a, i, i + 1) for a, i in enumerate(outer))
        head_out = tuple(slice(i, i + 1) for i in outer)
        for lo in range(0, out.shape[k], step):
            hi = min(lo + step, out.shape[k])
            kernel.fn(
                block[head_in + (in_slice(k, lo, hi),)],
                out[head_out + (slice(lo, hi),)],
                axes,
            )


def downsample(block: Any, axes: Sequence[int], method: str | Reducer = "mean") -> np.ndarray:
    """One 2x pyramid step of an in-memory array (the kernel :func:`generate_pyramid`
    applies block by block).

    Examples
    --------
    >>> downsample(np.array([[1, 2, 3], [3, 5, 7]], dtype=np.uint8), (0, 1))
    array([[3, 5]], dtype=uint8)
    """
    block = np.asarray(block)
    out = np.empty(next_level_shape(block.shape, axes), block.dtype)
    downsample_into(block, out, axes, get_kernel(method))
    return out


# -- planning a pass (pure) -------------------------------------------------------------------
Region = tuple[slice, ...]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _scaled(region0: Sequence[tuple[int, int]], axes: Sequence[int], j: int) -> Region:
    """The level-``j`` region of a level-0 region of the pass (starts are multiples of
    ``2**j`` along the downsampled axes, ends are either that or the array end)."""
    return tuple(
        slice(lo >> j, _ceil_div(hi, 2**j)) if a in axes else slice(lo, hi)
        for a, (lo, hi) in enumerate(region0)
    )


@dataclass
class _Piece:
    tile: _Tile
    bounds: tuple[tuple[int, int], ...]  # level-0-of-the-pass coordinates


@dataclass
class _Tile:
    bounds: tuple[tuple[int, int], ...]
    pieces: list[_Piece] = field(default_factory=list)
    buffers: list[np.ndarray] = field(default_factory=list)
    flat: list[np.ndarray] = field(default_factory=list)  # the recycled storage of buffers
    remaining: int = 0
    failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Pass:
    """Build levels ``first .. first + len(targets) - 1`` from one read of ``source``."""

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

    @property
    def depth(self) -> int:
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

    def tiles(self, axes: Sequence[int]) -> Iterator[_Tile]:
        """Tiles in C order, each with its pieces (made lazily: a huge volume has many)."""
        for bounds in product(*self._tile_ranges(axes)):
            yield self.tile_at(tuple(bounds))

    def tile_at(self, bounds: tuple[tuple[int, int], ...]) -> _Tile:
        """The tile of these source-level ``bounds``, with its pieces (a distributed
        task rebuilds its tile from the bounds: tiles hold locks, which do not pickle)."""
        tile = _Tile(bounds)
        ranges = [range(lo, hi, p) for (lo, hi), p in zip(bounds, self.piece)]
        for start in product(*ranges):
            pb = tuple((s, min(s + p, hi)) for s, p, (_, hi) in zip(start, self.piece, bounds))
            tile.pieces.append(_Piece(tile, pb))
        return tile

    def count_tiles(self, axes: Sequence[int]) -> int:
        """How many tiles :meth:`tiles` yields."""
        return math.prod(len(per_axis) for per_axis in self._tile_ranges(axes))

    def count_pieces(self, axes: Sequence[int]) -> int:
        """How many pieces :meth:`tiles` yields (the grid is a product of axes)."""
        return math.prod(
            sum(_ceil_div(hi - lo, p) for lo, hi in per_axis)
            for per_axis, p in zip(self._tile_ranges(axes), self.piece)
        )


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


#: Working memory of one tile in flight, in tile sizes: its buffer, and while it is
#: written the engine's copy and encode buffers (see ``layout.SHARD_WRITE_UNIT``, which
#: also counts the decoded level-0 shard a one-pass writer holds).
_TILE_WRITE_UNIT = 3


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
                math.prod(_ceil_div(t, 2**j) if a in axes else t for a, t in enumerate(tile))
                for j in range(d)
            ) * itemsize
            if total <= tile_budget or d == 1:
                depth = d
                break
        tile = tuple(
            min(b * 2 ** (depth - 1), s) if a in axes else min(b, s)
            for a, (b, s) in enumerate(zip(write_block, shapes[first]))
        )
        grid = chunks
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
        from_store = not (first == 1 and base_write_block is not None)
        piece = _fit(units, extent, itemsize, piece_budget // 2 if from_store else piece_budget)
        tile_bytes = math.prod(tile) * itemsize
        # A second tile in flight overlaps reading with writing, but each tile being
        # written also holds the engine's copy and encode buffers: two tiles only when
        # both, with their writes, fit the budget (a 1024^3 uint16 pyramid with 256^3
        # shards under 128 MiB: one 32 MiB tile at a time, 205-235 MiB peak instead of
        # 235-300, 10-25% slower).
        two_fit = 2 * _TILE_WRITE_UNIT * tile_bytes <= max_memory
        max_tiles = 2 if tile_bytes <= tile_budget and two_fit else 1
        plans.append((first, depth, tile, piece, max_tiles))
        first += depth
    return plans


# -- running a pass ---------------------------------------------------------------------------
def _read(source: Any, region: Region) -> np.ndarray:
    block = source[region]
    return block if isinstance(block, np.ndarray) else np.asarray(block)


def _blocks_of(region: Region, block: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Grid indices of the write blocks a block-aligned ``region`` covers."""
    return product(*(range(s.start // b, _ceil_div(s.stop, b)) for s, b in zip(region, block)))


def _io_pool() -> ThreadPoolExecutor:
    """Threads that write level-0 blocks for the reducing threads (each of which waits
    for its own write, so at most one write per reducing thread is in flight)."""
    return shared_pool("level0", 2 * usable_cpus())


def _write_missing(
    target: ZarrArray, region: Region, data: np.ndarray, done: set[tuple[int, ...]] | None
) -> None:
    """``target[region] = data``, skipping the write blocks in ``done`` (already stored
    by an interrupted run). ``region`` is aligned to the write blocks, so each block
    written is whole: one atomic object, no read-modify-write."""
    wb = target.write_block
    if not done:
        target[region] = data
        return
    blocks = list(_blocks_of(region, wb))
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


class _TileWork:
    """What one tile of a pass takes: read its pieces, reduce them into the tile's
    buffers, write the tile of every level. :class:`_Runner` spreads the pieces of a
    tile over threads; the public methods do it in the calling thread, for the tasks
    of :mod:`unizarr.distributed`: a whole tile (:meth:`run_tile`), or one piece
    (:meth:`reduce_piece`) whose results the tile's writer assembles
    (:meth:`write_reduced`)."""

    def __init__(self, axes: Sequence[int], kernel: Kernel) -> None:
        self.axes = tuple(axes)
        self.kernel = kernel

    def run_tile(self, p: _Pass, tile: _Tile, dtype: np.dtype) -> None:
        """Compute and write ``tile`` (all levels of the pass) synchronously."""
        self._allocate(p, tile, dtype)
        for piece in tile.pieces:
            self._compute(p, piece)
        self._write_tile(p, tile)

    def reduce_piece(
        self, p: _Pass, bounds: tuple[tuple[int, int], ...], dtype: np.dtype
    ) -> list[np.ndarray]:
        """Every level of the pass over one piece alone (and its part of level 0
        written, when the pass writes level 0 and the piece holds whole blocks)."""
        part = p.tile_at(bounds)  # a piece is a tile of one piece
        self._allocate(p, part, dtype)
        self._compute(p, part.pieces[0])
        return part.buffers

    def write_reduced(
        self, p: _Pass, tile: _Tile, parts: Sequence[Sequence[np.ndarray]], dtype: np.dtype
    ) -> None:
        """Write ``tile`` from the :meth:`reduce_piece` results of its pieces (in the
        order of ``tile.pieces``)."""
        self._allocate(p, tile, dtype)
        for piece, levels in zip(tile.pieces, parts, strict=True):
            for j, data in enumerate(levels, start=1):
                tile.buffers[j - 1][self._in_tile(piece, j)] = data
        self._write_tile(p, tile)

    def _allocate(self, p: _Pass, tile: _Tile, dtype: np.dtype) -> None:
        tile.buffers = [np.empty(shape, dtype) for shape in self._tile_shapes(p, tile)]

    def _tile_done(self, p: _Pass, tile: _Tile) -> bool:
        """Whether an interrupted run stored every write block of ``tile`` (all its
        levels, and level 0 when the pass writes it): then it is skipped entirely."""
        if p.write_source is not None:
            region = tuple(slice(lo, hi) for lo, hi in tile.bounds)
            done0 = p.source_done or set()
            if any(b not in done0 for b in _blocks_of(region, p.write_source.write_block)):
                return False
        for j, (target, done) in enumerate(zip(p.targets, p.done or []), start=1):
            region = _scaled(tile.bounds, self.axes, j)
            if any(b not in done for b in _blocks_of(region, target.write_block)):
                return False
        return True

    def _tile_shapes(self, p: _Pass, tile: _Tile) -> list[tuple[int, ...]]:
        return [
            tuple(s.stop - s.start for s in _scaled(tile.bounds, self.axes, j))
            for j in range(1, p.depth + 1)
        ]

    def _compute(self, p: _Pass, piece: _Piece) -> None:
        block = _read(p.source, tuple(slice(lo, hi) for lo, hi in piece.bounds))
        pending = None
        if p.write_source is not None and self._piece_writes_source(p, piece):
            # Level 0 is encoded and written while this thread reduces the same block:
            # the engine's write waits on file I/O a good part of its time, which the
            # reduction fills (the 512^3 one-pass pipeline: 0.5-0.8 s -> 0.45 s).
            region = tuple(slice(lo, hi) for lo, hi in piece.bounds)
            pending = _io_pool().submit(
                _write_missing, p.write_source, region, block, p.source_done
            )
        try:
            for j in range(1, p.depth + 1):
                out = piece.tile.buffers[j - 1][self._in_tile(piece, j)]
                downsample_into(block, out, self.axes, self.kernel)
                block = out
        finally:
            if pending is not None:
                pending.result()  # the write's error, if any; never leave it running

    def _in_tile(self, piece: _Piece, j: int) -> Region:
        """Where the level-``j`` voxels of ``piece`` lie in its tile's level-``j`` buffer."""
        tregion = _scaled(piece.tile.bounds, self.axes, j)
        pregion = _scaled(piece.bounds, self.axes, j)
        return tuple(slice(r.start - t.start, r.stop - t.start) for r, t in zip(pregion, tregion))

    @staticmethod
    def _piece_writes_source(p: _Pass, piece: _Piece) -> bool:
        wb = p.write_source.write_block  # type: ignore[union-attr]
        shape = p.shapes[0]
        return all(
            lo % b == 0 and (hi % b == 0 or hi == n)
            for (lo, hi), b, n in zip(piece.bounds, wb, shape)
        )

    def _write_tile(self, p: _Pass, tile: _Tile) -> None:
        if p.write_source is not None and not all(
            self._piece_writes_source(p, piece) for piece in tile.pieces
        ):
            region = tuple(slice(lo, hi) for lo, hi in tile.bounds)
            _write_missing(p.write_source, region, _read(p.source, region), p.source_done)
        for j, (target, buf) in enumerate(zip(p.targets, tile.buffers), start=1):
            done = p.done[j - 1] if p.done is not None else None
            _write_missing(target, _scaled(tile.bounds, self.axes, j), buf, done)


class _Runner(_TileWork):
    """Runs the passes of one :func:`generate_pyramid` call on a thread pool."""

    def __init__(
        self,
        axes: Sequence[int],
        kernel: Kernel,
        dtype: np.dtype,
        workers: int,
        progress: Callable[[int, int], None] | None,
        total: int,
    ) -> None:
        super().__init__(axes, kernel)
        self.dtype = dtype
        self.workers = workers
        self.progress = progress
        self.total = total
        self.done = 0
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def run(self, p: _Pass) -> None:
        slots = threading.BoundedSemaphore(p.max_tiles)
        # Tile buffers are recycled: at most ``max_tiles`` sets exist, so memory stays
        # flat and big blocks are not handed back to the OS and faulted in again.
        full = [
            math.prod(_ceil_div(t, 2 ** (j - 1)) if a in self.axes else t for a, t in enumerate(p.tile))
            for j in range(1, p.depth + 1)
        ]
        spares: list[list[np.ndarray]] = []
        with ThreadPoolExecutor(self.workers, thread_name_prefix="unizarr-pyramid") as pool:
            for tile in p.tiles(self.axes):
                if p.done is not None and self._tile_done(p, tile):
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
                    for buf, shape in zip(flat, self._tile_shapes(p, tile))
                ]
                tile.remaining = len(tile.pieces)
                for piece in tile.pieces:
                    pool.submit(self._piece, p, piece, slots, spares)
        if self.errors:
            raise self.errors[0]

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
        p: _Pass,
        piece: _Piece,
        slots: threading.BoundedSemaphore,
        spares: list[list[np.ndarray]],
    ) -> None:
        tile = piece.tile
        try:
            if not self.errors:
                self._compute(p, piece)
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
                self._write_tile(p, tile)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            self._fail(exc)
        finally:
            with self.lock:
                spares.append(tile.flat)
            tile.buffers, tile.flat = [], []
            slots.release()


# -- the public entry point ----------------------------------------------------------------------
def same_layout(a: ArraySpec, b: ArraySpec) -> bool:
    """Whether two array specs store the same bytes for the same data: everything but
    attributes and dimension names (which OME metadata adds at the end)."""

    def doc(spec: ArraySpec) -> dict[str, Any]:
        d = layout.metadata_document(spec)
        d.pop("attributes", None)
        d.pop("dimension_names", None)
        return d

    return doc(a) == doc(b)


def _finished_blocks(target: ZarrArray, workers: int) -> set[tuple[int, ...]]:
    """The stored write blocks of ``target`` that decode.

    Stored objects are normally written atomically (temp file + rename, one PUT), but
    zarr-python's ``zarrs`` pipeline writes local files in place: a crash can leave
    one truncated (even empty) per block in flight. Reading each stored block back
    once finds those; they are deleted (an edge block is rewritten by merging into
    the stored one, which must then not be torn) and count as missing.
    """
    wb = target.write_block

    def decodes(b: tuple[int, ...]) -> bool:
        region = tuple(slice(i * w, min((i + 1) * w, n)) for i, w, n in zip(b, wb, target.shape))
        try:
            if not _block_intact(target, b):
                # Empty, or a shard whose index does not fit it: zarr-python may read
                # such a shard as the fill value without an error.
                raise ValueError("torn block")
            target[region]
        except StoreUnavailableError:
            raise  # the store, not the block: do not rewrite everything
        except Exception:  # noqa: BLE001 - any decoding failure means "not finished"
            target.delete_block(b)
            return False
        return True

    target.remove_partial_writes()  # temporary files of writes the crash interrupted
    blocks = sorted(target.stored_blocks())
    with ThreadPoolExecutor(workers, thread_name_prefix="unizarr-resume") as pool:
        return {b for b, ok in zip(blocks, pool.map(decodes, blocks)) if ok}


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, the checksum of sharding indexes."""
    try:
        import google_crc32c

        return int(google_crc32c.value(data))
    except ImportError:
        from crc32c import crc32c  # zarr-python's own dependency in some versions

        return int(crc32c(data))


def _block_intact(target: ZarrArray, index: Sequence[int]) -> bool:
    """Whether the stored object of a write block can be whole: not empty, and for a
    shard, an index (checksum verified when it has one) whose chunks lie inside it.
    A crash of a non-atomic writer leaves empty or truncated objects."""
    raw = target.block_bytes(index)
    if not raw:
        return False
    if target.shards is None:
        return True  # decoding the chunk tells the rest
    codecs = target.metadata.get("codecs") or []
    sharding = next((c for c in codecs if isinstance(c, dict)
                     and c.get("name") == "sharding_indexed"), None)
    if sharding is None:
        return True
    conf = sharding.get("configuration") or {}
    n = math.prod(s // c for s, c in zip(target.shards, target.chunks))
    index_codecs = [c.get("name") if isinstance(c, dict) else c
                    for c in conf.get("index_codecs") or ["bytes", "crc32c"]]
    crc = "crc32c" in index_codecs
    size = 16 * n + (4 if crc else 0)
    if len(raw) < size:
        return False
    at_end = conf.get("index_location", "end") == "end"
    index_bytes = raw[len(raw) - size:] if at_end else raw[:size]
    if crc and _crc32c(index_bytes[:-4]) != int.from_bytes(index_bytes[-4:], "little"):
        return False
    entries = np.frombuffer(index_bytes[:16 * n], "<u8").reshape(n, 2)
    empty = np.iinfo(np.uint64).max
    used = ~((entries[:, 0] == empty) & (entries[:, 1] == empty))
    lo, hi = (0, len(raw) - size) if at_end else (size, len(raw))
    start, nbytes = entries[used, 0], entries[used, 1]
    return bool(np.all(start >= lo) and np.all(start <= hi) and np.all(nbytes <= hi - start))


#: Written in the group when a pyramid build starts and kept when it ends (with
#: ``"complete": true``): what the build was asked to do, so that ``resume`` refuses to
#: finish it differently, or to "finish" a group no build of ours ever started.
#: (The leading dot keeps it out of the group's members.)
RUN_RECORD = ".unizarr-pyramid-run.json"


def _run_options(
    shapes: Sequence[tuple[int, ...]],
    axes: Sequence[int],
    method: str | Reducer,
    write_base: bool,
    source_id: str | None,
) -> dict[str, Any]:
    name = method if isinstance(method, str) else (
        f"{getattr(method, '__module__', '?')}.{getattr(method, '__qualname__', repr(method))}"
    )
    return {
        "shapes": [list(s) for s in shapes],
        "axes": list(axes),
        "method": name,
        "write_base": bool(write_base),
        "source": source_id,
    }


def _start_run(group: ZarrGroup, options: dict[str, Any], resume: bool) -> None:
    """Record ``options`` as the build in progress; with ``resume``, first check that the
    group holds the record of a build (interrupted or complete) with the same ones.

    Raises
    ------
    ValueError
        Resuming where no build of ours ever started (no record: the levels there are
        not ours to keep), or a build that was started with other levels, axes,
        method, ``write_base`` or source: finishing it so would mix two pyramids.
        Nothing is written then.
    """
    if resume:
        raw = group._get_hidden(RUN_RECORD)
        try:
            before = json.loads(raw) if raw is not None else None
        except ValueError:
            before = None
        if not isinstance(before, dict):
            raise ValueError(
                f"resume: {group.url} holds no record of a pyramid build "
                f"({RUN_RECORD} is {'unreadable' if raw is not None else 'missing'}), so its "
                "levels cannot be trusted as ours; nothing was changed: build without resume"
            )
        # Once a build completed, level 0 is whole: whether it came from ``source`` or
        # from the store no longer matters.
        ignore = {"complete", "write_base"} if before.get("complete") else {"complete"}
        keys = [k for k in options if k not in ignore]
        if any(before.get(k) != options[k] for k in keys):
            diff = ", ".join(
                f"{k}={before.get(k)!r} (now {options[k]!r})"
                for k in keys if before.get(k) != options[k]
            )
            raise ValueError(
                f"the pyramid build in {group.url} was started with {diff}; "
                "resume it with the same arguments (the same command line), or start over "
                "without resume"
            )
    group._set_hidden(RUN_RECORD, json.dumps(options).encode())


def _finish_run(group: ZarrGroup, options: dict[str, Any]) -> None:
    """Mark the build complete; the record stays, so that a later ``resume`` can tell
    this pyramid from a foreign one (and verify it rather than refuse)."""
    # Whether level 0 was written from ``source`` no longer matters once it is whole
    # (and must not make two identical pyramids differ in their record).
    done = {k: v for k, v in options.items() if k != "write_base"}
    group._set_hidden(RUN_RECORD, json.dumps({**done, "complete": True}).encode())


def _copy_missing(source: Any, target: ZarrArray, done: set[tuple[int, ...]], workers: int) -> None:
    """Copy the write blocks of ``target`` not in ``done`` from ``source``."""
    wb = target.write_block
    grid = [range(_ceil_div(n, b)) for n, b in zip(target.shape, wb)]

    def one(b: tuple[int, ...]) -> None:
        region = tuple(slice(i * w, min((i + 1) * w, n)) for i, w, n in zip(b, wb, target.shape))
        target[region] = _read(source, region)

    with ThreadPoolExecutor(workers, thread_name_prefix="unizarr-resume") as pool:
        for f in [pool.submit(one, b) for b in product(*grid) if b not in done]:
            f.result()


def _writers_within(max_memory: int, base: ZarrArray, workers: int) -> int:
    """Threads for a build that writes level 0 (``write_base``): each thread writes
    whole level-0 write blocks, and one shard write takes
    :func:`~unizarr.layout.shard_write_bytes` of ``max_memory``, so a big shard gets
    fewer threads (fewer shards in flight); one thread is the floor."""
    block = math.prod(base.write_block) * base.dtype.itemsize
    return max(1, min(workers, max_memory // layout.shard_write_bytes(block)))


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
        writes whole level-0 shards, each taking about 5 shard sizes
        (:func:`unizarr.layout.shard_write_bytes`): fewer threads run when the budget
        holds fewer such writers (one is the floor).
    spatial_ndim : int, optional
        Number of trailing spatial axes (default: all axes of rank <= 3 arrays, the
        last 3 of 4-D and 5-D arrays). linc-convert's ``ndim``.
    source : array-like, optional
        Level 0's data (numpy array, memmap, anything sliceable) to read instead of the
        stored level 0, saving its decompression. It must hold the same values.
    write_base : bool
        Also write level 0 from ``source`` during the same pass (create ``"0"`` first,
        without data): each voxel of the volume is then read once for everything.
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
        level 0. See :mod:`unizarr.distributed`.

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
    resolve_client, stage_source, run_on_cluster = _cluster_executor()
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
    # Levels made by halving the same axes are built together (one pass may fuse
    # several); a change of axes starts a new run of passes reading the level before.
    segments: list[tuple[int, int, tuple[int, ...]]] = []  # (first, last, axes)
    for j, step in enumerate(steps, start=1):
        if segments and segments[-1][2] == step:
            segments[-1] = (segments[-1][0], j, step)
        else:
            segments.append((j, j, step))
    recorded: Any = axes if all(st == axes for st in steps) else [list(st) for st in steps]
    run = _run_options(shapes, recorded, method, write_base, source_id)
    _start_run(group, run, resume)
    targets = [base]
    for i, s in enumerate(shapes[1:], 1):
        old = group.get(str(i)) if resume else None
        if isinstance(old, ZarrArray) and same_layout(old.spec, base.spec.with_shape(s)):
            targets.append(old)  # kept: its stored blocks are finished work
        else:
            targets.append(group.create_array_from_base(str(i), s))
    done = [_finished_blocks(t, workers) for t in targets] if resume else None
    stale = len(shapes)
    while str(stale) in group and isinstance(group[str(stale)], ZarrArray):
        del group[str(stale)]
        stale += 1
    level0 = None
    if cluster is not None:
        # Sources the workers cannot open are written as level 0 through the cluster
        # first (or dropped for the stored level 0); see unizarr.distributed.
        source, write_base, level0 = stage_source(
            cluster, source, write_base, base, done[0] if done is not None else None
        )
    if write_base and len(shapes) == 1:
        if done is None:
            copy_data(source, base)  # no level to build: just the base, block by block
        else:
            _copy_missing(source, base, done[0], workers)
    if len(shapes) == 1 or base.size == 0:
        if level0 is not None and base.size:  # no level to build, but level 0 to store
            run_on_cluster(cluster, [], level0, axes=axes, method=method, dtype=base.dtype,
                           progress=progress)
        _finish_run(group, run)
        return shapes

    if write_base:
        workers = _writers_within(max_memory, base, workers)
    runs: list[tuple[tuple[int, ...], list[_Pass]]] = []
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
        )
        passes = []
        for rel_first, depth, tile, piece, max_tiles in plans:
            first = seg_first - 1 + rel_first
            src = targets[first - 1]
            if first == 1 and source is not None:
                src = source
            passes.append(
                _Pass(
                    first=first,
                    source=src,
                    targets=targets[first:first + depth],
                    shapes=list(shapes[first - 1:first + depth]),
                    tile=tile,
                    piece=piece,
                    max_tiles=max_tiles,
                    write_source=base if (first == 1 and write_base) else None,
                    done=done[first:first + depth] if done is not None else None,
                    source_done=(
                        done[0] if (done is not None and first == 1 and write_base) else None
                    ),
                )
            )
        runs.append((seg_axes, passes))
    if cluster is not None:
        for k, (seg_axes, passes) in enumerate(runs):
            run_on_cluster(cluster, passes, level0 if k == 0 else None, axes=seg_axes,
                           method=method, dtype=base.dtype, progress=progress)
    else:
        total = sum(p.count_pieces(a) for a, ps in runs for p in ps)
        done_pieces = 0
        for seg_axes, passes in runs:
            offset = done_pieces
            report = progress if progress is None or not offset else (
                lambda d, t, _o=offset: progress(d + _o, total)
            )
            n = sum(p.count_pieces(seg_axes) for p in passes)
            runner = _Runner(seg_axes, kernel, base.dtype, workers, report, total - offset)
            for p in passes:
                runner.run(p)
            done_pieces += n
    _finish_run(group, run)
    return shapes


__all__ = [
    "DEFAULT_MAX_MEMORY",
    "METHODS",
    "Kernel",
    "downsample",
    "downsample_into",
    "generate_pyramid",
    "get_kernel",
    "SAMPLINGS",
    "level_plan",
    "level_shapes",
    "next_level_shape",
    "parse_factors",
    "plan_passes",
    "pyramid_axes",
    "same_layout",
    "spatial_axes",
    "window_mode",
]
