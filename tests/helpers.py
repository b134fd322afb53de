"""Small helpers for tests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from unizarr.testing.base import snapshot  # noqa: F401  (one snapshot for the suites and tests)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def user_error(proc: subprocess.CompletedProcess, match: str) -> None:
    """Exit 2 with exactly one line ``error: ...`` on stderr, never a traceback."""
    assert proc.returncode == 2, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    assert match.lower() in lines[0].lower(), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def random_volume(shape: tuple[int, ...], dtype: Any = np.uint16, seed: int = 0) -> np.ndarray:
    """A reproducible volume of values in [0, 3000) (fits every integer dtype's mean)."""
    return np.random.default_rng(seed).integers(0, 3000, shape).astype(dtype)


def readonly_memmap(tmp_path: Path, data: np.ndarray, name: str = "vol.npy") -> np.memmap:
    """``data`` saved as ``.npy`` and mapped back read-only, as ``np.load(path,
    mmap_mode="r")`` hands it to a converter."""
    path = tmp_path / name
    np.save(path, data)
    return np.load(path, mmap_mode="r")
