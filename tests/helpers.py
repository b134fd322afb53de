"""Small helpers for tests."""

from __future__ import annotations

import subprocess

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
