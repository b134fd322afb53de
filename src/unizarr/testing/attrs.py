"""Attributes (SPEC section 5): persisted, JSON-only, live, atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

import unizarr as uz

from .base import DriverSuite, snapshot


def _plain_attrs(env, node):
    if isinstance(node, uz.ZarrGroup):
        return dict(zarr.open_group(node.url, mode="r").attrs)
    return dict(zarr.open_array(node.url, mode="r").attrs)


class AttrsTests(DriverSuite):
    """Attributes (SPEC section 5): persisted, JSON-only, live, atomic."""

    @pytest.fixture(params=["group", "array"])
    def node(self, env, request):
        g = env.group()
        if request.param == "group":
            return g
        return g.create_array("a", (3,), "f4")

    def test_set_update_delete_persist(self, env, node):
        node.attrs["a"] = 1
        node.attrs.update({"b": [1, 2.5, "x"], "c": {"d": None}}, e=True)
        del node.attrs["a"]
        expected = {"b": [1, 2.5, "x"], "c": {"d": None}, "e": True}
        assert dict(node.attrs) == expected
        assert _plain_attrs(env, node) == expected
        assert "b" in node.attrs and len(node.attrs) == 3
        with pytest.raises(KeyError):
            del node.attrs["nope"]
        with pytest.raises(KeyError):
            node.attrs["nope"]

    @pytest.mark.parametrize(
        "bad",
        [object(), {1, 2}, float("nan"), float("inf"), {1: "int key"}, b"bytes", [1, object()], {"a": {"b": set()}}],
        ids=["object", "set", "nan", "inf", "intkey", "bytes", "nested-list", "nested-dict"],
    )
    def test_non_json_is_type_error_and_changes_nothing(self, env, node, bad):
        node.attrs["ok"] = 1
        before = snapshot(env.url())
        with pytest.raises(TypeError):
            node.attrs["bad"] = bad
        with pytest.raises(TypeError):
            node.attrs.update(fine=2, bad=bad)
        assert snapshot(env.url()) == before
        assert dict(node.attrs) == {"ok": 1}
        node.attrs["after"] = 2  # the handle is still usable
        assert dict(node.attrs) == {"ok": 1, "after": 2}

    def test_numpy_values_become_json(self, env, node):
        node.attrs["s"] = np.float32(0.5)
        node.attrs["v"] = np.arange(3)
        node.attrs["t"] = (1, 2)
        node.attrs["b"] = np.bool_(True)
        assert dict(node.attrs) == {"s": 0.5, "v": [0, 1, 2], "t": [1, 2], "b": True}

    def test_live_view_across_handles(self, env, node):
        root = uz.open_group(env.url(), "r+", driver=env.driver)
        other = root if isinstance(node, uz.ZarrGroup) else root["a"]
        node.attrs["x"] = 1
        assert other.attrs["x"] == 1
        other.attrs["y"] = 2
        node.attrs["z"] = 3  # must not clobber y with a stale cache
        assert dict(node.attrs) == {"x": 1, "y": 2, "z": 3}

    def test_metadata_files_are_valid_json(self, env, node):
        node.attrs["k"] = "v" * 1000
        for p in (env.tmp / "store.zarr").rglob("*"):
            if p.name in ("zarr.json", ".zattrs", ".zgroup", ".zarray"):
                json.loads(p.read_text())
        # atomic writes leave no temporary files behind
        assert not [p for p in (env.tmp / "store.zarr").rglob("*") if "partial" in p.name or p.name.endswith(".tmp")]

    def test_array_metadata_survives_attr_writes(self, env):
        g = env.group()
        a = g.create_array("a", (5,), "i4", data=np.arange(5))
        a.attrs["x"] = 1
        b = uz.open_array(a.url, "r", driver=env.driver)
        np.testing.assert_array_equal(b[...], np.arange(5))
        assert b.attrs["x"] == 1

    def test_attributes_at_creation(self, env):
        g = env.group()
        a = g.create_array("a", (2,), "i4", attributes={"u": "mm"})
        assert dict(a.attrs) == {"u": "mm"}
        with pytest.raises(TypeError):
            g.create_array("b", (2,), "i4", attributes={"u": object()})
        assert "b" not in g
