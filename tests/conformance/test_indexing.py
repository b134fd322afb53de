"""numpy basic indexing: the shipped suite (:class:`unizarr.testing.IndexingTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import IndexingTests


class TestZarrPython(IndexingTests):
    driver = "zarr-python"


class TestTensorStore(IndexingTests):
    driver = "tensorstore"


class TestZarrs(IndexingTests):
    driver = "zarrs"
