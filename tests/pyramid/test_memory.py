"""Out-of-core claim: a 2 GiB volume (1024^3 uint16, on disk) gets its pyramid with a peak
resident set under 512 MiB, on every driver.

Each measurement runs in a fresh subprocess, so ``ru_maxrss`` is the peak of the
pyramid build alone (interpreter and libraries included). Slow: writing the 2 GiB
input takes most of the time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import unizarr as uz

N = 1024
LIMIT_MIB = 512
#: Peak anonymous memory (the engines' and unizarr's buffers, without the libraries'
#: file-backed pages that RSS also counts).
ANON_LIMIT_MIB = 256

MAKE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import unizarr as uz

    url, n = sys.argv[1], int(sys.argv[2])
    g = uz.open_group(url, "w", zarr_version=3)
    a = g.create_array("0", (n, n, n), "uint16", chunks=(128,), shards=(256,))
    ramp = np.arange(n, dtype=np.uint16)
    rng = np.random.default_rng(0)
    # Shard-thick slabs of a smooth pattern plus a little noise (compresses like an
    # image); one slab in memory at a time.
    for z in range(0, n, 256):
        zz = ramp[z:z + 256, None, None]
        slab = (zz + ramp[None, :, None] // 2 + ramp[None, None, :] // 4).astype(np.uint16)
        slab += rng.integers(0, 8, slab.shape, dtype=np.uint16)
        a[z:z + 256] = slab
    """
)

#: Start of both measuring scripts: ``anon()`` (MiB) and a sampler of its peak, which
#: the kernel does not track, every 2 ms (``start_sampling()`` returns the stopper).
SAMPLER = textwrap.dedent(
    """
    import json, resource, sys, threading, time
    import numpy as np
    import unizarr as uz

    def anon():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("RssAnon:")) / 1024

    anon_peak = [anon()]

    def start_sampling():
        stop = threading.Event()
        def sample():
            while not stop.wait(0.002):
                anon_peak[0] = max(anon_peak[0], anon())
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        def finish():
            stop.set()
            sampler.join()
        return finish
    """
)

MEASURE = SAMPLER + textwrap.dedent(
    """
    url, driver = sys.argv[1], sys.argv[2]
    g = uz.open_group(url, "r+", driver=driver)
    finish = start_sampling()
    t0 = time.perf_counter()
    shapes = uz.generate_pyramid(g)
    seconds = time.perf_counter() - t0
    finish()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    # spot check: one level-1 block against level 0
    x = g["0"][256:320, 512:576, 0:64].astype(np.float64)
    want = np.rint(x.reshape(32, 2, 32, 2, 32, 2).mean(axis=(1, 3, 5)))
    ok = bool((g["1"][128:160, 256:288, 0:32] == want).all())
    print(json.dumps({"peak_mib": peak, "anon_mib": max(anon_peak[0], anon()),
                      "seconds": seconds, "shapes": shapes, "ok": ok}))
    """
)


#: The one-pass path from a memory-mapped .npy (level 0 written in pieces, the levels
#: then read from the map again), as ``benchmarks/compare.py --big`` times it.
MEASURE_ONE_PASS = SAMPLER + textwrap.dedent(
    """
    npy, url, driver = sys.argv[1], sys.argv[2], sys.argv[3]
    vol = np.load(npy, mmap_mode="r")
    g = uz.open_group(url, "w", driver=driver, zarr_version=3)
    g.create_array("0", vol.shape, vol.dtype, chunks=(128,), shards=(256,))
    finish = start_sampling()
    t0 = time.perf_counter()
    shapes = uz.generate_pyramid(g, levels=3, source=vol, write_base=True)
    seconds = time.perf_counter() - t0
    finish()
    x = vol[256:320, 512:576, 0:64].astype(np.float64)
    want = np.rint(x.reshape(32, 2, 32, 2, 32, 2).mean(axis=(1, 3, 5)))
    ok = bool((g["1"][128:160, 256:288, 0:32] == want).all())
    ok = ok and bool((g["0"][500:600, 0:50, 900:] == vol[500:600, 0:50, 900:]).all())
    print(json.dumps({"anon_mib": max(anon_peak[0], anon()), "seconds": seconds,
                      "shapes": shapes, "ok": ok}))
    """
)


def _ts_chunk_cache_bytes() -> int:
    try:
        from unizarr.drivers import tensorstore as tsd
    except ImportError:
        return 0
    return int(tsd.CONTEXT_SPEC.get("cache_pool", {}).get("total_bytes_limit", 0))


def _driver_params() -> list:
    params = []
    for driver in uz.drivers():
        marks = []
        if driver == "tensorstore" and _ts_chunk_cache_bytes() > 0:
            # TensorStore's chunk cache keeps what streams through it (measured: a
            # 256 MiB cache_pool adds ~570 MiB on this workload); the bound needs the
            # driver's context to have no cache for bulk data.
            marks.append(pytest.mark.xfail(reason="tensorstore driver has a chunk cache", strict=False))
        params.append(pytest.param(driver, marks=marks))
    return params


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = str(tmp_path_factory.mktemp("oocore") / "big.zarr")
    subprocess.run([sys.executable, "-c", MAKE, url, str(N)], check=True)
    yield url
    shutil.rmtree(url, ignore_errors=True)  # 2 GiB: do not leave it to pytest's rotation


@pytest.mark.slow
@pytest.mark.parametrize("driver", _driver_params())
def test_pyramid_of_2gib_volume_stays_under_512mib(volume: str, driver: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, volume, driver],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{driver}: peak RSS {result['peak_mib']:.0f} MiB, anon "
          f"{result['anon_mib']:.0f} MiB, {result['seconds']:.1f} s")
    assert result["ok"]
    assert result["shapes"][-1] == [128, 128, 128]
    assert result["peak_mib"] < LIMIT_MIB, result
    # one 32 MiB tile (a level-1 shard) in flight under the default 128 MiB budget
    assert result["anon_mib"] <= ANON_LIMIT_MIB, result
    assert Path(volume, "3").exists()


@pytest.fixture(scope="module")
def npy_volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same 2 GiB volume as a .npy file, written slab by slab."""
    path = tmp_path_factory.mktemp("oocore_npy") / "big.npy"
    make = textwrap.dedent(
        """
        import sys
        import numpy as np
        n = int(sys.argv[2])
        out = np.lib.format.open_memmap(sys.argv[1], "w+", np.uint16, (n, n, n))
        ramp = np.arange(n, dtype=np.uint16)
        rng = np.random.default_rng(0)
        for z in range(0, n, 256):
            zz = ramp[z:z + 256, None, None]
            slab = (zz + ramp[None, :, None] // 2 + ramp[None, None, :] // 4).astype(np.uint16)
            out[z:z + 256] = slab + rng.integers(0, 8, slab.shape, dtype=np.uint16)
        out.flush()
        """
    )
    subprocess.run([sys.executable, "-c", make, str(path), str(N)], check=True)
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize("driver", _driver_params())
def test_one_pass_from_a_2gib_memmap_stays_within_256mib_anonymous(
    npy_volume: Path, tmp_path: Path, driver: str
) -> None:
    """Level 0 written from the map in budgeted pieces and the pyramid read from it
    again: the engines' buffers and the heap malloc keeps stay under 256 MiB (the heap
    is trimmed when the process outgrows the budget: unizarr.heap)."""
    url = str(tmp_path / "one_pass.zarr")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE_ONE_PASS, str(npy_volume), url, driver],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{driver} one-pass: anon {result['anon_mib']:.0f} MiB, {result['seconds']:.1f} s")
    shutil.rmtree(url, ignore_errors=True)
    assert result["ok"]
    assert result["shapes"][-1] == [128, 128, 128]
    assert result["anon_mib"] <= ANON_LIMIT_MIB, result
