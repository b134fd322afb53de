"""``unizarr copy`` across OME-NGFF versions converts every OME node: images, labels,
label images, plates and wells - and refuses what the target version cannot hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import ok, user_error
from unizarr.io.ome_convert import convert_ome_attrs
from unizarr.validation import errors, ome_version, validate_hierarchy

IMG = np.arange(12 * 16, dtype="uint16").reshape(12, 16)


def _plate(path: Path, driver: str) -> Path:
    """A 0.5 plate: one well, one field image with a pyramid and a label image."""
    root = uz.open_group(path, "w", driver=driver, zarr_version=3)
    root.attrs.put({"ome": {"version": "0.5", "plate": {
        "name": "p", "columns": [{"name": "1"}], "rows": [{"name": "A"}],
        "wells": [{"path": "A/1", "rowIndex": 0, "columnIndex": 0}]}}})
    well = root.create_group("A").create_group("1")
    well.attrs.put({"ome": {"version": "0.5", "well": {"images": [{"path": "0"}]}}})
    img = well.create_group("0")
    img.create_array("0", data=IMG)
    img.create_array("1", data=IMG[::2, ::2])
    uz.write_ome_metadata(img, "yx", ome_version="0.5", space_scale=[2.0, 0.5])
    labels = img.create_group("labels")
    labels.attrs.put({"ome": {"version": "0.5", "labels": ["seg"]}})
    seg = labels.create_group("seg")
    seg.create_array("0", data=(IMG % 4).astype("uint8"))
    seg.create_array("1", data=(IMG[::2, ::2] % 4).astype("uint8"))
    uz.write_ome_metadata(seg, "yx", ome_version="0.5", space_scale=[2.0, 0.5])
    attrs = seg.attrs.asdict()
    attrs["ome"]["image-label"] = {"colors": [{"label-value": 1, "rgba": [9, 9, 9, 255]}]}
    seg.attrs.put(attrs)
    return path


NODES = ["", "A/1", "A/1/0", "A/1/0/labels", "A/1/0/labels/seg"]


def _versions(path: Path) -> dict[str, str | None]:
    root = uz.open_group(path, "r")
    return {n: ome_version((root[n] if n else root).attrs.asdict()) for n in NODES}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unizarr.cli", "copy", "--quiet", *args],
                          capture_output=True, text=True)


def test_copy_converts_every_node(tmp_path, driver) -> None:
    src = _plate(tmp_path / "p05.zarr", driver)
    assert errors(validate_hierarchy(uz.open_group(src, "r"))) == []
    steps = [
        ("p04.zarr", ["--zarr-version", "2"], "0.4"),        # v3 -> v2: 0.4 everywhere
        ("p06.zarr", ["--zarr-version", "3", "--ome-version", "0.6"], "0.6"),
        ("p05b.zarr", ["--ome-version", "0.5"], "0.5"),      # and back down from 0.6
    ]
    prev = src
    for name, opts, want in steps:
        out = tmp_path / name
        ok(_cli(str(prev), str(out), "--driver", driver, *opts))
        assert _versions(out) == {n: want for n in NODES}
        root = uz.open_group(out, "r", driver=driver)
        assert [str(f) for f in errors(validate_hierarchy(root))] == []
        np.testing.assert_array_equal(root["A/1/0/labels/seg/1"][:], IMG[::2, ::2] % 4)
        prev = out
    # the round trip 0.5 -> 0.4 -> 0.6 -> 0.5 gives back the same metadata
    for n in NODES:
        a = uz.open_group(src, "r")
        b = uz.open_group(prev, "r")
        assert (b[n] if n else b).attrs.asdict() == (a[n] if n else a).attrs.asdict(), n


def test_0_6_affine_to_0_4(tmp_path) -> None:
    attrs = {"ome": {"version": "0.6", "multiscales": [{
        "coordinateSystems": [
            {"name": "intrinsic", "axes": [{"name": "y", "type": "space"},
                                           {"name": "x", "type": "space"}]},
            {"name": "world", "axes": [{"name": "y", "type": "space"},
                                       {"name": "x", "type": "space"}]}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [2.0, 2.0], "input": {"path": "0"},
             "output": {"name": "intrinsic"}}]}],
        "coordinateTransformations": [
            {"type": "affine", "affine": [[3.0, 0.0, 5.0], [0.0, 1.0, 0.0]],
             "input": {"name": "intrinsic"}, "output": {"name": "world"}}]}]}}
    ms = convert_ome_attrs(attrs, "0.4")["multiscales"][0]
    assert ms["coordinateTransformations"] == [
        {"type": "scale", "scale": [3.0, 1.0]},
        {"type": "translation", "translation": [5.0, 0.0]}]
    assert ms["axes"] == attrs["ome"]["multiscales"][0]["coordinateSystems"][0]["axes"]
    sheared = json.loads(json.dumps(attrs))
    sheared["ome"]["multiscales"][0]["coordinateTransformations"][0]["affine"][0][1] = 0.5
    with pytest.raises(ValueError, match="keep --ome-version 0.6"):
        convert_ome_attrs(sheared, "0.4")


def test_copy_refuses_a_rotation_before_writing(tmp_path) -> None:
    g = uz.open_group(tmp_path / "rot.zarr", "w", zarr_version=3)
    g.create_array("0", data=IMG)
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    g.attrs.put({"ome": {"version": "0.6", "multiscales": [{
        "coordinateSystems": [{"name": "i", "axes": axes}, {"name": "w", "axes": axes}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0], "input": {"path": "0"},
             "output": {"name": "i"}}]}],
        "coordinateTransformations": [{"type": "rotation", "rotation": [[0, 1], [-1, 0]],
                                       "input": {"name": "i"}, "output": {"name": "w"}}]}]}})
    before = tree_hashes(tmp_path)
    user_error(_cli(str(tmp_path / "rot.zarr"), str(tmp_path / "out.zarr"),
                    "--ome-version", "0.5"), "keep --ome-version 0.6")
    assert tree_hashes(tmp_path) == before
