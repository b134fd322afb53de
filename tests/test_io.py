"""Input readers (``unizarr.io``): every format opens lazily, in Zarr axis order, with its
physical metadata; inspection, preview and copy planning as pure library calls.

The oracles are the formats' own libraries: nibabel (raw voxels, header), tifffile and
numpy.
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile

import unizarr as uz
from unizarr.io import detect_format, open_input
from unizarr.io.preview import render_preview
from unizarr.io.report import describe, nifti_findings, validate_store
from unizarr.io.tree_copy import plan_copy
from unizarr.ome import find_multiscale
from unizarr.readers.volume import Volume, aligned_chunks, default_axes, normalize_unit
from unizarr.readers.zarr import read_zarr
from unizarr.readers.zarr_store import ome_attrs_for

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
SHAPE = (40, 50, 60)  # (z, y, x)


def volume(shape: tuple[int, ...] = SHAPE, dtype: str = "uint16") -> np.ndarray:
    """A deterministic volume where every voxel differs from its neighbours."""
    return (np.arange(math.prod(shape)) * 7919 % 60000).astype(dtype).reshape(shape)


# -- pure helpers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "unit"),
    [("mm", "millimeter"), ("um", "micrometer"), ("µm", "micrometer"), ("micron", "micrometer"),
     ("Millimeter", "millimeter"), ("nm", "nanometer"), ("sec", "second"), ("msec", "millisecond"),
     ("unknown", None), ("", None), (None, None), ("pixel", None)],
)
def test_normalize_unit(text: str | None, unit: str | None) -> None:
    assert normalize_unit(text) == unit


def test_default_axes_by_rank() -> None:
    assert default_axes(2) == ("y", "x")
    assert default_axes(3) == ("z", "y", "x")
    assert default_axes(4) == ("t", "z", "y", "x")
    assert default_axes(4, no_time=True) == ("c", "z", "y", "x")
    assert default_axes(5) == ("t", "c", "z", "y", "x")
    with pytest.raises(ValueError, match="5-D"):
        default_axes(5, no_time=True)
    with pytest.raises(ValueError, match="6-D"):
        default_axes(6)


@pytest.mark.parametrize(
    ("shape", "block", "budget"),
    [((100, 100, 100), (32, 32, 32), 2**20), ((40, 50, 60), (128, 128, 128), 1),
     ((1000, 1000, 1000), (64, 64, 64), 2**25), ((5, 3, 100, 100, 100), (1, 3, 32, 32, 32), 2**20),
     ((7, 9), (4, 4), 64)],
)
def test_aligned_chunks_are_whole_blocks_within_budget(shape, block, budget) -> None:
    chunks = aligned_chunks(shape, block, 2, budget)
    for c, b, n in zip(chunks, block, shape):
        assert c == n or c % b == 0, (chunks, block)  # no two chunks share a block
        assert 1 <= c <= n
    floor = math.prod(min(b, n) for b, n in zip(block, shape))
    assert math.prod(chunks) * 2 <= max(budget, floor * 2)


def test_aligned_chunks_grow_the_fastest_axis_first() -> None:
    assert aligned_chunks((100, 100, 100), (32, 32, 32), 2, 2 * 32 * 100 * 100) == (32, 100, 100)


# -- NIfTI -----------------------------------------------------------------------------
def test_nifti_real_sample_is_lazy_and_reversed() -> None:
    path = NIBABEL_DATA / "anatomical.nii"
    raw = np.asarray(nib.load(path).dataobj.get_unscaled())
    with open_input(path) as vol:
        assert vol.format == "NIfTI-1"
        assert vol.axes == ("z", "y", "x")
        assert vol.shape == raw.shape[::-1]
        assert vol.space_scale == (2.0, 2.0, 2.0)
        assert vol.space_unit == "millimeter"
        assert vol.nifti_header is not None
        np.testing.assert_array_equal(vol.read(), raw.transpose(2, 1, 0))


@pytest.mark.parametrize(
    ("shape", "axes", "perm"),
    [((6, 7, 8), ("z", "y", "x"), (2, 1, 0)),
     ((6, 7, 8, 3), ("t", "z", "y", "x"), (3, 2, 1, 0)),
     ((6, 7, 8, 2, 3), ("t", "c", "z", "y", "x"), (3, 4, 2, 1, 0))],
)
def test_nifti_axes_follow_nifti_zarr(tmp_path: Path, shape, axes, perm) -> None:
    data = volume(shape, "int16")
    img = nib.Nifti1Image(data, np.diag([0.5, 0.6, 0.7, 1.0]))
    img.header.set_zooms((0.5, 0.6, 0.7, 2.5, 1.0)[: len(shape)])
    img.header.set_xyzt_units("mm", "msec")
    img.header.set_slope_inter(2.0, -3.0)  # raw values are stored; scaling stays in the header
    path = tmp_path / "img.nii.gz"
    nib.save(img, path)
    with open_input(path) as vol:
        assert vol.axes == axes
        assert vol.perm == perm
        assert vol.space_scale == pytest.approx((0.7, 0.6, 0.5))
        assert vol.space_unit == "millimeter"
        if len(shape) > 3:
            assert vol.time_scale == pytest.approx(2.5)
            assert vol.time_unit == "millisecond"
        raw = np.asarray(nib.load(path).dataobj.get_unscaled())
        np.testing.assert_array_equal(vol.read(), raw.transpose(perm))
        assert vol.dtype == raw.dtype
        assert vol.nifti_header.get_slope_inter() == (2.0, -3.0)
        # every element of zarr[t, c, k, j, i] is nifti[i, j, k, t, c]
        idx = tuple(n - 1 for n in vol.shape)
        assert vol.read()[idx] == raw[tuple(idx[p] for p in np.argsort(perm))]


def test_nifti2_and_unknown_units(tmp_path: Path) -> None:
    img = nib.Nifti2Image(volume((5, 6, 7), "float32"), np.eye(4))
    path = tmp_path / "two.nii"
    nib.save(img, path)
    with open_input(path) as vol:
        assert vol.format == "NIfTI-2"
        assert vol.space_unit == "millimeter"  # NIfTI's customary unit when unset


def test_nifti_not_readable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nii"
    bad.write_bytes(b"not a nifti" * 10)
    with pytest.raises(ValueError, match="cannot read .* as NIfTI"):
        open_input(bad)


# -- TIFF ------------------------------------------------------------------------------
def test_multipage_tiff(tmp_path: Path) -> None:
    data = volume()
    tifffile.imwrite(tmp_path / "stack.tif", data, compression="zlib", tile=(16, 16))
    with open_input(tmp_path / "stack.tif") as vol:
        assert vol.axes == ("z", "y", "x") and vol.shape == SHAPE
        np.testing.assert_array_equal(vol.to_dask((7, 50, 13)).compute(), data)


def test_tiff_directory_and_glob_in_natural_order(tmp_path: Path) -> None:
    data = volume((12, 5, 6))
    folder = tmp_path / "slices"
    folder.mkdir()
    for i, plane in enumerate(data):
        tifffile.imwrite(folder / f"z{i}.tif", plane)  # z10 sorts after z9, not after z1
    (folder / "notes.txt").write_text("ignored")
    for spec in (folder, folder / "z*.tif"):
        with open_input(spec) as vol:
            assert vol.format == "TIFF stack of 12 files"
            np.testing.assert_array_equal(vol.read(), data)


def test_tiff_glob_without_match() -> None:
    with pytest.raises(FileNotFoundError, match="no TIFF files"):
        open_input("/nonexistent-dir-xyz/*.tif")


def test_imagej_tiff_axes_and_voxel_size(tmp_path: Path) -> None:
    data = volume((5, 3, 20, 30), "uint8")
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 1.5, "unit": "um", "axes": "ZCYX"})
    with open_input(tmp_path / "ij.tif") as vol:
        assert vol.axes == ("c", "z", "y", "x")
        assert vol.space_scale == pytest.approx((1.5, 0.5, 0.5))
        assert vol.space_unit == "micrometer"
        np.testing.assert_array_equal(vol.read(), data.transpose(1, 0, 2, 3))


def test_ome_tiff_units_are_unified(tmp_path: Path) -> None:
    data = volume((4, 10, 12), "uint16")
    tifffile.imwrite(tmp_path / "x.ome.tif", data, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25,
        "PhysicalSizeZ": 1500, "PhysicalSizeZUnit": "nm",
    })
    with open_input(tmp_path / "x.ome.tif") as vol:
        assert vol.format == "OME-TIFF"
        assert vol.name == "x"
        assert vol.space_scale == pytest.approx((1.5, 0.25, 0.25))
        assert vol.space_unit == "micrometer"


def test_rgb_tiff_becomes_channels_with_a_z_axis(tmp_path: Path) -> None:
    rgb = volume((20, 30, 3), "uint8")
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    with open_input(tmp_path / "rgb.tif") as vol:
        assert vol.axes == ("c", "z", "y", "x")
        assert vol.shape == (3, 1, 20, 30)
        np.testing.assert_array_equal(vol.read()[:, 0], rgb.transpose(2, 0, 1))
        assert vol.to_dask((1, 1, 7, 7)).compute().shape == (3, 1, 20, 30)


def test_not_a_tiff(tmp_path: Path) -> None:
    (tmp_path / "bad.tif").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read .* as TIFF"):
        open_input(tmp_path / "bad.tif")


# -- NumPy -----------------------------------------------------------------------------
def test_npy_is_memory_mapped(tmp_path: Path) -> None:
    data = volume((3, 4, 5, 6))
    np.save(tmp_path / "v.npy", data)
    with open_input(tmp_path / "v.npy") as vol:
        assert isinstance(vol.source, np.memmap)
        assert vol.axes == ("t", "z", "y", "x")
        np.testing.assert_array_equal(vol.read(), data)
    with open_input(tmp_path / "v.npy", no_time=True) as vol:
        assert vol.axes == ("c", "z", "y", "x")


def test_npy_refuses_pickles_npz_and_1d(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="cannot read"):
        open_input(tmp_path / "obj.npy")
    np.savez(tmp_path / "z.npz", a=np.zeros(3))
    (tmp_path / "z.npz").rename(tmp_path / "z.npy")
    with pytest.raises(ValueError, match="single-array"):
        open_input(tmp_path / "z.npy")
    np.save(tmp_path / "line.npy", np.zeros(5))
    with pytest.raises(ValueError, match="1-D"):
        open_input(tmp_path / "line.npy")


# -- detection -------------------------------------------------------------------------
def test_detect_format_by_name_and_by_content(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    (tmp_path / "a.npy").rename(tmp_path / "noext")
    assert detect_format(tmp_path / "noext") == "npy"
    tifffile.imwrite(tmp_path / "t", np.zeros((2, 2), "uint8"))
    assert detect_format(tmp_path / "t") == "tiff"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), "int16"), np.eye(4)), tmp_path / "n.nii")
    (tmp_path / "n.nii").rename(tmp_path / "n")
    assert detect_format(tmp_path / "n") == "nifti"
    assert detect_format("s3://bucket/x.zarr") == "zarr"
    (tmp_path / "junk.dat").write_text("hello")
    with pytest.raises(ValueError, match="unsupported input format"):
        detect_format(tmp_path / "junk.dat")
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing.nii")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither Zarr metadata nor TIFF"):
        detect_format(tmp_path / "empty")


# -- Zarr ------------------------------------------------------------------------------
def _ome_group(path: Path, zarr_version: int = 3) -> tuple[uz.ZarrGroup, np.ndarray]:
    data = volume((2,) + SHAPE)
    g = uz.open_group(path, "w", zarr_version=zarr_version)
    g.create_array("0", data=data, chunks=(16,))
    uz.generate_pyramid(g)
    uz.write_ome_metadata(g, ["c", "z", "y", "x"], space_scale=[3.0, 2.0, 1.0],
                          space_unit="nanometer", name="cells", pyramid_aligns=2,
                          ome_version="0.5" if zarr_version == 3 else "0.4")
    return g, data


@pytest.mark.parametrize("zarr_version", [2, 3])
def test_zarr_ome_input(tmp_path: Path, zarr_version: int) -> None:
    _, data = _ome_group(tmp_path / "in.zarr", zarr_version)
    with read_zarr(tmp_path / "in.zarr") as vol:
        assert vol.axes == ("c", "z", "y", "x")
        assert vol.space_scale == (3.0, 2.0, 1.0)
        assert vol.space_unit == "nanometer"
        assert vol.name == "cells"
        np.testing.assert_array_equal(vol.read(), data)


def test_zarr_plain_group_and_array(tmp_path: Path) -> None:
    g = uz.open_group(tmp_path / "p.zarr", "w")
    g["0"] = volume((4, 5, 6))
    with read_zarr(tmp_path / "p.zarr") as vol:
        assert vol.axes == ("z", "y", "x")
    with read_zarr(tmp_path / "p.zarr" / "0") as vol:
        assert vol.format == "Zarr v3 array"
    g["1"] = volume((4, 5, 6))
    del g["0"]
    g["2"] = volume((4, 5, 6))
    with pytest.raises(ValueError, match="give the path of the array"):
        read_zarr(tmp_path / "p.zarr")
    with pytest.raises(FileNotFoundError, match="no Zarr group or array"):
        read_zarr(tmp_path / "nothing.zarr")


def test_ome_attrs_round_trip_between_versions() -> None:
    attrs04 = {"multiscales": [{"version": "0.4", "axes": [], "datasets": []}], "omero": {"x": 1},
               "other": 2}
    attrs05 = ome_attrs_for(attrs04, "0.5")
    assert attrs05 == {"ome": {"version": "0.5", "multiscales": [{"axes": [], "datasets": []}],
                               "omero": {"x": 1}}, "other": 2}
    assert find_multiscale(attrs05)[0] == "0.5"
    assert ome_attrs_for(attrs05, "0.4") == attrs04
    assert ome_attrs_for({"a": 1}, "0.4") == {"a": 1}


# -- laziness --------------------------------------------------------------------------
class _CountingSource:
    """An array-like that records the regions read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.reads: list[tuple[slice, ...]] = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.data[key]


def test_volume_reads_only_what_a_block_needs() -> None:
    src = _CountingSource(volume((8, 6, 4)))
    vol = Volume(source=src, axes=("z", "y", "x"), perm=(2, 1, 0))  # a NIfTI-like x, y, z source
    lazy = vol.to_dask((4, 6, 2))
    assert src.reads == []  # opening and graph building read nothing
    block = lazy.blocks[0, 0, 1].compute(scheduler="synchronous")
    assert block.shape == (4, 6, 2)
    assert len(src.reads) == 1
    np.testing.assert_array_equal(block, src.data.transpose(2, 1, 0)[:4, :, 2:4])


# -- inspection, preview, copy planning -------------------------------------------------
def test_describe_and_validate_a_converted_image(tmp_path: Path) -> None:
    g, _ = _ome_group(tmp_path / "img.zarr")
    desc = describe(g, label="img.zarr")
    assert desc["ome"]["version"] == "0.5"
    assert [lv["path"] for lv in desc["ome"]["levels"]] == ["0", "1", "2"]
    assert desc["members"][0]["shape"] == [2, *SHAPE]
    assert desc["nbytes"] == sum(m["nbytes"] for m in desc["members"])
    findings = validate_store(g)
    assert [f["severity"] for f in findings] == ["ok", "ok"]


def test_nifti_findings_catch_a_wrong_header(tmp_path: Path) -> None:
    g = uz.open_group(tmp_path / "n.zarr", "w")
    g.create_array("0", data=volume((6, 7, 8), "int16"))
    header = nib.Nifti1Header()
    header.set_data_shape((8, 7, 5))  # z should be 6
    header.set_data_dtype(np.int16)
    uz.write_nifti_header(g, header)
    errors = [f for f in nifti_findings(g) if f["severity"] == "error"]
    assert len(errors) == 1 and "do not match level 0" in errors[0]["message"]


def test_preview_size_and_orientation(tmp_path: Path) -> None:
    g, _ = _ome_group(tmp_path / "img.zarr")
    img = render_preview(g, channel=1)
    # anisotropic voxels (3, 2, 1): panels stretched to 1-unit pixels
    z, y, x = SHAPE
    assert img.size == (x + x + 2 * y, max(2 * y, 3 * z))
    g1 = render_preview(g, level=1, zoom=2)
    assert g1.height > 0 and g1.mode == "L"
    with pytest.raises(ValueError, match="--level 5 does not exist"):
        render_preview(g, level=5)
    with pytest.raises(ValueError, match="--channel 2 is out of range"):
        render_preview(g, channel=2)


def test_copy_plan_fails_before_writing(tmp_path: Path) -> None:
    g, _ = _ome_group(tmp_path / "img.zarr")
    cfg = uz.ZarrConfig(chunk=(10,), shard=(32,))
    with pytest.raises(ValueError, match="array '0'.*not a whole number of chunks"):
        plan_copy(g, 3, cfg, {"chunk", "shard"})
    plan = plan_copy(g, 2, None, set())
    assert [a.name for a in plan.arrays] == ["0", "1", "2"]
    assert all(a.kwargs["shards"] is None for a in plan.arrays)
