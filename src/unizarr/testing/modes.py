"""The mode table of SPEC section 1, identical on every driver."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import zarr

import unizarr as uz

from .base import DriverSuite, snapshot


def _populate(env) -> None:
    g = env.group("s.zarr", "w")
    g.create_array("a", (4, 4), "i4", chunks=(2,))[...] = 7
    g.attrs["k"] = 1


class ModeTests(DriverSuite):
    """The mode table of SPEC section 1, identical on every driver."""

    @pytest.mark.parametrize("mode", ["r", "r+"])
    def test_missing_group_must_exist(self, env, mode):
        with pytest.raises(FileNotFoundError):
            env.group("missing.zarr", mode)
        assert not (env.tmp / "missing.zarr").exists()

    @pytest.mark.parametrize("mode", ["r", "r+"])
    def test_missing_array_must_exist(self, env, mode):
        with pytest.raises(FileNotFoundError):
            env.array("missing.zarr", mode)

    @pytest.mark.parametrize("mode", ["a", "w", "w-"])
    def test_missing_group_is_created(self, env, mode):
        g = env.group("new.zarr", mode)
        assert g.zarr_version == env.zarr_version
        assert list(g.keys()) == []
        z = zarr.open_group(env.url("new.zarr"), mode="r")
        assert z.metadata.zarr_format == env.zarr_version

    def test_default_version_is_3_when_creating(self, driver, tmp_path):
        g = uz.open_group(str(tmp_path / "d.zarr"), "w", driver=driver)
        assert g.zarr_version == 3

    def test_a_and_rplus_open_existing(self, env):
        _populate(env)
        for mode in ("a", "r+", "r"):
            g = env.group("s.zarr", mode, zarr_version=None)
            assert g.zarr_version == env.zarr_version
            assert g.keys() == ["a"]
            assert g.attrs["k"] == 1

    def test_w_replaces_everything(self, env):
        _populate(env)
        g = env.group("s.zarr", "w")
        assert g.keys() == []
        assert dict(g.attrs) == {}
        assert not (env.tmp / "s.zarr" / "a").exists()

    def test_w_minus_refuses_existing(self, env):
        _populate(env)
        before = snapshot(env.tmp / "s.zarr")
        with pytest.raises(FileExistsError):
            env.group("s.zarr", "w-")
        with pytest.raises(FileExistsError):
            env.array("s.zarr/a", "w-", shape=(2,), dtype="i4")
        assert snapshot(env.tmp / "s.zarr") == before

    @pytest.mark.parametrize("mode", ["x", "rw", "", None, "R", "w+"])
    def test_invalid_mode_is_value_error(self, env, mode):
        with pytest.raises(ValueError, match="mode"):
            env.group("s.zarr", mode)
        assert not (env.tmp / "s.zarr").exists()

    def test_read_only_refuses_every_write(self, env):
        _populate(env)
        before = snapshot(env.tmp / "s.zarr")
        g = env.group("s.zarr", "r", zarr_version=None)
        a = g["a"]
        attempts = [
            lambda: a.__setitem__((0, 0), 1),
            lambda: a.attrs.__setitem__("x", 1),
            lambda: a.attrs.update(x=1),
            lambda: a.attrs.__delitem__("x"),
            lambda: g.attrs.__setitem__("x", 1),
            lambda: g.attrs.__delitem__("k"),
            lambda: g.create_group("sub"),
            lambda: g.create_array("b", (2,), "i4"),
            lambda: g.__setitem__("c", np.zeros(3)),
            lambda: g.__delitem__("a"),
            lambda: g.create_array_from_base("1", (2, 2)),
        ]
        for attempt in attempts:
            with pytest.raises(uz.ReadOnlyError):
                attempt()
        assert isinstance(uz.ReadOnlyError("x"), PermissionError)
        assert snapshot(env.tmp / "s.zarr") == before
        np.testing.assert_array_equal(a[...], np.full((4, 4), 7, "i4"))

    def test_read_only_array_handle(self, env):
        _populate(env)
        a = env.array("s.zarr/a", "r")
        with pytest.raises(uz.ReadOnlyError):
            a[...] = 0
        assert a.read_only
        np.testing.assert_array_equal(a[...], 7)

    def test_explicit_version_mismatch_is_an_error(self, env):
        _populate(env)
        other = 2 if env.zarr_version == 3 else 3
        before = snapshot(env.tmp / "s.zarr")
        for mode in ("r", "r+", "a"):
            with pytest.raises(uz.ZarrVersionError):
                env.group("s.zarr", mode, zarr_version=other)
            with pytest.raises(ValueError):
                env.array("s.zarr/a", mode, zarr_version=other)
        assert snapshot(env.tmp / "s.zarr") == before

    def test_w_with_other_version_replaces(self, env):
        _populate(env)
        other = 2 if env.zarr_version == 3 else 3
        g = env.group("s.zarr", "w", zarr_version=other)
        assert g.zarr_version == other
        z = zarr.open_group(env.url("s.zarr"), mode="r")
        assert z.metadata.zarr_format == other
        # no mixed metadata left behind
        names = set(p.name for p in (env.tmp / "s.zarr").iterdir())
        assert ("zarr.json" in names) == (other == 3)
        assert (".zgroup" in names) == (other == 2)

    def test_bad_version_value(self, env):
        bad: Any
        for bad in (1, 4, "3", True):
            with pytest.raises(ValueError):
                uz.open_group(env.url("b.zarr"), "w", driver=env.driver, zarr_version=bad)

    def test_unknown_driver(self, tmp_path):
        with pytest.raises(uz.UnsupportedDriverError) as info:
            uz.open_group(str(tmp_path / "x.zarr"), "w", driver="nope")
        assert isinstance(info.value, ValueError)
        assert "zarr-python" in str(info.value)
        assert not (tmp_path / "x.zarr").exists()

    def test_group_vs_array_kind(self, env):
        _populate(env)
        with pytest.raises(FileNotFoundError):
            env.array("s.zarr", "r")
        with pytest.raises(FileNotFoundError):
            env.group("s.zarr/a", "r", zarr_version=None)
        with pytest.raises(FileExistsError):
            env.array("s.zarr", "a", shape=(2,), dtype="i4")

    def test_open_array_creates_with_shape(self, env):
        a = env.array("arr.zarr", "w", shape=(10, 3), dtype="f4", zarr_version=env.zarr_version)
        assert a.shape == (10, 3) and a.dtype == np.float32
        a[...] = 1.5
        b = env.array("arr.zarr", "r+")
        np.testing.assert_array_equal(b[...], 1.5)
        with pytest.raises(FileNotFoundError, match="shape"):
            env.array("other.zarr", "a")

    def test_members_of_read_only_group_are_read_only(self, env):
        _populate(env)
        g = env.group("s.zarr", "r", zarr_version=None)
        assert g["a"].read_only
        gw = env.group("s.zarr", "r+", zarr_version=None)
        assert not gw["a"].read_only

    def test_seed_open_classmethods(self, env):
        _populate(env)
        array_cls, group_cls = uz.get_driver(env.driver)
        g = group_cls.open(env.url("s.zarr"), mode="r")
        assert isinstance(g, group_cls) and g.keys() == ["a"]
        a = array_cls.open(env.url("s.zarr") + "/a", mode="r", zarr_version=env.zarr_version)
        assert isinstance(a, array_cls) and a.shape == (4, 4)

    def test_w_minus_existence_wins_over_version(self, env):
        _populate(env)
        other = 2 if env.zarr_version == 3 else 3
        before = snapshot(env.tmp / "s.zarr")
        with pytest.raises(FileExistsError):
            env.group("s.zarr", "w-", zarr_version=other)
        assert snapshot(env.tmp / "s.zarr") == before
