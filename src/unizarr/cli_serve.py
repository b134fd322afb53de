"""``unizarr serve`` and ``unizarr view``: start the library's HTTP server or the
bundled Neuroglancer viewer, print where they are, and run until Ctrl-C (exit 0)."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any

from .cli_options import Flag, ReadOptions, parse_json_object
from .readers.zarr_store import open_zarr


def _catch_ctrl_c() -> None:
    """Make Ctrl-C (SIGINT) and SIGTERM raise ``KeyboardInterrupt`` here, even when a
    shell started us with SIGINT ignored (background jobs)."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def _run_until_ctrl_c(stop: Callable[[], None], announce: Callable[[], None]) -> int:
    """``announce()`` then block until Ctrl-C, then ``stop()``: stopping a server is the
    normal end of ``serve``/``view``, so it exits 0 after printing ``stopped``."""
    try:
        announce()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()
        print("stopped", file=sys.stderr, flush=True)
        return 0


def _bind_warning(bind: str) -> None:
    from .serve import is_loopback

    if not is_loopback(bind):
        print(f"warning: listening on {bind}, not only loopback: other machines can read "
              "the store", file=sys.stderr)


def serve(
    store: str,
    /,
    *,
    port: int = 0,
    bind: str = "127.0.0.1",
    read: ReadOptions = ReadOptions(),
    verbose: Annotated[bool, Flag] = False,
) -> int:
    """Serve a Zarr store over HTTP for web viewers (CORS, byte ranges) until Ctrl-C.

    Prints the store's URL and links that open it in Neuroglancer, the OME-NGFF
    validator and vizarr. Never serves a file outside the store. A remote store (s3://,
    gs://, http(s)://) is proxied through unizarr's storage layer. Ctrl-C stops the
    server and exits 0.

    Parameters
    ----------
    store
        Zarr store: a local directory or a URL.
    port
        TCP port (0: any free port).
    bind
        Address to listen on; anything but loopback exposes the store to the network.
    verbose
        Log every request on stderr.
    """
    from .serve import serve as start
    from .serve import viewer_links

    options = parse_json_object(read.storage_options, "--storage-options")
    node = open_zarr(store, "r", driver=read.driver, storage_options=options)
    name = re.sub(r"(\.ome)?\.zarr/?$", "", store.rstrip("/")).rsplit("/", 1)[-1] or "image"
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if verbose else None
    _catch_ctrl_c()
    handle = start(store, port=port, bind=bind, storage_options=options, log=log)

    def announce() -> None:
        _bind_warning(bind)
        print(f"serving {store} at {handle.url} (Ctrl-C to stop)", flush=True)
        for viewer, url in viewer_links(handle.url, name, node.zarr_version).items():
            print(f"{viewer}: {url}", flush=True)
        print(f"offline: unizarr view {store}", flush=True)

    return _run_until_ctrl_c(handle.stop, announce)


def view(
    store: str,
    /,
    *,
    no_browser: Annotated[bool, Flag] = False,
    port: int = 0,
    bind: str = "127.0.0.1",
    print_state: Annotated[bool, Flag] = False,
    read: ReadOptions = ReadOptions(),
) -> int:
    """Show an OME-Zarr in the Neuroglancer client bundled with `unizarr[view]`, offline.

    One image layer per multiscale image (dimensions and units from the OME axes;
    NIfTI-Zarr: the header's affine), channels as a channel dimension, a contrast
    window from the smallest level, labels as segmentation layers. Runs until Ctrl-C
    (exit 0). Images the bundled client cannot read are streamed from Python, with a
    warning.

    Parameters
    ----------
    store
        OME-Zarr group: a local directory or a URL.
    no_browser
        Only print the URL; do not open a browser.
    port
        Port of the viewer page (0: any free port).
    bind
        Address to listen on; anything but loopback exposes the store to the network.
    print_state
        Print the Neuroglancer state JSON and exit (no server). A remote store's sources
        are its own s3:// / gs:// / https:// URL (a hosted Neuroglancer opens the same
        view); a local store's point at `unizarr serve STORE --port PORT` (8000 when
        --port is 0).
    """
    import warnings

    from .view import remote_source_url, store_images, viewer_state
    from .view import view as start

    options = parse_json_object(read.storage_options, "--storage-options")
    if print_state:
        _, images = store_images(store, storage_options=options, driver=read.driver)
        base = remote_source_url(store) or f"http://127.0.0.1:{port or 8000}/"
        print(json.dumps(viewer_state(images, base), indent=2))
        return 0
    _catch_ctrl_c()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handle = start(store, port=port, bind=bind, storage_options=options,
                       driver=read.driver, open_browser=not no_browser)

    def announce() -> None:
        _bind_warning(bind)
        for note in handle.warnings:
            print(f"warning: {note}", file=sys.stderr, flush=True)
        print(f"store: {handle.server.url}", flush=True)
        print(f"viewer: {handle.url} (Ctrl-C to stop)", flush=True)

    return _run_until_ctrl_c(handle.stop, announce)
