"""Pyramid numerics over the whole range of every supported dtype.

Every method x dtype is checked against a reference computed window by window in exact
arithmetic (Python ints and Fractions, rounded once, half to even as documented), on
odd shapes (windows of 1 voxel at the ends). Values are drawn from the dtype's extremes
(min, max, their neighbours, 0, +-1, the midpoints), where narrow accumulators overflow
and floats lose their low bits. The levels that ``generate_pyramid`` stores are checked
the same way on both drivers and both Zarr versions.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np
import pytest

import unizarr as uz
from unizarr.pyramid import downsample, next_level_shape

INT_DTYPES = ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8"]
FLOAT_DTYPES = ["f2", "f4", "f8"]
METHODS = ["mean", "median", "mode", "min", "max", "nearest"]
SHAPE = (5, 7, 5)  # odd: windows of 2 and of 1 along every axis


def extremes(dtype: str, seed: int = 0, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """An array of the dtype's hardest values (finite ones for floats)."""
    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = int(info.min), int(info.max)
        pool = {lo, lo + 1, hi, hi - 1, hi // 2, hi // 2 + 1, 0, 1, (lo + hi) // 2}
        if lo < 0:
            pool |= {-1, lo // 2, lo // 2 - 1}
    else:
        info = np.finfo(dt)
        big, tiny = float(info.max), float(info.smallest_subnormal)
        pool = {big, -big, big / 2, float(np.nextafter(dt.type(big), dt.type(0))), 0.0,
                tiny, -tiny, 1.0, -1.0, float(info.tiny)}
    values = np.array(sorted(pool), dtype=dt)
    return values[rng.integers(0, len(values), shape)]


def windows(shape: tuple[int, ...]):
    """(output index, input slices) of every 2x window, odd ends included."""
    out = tuple(-(-n // 2) for n in shape)
    for idx in product(*(range(n) for n in out)):
        yield idx, tuple(slice(2 * i, min(2 * i + 2, n)) for i, n in zip(idx, shape))


def round_half_even(q: Fraction) -> int:
    return round(q)  # Python rounds Fractions half to even


def exact_float(values: list[float], how: str) -> float:
    """mean/median of floats, exactly, with numpy's NaN/inf semantics."""
    if any(math.isnan(v) for v in values):
        return math.nan
    if how == "median":
        s = sorted(values)
        n = len(s)
        values = [s[(n - 1) // 2], s[n // 2]]
    infs = [v for v in values if math.isinf(v)]
    if infs:
        return math.nan if (min(infs) < 0 < max(infs)) else infs[0]
    q = sum((Fraction(v) for v in values), Fraction(0)) / len(values)
    return float(q)


def reference(x: np.ndarray, method: str) -> np.ndarray:
    out = np.empty(tuple(-(-n // 2) for n in x.shape), x.dtype)
    for idx, sl in windows(x.shape):
        w = x[sl].ravel()
        if x.dtype.kind in "iub":
            v = [int(a) for a in w]
            if method == "mean":
                r = round_half_even(Fraction(sum(v), len(v)))
            elif method == "median":
                s = sorted(v)
                r = round_half_even(Fraction(s[(len(s) - 1) // 2] + s[len(s) // 2], 2))
            elif method == "mode":
                counts = {a: v.count(a) for a in v}
                best = max(counts.values())
                r = min(a for a, c in counts.items() if c == best)
            elif method == "min":
                r = min(v)
            elif method == "max":
                r = max(v)
            else:
                r = v[0]
            out[idx] = bool(r) if x.dtype.kind == "b" else r
        else:
            f = [float(a) for a in w]
            if method in ("mean", "median"):
                r = exact_float(f, method)
            elif method == "mode":
                counts = {a: f.count(a) for a in f}
                best = max(counts.values())
                r = min(a for a, c in counts.items() if c == best)
            elif method in ("min", "max"):
                r = math.nan if any(math.isnan(a) for a in f) else (min(f) if method == "min" else max(f))
            else:
                r = f[0]
            out[idx] = x.dtype.type(r)
    return out


def assert_exact(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f":
        # The exact value rounded to a wider float and then to the dtype: the result
        # may differ from the once-rounded one by that double rounding (1 ulp) at most.
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        if not same.all():
            np.testing.assert_array_max_ulp(got[~same], want[~same], maxulp=1)
        else:
            assert same.all(), (got[~same], want[~same])
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["b1", *INT_DTYPES, *FLOAT_DTYPES])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_exact_on_dtype_extremes(method: str, dtype: str) -> None:
    for seed in range(3):
        x = extremes(dtype, seed)
        assert_exact(downsample(x, (0, 1, 2), method), reference(x, method))


@pytest.mark.parametrize("dtype", ["u8", "i8"])
@pytest.mark.parametrize("method", ["mean", "median"])
def test_64bit_all_max_and_all_min_windows(method: str, dtype: str) -> None:
    """The issue's cases: median of uint64 max gave 0; means >= 2**63 were off by one."""
    info = np.iinfo(dtype)
    for value in (info.max, info.min, info.max - 1, info.min + 1):
        x = np.full((4, 4), value, dtype)
        assert downsample(x, (0, 1), method).tolist() == [[int(value)] * 2] * 2
    # 2**63 + 1.75 rounds to 2**63 + 2, not to a long double's neighbour
    if dtype == "u8":
        x = np.array([[2**63 + 1, 2**63 + 2], [2**63 + 2, 2**63 + 2]], dtype)
        assert int(downsample(x, (0, 1), "mean")[0, 0]) == 2**63 + 2
    else:
        x = np.array([[info.min, info.max], [info.min, info.max]], dtype)
        assert int(downsample(x, (0, 1), method)[0, 0]) == 0  # -0.5 -> ties to even


def test_large_int64_block_uses_the_blocked_kernel_exactly() -> None:
    """A block above the cache-block size is reduced in sub-blocks: still exact."""
    x = extremes("i8", 5, (34, 64, 66))
    assert x.nbytes > 512 * 2**10
    got = downsample(x, (0, 1, 2), "mean")
    obj = x.astype(object).reshape(17, 2, 32, 2, 33, 2).sum(axis=(1, 3, 5))
    want = np.frompyfunc(lambda s: round(Fraction(s, 8)), 1, 1)(obj).astype(np.int64)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("method", ["mean", "median", "min", "max"])
def test_nan_and_inf_follow_numpy(method: str, dtype: str) -> None:
    """A window holding NaN reduces to NaN (numpy's mean/median/minimum); +inf and -inf
    together average to NaN; one infinity wins over finite values."""
    dt = np.dtype(dtype)
    x = np.array([[np.nan, 1, np.inf, 1, -np.inf, np.inf, 2, 2],
                  [3, 4, 1, 1, 1, 1, 2, 2]], dt)
    assert_exact(downsample(x, (0, 1), method), reference(x, method))
    got = downsample(x, (0, 1), method)
    assert np.isnan(got[0, 0])


@pytest.mark.parametrize("dtype", ["f4", "f8"])
def test_float_means_near_max_do_not_overflow(dtype: str) -> None:
    big = np.finfo(dtype).max
    x = np.full((2, 2, 2), big, dtype)
    for method in ("mean", "median"):
        assert downsample(x, (0, 1, 2), method)[0, 0, 0] == big
        assert downsample(-x, (0, 1, 2), method)[0, 0, 0] == -big


@pytest.mark.parametrize("dtype", ["u8", "i8", "f4", "f8"])
def test_stored_pyramid_is_exact(tmp_path, driver: str, zarr_version: int, dtype: str) -> None:
    """What generate_pyramid writes and the engines read back: level L+1 is the exact
    reduction of level L, for mean and median."""
    x = extremes(dtype, 11, (9, 10, 9))
    for method in ("mean", "median"):
        g = uz.open_group(tmp_path / f"{method}.zarr", "w", driver=driver,
                          zarr_version=zarr_version)
        g.create_array("0", data=x, chunks=(4, 4, 4))
        shapes = uz.generate_pyramid(g, method=method, workers=2)
        assert len(shapes) >= 3
        prev = x
        for level in range(1, len(shapes)):
            got = g[str(level)][...]
            assert got.shape == next_level_shape(prev.shape, (0, 1, 2))
            want = reference(prev, method)
            assert_exact(got, want)
            prev = want
