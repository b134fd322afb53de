"""Imaris reader: ``.ims`` files written with h5py in Imaris' layout (attributes as
arrays of single bytes, chunk-padded datasets, lower resolution levels present), read
back through ``unizarr.readers.imaris`` and compared."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import unizarr as uz  # noqa: E402
from tests.adversarial.conftest import tree_hashes  # noqa: E402
from unizarr.errors import CorruptDataError, MetadataError  # noqa: E402
from unizarr.readers import imaris  # noqa: E402


def _a(text) -> np.ndarray:
    """An attribute as Imaris writes it: an array of 1-byte strings."""
    return np.array([c.encode() for c in str(text)], dtype="S1")


def write_ims(path, data: np.ndarray, voxel=(2.0, 0.5, 0.25), unit="um",
              names=None, origin=(-10.0, 5.0, 1.5), times=None, pad=(4, 8, 8)) -> None:
    """``data`` is (t, c, z, y, x); voxel is (z, y, x)."""
    nt, nc, nz, ny, nx = data.shape
    with h5py.File(path, "w") as f:
        f.attrs["ImarisDataSet"] = _a("ImarisDataSet")
        f.attrs["ImarisVersion"] = _a("5.5.0")
        f.attrs["DataSetDirectoryName"] = _a("DataSet")
        f.attrs["DataSetInfoDirectoryName"] = _a("DataSetInfo")
        for level, step in ((0, 1), (1, 2)):
            for t in range(nt):
                for c in range(nc):
                    g = f.create_group(f"DataSet/ResolutionLevel {level}/TimePoint {t}/Channel {c}")
                    block = data[t, c, ::step, ::step, ::step]
                    size = block.shape
                    padded = tuple(-(-n // p) * p for n, p in zip(size, pad))
                    full = np.zeros(padded, dtype=data.dtype)
                    full[: size[0], : size[1], : size[2]] = block
                    full[size[0]:] = 77    # padding holds junk in real files too
                    g.create_dataset("Data", data=full, chunks=pad, compression="gzip")
                    for axis, n in zip("ZYX", size):
                        g.attrs[f"ImageSize{axis}"] = _a(n)
                    g.attrs["HistogramMin"] = _a("0.000")
        info = f.create_group("DataSetInfo/Image")
        for axis, n in zip("ZYX", (nz, ny, nx)):
            info.attrs[axis] = _a(n)
        for k, axis in enumerate("XYZ"):
            i = "ZYX".index(axis)
            lo = origin[i]
            info.attrs[f"ExtMin{k}"] = _a(f"{lo:.3f}")
            info.attrs[f"ExtMax{k}"] = _a(f"{lo + voxel[i] * data.shape[2 + i]:.3f}")
        if unit is not None:
            info.attrs["Unit"] = _a(unit)
        for c in range(nc):
            ch = f.create_group(f"DataSetInfo/Channel {c}")
            if names:
                ch.attrs["Name"] = _a(names[c])
            ch.attrs["Color"] = _a("1.000 0.000 0.000")
        ti = f.create_group("DataSetInfo/TimeInfo")
        ti.attrs["DatasetTimePoints"] = _a(nt)
        for t, stamp in enumerate(times or []):
            ti.attrs[f"TimePoint{t + 1}"] = _a(stamp)


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 60000, size=(2, 3, 5, 13, 11), dtype=np.uint16)


def test_sniff(tmp_path, data):
    write_ims(tmp_path / "a.ims", data)
    assert imaris.sniff(str(tmp_path / "a.ims"))
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    assert not imaris.sniff(str(tmp_path / "other.h5"))
    (tmp_path / "text.ims").write_text("not hdf5")
    assert not imaris.sniff(str(tmp_path / "text.ims"))
    assert not imaris.sniff(str(tmp_path / "missing.ims"))
    assert not imaris.sniff(str(tmp_path))


def test_channels_times_voxel_size_names(tmp_path, data):
    write_ims(tmp_path / "a.ims", data, names=["DAPI", "GFP", "Cy5"],
              times=["2021-05-04 10:00:00.000", "2021-05-04 10:00:30.500"])
    vol = imaris.open_volume(str(tmp_path / "a.ims"))
    assert vol.axes == ("t", "c", "z", "y", "x")
    assert vol.shape == data.shape and vol.dtype == np.uint16
    np.testing.assert_array_equal(vol.read(), data)
    np.testing.assert_allclose(vol.space_scale, (2.0, 0.5, 0.25))
    assert vol.space_unit == "micrometer"
    assert vol.channel_names == ("DAPI", "GFP", "Cy5")
    assert vol.time_scale == pytest.approx(30.5) and vol.time_unit == "second"
    assert vol.affine is None and vol.format == "Imaris" and vol.name == "a"


def test_single_channel_single_time_drops_axes(tmp_path, data):
    write_ims(tmp_path / "b.ims", data[:1, 1:2], unit="nm")
    vol = imaris.open_volume(str(tmp_path / "b.ims"))
    assert vol.axes == ("z", "y", "x")
    np.testing.assert_array_equal(vol.read(), data[0, 1])
    assert vol.space_unit == "nanometer"
    assert vol.channel_names == ("Channel 0",)
    assert vol.time_unit is None
    np.testing.assert_array_equal(vol.read_region((slice(1, 4), slice(2, 9), slice(0, 3))),
                                  data[0, 1, 1:4, 2:9, 0:3])


def test_region_reads_are_cropped_and_lazy(tmp_path, data):
    write_ims(tmp_path / "a.ims", data[:, :2])
    vol = imaris.open_volume(str(tmp_path / "a.ims"))
    np.testing.assert_array_equal(
        vol.read_region((slice(1, 2), slice(0, 2), slice(3, 5), slice(10, 13), slice(4, 11))),
        data[1:2, :2, 3:5, 10:13, 4:11],
    )
    # the file is opened on the first read, not before, and pickles without its handle
    clone = pickle.loads(pickle.dumps(vol.source))
    np.testing.assert_array_equal(clone[0, 1, 4], data[0, 1, 4])
    vol.close()


def test_missing_channel_data_is_metadata_error(tmp_path, data):
    path = tmp_path / "a.ims"
    write_ims(path, data)
    with h5py.File(path, "a") as f:
        del f["DataSet/ResolutionLevel 0/TimePoint 1/Channel 2/Data"]
    before = tree_hashes(tmp_path)
    with pytest.raises(MetadataError, match="TimePoint 1/Channel 2/Data is missing"):
        imaris.open_volume(str(path))
    assert tree_hashes(tmp_path) == before


def test_not_imaris(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["a"] = 1
    with pytest.raises(ValueError, match="not an Imaris file"):
        imaris.open_volume(str(tmp_path / "x.h5"))
    (tmp_path / "y.ims").write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="cannot open .*y.ims"):
        imaris.open_volume(str(tmp_path / "y.ims"))


def test_damaged_chunk_raises(tmp_path, data):
    path = tmp_path / "a.ims"
    write_ims(path, data[:1, :1], pad=(5, 13, 11))
    vol = imaris.open_volume(str(path))
    with h5py.File(path, "r") as f:
        d = f["DataSet/ResolutionLevel 0/TimePoint 0/Channel 0/Data"]
        offset = d.id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 10: offset + 60] = b"\xff" * 50      # scramble the gzip stream
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match="a.ims"):
        vol.read()


def test_write_through_open_group(tmp_path, data, driver, zarr_version):
    write_ims(tmp_path / "a.ims", data)
    vol = imaris.open_volume(str(tmp_path / "a.ims"))
    g = uz.open_group(str(tmp_path / "out.zarr"), mode="w", driver=driver,
                      zarr_version=zarr_version)
    # through dask, block by block: every block a separate region read of the file
    g.create_array("0", data=vol.to_dask((1, 2, 4, 8, 8)), chunks=(1, 1, 4, 8, 8))
    back = uz.open_group(str(tmp_path / "out.zarr"), mode="r", driver=driver)["0"][...]
    np.testing.assert_array_equal(back, data)
