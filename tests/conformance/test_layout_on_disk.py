"""Stored layout for given arguments: the shipped suite (:class:`unizarr.testing.LayoutTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import LayoutTests


class TestZarrPython(LayoutTests):
    driver = "zarr-python"


class TestTensorStore(LayoutTests):
    driver = "tensorstore"


class TestZarrs(LayoutTests):
    driver = "zarrs"
