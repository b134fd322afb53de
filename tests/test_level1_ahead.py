"""Level 1 reduced while level 0 is written (unizarr.level1_ahead): the pyramid that
starts from it writes exactly the store the stored-level-0 path writes, it is used only
when it is this pyramid's level 1 of this content, and what it holds stays bounded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import random_volume, readonly_memmap
from unizarr import level0_reuse, level1_ahead
from unizarr.reduction import Kernel, get_kernel

# Above AHEAD_MIN_BYTES (4 MiB) with odd sizes: partial edge chunks, odd ends at every level.
SHAPE = (129, 130, 131)
CHUNKS = (32, 32, 32)
SHARDS = (64, 64, 64)
LEVELS = 3


def _volume(dtype: Any = np.uint16, seed: int = 0) -> np.ndarray:
    return random_volume(SHAPE, dtype, seed)


@pytest.fixture
def from_level1(monkeypatch):
    """How many pyramids started from a level 1 at hand (instead of reducing level 0)."""
    import unizarr.pyramid as pyramid

    calls: list[tuple[int, ...]] = []
    real = pyramid.write_from_level1

    def spy(targets, level1, *args: Any, **kwargs: Any) -> None:
        calls.append(tuple(level1.shape))
        real(targets, level1, *args, **kwargs)

    monkeypatch.setattr(pyramid, "write_from_level1", spy)
    return calls


def _group(root: Path, driver: str, zarr_version: int) -> uz.ZarrGroup:
    return uz.open_group(str(root), mode="w", driver=driver, zarr_version=zarr_version)


def _create(g: uz.ZarrGroup, data: Any, shards: Any = None, name: str = "0",
            with_data: bool = True) -> uz.ZarrArray:
    return g.create_array(name, data.shape, data.dtype, data=data if with_data else None,
                          chunks=CHUNKS, shards=shards, compressor="blosc")


def _reference(root: Path, data: np.ndarray, driver: str, zarr_version: int,
               shards: Any = None, **pyramid: Any) -> dict[str, str]:
    """The store of the plain path: level 0 from a writeable copy (never remembered, no
    level computed ahead), the pyramid from the stored level 0."""
    g = _group(root, driver, zarr_version)
    _create(g, np.array(data), shards)
    assert level0_reuse.stats()["level1_bytes"] == 0
    uz.generate_pyramid(g, levels=LEVELS, **pyramid)
    assert level0_reuse.stats()["last"].startswith("no whole-array write")
    return tree_hashes(root)


def test_ahead_level_writes_the_same_store(tmp_path, driver, zarr_version, from_level1):
    data = readonly_memmap(tmp_path, _volume())
    g = _group(tmp_path / "fast.zarr", driver, zarr_version)
    _create(g, data)
    held = level0_reuse.stats()["level1_bytes"]
    assert held == 65 * 65 * 66 * 2  # level 1 of the default axes, computed during the write
    g.generate_pyramid(levels=LEVELS, mode="mean")  # linc-convert's call
    stats = level0_reuse.stats()
    assert (stats["last"], stats["level1"], stats["level1_bytes"]) == ("reused", "computed ahead", 0)
    assert from_level1 == [(65, 65, 66)]
    fast = tree_hashes(tmp_path / "fast.zarr")
    assert len(fast) > 100
    assert fast == _reference(tmp_path / "ref.zarr", data, driver, zarr_version, method="mean")


def test_ahead_level_sharded(tmp_path, driver):
    data = readonly_memmap(tmp_path, _volume(seed=1))
    g = _group(tmp_path / "fast.zarr", driver, 3)
    _create(g, data, SHARDS)
    uz.generate_pyramid(g, levels=LEVELS)
    assert level0_reuse.stats()["level1"] == "computed ahead"
    assert tree_hashes(tmp_path / "fast.zarr") == _reference(
        tmp_path / "ref.zarr", data, driver, 3, SHARDS
    )


@pytest.mark.parametrize("pyramid", [{"method": "max"}, {"method": np.mean},
                                     {"no_pyramid_axis": "z"}, {"spatial_ndim": 2},
                                     {"levels": 1}])
def test_other_pyramids_ignore_the_ahead_level(tmp_path, driver, pyramid, from_level1):
    """Another method (``np.mean`` included: a callable rounds its own way) or other
    axes: the level computed ahead is not theirs (dropped); one level only: it is
    written as is."""
    data = readonly_memmap(tmp_path, _volume(seed=2))
    g = _group(tmp_path / "fast.zarr", driver, 3)
    _create(g, data)
    assert level0_reuse.stats()["level1_bytes"] > 0
    args = {"levels": LEVELS, **pyramid}
    uz.generate_pyramid(g, **args)
    assert level0_reuse.stats()["level1_bytes"] == 0  # handed over, used or not
    assert from_level1 == ([(65, 65, 66)] if pyramid == {"levels": 1} else [])
    levels = args.pop("levels")
    g2 = _group(tmp_path / "ref.zarr", driver, 3)
    _create(g2, np.array(data))
    uz.generate_pyramid(g2, levels=levels, **args)
    assert tree_hashes(tmp_path / "fast.zarr") == tree_hashes(tmp_path / "ref.zarr")


def test_write_after_drops_the_ahead_level(tmp_path, driver, zarr_version):
    """A later write changes level 0: the level computed ahead is gone, and the pyramid
    is that of the stored, changed level 0."""
    data = readonly_memmap(tmp_path, _volume(seed=3))
    g = _group(tmp_path / "fast.zarr", driver, zarr_version)
    arr = _create(g, data)
    arr[10:20, 5:9, :] = 4000
    assert level0_reuse.stats()["level1_bytes"] == 0
    uz.generate_pyramid(g, levels=LEVELS)
    assert level0_reuse.stats()["level1"] == "none computed ahead"
    changed = np.array(data)
    changed[10:20, 5:9, :] = 4000
    assert tree_hashes(tmp_path / "fast.zarr") == _reference(
        tmp_path / "ref.zarr", changed, driver, zarr_version
    )


def test_one_level_is_held_at_most(tmp_path, driver):
    data = readonly_memmap(tmp_path, _volume(seed=4))
    for i in range(3):
        _create(_group(tmp_path / f"g{i}.zarr", driver, 3), data)
    assert level0_reuse.stats()["level1_bytes"] == 65 * 65 * 66 * 2
    uz.generate_pyramid(uz.open_group(str(tmp_path / "g0.zarr"), mode="r+", driver=driver),
                        levels=1)
    assert level0_reuse.stats()["level1"] == "none computed ahead"  # g2's is the one held


@pytest.mark.parametrize("case", ["not level 0", "float", "writeable", "small", "one chunk"])
def test_nothing_computed_ahead(tmp_path, driver, case):
    data = _volume()
    name, chunks = "0", CHUNKS
    if case == "not level 0":
        name = "labels"
    elif case == "float":
        data = data.astype(np.float32)
    elif case == "small":
        data = data[:64]
    elif case == "one chunk":
        chunks = SHAPE
    if case != "writeable":
        data = readonly_memmap(tmp_path, data)
    level0_reuse.stats()
    g = _group(tmp_path / "a.zarr", driver, 3)
    g.create_array(name, data.shape, data.dtype, data=data, chunks=chunks, compressor="blosc")
    assert level0_reuse.stats()["level1_bytes"] == 0
    np.testing.assert_array_equal(g[name][...], data)


@pytest.mark.parametrize("dtype", [np.uint16, np.int8, np.float32])
@pytest.mark.parametrize("method", ["mean", "median"])
def test_one_pass_numpy_source(tmp_path, driver, zarr_version, dtype, method, from_level1):
    """generate_pyramid(source=numpy, write_base=True): level 0 in one write, level 1
    reduced meanwhile with this pyramid's method; the same store as the plain path."""
    data = _volume(dtype, seed=5)
    if dtype == np.float32:
        data = data * np.float32(0.37)
    g = _group(tmp_path / "fast.zarr", driver, zarr_version)
    _create(g, data, with_data=False)
    uz.generate_pyramid(g, levels=LEVELS, method=method, source=data, write_base=True)
    assert level0_reuse.stats()["level1_bytes"] == 0
    assert from_level1 == [(65, 65, 66)]
    np.testing.assert_array_equal(g["0"][...], data)
    assert tree_hashes(tmp_path / "fast.zarr") == _reference(
        tmp_path / "ref.zarr", data, driver, zarr_version, method=method
    )


def test_write_error_waits_for_the_reduction(tmp_path):
    """The write fails: its error comes out only after the reduction has ended (nothing
    left running on the second thread)."""
    data = _volume(seed=6)
    seen: list[bool] = []

    def failing_write() -> None:
        raise OSError("disk full")

    def slow_reduce(block: np.ndarray, out: np.ndarray, axes: Any) -> None:
        time.sleep(0.2)
        get_kernel("mean").fn(block, out, axes)
        seen.append(True)

    kernel = Kernel("mean", slow_reduce, blocked=False)
    with pytest.raises(OSError, match="disk full"):
        level1_ahead.reduce_while(failing_write, data, (0, 1, 2), kernel)
    assert seen == [True]  # the reduction ran to its end before the error came out


def test_reduction_error_only_costs_the_level(tmp_path):
    written: list[bool] = []

    def failing_reduce(block: np.ndarray, out: np.ndarray, axes: Any) -> None:
        raise MemoryError

    got = level1_ahead.reduce_while(lambda: written.append(True), _volume(), (0, 1, 2),
                                    Kernel("mean", failing_reduce, blocked=False))
    assert got is None and written == [True]


def test_failed_one_pass_reduction_writes_level0_once(tmp_path, driver, zarr_version,
                                                     monkeypatch, from_level1):
    """generate_pyramid(source=, write_base=True) whose level-1 reduction fails (e.g.
    MemoryError): level 0 is written once, the levels come from the source, and the
    store is the plain path's."""
    import unizarr.level1_ahead as ahead
    import unizarr.pyramid as pyramid

    def no_memory(block: np.ndarray, axes: Any, kernel: Any, out: Any = None) -> np.ndarray:
        raise MemoryError

    slabs: list[int] = []
    real = pyramid._write_in_pieces
    monkeypatch.setattr(pyramid, "_write_in_pieces",
                        lambda base, src, *a: (slabs.append(src.shape[0]), real(base, src, *a)))
    monkeypatch.setattr(ahead, "_reduce", no_memory)
    monkeypatch.setattr(pyramid, "PIECE_BYTES", 2**22)
    data = _volume(seed=9)
    g = _group(tmp_path / "fast.zarr", driver, zarr_version)
    _create(g, data, with_data=False)
    writes: list[Any] = []
    base = g["0"]
    real_set = type(base).__setitem__
    monkeypatch.setattr(type(base), "__setitem__",
                        lambda self, key, value: (writes.append(self.name),
                                                  real_set(self, key, value)))
    uz.generate_pyramid(g, levels=LEVELS, source=data, write_base=True, max_memory=2**22)
    assert slabs == [SHAPE[0]] and from_level1 == []
    level0_writes = [w for w in writes if w.rsplit("/", 1)[-1] == "0"]
    # pieces of whole chunks within 4 MiB (PIECE_BYTES set so): 64 x 130 x 131 (2.1 MiB;
    # 128 planes would be 4.2); 129 planes: 3 pieces, each written once
    assert len(level0_writes) == 3
    monkeypatch.undo()
    assert tree_hashes(tmp_path / "fast.zarr") == _reference(
        tmp_path / "ref.zarr", data, driver, zarr_version
    )


def test_one_slab_source_is_reduced_once(tmp_path, driver, monkeypatch):
    """A read-only source whose level 0 is one slab: the one-pass write is then a whole
    write the write path would compute ahead too; it does not (one reduction)."""
    import unizarr.level1_ahead as ahead

    # 9.6 MiB (above AHEAD_MIN_BYTES) in 30 planes: fewer than one row of 32-plane chunks
    rng = np.random.default_rng(7)
    data = readonly_memmap(tmp_path, rng.integers(0, 3000, (30, 400, 400)).astype(np.uint16))
    g = _group(tmp_path / "a.zarr", driver, 3)
    g.create_array("0", data.shape, data.dtype, chunks=(32, 64, 64), compressor="blosc")
    calls: list[tuple[int, ...]] = []
    real = ahead._reduce

    def counting(block: np.ndarray, axes: Any, kernel: Any, out: Any = None) -> np.ndarray:
        calls.append(block.shape)
        return real(block, axes, kernel, out)

    monkeypatch.setattr(ahead, "_reduce", counting)
    uz.generate_pyramid(g, levels=2, source=data, write_base=True)
    assert calls == [data.shape]
    np.testing.assert_array_equal(g["0"][...], data)


def test_large_level1_writes_level0_then_rereads(tmp_path, driver, zarr_version, monkeypatch):
    """A level 1 above a quarter of max_memory, from a source whose second read costs
    no disk read: level 0 in slabs first, then the pyramid from the source (same store
    as the plain path), not the piecewise one-pass order."""
    import unizarr.pyramid as pyramid

    slabs: list[int] = []
    real = pyramid._write_in_pieces
    monkeypatch.setattr(pyramid, "_write_in_pieces",
                        lambda base, src, *a: (slabs.append(src.shape[0]), real(base, src, *a)))
    data = readonly_memmap(tmp_path, _volume(seed=8))
    g = _group(tmp_path / "fast.zarr", driver, zarr_version)
    _create(g, data, with_data=False)
    uz.generate_pyramid(g, levels=LEVELS, source=data, write_base=True, max_memory=2**20)
    assert slabs == [SHAPE[0]]
    assert tree_hashes(tmp_path / "fast.zarr") == _reference(
        tmp_path / "ref.zarr", data, driver, zarr_version
    )


def test_reread_is_cheap(tmp_path):
    import unizarr.pyramid as pyramid

    with open("/proc/meminfo") as f:
        available = int(dict(line.split(":", 1) for line in f)["MemAvailable"].split()[0]) * 1024
    small = readonly_memmap(tmp_path, _volume())
    big_path = tmp_path / "big.raw"
    with open(big_path, "wb") as f:
        f.truncate(2 * available)  # sparse: nothing written or read; far above half of it
    big = np.memmap(big_path, dtype=np.uint8, mode="r")
    assert pyramid._reread_is_cheap(np.ones(10))  # in memory
    assert pyramid._reread_is_cheap(np.frombuffer(b"abcd", np.uint8))  # bytes
    assert pyramid._reread_is_cheap(small) and pyramid._reread_is_cheap(np.asarray(small)[2:])
    assert not pyramid._reread_is_cheap(big) and not pyramid._reread_is_cheap(np.asarray(big))
    assert not pyramid._reread_is_cheap([1, 2, 3])


@pytest.mark.parametrize("memmapped", [False, True], ids=["in-memory", "memmap"])
@pytest.mark.parametrize("converted", [False, True], ids=["same-dtype", "converted"])
def test_level0_pieces_stay_within_their_bound(tmp_path, driver, zarr_version, monkeypatch,
                                               memmapped, converted):
    """Level 0 written by generate_pyramid(source=numpy, write_base=True) goes in pieces
    of whole write blocks, even where one row of write blocks along the last axis is
    larger (a wide image): views of a source of level 0's dtype up to PIECE_BYTES (set
    small here), pieces to convert (another dtype: a new block each) up to max_memory.
    Both the one-pass path (in memory, level 1 of 2.4 MB kept within a quarter of the
    budget) and the reread path (memmap, a budget too small to keep level 1). Progress
    is one count over both phases."""
    import unizarr.pyramid as pyramid

    data = random_volume((24, 20, 20000), np.uint16, 3)  # one row of 16x16 chunks: 10.2 MB
    if converted:
        data = data.astype(np.int32)  # values fit uint16: cast exactly
    if memmapped:
        data = readonly_memmap(tmp_path, data)
    budget = 2**20 if memmapped else 9_700_000
    bound = budget if converted else 3_000_000
    monkeypatch.setattr(pyramid, "PIECE_BYTES", 3_000_000)
    g = _group(tmp_path / "fast.zarr", driver, zarr_version)
    g.create_array("0", data.shape, np.uint16, chunks=(16, 16, 256), compressor="blosc")
    sizes: list[int] = []
    reductions: list[bool] = []
    real_set = uz.ZarrArray.__setitem__
    real_reduce = level1_ahead.reduce_while

    def spy(self: uz.ZarrArray, key: Any, value: Any) -> None:
        if self.name.rsplit("/", 1)[-1] == "0":
            sizes.append(np.asarray(value).size * 2)  # bytes as level 0 stores them
        real_set(self, key, value)

    monkeypatch.setattr(uz.ZarrArray, "__setitem__", spy)
    monkeypatch.setattr(pyramid.level1_ahead, "reduce_while",
                        lambda *a, **k: (reductions.append(True), real_reduce(*a, **k))[1])
    steps: list[tuple[int, int]] = []
    uz.generate_pyramid(g, levels=2, source=data, write_base=True, max_memory=budget,
                        progress=lambda done, total: steps.append((done, total)))
    monkeypatch.undo()
    assert reductions == ([] if memmapped or converted else [True])
    assert sizes and max(sizes) <= bound and sum(sizes) == data.size * 2
    assert len(sizes) > 2  # split along the last axis too, not whole rows
    # one count over level 0 and the levels below: rising to its total, which stays put
    totals = {t for _, t in steps}
    assert len(totals) == 1 and steps[-1][0] == totals.pop()
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    ref = _group(tmp_path / "ref.zarr", driver, zarr_version)
    ref.create_array("0", data.shape, np.uint16, data=np.array(data, np.uint16),
                     chunks=(16, 16, 256), compressor="blosc")
    uz.generate_pyramid(ref, levels=2)
    assert tree_hashes(tmp_path / "fast.zarr") == tree_hashes(tmp_path / "ref.zarr")
