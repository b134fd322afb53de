"""Pyramids: every method against a brute-force numpy reference, odd shapes, 2-D to 5-D,
out-of-core tiling (tiny memory budgets force many tiles and pieces), on every driver x
Zarr version."""

from __future__ import annotations

import math

import numpy as np
import pytest

import unizarr as uz
from unizarr import pyramid as P
from unizarr import reduction
from unizarr.errors import ReadOnlyError

METHODS = ("mean", "median", "mode", "min", "max", "nearest")


# -- reference -------------------------------------------------------------------------------
def reference_step(x: np.ndarray, axes: tuple[int, ...], method: str) -> np.ndarray:
    """One 2x step computed the slow, obvious way: pad odd axes with NaN (so the last
    window only holds the voxels that exist) and reduce each window with numpy."""
    if method == "nearest":
        return x[tuple(slice(None, None, 2) if a in axes else slice(None) for a in range(x.ndim))]
    f = x.astype(np.float64)
    f = np.pad(f, [(0, n % 2) if a in axes else (0, 0) for a, n in enumerate(x.shape)],
               constant_values=np.nan)
    shape, waxes = [], []
    for a, n in enumerate(f.shape):
        if a in axes:
            shape += [n // 2, 2]
            waxes.append(len(shape) - 1)
        else:
            shape.append(n)
    w = f.reshape(shape)
    if method == "mode":
        w = np.moveaxis(w, waxes, list(range(-len(waxes), 0)))
        w = w.reshape(w.shape[: w.ndim - len(waxes)] + (-1,))
        r = np.empty(w.shape[:-1])
        for idx in np.ndindex(*r.shape):
            vals = w[idx][~np.isnan(w[idx])]
            u, c = np.unique(vals, return_counts=True)
            r[idx] = u[np.argmax(c)]  # first maximum: the smallest value
    else:
        fn = {"mean": np.nanmean, "median": np.nanmedian, "min": np.nanmin, "max": np.nanmax}[method]
        r = fn(w, axis=tuple(waxes))
    if x.dtype.kind in "iub":
        r = np.rint(r)  # ties to even: the unbiased rounding unizarr promises
    return r.astype(x.dtype)


def reference_pyramid(x: np.ndarray, axes: tuple[int, ...], method: str, n: int) -> list[np.ndarray]:
    out = [x]
    for _ in range(n):
        out.append(reference_step(out[-1], axes, method))
    return out


def sample(shape: tuple[int, ...], dtype: str, method: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if method == "mode":  # labels: few distinct values, so windows have repeats and ties
        return rng.integers(0, 4, shape).astype(dtype)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == "f":
        return (rng.normal(size=shape) * 100).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(max(info.min, -30000), min(info.max, 30000), shape, endpoint=True).astype(dt)


def assert_level_equal(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=2e-7 if want.dtype.itemsize == 4 else 1e-12)
    else:
        np.testing.assert_array_equal(got, want)


# -- pure functions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ndim, no_pyramid_axis, spatial_ndim, expected",
    [
        (2, None, None, (0, 1)),
        (3, None, None, (0, 1, 2)),
        (4, None, None, (1, 2, 3)),
        (5, None, None, (2, 3, 4)),
        (3, "z", None, (1, 2)),
        (3, "x", None, (0, 1)),
        (5, "y", None, (2, 4)),
        (5, 0, None, (3, 4)),
        (5, -1, None, (2, 3)),
        (4, "1", None, (1, 3)),
        (2, "x", None, (0,)),
        (4, None, 4, (0, 1, 2, 3)),
        (2, None, 3, (0, 1)),
    ],
)
def test_pyramid_axes(ndim, no_pyramid_axis, spatial_ndim, expected):
    assert P.pyramid_axes(ndim, no_pyramid_axis, spatial_ndim) == expected


@pytest.mark.parametrize("bad", ["w", "z", 2, -3, 1.5, True])
def test_pyramid_axes_rejects(bad):
    with pytest.raises(ValueError, match="no_pyramid_axis"):
        P.pyramid_axes(2, bad)


def test_level_shapes_stop_at_one_chunk_and_round_up():
    assert P.level_shapes((300, 257, 9), (64, 64, 64), (0, 1, 2)) == [
        (300, 257, 9), (150, 129, 5), (75, 65, 3), (38, 33, 2),
    ]
    # an explicit count is exact, but stops when every axis is down to one voxel
    assert len(P.level_shapes((64, 64), (64, 64), (0, 1), 3)) == 4
    assert P.level_shapes((4, 3), (1, 1), (0, 1), 10)[-1] == (1, 1)
    assert len(P.level_shapes((4, 3), (1, 1), (0, 1), 10)) == 3
    assert P.level_shapes((5, 8), (2, 2), (1,), -1) == [(5, 8), (5, 4), (5, 2)]


# -- kernels against the reference ------------------------------------------------------------------
DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "float32", "float64", "bool")
SHAPES = [((5, 7, 9), (0, 1, 2)), ((6, 4), (0, 1)), ((3, 5, 6, 7), (1, 2, 3)),
          ((2, 2, 3, 5, 4), (2, 3, 4)), ((9,), (0,)), ((1, 1, 3), (0, 1, 2)), ((7, 5, 9), (0, 2))]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_downsample_matches_reference(method, dtype):
    for shape, axes in SHAPES:
        x = sample(shape, dtype, method)
        if method == "mode" and dtype == "bool":
            x = x.astype(bool)
        assert_level_equal(P.downsample(x, axes, method), reference_step(x, axes, method))


@pytest.mark.parametrize("method", METHODS)
def test_downsample_blocked_path(method, monkeypatch):
    # A tiny cache block makes the kernel walk sub-blocks along several axes.
    monkeypatch.setattr(reduction, "_CACHE_BLOCK", 64)
    x = sample((9, 11, 13), "uint16", method)
    assert_level_equal(P.downsample(x, (0, 1, 2), method), reference_step(x, (0, 1, 2), method))
    x = sample((3, 2, 7, 5), "float32", method)
    assert_level_equal(P.downsample(x, (1, 2, 3), method), reference_step(x, (1, 2, 3), method))


def test_integer_mean_rounds_to_nearest_without_bias():
    x = np.array([1, 2, 2, 3, 0, 1, 5, 5, 7], dtype=np.uint8)
    # 1.5 -> 2, 2.5 -> 2 (ties to even), 0.5 -> 0, 5, and the lone odd voxel 7
    np.testing.assert_array_equal(P.downsample(x, (0,)), [2, 2, 0, 5, 7])
    rng = np.random.default_rng(3)
    big = rng.integers(0, 1000, (64, 64, 64)).astype(np.uint16)
    bias = P.downsample(big, (0, 1, 2)).astype(float).mean() - big.reshape(
        32, 2, 32, 2, 32, 2).mean(axis=(1, 3, 5)).mean()
    assert abs(bias) < 0.01  # truncation would give about -0.44
    neg = np.array([-3, -2, -1, 0], dtype=np.int16)  # -2.5 -> -2, -0.5 -> -0
    np.testing.assert_array_equal(P.downsample(neg, (0,)), [-2, 0])


def test_mode_ties_go_to_smallest_label():
    x = np.array([[7, 3], [3, 7]], dtype=np.int32)
    assert P.downsample(x, (0, 1), "mode").tolist() == [[3]]
    x = np.array([[9, 9, 5, 4], [1, 2, 4, 5]], dtype=np.uint16)
    assert P.downsample(x, (0, 1), "mode").tolist() == [[9, 4]]


def test_callable_method_is_called_like_coarsen():
    seen = {}

    def spread(blocks, axis):
        seen.setdefault("axis", axis)
        return blocks.max(axis=axis) - blocks.min(axis=axis)

    x = sample((5, 6, 7), "int32", "mean")
    got = P.downsample(x, (0, 1, 2), spread)
    want = reference_step(x, (0, 1, 2), "max") - reference_step(x, (0, 1, 2), "min")
    np.testing.assert_array_equal(got, want)
    assert seen["axis"] == (1, 3, 5)
    # float results are rounded (not truncated) for integer data
    assert P.downsample(np.array([1, 2], np.uint8), (0,), np.mean).tolist() == [2]


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown pyramid method"):
        P.get_kernel("gaussian")


# -- generate_pyramid end to end -------------------------------------------------------------------------
def make_group(tmp_path, driver, zarr_version, data, name="img.zarr", **kw):
    g = uz.open_group(str(tmp_path / name), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=data, **kw)
    return g


CASES = [
    # shape, dtype, chunks, shards (v3 only)
    ((37, 45), "uint16", (8,), (16,)),
    ((21, 18, 25), "float32", (4,), (8,)),
    ((3, 13, 10, 11), "int16", (4,), (8,)),        # (t, z, y, x)
    ((2, 3, 9, 12, 7), "uint8", (4,), (8,)),       # (t, c, z, y, x)
]


@pytest.mark.parametrize("shape, dtype, chunks, shards", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("method", METHODS)
def test_generate_pyramid_matches_reference(
    tmp_path, driver, zarr_version, shape, dtype, chunks, shards, method
):
    x = sample(shape, dtype, method, seed=len(shape))
    kw = {"chunks": chunks}
    if zarr_version == 3:
        kw["shards"] = shards
    g = make_group(tmp_path, driver, zarr_version, x, **kw)
    # A tiny budget forces many tiles and pieces, so tile/piece seams are exercised.
    shapes = uz.generate_pyramid(g, method=method, max_memory=4096)
    axes = P.pyramid_axes(len(shape))
    want = reference_pyramid(x, axes, method, len(shapes) - 1)
    assert shapes == [w.shape for w in want]
    assert len(shapes) >= 3
    for level, w in enumerate(want):
        arr = g[str(level)]
        assert_level_equal(arr[...], w)


def test_levels_keep_the_base_layout(tmp_path, driver, zarr_version):
    x = sample((40, 33, 35), "uint16", "mean")
    kw = dict(chunks=(8,), compressor="zstd", compressor_opt={"level": 5}, fill_value=7)
    if zarr_version == 3:
        kw["shards"] = (16,)
    g = make_group(tmp_path, driver, zarr_version, x, **kw)
    uz.generate_pyramid(g)
    base = g["0"]
    for name in ("1", "2"):
        arr = g[name]
        assert arr.chunks == base.chunks
        assert arr.shards == base.shards
        assert arr.compressor == base.compressor
        assert arr.fill_value == base.fill_value
        assert arr.dtype == base.dtype


@pytest.mark.parametrize("max_memory", [None, 2**12, 2**16, 2**20])
def test_budgets_and_fused_levels_agree(tmp_path, driver, max_memory):
    """Whatever the budget (one big fused pass or many small ones), same result."""
    x = sample((50, 61, 47), "uint16", "mean")
    g = make_group(tmp_path, driver, 3, x, chunks=(8,), shards=(16,))
    shapes = uz.generate_pyramid(g, levels=4, max_memory=max_memory)
    want = reference_pyramid(x, (0, 1, 2), "mean", 4)
    assert shapes == [w.shape for w in want]
    for level, w in enumerate(want):
        np.testing.assert_array_equal(g[str(level)][...], w)


def test_plan_fuses_levels_when_the_budget_allows():
    shapes = P.level_shapes((512, 512, 512), (128,) * 3, (0, 1, 2), 3)
    plans = P.plan_passes(shapes, (0, 1, 2), chunks=(128,) * 3, write_block=(128,) * 3,
                          itemsize=2, max_memory=256 * 2**20, workers=2)
    assert [(first, depth) for first, depth, *_ in plans] == [(1, 3)]
    plans = P.plan_passes(shapes, (0, 1, 2), chunks=(128,) * 3, write_block=(128,) * 3,
                          itemsize=2, max_memory=32 * 2**20, workers=2)
    assert [(first, depth) for first, depth, *_ in plans] == [(1, 1), (2, 2)]
    for first, _depth, tile, piece, _max_tiles in plans:
        # pieces are whole input chunks; tiles are whole write blocks
        assert all(p % 128 == 0 or p == s for p, s in zip(piece, shapes[first - 1]))
        assert all(t % 128 == 0 or t == s for t, s in zip(tile, shapes[first]))


def test_plan_keeps_one_tile_in_flight_when_two_writes_do_not_fit():
    """A tile being written also holds the engine's copy and encode buffers (3 tile
    sizes in all): 32 MiB tiles (256^3 uint16 shards of level 1) go one at a time under
    128 MiB, two at a time under 256 MiB; small tiles are not affected."""
    shapes = P.level_shapes((1024,) * 3, (128,) * 3, (0, 1, 2), 3)
    kw = dict(chunks=(128,) * 3, itemsize=2, workers=2)
    plans = P.plan_passes(shapes, (0, 1, 2), write_block=(256,) * 3,
                          max_memory=128 * 2**20, **kw)
    assert plans[0][2] == (256, 256, 256) and plans[0][4] == 1
    plans = P.plan_passes(shapes, (0, 1, 2), write_block=(256,) * 3,
                          max_memory=256 * 2**20, **kw)
    assert plans[0][2] == (256, 256, 256) and plans[0][4] == 2
    plans = P.plan_passes(shapes, (0, 1, 2), write_block=(128,) * 3,
                          max_memory=128 * 2**20, **kw)
    assert all(max_tiles == 2 for *_, max_tiles in plans)


def test_level0_writers_give_way_to_the_budget(tmp_path, driver):
    """With ``write_base`` each thread writes whole level-0 shards, each taking the
    driver's ``SHARD_WRITE_UNIT`` shard sizes (zarr-python 5, TensorStore 2): a 32 KiB
    shard gets 2 threads under 2 units x 2, 1 under 1.5 units (the floor)."""
    g = uz.open_group(str(tmp_path / "g.zarr"), "w", driver=driver, zarr_version=3)
    base = g.create_array("0", (64, 64, 64), "uint16", chunks=(16,), shards=(16, 32, 32))
    unit = type(base).SHARD_WRITE_UNIT
    assert unit == {"tensorstore": 2, "zarr-python": 5}.get(driver, unit)
    shard = 32 * 2**10
    assert P.plan.writers_within(int(2 * unit * shard), base, 4) == 2
    assert P.plan.writers_within(int(1.5 * unit * shard), base, 4) == 1
    assert P.plan.writers_within(2**30, base, 3) == 3  # never more than asked for
    x = np.arange(64**3, dtype=np.uint16).reshape(64, 64, 64)
    uz.generate_pyramid(g, levels=2, source=x, write_base=True,
                        max_memory=int(1.5 * unit * shard))
    assert np.array_equal(g["0"][...], x)
    want = reference_pyramid(x, (0, 1, 2), "mean", 2)
    for level, w in enumerate(want):
        np.testing.assert_array_equal(g[str(level)][...], w)


def test_explicit_levels_and_stale_levels(tmp_path, driver, zarr_version):
    x = sample((32, 32), "float64", "mean")
    g = make_group(tmp_path, driver, zarr_version, x, chunks=(4,))
    assert len(uz.generate_pyramid(g, levels=4)) == 5
    assert "4" in g
    shapes = uz.generate_pyramid(g, levels=2)
    assert shapes == [(32, 32), (16, 16), (8, 8)]
    assert "3" not in g and "4" not in g  # an earlier, deeper pyramid does not linger
    assert uz.generate_pyramid(g, levels=0) == [(32, 32)]
    assert "1" not in g


def test_no_pyramid_axis(tmp_path, driver, zarr_version):
    x = sample((6, 20, 18), "int32", "mean")
    g = make_group(tmp_path, driver, zarr_version, x, chunks=(4,))
    shapes = uz.generate_pyramid(g, levels=2, no_pyramid_axis="z")
    assert shapes == [(6, 20, 18), (6, 10, 9), (6, 5, 5)]
    want = reference_pyramid(x, (1, 2), "mean", 2)
    for level, w in enumerate(want):
        np.testing.assert_array_equal(g[str(level)][...], w)
    assert uz.generate_pyramid(g, levels=1, no_pyramid_axis=2)[1] == (3, 10, 18)


def test_spatial_ndim_like_linc_convert(tmp_path, driver):
    x = sample((4, 10, 12), "uint8", "mean")
    g = make_group(tmp_path, driver, 3, x, chunks=(2,))
    assert uz.generate_pyramid(g, levels=1, spatial_ndim=2)[1] == (4, 5, 6)


@pytest.mark.parametrize("write_base", [False, True])
def test_source_and_write_base(tmp_path, driver, zarr_version, write_base):
    x = sample((33, 30, 29), "uint16", "mean")
    g = uz.open_group(str(tmp_path / "s.zarr"), "w", driver=driver, zarr_version=zarr_version)
    kw = {"shards": (16,)} if zarr_version == 3 else {}
    if write_base:
        g.create_array("0", x.shape, x.dtype, chunks=(8,), **kw)
    else:
        g.create_array("0", data=x, chunks=(8,), **kw)
    calls = []
    uz.generate_pyramid(g, levels=3, source=x, write_base=write_base, max_memory=2**14,
                        progress=lambda done, total: calls.append((done, total)))
    for level, w in enumerate(reference_pyramid(x, (0, 1, 2), "mean", 3)):
        np.testing.assert_array_equal(g[str(level)][...], w)
    assert calls and calls[-1][0] == calls[-1][1] == len(calls)


def test_write_base_with_big_pieces(tmp_path, driver):
    """Pieces that are whole shards write level 0 themselves."""
    x = sample((64, 64, 64), "uint16", "mean")
    g = uz.open_group(str(tmp_path / "b.zarr"), "w", driver=driver, zarr_version=3)
    g.create_array("0", x.shape, x.dtype, chunks=(8,), shards=(32,))
    uz.generate_pyramid(g, levels=2, source=x, write_base=True)
    np.testing.assert_array_equal(g["0"][...], x)
    np.testing.assert_array_equal(g["2"][...], reference_pyramid(x, (0, 1, 2), "mean", 2)[2])


def test_arguments_are_checked(tmp_path, driver):
    x = sample((8, 8), "uint8", "mean")
    g = make_group(tmp_path, driver, 3, x, chunks=(2,))
    with pytest.raises(ValueError, match="levels"):
        uz.generate_pyramid(g, levels=-2)
    with pytest.raises(ValueError, match="method"):
        uz.generate_pyramid(g, method="bilinear")
    with pytest.raises(ValueError, match="max_memory"):
        uz.generate_pyramid(g, max_memory=0)
    with pytest.raises(ValueError, match="source has shape"):
        uz.generate_pyramid(g, source=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="source="):
        uz.generate_pyramid(g, write_base=True)
    with pytest.raises(TypeError):
        uz.generate_pyramid(x)
    empty = uz.open_group(str(tmp_path / "e.zarr"), "w", driver=driver)
    with pytest.raises(KeyError):
        uz.generate_pyramid(empty)
    assert "1" not in g  # nothing was written by the refused calls


def test_read_only_group_is_refused(tmp_path, driver):
    x = sample((8, 8), "uint8", "mean")
    make_group(tmp_path, driver, 3, x, chunks=(2,))
    ro = uz.open_group(str(tmp_path / "img.zarr"), "r", driver=driver)
    with pytest.raises(ReadOnlyError):
        uz.generate_pyramid(ro)
    assert "1" not in ro


def test_errors_in_workers_propagate(tmp_path, driver):
    x = sample((16, 16, 16), "uint8", "mean")
    g = make_group(tmp_path, driver, 3, x, chunks=(4,))

    def broken(blocks, axis):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        uz.generate_pyramid(g, method=broken, max_memory=2**12)


def test_pyramid_of_a_dask_backed_or_memmap_source(tmp_path, driver):
    x = sample((20, 24, 22), "float32", "mean")
    path = tmp_path / "vol.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    g = uz.open_group(str(tmp_path / "m.zarr"), "w", driver=driver)
    g.create_array("0", x.shape, x.dtype, chunks=(8,))
    uz.generate_pyramid(g, levels=2, source=mm, write_base=True, max_memory=2**13)
    for level, w in enumerate(reference_pyramid(x, (0, 1, 2), "mean", 2)):
        assert_level_equal(g[str(level)][...], w)


def test_returned_shapes_are_ceil_halves():
    for n in (1, 2, 3, 7, 8, 129):
        assert P.next_level_shape((n,), (0,)) == (math.ceil(n / 2),)


def test_memory_is_bounded_by_the_budget_not_the_volume(tmp_path, driver):
    """Quick version of tests/test_pyramid_memory.py: Python-side (numpy) allocations
    stay a fraction of a 32 MiB volume when the budget is 4 MiB."""
    import tracemalloc

    x = (np.arange(256**3, dtype=np.uint32) % 4099).astype(np.uint16).reshape((256,) * 3)
    g = make_group(tmp_path, driver, 3, x, chunks=(32,), shards=(64,))
    del x
    tracemalloc.start()
    try:
        uz.generate_pyramid(g, max_memory=4 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB of numpy allocations"
    assert g["3"].shape == (32, 32, 32)
