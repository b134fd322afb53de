"""Aliasing: a node assigned to itself, into its own subtree, or used as the data of its
own replacement. Identity is the file system's (device + inode), not the path string.

Every case is a no-op or a ``ValueError`` before anything is touched.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import unizarr as uz


def _store(tmp_path, driver, zarr_version):
    p = tmp_path / "s.zarr"
    g = uz.open_group(p, "w", driver=driver, zarr_version=zarr_version)
    g.create_array("a", (6, 5), "i4", chunks=(2, 5), data=np.arange(30).reshape(6, 5) + 1)
    g.create_array("0", (8,), "u2", chunks=(4,), data=np.arange(8) + 7)
    s = g.create_group("s")
    s.create_array("x", (4,), "f4", data=np.arange(4, dtype="f4") + 0.5)
    s.attrs["keep"] = 1
    return p, g


def test_array_assigned_to_itself_is_a_no_op(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    before = hashes(p)
    g["a"] = g["a"]
    assert hashes(p) == before
    np.testing.assert_array_equal(g["a"][:], np.arange(30).reshape(6, 5) + 1)


def test_array_from_a_second_handle_is_a_no_op(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    other = "tensorstore" if driver == "zarr-python" else "zarr-python"
    g2 = uz.open_group(str(p) + "/", "r", driver=other)  # other driver, other spelling
    before = hashes(p)
    g["a"] = g2["a"]
    assert hashes(p) == before
    np.testing.assert_array_equal(g["a"][:], np.arange(30).reshape(6, 5) + 1)


def test_array_through_a_symlinked_root_is_the_same_node(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    alias = tmp_path / "alias.zarr"
    os.symlink(p, alias)  # a second path string for the same directory
    before = hashes(p)
    g["a"] = uz.open_group(alias, "r", driver=driver)["a"]
    assert hashes(p) == before


def test_group_assigned_to_itself_is_a_no_op(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    before = hashes(p)
    g["s"] = g["s"]
    assert hashes(p) == before
    assert g["s"].keys() == ["x"] and g["s"].attrs["keep"] == 1


def test_group_copied_into_its_own_subtree_is_refused(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="inside the source"):
        g["s/inner"] = g["s"]
    with pytest.raises(ValueError, match="inside the source"):
        g["s"]["deeper/copy"] = g["s"]
    assert hashes(p) == before


def test_node_replaced_by_its_own_child_is_refused(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="source is inside the target"):
        g["s"] = g["s/x"]  # replacing s would delete s/x before it is read
    assert hashes(p) == before


def test_create_array_from_base_with_its_own_data_is_refused(
    driver, zarr_version, tmp_path, hashes
):
    p, g = _store(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="would replace"):
        g.create_array_from_base("0", (8,), data=g["0"])
    assert hashes(p) == before
    np.testing.assert_array_equal(g["0"][:], np.arange(8) + 7)


def test_create_array_overwrite_with_its_own_data_is_refused(
    driver, zarr_version, tmp_path, hashes
):
    p, g = _store(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="would replace"):
        g.create_array("a", data=g["a"], overwrite=True)
    with pytest.raises(ValueError, match="would replace"):
        g.create_array("s", data=g["s/x"], overwrite=True)  # source inside the target
    assert hashes(p) == before


def test_open_array_w_with_its_own_data_is_refused(driver, zarr_version, tmp_path, hashes):
    p, g = _store(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="would replace"):
        uz.open_array(p / "a", "w", driver=driver, data=g["a"])
    assert hashes(p) == before


def test_copy_to_another_name_still_copies(driver, zarr_version, tmp_path):
    p, g = _store(tmp_path, driver, zarr_version)
    g["b"] = g["a"]
    g["t"] = g["s"]
    np.testing.assert_array_equal(g["b"][:], g["a"][:])
    assert g["t"].keys() == ["x"] and g["t"].attrs["keep"] == 1
    np.testing.assert_array_equal(g["t/x"][:], np.arange(4, dtype="f4") + 0.5)
