"""NIfTI-Zarr: headers stored as nifti-zarr stores them, read back by unizarr and by the
nifti-zarr package (``niizarr``), and images converted back to NIfTI unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")
niizarr = pytest.importorskip("niizarr")

import unizarr as uz  # noqa: E402
from unizarr import nifti as N  # noqa: E402

AFFINE = np.array(
    [[0.5, 0.1, 0.0, 10.0], [0.0, 0.6, 0.05, -20.0], [0.0, 0.0, 0.7, 30.0], [0.0, 0.0, 0.0, 1.0]]
)
AXES = {3: ["z", "y", "x"], 4: ["t", "z", "y", "x"]}


def validate(group):
    """OME validation where ome-zarr-models is installed."""
    try:
        import ome_zarr_models  # noqa: F401
    except ImportError:
        return
    uz.validate_ome(group)


def nifti_image(shape=(10, 12, 14), dtype=np.int16, cls=None, seed=0):
    cls = cls or nib.Nifti1Image
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        data = rng.normal(size=shape).astype(dtype)
    else:
        data = rng.integers(0, 1000, shape).astype(dtype)
    img = cls(data, AFFINE)
    h = img.header
    h.set_xyzt_units("mm", "sec")
    img.set_qform(AFFINE @ np.diag([1, 1, 1, 1.0]), code=1)
    img.set_sform(AFFINE, code=2)
    h.set_intent("estimate", name="thickness")
    h["descrip"] = b"unizarr test image"
    h["cal_min"], h["cal_max"] = 0, 900
    h.set_slope_inter(2.0, -5.0)
    if len(shape) > 3:
        h["pixdim"][4] = 2.5
    return img


def write_nifti_zarr(group, img, **pyramid_kw):
    """What a converter does: level 0 in NGFF order, pyramid, OME metadata, header."""
    data = np.asarray(img.dataobj)
    group.create_array("0", data=data.T, chunks=(8,))
    uz.generate_pyramid(group, **pyramid_kw)
    axes = AXES[data.ndim]
    ome = "0.5" if group.zarr_version == 3 else "0.4"
    uz.write_ome_metadata(group, axes, ome_version=ome, pyramid_aligns=2,
                          **N.nifti_ome_kwargs(img.header))
    uz.write_nifti_header(group, img.header)


# -- the stored header ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["Nifti1Image", "Nifti2Image"])
def test_header_round_trip(tmp_path, driver, zarr_version, cls):
    img = nifti_image(cls=getattr(nib, cls))
    g = uz.open_group(str(tmp_path / "h.zarr"), "w", driver=driver, zarr_version=zarr_version)
    before = img.header.binaryblock
    arr = uz.write_nifti_header(g, img.header)
    assert img.header.binaryblock == before  # the caller's header is not modified
    assert arr.dtype == np.uint8 and arr.chunks == arr.shape
    assert arr.compressor.name == "none"
    back = uz.read_nifti_header(g)
    assert type(back) is type(img.header)
    np.testing.assert_allclose(back.get_sform(), img.get_sform())
    np.testing.assert_allclose(back.get_qform(), img.get_qform(), atol=1e-6)
    assert back.get_xyzt_units() == ("mm", "sec")
    assert back.get_intent() == img.header.get_intent()
    assert back.get_slope_inter() == (2.0, -5.0)
    assert back["descrip"] == img.header["descrip"]
    assert back.get_data_shape() == img.header.get_data_shape()


def test_bytes_and_json_are_what_niizarr_writes(tmp_path, driver, zarr_version):
    import zarr

    for cls in (nib.Nifti1Image, nib.Nifti2Image):
        img = nifti_image(shape=(10, 12, 14, 3), cls=cls)
        mine = uz.open_group(str(tmp_path / "mine.zarr"), "w", driver=driver, zarr_version=zarr_version)
        uz.write_nifti_header(mine, img.header)
        theirs = zarr.open_group(str(tmp_path / "theirs.zarr"), mode="w", zarr_format=zarr_version)
        niizarr.write_nifti_header(theirs, img.header.copy())
        np.testing.assert_array_equal(mine["nifti"][...], theirs["nifti"][...])
        want = json.loads(json.dumps(niizarr.nii2json(img.header)))
        got = mine["nifti"].attrs.asdict()
        # niizarr decodes the datatype code there instead of the char[10] data_type field
        want.pop("A75DataTypeName"), got.pop("A75DataTypeName")
        assert got == want


def test_extensions_are_kept(tmp_path, driver):
    img = nifti_image()
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"acquired on a Tuesday"))
    g = uz.open_group(str(tmp_path / "e.zarr"), "w", driver=driver)
    uz.write_nifti_header(g, img.header)
    assert g["nifti"].attrs["NIFTIExtension"] == [1, 0, 0, 0]
    back = uz.read_nifti_header(g)
    assert len(back.extensions) == 1
    assert back.extensions[0].get_content() == b"acquired on a Tuesday"


def test_big_endian_header(tmp_path, driver):
    img = nifti_image()
    swapped = img.header.as_byteswapped(">")
    g = uz.open_group(str(tmp_path / "be.zarr"), "w", driver=driver)
    uz.write_nifti_header(g, swapped)
    back = uz.read_nifti_header(g)
    assert back.endianness == ">"
    np.testing.assert_allclose(back.get_sform(), img.get_sform())


def test_read_errors(tmp_path, driver):
    g = uz.open_group(str(tmp_path / "n.zarr"), "w", driver=driver)
    with pytest.raises(KeyError):
        uz.read_nifti_header(g)
    g.create_array("nifti", data=np.zeros(348, np.uint8))
    with pytest.raises(ValueError, match="NIfTI"):
        uz.read_nifti_header(g)
    with pytest.raises(TypeError):
        uz.write_nifti_header(g, {"dim": [3, 1, 1, 1]})


def test_reads_what_niizarr_converted(tmp_path, driver):
    img = nifti_image(shape=(10, 12, 14, 2), dtype=np.float32)
    out = tmp_path / "niizarr.nii.zarr"
    niizarr.nii2zarr(img, str(out), chunk=8, zarr_version=3)
    g = uz.open_group(str(out), "r", driver=driver)
    back = uz.read_nifti_header(g)
    np.testing.assert_allclose(back.get_sform(), img.get_sform())
    np.testing.assert_array_equal(g["0"][...], np.asarray(img.dataobj).T)
    validate(g)


# -- whole images through niizarr ---------------------------------------------------------------------
@pytest.mark.parametrize("shape, dtype", [((10, 12, 14), np.int16), ((9, 11, 7, 3), np.float32)])
@pytest.mark.parametrize("cls", ["Nifti1Image", "Nifti2Image"])
def test_niizarr_converts_back_to_the_same_image(tmp_path, driver, zarr_version, shape, dtype, cls):
    img = nifti_image(shape=shape, dtype=dtype, cls=getattr(nib, cls))
    g = uz.open_group(str(tmp_path / "img.nii.zarr"), "w", driver=driver, zarr_version=zarr_version)
    write_nifti_zarr(g, img)
    validate(g)
    back = niizarr.zarr2nii(g.url)
    assert type(back.header) is type(img.header)
    np.testing.assert_array_equal(np.asarray(back.dataobj), np.asarray(img.dataobj))
    np.testing.assert_allclose(back.header.get_best_affine(), img.affine, atol=1e-6)
    np.testing.assert_allclose(back.get_sform(), img.get_sform(), atol=1e-6)
    assert back.header.get_xyzt_units() == ("mm", "sec")
    assert back.header.get_intent() == img.header.get_intent()
    # saved to disk by nibabel, the image reads back equal as well
    path = tmp_path / "back.nii.gz"
    nib.save(back, path)
    again = nib.load(path)
    np.testing.assert_array_equal(np.asarray(again.dataobj), np.asarray(img.dataobj))
    np.testing.assert_allclose(again.affine, img.affine, atol=1e-6)


def test_pyramid_levels_carry_the_right_affine(tmp_path, driver):
    img = nifti_image(shape=(16, 12, 10))
    g = uz.open_group(str(tmp_path / "lv.nii.zarr"), "w", driver=driver, zarr_version=3)
    write_nifti_zarr(g, img, levels=2)
    lvl = niizarr.zarr2nii(g.url, level=1)
    # a 2x mean window: voxels twice as big, first centre half a (fine) voxel inwards
    want = img.affine @ np.array([[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 2, 0.5], [0, 0, 0, 1.0]])
    np.testing.assert_allclose(lvl.header.get_best_affine(), want, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(lvl.dataobj), g["1"][...].T)


def test_ome_kwargs_from_header():
    img = nifti_image(shape=(4, 5, 6, 7))
    kw = N.nifti_ome_kwargs(img.header)
    np.testing.assert_allclose(kw["space_scale"], img.header.get_zooms()[:3][::-1])
    assert kw["time_scale"] == 2.5
    assert kw["space_unit"] == "millimeter" and kw["time_unit"] == "second"
    img.header.set_xyzt_units("unknown", "hz")
    kw = N.nifti_ome_kwargs(img.header)
    assert kw["space_unit"] is None and kw["time_unit"] is None
