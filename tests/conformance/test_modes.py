"""The mode table of SPEC section 1: the shipped suite (:class:`unizarr.testing.ModeTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import ModeTests


class TestZarrPython(ModeTests):
    driver = "zarr-python"


class TestTensorStore(ModeTests):
    driver = "tensorstore"


class TestZarrs(ModeTests):
    driver = "zarrs"
