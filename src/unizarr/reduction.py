"""Pyramid reduction kernels: one 2x step of a numpy block, exactly.

They live below the node model (pure numpy) so that a whole-array write can compute
level 1 while level 0 is written (:mod:`unizarr.level1_ahead`); the pyramid package
uses them the same way.

Each method (:data:`METHODS`, or a callable used like a numpy reduction) is a
:class:`Kernel` that reduces a block into a preallocated output of the ceil-halved
shape. At an odd end the last output voxel reduces over the one voxel that exists, so
nothing is dropped. Integer means and medians are exact over the whole range of the
dtype and round half to even (no truncation bias); float means are compensated sums in
a wider float, so neither overflow near the maximum nor cancellation loses values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from .axes import next_level_shape

#: Reduction methods accepted by name.
METHODS = ("mean", "median", "mode", "min", "max", "nearest")
#: Input bytes a kernel processes at a time: small enough to stay in the CPU cache.
_CACHE_BLOCK = 512 * 2**10

#: A reduction called like numpy's, ``fn(blocks, axis=axes)``.
Reducer = Callable[..., Any]


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
        for _, o, f in combo:
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
    """One 2x pyramid step of an in-memory array (the kernel
    :func:`~unizarr.pyramid.generate_pyramid` applies block by block).

    Examples
    --------
    >>> downsample(np.array([[1, 2, 3], [3, 5, 7]], dtype=np.uint8), (0, 1))
    array([[3, 5]], dtype=uint8)
    """
    block = np.asarray(block)
    out = np.empty(next_level_shape(block.shape, axes), block.dtype)
    downsample_into(block, out, axes, get_kernel(method))
    return out


__all__ = [
    "METHODS",
    "Kernel",
    "Reducer",
    "downsample",
    "downsample_into",
    "get_kernel",
    "window_mode",
]
