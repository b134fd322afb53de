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


_UNAVAILABLE_STATUS = ("UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED", "CANCELLED")
_UNAVAILABLE_TYPES = (
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
    "ConnectionClosedError", "ClientConnectorError", "ServerDisconnectedError",
    "ClientOSError", "ServerTimeoutError", "TimeoutError",
)


def translate_engine_error(exc: BaseException, where: str) -> BaseException:
    """Map an engine's exception to the one unizarr raises for it on every driver.

    TensorStore reports failures as ``ValueError("STATUS: ...")``, numcodecs raises
    ``RuntimeError`` for undecodable chunks, s3fs/aiohttp raise their own connection
    errors. Returns ``exc`` itself when it already has the right meaning.
    """
    if isinstance(exc, UnizarrError):
        return exc
    msg = str(exc)
    status = msg.split(":", 1)[0] if isinstance(exc, ValueError) else ""
    names = {t.__name__ for t in type(exc).__mro__}
    if status in _UNAVAILABLE_STATUS or "CURL error" in msg or names & set(_UNAVAILABLE_TYPES):
        return StoreUnavailableError(f"could not reach the store of {where}: {msg}")
    if isinstance(exc, OSError):
        return exc
    import zlib

    # gzip/zlib report a truncated stream as EOFError / zlib.error, not ValueError
    if isinstance(exc, (RuntimeError, ValueError, EOFError, zlib.error)):
        return CorruptDataError(f"could not decode data of {where}: {msg}")
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
    :class:`CorruptDataError` / :class:`StoreUnavailableError` from both (see
    :func:`translate_engine_error`). ``node.url`` is read only when something failed."""
    try:
        yield
    except Exception as exc:
        mapped = translate_engine_error(exc, node.url)
        if mapped is exc:
            raise
        raise mapped from exc
