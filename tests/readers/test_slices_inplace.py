"""Uncompressed TIFF slices are read in place: a block reads only the rows it needs from
each file, straight into the block, and never decodes or caches whole slices. Every
case compares with the array tifffile wrote; the other layouts (planes of samples,
compressed, stepped keys) go through the whole-slice path and must agree too."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.adversarial.conftest import tree_hashes
from tests.readers.conftest import whole_slice_decodes
from unizarr.errors import CorruptDataError
from unizarr.readers import open_input


def _stack(folder: Path, data: np.ndarray, **write: object) -> None:
    folder.mkdir()
    for z, plane in enumerate(data):
        tifffile.imwrite(folder / f"z{z}.tif", plane, **write)




KEYS = [
    np.s_[:, :, :],
    np.s_[1:5, 8:40, 16:24],
    np.s_[0, 3, :],  # one row of one slice
    np.s_[2:3, -5:, :7],
    np.s_[:, 0:0, :],  # empty
    np.s_[5, 10:11, 33],
]


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_regions_read_in_place_equal_the_slices(tmp_path: Path, byteorder: str) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 65535, (6, 48, 40), dtype=np.uint16)
    _stack(tmp_path / "s", data, byteorder=byteorder)
    with open_input(tmp_path / "s") as vol:
        stack = vol.source
        assert len(stack.raw) == 6  # every slice is read in place
        calls = whole_slice_decodes(stack)
        for key in KEYS:
            np.testing.assert_array_equal(stack[key], data[key])
        np.testing.assert_array_equal(vol.read(), data)
        assert calls == []  # ... and none was decoded whole


def test_rgb_slices_in_place_and_planar_ones_decoded(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data = rng.integers(0, 255, (3, 20, 24, 3), dtype=np.uint8)
    _stack(tmp_path / "rgb", data, photometric="rgb")
    _stack(tmp_path / "planar", data, photometric="rgb", planarconfig="separate")
    with open_input(tmp_path / "rgb") as rgb, open_input(tmp_path / "planar") as planar:
        assert len(rgb.source.raw) == 3 and planar.source.raw == {}
        for vol in (rgb, planar):
            assert vol.axes == ("c", "z", "y", "x")
            np.testing.assert_array_equal(vol.read(), np.moveaxis(data, -1, 0))
            np.testing.assert_array_equal(vol.source[1, 4:9, 2:20, 1], data[1, 4:9, 2:20, 1])


def test_stepped_and_tiled_reads_take_the_whole_slice_path(tmp_path: Path) -> None:
    data = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    _stack(tmp_path / "raw", data)
    _stack(tmp_path / "lzw", data, compression="lzw", tile=(16, 16))
    with open_input(tmp_path / "raw") as raw, open_input(tmp_path / "lzw") as lzw:
        assert lzw.source.raw == {}
        calls = whole_slice_decodes(raw.source)
        np.testing.assert_array_equal(raw.source[:, ::3, 1:9], data[:, ::3, 1:9])
        assert len(calls) == 4  # a stepped row key: whole slices
        np.testing.assert_array_equal(lzw.source[1:3, 2:9, 4:5], data[1:3, 2:9, 4:5])


def test_slice_truncated_after_open_raises_naming_it(tmp_path: Path) -> None:
    """A slice cut short between open and read (a copy still running) raises with its
    name: never zeros or stale bytes in the block; the file is left as it is."""
    data = np.ones((3, 32, 32), np.uint16)
    _stack(tmp_path / "s", data)
    victim = tmp_path / "s" / "z1.tif"
    with open_input(tmp_path / "s") as vol:
        size = victim.stat().st_size
        os.truncate(victim, size - 100)
        before = tree_hashes(tmp_path / "s")
        np.testing.assert_array_equal(vol.source[:, :16, :], data[:, :16, :])  # rows intact
        with pytest.raises(CorruptDataError, match=r"z1\.tif is truncated"):
            vol.source[:, 16:, :]
        assert tree_hashes(tmp_path / "s") == before


@pytest.mark.parametrize(
    ("odd", "what"),
    [
        (np.zeros((32, 32), "int16"), "is 32x32 int16"),  # same file size, other type
        (np.zeros((16, 64), "uint16"), "is 16x64 uint16"),  # same size, other shape
        (np.zeros((32, 31), "uint16"), "is 32x31 uint16"),
    ],
)
def test_odd_slice_among_identical_headers_is_named(
    tmp_path: Path, odd: np.ndarray, what: str
) -> None:
    """Slices whose bytes outside the pixels equal the first slice's are not parsed
    again; any other header (same file size included) is parsed and compared."""
    _stack(tmp_path / "s", np.ones((6, 32, 32), np.uint16))
    tifffile.imwrite(tmp_path / "s" / "z4.tif", odd)
    with pytest.raises(ValueError, match=rf"z4\.tif {what}, the first slice .*z0\.tif is 32x32 uint16"):
        open_input(tmp_path / "s")


def test_slice_truncated_before_open_is_refused(tmp_path: Path) -> None:
    _stack(tmp_path / "s", np.ones((4, 32, 32), np.uint16))
    victim = tmp_path / "s" / "z2.tif"
    os.truncate(victim, victim.stat().st_size - 10)
    before = tree_hashes(tmp_path / "s")
    with pytest.raises(CorruptDataError, match=r"z2\.tif is truncated"):
        open_input(tmp_path / "s")
    assert tree_hashes(tmp_path / "s") == before


def test_same_headers_other_pixels_are_read(tmp_path: Path) -> None:
    """Twins share the header, never the pixels."""
    rng = np.random.default_rng(5)
    data = rng.integers(0, 65535, (8, 24, 40), dtype=np.uint16)
    _stack(tmp_path / "s", data)
    with open_input(tmp_path / "s") as vol:
        assert len(set(vol.source.raw.values())) == 1  # one layout, parsed once
        np.testing.assert_array_equal(vol.read(), data)


# -- compressed slices: strip by strip ---------------------------------------------------
@pytest.mark.parametrize(
    "write",
    [
        {"compression": "lzw", "rowsperstrip": 8},
        {"compression": "zlib", "predictor": True, "rowsperstrip": 5},  # uneven last strip
        {"compression": "zstd", "rowsperstrip": 64},  # one strip
        {"compression": "lzw", "rowsperstrip": 8, "photometric": "rgb"},
    ],
)
def test_compressed_regions_decode_only_their_strips(tmp_path: Path, write: dict) -> None:
    rng = np.random.default_rng(3)
    rgb = write.get("photometric") == "rgb"
    shape = (6, 37, 41, 3) if rgb else (6, 37, 41)
    data = rng.integers(0, 255 if rgb else 65535, shape).astype("uint8" if rgb else "uint16")
    _stack(tmp_path / "s", data, **write)
    with open_input(tmp_path / "s") as vol:
        stack = vol.source
        assert len(stack.raw) == 6 and len({sp.decode for sp in stack.raw.values()}) == 1
        whole = whole_slice_decodes(stack)
        decoded: list[tuple[str, int]] = []
        real = stack._strip.__func__

        def counting(self, path, sp, index):
            if (path, index) not in self._cache:
                decoded.append((path, index))
            return real(self, path, sp, index)

        stack._strip = counting.__get__(stack)
        for key in KEYS:
            key = key + (slice(None),) if rgb else key
            np.testing.assert_array_equal(stack[key], data[key])
        decoded.clear()
        stack._cache.clear()
        stack._cached = 0
        got = stack[1:3, 9:17, 4:20]
        np.testing.assert_array_equal(got, data[1:3, 9:17, 4:20])
        rows = write["rowsperstrip"]
        assert len(decoded) == 2 * (16 // rows - 9 // rows + 1)  # the strips of rows 9-16
        np.testing.assert_array_equal(vol.read(), np.moveaxis(data, -1, 0) if rgb else data)
        assert whole == []


def test_compressed_slices_with_other_tags_keep_their_own_decoder(tmp_path: Path) -> None:
    """A slice compressed otherwise than the first decodes with its own tags."""
    data = np.arange(4 * 20 * 16, dtype=np.uint16).reshape(4, 20, 16)
    _stack(tmp_path / "s", data, compression="lzw", rowsperstrip=4)
    tifffile.imwrite(tmp_path / "s" / "z2.tif", data[2], compression="zlib", predictor=True,
                     rowsperstrip=7)
    with open_input(tmp_path / "s") as vol:
        assert len({sp.decode for sp in vol.source.raw.values()}) == 2
        np.testing.assert_array_equal(vol.read(), data)
        np.testing.assert_array_equal(vol.source[:, 5:15, 3:9], data[:, 5:15, 3:9])


def test_damaged_strip_raises_naming_the_slice(tmp_path: Path) -> None:
    data = np.random.default_rng(4).integers(0, 65535, (3, 32, 32), dtype=np.uint16)
    _stack(tmp_path / "s", data, compression="zlib", rowsperstrip=8)
    victim = tmp_path / "s" / "z1.tif"
    with open_input(tmp_path / "s") as vol:
        sp = vol.source.raw[str(victim)]
        raw = bytearray(victim.read_bytes())
        off = int(sp.offsets[2])
        raw[off:off + 16] = b"\\xff" * 16  # strip 2 (rows 16-23) no longer inflates
        victim.write_bytes(bytes(raw))
        before = tree_hashes(tmp_path / "s")
        np.testing.assert_array_equal(vol.source[:, :16, :], data[:, :16, :])
        with pytest.raises(CorruptDataError, match=r"strip 2 of the slice .*z1\.tif"):
            vol.source[:, 10:20, :]
        assert tree_hashes(tmp_path / "s") == before
