"""``unizarr convert --shard auto --max-memory``: the shard gives way to the budget, and
a shard that cannot fit it is said in one line. Peak memory is measured on the real
command in a fresh subprocess.

The input is a ``.npy`` file, read through a memmap: its pages are file-backed (the
kernel drops them at will, and RSS counts them), so what is measured is the peak of
the process's *anonymous* memory (``RssAnon``), sampled from this process every 2 ms.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

import unizarr as uz
from tests.helpers import ok
from unizarr import layout
from unizarr.config import ZarrConfig
from unizarr.convert import MemoryBudgetWarning, shard_within_budget

MiB = 2**20


def _make_npy(path: Path, n: int) -> np.ndarray:
    """An n^3 uint16 image (smooth ramps plus a little noise, compresses like an image),
    written 64 planes at a time; returned as a read-only memmap."""
    a = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(n, n, n))
    ramp = np.arange(n, dtype=np.uint16)
    rng = np.random.default_rng(0)
    for z in range(0, n, 64):
        slab = (ramp[z:z + 64, None, None] + ramp[None, :, None] // 2
                + ramp[None, None, :] // 4).astype(np.uint16)
        slab += rng.integers(0, 8, slab.shape, dtype=np.uint16)
        a[z:z + 64] = slab
    a.flush()
    del a
    return np.load(path, mmap_mode="r")


def _status(pid: int) -> int:
    """RssAnon of process ``pid`` in bytes (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_measured(*args: object, timeout: float = 600) -> tuple[subprocess.CompletedProcess, int]:
    """``unizarr ARGS`` in a subprocess, and the peak of its anonymous memory (bytes)."""
    cmd = [sys.executable, "-m", "unizarr.cli", *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, deadline = 0, time.monotonic() + timeout
    while proc.poll() is None:
        peak = max(peak, _status(proc.pid))
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(" ".join(cmd))
        time.sleep(0.002)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak


def _baseline(tmp_path: Path, driver: str) -> int:
    """Peak anonymous memory of the same command on a 32^3 input: the interpreter,
    the CLI and the engine, which no budget covers."""
    np.save(tmp_path / "tiny.npy", np.ones((32, 32, 32), np.uint16))
    proc, peak = run_measured("convert", tmp_path / "tiny.npy", tmp_path / "tiny.zarr",
                              "--driver", driver, "--zarr-version", 3, "--shard", "auto",
                              "--quiet")
    ok(proc)
    return peak


def _check_output(out: Path, volume: np.ndarray) -> tuple[int, ...]:
    """Level 0 equals the input (three spot regions, edges included), level 1 is its
    2x2x2 mean at one spot, the OME metadata is there; returns level 0's shard shape."""
    level0 = zarr.open_array(str(out / "0"), mode="r")
    n = volume.shape[0]
    for z, y, x in ((0, 0, 0), (n // 2 - 32, n // 3, n - 64), (n - 64, n - 64, n - 64)):
        region = np.s_[z:z + 64, y:y + 64, x:x + 64]
        assert np.array_equal(level0[region], volume[region])
    want = np.rint(volume[:64, :64, :64].astype(np.float64)
                   .reshape(32, 2, 32, 2, 32, 2).mean(axis=(1, 3, 5)))
    assert np.array_equal(zarr.open_array(str(out / "1"), mode="r")[:32, :32, :32], want)
    assert "multiscales" in dict(zarr.open_group(str(out), mode="r").attrs)["ome"]
    assert level0.shards is not None
    return tuple(level0.shards)


# -- the rule (no subprocess) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("budget", "want"),
    [(64 * MiB, (128, 128, 128)), (256 * MiB, (128, 256, 256)), (512 * MiB, (256, 256, 256))],
)
def test_auto_shard_resolved_for_the_budget(budget: int, want: tuple) -> None:
    """convert resolves ``shard="auto"`` for its budget before anything is written (and
    before its run record, so a resume with the same budget finds the same layout)."""
    cfg = ZarrConfig(zarr_version=3, shard="auto", chunk=(128,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fitting shard warns about nothing
        got = shard_within_budget(cfg, (1024, 1024, 1024), np.uint16, budget)
    assert got.shard == want
    assert layout.shard_write_bytes(math.prod(want) * 2) * 2 <= max(budget, 2 * 5 * 4 * MiB)
    # layouts without shards, and v2, are left alone
    assert shard_within_budget(ZarrConfig(), (1024,) * 3, np.uint16, budget) == ZarrConfig()


def test_explicit_shard_too_big_warns_and_is_kept() -> None:
    cfg = ZarrConfig(zarr_version=3, shard=(512,), chunk=(128,))
    with pytest.warns(MemoryBudgetWarning) as caught:
        got = shard_within_budget(cfg, (1024, 1024, 1024), np.uint16, 256 * MiB)
    assert got == cfg  # the user's layout is kept as given
    (message,) = [str(w.message) for w in caught]
    assert "\n" not in message
    assert "512x512x512 is 256 MiB" in message and "1280 MiB" in message
    assert "--shard auto (here 128x256x256)" in message and "--max-memory 1280M" in message


# -- the real command: peak memory ------------------------------------------------------
@pytest.fixture(scope="module")
def volume512(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, np.ndarray]]:
    path = tmp_path_factory.mktemp("membound") / "vol512.npy"
    yield path, _make_npy(path, 512)
    path.unlink()


def test_shard_auto_512_stays_in_a_small_budget(
    tmp_path: Path, driver: str, volume512: tuple[Path, np.ndarray]
) -> None:
    """512^3 uint16 (256 MiB) with ``--shard auto --max-memory 64M``: shards of one
    128^3 chunk (4 MiB, within 64M/10), and the conversion's memory above the
    interpreter's stays within the 64 MiB budget. Before the rule, the shard was the
    whole 256 MiB volume: 140-320 MiB above the interpreter."""
    src, data = volume512
    base = _baseline(tmp_path, driver)
    out = tmp_path / "out.zarr"
    proc, peak = run_measured("convert", src, out, "--driver", driver, "--zarr-version", 3,
                              "--shard", "auto", "--max-memory", "64M", "--quiet")
    ok(proc)
    assert proc.stderr == ""  # no warning: the chosen shard fits
    print(f"\n{driver}: peak anon {peak / MiB:.0f} MiB, baseline {base / MiB:.0f} MiB")
    assert peak - base <= 64 * MiB, (peak / MiB, base / MiB)
    assert _check_output(out, data) == (128, 128, 128)


@pytest.mark.slow
def test_shard_auto_1024_within_256m(tmp_path: Path, driver: str) -> None:
    """The issue's case: 1024^3 uint16 (2 GiB on disk), ``--shard auto --max-memory
    256M``: peak anonymous memory of the whole command <= 256 MiB (was 0.9-1.1 GiB
    with 512 MiB shards)."""
    src = tmp_path / "vol1024.npy"
    try:
        data = _make_npy(src, 1024)
        out = tmp_path / "out.zarr"
        proc, peak = run_measured("convert", src, out, "--driver", driver,
                                  "--zarr-version", 3, "--shard", "auto",
                                  "--max-memory", "256M", "--quiet")
        ok(proc)
        assert proc.stderr == ""
        print(f"\n{driver}: peak anon {peak / MiB:.0f} MiB")
        assert peak <= 256 * MiB, peak / MiB
        assert _check_output(out, data) == (128, 256, 256)
    finally:  # 2 GiB + its copy: do not leave them to pytest's rotation
        src.unlink(missing_ok=True)
        shutil.rmtree(tmp_path / "out.zarr", ignore_errors=True)


# -- the real command: a shard the budget cannot hold -----------------------------------
def _small_npy(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(3).integers(0, 4000, (64, 64, 64), dtype=np.uint16)
    np.save(tmp_path / "vol.npy", data)
    return tmp_path / "vol.npy", data


def test_cli_explicit_shard_above_budget_warns_in_one_line(tmp_path: Path, driver: str) -> None:
    """A 64^3 shard (512 KiB) under --max-memory 1M: written as asked (the layout is
    the user's), exit 0, one ``warning:`` line naming both ways out."""
    src, data = _small_npy(tmp_path)
    out = tmp_path / "out.zarr"
    proc = ok(subprocess.run(
        [sys.executable, "-m", "unizarr.cli", "convert", str(src), str(out), "--driver",
         driver, "--chunk", "16", "--shard", "64", "--max-memory", "1M", "--quiet"],
        capture_output=True, text=True, timeout=120,
    ))
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("warning: shard 64x64x64 is 0.5 MiB uncompressed: writing "
                               "it takes about 2.5 MiB"), lines[0]
    assert "above --max-memory 1 MiB" in lines[0]
    assert "--shard auto (here 32x32x32)" in lines[0] and "--max-memory 3M" in lines[0]
    assert "Traceback" not in proc.stderr
    arr = uz.open_array(str(out / "0"), "r", driver=driver)
    assert arr.shards == (64, 64, 64) and np.array_equal(arr[...], data)


def test_cli_auto_shard_floor_above_budget_warns(tmp_path: Path, driver: str) -> None:
    """--shard auto when even one chunk is too big for the budget: the chunk is the
    shard, and the warning says to pass a smaller --chunk or a bigger budget."""
    src, data = _small_npy(tmp_path)
    out = tmp_path / "out.zarr"
    proc = ok(subprocess.run(
        [sys.executable, "-m", "unizarr.cli", "convert", str(src), str(out), "--driver",
         driver, "--chunk", "64", "--shard", "auto", "--max-memory", "1M", "--quiet"],
        capture_output=True, text=True, timeout=120,
    ))
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: one chunk (64x64x64"), proc.stderr
    assert "pass a smaller --chunk or --max-memory 3M" in lines[0]
    arr = uz.open_array(str(out / "0"), "r", driver=driver)
    assert arr.shards == (64, 64, 64) and np.array_equal(arr[...], data)


def test_api_warns_with_the_same_message(tmp_path: Path) -> None:
    src, data = _small_npy(tmp_path)
    with pytest.warns(MemoryBudgetWarning, match=r"above --max-memory 1 MiB"):
        uz.convert(str(src), str(tmp_path / "out.zarr"), zarr_version=3, chunk=16, shard=64,
                   max_memory=2**20)
    assert np.array_equal(uz.open_array(str(tmp_path / "out.zarr" / "0"), "r")[...], data)

