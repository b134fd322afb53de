"""Where a job writes: refusing an output before anything is written, and building
it under its write lock (a local ``overwrite`` builds beside the old store and swaps
last). Used by :func:`unizarr.convert` and the ``copy`` command."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from .output_guard import (
    check_not_input,
    check_replaceable,
    output_exists,
    sibling_path,
    swap_in,
    write_lock,
)
from .paths import parse_url


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a write, with what the user needs to know about the output."""



def _one_line(exc: BaseException) -> str:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = " ".join(str(msg).split())  # one line, whatever the exception text held
    return msg or type(exc).__name__


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


def check_output(
    output: str,
    overwrite: bool,
    inputs: Sequence[str] = (),
    storage_options: dict[str, Any] | None = None,
    *,
    resume: bool = False,
) -> None:
    """Refuse, before anything is written: an output that is, contains or lies inside an
    input; an existing output without ``--overwrite``/``--resume``; and, with
    ``--overwrite``, anything but a Zarr store holding only Zarr objects (never a
    bucket root or a folder/prefix with foreign files). See
    :mod:`unizarr.output_guard`. With ``resume`` the run record decides
    (:func:`convert_volume`)."""
    check_not_input(output, inputs)
    if not output_exists(output, storage_options) or resume:
        return
    if not overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it")
    check_replaceable(output, storage_options)


def _clear_remote(output: str, storage_options: dict[str, Any] | None) -> None:
    """Delete the (checked) Zarr objects of a remote output, keeping our lock: object
    stores have no rename, so a remote ``--overwrite`` replaces in place."""
    from .output_guard import LOCK_NAME, _remote_fs, list_store

    check_replaceable(output, storage_options)  # again, under the lock
    fs, root = _remote_fs(parse_url(output), storage_options)
    keys = [f"{root}/{k}" for k in list_store(output, storage_options) if k != LOCK_NAME]
    if keys:
        fs.rm(keys)
    fs.invalidate_cache()


def _discard(path: str) -> None:
    """Remove a half-built replacement now, and again at exit: writer threads still
    finishing a block when the error (or Ctrl-C) came may recreate files in it until
    the interpreter joins them, which happens before ``atexit`` handlers run."""
    import atexit

    shutil.rmtree(path, ignore_errors=True)
    atexit.register(shutil.rmtree, path, True)


def write_output(
    output: str,
    overwrite: bool,
    storage_options: dict[str, Any] | None,
    build: Callable[[str], Any],
) -> Any:
    """Run ``build(path)`` under the output's write lock and return its result.

    A local ``--overwrite`` of an existing store builds into a hidden sibling and swaps
    it in only when ``build`` returned: an error or Ctrl-C leaves the previous output
    as it was. A remote one deletes the previous (checked) store first: object stores
    have no rename.
    """
    local = _is_local(output)
    if overwrite and local and os.path.lexists(_local_path(output)):
        with write_lock(output):  # held on the previous store until it is replaced
            tmp = sibling_path(output, "new")
            try:
                result = build(tmp)
            except Interrupted:
                _discard(tmp)
                raise Interrupted(
                    f"interrupted; {output} was left as it was (the replacement being "
                    "built beside it was removed): run the same command again"
                ) from None
            except BaseException:
                _discard(tmp)
                raise
            swap_in(tmp, output)
        return result
    with write_lock(output, storage_options):
        if overwrite and not local:
            _clear_remote(output, storage_options)
        return build(output)

