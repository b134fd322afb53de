"""The decoded-chunk read cache of the zarr-python driver (unizarr.readcache,
unizarr.drivers._cached_reads): a changed stored object is never served from the cache,
whoever changed it; damaged data still raises; the memory bound holds; it can be turned
off. Real files, real engines, a real second process."""

from __future__ import annotations

import gc
import glob
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from unizarr import readcache

# The zarr-python driver and the driver built on it (same read path, zarrs decoding).
DRIVERS = [d for d in uz.drivers() if d in ("zarr-python", "zarrs")]
LAYOUTS = {"v2": (2, None), "v3": (3, None), "v3-sharded": (3, (16, 16))}
SHAPE, CHUNKS = (32, 32), (8, 8)
CHUNK_BYTES = 8 * 8 * 2  # uint16


@pytest.fixture(params=DRIVERS)
def zp_driver(request):
    return request.param


@pytest.fixture(params=list(LAYOUTS))
def layout(request):
    return request.param


@pytest.fixture
def hashes():
    """``hashes(path)`` -> the tree's file hashes (see ``tree_hashes``)."""
    return tree_hashes


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    """A small, empty cache per test; files older than 50 ms count as settled (the
    default of one second would make every test sleep that long)."""
    monkeypatch.setattr(readcache, "RACY_SECONDS", 0.05)
    readcache.configure(1 << 20)
    yield
    readcache.configure(readcache.DEFAULT_MAX_BYTES)


def _settle():
    time.sleep(0.12)


def _noise(seed):
    # incompressible: every blosc chunk (and so every shard) has the same size
    return np.random.default_rng(seed).integers(0, 2**16, size=SHAPE, dtype="u2")


def _make(tmp_path, driver, layout, data, name="a.zarr"):
    version, shards = LAYOUTS[layout]
    p = tmp_path / name
    uz.open_array(p, "w", driver=driver, zarr_version=version, shape=SHAPE, dtype="u2",
                  chunks=CHUNKS, shards=shards, compressor="blosc", data=data)
    _settle()
    return p


def _block_files(p):
    return sorted(
        f for f in glob.glob(f"{p}/**", recursive=True)
        if os.path.isfile(f) and os.path.basename(f) not in ("zarr.json", ".zarray", ".zattrs")
    )


def _read_twice(arr, box):
    """Read ``box`` twice; the second read must be served from the cache."""
    first = arr[box]
    hits = readcache.stats().hits
    second = arr[box]
    assert readcache.stats().hits > hits, "the repeated read was not served from the cache"
    np.testing.assert_array_equal(first, second)
    return second


BOX = (slice(3, 7), slice(2, 13))  # parts of chunks (0, 0) and (0, 1)


def test_partial_reads_are_cached_and_correct(zp_driver, layout, tmp_path):
    data = _noise(1)
    arr = uz.open_array(_make(tmp_path, zp_driver, layout, data), "r", driver=zp_driver)
    rng = np.random.default_rng(0)
    for _ in range(40):
        z, y = rng.integers(0, 30, 2)
        dz, dy = rng.integers(1, 12, 2)
        box = (slice(z, min(32, z + dz)), slice(y, min(32, y + dy)))
        np.testing.assert_array_equal(arr[box], data[box])
    st = readcache.stats()
    assert st.hits > 0 and st.entries > 0 and st.nbytes == st.entries * CHUNK_BYTES


def test_write_through_another_handle_is_seen(zp_driver, layout, tmp_path):
    data = _noise(1)
    p = _make(tmp_path, zp_driver, layout, data)
    reader = uz.open_array(p, "r", driver=zp_driver)
    _read_twice(reader, BOX)
    writer = uz.open_array(p, "r+", driver=zp_driver)
    writer[0:8, 0:8] = 7
    np.testing.assert_array_equal(reader[BOX][:, :6], 7)
    np.testing.assert_array_equal(reader[BOX][:, 6:], data[3:7, 8:13])


def test_write_through_the_other_engine_is_seen(zp_driver, layout, tmp_path):
    version, shards = LAYOUTS[layout]
    data = _noise(1)
    p = _make(tmp_path, zp_driver, layout, data)
    reader = uz.open_array(p, "r", driver=zp_driver)
    _read_twice(reader, BOX)
    uz.open_array(p, "r+", driver="tensorstore")[0:8, 0:16] = 9  # no hook: stat only
    np.testing.assert_array_equal(reader[BOX], 9)


def test_write_by_another_process_is_seen(zp_driver, layout, tmp_path):
    data = _noise(1)
    p = _make(tmp_path, zp_driver, layout, data)
    reader = uz.open_array(p, "r", driver=zp_driver)
    _read_twice(reader, BOX)
    code = (
        "import sys, unizarr as uz\n"
        "a = uz.open_array(sys.argv[1], 'r+', driver=sys.argv[2])\n"
        "a[0:8, 0:16] = 11\n"
    )
    subprocess.run([sys.executable, "-c", code, str(p), zp_driver], check=True, timeout=120)
    np.testing.assert_array_equal(reader[BOX], 11)


def test_deleted_and_recreated_node_is_seen(zp_driver, layout, tmp_path):
    version, shards = LAYOUTS[layout]
    root = tmp_path / "g.zarr"
    g = uz.open_group(root, "w", driver=zp_driver, zarr_version=version)
    old, new = _noise(1), _noise(2)
    g.create_array("a", shape=SHAPE, dtype="u2", chunks=CHUNKS, shards=shards,
                   compressor="blosc", data=old)
    _settle()
    reader = g["a"]
    _read_twice(reader, BOX)
    del g["a"]
    assert readcache.stats().entries == 0  # the deletion dropped what it had cached
    # recreated through the other engine (no hook in this driver): stat only
    other = uz.open_group(root, "r+", driver="tensorstore")
    other.create_array("a", shape=SHAPE, dtype="u2", chunks=CHUNKS, shards=shards,
                       compressor="blosc", data=new)
    np.testing.assert_array_equal(reader[BOX], new[BOX])


def test_same_size_rewrite_in_place_is_seen(zp_driver, layout, tmp_path, hashes):
    """A valid, different block of the same size written over the cached one in place
    (same inode, same size): only its times change."""
    data = _noise(1)
    p = _make(tmp_path, zp_driver, layout, data)
    files = _block_files(p)
    first, other = files[0], files[-1]
    assert os.path.getsize(first) == os.path.getsize(other)
    arr = uz.open_array(p, "r", driver=zp_driver)
    _read_twice(arr, BOX)
    inode = os.stat(first).st_ino
    with open(other, "rb") as f:
        payload = f.read()
    with open(first, "r+b") as f:
        f.write(payload)
    assert os.stat(first).st_ino == inode
    # the first block now holds the data of the last one
    bz, by = arr.write_block
    expected = data[BOX].copy()
    w = min(13, by) - 2  # the part of BOX inside the first block
    expected[:, :w] = data[32 - bz + 3 : 32 - bz + 7, 32 - by + 2 : 32 - by + 2 + w]
    before = hashes(p)
    np.testing.assert_array_equal(arr[BOX], expected)
    assert hashes(p) == before


def test_just_written_block_is_not_cached(zp_driver, layout, tmp_path):
    """A block changed less than RACY_SECONDS ago could change again without its stat
    changing (coarse time stamps): it is decoded, not kept."""
    data = _noise(1)
    p = _make(tmp_path, zp_driver, layout, data)
    arr = uz.open_array(p, "r+", driver=zp_driver)
    arr[0:8, 0:16] = 5
    arr[BOX]
    assert readcache.stats().entries == 0
    _settle()
    arr[BOX]
    assert readcache.stats().entries == 2


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_damaged_block_after_caching_raises(zp_driver, layout, damage, tmp_path, hashes):
    data = _noise(1)
    p = _make(tmp_path, zp_driver, layout, data)
    arr = uz.open_array(p, "r", driver=zp_driver)
    _read_twice(arr, BOX)
    victim = _block_files(p)[0]
    with open(victim, "r+b") as f:
        f.truncate(0 if damage == "empty" else os.path.getsize(victim) // 2)
    before = hashes(p)
    with pytest.raises(uz.CorruptDataError, match="a.zarr"):
        arr[BOX]
    with pytest.raises(uz.CorruptDataError):
        arr[BOX]  # not cached by the failed read either
    assert hashes(p) == before


def test_memory_bound_holds(zp_driver, layout, tmp_path):
    """Reads touching 2 MiB of decoded chunks keep at most the bound (256 KiB): by the
    cache's own accounting after every read, and by what tracemalloc sees allocated."""
    version, shards = LAYOUTS[layout]
    chunk = (128, 128)  # 32 KiB decoded
    data = np.random.default_rng(1).integers(0, 2**16, size=(1024, 1024), dtype="u2")
    p = tmp_path / "big.zarr"
    uz.open_array(p, "w", driver=zp_driver, zarr_version=version, shape=data.shape,
                  dtype="u2", chunks=chunk, shards=shards and (256, 256),
                  compressor="blosc", data=data)
    _settle()
    arr = uz.open_array(p, "r", driver=zp_driver)
    rng = np.random.default_rng(3)
    boxes = rng.integers(0, 1024 - 5, size=(400, 2))
    readcache.configure(0)
    for z, y in boxes[:20]:  # warm zarr-python's own first-use allocations, uncached
        arr[z : z + 5, y : y + 5]
    bound = 8 * 128 * 128 * 2
    readcache.configure(bound)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        grown = 0
        for k, (z, y) in enumerate(boxes):
            np.testing.assert_array_equal(arr[z : z + 5, y : y + 5], data[z : z + 5, y : y + 5])
            assert readcache.stats().nbytes <= bound
            if k % 50 == 49:
                gc.collect()  # (asyncio leaves reference cycles behind until collected)
                grown = max(grown, tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    st = readcache.stats()
    assert st.peak_nbytes <= bound and 4 <= st.entries <= 8
    assert st.misses > 64  # chunks were evicted and decoded again: the bound did bite
    # what stays allocated: the cache and a little bookkeeping, not the 2 MiB touched
    assert grown < bound + 64 * 1024, grown


def test_whole_chunk_reads_are_not_cached(zp_driver, layout, tmp_path):
    data = _noise(1)
    arr = uz.open_array(_make(tmp_path, zp_driver, layout, data), "r", driver=zp_driver)
    np.testing.assert_array_equal(arr[...], data)
    np.testing.assert_array_equal(arr[8:16, 0:32], data[8:16])
    assert readcache.stats().entries == 0


def test_disabled_cache(zp_driver, layout, tmp_path):
    data = _noise(1)
    arr = uz.open_array(_make(tmp_path, zp_driver, layout, data), "r", driver=zp_driver)
    readcache.configure(0)
    for _ in range(3):
        np.testing.assert_array_equal(arr[BOX], data[BOX])
    st = readcache.stats()
    assert (st.hits, st.misses, st.entries, st.nbytes) == (0, 0, 0, 0)


def test_environment_variable_sets_the_bound():
    code = "from unizarr import readcache; print(readcache.cache().max_bytes)"
    env = dict(os.environ, UNIZARR_READ_CACHE_BYTES="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "0"
    env["UNIZARR_READ_CACHE_BYTES"] = "1234567"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "1234567"


def test_configure_refuses_a_negative_bound():
    with pytest.raises(ValueError, match="max_bytes"):
        readcache.configure(-1)
