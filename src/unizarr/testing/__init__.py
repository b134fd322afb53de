"""The conformance suites, shipped so that any driver proves itself by subclassing.

A driver is "done" when these suites pass on it unchanged. In a test module of the
driver's package (pytest and the ``test`` extra installed)::

    from unizarr.testing import DriverTests

    class TestMyDriver(DriverTests):
        driver = "mydriver"          # its registered name
        zarr_versions = (2, 3)       # the default; (3,) for a v3-only driver

``DriverTests`` holds every suite; each is also usable alone (``ModeTests``,
``GroupTests``, ``AttrsTests``, ``IndexingTests``, ``LayoutTests``, ``NameTests``,
``PickleTests``, ``ErrorTests`` (damaged chunks raise ``CorruptDataError``, the disk
unchanged), and ``KVStoreTests`` for the key-value primitives a driver adds).
Plain zarr-python and numpy are the oracles; each test gets its own ``tmp_path`` store.
unizarr runs the same classes on its built-in drivers (``tests/conformance``).
"""

from __future__ import annotations

from .attrs import AttrsTests
from .base import DriverSuite, Env, snapshot
from .errors import ErrorTests
from .groups import GroupTests
from .indexing import IndexingTests
from .kvstore import KVStoreTests
from .layout import LayoutTests
from .modes import ModeTests
from .names import NameTests
from .pickling import PickleTests


class DriverTests(
    ModeTests, GroupTests, AttrsTests, IndexingTests, LayoutTests, NameTests, PickleTests,
    KVStoreTests, ErrorTests,
):
    """Every conformance suite: subclass it with ``driver = "<name>"``."""


__all__ = [
    "AttrsTests",
    "DriverSuite",
    "DriverTests",
    "Env",
    "ErrorTests",
    "GroupTests",
    "IndexingTests",
    "KVStoreTests",
    "LayoutTests",
    "ModeTests",
    "NameTests",
    "PickleTests",
    "snapshot",
]
