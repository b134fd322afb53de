"""The reader registry: input formats by name, loaded lazily, detected by content.

A reader is a module (or an object) with two functions:

- ``sniff(path: str) -> bool``: whether ``path`` looks like this format, from its
  first bytes (cheap; ``False`` for anything unreadable, never raises);
- ``open_volume(path: str, **options) -> Volume``: the input opened lazily as a
  :class:`unizarr.readers.volume.Volume`.

It may also set ``SUFFIXES`` (file-name endings used when no reader recognises the
content, so a damaged file still gets its own format's error) and ``OPTIONS`` (the
user options it understands, e.g. ``{"series"}``; others given by the user are refused).

Readers are named by dotted paths, ``"package.module"`` or ``"package.module:attr"``,
imported on first use. unizarr's own are listed in :data:`BUILTIN_READERS` and declared
again under the entry-point group ``unizarr.readers`` in ``pyproject.toml``; a third
party adds a format by declaring its own entry point in that group, with no change here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .volume import Volume

ENTRY_POINT_GROUP = "unizarr.readers"

#: unizarr's readers, in detection order: content checks that are certain (Zarr
#: markers, NIfTI and NumPy magic, "DICM" at byte 128) come before the TIFF magic, which
#: a DICOM file's preamble may also carry; folders of slices come last, as any
#: directory of images would match them.
BUILTIN_READERS: dict[str, str] = {
    "zarr": "unizarr.readers.zarr",
    "nifti": "unizarr.readers.nifti",
    "npy": "unizarr.readers.npy",
    "dicom": "unizarr.readers.dicom",
    "imaris": "unizarr.readers.imaris",
    "tiff": "unizarr.readers.tiff",
    "nibabel": "unizarr.readers.nibabel_formats",
    "czi": "unizarr.readers.vendor",
    "nd2": "unizarr.readers.vendor",
    "lif": "unizarr.readers.vendor",
    "slices": "unizarr.readers.slices",
}


#: Options every reader receives (and may ignore): how to reach a Zarr input.
_CONTEXT: Mapping[str, None] = {"driver": None, "storage_options": None, "no_time": None}


class ReaderUnavailableError(ImportError):
    """A registered reader whose module (or one of its dependencies) is not installed."""


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points

    found: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def reader_paths() -> dict[str, str]:
    """Every registered reader: name -> dotted path, in detection order.

    Built-ins keep their name (an entry point cannot replace one: a package that
    happens to be installed must not change how ``.nii`` files are read); other entry
    points come after the built-ins, before ``slices``.
    """
    names = dict(BUILTIN_READERS)
    slices = names.pop("slices")
    for name, target in _entry_points().items():
        if name not in BUILTIN_READERS:
            names[name] = target
    names["slices"] = slices
    return names


def load_reader(name: str) -> ModuleType | Any:
    """The reader registered as ``name`` (imported now).

    Raises
    ------
    ValueError
        No reader of that name.
    ReaderUnavailableError
        The reader's module or a package it needs is not installed.
    """
    paths = reader_paths()
    if name not in paths:
        raise ValueError(
            f"unknown reader {name!r}; choose one of: {', '.join(sorted(paths))}"
        )
    return _load(name, paths[name])


def _load(name: str, target: str) -> ModuleType | Any:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReaderUnavailableError(
            f"the {name!r} reader ({target}) is not available here: {exc}; "
            "install the package that provides it"
        ) from None
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    if not callable(getattr(obj, "open_volume", None)) or not callable(
        getattr(obj, "sniff", None)
    ):
        raise ReaderUnavailableError(
            f"the {name!r} reader ({target}) has no sniff()/open_volume(); it is not a reader"
        )
    return obj


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def detect_reader(path: str | os.PathLike) -> str:
    """The name of the reader for ``path``: by content first, then by file name.

    Raises
    ------
    FileNotFoundError
        A local path that does not exist (and is not a glob pattern).
    ValueError
        No reader recognises the input.
    """
    path = os.fspath(path)
    if _is_remote(path):
        return "zarr"  # remote inputs are Zarr stores
    path = path[len("file://"):] if path.startswith("file://") else path
    if not os.path.lexists(path) and not any(ch in path for ch in "*?["):
        raise FileNotFoundError(f"no such file or directory: {path}")
    seen: set[str] = set()
    usable: list[tuple[str, Any]] = []
    for name, target in reader_paths().items():
        if target in seen:
            continue  # one module registered under several names sniffs once
        seen.add(target)
        try:
            reader = _load(name, target)
        except ReaderUnavailableError:
            continue  # not installed: cannot be the reader of anything
        usable.append((name, reader))
        try:
            if reader.sniff(path):
                return name
        except Exception:  # a sniff must not raise; a buggy one must not stop detection
            continue
    low = path.lower()
    for name, reader in usable:
        if any(low.endswith(s) for s in getattr(reader, "SUFFIXES", ())):
            return name
    names = ", ".join(n for n, _ in usable)
    if os.path.isdir(path):
        raise ValueError(
            f"unsupported input format: {path} is a directory with neither Zarr metadata "
            f"nor TIFF/PNG/JPEG 2000 slices (readers: {names}); name one with --reader"
        )
    raise ValueError(
        f"unsupported input format: {path} is a file no reader recognises "
        f"(readers: {names}); name one with --reader"
    )


def open_volume(
    path: str | os.PathLike, reader: str | None = None, **options: Any
) -> Volume:
    """Open ``path`` with the reader ``reader`` (detected when ``None``).

    ``options`` that are ``None`` are not passed on; a reader that declares ``OPTIONS``
    refuses the user options it does not know (``series``, ``pattern``) instead of
    silently ignoring them.
    """
    path = os.fspath(path)
    name = reader or detect_reader(path)
    impl = load_reader(name)
    given = {k: v for k, v in options.items() if v is not None}
    known = getattr(impl, "OPTIONS", None)
    if known is not None:
        for key in ("series", "pattern"):
            if key in given and key not in known:
                raise ValueError(
                    f"--{key} does not apply to {path} (read by the {name!r} reader)"
                )
        given = {k: v for k, v in given.items() if k in known or k in _CONTEXT}
    return impl.open_volume(path, **given)



__all__ = [
    "BUILTIN_READERS",
    "ENTRY_POINT_GROUP",
    "ReaderUnavailableError",
    "detect_reader",
    "load_reader",
    "open_volume",
    "reader_paths",
]
