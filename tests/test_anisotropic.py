"""Anisotropic pyramids: per-axis factors chosen from the voxel size (or forced), built by
the out-of-core engine on both drivers and checked against a plain numpy reference, with
exact per-level scale/translation in OME 0.4, 0.5 and 0.6."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import ok, user_error
from unizarr import pyramid as P


def ref_halve(x: np.ndarray, axes) -> np.ndarray:
    """Mean over 2-voxel windows along each axis of ``axes`` (a lone last voxel is its
    own window): the mean over the product window, in float64."""
    x = np.asarray(x, np.float64)
    for a in axes:
        n = x.shape[a]
        even = np.take(x, range(0, n - n % 2), axis=a)
        pairs = even.reshape(even.shape[:a] + (n // 2, 2) + even.shape[a + 1:]).mean(axis=a + 1)
        if n % 2:
            pairs = np.concatenate([pairs, np.take(x, [n - 1], axis=a)], axis=a)
        x = pairs
    return x


# -- the choice of factors (pure) ---------------------------------------------------------------
def test_light_sheet_voxels_halve_xy_first():
    shapes, steps = P.level_plan((40, 512, 512), (32, 32, 32), (0, 1, 2),
                                 voxel_size=(4.0, 0.5, 0.5), sampling="anisotropic")
    assert steps[:4] == [(1, 2), (1, 2), (1, 2), (0, 1, 2)]
    assert shapes[:5] == [(40, 512, 512), (40, 256, 256), (40, 128, 128), (40, 64, 64),
                          (20, 32, 32)]
    assert shapes[-1] == (20, 32, 32)  # everything fits one chunk


def test_equal_voxels_give_the_classic_pyramid():
    iso = P.level_plan((33, 64, 70), (8, 8, 8), (0, 1, 2))
    aniso = P.level_plan((33, 64, 70), (8, 8, 8), (0, 1, 2), voxel_size=(1, 1, 1),
                         sampling="anisotropic")
    assert iso[0] == aniso[0] == P.level_shapes((33, 64, 70), (8, 8, 8), (0, 1, 2))


def test_near_isotropic_voxels_halve_together():
    _, steps = P.level_plan((64, 64, 64), (8, 8, 8), (0, 1, 2), voxel_size=(1.3, 1.0, 1.0),
                            sampling="anisotropic")
    assert set(steps) == {(0, 1, 2)}


def test_size_one_axis_stops_leading():
    shapes, steps = P.level_plan((1, 40, 40), (1, 8, 8), (0, 1, 2), voxel_size=(0.1, 1, 1),
                                 sampling="anisotropic")
    assert steps and all(s == (1, 2) for s in steps)
    assert shapes[-1] == (1, 5, 5)


@pytest.mark.parametrize("factors, want", [
    ("1,2,2", [(1, 2)] * 3),
    ("1,2,2;2,2,2", [(1, 2), (0, 1, 2), (0, 1, 2)]),
    ([(2, 1, 2)], [(0, 2)] * 3),
])
def test_forced_factors(factors, want):
    _, steps = P.level_plan((64, 64, 64), (8, 8, 8), (0, 1, 2), 3, factors=factors)
    assert steps == want


@pytest.mark.parametrize("factors, match", [
    ("1,2", "3 downsampled axes"),
    ("1,3,2", "must be 1 or 2"),
    ("1,1,1", "at least one 2"),
    ("a,b,c", "1 or 2 per axis"),
    ("", "empty"),
])
def test_bad_factors(factors, match):
    with pytest.raises(ValueError, match=match):
        P.level_plan((8, 8, 8), (4, 4, 4), (0, 1, 2), factors=factors)


def test_anisotropic_needs_voxel_size():
    with pytest.raises(ValueError, match="voxel size"):
        P.level_plan((8, 8, 8), (4, 4, 4), (0, 1, 2), sampling="anisotropic")
    with pytest.raises(ValueError, match="sampling"):
        P.level_plan((8, 8, 8), (4, 4, 4), (0, 1, 2), sampling="sideways")


# -- the engine: data and metadata -----------------------------------------------------------
VOXEL = (4.0, 0.5, 0.5)


def build(tmp_path, driver, zarr_version, shape=(9, 37, 30), chunks=(4, 8, 8), **kw):
    rng = np.random.default_rng(3)
    data = rng.normal(size=shape)
    g = uz.open_group(str(tmp_path / "a.zarr"), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=data, chunks=chunks)
    shapes = uz.generate_pyramid(g, max_memory=64 * 1024, workers=2, **kw)
    return g, data, shapes


def check_levels(g, data, plan_steps):
    ref = data
    for j, step in enumerate(plan_steps, start=1):
        ref = ref_halve(ref, step)
        np.testing.assert_allclose(g[str(j)][...], ref, rtol=1e-12, atol=1e-12)


def test_anisotropic_pyramid_matches_numpy(tmp_path, driver, zarr_version):
    g, data, shapes = build(tmp_path, driver, zarr_version, voxel_size=VOXEL,
                            sampling="anisotropic")
    got, steps = P.level_plan(data.shape, (4, 8, 8), (0, 1, 2), voxel_size=VOXEL,
                              sampling="anisotropic")
    assert shapes == got and len(shapes) >= 4
    assert steps[0] == (1, 2) and (0, 1, 2) in steps  # xy first, then all
    check_levels(g, data, steps)


def test_forced_factors_match_numpy(tmp_path, driver, zarr_version):
    g, data, shapes = build(tmp_path, driver, zarr_version, levels=3, factors="2,1,2;1,2,1")
    check_levels(g, data, [(0, 2), (1,), (1,)])


def test_source_and_write_base_in_one_pass(tmp_path, driver, zarr_version):
    """convert's path: level 0 written from the source while the levels are computed."""
    rng = np.random.default_rng(4)
    data = rng.normal(size=(6, 20, 26))
    g = uz.open_group(str(tmp_path / "b.zarr"), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", shape=data.shape, dtype=data.dtype, chunks=(2, 4, 4))
    uz.generate_pyramid(g, source=data, write_base=True, voxel_size=(3.0, 1.0, 1.0),
                        sampling="anisotropic", max_memory=32 * 1024)
    np.testing.assert_array_equal(g["0"][...], data)
    _, steps = P.level_plan(data.shape, (2, 4, 4), (0, 1, 2), voxel_size=(3.0, 1.0, 1.0),
                            sampling="anisotropic")
    check_levels(g, data, steps)


def expected_transforms(shapes, voxel):
    out = []
    for s in shapes:
        f = [shapes[0][a] / n if n != shapes[0][a] else 1.0 for a, n in enumerate(s)]
        # unizarr's 2x windows: factor 2**(times halved), centre shift (f - 1) / 2.
        f = [2.0 ** round(np.log2(v)) if v != 1.0 else 1.0 for v in f]
        out.append(([v * x for v, x in zip(voxel, f)],
                    [(v - 1) / 2 * x for v, x in zip(f, voxel)]))
    return out


def test_metadata_is_exact_in_every_version(tmp_path, driver, zarr_version):
    g, data, shapes = build(tmp_path, driver, zarr_version, shape=(8, 64, 64),
                            voxel_size=VOXEL, sampling="anisotropic")
    want = expected_transforms(shapes, VOXEL)
    versions = ["0.4"] if zarr_version == 2 else ["0.4", "0.5", "0.6"]
    for version in versions:
        ms = uz.write_ome_metadata(g, "zyx", space_scale=list(VOXEL), ome_version=version,
                                   pyramid_aligns=2)
        for ds, (scale, translation) in zip(ms["datasets"], want):
            (t, *rest) = ds["coordinateTransformations"]
            if version == "0.6":
                steps = t["transformations"] if t["type"] == "sequence" else [t]
                got_s = steps[0]["scale"]
                got_t = steps[1]["translation"] if len(steps) > 1 else [0.0] * 3
            else:
                got_s, got_t = t["scale"], rest[0]["translation"]
            assert got_s == pytest.approx(scale) and got_t == pytest.approx(translation)
        if version == "0.6":
            from tests.test_ome_06 import validate06

            validate06(tmp_path / "a.zarr")
        else:
            uz.validate_ome(g)


def test_on_a_dask_cluster(tmp_path, client):
    g, data, shapes = build(tmp_path, "zarr-python", 3, voxel_size=VOXEL,
                            sampling="anisotropic", client=client)
    _, steps = P.level_plan(data.shape, (4, 8, 8), (0, 1, 2), voxel_size=VOXEL,
                            sampling="anisotropic")
    check_levels(g, data, steps)


def test_resume_refuses_other_factors(tmp_path, driver):
    g, data, _ = build(tmp_path, driver, 3, levels=2, factors="1,2,2")
    g._set_hidden(P.RUN_RECORD, json.dumps(
        P._run_options(P.level_plan(data.shape, (4, 8, 8), (0, 1, 2), 2)[0], (0, 1, 2),
                       "mean", False, None)).encode())
    with pytest.raises(ValueError, match="resume it with the same arguments"):
        uz.generate_pyramid(g, 2, factors="1,2,2", resume=True)


# -- the command line -----------------------------------------------------------------------------
def run(*args):
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_default_is_anisotropic(tmp_path, driver):
    data = np.random.default_rng(5).integers(0, 900, (8, 64, 64)).astype(np.uint16)
    src = tmp_path / "ls.npy"
    np.save(src, data)
    out = tmp_path / "ls.ome.zarr"
    ok(run("convert", src, out, "--voxel-size", "4,0.5,0.5", "--chunk", "16", "--driver",
           driver, "--quiet"))
    g = uz.open_group(str(out), "r")
    assert g["1"].shape == (8, 32, 32) and g["2"].shape == (8, 16, 16)
    iso = tmp_path / "iso.ome.zarr"
    ok(run("convert", src, iso, "--voxel-size", "4,0.5,0.5", "--chunk", "16", "--sampling",
           "isotropic", "--quiet"))
    assert uz.open_group(str(iso), "r")["1"].shape == (4, 32, 32)
    forced = tmp_path / "f.ome.zarr"
    ok(run("convert", src, forced, "--factors", "2,2,1", "--chunk", "16", "--levels", "1",
           "--quiet"))
    assert uz.open_group(str(forced), "r")["1"].shape == (4, 32, 64)


def test_cli_bad_factors_write_nothing(tmp_path):
    src = tmp_path / "a.npy"
    np.save(src, np.zeros((8, 8, 8), np.uint8))
    out = tmp_path / "a.ome.zarr"
    user_error(run("convert", src, out, "--factors", "2,3,2"), "must be 1 or 2")
    assert not out.exists()
    before = tree_hashes(tmp_path)
    user_error(run("convert", src, out, "--factors", "2,2"), "3 downsampled axes")
    assert tree_hashes(tmp_path) == before
