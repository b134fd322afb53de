"""``uz.view`` in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
the bundled Neuroglancer client loads the store from the local servers, shows the
layers with the right shape and units, and WebGL renders the data - with no request
leaving loopback.

Chromium flags: see docs/view.md (``CHROMIUM_FLAGS`` below is the tested set).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unizarr as uz

from ..viewer_stores import phantom, write_image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: No sandbox (root in CI), no first-run UI, no background traffic to Google services
#: (without these, connections to the closed network fail noisily), and WebGL through
#: ANGLE's software SwiftShader backend (no GPU here).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
    "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
#: Layers' data sources are loaded (their coordinate transforms are known).
LAYERS_READY = """() => window.viewer && window.viewer.layerManager.managedLayers.length > 0
  && window.viewer.layerManager.managedLayers.every(l => l.layer && l.layer.dataSources.length
     && l.layer.dataSources[0].loadState && l.layer.dataSources[0].loadState.transform)"""
LAYER_SPACES = """() => window.viewer.layerManager.managedLayers.map(l => {
  const t = l.layer.dataSources[0].loadState.transform.value;
  const sp = (s) => ({names: s.names, units: s.units, scales: Array.from(s.scales),
                      lower: Array.from(s.bounds.lowerBounds), upper: Array.from(s.bounds.upperBounds)});
  return {name: l.name, type: l.layer.type, input: sp(t.inputSpace), output: sp(t.outputSpace)};
})"""


def _nonuniform(png: bytes) -> tuple[bool, float, int]:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return bool(img.std() > 10 and len(np.unique(img)) > 16), float(img.std()), len(np.unique(img))


def browse(handle: Any, tmp_path: Path, screenshot: Path | None = None) -> dict:
    """Open ``handle.url`` headless; return what the page did and showed."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    failures: list[tuple[str, str]] = []
    responses: list[tuple[int, str]] = []
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1000, "height": 800},
        )
        try:
            page = ctx.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failures.append((r.url, r.failure or "")))
            page.on("response", lambda r: responses.append((r.status, r.url)))
            page.goto(handle.url)
            page.wait_for_function(LAYERS_READY, timeout=30_000)
            spaces = page.evaluate(LAYER_SPACES)
            panel = page.locator(".neuroglancer-rendered-data-panel").first
            deadline = time.monotonic() + 30
            while True:  # until WebGL has drawn the data (chunks arrive asynchronously)
                time.sleep(1.0)
                png = panel.screenshot()
                ok, std, levels = _nonuniform(png)
                if ok or time.monotonic() > deadline:
                    break
            time.sleep(1.0)  # let the remaining chunks of the other panels arrive
            full = page.screenshot()
        finally:
            ctx.close()
    if screenshot is not None:
        screenshot.write_bytes(full)
    return {"requests": requests, "failures": failures, "responses": responses,
            "spaces": spaces, "panel_png": png, "panel_stats": (ok, std, levels)}


def check_traffic(seen: dict, handle: Any, store: Path) -> None:
    """No request left loopback; every store request succeeded (a 404 only for a
    chunk that is not on disk: Zarr's fill value; a cancelled request is the client's
    own abort, ``net::ERR_ABORTED``)."""
    hosts = {urllib.parse.urlsplit(u).hostname for u in seen["requests"]
             if urllib.parse.urlsplit(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts and hosts <= LOOPBACK_HOSTS, hosts
    assert not [u for u in seen["requests"] if urllib.parse.urlsplit(u).scheme
                not in ("http", "https", "ws", "wss", "data", "blob")], seen["requests"]
    store_url = handle.server.url
    store_requests = [(s, u) for s, u in seen["responses"] if u.startswith(store_url)]
    assert store_requests, "the client read nothing from the store"
    for status, url in store_requests:
        key = urllib.parse.unquote(url[len(store_url):].split("?", 1)[0])
        if status == 404:  # a probe or a fill-value chunk: really not in the store
            assert not (store / key).exists(), url
        else:
            assert status in (200, 206), (status, url)
    bad = [(u, f) for u, f in seen["failures"] if "ERR_ABORTED" not in f]
    assert not bad, bad


def _space(spaces: list[dict], name: str) -> dict:
    return next(s for s in spaces if s["name"] == name)


def test_view_nifti_brain_in_chromium(tmp_path):
    """The fast representative: a real MRI (nibabel's sample) converted by the CLI
    (zarr-python, Zarr v3 sharded, OME-NGFF 0.5 + NIfTI header), shown through the
    header's affine in RAS millimetres."""
    import nibabel

    sample = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"
    store = tmp_path / "brain.ome.zarr"
    subprocess.run([sys.executable, "-m", "unizarr.cli", "convert", str(sample), str(store),
                    "--zarr-version", "3", "--chunk", "16", "--shard", "32", "--quiet"],
                   check=True, timeout=120)
    shot = Path(os.environ.get("UNIZARR_VIEW_SCREENSHOT", tmp_path / "view.png"))
    with uz.view(store) as handle:
        seen = browse(handle, tmp_path, screenshot=shot)
        check_traffic(seen, handle, store)
    brain = _space(seen["spaces"], "anatomical")
    assert brain["input"]["names"] == ["z", "y", "x"]
    shape = np.subtract(brain["input"]["upper"], brain["input"]["lower"]).round().astype(int)
    assert shape.tolist() == [25, 41, 33]  # Zarr (z, y, x) of the 33×41×25 NIfTI
    assert brain["input"]["units"] == ["m", "m", "m"]
    np.testing.assert_allclose(brain["input"]["scales"], [2e-3] * 3)  # 2 mm voxels
    assert brain["output"]["names"] == ["x", "y", "z"]  # RAS world from the affine
    np.testing.assert_allclose(brain["output"]["scales"], [1e-3] * 3)
    ok, std, levels = seen["panel_stats"]
    assert ok, f"the data panel is uniform (std {std:.1f}, {levels} grey levels): WebGL drew nothing"
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_view_phantom_with_labels_in_chromium(driver, zarr_version, tmp_path):
    """Every engine × Zarr version: the image and its label image as layers with the
    OME axes' shape, units and scales."""
    store = write_image(tmp_path / "ph.ome.zarr", driver, zarr_version, labels=True)
    with uz.view(store) as handle:
        seen = browse(handle, tmp_path)
        check_traffic(seen, handle, store)
    for name, kind in (("phantom", "image"), ("ball", "segmentation")):
        sp = _space(seen["spaces"], name)
        assert sp["type"] == kind
        assert sp["input"]["names"] == ["z", "y", "x"]
        shape = np.subtract(sp["input"]["upper"], sp["input"]["lower"]).round().astype(int)
        assert shape.tolist() == list(phantom().shape)
        assert sp["input"]["units"] == ["m", "m", "m"]
        np.testing.assert_allclose(sp["input"]["scales"], [2e-6, 5e-7, 5e-7])
    assert seen["panel_stats"][0], seen["panel_stats"]
