"""Members whose names start with "." are legal Zarr: listed, copied and deleted like any
other. Only metadata keys and unizarr's own ``.unizarr*`` documents are not members."""

from __future__ import annotations

import numpy as np
import pytest

import unizarr as uz


def _store(tmp_path, driver, zarr_version):
    p = tmp_path / "s.zarr"
    g = uz.open_group(p, "w", driver=driver, zarr_version=zarr_version)
    g.create_array(".hidden", (3,), "u2", data=np.array([4, 5, 6]))
    g.create_group(".cfg").attrs["x"] = 1
    g.create_array("plain", (2,), "u1", data=np.array([1, 2]))
    return p, g


def test_dot_members_are_listed(driver, zarr_version, tmp_path):
    p, g = _store(tmp_path, driver, zarr_version)
    assert g.keys() == [".cfg", ".hidden", "plain"]
    assert ".hidden" in g and len(g) == 3
    assert [n for n, _ in g.arrays()] == [".hidden", "plain"]
    # a second driver sees the same members
    other = "tensorstore" if driver == "zarr-python" else "zarr-python"
    assert uz.open_group(p, "r", driver=other).keys() == [".cfg", ".hidden", "plain"]


def test_copy_keeps_dot_members(driver, zarr_version, tmp_path):
    p, g = _store(tmp_path, driver, zarr_version)
    dst = uz.open_group(tmp_path / "d.zarr", "w", driver=driver, zarr_version=zarr_version)
    dst["copy"] = g
    copy = dst["copy"]
    assert copy.keys() == [".cfg", ".hidden", "plain"]
    assert ".hidden" in copy.keys() and ".cfg" in copy.keys()
    np.testing.assert_array_equal(copy[".hidden"][:], [4, 5, 6])
    assert copy[".cfg"].attrs["x"] == 1


def test_unizarr_documents_are_not_members(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    g._set_hidden(".unizarr-test.json", b"{}")
    assert ".unizarr-test.json" not in g.keys()
    before = hashes(p)
    for bad in (".unizarr-test.json", "sub/.unizarr-x"):
        with pytest.raises(ValueError, match="reserved"):
            g.create_array(bad, (1,), "u1")
    assert hashes(p) == before


def test_dot_members_are_deleted_and_replaced_like_others(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    g.create_array(".hidden", (2,), "i8", data=np.array([-1, -2]), overwrite=True)
    np.testing.assert_array_equal(g[".hidden"][:], [-1, -2])
    del g[".hidden"]
    assert g.keys() == [".cfg", "plain"]
    assert not (p / ".hidden").exists()
