"""Exceptions raised by unizarr.

Each subclasses the built-in exception that idiomatic Python code already catches, so
both ``except uz.UnizarrError`` and ``except ValueError`` / ``except PermissionError``
work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class UnizarrError(Exception):
    """Base class of every exception defined by unizarr."""


class UnsupportedDriverError(UnizarrError, ValueError):
    """The requested driver name is not registered."""


class ReadOnlyError(UnizarrError, PermissionError):
    """A write was attempted through a read-only handle (mode ``"r"``)."""


class ZarrVersionError(UnizarrError, ValueError):
    """An existing node was opened with an explicit Zarr version it does not have."""


class MetadataError(UnizarrError, ValueError):
    """A Zarr metadata document in the store is missing fields or is not valid JSON."""


class CorruptDataError(UnizarrError, ValueError):
    """A stored chunk or shard could not be decoded (truncated, overwritten, bad index)."""


class OutsideStoreError(UnizarrError, PermissionError):
    """A write or delete would leave the store root (through a symlink); see the storage
    option ``follow_symlinks_for_writes`` in ``docs/safety.md``."""


class ForkedProcessError(UnizarrError, RuntimeError):
    """An engine cannot run in a process ``fork()``-ed after it was used (TensorStore)."""


class StoreUnavailableError(UnizarrError, ConnectionError):
    """The store could not be reached: server down, network failure or timeout."""


def translate_engine_error(exc: BaseException, where: str) -> BaseException:
    """The generic part of mapping an engine's exception to the one unizarr raises for it
    on every driver (the default of :meth:`unizarr.ZarrNode._translate_engine_error`).

    Knows no engine by name: unizarr's own errors and ``OSError`` pass through, and the
    built-in exceptions codecs raise for undecodable chunks (numcodecs' ``RuntimeError``,
    ``ValueError``, gzip/zlib's ``EOFError`` / ``zlib.error`` / ``gzip.BadGzipFile``) become
    :class:`CorruptDataError`. Each driver adds what its engine reports differently
    (TensorStore's ``"STATUS: ..."`` errors, fsspec's connection errors). Returns ``exc``
    itself when it already has the right meaning.
    """
    import gzip
    import zlib

    if isinstance(exc, gzip.BadGzipFile):  # an OSError, but about the bytes, not the disk
        return CorruptDataError(f"could not decode data of {where}: {exc}")
    if isinstance(exc, (UnizarrError, OSError)):
        return exc

    # gzip/zlib report a truncated stream as EOFError / zlib.error, not ValueError
    if isinstance(exc, (RuntimeError, ValueError, EOFError, zlib.error)):
        return CorruptDataError(f"could not decode data of {where}: {exc}")
    return exc


__all__ = [
    "StoreUnavailableError",
    "CorruptDataError",
    "ForkedProcessError",
    "MetadataError",
    "OutsideStoreError",
    "ReadOnlyError",
    "UnizarrError",
    "UnsupportedDriverError",
    "ZarrVersionError",
]


@contextmanager
def engine_errors(node: Any) -> Iterator[None]:
    """Engines report undecodable chunks and unreachable stores differently; users get
    :class:`CorruptDataError` / :class:`StoreUnavailableError` from every driver, each
    translating its engine's errors in ``node._translate_engine_error`` (default:
    :func:`translate_engine_error`). ``node.url`` is read only when something failed."""
    try:
        yield
    except Exception as exc:
        mapped = node._translate_engine_error(exc, node.url)
        if mapped is exc:
            raise
        raise mapped from exc
