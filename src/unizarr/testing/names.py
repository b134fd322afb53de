"""Member-name safety: nothing outside the group's root is ever read, written or deleted."""

from __future__ import annotations

import numpy as np
import pytest

from .base import DriverSuite, snapshot

BAD_NAMES = [
    "",
    "..",
    "../x",
    "a/../../x",
    "a/..",
    ".",
    "./a",
    "a/./b",
    "/abs",
    "/",
    "a//b",
    "a/",
    "a\\b",
    "..\\x",
    "a\x00b",
    "C:/x",
    "zarr.json",
    ".zarray",
    "a/.zgroup",
]


class NameTests(DriverSuite):
    """Member-name safety: nothing outside the group's root is read, written or deleted."""

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_bad_names_are_refused_before_io(self, env, name):
        g = env.group("inner.zarr")
        g.create_array("keep", (2,), "i4", data=[1, 2])
        (env.tmp / "x").mkdir()
        (env.tmp / "x" / "victim.txt").write_text("precious")
        before_store = snapshot(env.tmp)
        ops = [
            lambda: g[name],
            lambda: g.__delitem__(name),
            lambda: g.create_group(name),
            lambda: g.create_group(name, overwrite=True),
            lambda: g.create_array(name, (2,), "i4", overwrite=True),
            lambda: g.__setitem__(name, np.zeros(2)),
            lambda: g.__contains__(name),
        ]
        for op in ops:
            with pytest.raises(ValueError):
                op()
        assert snapshot(env.tmp) == before_store

    @pytest.mark.parametrize("name", [None, 3, b"a", ("a",)])
    def test_non_string_names(self, env, name):
        g = env.group()
        with pytest.raises(TypeError):
            g[name]
        with pytest.raises(TypeError):
            g.create_group(name)
        assert name not in g

    @pytest.mark.parametrize("name", ["é", "naïve/ü", "with space", "a.b", "..a", "a..", "-x", "0"])
    def test_unusual_but_safe_names(self, env, name):
        g = env.group()
        g.create_array(name, (2,), "i4", data=[5, 6])
        assert name in g
        np.testing.assert_array_equal(g[name][...], [5, 6])
        del g[name]
        assert name not in g
