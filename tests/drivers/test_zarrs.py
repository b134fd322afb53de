"""The ``zarrs`` driver's own promises: the zarrs pipeline on its arrays only (scoped per
array, never through zarr-python's process-wide config), the same files as the
``zarr-python`` driver, and the documented crash-atomicity limit.

Its conformance to the node contract is tests/conformance (``-k zarrs``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

import unizarr as uz

pytest.importorskip("zarrs")

from zarrs import ZarrsCodecPipeline  # noqa: E402


def _pipeline(arr: uz.ZarrArray) -> type:
    return type(arr._native._async_array.codec_pipeline)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_zarrs_arrays_only_use_the_zarrs_pipeline(zarr_version: int, tmp_path: Path) -> None:
    path = zarr.config.get("codec_pipeline.path")
    g = uz.open_group(str(tmp_path / "s.zarr"), "w", driver="zarrs", zarr_version=zarr_version)
    a = g.create_array("a", (32, 32), "u2", chunks=(8,), data=np.arange(1024, dtype="u2").reshape(32, 32))
    assert type(a).__name__ == "ZarrsArray" and a.driver_name == "zarrs"
    assert _pipeline(a) is ZarrsCodecPipeline
    assert type(a._dense._async_array.codec_pipeline) is ZarrsCodecPipeline  # the write path too
    b = uz.open_array(a.url, "r", driver="zarr-python")
    assert _pipeline(b) is not ZarrsCodecPipeline
    assert type(zarr.open_array(a.url, mode="r")._async_array.codec_pipeline) is not ZarrsCodecPipeline
    assert zarr.config.get("codec_pipeline.path") == path
    np.testing.assert_array_equal(b[...], a[...])


def test_scoping_holds_across_threads(tmp_path: Path) -> None:
    """Handles of both drivers opened at the same time from many threads each get their
    own driver's pipeline (a process-wide config switch would leak across them)."""
    url = str(tmp_path / "a.zarr")
    uz.open_array(url, "w", shape=(64,), dtype="i4", chunks=(8,))[...] = np.arange(64)
    seen: dict[str, set[type]] = {"zarrs": set(), "zarr-python": set()}
    lock = threading.Lock()

    def open_many(driver: str) -> None:
        for _ in range(25):
            kind = _pipeline(uz.open_array(url, "r", driver=driver))
            with lock:
                seen[driver].add(kind)

    threads = [threading.Thread(target=open_many, args=(d,)) for d in ("zarrs", "zarr-python") * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["zarrs"] == {ZarrsCodecPipeline}
    assert ZarrsCodecPipeline not in seen["zarr-python"] and len(seen["zarr-python"]) == 1


def test_the_old_environment_switch_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIZARR_ZARRS", "1")
    a = uz.open_array(str(tmp_path / "a.zarr"), "w", shape=(8,), dtype="i4", driver="zarr-python")
    assert _pipeline(a) is not ZarrsCodecPipeline


@pytest.mark.parametrize("case", ["fortran", "memory"])
def test_arrays_zarrs_does_not_serve_keep_zarr_pythons_pipeline(case: str, zarr_version: int, tmp_path: Path) -> None:
    ref = np.arange(60, dtype="i2").reshape(3, 4, 5)
    if case == "fortran":
        url, kw = str(tmp_path / "f.zarr"), {"order": "F"}
    else:
        url, kw = f"memory://zarrs-{os.getpid()}-{zarr_version}-{id(ref)}", {}
    a = uz.open_array(url, "w", shape=ref.shape, dtype="i2", chunks=(2,), zarr_version=zarr_version, driver="zarrs", **kw)
    a[...] = ref
    assert _pipeline(a) is not ZarrsCodecPipeline
    np.testing.assert_array_equal(uz.open_array(url, "r", driver="zarrs")[...], ref)


def test_same_files_as_the_zarr_python_driver(zarr_version: int, tmp_path: Path) -> None:
    ref = np.random.default_rng(7).integers(0, 5000, (40, 30, 20)).astype("u2")
    shards = {"shards": (16, 16, 16)} if zarr_version == 3 else {}
    for driver in ("zarrs", "zarr-python"):
        g = uz.open_group(str(tmp_path / f"{driver}.zarr"), "w", driver=driver, zarr_version=zarr_version)
        g.create_array("0", ref.shape, "u2", chunks=(8,), compressor="zstd", data=ref, **shards)
    got, expected = _files(tmp_path / "zarrs.zarr"), _files(tmp_path / "zarr-python.zarr")
    assert got.keys() == expected.keys()
    for key in got:  # data decode identically; metadata documents are byte-identical
        if key.endswith(("zarr.json", ".zarray", ".zgroup", ".zattrs")):
            assert got[key] == expected[key], key
    for driver in ("zarrs", "zarr-python", "tensorstore"):
        np.testing.assert_array_equal(uz.open_array(str(tmp_path / "zarrs.zarr" / "0"), "r", driver=driver)[...], ref)


def test_documented_limit_blocks_are_rewritten_in_place(tmp_path: Path) -> None:
    """docs and the driver's docstring say: zarrs rewrites a block file in place (same
    inode: a crash or a concurrent reader can see it torn), zarr-python writes a new
    file and renames it. If zarrs becomes atomic this fails and the docs must change."""
    inodes = {}
    for driver in ("zarrs", "zarr-python"):
        url = str(tmp_path / f"{driver}.zarr")
        a = uz.open_array(url, "w", shape=(8,), dtype="i4", chunks=(8,), driver=driver, zarr_version=3)
        a[...] = 1
        chunk = Path(url) / "c" / "0"
        before = os.stat(chunk).st_ino
        a[...] = 2
        inodes[driver] = before == os.stat(chunk).st_ino
        np.testing.assert_array_equal(uz.open_array(url, "r", driver="zarr-python")[...], 2)
    assert inodes == {"zarrs": True, "zarr-python": False}


def test_pickled_zarrs_handles_reopen_as_zarrs(tmp_path: Path) -> None:
    import pickle

    a = uz.open_array(str(tmp_path / "a.zarr"), "w", shape=(4,), dtype="i4", driver="zarrs")
    clone = pickle.loads(pickle.dumps(a))
    assert type(clone) is type(a) and clone.driver_name == "zarrs"
    assert _pipeline(clone) is ZarrsCodecPipeline
