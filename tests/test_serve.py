"""``uz.serve`` / ``unizarr serve`` with plain HTTP clients: CORS, byte ranges, HEAD,
containment (raw, encoded and symlinked escapes), remote proxying, Ctrl-C."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from unizarr.serve import Refused, parse_range, split_key

from .helpers import user_error
from .viewer_stores import phantom, write_image

SECRET = b"top secret, outside the store\n"


def request(url: str, method: str = "GET", path: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client; ``path`` is sent exactly as given (no
    normalisation of ``..`` as urllib would do)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path if path is not None else parts.path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def chunk_file(store: Path) -> Path:
    """The largest data file of level 0 (a shard on v3, a chunk on v2)."""
    files = [p for p in (store / "0").rglob("*") if p.is_file() and not p.name.startswith((".", "zarr"))]
    return max(files, key=lambda p: p.stat().st_size)


def test_http_protocol(driver, zarr_version, tmp_path):
    store = write_image(tmp_path / "img.ome.zarr", driver, zarr_version)
    meta = "zarr.json" if zarr_version == 3 else ".zattrs"
    with uz.serve(store) as srv:
        assert srv.url.startswith("http://127.0.0.1:") and srv.bind == "127.0.0.1"
        status, h, body = request(srv.url + meta)
        assert status == 200 and h["access-control-allow-origin"] == "*"
        assert h["content-type"] == "application/json"
        assert json.loads(body) == json.loads((store / meta).read_bytes())
        # CORS preflight of a cross-origin range request
        status, h, body = request(srv.url + meta, "OPTIONS", headers={
            "Origin": "http://viewer.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range"})
        assert status == 204 and body == b""
        assert h["access-control-allow-origin"] == "*"
        assert "GET" in h["access-control-allow-methods"]
        assert "range" in h["access-control-allow-headers"].lower()
        assert "content-range" in h["access-control-expose-headers"].lower()
        # byte ranges of a data file: closed, open-ended, suffix
        f = chunk_file(store)
        data = f.read_bytes()
        key = f.relative_to(store).as_posix()
        n = len(data)
        assert n > 20
        for rng, (a, b) in {"bytes=3-12": (3, 12), f"bytes={n - 5}-": (n - 5, n - 1),
                            "bytes=-7": (n - 7, n - 1), f"bytes=0-{n + 100}": (0, n - 1)}.items():
            status, h, body = request(srv.url + key, headers={"Range": rng})
            assert status == 206, rng
            assert h["content-range"] == f"bytes {a}-{b}/{n}", rng
            assert body == data[a:b + 1] and h["content-length"] == str(b - a + 1)
        status, h, body = request(srv.url + key)
        assert status == 200 and body == data and h["accept-ranges"] == "bytes"
        # unsatisfiable: past the end
        status, h, _ = request(srv.url + key, headers={"Range": f"bytes={n}-{n + 10}"})
        assert status == 416 and h["content-range"] == f"bytes */{n}"
        # HEAD: the headers of GET, no body
        status, h, body = request(srv.url + key, "HEAD")
        assert status == 200 and h["content-length"] == str(n) and body == b""
        assert request(srv.url + "no/such/key")[0] == 404
        # the served store reads back through HTTP with the same engine (sharded
        # arrays need the ranges), equal to what was written
        got = uz.open_group(srv.url, "r", driver=driver)
        np.testing.assert_array_equal(got["0"][...], phantom())
    with pytest.raises(OSError):  # stopped: the port is closed
        request(srv.url + meta)


@pytest.fixture
def jail(tmp_path):
    """A store with a secret file beside it and symlinks pointing in and out."""
    store = write_image(tmp_path / "store.zarr", "zarr-python", 3)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.txt", store / "link-out")
    os.symlink(outside, store / "dir-out")
    os.symlink(store / "zarr.json", store / "link-in")
    return store


@pytest.mark.parametrize("path", [
    "/../secret.txt",
    "/0/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/0/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%5csecret.txt",
    "/.%2e/secret.txt",
    "/0/./zarr.json",
    "//etc/passwd",
    "/%00",
    "/link-out",
    "/dir-out/secret.txt",
    "/0/",
    "/0",
])
def test_escapes_refused(jail, path):
    with uz.serve(jail) as srv:
        status, _, body = request(srv.url, path=path)
    # "//x" is folded to "/x" by http.server itself: a plain missing key
    assert status == (404 if path.startswith("//") else 403), (path, status)
    assert SECRET not in body


def test_symlink_inside_is_served(jail):
    with uz.serve(jail) as srv:
        status, _, body = request(srv.url + "link-in")
    assert status == 200 and body == (jail / "zarr.json").read_bytes()


def test_split_key_and_parse_range_units():
    assert split_key("/a/b%20c/0") == ["a", "b c", "0"]
    assert split_key("/") == []
    for bad in ("/a/../b", "/%2e%2e", "/a%2fb", "/a//b", "/a\\b", "/.%2E"):
        with pytest.raises(Refused):
            split_key(bad)
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=5-", 10) == (5, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=-30", 10) == (0, 9)
    assert parse_range("bytes=0-1,4-5", 10) is None  # several ranges: the whole body
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=4-2", 10) is None
    with pytest.raises(ValueError):
        parse_range("bytes=10-", 10)
    with pytest.raises(ValueError):
        parse_range("bytes=-0", 10)


def test_remote_store_proxied(s3_bucket):
    """An S3 store (moto, real S3 API) served through unizarr's storage layer."""
    bucket, options = s3_bucket
    url = f"s3://{bucket}/img.ome.zarr"
    g = uz.open_group(url, "w", zarr_version=3, storage_options=options)
    data = phantom()
    g.create_array("0", data.shape, data.dtype, data=data, chunks=(8, 8, 8), shards=(16, 16, 16))
    uz.write_ome_metadata(g, ("z", "y", "x"), ome_version="0.5")
    with uz.serve(url, storage_options=options) as srv:
        status, h, body = request(srv.url + "zarr.json")
        assert status == 200 and json.loads(body)["attributes"]["ome"]["version"] == "0.5"
        status, h, body = request(srv.url + "0/c/0/0/0", headers={"Range": "bytes=-16"})
        assert status == 206 and len(body) == 16 and h["content-range"].startswith("bytes ")
        assert request(srv.url, path="/%2e%2e/x")[0] == 403
        assert request(srv.url + "missing")[0] == 404
        for driver in uz.drivers():
            np.testing.assert_array_equal(uz.open_array(srv.url + "0", "r", driver=driver)[...], data)


def _start_cli(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "unizarr.cli", "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("offline:"):
            break
    assert lines and lines[0].startswith("serving "), (lines, proc.stderr.read() if proc.poll() is not None else "")
    url = lines[0].split(" at ", 1)[1].split(" ", 1)[0]
    return proc, url, lines


def test_cli_serve_links_and_ctrl_c(tmp_path):
    store = write_image(tmp_path / "brain.ome.zarr", "tensorstore", 2)
    proc, url, lines = _start_cli(str(store))
    try:
        text = "\n".join(lines)
        assert url.startswith("http://127.0.0.1:")
        quoted = urllib.parse.quote(url, safe="")
        assert "neuroglancer: https://" in text and f"zarr2%3A%2F%2F{quoted[:-3]}" in text
        assert f"ome-ngff-validator: https://ome.github.io/ome-ngff-validator/?source={url}" in text
        assert f"vizarr: https://hms-dbmi.github.io/vizarr/?source={url}" in text
        status, h, _ = request(url + ".zattrs")
        assert status == 200 and h["access-control-allow-origin"] == "*"
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err.strip() == "stopped"
    with pytest.raises(OSError):
        request(url + ".zattrs")


def test_cli_serve_other_bind_warns(tmp_path):
    store = write_image(tmp_path / "x.zarr", "zarr-python", 3)
    proc, url, _ = _start_cli(str(store), "--bind", "0.0.0.0")
    try:
        assert request(url + "zarr.json")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert err.splitlines()[0].startswith("warning: listening on 0.0.0.0, not only loopback")


def test_cli_serve_missing_store(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "unizarr.cli", "serve", str(tmp_path / "nope.zarr")],
                          capture_output=True, text=True, timeout=60)
    user_error(proc, "nope.zarr")
    store = write_image(tmp_path / "x.zarr", "zarr-python", 2)
    proc = subprocess.run([sys.executable, "-m", "unizarr.cli", "serve", str(store), "--port", "70000"],
                          capture_output=True, text=True, timeout=60)
    user_error(proc, "--port must be 0-65535")
