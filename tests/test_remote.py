"""Remote stores on every driver: s3:// against moto's real S3 API server, memory://."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import unizarr as uz


def _remote_drivers():
    return [d for d in uz.drivers() if d in ("zarr-python", "tensorstore")]


@pytest.fixture(params=_remote_drivers())
def rdriver(request):
    return request.param


def test_s3_round_trip_and_group_semantics(rdriver, zarr_version, s3_bucket):
    bucket, so = s3_bucket
    url = f"s3://{bucket}/data/x.zarr"
    g = uz.open_group(url, "w", driver=rdriver, zarr_version=zarr_version, storage_options=so)
    ref = np.arange(40 * 30 * 20, dtype="u2").reshape(40, 30, 20)
    shards = {"shards": (32,)} if zarr_version == 3 else {}
    a = g.create_array("0", ref.shape, data=ref, chunks=(16,), **shards)
    g.attrs["k"] = "v"
    g.create_array("a", (3,), "i4", data=[1, 2, 3])
    g.create_array("ab", (3,), "i4", data=[4, 5, 6])
    g.create_group("sub/inner")
    assert g.keys() == ["0", "a", "ab", "sub"]
    np.testing.assert_array_equal(a[...], ref)
    np.testing.assert_array_equal(a[3:17, ::-2, 5], ref[3:17, ::-2, 5])
    del g["a"]  # must not touch "ab", which shares the string prefix
    assert g.keys() == ["0", "ab", "sub"]
    np.testing.assert_array_equal(g["ab"][...], [4, 5, 6])
    r = uz.open_group(url, "r", driver=rdriver, storage_options=so)
    assert r.attrs["k"] == "v" and r.zarr_version == zarr_version
    with pytest.raises(uz.ReadOnlyError):
        r["0"][0, 0, 0] = 1
    for name in ("..", "/x", "a/../b"):
        with pytest.raises(ValueError):
            r[name]


def test_s3_cross_driver(zarr_version, s3_bucket):
    drivers = _remote_drivers()
    if len(drivers) < 2:
        pytest.skip("needs both drivers")
    bucket, so = s3_bucket
    ref = np.random.default_rng(0).random((20, 20)).astype("f4")
    for writer in drivers:
        for reader in drivers:
            url = f"s3://{bucket}/{writer}-{reader}.zarr"
            g = uz.open_group(url, "w", driver=writer, zarr_version=zarr_version, storage_options=so)
            g.create_array("0", ref.shape, data=ref, chunks=(8,))
            back = uz.open_array(url + "/0", "r", driver=reader, storage_options=so)
            np.testing.assert_array_equal(back[...], ref)


def test_s3_missing_node_and_bucket(rdriver, s3_bucket):
    bucket, so = s3_bucket
    with pytest.raises(FileNotFoundError):
        uz.open_group(f"s3://{bucket}/nothing.zarr", "r", driver=rdriver, storage_options=so)
    with pytest.raises(FileNotFoundError):
        uz.open_group(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x.zarr", "r", driver=rdriver, storage_options=so)


def test_unknown_storage_option_is_value_error(rdriver, s3_bucket):
    bucket, so = s3_bucket
    with pytest.raises(ValueError, match="unknown storage option"):
        uz.open_group(f"s3://{bucket}/x.zarr", "w", driver=rdriver, storage_options={**so, "endpoint": "x"})


def test_memory_store_shared_within_process(rdriver, zarr_version):
    url = f"memory://t-{uuid.uuid4().hex[:8]}/g.zarr"
    g = uz.open_group(url, "w", driver=rdriver, zarr_version=zarr_version)
    g["x"] = np.arange(5)
    again = uz.open_group(url, "r", driver=rdriver)
    np.testing.assert_array_equal(again["x"][...], np.arange(5))
    assert again.keys() == ["x"]
    del g["x"]
    assert again.keys() == []


def test_http_is_read_only(rdriver, zarr_version, http_root):
    base, root = http_root
    ref = np.arange(24, dtype="i4").reshape(4, 6)
    g = uz.open_group(root / "h.zarr", "w", zarr_version=zarr_version)
    g.create_array("0", ref.shape, data=ref, chunks=(2,))
    g.create_group("sub")
    g.attrs["k"] = 1
    url = f"{base}/h.zarr"
    for mode in ("r", "r+", "a"):
        h = uz.open_group(url, mode, driver=rdriver)
        assert h.zarr_version == zarr_version and h.attrs["k"] == 1
        np.testing.assert_array_equal(h["0"][1:3, ::2], ref[1:3, ::2])
        np.testing.assert_array_equal(uz.open_array(url + "/0", mode, driver=rdriver)[...], ref)
        with pytest.raises(uz.ReadOnlyError):
            h["0"][0, 0] = 5
        with pytest.raises(uz.ReadOnlyError):
            h.attrs["x"] = 2
        with pytest.raises(uz.ReadOnlyError):
            h.create_group("new")
        with pytest.raises(uz.ReadOnlyError):
            del h["sub"]
    for mode in ("w", "w-"):
        with pytest.raises(uz.ReadOnlyError):
            uz.open_group(url, mode, driver=rdriver)
    with pytest.raises(FileNotFoundError):
        uz.open_group(f"{base}/missing.zarr", "r", driver=rdriver)
    assert uz.open_group(url, "r", driver=rdriver).keys() == ["0", "sub"]
