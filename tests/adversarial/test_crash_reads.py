"""Crash leftovers: an empty (0-byte) or truncated chunk/shard file raises
CorruptDataError on read, on both drivers, v2 and v3, sharded or not. A missing block
is not damage: it reads as the fill value."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

import unizarr as uz

LAYOUTS = [
    pytest.param(None, "blosc", id="chunked-blosc"),
    pytest.param(None, "zstd", id="chunked-zstd"),
    pytest.param(None, "gzip", id="chunked-gzip"),
    pytest.param(None, None, id="chunked-raw"),
    pytest.param((8, 8), "blosc", id="sharded-blosc"),
    pytest.param((8, 8), None, id="sharded-raw"),
]


def _array(tmp_path, driver, zarr_version, shards, compressor):
    if shards is not None and zarr_version == 2:
        pytest.skip("Zarr v2 has no sharding")  # pragma: no cover - filtered below
    p = tmp_path / "a.zarr"
    data = np.arange(16 * 16, dtype="i4").reshape(16, 16) + 1
    uz.open_array(p, "w", driver=driver, zarr_version=zarr_version, shape=(16, 16),
                  dtype="i4", chunks=(4, 4), shards=shards, compressor=compressor, data=data)
    blocks = sorted(
        f for f in glob.glob(f"{p}/**", recursive=True)
        if os.path.isfile(f) and os.path.basename(f) not in ("zarr.json", ".zarray", ".zattrs")
    )
    return p, blocks


def _cases():
    for shards, comp in [(lp.values[0], lp.values[1]) for lp in LAYOUTS]:
        for v in (2, 3):
            if shards is not None and v == 2:
                continue
            yield pytest.param(v, shards, comp, id=f"v{v}-{'sharded' if shards else 'chunked'}-{comp}")


@pytest.mark.parametrize("damage", ["empty", "truncated"])
@pytest.mark.parametrize("version,shards,compressor", list(_cases()))
def test_damaged_block_raises(driver, version, shards, compressor, damage, tmp_path, hashes):
    p, blocks = _array(tmp_path, driver, version, shards, compressor)
    victim = blocks[0]
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        f.truncate(0 if damage == "empty" else size // 2)
    before = hashes(p)
    arr = uz.open_array(p, "r", driver=driver)
    with pytest.raises(uz.CorruptDataError, match="a.zarr"):
        arr[...]
    with pytest.raises(uz.CorruptDataError):
        arr[0:2, 0:2]  # a read of only the damaged block
    np.testing.assert_array_equal(arr[12:, 12:], (np.arange(256).reshape(16, 16) + 1)[12:, 12:])
    assert hashes(p) == before  # reading never "repairs" anything


def test_missing_block_reads_the_fill_value(driver, zarr_version, tmp_path, hashes):
    p, blocks = _array(tmp_path, driver, zarr_version, None, "zstd")
    os.unlink(blocks[0])
    arr = uz.open_array(p, "r", driver=driver)
    out = arr[...]
    assert (out[:4, :4] == 0).all() and out[4, 4] == 4 * 16 + 4 + 1


def test_delete_block_then_read_is_the_fill_value(driver, tmp_path):
    p, blocks = _array(tmp_path, driver, 3, (8, 8), "blosc")
    with open(blocks[0], "r+b") as f:
        f.truncate(0)
    arr = uz.open_array(p, "r+", driver=driver)
    with pytest.raises(uz.CorruptDataError, match="delete_block"):
        arr[...]
    arr.delete_block((0, 0))
    assert (arr[:8, :8] == 0).all()
