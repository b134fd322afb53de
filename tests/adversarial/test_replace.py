"""Validate first, destroy last: every mode "w" / overwrite=True path checks all its
arguments before the existing node is removed."""

from __future__ import annotations

import numpy as np
import pytest

import unizarr as uz


def _array(tmp_path, driver, zarr_version):
    p = tmp_path / "a.zarr"
    uz.open_array(p, "w", driver=driver, zarr_version=zarr_version, shape=(10,), dtype="i4",
                  chunks=(5,), data=np.arange(10) + 3)
    return p


def _group(tmp_path, driver, zarr_version):
    p = tmp_path / "g.zarr"
    g = uz.open_group(p, "w", driver=driver, zarr_version=zarr_version)
    g.create_array("a", (4, 4), "u1", data=np.full((4, 4), 9, "u1"))
    return p, g


def test_open_array_w_with_data_of_the_wrong_shape(driver, zarr_version, tmp_path, hashes):
    p = _array(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="does not fit"):
        uz.open_array(p, "w", driver=driver, shape=(10,), dtype="i4", data=np.arange(5))
    assert hashes(p) == before
    np.testing.assert_array_equal(uz.open_array(p, "r", driver=driver)[:], np.arange(10) + 3)


def test_open_array_w_with_data_of_an_uncastable_dtype(driver, zarr_version, tmp_path, hashes):
    p = _array(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="cannot be stored"):
        uz.open_array(p, "w", driver=driver, shape=(2,), dtype="i4", data=np.array(["x", "y"]))
    assert hashes(p) == before


def test_open_array_w_with_an_invalid_layout(driver, zarr_version, tmp_path, hashes):
    p = _array(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError):
        uz.open_array(p, "w", driver=driver, shape=(10,), dtype="i4", chunks=(0,))
    with pytest.raises(TypeError):
        uz.open_array(p, "w", driver=driver, shape=(10,), dtype="i4", chunkz=(5,))
    assert hashes(p) == before


def test_open_group_w_with_an_unknown_keyword(driver, zarr_version, tmp_path, hashes):
    p, _ = _group(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(TypeError):
        uz.open_group(p, "w", driver=driver, zarr_version=zarr_version, shape=(3,))
    assert hashes(p) == before


def test_create_array_overwrite_with_bad_data(driver, zarr_version, tmp_path, hashes):
    p, g = _group(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError, match="does not fit"):
        g.create_array("a", (4, 4), "u1", data=np.zeros((3, 4)), overwrite=True)
    with pytest.raises(ValueError, match="cannot be stored"):
        g.create_array("a", (1,), "u1", data=np.array(["z"]), overwrite=True)
    assert hashes(p) == before


def test_create_array_overwrite_with_a_bad_layout(driver, zarr_version, tmp_path, hashes):
    p, g = _group(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises((ValueError, TypeError)):
        g.create_array("a", (4, 4), "u1", chunks=(3, 3), shards=(4, 4), overwrite=True)
    with pytest.raises((ValueError, TypeError)):
        g.create_array("a", (4, 4), "not-a-dtype", overwrite=True)
    assert hashes(p) == before


def test_setitem_with_ragged_or_uncastable_data(driver, zarr_version, tmp_path, hashes):
    p, g = _group(tmp_path, driver, zarr_version)
    before = hashes(p)
    with pytest.raises(ValueError):
        g["a"] = [[1, 2], [3]]
    with pytest.raises((ValueError, TypeError)):
        g["a"] = np.array([object(), object()], dtype=object)
    assert hashes(p) == before


def test_create_group_overwrite_with_a_bad_name(driver, zarr_version, tmp_path, hashes):
    p, g = _group(tmp_path, driver, zarr_version)
    before = hashes(p)
    for bad in ("a/../a", "/a", "a/zarr.json", ".unizarr-x"):
        with pytest.raises(ValueError):
            g.create_group(bad, overwrite=True)
    assert hashes(p) == before
