"""Folders of 2-D slices (TIFF, PNG, JPEG 2000) with tagged names: written with tifffile /
imagecodecs, placed on z/c/t by ``pattern``, compared after ``unizarr convert``."""

from __future__ import annotations

import math
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile

from tests.readers.conftest import layout_args, level0, scale_units, whole_slice_decodes
from unizarr.readers import open_input


def _data(shape, dtype="uint16") -> np.ndarray:
    return (np.arange(math.prod(shape)) * 7919 % 60000).astype(dtype).reshape(shape)


def _tagged(folder: Path, data: np.ndarray) -> None:
    """(c, z, y, x) as ``sample_c{c}_z{z}.tif``, unpadded: z10 sorts before z2 as text."""
    folder.mkdir()
    for c in range(data.shape[0]):
        for z in range(data.shape[1]):
            tifffile.imwrite(folder / f"sample_c{c}_z{z}.tif", data[c, z], compression="lzw",
                             resolution=(1 / 0.0004, 1 / 0.0004), resolutionunit="CENTIMETER")
    (folder / "notes.txt").write_text("not a slice")


def test_template_pattern_places_channels_and_z(
    tmp_path: Path, convert, driver: str, zarr_version: int
) -> None:
    data = _data((2, 12, 10, 14))
    _tagged(tmp_path / "stack", data)
    out = tmp_path / "out.zarr"
    code, _, err = convert(tmp_path / "stack", out, "--pattern", "{name}_c{c}_z{z}.tif",
                           "--quiet", *layout_args(driver, zarr_version))
    assert code == 0, err
    np.testing.assert_array_equal(level0(out), data)
    scale, units = scale_units(out)
    assert scale[-2:] == pytest.approx([0.004, 0.004])  # 0.0004 cm in millimetres
    assert units["x"] == "millimeter"


def test_regex_pattern_and_glob(tmp_path: Path) -> None:
    data = _data((2, 5, 6, 7))
    _tagged(tmp_path / "stack", data)
    pattern = r"sample_c(?P<c>\d+)_z(?P<z>\d+)\.tif"
    with open_input(tmp_path / "stack" / "*.tif", pattern=pattern) as vol:
        assert vol.axes == ("c", "z", "y", "x")
        np.testing.assert_array_equal(vol.read(), data)


def test_pattern_indices_may_start_at_one(tmp_path: Path) -> None:
    data = _data((4, 6, 7))
    (tmp_path / "s").mkdir()
    for z in range(4):
        tifffile.imwrite(tmp_path / "s" / f"img_{z + 1}.tif", data[z])
    with open_input(tmp_path / "s", pattern="img_{z}.tif") as vol:
        np.testing.assert_array_equal(vol.read(), data)


def test_gap_is_an_error_naming_the_missing_index(tmp_path: Path) -> None:
    _tagged(tmp_path / "stack", _data((1, 6, 5, 5)))
    (tmp_path / "stack" / "sample_c0_z3.tif").unlink()
    with pytest.raises(ValueError, match=r"z = 3 missing between z = 0 and 5"):
        open_input(tmp_path / "stack", pattern="{name}_c{c}_z{z}.tif")


def test_incomplete_grid_is_an_error(tmp_path: Path) -> None:
    _tagged(tmp_path / "stack", _data((2, 4, 5, 5)))
    (tmp_path / "stack" / "sample_c1_z2.tif").unlink()
    with pytest.raises(ValueError, match=r"no file at \{'c': 1, 'z': 2\}"):
        open_input(tmp_path / "stack", pattern="{name}_c{c}_z{z}.tif")


def test_duplicate_is_an_error_naming_both_files(tmp_path: Path) -> None:
    _tagged(tmp_path / "stack", _data((1, 4, 5, 5)))
    tifffile.imwrite(tmp_path / "stack" / "sample_c0_z01.tif", _data((5, 5)))
    with pytest.raises(ValueError, match=r"sample_c0_z1.tif and .*sample_c0_z01.tif|"
                                         r"sample_c0_z01.tif and .*sample_c0_z1.tif"):
        open_input(tmp_path / "stack", pattern="{name}_c{c}_z{z}.tif")


def test_pattern_without_axis_is_refused(tmp_path: Path) -> None:
    _tagged(tmp_path / "stack", _data((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="names no axis"):
        open_input(tmp_path / "stack", pattern="{name}.tif")


@pytest.mark.parametrize(
    ("odd", "what"),
    [(np.zeros((5, 6), "uint16"), "is 5x6 uint16"), (np.zeros((5, 5), "uint8"), "is 5x5 uint8")],
)
def test_one_mismatched_slice_is_named(
    tmp_path: Path, capsys, odd: np.ndarray, what: str
) -> None:
    from unizarr.cli import main

    _tagged(tmp_path / "stack", _data((1, 6, 5, 5)))
    tifffile.imwrite(tmp_path / "stack" / "sample_c0_z4.tif", odd)
    out = tmp_path / "out.zarr"
    code = main(["convert", str(tmp_path / "stack"), str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "sample_c0_z4.tif" in err and what in err and "5x5 uint16" in err
    assert not out.exists()


def test_png_slices(tmp_path: Path) -> None:
    data = _data((5, 9, 11), "uint16")
    (tmp_path / "png").mkdir()
    for z, plane in enumerate(data):
        (tmp_path / "png" / f"s{z}.png").write_bytes(imagecodecs.png_encode(plane))
    with open_input(tmp_path / "png") as vol:
        assert vol.format == "PNG stack of 5 files"
        np.testing.assert_array_equal(vol.read(), data)


@pytest.mark.parametrize("suffix", [".jp2", ".j2k"])
def test_jpeg2000_slices_lossless(tmp_path: Path, suffix: str) -> None:
    data = _data((4, 16, 12), "uint16")
    (tmp_path / "j").mkdir()
    codec = imagecodecs.JPEG2K.CODEC.JP2 if suffix == ".jp2" else imagecodecs.JPEG2K.CODEC.J2K
    for z, plane in enumerate(data):
        (tmp_path / "j" / f"s{z}{suffix}").write_bytes(
            imagecodecs.jpeg2k_encode(plane, level=0, codecformat=codec)
        )
    with open_input(tmp_path / "j") as vol:
        assert vol.shape == (4, 16, 12) and vol.dtype == np.uint16
        np.testing.assert_array_equal(vol.read(), data)


def test_blocks_of_one_slab_decode_each_slice_once(tmp_path: Path) -> None:
    """Tiled slices are decoded whole: the blocks of one slab share a cache."""
    data = _data((4, 32, 32))
    (tmp_path / "s").mkdir()
    for z, plane in enumerate(data):
        tifffile.imwrite(tmp_path / "s" / f"z{z}.tif", plane, compression="zlib",
                         tile=(16, 16))
    with open_input(tmp_path / "s") as vol:
        stack = vol.source
        calls = whole_slice_decodes(stack)
        for y in range(0, 32, 8):
            for x in range(0, 32, 8):
                np.testing.assert_array_equal(
                    vol.read_region((slice(0, 4), slice(y, y + 8), slice(x, x + 8))),
                    data[:, y:y + 8, x:x + 8],
                )
        assert len(calls) == 64  # 16 blocks x 4 slices asked ...
        assert len(stack._cache) == 4  # ... and each file decoded into the cache once


def _peak_rss_mib(cmd: list[str]) -> float:
    """Peak resident memory of one real child process (its own rusage)."""
    import os
    import subprocess

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert os.waitstatus_to_exitcode(status) == 0, err
    return usage.ru_maxrss / 1024


def test_slice_cache_stays_within_max_memory(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    """The decoded-slice cache is a share of --max-memory: converting 128 MiB of slices
    with a 16 MiB budget costs about the same memory as converting 4 slices (a fixed
    256 MiB cache would keep all 128 MiB of decoded slices)."""
    import sys

    rng = np.random.default_rng(0)
    plane = rng.integers(0, 60000, size=(256, 256)).astype("uint16")
    for name, n in (("big", 1024), ("tiny", 4)):
        (tmp_path / name).mkdir()
        for z in range(n):
            tifffile.imwrite(tmp_path / name / f"z{z}.tif", np.roll(plane, z, axis=1))
    layout = ["--driver", driver, "--zarr-version", str(zarr_version), "--chunk", "32,256,256",
              "--levels", "1", "--max-memory", "16M", "--quiet"]
    peaks = {}
    for name in ("tiny", "big"):
        peaks[name] = _peak_rss_mib([sys.executable, "-m", "unizarr.cli", "convert",
                                     str(tmp_path / name), str(tmp_path / f"{name}.zarr"),
                                     *layout])
    assert peaks["big"] - peaks["tiny"] < 64, peaks
    got = level0(tmp_path / "big.zarr")
    assert got.shape == (1024, 256, 256)
    np.testing.assert_array_equal(got[1000], np.roll(plane, 1000, axis=1))
