"""``--series all`` with ``--resume``: a multi-series OME-TIFF conversion killed with
SIGKILL (a real process, at an array write inside the first or the second series, or
just before OME metadata) and then resumed gives the output of an uninterrupted run."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import tifffile
import zarr

from tests.readers.conftest import ome_of
from tests.test_resume import claims_complete, convert, files


def _series(path: Path) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4000, size=(24, 40, 48)).astype("uint16")
    b = rng.integers(0, 200, size=(12, 24, 20)).astype("uint8")
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(a, metadata={"axes": "ZYX", "Name": "big", "PhysicalSizeX": 0.5,
                              "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0})
        tw.write(b, metadata={"axes": "ZYX", "Name": "small"})
    return [a, b]


def _levels(root: Path) -> dict[str, np.ndarray]:
    g = zarr.open_group(str(root), mode="r")
    return {f"{s}/{name}": arr[...] for s in ("0", "1") for name, arr in g[s].arrays()}


def test_killed_series_all_resumes_to_the_same_output(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    src = tmp_path / "two.ome.tif"
    data = _series(src)
    opts = ["--series", "all", "--driver", driver, "--zarr-version", str(zarr_version),
            "--chunk", "8", "--quiet"] + (["--shard", "16"] if zarr_version == 3 else [])
    ref = tmp_path / "ref.zarr"
    done = convert(src, ref, *opts)
    assert done.returncode == 0, done.stderr
    writes = int(done.stderr.split("WRITES")[1].split()[0])
    for kill_at in (2, writes - 2, -1):
        out = tmp_path / f"out{kill_at}.zarr"
        crashed = convert(src, out, *opts, kill_at=kill_at)
        assert crashed.returncode == -signal.SIGKILL, (kill_at, crashed.stderr)
        assert not (claims_complete(out / "0") and claims_complete(out / "1")), kill_at
        resumed = convert(src, out, *opts, "--resume")
        assert resumed.returncode == 0, (kill_at, resumed.stderr)
        assert files(out).keys() == files(ref).keys(), kill_at
        got, want = _levels(out), _levels(ref)
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{kill_at} {key}")
        for s in ("0", "1"):
            assert ome_of(out / s) == ome_of(ref / s), (kill_at, s)
            np.testing.assert_array_equal(got[f"{s}/0"], data[int(s)])
        assert ome_of(out) == ome_of(ref) and ome_of(out / "OME") == ome_of(ref / "OME")
