"""Damaged data raises :class:`~unizarr.CorruptDataError` and changes nothing on disk.

A driver maps what its engine raises on undecodable bytes through
``_translate_engine_error`` (the node model's default already maps the usual decoder
failures); these cases damage a stored chunk the way a crash or a bad copy does - cut
short, or overwritten with other bytes - and check that a read of it raises
``CorruptDataError`` naming the store (never plausible numbers, never the engine's own
exception), that the other blocks still read, and that the read changed no file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import unizarr as uz

from .base import DriverSuite, snapshot

#: Metadata files of both Zarr versions: everything else under an array is a block.
_METADATA = ("zarr.json", ".zarray", ".zattrs", ".zgroup")


def block_files(store: Path) -> list[Path]:
    """The stored chunk/shard files of the array at ``store``, in path order."""
    return sorted(f for f in store.rglob("*") if f.is_file() and f.name not in _METADATA)


def damage(victim: Path, how: str) -> None:
    """Damage one stored block: ``"truncated"`` keeps its first half (a write cut
    short), ``"garbage"`` replaces its bytes with as many others (a bad copy)."""
    raw = victim.read_bytes()
    if how == "truncated":
        victim.write_bytes(raw[: len(raw) // 2])
    else:
        victim.write_bytes(bytes((b + 0x5A) % 256 for b in raw))


class ErrorTests(DriverSuite):
    """Undecodable chunks raise ``CorruptDataError``; the disk is left as it was."""

    @pytest.mark.parametrize("how", ["truncated", "garbage"])
    @pytest.mark.parametrize("compressor", ["gzip", "zstd"])
    def test_damaged_compressed_chunk_is_corrupt_data(self, env, compressor, how):
        store = env.tmp / "a.zarr"
        data = np.arange(16 * 16, dtype="i4").reshape(16, 16) + 1
        uz.open_array(store, "w", driver=env.driver, zarr_version=env.zarr_version,
                      shape=(16, 16), dtype="i4", chunks=(4, 4), compressor=compressor,
                      data=data)
        arr = uz.open_array(store, "r", driver=env.driver)
        np.testing.assert_array_equal(arr[...], data)  # the driver reads what it wrote
        damage(block_files(store)[0], how)  # the chunk of [0:4, 0:4]
        before = snapshot(env.tmp)
        with pytest.raises(uz.CorruptDataError, match="a.zarr"):
            uz.open_array(store, "r", driver=env.driver)[0:4, 0:4]
        with pytest.raises(uz.CorruptDataError):
            arr[...]  # a handle opened before the damage too
        np.testing.assert_array_equal(arr[12:, 12:], data[12:, 12:])  # other blocks read
        assert snapshot(env.tmp) == before

    def test_truncated_shard_is_corrupt_data(self, driver, tmp_path):
        # Zarr v3 only (v2 has no shards): runs once per driver, not per version.
        if 3 not in self.zarr_versions:
            pytest.skip(f"{driver} does not write Zarr v3")
        store = tmp_path / "s.zarr"
        data = np.arange(16 * 16, dtype="u2").reshape(16, 16) + 1
        uz.open_array(store, "w", driver=driver, zarr_version=3, shape=(16, 16),
                      dtype="u2", chunks=(4, 4), shards=(8, 8), compressor="zstd", data=data)
        damage(block_files(store)[0], "truncated")  # the shard of [0:8, 0:8]
        before = snapshot(tmp_path)
        with pytest.raises(uz.CorruptDataError, match="s.zarr"):
            uz.open_array(store, "r", driver=driver)[0:8, 0:8]
        np.testing.assert_array_equal(
            uz.open_array(store, "r", driver=driver)[8:, 8:], data[8:, 8:]
        )
        assert snapshot(tmp_path) == before
