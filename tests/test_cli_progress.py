"""Progress of the ``unizarr`` command in batch jobs: stderr is not a terminal (a pipe,
as a SLURM log file), so progress goes out as periodic plain lines; ``--quiet``
silences them; a job shorter than the interval stays silent."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ok, user_error
from unizarr.cli_progress import LogLines

LINE = re.compile(r"^convert: level 0 \+ pyramid: (\d+)% \((\d+)/(\d+) blocks\) \d+ s elapsed$")


def run(*args: object, interval: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("UNIZARR_PROGRESS_INTERVAL", None)
    if interval is not None:
        env["UNIZARR_PROGRESS_INTERVAL"] = interval
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def npy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "vol.npy"
    np.save(path, np.random.default_rng(3).integers(0, 1000, (64, 96, 96), dtype="uint16"))
    return path


def test_piped_stderr_gets_log_lines(npy: Path, tmp_path: Path) -> None:
    proc = ok(run("convert", npy, tmp_path / "o.zarr", "--chunk", "16", "--max-memory", "256K",
                  interval="0"))
    lines = proc.stderr.splitlines()
    assert len(lines) >= 3, proc.stderr
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), proc.stderr
    percents = [int(m[1]) for m in parsed if m]
    done = [int(m[2]) for m in parsed if m]
    assert percents == sorted(percents) and done == sorted(done)
    assert percents[-1] == 100 and len(set(done)) == len(done)  # no line repeated
    assert "\x1b" not in proc.stderr  # no terminal control codes in a log file
    assert "converted" in proc.stdout  # the summary still goes to stdout


def test_quiet_silences_the_log_lines(npy: Path, tmp_path: Path) -> None:
    proc = ok(run("convert", npy, tmp_path / "o.zarr", "--chunk", "16", "--max-memory", "256K",
                  "--quiet", interval="0"))
    assert proc.stderr == "" and proc.stdout == ""
    assert (tmp_path / "o.zarr" / "0").is_dir()


def test_a_short_job_writes_no_line_at_the_default_interval(npy: Path, tmp_path: Path) -> None:
    proc = ok(run("convert", npy, tmp_path / "o.zarr", "--chunk", "16", "--max-memory", "1M"))
    assert proc.stderr == ""


def test_copy_logs_bytes(npy: Path, tmp_path: Path) -> None:
    ok(run("convert", npy, tmp_path / "o.zarr", "--chunk", "16", "--quiet"))
    proc = ok(run("copy", tmp_path / "o.zarr", tmp_path / "c.zarr", "--chunk", "8",
                  "--max-memory", "1M", interval="0"))
    lines = proc.stderr.splitlines()
    assert lines and all(
        re.fullmatch(r"copy: \d+% \([\d.]+ [KMG]?i?B / [\d.]+ [KMG]?i?B\) \d+ s elapsed", line)
        for line in lines
    ), proc.stderr
    assert lines[-1].startswith("copy: 100% ")


def test_a_bad_interval_is_a_user_error(npy: Path, tmp_path: Path) -> None:
    user_error(run("convert", npy, tmp_path / "o.zarr", interval="soon"),
               "UNIZARR_PROGRESS_INTERVAL must be a number of seconds")
    assert not (tmp_path / "o.zarr").exists()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_lines_rules() -> None:
    """Silent during the first interval; then a line per new tenth or per interval;
    a last 100 % line only when a line was written and 100 % was not."""
    out, clock = io.StringIO(), Clock()
    lines = LogLines("job", 100, "blocks", out, 10.0, clock)
    for t, done in ((1, 5), (5, 30), (9, 50)):
        clock.now = t
        lines.update(completed=done)
    assert out.getvalue() == ""  # still within the first 10 s
    clock.now = 10
    lines.update(completed=52)  # 10 s in, a new tenth: a line
    clock.now = 11
    lines.update(completed=55)  # same tenth, 1 s later: none
    clock.now = 21
    lines.update(completed=56)  # same tenth, but 10 s since the last line
    clock.now = 22
    lines.update(completed=61)  # a new tenth
    lines.finish()
    assert out.getvalue().splitlines() == [
        "job: 52% (52/100 blocks) 10 s elapsed",
        "job: 56% (56/100 blocks) 21 s elapsed",
        "job: 61% (61/100 blocks) 22 s elapsed",
        "job: 100% (100/100 blocks) 22 s elapsed",
    ]
    quiet_out = io.StringIO()
    short = LogLines("job", 100, "blocks", quiet_out, 10.0, Clock())
    short.update(completed=100)
    short.finish()
    assert quiet_out.getvalue() == ""
