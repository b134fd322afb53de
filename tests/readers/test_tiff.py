"""TIFF reader: compressed strips/tiles, BigTIFF, OME-TIFF (channels, physical sizes,
units, channel names, pyramids), several series; written with tifffile, compared after
``unizarr convert`` on both drivers or after opening."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.readers.conftest import layout_args, level0, ome_of, scale_units
from unizarr.readers import detect_reader, open_input


def _data(shape, dtype="uint16") -> np.ndarray:
    return (np.arange(math.prod(shape)) * 7919 % 60000).astype(dtype).reshape(shape)


@pytest.mark.parametrize(
    ("compression", "dtype"),
    [("lzw", "uint16"), ("deflate", "uint16"), ("zstd", "uint16"), ("packbits", "uint8"),
     ("lzma", "float32"), ("jpeg", "uint8")],
)
def test_compressed_tiff_reads_what_tifffile_reads(tmp_path: Path, compression: str, dtype: str) -> None:
    data = _data((6, 40, 50), dtype)
    path = tmp_path / f"{compression}.tif"
    tifffile.imwrite(path, data, compression=compression, tile=(16, 16) if compression != "jpeg" else None)
    expected = tifffile.imread(path)  # JPEG is lossy: the oracle is the decoded file
    if compression != "jpeg":
        np.testing.assert_array_equal(expected, data)
    with open_input(path) as vol:
        np.testing.assert_array_equal(vol.read(), expected)


def test_bigtiff(tmp_path: Path) -> None:
    data = _data((5, 30, 20))
    tifffile.imwrite(tmp_path / "big.tif", data, bigtiff=True, compression="lzw")
    with open_input(tmp_path / "big.tif") as vol:
        assert "BigTIFF" in vol.format
        np.testing.assert_array_equal(vol.read(), data)


def _ome_tiff(path: Path, data: np.ndarray, **extra) -> None:
    tifffile.imwrite(path, data, ome=True, compression="lzw", metadata={
        "axes": "CZYX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325,
        "PhysicalSizeZ": 2.0, "PhysicalSizeZUnit": "µm",
        "Channel": {"Name": ["DAPI", "GFP", "RFP"]}, **extra,
    })


def test_ome_tiff_convert_keeps_channels_sizes_units_names(
    tmp_path: Path, convert, driver: str, zarr_version: int
) -> None:
    data = _data((3, 8, 24, 32))
    _ome_tiff(tmp_path / "cells.ome.tif", data)
    out = tmp_path / "cells.zarr"
    code, _, err = convert(tmp_path / "cells.ome.tif", out, "--quiet",
                           *layout_args(driver, zarr_version))
    assert code == 0, err
    np.testing.assert_array_equal(level0(out), data)
    scale, units = scale_units(out)
    assert scale == pytest.approx([1.0, 2.0, 0.325, 0.325])
    assert units["x"] == units["z"] == "micrometer"
    labels = [c["label"] for c in ome_of(out)["omero"]["channels"]]
    assert labels == ["DAPI", "GFP", "RFP"]
    import unizarr as uz
    from unizarr.io.report import validate_store

    findings = validate_store(uz.open_group(out, "r"))
    assert not [f for f in findings if f["severity"] == "error"], findings


def test_pyramidal_ome_tiff_reads_full_resolution(tmp_path: Path) -> None:
    data = _data((64, 80), "uint16")
    with tifffile.TiffWriter(tmp_path / "pyr.ome.tif") as tw:
        tw.write(data, subifds=2, tile=(16, 16), metadata={"axes": "YX"})
        tw.write(data[::2, ::2], subfiletype=1, tile=(16, 16))
        tw.write(data[::4, ::4], subfiletype=1, tile=(16, 16))
    with tifffile.TiffFile(tmp_path / "pyr.ome.tif") as tif:
        assert len(tif.series[0].levels) == 3
    with open_input(tmp_path / "pyr.ome.tif") as vol:
        assert vol.shape == (64, 80)
        np.testing.assert_array_equal(vol.read(), data)


def _two_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    a, b = _data((4, 20, 30)), _data((2, 10, 12), "uint8")
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(a, metadata={"axes": "ZYX", "Name": "big"})
        tw.write(b, metadata={"axes": "ZYX", "Name": "small"})
    return a, b


def test_several_series_need_a_choice(tmp_path: Path) -> None:
    _two_series(tmp_path / "two.ome.tif")
    with pytest.raises(ValueError, match=r"holds 2 images .*0: 'big' 4x20x30 uint16.*1: 'small'.*--series"):
        open_input(tmp_path / "two.ome.tif")


@pytest.mark.parametrize("index", [0, 1])
def test_series_n_converts_that_series(
    tmp_path: Path, convert, driver: str, zarr_version: int, index: int
) -> None:
    pair = _two_series(tmp_path / "two.ome.tif")
    out = tmp_path / "one.zarr"
    code, _, err = convert(tmp_path / "two.ome.tif", out, "--series", index, "--quiet",
                           *layout_args(driver, zarr_version))
    assert code == 0, err
    np.testing.assert_array_equal(level0(out), pair[index])


def test_series_out_of_range(tmp_path: Path) -> None:
    _two_series(tmp_path / "two.ome.tif")
    with pytest.raises(ValueError, match="--series 2 .* series 0..1"):
        open_input(tmp_path / "two.ome.tif", series=2)


def test_dicom_preamble_is_not_taken_for_a_tiff(tmp_path: Path) -> None:
    """A DICOM file may carry anything in its 128-byte preamble, even a TIFF header."""
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((4, 4), "uint8"))
    head = (tmp_path / "t.tif").read_bytes()[:128].ljust(128, b"\0")
    (tmp_path / "scan.dcm").write_bytes(head + b"DICM" + b"\x02\x00\x00\x00" * 8)
    from unizarr.readers import tiff

    assert tiff.sniff(str(tmp_path / "t.tif"))
    assert not tiff.sniff(str(tmp_path / "scan.dcm"))
    assert detect_reader(tmp_path / "t.tif") == "tiff"


def test_series_all_writes_a_bioformats2raw_collection(
    tmp_path: Path, convert, driver: str, zarr_version: int
) -> None:
    a, b = _two_series(tmp_path / "two.ome.tif")
    out = tmp_path / "all.zarr"
    code, _, err = convert(tmp_path / "two.ome.tif", out, "--series", "all", "--quiet",
                           *layout_args(driver, zarr_version))
    assert code == 0, err
    np.testing.assert_array_equal(level0(out / "0"), a)
    np.testing.assert_array_equal(level0(out / "1"), b)
    root = ome_of(out)
    assert root["bioformats2raw.layout"] == 3
    assert ome_of(out / "OME")["series"] == ["0", "1"]
    assert "multiscales" in ome_of(out / "1")
    # the independent validator of the layout
    import zarr
    from ome_zarr_models import v04, v05

    model = (v04 if zarr_version == 2 else v05).bioformats2raw.BioFormats2Raw
    collection = model.from_zarr(zarr.open_group(str(out), mode="r"))
    assert len(collection.images) == 2


def test_series_all_on_a_single_image_reader_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((2, 3, 4)))
    from unizarr.readers import count_series

    with pytest.raises(ValueError, match="--series all does not apply"):
        count_series(tmp_path / "v.npy")
