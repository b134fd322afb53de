"""Attributes (SPEC section 5): the shipped suite (:class:`unizarr.testing.AttrsTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import AttrsTests


class TestZarrPython(AttrsTests):
    driver = "zarr-python"


class TestTensorStore(AttrsTests):
    driver = "tensorstore"


class TestZarrs(AttrsTests):
    driver = "zarrs"
