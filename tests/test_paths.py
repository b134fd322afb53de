"""URL parsing and member-name validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from unizarr.paths import Location, parse_url, validate_member_name


def test_parse_local_and_urls(tmp_path):
    assert parse_url(tmp_path / "x.zarr") == Location("file", str(tmp_path / "x.zarr"))
    assert parse_url(f"file://{tmp_path}/x") == Location("file", f"{tmp_path}/x")
    assert parse_url("rel.zarr").path == os.path.abspath("rel.zarr")
    assert parse_url("s3://bucket/a/b/") == Location("s3", "bucket/a/b")
    assert parse_url("gcs://b/x").scheme == "gs"
    assert parse_url("memory://x").url == "memory://x"
    assert parse_url("https://h:8000/d.zarr").read_only_scheme
    for bad in ("", None, 3, "ftp://x"):
        with pytest.raises(ValueError):
            parse_url(bad)


def test_join():
    assert Location("s3", "b/p").join("a/b").url == "s3://b/p/a/b"
    assert Location("file", "/x").join("a/b").path == str(Path("/x/a/b"))


@pytest.mark.parametrize("name", ["a", "a/b", "é/ü", "a.b", "..a", "a..b", "0"])
def test_good_names(name):
    assert validate_member_name(name) == name


@pytest.mark.parametrize("name", ["", "..", "a/../b", "/a", "a\\b", "a\0", "a//b", "a/", ".", "C:/x", "zarr.json"])
def test_bad_names(name):
    with pytest.raises(ValueError):
        validate_member_name(name)
