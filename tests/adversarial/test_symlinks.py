"""Symlinks inside a store: reads may follow them, writes and deletes never leave the
store root (unless the user opts in with ``follow_symlinks_for_writes``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import unizarr as uz
from unizarr.errors import OutsideStoreError


@pytest.fixture
def linked(tmp_path, driver, zarr_version):
    """A store ``s.zarr`` whose member ``link`` is a symlink to a group outside it."""
    outside = tmp_path / "outside"
    o = uz.open_group(outside, "w", driver=driver, zarr_version=zarr_version)
    o.create_array("b", (8,), "i2", chunks=(4,), data=np.arange(8) + 1)
    (outside / "precious.txt").write_text("not Zarr, keep")
    p = tmp_path / "s.zarr"
    g = uz.open_group(p, "w", driver=driver, zarr_version=zarr_version)
    g.create_array("own", (4,), "u1", data=np.arange(4))
    os.symlink(outside, p / "link")
    return p, outside, g


def test_reads_follow_the_link(linked, driver):
    p, _, g = linked
    assert "link" in g.keys()
    np.testing.assert_array_equal(g["link/b"][:], np.arange(8) + 1)


def test_delete_through_the_link_is_refused(linked, hashes):
    p, outside, g = linked
    before, inside = hashes(outside), hashes(p)
    with pytest.raises(OutsideStoreError, match="outside the store root"):
        del g["link/b"]
    assert hashes(outside) == before and hashes(p) == inside


def test_create_array_through_the_link_is_refused(linked, hashes):
    p, outside, g = linked
    before, inside = hashes(outside), hashes(p)
    with pytest.raises(OutsideStoreError):
        g.create_array("link/new", (3,), "u1")
    with pytest.raises(OutsideStoreError):
        g.create_array("link/b", (3,), "u1", overwrite=True)
    with pytest.raises(OutsideStoreError):
        g["link/c"] = np.zeros(3)
    assert hashes(outside) == before and hashes(p) == inside


def test_create_group_through_the_link_is_refused(linked, hashes):
    p, outside, g = linked
    before = hashes(outside)
    with pytest.raises(OutsideStoreError):
        g.create_group("link/sub/deeper")
    with pytest.raises(OutsideStoreError):
        g["link"].create_group("sub")  # a handle opened through the link
    assert hashes(outside) == before


def test_attribute_writes_through_the_link_are_refused(linked, hashes):
    p, outside, g = linked
    before = hashes(outside)
    with pytest.raises(OutsideStoreError):
        g["link/b"].attrs["x"] = 1
    with pytest.raises(OutsideStoreError):
        g["link"].attrs.update(y=2)
    with pytest.raises(OutsideStoreError):
        g["link"].attrs.put({})
    assert hashes(outside) == before


def test_data_writes_through_the_link_are_refused(linked, hashes):
    p, outside, g = linked
    before = hashes(outside)
    arr = g["link/b"]
    with pytest.raises(OutsideStoreError):
        arr[:] = 0
    with pytest.raises(OutsideStoreError):
        arr[2:5] = np.array([7, 7, 7])
    with pytest.raises(OutsideStoreError):
        arr.delete_block((0,))
    with pytest.raises(OutsideStoreError):
        arr.remove_partial_writes()
    assert hashes(outside) == before


def test_dimension_names_through_the_link_are_refused(linked, hashes, zarr_version):
    p, outside, g = linked
    before = hashes(outside)
    if zarr_version == 3:
        with pytest.raises(OutsideStoreError):
            g["link/b"].set_dimension_names(["x"])
    else:  # v2 has no dimension names: a no-op, nothing written
        g["link/b"].set_dimension_names(["x"])
    assert hashes(outside) == before


def test_copy_into_the_link_is_refused(linked, hashes):
    p, outside, g = linked
    before = hashes(outside)
    with pytest.raises(OutsideStoreError):
        g["link/copy"] = g["own"]
    assert hashes(outside) == before


def test_deleting_the_link_itself_removes_only_the_link(linked, hashes):
    p, outside, g = linked
    before = hashes(outside)
    del g["link"]
    assert "link" not in g and not os.path.lexists(p / "link")
    assert hashes(outside) == before


def test_opt_in_lets_writes_follow_the_link(linked, driver, hashes):
    p, outside, _ = linked
    g = uz.open_group(p, "r+", driver=driver,
                      storage_options={"follow_symlinks_for_writes": True})
    g.create_array("link/new", (3,), "u1", data=np.array([1, 2, 3]))
    g["link/b"][:2] = 0
    assert (outside / "new").is_dir()
    np.testing.assert_array_equal(uz.open_array(outside / "b", "r", driver=driver)[:3], [0, 0, 3])


def test_a_symlinked_store_root_is_the_store(tmp_path, driver, zarr_version, hashes):
    real = tmp_path / "disk2" / "s.zarr"
    real.parent.mkdir()
    uz.open_group(real, "w", driver=driver, zarr_version=zarr_version)
    os.symlink(real, tmp_path / "s.zarr")  # the user's store lives on another disk
    g = uz.open_group(tmp_path / "s.zarr", "r+", driver=driver)
    g.create_array("a", (4,), "u1", data=np.arange(4))
    g.attrs["ok"] = True
    del g["a"]
    assert g.keys() == [] and g.attrs["ok"] is True


def test_chunk_directory_linked_out_of_the_store_is_refused(
    tmp_path, driver, zarr_version, hashes
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    p = tmp_path / "s.zarr"
    g = uz.open_group(p, "w", driver=driver, zarr_version=zarr_version)
    a = g.create_array("a", (4, 4), "u1", chunks=(2, 2), dimension_separator="/")
    grid = p / "a" / ("c" if zarr_version == 3 else "")
    grid.mkdir(exist_ok=True)
    os.symlink(outside, grid / "1")  # the chunk row 1 now lives elsewhere
    before = hashes(outside)
    with pytest.raises(OutsideStoreError):
        a[...] = 7
    with pytest.raises(OutsideStoreError):
        a[2:, :2] = 7
    a[:2, :] = 5  # rows of chunks inside the store are still writable
    assert hashes(outside) == before
    np.testing.assert_array_equal(a[:2, :], 5)


def test_block_file_symlink_is_replaced_not_written_through(tmp_path, driver, zarr_version, hashes):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    p = tmp_path / "s.zarr"
    g = uz.open_group(p, "w", driver=driver, zarr_version=zarr_version)
    a = g.create_array("a", (4,), "u1", chunks=(2,))
    key = p / "a" / ("c/0" if zarr_version == 3 else "0")
    key.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, key)
    a[...] = 7  # both engines write a temporary file and rename it over the link
    assert victim.read_bytes() == b"precious" and not key.is_symlink()
    np.testing.assert_array_equal(a[:], 7)
