"""A Zarr path that is a regular file, or lies below one: every mode of ``open_array`` /
``open_group`` gives the spec's error in one line naming the path and the fix (each
engine used to fail its own way: zarr-python ``EEXIST``, TensorStore ``ENOTDIR``), on
both drivers, and the file is never changed. The CLI exits 2 with that line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.helpers import user_error

#: mode -> the spec's exception (SPEC.md, "Modes"): r/r+ find no node; the others
#: cannot create one where a file is.
MODES = {"r": FileNotFoundError, "r+": FileNotFoundError, "a": FileExistsError,
         "w-": FileExistsError, "w": FileExistsError}


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "notes.zarr"  # a Zarr-looking name: only the content says "file"
    f.write_bytes(b"not a store\n" * 100)
    return f


@pytest.mark.parametrize("below", [False, True], ids=["the-file", "below-the-file"])
@pytest.mark.parametrize("kind", ["array", "group"])
@pytest.mark.parametrize("mode", list(MODES))
def test_open_on_a_file(tmp_path: Path, hashes, driver: str, zarr_version: int, mode: str,
                        kind: str, below: bool) -> None:
    f = _file(tmp_path)
    url = f / "0" if below else f
    before = hashes(tmp_path)
    with pytest.raises(MODES[mode]) as caught:
        if kind == "array":
            uz.open_array(url, mode, driver=driver, zarr_version=zarr_version, shape=(4,),
                          dtype="u1", data=np.arange(4, dtype="u1"))
        else:
            uz.open_group(url, mode, driver=driver, zarr_version=zarr_version)
    message = str(caught.value)
    assert "\n" not in message and str(f) in message and "Errno" not in message
    assert ("directory" in message) or ("another path" in message)
    assert not isinstance(caught.value, (NotADirectoryError, IsADirectoryError))
    assert hashes(tmp_path) == before


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_output_below_a_file(tmp_path: Path, hashes, driver: str, zarr_version: int) -> None:
    """``copy``/``convert`` whose output lies below (or, with ``--resume``, is) a file:
    exit 2, one line naming the file (was the bare ``[Errno 20]``/``[Errno 17]``)."""
    f = _file(tmp_path)
    src = tmp_path / "src.zarr"
    uz.open_array(src, "w", driver=driver, zarr_version=zarr_version,
                  data=np.arange(64, dtype="u2").reshape(4, 4, 4))
    np.save(tmp_path / "in.npy", np.ones((8, 8, 8), "u2"))
    before = hashes(tmp_path)
    user_error(_cli("copy", src, f / "out.zarr", "--driver", driver), f"{f} is a file")
    user_error(_cli("convert", tmp_path / "in.npy", f / "out.zarr", "--driver", driver,
                    "--zarr-version", zarr_version), f"{f} is a file")
    user_error(_cli("convert", tmp_path / "in.npy", f, "--driver", driver, "--resume",
                    "--zarr-version", zarr_version), "is a file, not a Zarr store")
    assert hashes(tmp_path) == before
