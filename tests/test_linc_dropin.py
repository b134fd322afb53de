"""linc-convert's converters run unchanged on unizarr (SPEC section 9).

linc-convert is not installable from the registry, so each test reproduces the call
sequence of one converter pattern with synthetic input, on both drivers x v2/v3
(sharded where v3), then checks level shapes, values, the multiscales document and that
nifti-zarr (``niizarr``) reads the result back.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field

import dask.array as da
import nibabel as nib
import numpy as np
import pytest

import unizarr as uz
from unizarr import from_config  # the one-line migration

niizarr = pytest.importorskip("niizarr")


@dataclass
class LincZarrConfig:
    """The shape of linc-convert's own config dataclass (read by field name, not type)."""

    out: str = ""
    zarr_version: int = 3
    chunk: tuple = (32,)
    chunk_channels: bool = False
    chunk_time: bool = True
    shard: tuple | str | None = None
    shard_channels: bool = False
    shard_time: bool = False
    dimension_separator: str = "/"
    order: str = "C"
    compressor: str = "blosc"
    compressor_opt: str = "{}"
    no_time: bool = False
    no_pyramid_axis: str | None = None
    levels: int = -1
    ome_version: str = "0.4"
    overwrite: bool = True
    driver: str = "zarr-python"
    nii: bool = False
    extra: list = field(default_factory=list)


@pytest.fixture
def cfg(driver, zarr_version, tmp_path):
    return LincZarrConfig(
        out=str(tmp_path / "out.zarr"),
        zarr_version=zarr_version,
        shard=(64,) if zarr_version == 3 else None,
        ome_version="0.5" if zarr_version == 3 else "0.4",
        driver=driver,
    )


def _nifti_header(shape_xyz, voxel, dtype):
    header = nib.Nifti1Header()
    header.set_data_shape(shape_xyz)
    header.set_data_dtype(dtype)
    header.set_zooms(voxel)
    header.set_xyzt_units("mm")
    affine = np.diag(list(voxel) + [1.0])
    header.set_qform(affine, 1)
    header.set_sform(affine, 1)
    return header


def _multiscales(g):
    return g.attrs.get("ome", g.attrs).get("multiscales")


def test_psoct_single_volume(cfg):
    """psoct: volume written slice by slice with dtype casting, pyramid, OME, NIfTI."""
    rng = np.random.default_rng(0)
    vol = rng.random((48, 40, 36)) * 1000  # float64 produced by the converter
    g = from_config(cfg.out, cfg)
    cfg.chunk = (16,)  # converters mutate the config before create_array
    arr = g.create_array("0", list(vol.shape), np.dtype("<u2"), zarr_config=cfg)
    assert arr.chunks == (16, 16, 16)
    for i in range(vol.shape[-1]):
        arr[:, :, i] = vol[:, :, i]  # float64 -> uint16, truncated like numpy
    expected = vol.astype("<u2")
    np.testing.assert_array_equal(arr[...], expected)
    shapes = g.generate_pyramid(mode="mean")
    assert [tuple(s) for s in shapes] == [(48, 40, 36), (24, 20, 18), (12, 10, 9)]
    g.write_ome_metadata(["z", "y", "x"], [0.01, 0.02, 0.03], space_unit="millimeter",
                         ome_version=cfg.ome_version)
    ms = _multiscales(g)
    assert [d["path"] for d in ms[0]["datasets"]] == ["0", "1", "2"]
    assert ms[0]["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.01, 0.02, 0.03]
    g.write_nifti_header(_nifti_header(vol.shape[::-1], (0.03, 0.02, 0.01), "<u2"))
    img = niizarr.zarr2nii(cfg.out)
    np.testing.assert_array_equal(np.asarray(img.dataobj), expected.transpose(2, 1, 0))
    np.testing.assert_allclose(img.header.get_zooms()[:3], (0.03, 0.02, 0.01), rtol=1e-6)


def test_psoct_multi_slice_levels_and_no_pyramid_axis(cfg):
    """Multi-slice stack: keys like (..., s, s, i), a fixed level count, thick slices."""
    cfg.levels, cfg.no_pyramid_axis = 1, "z"
    g = from_config(cfg.out, cfg)
    arr = g.create_array("0", (6, 64, 64), "float32", zarr_config=cfg)
    ref = np.zeros((6, 64, 64), "f4")
    for i in range(6):
        s = slice(None)
        tile = np.full((64,), i, "f4")
        for y in range(0, 64, 32):
            arr[i, y:y + 32, :] = tile
            ref[i, y:y + 32, :] = tile
        arr[..., s, s, i] = i * 10  # (..., s, s, i) on a 3-D array writes column i
        ref[..., s, s, i] = i * 10
    arr[...] = arr[...]  # the [...] form
    np.testing.assert_array_equal(arr[...], ref)
    shapes = g.generate_pyramid(levels=cfg.levels, mode="mean", no_pyramid_axis=cfg.no_pyramid_axis)
    assert [tuple(s) for s in shapes] == [(6, 64, 64), (6, 32, 32)]
    np.testing.assert_allclose(g["1"][...], ref.reshape(6, 32, 2, 32, 2).mean((2, 4)), rtol=1e-6)
    g.write_ome_metadata(["z", "y", "x"], 1.0, 1.0, "micrometer", "second", "stack", 2, None, None,
                         "mean", ome_version=cfg.ome_version)  # linc's positional order
    ms = _multiscales(g)[0]
    assert len(ms["datasets"]) == 2 and ms["type"] == "mean" and ms["name"] == "stack"


def test_lightsheet_mosaic_4d_float64(cfg):
    """Light-sheet: (c, z, y, x) float64 mosaic written tile by tile with (c, z, y0:y1, :)."""
    cfg.no_time = True
    g = from_config(cfg.out, cfg)
    shape = (2, 20, 48, 40)
    arr = g.create_array("0", shape, "float64", zarr_config=cfg)
    assert arr.chunks[0] == 2  # channels kept whole (chunk_channels=False)
    rng = np.random.default_rng(1)
    ref = rng.random(shape)
    for c in range(2):
        for z in range(20):
            for y0 in range(0, 48, 24):
                arr[c, z, y0:y0 + 24, :] = ref[c, z, y0:y0 + 24, :]
    np.testing.assert_array_equal(arr[...], ref)
    shapes = g.generate_pyramid(levels=1, ndim=3)
    assert [tuple(s) for s in shapes] == [shape, (2, 10, 24, 20)]
    np.testing.assert_allclose(g["1"][...], ref.reshape(2, 10, 2, 24, 2, 20, 2).mean((2, 4, 6)))
    g.write_ome_metadata(["c", "z", "y", "x"], [1.0, 2.0, 3.0], ome_version=cfg.ome_version)
    axes = _multiscales(g)[0]["axes"]
    assert [a["name"] for a in axes] == ["c", "z", "y", "x"] and axes[0]["type"] == "channel"


def test_strip_from_dask_into_sharded_array(cfg):
    """Strips from a dask source: rechunk to the array's shards/chunks, da.store, and a
    dask value assigned with a key."""
    g = from_config(cfg.out, cfg)
    arr = g.create_array("0", [64, 48, 40], "<u2", zarr_config=cfg)
    ref = np.random.default_rng(2).integers(0, 4000, (64, 48, 40)).astype("u2")
    src = da.from_array(ref[:32], chunks=(7, 48, 40)).rechunk(arr.shards or arr.chunks)
    da.store(src, arr, regions=(slice(0, 32),), lock=False)
    arr[32:] = da.from_array(ref[32:].astype("i4"), chunks=(16, 48, 40))  # dask value, cast
    np.testing.assert_array_equal(arr[...], ref)
    g.generate_pyramid(mode="mean")
    assert g["1"].shards == arr.shards and g["1"].chunks == arr.chunks


def test_niizarr_writes_into_a_unizarr_group(cfg):
    """linc hands the group to nifti-zarr directly."""
    g = from_config(cfg.out, cfg)
    vol = np.arange(32 * 24 * 16, dtype="i2").reshape(32, 24, 16)
    g.create_array("0", vol.shape, vol.dtype, zarr_config=cfg, data=vol)
    g.generate_pyramid(levels=1)
    # what each nifti-zarr writes: rc8 offers 0.4/0.5, rc9 0.5/0.6 (Zarr v3 only)
    offered = typing.get_args(
        inspect.signature(niizarr.write_ome_metadata).parameters["ome_version"].annotation
    )
    if cfg.ome_version not in offered:
        before = g.attrs.asdict()
        with pytest.raises(ValueError, match=f"ome_version {cfg.ome_version}"):
            niizarr.write_ome_metadata(g, ["z", "y", "x"], [1.0, 1.0, 1.0],
                                       space_unit="millimeter", ome_version=cfg.ome_version)
        assert g.attrs.asdict() == before
        return
    niizarr.write_ome_metadata(g, ["z", "y", "x"], [1.0, 1.0, 1.0], space_unit="millimeter",
                               ome_version=cfg.ome_version)
    header = _nifti_header(vol.shape[::-1], (1.0, 1.0, 1.0), "<i2")
    niizarr.write_nifti_header(g, header)
    assert g.metadata.zarr_format == cfg.zarr_version
    assert "nifti" in g and g["nifti"].attrs["NIIHeaderSize"] == 348
    img = niizarr.zarr2nii(cfg.out)
    np.testing.assert_array_equal(np.asarray(img.dataobj), vol.transpose(2, 1, 0))
    assert uz.read_nifti_header(g)["dim"][1:4].tolist() == [16, 24, 32]


def test_store_path_and_from_config_type_agnostic(cfg):
    g = from_config(cfg.out, cfg)
    a = g.create_array("0", (4, 4, 4), "float32", zarr_config=cfg)
    assert g.store_path == g.path and a.store_path == a.url
    assert uz.open_array(a.store_path, "r", driver=cfg.driver).shape == (4, 4, 4)
