"""Concurrent writers lose no data (both drivers, Zarr v2 and v3).

The contract: writers that split work on the array's write grid (``write_block``: the
shard when sharded, else the chunk) never touch the same stored object, so they need no
lock — whether they are several handles in one process (threads) or pickled handles in
other processes (``multiprocessing`` with the ``spawn`` start method, as dask/distributed
workers receive them).
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz

DRIVERS = ("zarr-python", "tensorstore")
PARAMS = [(d, v) for d in DRIVERS for v in (2, 3)]
IDS = [f"{d}-v{v}" for d, v in PARAMS]


def _make(root: Path, driver: str, version: int) -> uz.ZarrArray:
    """A 3-D array whose write blocks hold several chunks (v3: 2x2x2 chunks per shard)
    and whose edge blocks are ragged."""
    g = uz.open_group(str(root), "w", driver=driver, zarr_version=version)
    kw = {"shards": (8, 8, 8)} if version == 3 else {}
    return g.create_array("a", (20, 16, 13), "int32", chunks=(4, 4, 4), **kw)


def _blocks(arr: uz.ZarrArray) -> list[tuple[slice, ...]]:
    """Every write block of ``arr`` as a region."""
    ranges = [
        [slice(i, min(i + b, n)) for i in range(0, n, b)]
        for n, b in zip(arr.shape, arr.write_block)
    ]
    return [tuple(r) for r in itertools.product(*ranges)]


def _value(i: int, region: tuple[slice, ...]) -> np.ndarray:
    shape = tuple(s.stop - s.start for s in region)
    return np.full(shape, i + 1, dtype="int32")


def _expected(arr: uz.ZarrArray, blocks: list[tuple[slice, ...]]) -> np.ndarray:
    out = np.zeros(arr.shape, dtype="int32")
    for i, region in enumerate(blocks):
        out[region] = _value(i, region)
    return out


def _write_block(args: tuple[uz.ZarrArray, int, tuple[slice, ...]]) -> int:
    """Runs in a worker process on an unpickled handle."""
    arr, i, region = args
    arr[region] = _value(i, region)
    return i


@pytest.fixture(scope="module")
def pool() -> Iterator[mp.pool.Pool]:
    # One spawn pool for the module: starting interpreters dominates otherwise.
    with mp.get_context("spawn").Pool(3) as p:
        yield p


@pytest.mark.parametrize("driver,version", PARAMS, ids=IDS)
def test_two_handles_in_one_process(driver: str, version: int, tmp_path: Path) -> None:
    arr = _make(tmp_path / "s.zarr", driver, version)
    handles = [uz.open_array(arr.url, "r+", driver=driver) for _ in range(2)]
    blocks = _blocks(arr)
    jobs = [(handles[i % 2], i, region) for i, region in enumerate(blocks)]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(_write_block, jobs))
    expected = _expected(arr, blocks)
    for h in (*handles, arr, uz.open_array(arr.url, "r", driver=driver)):
        np.testing.assert_array_equal(h[...], expected)


@pytest.mark.parametrize("driver,version", PARAMS, ids=IDS)
def test_handles_see_each_others_writes(driver: str, version: int, tmp_path: Path) -> None:
    """No stale cache: a read after another handle's (or the other driver's) write sees
    it, chunks reset to the fill value included."""
    other = DRIVERS[1 - DRIVERS.index(driver)]
    arr = _make(tmp_path / "s.zarr", driver, version)
    arr[...] = 1
    assert int(arr[...].sum()) == arr.size  # now cached, where the engine caches
    for writer_driver in (driver, other):
        writer = uz.open_array(arr.url, "r+", driver=writer_driver)
        writer[:4, :4, :4] = 7
        assert arr[0, 0, 0] == 7 and arr[5, 5, 5] == 1
        writer[...] = 0  # every chunk equals the fill value: deleted from the store
        assert int(np.abs(arr[...]).sum()) == 0
        writer[...] = 1
        writer.attrs["by"] = writer_driver
        assert arr.attrs["by"] == writer_driver


@pytest.mark.parametrize("driver,version", PARAMS, ids=IDS)
def test_spawned_writers_lose_nothing(driver: str, version: int, tmp_path: Path, pool) -> None:
    arr = _make(tmp_path / "s.zarr", driver, version)
    blocks = _blocks(arr)
    assert len(blocks) >= 12
    done = pool.map(_write_block, [(arr, i, r) for i, r in enumerate(blocks)], chunksize=1)
    assert sorted(done) == list(range(len(blocks)))
    np.testing.assert_array_equal(arr[...], _expected(arr, blocks))


@pytest.mark.parametrize("version", (2, 3), ids=("v2", "v3"))
def test_spawned_writers_of_both_drivers_on_one_array(version: int, tmp_path: Path, pool) -> None:
    """Handles of the two drivers are interchangeable writers of one array."""
    arr = _make(tmp_path / "s.zarr", "zarr-python", version)
    handles = [arr, uz.open_array(arr.url, "r+", driver="tensorstore")]
    blocks = _blocks(arr)
    jobs = [(handles[i % 2], i, r) for i, r in enumerate(blocks)]
    pool.map(_write_block, jobs, chunksize=1)
    expected = _expected(arr, blocks)
    for h in handles:
        np.testing.assert_array_equal(h[...], expected)


@pytest.mark.parametrize("driver", DRIVERS)
def test_pickled_handle_is_small_and_unpickles_in_process(driver: str, tmp_path: Path) -> None:
    """Handles pickle as a reference (url, driver, mode), never as engine state."""
    arr = _make(tmp_path / "s.zarr", driver, 3)
    arr[...] = 3
    blob = pickle.dumps(arr)
    assert len(blob) < 1000
    clone = pickle.loads(blob)
    assert type(clone) is type(arr) and clone.url == arr.url
    np.testing.assert_array_equal(clone[...], arr[...])


_FORKED_CHILD = """
import multiprocessing as mp
import os
import sys
import numpy as np
import unizarr as uz


def use_inherited(arr):
    try:
        arr[0, 0]
    except RuntimeError as exc:
        os._exit(0 if "spawn" in str(exc) else 2)
    os._exit(1)


if __name__ == "__main__":
    arr = uz.open_array(sys.argv[1], "w", driver="tensorstore", shape=(8, 8), dtype="i4",
                        chunks=(4,))
    arr[...] = 1
    child = mp.get_context("fork").Process(target=use_inherited, args=(arr,))
    child.start()
    child.join(60)
    assert int(arr[...].sum()) == 64  # the parent is unaffected
    print(child.exitcode)
"""


def test_tensorstore_refuses_forked_child_clearly(tmp_path: Path) -> None:
    """TensorStore aborts (SIGABRT) a child fork()ed after it ran; the driver raises a
    RuntimeError naming the fix instead (spawn/forkserver workers are fine, above).
    Run in a fresh interpreter: forking the test process itself is not wise."""
    out = subprocess.run(
        [sys.executable, "-c", _FORKED_CHILD, str(tmp_path / "a.zarr")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", (out.stdout, out.stderr)


_CACHED_READER = """
import sys
import numpy as np
import unizarr as uz
from unizarr.drivers.tensorstore import context

assert context().spec.to_json()["cache_pool"]["total_bytes_limit"] == 64 * 2**20
url = sys.argv[1]
for version in (2, 3):
    a = uz.open_array(f"{url}/v{version}", "w", driver="tensorstore", zarr_version=version,
                      shape=(16, 16), dtype="i4", chunks=(4,), **({"shards": (8,)} if version == 3 else {}))
    a[...] = 1
    assert int(a[...].sum()) == 256  # cached now
    for writer in ("zarr-python", "tensorstore"):
        w = uz.open_array(a.url, "r+", driver=writer)
        w[:4, :4] = 7
        assert a[0, 0] == 7 and a[8, 8] == 1, writer
        w[...] = 0
        assert int(np.abs(a[...]).sum()) == 0, writer
        w[...] = 1
print("ok")
"""


def test_tensorstore_chunk_cache_never_serves_stale_data(tmp_path: Path) -> None:
    """With the (opt-in) chunk cache enabled, reads still see other handles' writes."""
    env = {**os.environ, "UNIZARR_TENSORSTORE_CACHE_BYTES": str(64 * 2**20)}
    out = subprocess.run(
        [sys.executable, "-c", _CACHED_READER, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
