"""Mode ``"w"`` of the library API (``open_group``, ``open_array``, ``from_config`` with
``overwrite=True``) replaces only an empty location or a Zarr node holding nothing
foreign: never a bucket root with objects in it, never a non-Zarr folder, prefix or
file. The same rule as ``convert/copy --overwrite`` (``unizarr.output_guard``).

Every refusal asserts ``FileExistsError`` naming the location AND the unchanged disk
(file hashes) or object listing (S3, moto's real server, read with boto3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import numpy as np
import pytest

import unizarr as uz


def _open_group(url: Any, driver: str, zv: int, so: dict | None = None) -> Any:
    return uz.open_group(url, "w", driver=driver, zarr_version=zv, storage_options=so)


def _open_array(url: Any, driver: str, zv: int, so: dict | None = None) -> Any:
    return uz.open_array(url, "w", driver=driver, zarr_version=zv, storage_options=so,
                         shape=(4,), dtype="i4")


def _from_config(url: Any, driver: str, zv: int, so: dict | None = None) -> Any:
    return uz.from_config(url, uz.ZarrConfig(overwrite=True, zarr_version=zv),
                          driver=driver, storage_options=so)


OPENERS: dict[str, Callable[..., Any]] = {
    "open_group": _open_group, "open_array": _open_array, "from_config": _from_config,
}


@pytest.fixture(params=sorted(OPENERS))
def opener(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return OPENERS[request.param]


def make_store(url: Any, driver: str, zv: int, so: dict | None = None) -> None:
    g = uz.open_group(url, "w", driver=driver, zarr_version=zv, storage_options=so)
    g.create_array("0", (8, 8), "u2", chunks=(4, 4))[:] = 7
    g.create_group("labels/cells").attrs["x"] = 1


# -- local --------------------------------------------------------------------------------
def test_non_zarr_folder_is_refused(tmp_path, hashes, driver, zarr_version, opener) -> None:
    out = tmp_path / "photos"
    (out / "sub").mkdir(parents=True)
    (out / "cat.jpg").write_bytes(b"\xff\xd8 not a zarr")
    (out / "sub" / "notes.txt").write_text("keep me")
    before = hashes(out)
    with pytest.raises(FileExistsError, match="not a Zarr store") as exc:
        opener(out, driver, zarr_version)
    assert str(out) in str(exc.value) and "remove it yourself" in str(exc.value)
    assert hashes(out) == before


def test_a_file_is_refused(tmp_path, hashes, driver, zarr_version, opener) -> None:
    out = tmp_path / "notes.zarr"
    out.write_text("a file, not a store")
    before = hashes(tmp_path)
    with pytest.raises(FileExistsError, match="not a directory"):
        opener(out, driver, zarr_version)
    assert hashes(tmp_path) == before


@pytest.mark.parametrize("where", ["root", "group", "plain-subfolder"])
def test_zarr_store_with_a_foreign_file_is_refused(
    tmp_path, hashes, driver, zarr_version, opener, where
) -> None:
    out = tmp_path / "out.zarr"
    make_store(out, driver, zarr_version)
    target = {"root": out, "group": out / "labels", "plain-subfolder": out / "notes"}[where]
    target.mkdir(exist_ok=True)
    (target / "README.txt").write_text("the lab's notes")
    before = hashes(out)
    with pytest.raises(FileExistsError, match="not Zarr data") as exc:
        opener(out, driver, zarr_version)
    assert "README.txt" in str(exc.value) and str(out) in str(exc.value)
    assert hashes(out) == before


def test_clean_zarr_store_is_replaced(tmp_path, driver, zarr_version, opener) -> None:
    out = tmp_path / "out.zarr"
    make_store(out, driver, zarr_version)
    (out / ".unizarr-pyramid.json").write_text("{}")  # unizarr's own documents are Zarr's
    node = opener(out, driver, zarr_version)
    assert not (out / "0").exists() and not (out / "labels").exists()
    if isinstance(node, uz.ZarrGroup):
        assert list(node.keys()) == []
    else:
        assert node.shape == (4,)
    assert uz.open_group(tmp_path / "other.zarr", "a") is not None  # siblings unaffected


@pytest.mark.parametrize("state", ["missing", "empty-dir"])
def test_empty_location_is_created(tmp_path, driver, zarr_version, opener, state) -> None:
    out = tmp_path / "new.zarr"
    if state == "empty-dir":
        out.mkdir()
    opener(out, driver, zarr_version)
    names = {p.name for p in out.iterdir()}
    assert names & {"zarr.json", ".zgroup", ".zarray"}


def test_members_replaced_in_an_open_group_keep_their_behaviour(
    tmp_path, driver, zarr_version
) -> None:
    """``create_array(name, overwrite=True)`` replaces a member (a Zarr node) as before."""
    out = tmp_path / "out.zarr"
    make_store(out, driver, zarr_version)
    g = uz.open_group(out, "r+", driver=driver)
    a = g.create_array("0", (3,), "f4", overwrite=True)
    a[:] = 1.5
    sub = g.create_group("labels", overwrite=True)
    assert list(sub.keys()) == []
    np.testing.assert_array_equal(uz.open_group(out, "r")["0"][:], np.full(3, 1.5, "f4"))


def test_block_key_names_the_stored_object(tmp_path, driver, zarr_version) -> None:
    out = tmp_path / "out.zarr"
    g = uz.open_group(out, "w", driver=driver, zarr_version=zarr_version)
    a = g.create_array("0", (8, 8), "u1", chunks=(4, 4))
    a[4:, :4] = 3
    key = a.block_key((1, 0))
    assert (out / key).is_file()
    assert a.block_bytes((1, 0)) == (out / key).read_bytes()
    assert a.block_bytes((0, 1)) is None and not (out / a.block_key((0, 1))).exists()


# -- S3 (moto's real server) ------------------------------------------------------------------
def _client(options: dict) -> Any:
    return boto3.client("s3", endpoint_url=options["endpoint_url"], aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1")


def listing(bucket: str, options: dict) -> dict[str, str]:
    out = {}
    for page in _client(options).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["ETag"]
    return out


def put(bucket: str, options: dict, key: str, body: bytes) -> None:
    _client(options).put_object(Bucket=bucket, Key=key, Body=body)


@pytest.mark.parametrize("content", ["foreign", "zarr"])
def test_s3_bucket_root_with_objects_is_refused(
    s3_bucket, driver, zarr_version, opener, content
) -> None:
    bucket, so = s3_bucket
    if content == "zarr":  # even a clean Zarr store at the root: the bucket is not ours
        make_store(f"s3://{bucket}", driver, zarr_version, so)
    else:
        put(bucket, so, "raw/acquisition-001.tif", b"irreplaceable")
        put(bucket, so, "README", b"lab bucket")
    before = listing(bucket, so)
    with pytest.raises(FileExistsError, match="bucket root") as exc:
        opener(f"s3://{bucket}", driver, zarr_version, so)
    assert f"s3://{bucket}" in str(exc.value)
    assert listing(bucket, so) == before


def test_s3_non_zarr_prefix_is_refused(s3_bucket, driver, zarr_version, opener) -> None:
    bucket, so = s3_bucket
    put(bucket, so, "data/raw/a.tif", b"a")
    put(bucket, so, "data/b.csv", b"b")
    before = listing(bucket, so)
    with pytest.raises(FileExistsError, match="not a Zarr store"):
        opener(f"s3://{bucket}/data", driver, zarr_version, so)
    assert listing(bucket, so) == before


def test_s3_zarr_store_with_a_foreign_object_is_refused(
    s3_bucket, driver, zarr_version, opener
) -> None:
    bucket, so = s3_bucket
    url = f"s3://{bucket}/out.zarr"
    make_store(url, driver, zarr_version, so)
    put(bucket, so, "out.zarr/labels/provenance.txt", b"who made this")
    before = listing(bucket, so)
    with pytest.raises(FileExistsError, match="provenance.txt"):
        opener(url, driver, zarr_version, so)
    assert listing(bucket, so) == before


def test_s3_clean_zarr_store_is_replaced(s3_bucket, driver, zarr_version, opener) -> None:
    bucket, so = s3_bucket
    url = f"s3://{bucket}/out.zarr"
    make_store(url, driver, zarr_version, so)
    put(bucket, so, "out.zarr.bak/keep", b"a sibling prefix sharing the name")
    put(bucket, so, "other/keep", b"elsewhere in the bucket")
    opener(url, driver, zarr_version, so)
    keys = set(listing(bucket, so))
    assert {"out.zarr.bak/keep", "other/keep"} <= keys
    assert not any(k.startswith(("out.zarr/0/", "out.zarr/labels/")) for k in keys)


@pytest.mark.parametrize("where", ["prefix", "bucket-root"])
def test_s3_empty_location_is_created(s3_bucket, driver, zarr_version, opener, where) -> None:
    bucket, so = s3_bucket
    url = f"s3://{bucket}/new.zarr" if where == "prefix" else f"s3://{bucket}"
    opener(url, driver, zarr_version, so)
    meta = {"zarr.json", ".zgroup", ".zarray"}
    names = {k.rpartition("/")[2] for k in listing(bucket, so)}
    assert names & meta
