"""``--resume`` finishes only the run that made the store: same input, same options.

A store without unizarr's run record (a user's own Zarr), a store converted from
another input, or with other options, is refused with exit 2 and not changed; a
finished store of the same input and options is verified ("nothing else to do").
The API (``generate_pyramid(resume=True)``) follows the same rule.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.cli import levels_of, make_npy, run_cli
from tests.helpers import ok, user_error
from unizarr.convert import CONVERT_RECORD
from unizarr.pyramid import RUN_RECORD


def layout(driver: str, zarr_version: int) -> list[str]:
    return ["--driver", driver, "--zarr-version", str(zarr_version), "--chunk", "8", "--quiet"]


def test_unrelated_store_is_refused(tmp_path, hashes, driver, zarr_version) -> None:
    """The issue's case: a user's store with arrays '0', '1', '2' of the same shape."""
    a = tmp_path / "vol.npy"
    vol = make_npy(a, 1)
    out = tmp_path / "existing.zarr"
    g = uz.open_group(out, "w", driver=driver, zarr_version=zarr_version)
    for i, shape in enumerate([vol.shape, tuple(-(-n // 2) for n in vol.shape)]):
        g.create_array(str(i), data=np.full(shape, 7, vol.dtype), chunks=(8,))
    g.create_array("2", data=np.arange(10), chunks=(5,))
    before = hashes(out)
    user_error(run_cli("convert", a, out, "--resume", *layout(driver, zarr_version)),
               "no unizarr run record")
    assert hashes(out) == before


def test_finished_store_of_another_input_is_refused(tmp_path, hashes, driver, zarr_version) -> None:
    """The issue's case: convert A, then "resume" B into it exited 0 with A's voxels."""
    a, b = tmp_path / "A.npy", tmp_path / "B.npy"
    make_npy(a, 1)
    make_npy(b, 2)
    out = tmp_path / "o.zarr"
    ok(run_cli("convert", a, out, *layout(driver, zarr_version)))
    before = hashes(out)
    user_error(run_cli("convert", b, out, "--resume", *layout(driver, zarr_version)), "input")
    assert hashes(out) == before


def test_finished_store_of_the_same_run_is_verified(tmp_path, hashes, driver, zarr_version) -> None:
    a = tmp_path / "A.npy"
    vol = make_npy(a, 1)
    out = tmp_path / "o.zarr"
    ok(run_cli("convert", a, out, *layout(driver, zarr_version)))
    before = hashes(out)
    proc = ok(run_cli("convert", a, out, "--resume", *layout(driver, zarr_version)[:-1]))
    assert "nothing else to do" in proc.stdout
    assert hashes(out) == before
    np.testing.assert_array_equal(levels_of(out)[0], vol)
    record = json.loads((out / CONVERT_RECORD).read_text())
    assert record["state"] == "complete"


@pytest.mark.parametrize(
    "change",
    [["--method", "max"], ["--levels", "1"], ["--name", "other"], ["--voxel-size", "2"],
     ["--no-pyramid-axis", "z"], ["--ome-version", "0.4"]],
    ids=lambda c: c[0],
)
def test_other_options_are_refused(tmp_path, hashes, change) -> None:
    a = tmp_path / "A.npy"
    make_npy(a, 1)
    out = tmp_path / "o.zarr"
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet", "--zarr-version", "3"))
    before = hashes(out)
    if change[0] == "--ome-version":
        change = ["--ome-version", "0.4"]
    user_error(run_cli("convert", a, out, "--chunk", "8", "--quiet", "--zarr-version", "3",
                       "--resume", *change), "other options")
    assert hashes(out) == before


def test_input_rewritten_in_place_is_refused(tmp_path, hashes) -> None:
    a = tmp_path / "A.npy"
    make_npy(a, 1)
    out = tmp_path / "o.zarr"
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet"))
    before = hashes(out)
    make_npy(a, 3)  # same path, same size, other voxels
    st = os.stat(a)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    user_error(run_cli("convert", a, out, "--chunk", "8", "--quiet", "--resume"), "input")
    assert hashes(out) == before


def test_tiff_folder_with_a_changed_slice_is_refused(tmp_path, hashes) -> None:
    tifffile = pytest.importorskip("tifffile")
    folder = tmp_path / "slices"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for z in range(6):
        tifffile.imwrite(folder / f"s{z:03d}.tif", rng.integers(0, 999, (20, 24), dtype="u2"))
    out = tmp_path / "o.zarr"
    ok(run_cli("convert", folder, out, "--chunk", "8", "--quiet"))
    before = hashes(out)
    time.sleep(0.01)
    tifffile.imwrite(folder / "s003.tif", rng.integers(0, 999, (20, 24), dtype="u2"))
    user_error(run_cli("convert", folder, out, "--chunk", "8", "--quiet", "--resume"), "input")
    assert hashes(out) == before


def test_unreadable_record_is_refused(tmp_path, hashes) -> None:
    a = tmp_path / "A.npy"
    make_npy(a, 1)
    out = tmp_path / "o.zarr"
    ok(run_cli("convert", a, out, "--chunk", "8", "--quiet"))
    (out / CONVERT_RECORD).write_text('{"state": "comp')  # torn
    before = hashes(out)
    user_error(run_cli("convert", a, out, "--chunk", "8", "--quiet", "--resume"),
               "no unizarr run record")
    assert hashes(out) == before


def test_non_zarr_folder_is_refused(tmp_path, hashes) -> None:
    a = tmp_path / "A.npy"
    make_npy(a, 1)
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"foreign")
    before = hashes(out)
    user_error(run_cli("convert", a, out, "--quiet", "--resume"), "not a Zarr group")
    assert hashes(out) == before


# -- the API ----------------------------------------------------------------------------------
def test_api_resume_without_record_is_refused(tmp_path, hashes, driver, zarr_version) -> None:
    x = np.random.default_rng(1).integers(0, 99, (20, 20, 20)).astype("u2")
    g = uz.open_group(tmp_path / "g.zarr", "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=x, chunks=(8,))
    g.create_array("1", data=np.full((10, 10, 10), 5, "u2"), chunks=(8,))  # the user's
    before = hashes(tmp_path / "g.zarr")
    with pytest.raises(ValueError, match="no record of a pyramid build"):
        uz.generate_pyramid(g, resume=True)
    assert hashes(tmp_path / "g.zarr") == before


def test_api_resume_of_a_complete_build(tmp_path, hashes, driver, zarr_version) -> None:
    x = np.random.default_rng(1).integers(0, 99, (20, 20, 20)).astype("u2")
    g = uz.open_group(tmp_path / "g.zarr", "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=x, chunks=(8,))
    uz.generate_pyramid(g, method="max")
    before = hashes(tmp_path / "g.zarr")
    uz.generate_pyramid(g, method="max", resume=True)  # verified, nothing rewritten
    assert hashes(tmp_path / "g.zarr") == before
    with pytest.raises(ValueError, match="method="):
        uz.generate_pyramid(g, method="mean", resume=True)
    with pytest.raises(ValueError, match="source="):
        uz.generate_pyramid(g, method="max", resume=True, source=x, write_base=True,
                            source_id="another file")
    assert hashes(tmp_path / "g.zarr") == before
    assert json.loads((tmp_path / "g.zarr" / RUN_RECORD).read_text())["complete"] is True
