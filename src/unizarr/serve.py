"""``unizarr serve``: a local HTTP server for one Zarr store, made for web viewers.

Browsers open Zarr stores over HTTP; viewers (Neuroglancer, vizarr, the OME-NGFF
validator) need what a plain static server lacks:

* CORS on every answer and on ``OPTIONS`` preflights (the viewer's page is on another
  origin);
* byte ranges (``206`` with ``Content-Range``; ``416`` when unsatisfiable): sharded
  arrays are read one inner chunk at a time;
* ``HEAD``.

Containment: a request names a key below the store root and nothing else. Raw or
percent-encoded ``..``/``.`` segments, backslashes and NUL bytes are refused (403)
before the file system is touched, and a local file is served only if its real path
(symlinks resolved) lies inside the store's real path - a symlink pointing out of the
store answers 403. Directories answer 403 (no listings: viewers read the documents
that name the members).

Remote stores (``s3://``, ``gs://``, ``http(s)://``) are proxied key by key through
unizarr's own storage layer (the zarr-python driver's key-value store, with the same
``storage_options``), so a browser can view a private bucket through the local server.

The server binds to loopback unless another address is asked for explicitly.
"""

from __future__ import annotations

import email.utils
import http.server
import mimetypes
import os
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paths import Location, parse_url

#: Documents whose type a browser should know (``fetch`` does not care; humans do).
_JSON_NAMES = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, Content-Type, Accept, Cache-Control",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges, ETag",
    "Access-Control-Max-Age": "86400",
}


class Refused(Exception):
    """A request path that would leave the store (answered 403)."""


def split_key(raw_path: str) -> list[str]:
    """The key segments of a request path, refusing any that could climb out.

    ``raw_path`` is the path part of the request line (query and fragment removed).
    Every segment is percent-decoded *once* and checked after decoding, so ``%2e%2e``
    and ``%2f`` tricks are refused like their plain forms.

    Raises
    ------
    Refused
        A ``.``/``..`` segment, an empty segment inside the path, a backslash, a NUL
        byte, or an encoded ``/`` inside a segment.
    """
    parts = raw_path.split("/")
    out = []
    for i, part in enumerate(parts):
        seg = urllib.parse.unquote(part, errors="strict")
        if seg == "":
            if 0 < i < len(parts) - 1:
                raise Refused("empty path segment")
            continue
        if seg in (".", "..") or "/" in seg or "\\" in seg or "\x00" in seg:
            raise Refused(f"path segment {part!r} is not allowed")
        out.append(seg)
    return out


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` -> the inclusive ``(start, end)`` served.

    Returns ``None`` for a header to ignore (not ``bytes``, several ranges, malformed:
    RFC 9110 lets a server answer those with the whole body).

    Raises
    ------
    ValueError
        A well-formed single range that is unsatisfiable (answered 416).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":  # suffix: the last N bytes
            n = int(last)
            if n <= 0:
                raise ValueError("empty suffix range")
            if size == 0:
                raise ValueError("empty file")
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError as exc:
        if "range" in str(exc) or "empty" in str(exc):
            raise
        return None
    if start < 0 or (last and end < start):
        return None
    if start >= size:
        raise ValueError("range starts past the end")
    return start, min(end, size - 1)


# -- where bytes come from ----------------------------------------------------------------
class LocalSource:
    """Files below a local directory, never outside its real path."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(os.path.realpath(root))

    def resolve(self, segments: list[str]) -> Path:
        """The file for ``segments``; ``Refused`` outside the store, ``FileNotFoundError``
        when missing, ``IsADirectoryError`` for a directory."""
        path = self.root.joinpath(*segments)
        real = Path(os.path.realpath(path))
        if real != self.root and self.root not in real.parents:
            raise Refused("resolves outside the store")  # a symlink pointing out
        if real.is_dir():
            raise IsADirectoryError(str(path))
        if not real.is_file():
            raise FileNotFoundError(str(path))
        return real

    def size(self, segments: list[str]) -> tuple[int, float | None]:
        st = self.resolve(segments).stat()
        return st.st_size, st.st_mtime

    def read(self, segments: list[str], start: int, end: int) -> bytes:
        with open(self.resolve(segments), "rb") as f:
            f.seek(start)
            return f.read(end - start + 1)


class RemoteSource:
    """Keys of a remote store read through unizarr's zarr-python key-value store.

    Values are fetched whole and cached one at a time (metadata and chunks are small;
    a range request for a shard re-reads the same key, served from the cache).
    """

    def __init__(self, location: Location, storage_options: dict[str, Any] | None) -> None:
        from .drivers.zarr_python import ZarrPythonGroup

        self.kv = ZarrPythonGroup._make_kv(location, dict(storage_options or {}), True)
        self._lock = threading.Lock()
        self._last: tuple[str, bytes] | None = None

    def _get(self, segments: list[str]) -> bytes:
        key = "/".join(segments)
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return self._last[1]
        value = self.kv.get(key) if key else None
        if value is None:
            raise FileNotFoundError(key)
        with self._lock:
            self._last = (key, value)
        return value

    def size(self, segments: list[str]) -> tuple[int, float | None]:
        return len(self._get(segments)), None

    def read(self, segments: list[str], start: int, end: int) -> bytes:
        return self._get(segments)[start:end + 1]


# -- HTTP ---------------------------------------------------------------------------------
@dataclass
class Mount:
    """``prefix`` (URL path segments) served from ``source``."""

    prefix: tuple[str, ...]
    source: Any


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "unizarr-serve"
    protocol_version = "HTTP/1.1"
    mounts: list[Mount]
    log: Callable[[str], None] | None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.log is not None:
            self.log(format % args)

    def _send(self, code: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(code)
        for k, v in {**_CORS, **headers}.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _error(self, code: int, message: str) -> None:
        self._send(code, {"Content-Type": "text/plain; charset=utf-8"}, (message + "\n").encode())

    def do_OPTIONS(self) -> None:  # noqa: N802 - the http.server naming
        self._send(204, {"Allow": "GET, HEAD, OPTIONS"})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        # the raw path, not urlsplit's: "//a/b" would become host "a", path "/b"
        raw = self.path.split("?", 1)[0].split("#", 1)[0]
        if "://" in raw:  # an absolute-form request line (proxy style)
            raw = urllib.parse.urlsplit(raw).path
        try:
            segments = split_key(raw)
        except (Refused, UnicodeDecodeError) as exc:
            self._error(403, f"forbidden: {exc}")
            return
        for mount in self.mounts:
            n = len(mount.prefix)
            if tuple(segments[:n]) == mount.prefix:
                self._serve(mount.source, segments[n:])
                return
        self._error(404, "not found")

    def _serve(self, source: Any, segments: list[str]) -> None:
        try:
            size, mtime = source.size(segments)
        except Refused as exc:
            self._error(403, f"forbidden: {exc}")
            return
        except IsADirectoryError:
            self._error(403, "forbidden: directory listings are not served")
            return
        except (FileNotFoundError, KeyError):
            self._error(404, "not found")
            return
        except Exception as exc:  # the remote store failed: the browser sees a 502
            self._error(502, f"store error: {type(exc).__name__}: {exc}")
            return
        name = segments[-1] if segments else ""
        ctype = ("application/json" if name in _JSON_NAMES
                 else mimetypes.guess_type(name)[0] or "application/octet-stream")
        headers = {"Content-Type": ctype, "Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
        if mtime is not None:
            headers["Last-Modified"] = email.utils.formatdate(mtime, usegmt=True)
        code, start, end = 200, 0, size - 1
        if self.headers.get("Range"):
            try:
                rng = parse_range(self.headers["Range"], size)
            except ValueError:
                self._send(416, {"Content-Range": f"bytes */{size}", "Content-Type": "text/plain"},
                           b"range not satisfiable\n")
                return
            if rng is not None:
                code, (start, end) = 206, rng
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(max(0, end - start + 1))
        body = b""
        if self.command != "HEAD" and end >= start:
            try:
                body = source.read(segments, start, end)
            except Exception as exc:
                self._error(502, f"store error: {type(exc).__name__}: {exc}")
                return
        self._send(code, headers, body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ServeHandle:
    """A running server; stop it with :meth:`stop` or use it as a context manager.

    Attributes
    ----------
    url : str
        The store's URL on this server (ends with ``/``).
    base_url : str
        The server's root URL (ends with ``/``).
    bind : str
        The address the server listens on.
    port : int
        The port it listens on.
    """

    def __init__(self, server: _Server, store_prefix: str, host: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="unizarr-serve",
                                        daemon=True)
        self._thread.start()
        self.bind = server.server_address[0]
        self.port = int(server.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self.port}/"
        self.url = self.base_url + store_prefix

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> ServeHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServeHandle {self.url}>"


def store_source(store: str | os.PathLike, storage_options: dict[str, Any] | None = None) -> Any:
    """The byte source of ``store``: a local directory, or a remote store proxied.

    Raises
    ------
    FileNotFoundError
        A local store that does not exist.
    NotADirectoryError
        A local path that is a file.
    """
    loc = parse_url(store)
    if loc.scheme == "file":
        if not os.path.exists(loc.path):
            raise FileNotFoundError(f"{loc.path} does not exist; give a Zarr store's directory")
        if not os.path.isdir(loc.path):
            raise NotADirectoryError(f"{loc.path} is not a directory; give a Zarr store's directory")
        return LocalSource(loc.path)
    if loc.scheme == "memory":
        raise ValueError("memory:// stores live in one process and cannot be served")
    return RemoteSource(loc, storage_options)


def start_server(
    mounts: list[Mount],
    *,
    port: int = 0,
    bind: str = "127.0.0.1",
    store_prefix: str = "",
    log: Callable[[str], None] | None = None,
) -> ServeHandle:
    """Serve ``mounts`` on ``bind:port`` in a background thread (the building block of
    :func:`serve` and :func:`unizarr.view.view`)."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be 0-65535, got {port}")
    handler = type("Handler", (_Handler,), {"mounts": mounts, "log": staticmethod(log) if log else None})
    server_cls = _Server
    if ":" in bind:
        import socket

        class _Server6(_Server):
            address_family = socket.AF_INET6

        server_cls = _Server6
    try:
        server = server_cls((bind, port), handler)
    except OSError as exc:
        raise OSError(f"cannot listen on {bind}:{port}: {exc.strerror or exc}") from None
    host = bind if bind not in ("0.0.0.0", "::") else "127.0.0.1"
    return ServeHandle(server, store_prefix, host)


def serve(
    store: str | os.PathLike,
    port: int = 0,
    bind: str = "127.0.0.1",
    *,
    storage_options: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> ServeHandle:
    """Serve a Zarr store over HTTP with CORS and byte ranges, in a background thread.

    Parameters
    ----------
    store
        Local directory of a Zarr store, or a remote URL (``s3://``, ``gs://``,
        ``http(s)://``) proxied through unizarr's storage layer.
    port
        TCP port; 0 picks a free one (see ``handle.port``).
    bind
        Address to listen on. Loopback by default; anything else exposes the store to
        the network.
    storage_options
        Credentials/endpoint of a remote store (see :mod:`unizarr.storage`).
    log
        Called with one line per request (``None``: silent).

    Returns
    -------
    ServeHandle
        ``handle.url`` is the store's URL; ``handle.stop()`` (or ``with``) stops it.

    Examples
    --------
    >>> with uz.serve("brain.ome.zarr") as srv:  # doctest: +SKIP
    ...     print(srv.url)
    """
    source = store_source(store, storage_options)
    return start_server([Mount((), source)], port=port, bind=bind, log=log)


def is_loopback(bind: str) -> bool:
    """Whether ``bind`` only accepts connections from this machine."""
    import ipaddress

    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def viewer_links(store_url: str, name: str = "image", zarr_version: int | None = None) -> dict[str, str]:
    """URLs that open ``store_url`` in hosted viewers (they fetch from this machine)."""
    import json

    scheme = "zarr3" if zarr_version == 3 else "zarr2" if zarr_version == 2 else "zarr"
    state = {"layers": [{"type": "image", "source": f"{scheme}://{store_url}", "name": name}],
             "layout": "4panel"}
    quoted = urllib.parse.quote(json.dumps(state, separators=(",", ":")), safe="")
    src = urllib.parse.quote(store_url, safe=":/")
    return {
        "neuroglancer": f"https://neuroglancer-demo.appspot.com/#!{quoted}",
        "ome-ngff-validator": f"https://ome.github.io/ome-ngff-validator/?source={src}",
        "vizarr": f"https://hms-dbmi.github.io/vizarr/?source={src}",
    }


__all__ = ["ServeHandle", "serve", "viewer_links", "is_loopback", "split_key", "parse_range"]
