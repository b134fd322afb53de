"""Corrupted metadata documents give a clear unizarr error on every driver, write nothing,
and never hang or crash the interpreter."""

from __future__ import annotations

import json

import numpy as np
import pytest

import unizarr as uz
from tests.helpers import snapshot

V3_ARRAY_CORRUPTIONS = [
    b"",
    b"{",
    b"[1, 2]",
    b"\xff\xfe garbage",
    b'{"zarr_format": 3}',
    b'{"zarr_format": 3, "node_type": "array"}',
    b'{"zarr_format": 3, "node_type": "banana"}',
    b'{"zarr_format": 4, "node_type": "array"}',
]


def _field_corruptions(doc: dict) -> list[bytes]:
    out = []
    for key, bad in [("shape", [-1, 4]), ("shape", "x"), ("data_type", "float128x"), ("data_type", 7),
                     ("chunk_grid", {"name": "regular", "configuration": {"chunk_shape": [0, 4]}}),
                     ("chunk_grid", None), ("codecs", [{"name": "no-such-codec"}]), ("codecs", "x"),
                     ("fill_value", "not-a-number"), ("shape", [4, 4, 4])]:
        d = dict(doc)
        d[key] = bad
        out.append(json.dumps(d).encode())
    return out


def _expect_clean_error(fn):
    with pytest.raises((uz.UnizarrError, ValueError, TypeError, FileNotFoundError)) as info:
        fn()
    assert not isinstance(info.value, AssertionError)
    assert str(info.value)


def test_metadata_errors_are_metadata_errors(driver, tmp_path):
    g = uz.open_group(tmp_path / "c.zarr", "w", driver=driver, zarr_version=3)
    g.create_array("a", (4,), "f4")
    (tmp_path / "c.zarr" / "a" / "zarr.json").write_bytes(b"{")
    with pytest.raises(uz.MetadataError):
        g["a"]


def test_corrupted_v3_array_metadata(driver, tmp_path):
    g = uz.open_group(tmp_path / "c.zarr", "w", driver=driver, zarr_version=3)
    g.create_array("a", (4, 4), "f4", chunks=(2,), data=np.ones((4, 4)))
    meta = tmp_path / "c.zarr" / "a" / "zarr.json"
    good = json.loads(meta.read_text())
    for bad in V3_ARRAY_CORRUPTIONS + _field_corruptions(good):
        meta.write_bytes(bad)
        before = snapshot(tmp_path / "c.zarr")
        _expect_clean_error(lambda: uz.open_array(meta.parent, "r+", driver=driver)[...])
        _expect_clean_error(lambda: g["a"][...])
        assert snapshot(tmp_path / "c.zarr") == before, bad


def test_corrupted_v2_metadata(driver, tmp_path):
    g = uz.open_group(tmp_path / "c.zarr", "w", driver=driver, zarr_version=2)
    g.create_array("a", (4, 4), "f4", chunks=(2,), data=np.ones((4, 4)))
    zarray = tmp_path / "c.zarr" / "a" / ".zarray"
    good = json.loads(zarray.read_text())
    variants = [b"", b"{", b"null", b'{"zarr_format": 2}']
    for key, bad in [("dtype", "<q99"), ("chunks", [0, 2]), ("shape", None), ("compressor", {"id": "nope"}),
                     ("order", "Z"), ("fill_value", "abc")]:
        d = dict(good)
        d[key] = bad
        variants.append(json.dumps(d).encode())
    for bad in variants:
        zarray.write_bytes(bad)
        before = snapshot(tmp_path / "c.zarr")
        _expect_clean_error(lambda: uz.open_array(zarray.parent, "r+", driver=driver)[...])
        assert snapshot(tmp_path / "c.zarr") == before, bad


def test_corrupted_attributes(driver, zarr_version, tmp_path):
    g = uz.open_group(tmp_path / "c.zarr", "w", driver=driver, zarr_version=zarr_version)
    g.attrs["ok"] = 1
    target = tmp_path / "c.zarr" / (".zattrs" if zarr_version == 2 else "zarr.json")
    target.write_bytes(b"{not json")
    before = snapshot(tmp_path / "c.zarr")
    _expect_clean_error(lambda: dict(uz.open_group(tmp_path / "c.zarr", "r+", driver=driver).attrs))
    assert snapshot(tmp_path / "c.zarr") == before


def test_corrupted_chunk_and_shard_index(driver, tmp_path):
    g = uz.open_group(tmp_path / "c.zarr", "w", driver=driver, zarr_version=3)
    a = g.create_array("a", (8, 8), "u2", chunks=(4,), shards=(8,), data=np.arange(64, dtype="u2").reshape(8, 8))
    b = g.create_array("b", (8, 8), "u2", chunks=(4,), data=np.arange(64, dtype="u2").reshape(8, 8))
    shard = tmp_path / "c.zarr" / "a" / "c" / "0" / "0"
    raw = shard.read_bytes()
    shard.write_bytes(raw[:-10] + b"\x00" * 10)  # break the index (crc32c no longer matches)
    chunk = tmp_path / "c.zarr" / "b" / "c" / "0" / "0"
    chunk.write_bytes(b"definitely not blosc")
    for arr in (a, b):
        # the engine's decode error, or unizarr's pre-read check (zarr-python, blosc)
        with pytest.raises(uz.CorruptDataError, match="could not decode|damaged"):
            arr[...]
    with pytest.raises(uz.CorruptDataError):
        a[4:, 4:] = 1  # a partial write of the broken shard must read it first
    b[4:, 4:] = 1  # chunks other than the broken one still read and write
    np.testing.assert_array_equal(b[4:, 4:], 1)
