"""OME-NGFF 0.6 (RFC-5) output: coordinate systems, per-level scale/translation and the
NIfTI affine, checked against nibabel's own affine and validated with ome-zarr-models'
0.6 models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

import unizarr as uz  # noqa: E402
from tests.adversarial.conftest import tree_hashes  # noqa: E402
from tests.helpers import ok, user_error  # noqa: E402
from unizarr import nifti as N  # noqa: E402
from unizarr import ome  # noqa: E402


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def header_case(kind: str, shape=(13, 10, 7)) -> nib.Nifti1Image:
    """Oblique (rotated qform), flipped (negative axes, sform) and sheared (sform)
    headers, with anisotropic voxels."""
    rng = np.random.default_rng(1)
    data = rng.integers(0, 1000, shape).astype(np.int16)
    zooms = np.array([0.8, 1.1, 2.5])
    img = nib.Nifti1Image(data, None)
    h = img.header
    h.set_xyzt_units("mm", "sec")
    if kind == "oblique":
        aff = np.eye(4)
        aff[:3, :3] = _rotation(0.3, -0.2, 0.5) @ np.diag(zooms)
        aff[:3, 3] = [12.5, -30.0, 7.25]
        h.set_qform(aff, code=1)  # qform: rotation + zooms; no sform
        h.set_sform(None, code=0)
    elif kind == "flipped":
        aff = np.diag([-zooms[0], zooms[1], -zooms[2], 1.0])
        aff[:3, 3] = [40.0, -5.0, 60.0]
        h.set_sform(aff, code=4)
        h.set_qform(None, code=0)
    elif kind == "sheared":
        aff = np.array([[0.8, 0.15, -0.2, 3.0], [0.05, 1.1, 0.3, -8.0], [0.1, -0.25, 2.5, 9.0],
                        [0, 0, 0, 1.0]])
        h.set_sform(aff, code=2)
        h.set_qform(None, code=0)
    else:  # pragma: no cover
        raise AssertionError(kind)
    h.set_zooms(tuple(zooms))
    return nib.Nifti1Image(data, img.header.get_best_affine(), img.header)


def world_of(ms06: dict, level: int, index_zyx: np.ndarray) -> np.ndarray:
    """Apply the written 0.6 transforms to level-``level`` voxel indices (rows, in
    z, y, x order): the dataset's scale (+ translation), then the affine."""
    (t,) = ms06["datasets"][level]["coordinateTransformations"]
    steps = t["transformations"] if t["type"] == "sequence" else [t]
    p = np.asarray(index_zyx, float)
    for s in steps:
        if s["type"] == "scale":
            p = p * np.asarray(s["scale"])
        elif s["type"] == "translation":
            p = p + np.asarray(s["translation"])
    (aff,) = ms06["coordinateTransformations"]
    assert aff["type"] == "affine"
    m = np.asarray(aff["affine"])
    return p @ m[:, :-1].T + m[:, -1]


def read_ome(path: Path) -> dict:
    return json.loads((path / "zarr.json").read_text())["attributes"]["ome"]


def validate06(path: Path) -> object:
    """ome-zarr-models' own 0.6 image model, read through zarr-python."""
    import warnings

    import zarr
    from ome_zarr_models.v06.image import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "0.6" is read as its current dev tag
        return Image.from_zarr(zarr.open_group(str(path), mode="r"))


def write_image(path: Path, driver: str, zarr_version: int, img, **meta):
    g = uz.open_group(str(path), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=np.asarray(img.dataobj).T, chunks=(4,))
    uz.generate_pyramid(g, 2, method="mean")
    return g


# -- the affine against nibabel ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["oblique", "flipped", "sheared"])
def test_affine_maps_voxel_centres_like_nibabel(tmp_path, driver, zarr_version, kind):
    img = header_case(kind)
    path = tmp_path / "img.ome.zarr"
    g = write_image(path, driver, zarr_version, img)
    zooms = [float(z) for z in img.header.get_zooms()][::-1]
    aff, system = N.ome_affine(img.header, ["z", "y", "x"], zooms)
    if zarr_version == 2:
        before = tree_hashes(path)
        with pytest.raises(ValueError, match="0.6 needs Zarr v3"):
            uz.write_ome_metadata(g, "zyx", space_scale=zooms, ome_version="0.6",
                                  pyramid_aligns=2, affine=aff, affine_system=system)
        assert tree_hashes(path) == before
        return
    uz.write_ome_metadata(g, "zyx", space_scale=zooms, space_unit="millimeter",
                          ome_version="0.6", pyramid_aligns=2, affine=aff,
                          affine_system=system)
    doc = read_ome(path)
    assert doc["version"] == "0.6"
    ms = doc["multiscales"][0]
    assert system == {"oblique": "scanner", "flipped": "mni_152", "sheared": "aligned"}[kind]
    assert [cs["name"] for cs in ms["coordinateSystems"]] == ["physical", system]
    nx, ny, nz = img.shape
    ijk = np.array([[0, 0, 0], [nx - 1, 0, 0], [0, ny - 1, 0], [0, 0, nz - 1], [3, 5, 2],
                    [nx - 1, ny - 1, nz - 1]], float)
    expected = (img.affine @ np.c_[ijk, np.ones(len(ijk))].T).T[:, :3]  # world x, y, z
    got = world_of(ms, 0, ijk[:, ::-1])  # unizarr's index order is k, j, i
    np.testing.assert_allclose(got[:, ::-1], expected, atol=1e-5)
    # Level 1 and 2: a voxel is the mean of a 2x2x2 (then 4x4x4) window, its centre at
    # the centre of the level-0 voxels it averages.
    for level in (1, 2):
        shape = g[str(level)].shape
        f = np.array([2.0 ** level if n != img.shape[::-1][a] else 1.0 for a, n in enumerate(shape)])
        idx = np.array([[0, 0, 0], [shape[0] - 1, shape[1] - 1, shape[2] - 1], [1, 2, 1]], float)
        centre0 = idx * f + (f - 1) / 2  # level-0 k, j, i of the window's centre
        expected = (img.affine @ np.c_[centre0[:, ::-1], np.ones(len(idx))].T).T[:, :3]
        np.testing.assert_allclose(world_of(ms, level, idx)[:, ::-1], expected, atol=1e-5)
    model = validate06(path)
    assert len(model.attributes.ome.multiscales[0].datasets) == 3


def test_no_orientation_means_no_affine():
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    assert N.ome_affine(img.header, "zyx", [1, 1, 1]) is None


def test_time_axis_passes_through_the_affine():
    img = header_case("sheared", shape=(5, 6, 7))
    h = img.header.copy()
    h.set_data_shape((5, 6, 7, 3))
    aff, _ = N.ome_affine(h, ["t", "z", "y", "x"], [2.5, 1.1, 0.8])
    assert aff.shape == (4, 5)
    np.testing.assert_array_equal(aff[0], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(aff[1:, 0], 0)


# -- metadata shape, refusals ----------------------------------------------------------------
def test_v06_document_without_affine_validates(tmp_path, driver, zarr_version):
    path = tmp_path / "plain.ome.zarr"
    g = uz.open_group(str(path), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=np.arange(2 * 9 * 8 * 6, dtype=np.uint16).reshape(2, 9, 8, 6),
                   chunks=(1, 4, 4, 4))
    uz.generate_pyramid(g, 2)
    kwargs = dict(space_scale=[2.0, 0.5, 0.5], time_scale=0.25, ome_version="0.6", pyramid_aligns=2)
    if zarr_version == 2:
        before = tree_hashes(path)
        with pytest.raises(ValueError, match="needs Zarr v3"):
            uz.write_ome_metadata(g, "tzyx", **kwargs)
        assert tree_hashes(path) == before
        return
    uz.write_ome_metadata(g, "tzyx", **kwargs)
    ms = read_ome(path)["multiscales"][0]
    assert "coordinateTransformations" not in ms
    first = ms["datasets"][0]["coordinateTransformations"][0]
    assert first == {"type": "scale", "scale": [0.25, 2.0, 0.5, 0.5],
                     "input": {"path": "0"}, "output": {"name": "physical"}}
    second = ms["datasets"][1]["coordinateTransformations"][0]
    assert second["type"] == "sequence"
    assert second["transformations"][0]["scale"] == [0.25, 4.0, 1.0, 1.0]
    assert second["transformations"][1]["translation"] == [0.0, 1.0, 0.25, 0.25]
    validate06(path)
    # Readers that know 0.5 see the same axes and scales.
    version, seen = ome.find_multiscale(uz.open_group(str(path), "r").attrs.asdict())
    assert version == "0.6" and [a["name"] for a in seen["axes"]] == list("tzyx")
    assert seen["datasets"][1]["coordinateTransformations"][0]["scale"] == [0.25, 4.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "affine, match",
    [
        (np.eye(3), "shape"),
        (np.zeros((3, 4)), "singular"),
        (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1.0]]), "last row"),
        (np.full((3, 4), np.nan), "non-finite"),
    ],
)
def test_bad_affine_changes_nothing(tmp_path, driver, affine, match):
    path = tmp_path / "bad.ome.zarr"
    g = uz.open_group(str(path), "w", driver=driver, zarr_version=3)
    g.create_array("0", data=np.zeros((4, 4, 4), np.uint8))
    before = tree_hashes(path)
    with pytest.raises(ValueError, match=match):
        uz.write_ome_metadata(g, "zyx", ome_version="0.6", affine=affine)
    assert tree_hashes(path) == before


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_affine_below_06_is_refused(tmp_path, driver, version):
    path = tmp_path / "old.ome.zarr"
    g = uz.open_group(str(path), "w", driver=driver, zarr_version=3)
    g.create_array("0", data=np.zeros((4, 4, 4), np.uint8))
    before = tree_hashes(path)
    with pytest.raises(ValueError, match="cannot store an affine"):
        uz.write_ome_metadata(g, "zyx", ome_version=version, affine=np.eye(4))
    assert tree_hashes(path) == before


# -- the command line -----------------------------------------------------------------------------
def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_convert_06_writes_the_nifti_affine(tmp_path, driver):
    img = header_case("sheared", shape=(16, 12, 9))
    src = tmp_path / "sheared.nii.gz"
    nib.save(img, src)
    out = tmp_path / "out.ome.zarr"
    ok(run("convert", src, out, "--ome-version", "0.6", "--driver", driver, "--chunk", "8",
           "--quiet"))
    ms = read_ome(out)["multiscales"][0]
    ijk = np.array([[0, 0, 0], [15, 11, 8], [4, 7, 2]], float)
    expected = (img.affine @ np.c_[ijk, np.ones(3)].T).T[:, :3]
    np.testing.assert_allclose(world_of(ms, 0, ijk[:, ::-1])[:, ::-1], expected, atol=1e-5)
    validate06(out)
    assert (out / "nifti").is_dir()  # the NIfTI-Zarr header stays the ground truth
    back = uz.read_nifti_header(uz.open_group(str(out), "r"))
    np.testing.assert_allclose(back.get_best_affine(), img.affine, atol=1e-6)
    ok(run("info", out))


def test_cli_06_on_zarr_v2_is_a_user_error(tmp_path):
    img = header_case("oblique")
    src = tmp_path / "o.nii.gz"
    nib.save(img, src)
    out = tmp_path / "out.ome.zarr"
    user_error(run("convert", src, out, "--ome-version", "0.6", "--zarr-version", "2"),
               "--ome-version 0.6 needs --zarr-version 3")
    assert not out.exists()
