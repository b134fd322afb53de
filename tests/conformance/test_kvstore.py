"""The key-value adapter of each driver: the shipped suite (:class:`unizarr.testing.KVStoreTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import KVStoreTests


class TestZarrPython(KVStoreTests):
    driver = "zarr-python"


class TestTensorStore(KVStoreTests):
    driver = "tensorstore"


class TestZarrs(KVStoreTests):
    driver = "zarrs"
