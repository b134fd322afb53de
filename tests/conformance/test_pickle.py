"""Pickled handles in other processes: the shipped suite (:class:`unizarr.testing.PickleTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import PickleTests


class TestZarrPython(PickleTests):
    driver = "zarr-python"


class TestTensorStore(PickleTests):
    driver = "tensorstore"


class TestZarrs(PickleTests):
    driver = "zarrs"
