"""Running the ``unizarr`` command for the adversarial cases.

``run_cli`` calls :func:`unizarr.cli.main` in this process (the real command, its real
argument parsing and exit codes; only the interpreter start-up is saved) and returns a
``CompletedProcess`` for :func:`tests.helpers.ok` / :func:`tests.helpers.user_error`.
``spawn_cli`` starts a real separate process, for the cases about concurrency.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import numpy as np

from unizarr.cli import main


def run_cli(*args: object) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    argv = [str(a) for a in args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return subprocess.CompletedProcess(["unizarr", *argv], rc, out.getvalue(), err.getvalue())


def spawn_cli(*args: object, **kw: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "unizarr.cli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )


def make_npy(path: os.PathLike, seed: int, shape: tuple[int, ...] = (20, 24, 28),
             dtype: str = "uint16") -> np.ndarray:
    data = np.random.default_rng(seed).integers(1, 1000, shape).astype(dtype)
    np.save(path, data)
    return data


def levels_of(path: os.PathLike, driver: str | None = None) -> list[np.ndarray]:
    import unizarr as uz

    g = uz.open_group(str(path), "r", driver=driver)
    out = []
    i = 0
    while str(i) in g:
        out.append(g[str(i)][...])
        i += 1
    return out
