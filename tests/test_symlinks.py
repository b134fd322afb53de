"""Deleting a member never follows a symlink out of the store."""

from __future__ import annotations

import os

import numpy as np
import pytest

import unizarr as uz
from tests.helpers import snapshot


def test_delete_does_not_follow_symlinks(driver, zarr_version, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (outside / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    before = snapshot(outside)

    g = uz.open_group(tmp_path / "s.zarr", "w", driver=driver, zarr_version=zarr_version)
    g.create_array("a", (4,), "i4", data=np.arange(4))
    os.symlink(outside, tmp_path / "s.zarr" / "a" / "link")       # inside a member
    g.create_group("b")
    os.symlink(outside, tmp_path / "s.zarr" / "b" / "inner")
    del g["a"]
    del g["b"]
    assert g.keys() == []
    # whole-store replacement (mode "w") must not follow links either: a link the user
    # made is not Zarr data, so mode "w" refuses (docs/safety.md, scope of mode "w")
    os.symlink(outside, tmp_path / "s.zarr" / "top")
    with pytest.raises(FileExistsError, match="top"):
        uz.open_group(tmp_path / "s.zarr", "w", driver=driver, zarr_version=zarr_version)
    assert os.path.islink(tmp_path / "s.zarr" / "top")
    os.unlink(tmp_path / "s.zarr" / "top")
    uz.open_group(tmp_path / "s.zarr", "w", driver=driver, zarr_version=zarr_version)
    assert snapshot(outside) == before


def test_symlinked_member_is_unlinked_not_emptied(driver, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    (outside / "precious.txt").write_text("keep me")
    before = snapshot(outside)
    g = uz.open_group(tmp_path / "s.zarr", "w", driver=driver, zarr_version=3)
    os.symlink(outside, tmp_path / "s.zarr" / "linked")
    assert "linked" in g
    del g["linked"]
    assert "linked" not in g and not (tmp_path / "s.zarr" / "linked").exists()
    assert snapshot(outside) == before
