"""The one translation of storage_options into each engine's store description."""

from __future__ import annotations

import os

import pytest

from unizarr.drivers.tensorstore_storage import tensorstore_kvstore
from unizarr.paths import parse_url
from unizarr.storage import check_options, fsspec_target


def test_unknown_and_incomplete_options():
    with pytest.raises(ValueError, match="unknown storage option"):
        check_options({"endpoint": "x"})
    with pytest.raises(ValueError, match="together"):
        check_options({"key": "a"})
    with pytest.raises(ValueError):
        check_options({"timeout": -1})


def test_s3_both_engines_get_the_same_meaning():
    loc = parse_url("s3://bucket/some/prefix.zarr")
    opts = {"endpoint_url": "http://127.0.0.1:9", "key": "K", "secret": "S", "retries": 1}
    url, kw = fsspec_target(loc, opts)
    assert url == "s3://bucket/some/prefix.zarr"
    assert kw["endpoint_url"] == "http://127.0.0.1:9" and kw["key"] == "K" and kw["secret"] == "S"
    assert kw["client_kwargs"] == {"region_name": "us-east-1"}
    spec, ctx = tensorstore_kvstore(loc, opts)
    assert spec == {"driver": "s3", "bucket": "bucket", "path": "some/prefix.zarr/",
                    "endpoint": "http://127.0.0.1:9", "aws_region": "us-east-1"}
    cred = ctx["aws_credentials"]
    assert cred["type"] == "profile"
    text = open(cred["credentials_file"]).read()
    assert "aws_access_key_id = K" in text and "aws_secret_access_key = S" in text
    assert oct(os.stat(cred["credentials_file"]).st_mode & 0o777) == "0o600"
    assert ctx["s3_request_retries"]["max_retries"] == 2


def test_anonymous():
    loc = parse_url("s3://pub/x")
    assert fsspec_target(loc, {"anon": True})[1]["anon"] is True
    assert tensorstore_kvstore(loc, {"anon": True})[1]["aws_credentials"] == {"type": "anonymous"}
    assert fsspec_target(parse_url("gs://pub/x"), {"anon": True})[1]["token"] == "anon"


def test_local_memory_http():
    assert tensorstore_kvstore(parse_url("/tmp/a.zarr"), None)[0] == {"driver": "file", "path": "/tmp/a.zarr/"}
    assert tensorstore_kvstore(parse_url("memory://m/x"), None)[0] == {"driver": "memory", "path": "m/x/"}
    spec, _ = tensorstore_kvstore(parse_url("http://127.0.0.1:8000/d.zarr"), None)
    assert spec == {"driver": "http", "base_url": "http://127.0.0.1:8000/d.zarr/"}
    url, kw = fsspec_target(parse_url("http://127.0.0.1:8000/d.zarr"), None)
    assert url == "http://127.0.0.1:8000/d.zarr"


def test_engine_specific_extras():
    loc = parse_url("s3://b/x")
    assert fsspec_target(loc, {"fsspec": {"use_ssl": False}})[1]["use_ssl"] is False
    assert tensorstore_kvstore(loc, {"tensorstore": {"requester_pays": True}})[0]["requester_pays"] is True
