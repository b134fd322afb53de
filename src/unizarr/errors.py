"""Exceptions raised by unizarr.

Each subclasses the built-in exception that idiomatic Python code already catches, so
both ``except uz.UnizarrError`` and ``except ValueError`` / ``except PermissionError``
work.
"""

from __future__ import annotations


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


class ForkedProcessError(UnizarrError, RuntimeError):
    """An engine cannot run in a process ``fork()``-ed after it was used (TensorStore)."""


__all__ = [
    "CorruptDataError",
    "ForkedProcessError",
    "MetadataError",
    "ReadOnlyError",
    "UnizarrError",
    "UnsupportedDriverError",
    "ZarrVersionError",
]
