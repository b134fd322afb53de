"""Group semantics of SPEC section 3: the shipped suite (:class:`unizarr.testing.GroupTests`) on each
built-in driver."""

from __future__ import annotations

from unizarr.testing import GroupTests


class TestZarrPython(GroupTests):
    driver = "zarr-python"


class TestTensorStore(GroupTests):
    driver = "tensorstore"


class TestZarrs(GroupTests):
    driver = "zarrs"
