"""A real S3 API server (moto's) on 127.0.0.1 for remote-store tests; no mocks in-process."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> tuple[str, dict]:
    """A fresh bucket; returns its name and the storage options that reach it."""
    import boto3

    name = f"b-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="testing",
        aws_secret_access_key="testing", region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing", "timeout": 10}
    return name, options


@pytest.fixture
def http_root(tmp_path) -> Iterator[tuple[str, object]]:
    """A local ``http.server`` serving ``tmp_path`` read-only; yields (base URL, path)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_root_nolist(tmp_path) -> Iterator[tuple[str, object]]:
    """Like ``http_root`` but every directory URL answers 403, as S3 buckets without
    list permission and many static servers do; yields (base URL, path)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(_NoListHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


import http.server as _hs  # noqa: E402


class _QuietHandler(_hs.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _NoListHandler(_QuietHandler):
    def send_head(self):  # type: ignore[override]
        import os

        path = self.translate_path(self.path)
        if self.path.split("?", 1)[0].endswith("/") or os.path.isdir(path):
            self.send_error(403, "directory listing refused")
            return None
        return super().send_head()


def start_moto_process(env_extra: dict | None = None):
    """moto's server in its own process (so a test can kill it, or run it with
    authentication enforced); returns (process, endpoint URL)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")
