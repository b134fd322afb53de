"""``uz.view`` / ``unizarr view``: the Neuroglancer state from OME / NIfTI-Zarr metadata,
``--print-state`` (local and remote sources), the Python fallback for what the bundled
client cannot read, and reading stores from servers that refuse directory listings."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import nibabel
import numpy as np
import pytest

import unizarr as uz
from unizarr.view import find_images, unsupported_reason, viewer_state

from .helpers import ok, user_error
from .viewer_stores import phantom, write_image

SAMPLE = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *args],
                          capture_output=True, text=True, timeout=180)


def test_state_layers_units_window(driver, zarr_version, tmp_path):
    store = write_image(tmp_path / "p.ome.zarr", driver, zarr_version, labels=True)
    images = find_images(uz.open_group(store, "r", driver=driver))
    assert [(i.path, i.kind) for i in images] == [("", "image"), ("labels/ball", "segmentation")]
    state = viewer_state(images, "http://127.0.0.1:9/")
    scheme = "zarr3" if zarr_version == 3 else "zarr2"
    image, labels = state["layers"]
    assert image["type"] == "image" and image["source"]["url"] == f"{scheme}://http://127.0.0.1:9/"
    assert labels["type"] == "segmentation"
    assert labels["source"]["url"] == f"{scheme}://http://127.0.0.1:9/labels/ball/"
    assert state["dimensions"] == {"x": [5e-7, "m"], "y": [5e-7, "m"], "z": [2e-6, "m"]}
    # the window comes from the smallest level, read with the engine under test
    low = uz.open_array(store / "1", "r", driver=driver)[...]
    lo, hi = np.percentile(low, [0.5, 99.5])
    assert image["shaderControls"]["normalized"]["range"] == pytest.approx([lo, hi])
    assert lo < hi


def test_state_channels_and_time(tmp_path):
    data = np.stack([phantom((8, 16, 16)) * (c + 1) for c in range(3)])[None]  # t, c, z, y, x
    store = write_image(tmp_path / "c.ome.zarr", "tensorstore", 3, data=data,
                        axes=("t", "c", "z", "y", "x"), scale=(1.0, 1.0, 1.0))
    images = find_images(uz.open_group(store))
    state = viewer_state(images, "http://127.0.0.1:9/")
    dims = state["dimensions"]
    assert "c'" not in dims and "c" not in dims  # channels: the client's local c' dimension
    assert dims["t"] == [1.0, "s"] and dims["x"] == [1e-6, "m"]
    assert list(dims) == ["x", "y", "z", "t"]
    assert images[0].axes[1] == {"name": "c", "type": "channel", "unit": None}



def _time_series(path: Path, driver: str, zarr_version: int) -> Path:
    """A 4-D image whose first axis is time: 3 time points of a phantom."""
    data = np.stack([phantom((8, 16, 16)) + 100 * t for t in range(3)])
    return write_image(path, driver, zarr_version, data=data, axes=("t", "z", "y", "x"),
                       scale=(1.0, 1.0, 1.0))


def _drop_ome_axes(store: Path, driver: str) -> None:
    g = uz.open_group(store, "r+", driver=driver)
    attrs = g.attrs.asdict()
    ms = (attrs["ome"] if "ome" in attrs else attrs)["multiscales"][0]
    del ms["axes"]  # as written by pre-0.4 tools: the viewer must guess
    g.attrs.put(attrs)


def test_state_time_first_4d(driver, zarr_version, tmp_path):
    """OME axes t, z, y, x: a time axis in seconds, never channels."""
    store = _time_series(tmp_path / "t.ome.zarr", driver, zarr_version)
    (image,) = find_images(uz.open_group(store, "r", driver=driver))
    assert [(a["name"], a["type"]) for a in image.axes] == [
        ("t", "time"), ("z", "space"), ("y", "space"), ("x", "space")]
    assert image.problems == []
    dims = viewer_state([image], "http://127.0.0.1:9/")["dimensions"]
    assert list(dims) == ["x", "y", "z", "t"] and dims["t"] == [1.0, "s"]


def test_time_first_4d_without_ome_axes_uses_dimension_names(driver, zarr_version, tmp_path):
    """No OME axes: the array's dimension names (v3 ``dimension_names``, v2 xarray's
    ``_ARRAY_DIMENSIONS``) say the first axis is time; the guess is only for arrays
    naming none, and is reported."""
    store = _time_series(tmp_path / "t.ome.zarr", driver, zarr_version)
    _drop_ome_axes(store, driver)
    base = uz.open_array(store / "0", "r+", driver=driver)
    if zarr_version == 3:
        assert base.dimension_names == ("t", "z", "y", "x")  # written with OME 0.5
    else:
        base.attrs["_ARRAY_DIMENSIONS"] = ["t", "z", "y", "x"]
    (image,) = find_images(uz.open_group(store, "r", driver=driver))
    assert [(a["name"], a["type"]) for a in image.axes] == [
        ("t", "time"), ("z", "space"), ("y", "space"), ("x", "space")]
    assert image.problems == ["no OME axes for its 4 dimensions; using the array's dimension names"]
    assert "t" in viewer_state([image], "http://127.0.0.1:9/")["dimensions"]

    if zarr_version == 3:
        base.set_dimension_names(None)
    else:
        base.attrs.put({})
    (image,) = find_images(uz.open_group(store, "r", driver=driver))
    assert [a["name"] for a in image.axes] == ["c", "z", "y", "x"]
    assert image.problems == [
        "no OME axes for its 4 dimensions, nor dimension names; assumed czyx"]

def test_state_nifti_affine(tmp_path):
    store = tmp_path / "brain.ome.zarr"
    ok(cli("convert", str(SAMPLE), str(store), "--zarr-version", "2", "--quiet"))
    (image,) = find_images(uz.open_group(store))
    layer = viewer_state([image], "http://127.0.0.1:9/")["layers"][0]
    transform = layer["source"]["transform"]
    assert transform["outputDimensions"] == {"x": [1e-3, "m"], "y": [1e-3, "m"], "z": [1e-3, "m"]}
    affine = nibabel.load(SAMPLE).affine
    matrix = np.array(transform["matrix"])  # rows x, y, z; columns z, y, x, offset
    np.testing.assert_allclose(matrix[:, :3], affine[:3, [2, 1, 0]])
    np.testing.assert_allclose(matrix[:, 3], affine[:3, 3])
    # a voxel index maps to the world point nibabel gives
    ijk = np.array([3, 7, 11])
    np.testing.assert_allclose(matrix[:, :3] @ ijk[::-1] + matrix[:, 3],
                               nibabel.affines.apply_affine(affine, ijk))


def test_cli_print_state_local(tmp_path):
    store = write_image(tmp_path / "p.ome.zarr", "zarr-python", 2)
    state = json.loads(ok(cli("view", str(store), "--print-state", "--port", "8123")).stdout)
    assert state["layers"][0]["source"]["url"] == "zarr2://http://127.0.0.1:8123/"


def test_cli_print_state_remote_sources(s3_bucket):
    bucket, options = s3_bucket
    url = f"s3://{bucket}/img.ome.zarr"
    g = uz.open_group(url, "w", zarr_version=3, storage_options=options)
    g.create_array("0", (8, 8, 8), "uint8", data=np.arange(512, dtype="u1").reshape(8, 8, 8))
    uz.write_ome_metadata(g, ("z", "y", "x"), ome_version="0.5")
    proc = ok(cli("view", url, "--print-state", "--storage-options", json.dumps(options)))
    state = json.loads(proc.stdout)
    assert state["layers"][0]["source"]["url"] == f"zarr3://s3://{bucket}/img.ome.zarr/"


def test_view_not_ome_is_user_error(tmp_path):
    g = uz.open_group(tmp_path / "plain.zarr", "w")
    g.create_array("a", (4,), "uint8")
    user_error(cli("view", str(tmp_path / "plain.zarr"), "--no-browser"), "no OME-NGFF multiscale image")


def test_float64_streamed_from_python_with_warning(tmp_path):
    """float64 is beyond the bundled client: a warning, and the image is served by
    Neuroglancer's Python LocalVolume (the data it hands out equals the store's)."""
    data = phantom((8, 16, 16)).astype(np.float64) / 7
    store = write_image(tmp_path / "f.ome.zarr", "zarr-python", 3, data=data)
    (image,) = find_images(uz.open_group(store))
    assert unsupported_reason(image).startswith("data type float64")
    with pytest.warns(UserWarning, match="cannot read data type float64"):
        handle = uz.view(store)
    with handle:
        layer = handle.viewer.state.layers["phantom"]
        volume = layer.source[0].url
        assert volume.startswith("python://")
        assert handle.url.startswith("http://127.0.0.1:")
        page = urllib.request.urlopen(handle.url, timeout=20).read()
        assert b"main." in page  # the bundled client, served locally
        (local,) = handle.viewer.volume_manager.volumes.values()
        assert local.data.dtype == np.float32
        np.testing.assert_allclose(local.data[2:5, :, 3:9], data[2:5, :, 3:9].astype(np.float32))


def test_view_cli_prints_urls_and_stops(tmp_path):
    import signal

    store = write_image(tmp_path / "p.ome.zarr", "tensorstore", 3)
    proc = subprocess.Popen([sys.executable, "-m", "unizarr.cli", "view", str(store), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store_line = proc.stdout.readline()
        viewer_line = proc.stdout.readline()
        assert store_line.startswith("store: http://127.0.0.1:"), store_line
        assert viewer_line.startswith("viewer: http://127.0.0.1:"), viewer_line
        store_url = store_line.split()[1]
        assert json.loads(urllib.request.urlopen(store_url + "zarr.json", timeout=20).read())
        assert b"<html" in urllib.request.urlopen(viewer_line.split()[1], timeout=20).read().lower()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err.strip() == "stopped", err


# -- servers that refuse directory listings -------------------------------------------------
def test_info_and_preview_without_listings(driver, zarr_version, http_root_nolist, tmp_path):
    """`info` and `preview` find the members through the metadata (multiscales
    datasets, labels, nifti) when every directory URL answers 403."""
    base, root = http_root_nolist
    ok(cli("convert", str(SAMPLE), str(root / "img.ome.zarr"), "--driver", driver,
           "--zarr-version", str(zarr_version), "--chunk", "16", "--shard", "none", "--quiet"))
    url = f"{base}/img.ome.zarr"
    with pytest.raises(urllib.error.URLError):  # the server really refuses listings
        urllib.request.urlopen(url + "/", timeout=10)
    info = json.loads(ok(cli("info", url, "--json", "--driver", driver)).stdout)
    names = [m["name"] for m in info["members"]]
    assert names == ["0", "1", "2", "nifti"]
    assert info["members"][0]["shape"] == [25, 41, 33]
    assert info["members"][0]["nbytes_stored"] is None  # unknown without listings
    assert info["nifti"]["dim"] == [33, 41, 25]
    png = tmp_path / "p.png"
    ok(cli("preview", url, "-o", str(png), "--driver", driver))
    local = tmp_path / "local.png"
    ok(cli("preview", str(root / "img.ome.zarr"), "-o", str(local)))
    assert png.read_bytes() == local.read_bytes()  # same pixels as from the disk


def test_labels_found_without_listings(driver, zarr_version, http_root_nolist):
    base, root = http_root_nolist
    # unsharded: Python's http.server answers no byte ranges
    g = uz.open_group(root / "l.ome.zarr", "w", driver=driver, zarr_version=zarr_version)
    data = phantom((8, 16, 16))
    g.create_array("0", data.shape, data.dtype, data=data, chunks=(8, 8, 8))
    ome = "0.5" if zarr_version == 3 else "0.4"
    uz.write_ome_metadata(g, ("z", "y", "x"), ome_version=ome)
    lab = g.create_group("labels")
    ball = lab.create_group("ball")
    ball.create_array("0", data.shape, "uint8", data=(data > 2500).astype("u1"), chunks=(8, 8, 8))
    uz.write_ome_metadata(ball, ("z", "y", "x"), ome_version=ome)
    lab.attrs.put({"ome": {"version": "0.5", "labels": ["ball"]}} if ome == "0.5" else {"labels": ["ball"]})
    remote = uz.open_group(f"{base}/l.ome.zarr", "r", driver=driver)
    assert remote.keys() == ["0", "labels"]
    assert remote["labels"].keys() == ["ball"]
    images = find_images(remote)
    assert [i.path for i in images] == ["", "labels/ball"]
    np.testing.assert_array_equal(remote["labels/ball/0"][...], (data > 2500).astype("u1"))
