"""One error type per failure class, on both drivers and both Zarr versions: bad
metadata -> MetadataError naming the file; an impossible allocation -> MemoryError
before the engine is called (TensorStore would abort the interpreter)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import unizarr as uz


def _mutate(doc: dict, version: int, case: str) -> None:
    v3 = version == 3
    if case == "shape-is-a-string":
        doc["shape"] = "abc"
    elif case == "negative-shape":
        doc["shape"] = [-3]
    elif case == "dtype-is-a-number":
        doc["data_type" if v3 else "dtype"] = 5
    elif case == "unknown-codec":
        if v3:
            doc["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}},
                             {"name": "no-such-codec"}]
        else:
            doc["compressor"] = {"id": "no-such-codec"}
    elif case == "fill-value-of-wrong-type":
        doc["fill_value"] = "not-a-number"
    elif case == "zero-chunks":
        if v3:
            doc["chunk_grid"]["configuration"]["chunk_shape"] = [0]
        else:
            doc["chunks"] = [0]


CASES = ["shape-is-a-string", "negative-shape", "dtype-is-a-number", "unknown-codec",
         "fill-value-of-wrong-type", "zero-chunks", "absurd-nesting"]


@pytest.mark.parametrize("case", CASES)
def test_bad_array_metadata_is_a_metadata_error(driver, zarr_version, case, tmp_path, hashes):
    p = tmp_path / "a.zarr"
    uz.open_array(p, "w", driver=driver, zarr_version=zarr_version, shape=(8,), dtype="i4",
                  data=np.arange(8))
    meta = p / ("zarr.json" if zarr_version == 3 else ".zarray")
    if case == "absurd-nesting":
        meta.write_text("[" * 100_000 + "]" * 100_000)
    else:
        doc = json.loads(meta.read_text())
        _mutate(doc, zarr_version, case)
        meta.write_text(json.dumps(doc))
    before = hashes(p)
    with pytest.raises(uz.MetadataError) as info:
        uz.open_array(p, "r", driver=driver)[...]
    assert str(meta) in str(info.value) and "\n" not in str(info.value)
    assert hashes(p) == before


def test_absurdly_nested_attributes_are_a_metadata_error(driver, zarr_version, tmp_path, hashes):
    p = tmp_path / "g.zarr"
    uz.open_group(p, "w", driver=driver, zarr_version=zarr_version).attrs["a"] = 1
    if zarr_version == 2:
        (p / ".zattrs").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    else:
        (p / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": '
                                     + "[" * 100_000 + "]" * 100_000 + "}")
    before = hashes(p)
    with pytest.raises(uz.MetadataError, match="nests JSON"):
        dict(uz.open_group(p, "r", driver=driver).attrs)
    assert hashes(p) == before


def test_impossible_read_is_a_memory_error(driver, zarr_version, tmp_path, hashes):
    p = tmp_path / "huge.zarr"
    arr = uz.open_array(p, "w", driver=driver, zarr_version=zarr_version,
                        shape=(10**6,) * 3, dtype="f8", chunks=(64,) * 3)
    before = hashes(p)
    with pytest.raises(MemoryError, match="in slices"):
        arr[...]
    with pytest.raises(MemoryError):
        np.asarray(arr)
    assert arr[:2, :2, :2].shape == (2, 2, 2)  # a sensible read still works
    assert hashes(p) == before


def test_impossible_write_is_a_memory_error(driver, zarr_version, tmp_path, hashes):
    p = tmp_path / "huge.zarr"
    arr = uz.open_array(p, "w", driver=driver, zarr_version=zarr_version,
                        shape=(10**6,) * 3, dtype="u1", chunks=(64,) * 3)
    before = hashes(p)
    with pytest.raises(MemoryError):
        arr[...] = 1
    assert hashes(p) == before
    assert os.listdir(p) == [("zarr.json" if zarr_version == 3 else ".zarray")]
