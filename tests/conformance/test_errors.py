"""Damaged data: the shipped suite (:class:`unizarr.testing.ErrorTests`) on each built-in
driver."""

from __future__ import annotations

from unizarr.testing import ErrorTests


class TestZarrPython(ErrorTests):
    driver = "zarr-python"


class TestTensorStore(ErrorTests):
    driver = "tensorstore"


class TestZarrs(ErrorTests):
    driver = "zarrs"
