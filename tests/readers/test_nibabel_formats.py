"""Formats nibabel reads besides single-file NIfTI: pairs and Analyze written with
nibabel here, MGH/MGZ written with nibabel, MINC-1/2, PAR/REC and AFNI from the test
files nibabel ships. Voxels, voxel sizes, units and affine are compared with nibabel's
own reading of the same file."""

from __future__ import annotations

import os
import shutil

import nibabel as nib
import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from unizarr.errors import CorruptDataError
from unizarr.readers import nibabel_formats as nf

DATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
AFFINE = np.array([
    [0.0, 0.0, -2.5, 90.0],
    [1.2, 0.1, 0.0, -126.0],
    [0.0, 1.5, 0.3, -72.0],
    [0.0, 0.0, 0.0, 1.0],
])


def shipped(name: str, tmp_path) -> str:
    src = os.path.join(DATA, name)
    if not os.path.exists(src):
        pytest.fail(f"nibabel ships {name} in nibabel/tests/data; it is missing here")
    return shutil.copy(src, tmp_path / name)


@pytest.fixture
def vox() -> np.ndarray:
    return np.random.default_rng(5).integers(-3000, 3000, size=(9, 7, 5), dtype=np.int16)


def check_3d(vol, img, dtype=None, rtol=0.0) -> None:
    want = np.asarray(img.dataobj).transpose(2, 1, 0)
    got = vol.read()
    assert vol.axes == ("z", "y", "x")
    if dtype is not None:
        assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol)
    np.testing.assert_allclose(vol.space_scale, img.header.get_zooms()[:3][::-1], rtol=1e-6)
    np.testing.assert_allclose(vol.affine, img.affine, atol=1e-6)


# -- NIfTI pairs and Analyze ----------------------------------------------------------------
@pytest.mark.parametrize("klass", [nib.Nifti1Pair, nib.Nifti2Pair])
def test_nifti_pair_raw_values_scaling_recorded(tmp_path, vox, klass):
    img = klass(vox, AFFINE)
    img.header.set_slope_inter(0.5, -10.0)
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, tmp_path / "pair.img")
    assert nf.sniff(str(tmp_path / "pair.hdr")) and nf.sniff(str(tmp_path / "pair.img"))
    vol = nf.open_volume(str(tmp_path / "pair.hdr"))
    assert vol.dtype == np.int16
    np.testing.assert_array_equal(vol.read(), vox.transpose(2, 1, 0))
    back = nib.load(tmp_path / "pair.hdr")
    np.testing.assert_allclose(vol.affine, back.affine, atol=1e-6)
    # scaling recorded where NIfTI viewers apply it: the header carried to the output
    assert tuple(float(v) for v in vol.nifti_header.get_slope_inter()) == (0.5, -10.0)
    assert vol.nifti_header.get_data_shape() == vox.shape
    np.testing.assert_allclose(vol.nifti_header.get_best_affine(), back.affine, atol=1e-5)
    assert vol.space_unit == "millimeter" and vol.format.endswith("pair")
    assert vol.name == "pair"


def test_nifti_pair_4d_micrometres(tmp_path):
    data = np.arange(4 * 5 * 6 * 3, dtype=np.float32).reshape(4, 5, 6, 3)
    img = nib.Nifti1Pair(data, np.diag([0.5, 0.25, 2.0, 1.0]))
    img.header.set_zooms((0.5, 0.25, 2.0, 1.5))
    img.header.set_xyzt_units("micron", "msec")
    nib.save(img, tmp_path / "t.hdr")
    vol = nf.open_volume(str(tmp_path / "t.hdr"))
    assert vol.axes == ("t", "z", "y", "x")
    np.testing.assert_array_equal(vol.read(), data.transpose(3, 2, 1, 0))
    assert vol.space_scale == (2.0, 0.25, 0.5) and vol.space_unit == "micrometer"
    assert vol.time_scale == 1.5 and vol.time_unit == "millisecond"


def test_analyze_plain_and_spm_scaled(tmp_path, vox):
    nib.save(nib.AnalyzeImage(vox, np.diag([1.5, 2.0, 3.0, 1.0])), tmp_path / "a.img")
    img = nib.load(tmp_path / "a.hdr")
    assert nf.sniff(str(tmp_path / "a.hdr"))
    vol = nf.open_volume(str(tmp_path / "a.hdr"))
    check_3d(vol, img, dtype=np.int16)
    assert vol.format.startswith("Analyze")

    spm = nib.Spm2AnalyzeImage(vox, np.diag([1.5, 2.0, 3.0, 1.0]))
    spm.header["scl_slope"] = 0.25
    nib.save(spm, tmp_path / "s.img")
    img = nib.Spm2AnalyzeImage.from_filename(str(tmp_path / "s.hdr"))
    vol = nf.open_volume(str(tmp_path / "s.hdr"))
    got = vol.read()
    assert got.dtype == np.float32     # scaled -> float32, scale applied
    np.testing.assert_allclose(got, np.asarray(img.dataobj).transpose(2, 1, 0), rtol=1e-6)
    assert vol.nifti_header.get_slope_inter()[0] in (1.0, None)


def test_pair_without_data_file(tmp_path, vox):
    nib.save(nib.Nifti1Pair(vox, AFFINE), tmp_path / "p.img")
    os.remove(tmp_path / "p.img")
    before = tree_hashes(tmp_path)
    with pytest.raises(FileNotFoundError, match="p.hdr"):
        nf.open_volume(str(tmp_path / "p.hdr"))
    assert tree_hashes(tmp_path) == before


def test_truncated_data_file_raises(tmp_path, vox):
    nib.save(nib.Nifti1Pair(vox, AFFINE), tmp_path / "p.img")
    vol = nf.open_volume(str(tmp_path / "p.hdr"))
    data = (tmp_path / "p.img").read_bytes()
    (tmp_path / "p.img").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError, match="p.hdr"):
        vol.read()


# -- MGH / MGZ ---------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".mgh", ".mgz"])
def test_mgh_4d(tmp_path, ext):
    data = np.random.default_rng(2).random((6, 5, 4, 3)).astype(np.float32)
    img = nib.MGHImage(data, AFFINE)
    img.header.set_zooms(img.header.get_zooms()[:3] + (2000.0,))
    nib.save(img, tmp_path / f"m{ext}")
    assert nf.sniff(str(tmp_path / f"m{ext}"))
    back = nib.load(tmp_path / f"m{ext}")
    vol = nf.open_volume(str(tmp_path / f"m{ext}"))
    assert vol.axes == ("t", "z", "y", "x") and vol.dtype == np.float32
    np.testing.assert_array_equal(vol.read(), data.transpose(3, 2, 1, 0))
    np.testing.assert_allclose(vol.affine, back.affine, atol=1e-5)
    np.testing.assert_allclose(vol.space_scale, back.header.get_zooms()[:3][::-1], rtol=1e-6)
    assert vol.time_scale == 2000.0 and vol.time_unit == "millisecond"
    assert vol.format == "MGH"


def test_shipped_mgz(tmp_path):
    path = shipped("test.mgz", tmp_path)
    img = nib.load(path)
    vol = nf.open_volume(str(path))
    np.testing.assert_array_equal(vol.read(), np.asarray(img.dataobj).transpose(3, 2, 1, 0))
    np.testing.assert_allclose(vol.affine, img.affine)


# -- MINC ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny.mnc", "small.mnc", "minc1_1_scale.mnc"])
def test_minc_3d_scaled_to_float32(tmp_path, name):
    path = shipped(name, tmp_path)
    assert nf.sniff(str(path))
    img = nib.load(path)
    vol = nf.open_volume(str(path))
    check_3d(vol, img, dtype=np.float32, rtol=1e-6)
    assert vol.format.startswith("MINC")


@pytest.mark.parametrize("name", ["minc1_4d.mnc", "minc2_4d.mnc"])
def test_minc_4d_time_first(tmp_path, name):
    path = shipped(name, tmp_path)
    img = nib.load(path)
    vol = nf.open_volume(str(path))
    assert vol.axes == ("t", "z", "y", "x")
    want = np.asarray(img.dataobj).transpose(0, 3, 2, 1)   # (time, i, j, k) -> t, k, j, i
    np.testing.assert_allclose(vol.read(), want, rtol=1e-6)
    assert vol.shape[0] == 2
    np.testing.assert_allclose(vol.affine, img.affine)
    # NIfTI header for NIfTI-Zarr: (i, j, k, t) order, the image's affine, float32
    hdr = vol.nifti_header
    assert hdr.get_data_shape() == (10, 20, 20, 2) and hdr.get_data_dtype() == np.float32
    np.testing.assert_allclose(hdr.get_best_affine(), img.affine, atol=1e-5)
    assert hdr.get_slope_inter() in ((1.0, 0.0), (None, None))
    region = (slice(1, 2), slice(0, 3), slice(4, 9), slice(0, 2))
    np.testing.assert_allclose(vol.read_region(region), want[region], rtol=1e-6)


# -- PAR/REC and AFNI ------------------------------------------------------------------------
def test_parrec_scaled(tmp_path):
    par = shipped("phantom_EPI_asc_CLEAR_2_1.PAR", tmp_path)
    shipped("phantom_EPI_asc_CLEAR_2_1.REC", tmp_path)
    assert nf.sniff(str(par))
    img = nib.load(par)
    vol = nf.open_volume(str(par))
    assert vol.axes == ("t", "z", "y", "x") and vol.dtype == np.float32
    np.testing.assert_allclose(vol.read(), np.asarray(img.dataobj).transpose(3, 2, 1, 0), rtol=1e-6)
    np.testing.assert_allclose(vol.space_scale, (8.0, 3.75, 3.75))
    np.testing.assert_allclose(vol.affine, img.affine, atol=1e-6)
    assert vol.format == "PAR/REC"


def test_afni(tmp_path):
    head = shipped("example4d+orig.HEAD", tmp_path)
    shipped("example4d+orig.BRIK.gz", tmp_path)
    assert nf.sniff(str(head))
    img = nib.load(head)
    vol = nf.open_volume(str(head))
    assert vol.dtype == np.int16 and vol.name == "example4d"
    np.testing.assert_array_equal(vol.read(), np.asarray(img.dataobj).transpose(3, 2, 1, 0))
    np.testing.assert_allclose(vol.affine, img.affine)


# -- detection -------------------------------------------------------------------------------
def test_sniff_refuses_other_files(tmp_path, vox):
    nib.save(nib.Nifti1Image(vox, AFFINE), tmp_path / "single.nii")
    assert not nf.sniff(str(tmp_path / "single.nii"))       # the NIfTI reader's
    (tmp_path / "fake.hdr").write_bytes(b"\0" * 348)         # right name, wrong content
    assert not nf.sniff(str(tmp_path / "fake.hdr"))
    (tmp_path / "fake.mgz").write_bytes(b"not gzip")
    assert not nf.sniff(str(tmp_path / "fake.mgz"))
    assert not nf.sniff(str(tmp_path / "missing.mgh"))
    assert not nf.sniff(str(tmp_path))
    with pytest.raises(ValueError, match="fake.hdr"):
        nf.open_volume(str(tmp_path / "fake.hdr"))


def test_write_through_open_group(tmp_path, driver, zarr_version):
    """MINC-2 -> OME-Zarr level 0 + NIfTI-Zarr header on each engine; nifti-zarr's
    reader gives back nibabel's voxels and affine."""
    import niizarr

    path = shipped("minc2_4d.mnc", tmp_path)
    vol = nf.open_volume(str(path))
    g = uz.open_group(str(tmp_path / "out.zarr"), mode="w", driver=driver,
                      zarr_version=zarr_version)
    g.create_array("0", data=vol.to_dask((1, 5, 8, 8)), chunks=(1, 5, 8, 8))
    uz.write_ome_metadata(g, vol.axes, space_scale=vol.space_scale,
                          space_unit=vol.space_unit, time_unit=vol.time_unit, name=vol.name)
    uz.write_nifti_header(g, vol.nifti_header)
    img = nib.load(path)
    want = np.asarray(img.dataobj)                       # (time, i, j, k)
    back = uz.open_group(str(tmp_path / "out.zarr"), mode="r", driver=driver)["0"][...]
    np.testing.assert_allclose(back, want.transpose(0, 3, 2, 1), rtol=1e-6)
    nii = niizarr.zarr2nii(str(tmp_path / "out.zarr"))
    np.testing.assert_allclose(np.asarray(nii.dataobj), want.transpose(1, 2, 3, 0), rtol=1e-6)
    np.testing.assert_allclose(nii.header.get_best_affine(), img.affine, atol=1e-5)
