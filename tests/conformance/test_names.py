"""Member-name safety: the shipped suite (:class:`unizarr.testing.NameTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import NameTests


class TestZarrPython(NameTests):
    driver = "zarr-python"


class TestTensorStore(NameTests):
    driver = "tensorstore"


class TestZarrs(NameTests):
    driver = "zarrs"
