"""The natural sequence ``create_array("0", data=volume)`` -> ``generate_pyramid`` reads
``volume`` instead of decompressing level 0 again (unizarr.level0_reuse), with exactly
the stores the stored-level-0 path writes, and falls back whenever the volume might no
longer be level 0's content."""

from __future__ import annotations

import gc
import subprocess
import sys
import uuid
import weakref
from pathlib import Path
from typing import Any

import numpy as np

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import random_volume, readonly_memmap
from unizarr import level0_reuse
from unizarr.pyramid import downsample

SHAPE = (37, 50, 44)  # odd sizes: partial edge chunks and odd ends at every level
CHUNKS = (16, 16, 16)
SHARDS = (32, 32, 32)
LEVELS = 3


def _volume(dtype: Any = np.uint16, seed: int = 0) -> np.ndarray:
    return random_volume(SHAPE, dtype, seed)


def _build(
    root: Path, data: Any, driver: str, zarr_version: int, shards: Any = None
) -> uz.ZarrGroup:
    """The natural call sequence of a converter."""
    g = uz.open_group(str(root), mode="w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data.shape, data.dtype, data=data, chunks=CHUNKS, shards=shards,
                   compressor="blosc")
    return g


def _pyramid(g: uz.ZarrGroup) -> str:
    """generate_pyramid as a converter calls it; returns what the reuse module decided."""
    before = level0_reuse.stats()
    g.generate_pyramid(levels=LEVELS, mode="mean")
    after = level0_reuse.stats()
    assert after["reused"] + after["fallbacks"] == before["reused"] + before["fallbacks"] + 1
    return after["last"]


def _reference(root: Path, g: uz.ZarrGroup, driver: str, zarr_version: int,
               shards: Any = None) -> dict[str, str]:
    """The store today's path writes from what level 0 of ``g`` holds on disk: the
    same data as a writeable in-memory array (never reused), pyramid from the stored
    level 0."""
    stored = np.array(g["0"][...])
    ref = _build(root, stored, driver, zarr_version, shards)
    assert _pyramid(ref).startswith("no whole-array write")
    return tree_hashes(root)


# -- same bytes ------------------------------------------------------------------------------
def test_reused_path_writes_the_same_store(tmp_path, driver, zarr_version):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "fast.zarr", data, driver, zarr_version)
    assert _pyramid(g) == "reused"
    assert [g[str(i)].shape for i in range(LEVELS + 1)] == [
        (37, 50, 44), (19, 25, 22), (10, 13, 11), (5, 7, 6)
    ]
    fast = tree_hashes(tmp_path / "fast.zarr")
    assert fast == _reference(tmp_path / "ref.zarr", g, driver, zarr_version)
    assert len(fast) > 10  # real stores with chunks, not two empty trees


def test_sharded_reused_path_writes_the_same_store(tmp_path, driver):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "fast.zarr", data, driver, 3, SHARDS)
    assert _pyramid(g) == "reused"
    fast = tree_hashes(tmp_path / "fast.zarr")
    assert fast == _reference(tmp_path / "ref.zarr", g, driver, 3, SHARDS)
    assert len(fast) > 6


def test_fast_path_does_not_read_level0(tmp_path, driver, zarr_version, monkeypatch):
    """Proof that the reuse happens: no read of level 0's stored objects at all, while
    the fallback path reads every block of it."""
    reads: list[str] = []
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    cls = type(g["0"])
    real = cls._read

    def counting(self, region):  # noqa: ANN001, ANN202
        reads.append(self.url)
        return real(self, region)

    monkeypatch.setattr(cls, "_read", counting)
    assert _pyramid(g) == "reused"
    assert str(tmp_path / "a.zarr" / "0") not in reads
    g2 = _build(tmp_path / "b.zarr", np.array(data), driver, zarr_version)
    assert _pyramid(g2) != "reused"
    assert str(tmp_path / "b.zarr" / "0") in reads  # the stored level 0 was read


def test_no_user_memory_kept_alive(tmp_path, driver):
    data = readonly_memmap(tmp_path, _volume())
    ref = weakref.ref(data)
    g = _build(tmp_path / "a.zarr", data, driver, 3)
    del data
    gc.collect()
    assert ref() is None  # only a weak reference is remembered
    assert _pyramid(g) == "the source array was garbage-collected"
    assert tree_hashes(tmp_path / "a.zarr") == _reference(tmp_path / "ref.zarr", g, driver, 3)


# -- every invalidation falls back and is still correct ---------------------------------
def _check_fallback(tmp_path: Path, g: uz.ZarrGroup, driver: str, zarr_version: int,
                    reason: str, shards: Any = None, files_only: bool = False) -> None:
    decision = _pyramid(g)
    assert decision.startswith(reason), decision
    got = tree_hashes(Path(g.url))
    want = _reference(tmp_path / "ref.zarr", g, driver, zarr_version, shards)
    if files_only:  # empty chunk directories depend on the store's history, not the data
        got, want = ({k: v for k, v in t.items() if v != "<dir>"} for t in (got, want))
    assert got == want


def test_write_through_another_handle(tmp_path, driver, zarr_version):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    other = uz.open_array(str(tmp_path / "a.zarr" / "0"), mode="r+", driver=driver)
    other[3:9, 0:5] = 1234  # same shape/dtype, different values: must not be missed
    _check_fallback(tmp_path, g, driver, zarr_version, "no whole-array write")
    assert int(g["1"][2, 0, 0]) == 1234


def test_write_a_slice_through_the_same_handle(tmp_path, driver, zarr_version):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    g["0"][-1] = 0
    _check_fallback(tmp_path, g, driver, zarr_version, "no whole-array write")


def test_write_by_another_process(tmp_path, driver, zarr_version):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    code = (
        "import sys, unizarr as uz; "
        "a = uz.open_array(sys.argv[1], mode='r+', driver=sys.argv[2]); a[0:16, 0:16, 0:16] = 7"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.zarr" / "0"), driver],
                   check=True)
    _check_fallback(tmp_path, g, driver, zarr_version, "the stored array changed")
    assert int(g["1"][0, 0, 0]) == 7


def test_sharded_write_by_another_process(tmp_path, driver):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "a.zarr", data, driver, 3, SHARDS)
    code = (
        "import sys, unizarr as uz; "
        "a = uz.open_array(sys.argv[1], mode='r+', driver=sys.argv[2]); a[0:32, 0:32, 0:32] = 7"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.zarr" / "0"), driver],
                   check=True)
    _check_fallback(tmp_path, g, driver, 3, "the stored array changed", SHARDS)


def test_source_file_changed_by_another_process(tmp_path, driver, zarr_version):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    code = (
        "import sys, numpy as np; m = np.load(sys.argv[1], mmap_mode='r+'); "
        "m[:4] = 9; m.flush()"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "vol.npy")], check=True)
    assert int(data[0, 0, 0]) == 9  # the source now differs from the stored level 0
    _check_fallback(tmp_path, g, driver, zarr_version, "the source's file changed")
    assert int(g["1"][0, 0, 0]) != 9


def test_cast_dtype_is_not_reused(tmp_path, driver, zarr_version):
    data = readonly_memmap(tmp_path, _volume(np.int32))
    g = uz.open_group(str(tmp_path / "a.zarr"), mode="w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data.shape, np.uint16, data=data, chunks=CHUNKS)
    _check_fallback(tmp_path, g, driver, zarr_version, "no whole-array write")


def test_float_data_is_not_reused(tmp_path, driver, zarr_version):
    # float chunks equal to the fill value (-0.0 == 0.0) are not stored: not the same bytes
    vol = _volume(np.float32)
    vol[:16, :16, :16] = -0.0
    data = readonly_memmap(tmp_path, vol)
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    _check_fallback(tmp_path, g, driver, zarr_version, "no whole-array write")


def test_writeable_array_mutated_after_write(tmp_path, driver, zarr_version):
    data = _volume()
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    data[:] = 5  # the user reuses the buffer: the pyramid must come from what is stored
    _check_fallback(tmp_path, g, driver, zarr_version, "no whole-array write")
    assert np.array_equal(g["0"][...], _volume())


def test_frozen_array_owning_its_memory_is_not_reused(tmp_path, driver):
    data = _volume()
    alias = data[...]  # a writeable view taken before freezing: freezing proves nothing
    data.flags.writeable = False
    g = _build(tmp_path / "a.zarr", data, driver, 3)
    alias[:] = 1
    _check_fallback(tmp_path, g, driver, 3, "no whole-array write")


def test_delete_and_recreate_empty(tmp_path, driver, zarr_version):
    data = readonly_memmap(tmp_path, _volume())
    g = _build(tmp_path / "a.zarr", data, driver, zarr_version)
    del g["0"]
    g.create_array("0", data.shape, data.dtype, chunks=CHUNKS)  # same shape, no data
    _check_fallback(tmp_path, g, driver, zarr_version, "no whole-array write", files_only=True)
    assert not g["1"][...].any()


def test_overwrite_with_other_data_reuses_the_new_data(tmp_path, driver, zarr_version):
    first = readonly_memmap(tmp_path, _volume(seed=1), "a.npy")
    second = readonly_memmap(tmp_path, _volume(seed=2), "b.npy")
    g = _build(tmp_path / "a.zarr", first, driver, zarr_version)
    g.create_array("0", second.shape, second.dtype, data=second, chunks=CHUNKS,
                   compressor="blosc", overwrite=True)
    assert _pyramid(g) == "reused"
    assert tree_hashes(tmp_path / "a.zarr") == _reference(tmp_path / "ref.zarr", g, driver,
                                                          zarr_version)


def test_memory_store_falls_back(driver, zarr_version):
    data = np.frombuffer(_volume().tobytes(), np.uint16).reshape(SHAPE)  # read-only buffer
    url = f"memory://reuse-{uuid.uuid4().hex[:8]}/a.zarr"
    g = uz.open_group(url, mode="w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data.shape, data.dtype, data=data, chunks=CHUNKS)
    assert _pyramid(g) == "the store is not a local directory"
    assert np.array_equal(g["1"][...], downsample(data, (0, 1, 2), "mean"))


def test_bytes_backed_array_is_reused(tmp_path, driver):
    """A read-only array over ``bytes`` cannot change: it is reused like a memmap."""
    data = np.frombuffer(_volume().tobytes(), np.uint16).reshape(SHAPE)
    g = _build(tmp_path / "a.zarr", data, driver, 3)
    assert _pyramid(g) == "reused"
    assert tree_hashes(tmp_path / "a.zarr") == _reference(tmp_path / "ref.zarr", g, driver, 3)


def test_convert_never_reads_level0_back(tmp_path, driver, zarr_version, monkeypatch):
    """``uz.convert`` (and the CLI, which calls it) already writes level 0 and the
    pyramid in one pass from the input: no read of the stored level 0 at all."""
    np.save(tmp_path / "vol.npy", _volume())
    reads: list[str] = []
    real = uz.ZarrArray.__getitem__

    def counting(self, key):  # noqa: ANN001, ANN202
        reads.append(self.url)
        return real(self, key)

    monkeypatch.setattr(uz.ZarrArray, "__getitem__", counting)
    out = tmp_path / "out.zarr"
    uz.convert(str(tmp_path / "vol.npy"), str(out), driver=driver, zarr_version=zarr_version,
               chunk=16, levels=LEVELS)
    monkeypatch.undo()
    assert str(out / "0") not in reads
    assert np.array_equal(uz.open_array(str(out / "0"), mode="r")[...], _volume())
    assert uz.open_array(str(out / "3"), mode="r").shape == (5, 7, 6)
