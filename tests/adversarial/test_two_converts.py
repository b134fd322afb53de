"""Two writers on one output, and Ctrl-C: real processes.

Two conversions into the same output cannot both report success with mixed data: the
output's ``.unizarr-lock`` (exclusive create) refuses the second while the first
writes. A lock whose process is gone is taken over. Ctrl-C during ``--overwrite``
leaves the previous output as it was; during a fresh conversion, the message points to
``--resume``, which then finishes it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.adversarial.cli import levels_of, make_npy, run_cli, spawn_cli
from tests.helpers import ok, user_error
from unizarr.output_guard import LOCK_NAME

BIG = (96, 192, 192)  # ~7 MB uint16, slow enough with gzip-9 to overlap


def slow_opts(driver: str) -> list[str]:
    return ["--driver", driver, "--chunk", "16", "--compressor", "gzip",
            "--compressor-opt", '{"level": 9}', "--quiet"]


def pyramid_of(data: np.ndarray, out: Path, driver: str) -> None:
    """The store holds ``data`` at level 0 and a consistent pyramid of it."""
    from unizarr.pyramid import downsample

    levels = levels_of(out, driver)
    np.testing.assert_array_equal(levels[0], data)
    for lo, hi in zip(levels, levels[1:]):
        np.testing.assert_array_equal(hi, downsample(lo, (0, 1, 2)))


def test_two_fresh_converts_never_both_succeed(tmp_path, driver) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    va, vb = make_npy(a, 1, BIG), make_npy(b, 2, BIG)
    out = tmp_path / "out.zarr"
    p1 = spawn_cli("convert", a, out, *slow_opts(driver))
    p2 = spawn_cli("convert", b, out, *slow_opts(driver))
    r1, r2 = p1.communicate(timeout=300), p2.communicate(timeout=300)
    codes = (p1.returncode, p2.returncode)
    assert sorted(codes) == [0, 2], (codes, r1, r2)
    loser = r2 if codes[0] == 0 else r1
    assert "being written by" in loser[1] or "already exists" in loser[1], loser
    pyramid_of(va if codes[0] == 0 else vb, out, driver)
    assert not (out / LOCK_NAME).exists()


def test_two_overwrites_leave_one_consistent_store(tmp_path, driver) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    va, vb = make_npy(a, 1, BIG), make_npy(b, 2, BIG)
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, "--driver", driver, "--chunk", "32", "--quiet"))
    p1 = spawn_cli("convert", a, out, "--overwrite", *slow_opts(driver))
    p2 = spawn_cli("convert", b, out, "--overwrite", *slow_opts(driver))
    p1.communicate(timeout=300)
    p2.communicate(timeout=300)
    assert 0 in (p1.returncode, p2.returncode)
    levels = levels_of(out, driver)
    pyramid_of(va if np.array_equal(levels[0], va) else vb, out, driver)
    if p1.returncode == 0 and p2.returncode != 0:
        pyramid_of(va, out, driver)
    if p2.returncode == 0 and p1.returncode != 0:
        pyramid_of(vb, out, driver)


@pytest.mark.parametrize("mode", ["--resume", "--overwrite"])
def test_live_lock_refuses_and_changes_nothing(tmp_path, hashes, mode) -> None:
    a = tmp_path / "a.npy"
    make_npy(a, 1)
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet"))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_NAME).write_text(json.dumps(
            {"pid": holder.pid, "host": socket.gethostname(), "time": time.time()}))
        before = hashes(out)
        user_error(run_cli("convert", a, out, "--chunk", "8", "--quiet", mode),
                   "being written by process")
        assert hashes(out) == before
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_is_taken_over(tmp_path) -> None:
    a = tmp_path / "a.npy"
    va = make_npy(a, 1)
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (out / LOCK_NAME).write_text(json.dumps(
        {"pid": int(dead.stdout), "host": socket.gethostname(), "time": 0}))
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet", "--resume"))
    np.testing.assert_array_equal(levels_of(out)[0], va)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(LOCK_NAME)) == []


def test_lock_of_another_host_is_never_stale(tmp_path, hashes) -> None:
    a = tmp_path / "a.npy"
    make_npy(a, 1)
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet"))
    (out / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "time": 0}))
    before = hashes(out)
    user_error(run_cli("convert", a, out, "--chunk", "8", "--quiet", "--resume"),
               "delete the lock")
    assert hashes(out) == before


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_ctrl_c_during_overwrite_keeps_the_old_output(tmp_path, hashes) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    make_npy(a, 1, (20, 24, 28))
    make_npy(b, 2, BIG)
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet"))
    before = hashes(out)
    proc = spawn_cli("convert", b, out, "--overwrite", *slow_opts("zarr-python"))
    building = lambda: any(  # noqa: E731
        (p / "0" / "zarr.json").exists() for p in tmp_path.glob(".out.zarr.unizarr-new-*"))
    if not _wait_for(building, proc):
        pytest.fail("the replacement was never seen being built")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.splitlines() == [
        f"error: interrupted; {out} was left as it was (the replacement being built beside "
        "it was removed): run the same command again"
    ]
    assert hashes(out) == before
    assert not list(tmp_path.glob(".out.zarr.unizarr-*"))


def test_ctrl_c_then_resume_finishes(tmp_path) -> None:
    b = tmp_path / "b.npy"
    vb = make_npy(b, 2, BIG)
    out = tmp_path / "out.zarr"
    proc = spawn_cli("convert", b, out, *slow_opts("zarr-python"))
    if not _wait_for(lambda: (out / "0" / "zarr.json").exists(), proc):
        pytest.fail("the conversion was never seen writing")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command with --resume" in err
    assert not (out / LOCK_NAME).exists()
    ok(run_cli("convert", b, out, "--resume", *slow_opts("zarr-python")))
    pyramid_of(vb, out, "zarr-python")
