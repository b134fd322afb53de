"""``--overwrite`` (convert and copy) replaces only a store unizarr recognises as Zarr,
holding nothing foreign, never a bucket root, never the input or a store overlapping it;
and it validates and builds first, swapping last: a failure leaves the old output.

Every refusal asserts exit 2 with one line AND the unchanged disk (file hashes) or
object listing (S3, moto's real server).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.cli import levels_of, make_npy, run_cli
from tests.helpers import ok, user_error


def layout(driver: str, zarr_version: int) -> list[str]:
    return ["--driver", driver, "--zarr-version", str(zarr_version), "--chunk", "8", "--quiet"]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    return a, b, make_npy(a, 1), make_npy(b, 2)


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if ".unizarr-" in p.name)


# -- local --------------------------------------------------------------------------------
def test_non_zarr_folder_is_refused(tmp_path, inputs, hashes, driver, zarr_version) -> None:
    a, *_ = inputs
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"\xff\xd8 not a zarr")
    (out / "sub").mkdir()
    (out / "sub" / "notes.txt").write_text("keep me")
    before = hashes(out)
    user_error(run_cli("convert", a, out, "--overwrite", *layout(driver, zarr_version)),
               "not a Zarr store")
    assert hashes(out) == before


@pytest.mark.parametrize("where", ["root", "group", "outside-arrays"])
def test_zarr_store_with_foreign_files_is_refused(
    tmp_path, inputs, hashes, driver, zarr_version, where
) -> None:
    a, b, *_ = inputs
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, *layout(driver, zarr_version)))
    g = uz.open_group(out, "r+")
    g.create_group("labels")
    foreign = {"root": out / "README.txt", "group": out / "labels" / "mask.png",
               "outside-arrays": out / "extra" / "deep" / "data.bin"}[where]
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign.write_bytes(b"user data")
    before = hashes(out)
    user_error(run_cli("convert", b, out, "--overwrite", *layout(driver, zarr_version)),
               "not Zarr data")
    assert hashes(out) == before
    src = tmp_path / "src.zarr"
    ok(run_cli("convert", b, src, *layout(driver, zarr_version)))
    user_error(run_cli("copy", src, out, "--overwrite", "--quiet"), "not Zarr data")
    assert hashes(out) == before


def test_a_file_is_refused(tmp_path, inputs, hashes) -> None:
    a, *_ = inputs
    out = tmp_path / "thesis.pdf"
    out.write_bytes(b"%PDF precious")
    user_error(run_cli("convert", a, out, "--overwrite", "--quiet"), "not a Zarr store")
    assert out.read_bytes() == b"%PDF precious"


@pytest.mark.parametrize("alias", ["same", "symlink", "dotdot", "output-inside", "input-inside"])
def test_the_input_or_an_overlapping_store_is_refused(
    tmp_path, inputs, hashes, driver, alias
) -> None:
    """Identity by device and inode: another spelling of the same folder is still it."""
    a, *_ = inputs
    src = tmp_path / "src.zarr"
    ok(run_cli("convert", a, src, "--driver", driver, "--chunk", "8", "--quiet"))
    before = hashes(tmp_path)
    if alias == "symlink":
        os.symlink(src, tmp_path / "link.zarr")
        before = hashes(tmp_path)
        out, inp = tmp_path / "link.zarr", src
    elif alias == "dotdot":
        out, inp = tmp_path / "x" / ".." / "src.zarr", src
    elif alias == "output-inside":
        out, inp = src / "copy.zarr", src  # would be written into the input
    elif alias == "input-inside":
        out, inp = src, src / "0"  # the output contains the input array
    else:
        out, inp = src, src
    for cmd in (["convert", inp, out, "--overwrite", "--quiet"],
                ["copy", inp, out, "--overwrite", "--quiet"]):
        user_error(run_cli(*cmd), "must not be, contain or lie inside the input")
        assert hashes(tmp_path) == before


def test_a_good_store_is_replaced_and_nothing_is_left_beside_it(
    tmp_path, inputs, driver, zarr_version
) -> None:
    a, b, _, vb = inputs
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, *layout(driver, zarr_version)))
    ok(run_cli("convert", b, out, "--overwrite", *layout(driver, zarr_version)))
    np.testing.assert_array_equal(levels_of(out)[0], vb)
    assert siblings(out) == [] and not (out / ".unizarr-lock").exists()
    src = tmp_path / "src.zarr"
    ok(run_cli("convert", a, src, *layout(driver, zarr_version)))
    ok(run_cli("copy", src, out, "--overwrite", "--quiet"))
    for x, y in zip(levels_of(out), levels_of(src)):
        np.testing.assert_array_equal(x, y)
    assert siblings(out) == []


def _corrupt_chunk(store: Path) -> None:
    """Replace one level-0 chunk in the middle of a Zarr input by garbage."""
    chunks = sorted(p for p in (store / "0").rglob("*") if p.is_file()
                    and p.name not in ("zarr.json", ".zarray", ".zattrs"))
    chunks[len(chunks) // 2].write_bytes(b"garbage, not a compressed chunk" * 3)


def test_failure_while_writing_leaves_the_old_output(
    tmp_path, inputs, hashes, driver, zarr_version
) -> None:
    """The input opens fine and breaks half-way (a corrupt chunk): the previous output
    is exactly as it was, and no half-built replacement is left beside it."""
    a, b, *_ = inputs
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, *layout(driver, zarr_version)))
    before = hashes(out)
    bad = tmp_path / "bad.zarr"
    ok(run_cli("convert", b, bad, "--driver", driver, "--chunk", "8", "--quiet"))
    _corrupt_chunk(bad)
    proc = run_cli("convert", bad, out, "--overwrite", *layout(driver, zarr_version))
    assert proc.returncode == 2, proc.stderr
    assert hashes(out) == before
    assert siblings(out) == []
    proc = run_cli("copy", bad, out, "--overwrite", "--quiet")
    assert proc.returncode == 2, proc.stderr
    assert hashes(out) == before
    assert siblings(out) == []


def test_bad_input_is_refused_before_the_output_is_touched(tmp_path, inputs, hashes) -> None:
    a, *_ = inputs
    out = tmp_path / "out.zarr"
    ok(run_cli("convert", a, out, "--quiet"))
    before = hashes(out)
    broken = tmp_path / "broken.npy"
    broken.write_bytes(a.read_bytes()[:200])  # header says more data than there is
    assert run_cli("convert", broken, out, "--overwrite", "--quiet").returncode == 2
    assert hashes(out) == before
    assert siblings(out) == []


# -- S3 (moto's real server) ------------------------------------------------------------------
def listing(bucket: str, options: dict) -> dict[str, str]:
    s3 = boto3.client("s3", endpoint_url=options["endpoint_url"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["ETag"]
    return out


def put(bucket: str, options: dict, key: str, body: bytes) -> None:
    s3 = boto3.client("s3", endpoint_url=options["endpoint_url"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def s3_args(options: dict, driver: str = "zarr-python") -> list[str]:
    return ["--storage-options", json.dumps(options), "--driver", driver, "--chunk", "8",
            "--quiet"]


def test_s3_bucket_root_is_never_replaced(s3_bucket, inputs) -> None:
    bucket, so = s3_bucket
    a, *_ = inputs
    put(bucket, so, "holiday/cat.jpg", b"foreign")
    put(bucket, so, "zarr.json", b'{"zarr_format": 3, "node_type": "group"}')
    before = listing(bucket, so)
    user_error(run_cli("convert", a, f"s3://{bucket}", "--overwrite", *s3_args(so)),
               "bucket root")
    user_error(run_cli("convert", a, f"s3://{bucket}/", "--overwrite", *s3_args(so)),
               "bucket root")
    assert listing(bucket, so) == before


def test_s3_prefix_with_foreign_objects_is_refused(s3_bucket, inputs) -> None:
    bucket, so = s3_bucket
    a, b, *_ = inputs
    put(bucket, so, "photos/cat.jpg", b"foreign")
    before = listing(bucket, so)
    user_error(run_cli("convert", a, f"s3://{bucket}/photos", "--overwrite", *s3_args(so)),
               "not a Zarr store")
    assert listing(bucket, so) == before
    url = f"s3://{bucket}/img.zarr"
    ok(run_cli("convert", a, url, *s3_args(so)))
    put(bucket, so, "img.zarr/notes.txt", b"foreign")
    before = listing(bucket, so)
    user_error(run_cli("convert", b, url, "--overwrite", *s3_args(so)), "not Zarr data")
    assert listing(bucket, so) == before
    user_error(run_cli("convert", b, url, *s3_args(so)), "already exists")
    assert listing(bucket, so) == before


def test_s3_overwrite_replaces_only_its_prefix(s3_bucket, inputs, driver) -> None:
    bucket, so = s3_bucket
    a, b, _, vb = inputs
    url = f"s3://{bucket}/img.zarr"
    ok(run_cli("convert", a, url, *s3_args(so, driver)))
    put(bucket, so, "img.zarr.bak/keep.bin", b"sibling with the same string prefix")
    put(bucket, so, "other.txt", b"neighbour")
    ok(run_cli("convert", b, url, "--overwrite", *s3_args(so, driver)))
    after = listing(bucket, so)
    assert "img.zarr.bak/keep.bin" in after and "other.txt" in after
    assert not any(k.endswith(".unizarr-lock") for k in after)
    got = uz.open_array(f"{url}/0", "r", storage_options=so)[...]
    np.testing.assert_array_equal(got, vb)
