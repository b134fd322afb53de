"""Group semantics of SPEC section 3 on every driver."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

import unizarr as uz

from .base import DriverSuite, snapshot


class GroupTests(DriverSuite):
    """Group semantics (SPEC section 3)."""

    def test_keys_sorted_iter_len_contains(self, env):
        g = env.group()
        for name in ("b", "a", "c10", "c2"):
            g.create_group(name)
        g.create_array("arr", (3,), "i4")
        assert g.keys() == sorted(["a", "b", "c10", "c2", "arr"])
        assert list(g) == g.keys()
        assert len(g) == 5
        assert "a" in g and "arr" in g and "zz" not in g
        assert 3 not in g
        assert isinstance(g["a"], uz.ZarrGroup) and isinstance(g["arr"], uz.ZarrArray)

    def test_stray_files_are_not_members(self, env):
        g = env.group()
        g.create_group("real")
        (env.tmp / "store.zarr" / "notes.txt").write_text("hello")
        (env.tmp / "store.zarr" / "emptydir").mkdir()
        assert g.keys() == ["real"]

    def test_nested_names(self, env):
        g = env.group()
        sub = g.create_group("a/b/c")
        assert isinstance(sub, uz.ZarrGroup)
        assert g.keys() == ["a"]
        assert g["a"].keys() == ["b"]
        assert "a/b/c" in g and "a/b" in g and "a/x" not in g
        arr = g.create_array("a/b/arr", (4,), "u1", data=np.arange(4, dtype="u1"))
        np.testing.assert_array_equal(g["a/b/arr"][...], np.arange(4))
        np.testing.assert_array_equal(g["a"]["b"]["arr"][...], arr[...])
        del g["a/b/c"]
        assert g["a/b"].keys() == ["arr"]
        g["x/y"] = np.ones(2)
        assert g["x"].keys() == ["y"]
        z = zarr.open_group(env.url(), mode="r")
        assert sorted(z["a/b"].keys()) == ["arr"]  # type: ignore[union-attr]

    def test_missing_member_is_key_error(self, env):
        g = env.group()
        g.create_group("a")
        with pytest.raises(KeyError):
            g["nope"]
        with pytest.raises(KeyError):
            g["a/nope"]
        with pytest.raises(KeyError):
            del g["nope"]
        with pytest.raises(KeyError):
            del g["a/nope"]
        assert g.get("nope") is None

    def test_delete_removes_exactly_that_member(self, env):
        g = env.group()
        g.create_array("a", (2,), "i4", data=[1, 2])
        g.create_array("ab", (2,), "i4", data=[3, 4])
        g.create_group("a_b")
        del g["a"]
        assert g.keys() == ["a_b", "ab"]
        np.testing.assert_array_equal(g["ab"][...], [3, 4])
        assert not (env.tmp / "store.zarr" / "a").exists()

    def test_create_group_opens_existing_and_overwrite_replaces(self, env):
        g = env.group()
        s = g.create_group("s")
        s.attrs["keep"] = True
        s.create_array("x", (2,), "i4")
        again = g.create_group("s")
        assert again.attrs["keep"] is True and again.keys() == ["x"]
        fresh = g.create_group("s", overwrite=True)
        assert fresh.keys() == [] and dict(fresh.attrs) == {}

    def test_create_group_over_array(self, env):
        g = env.group()
        g.create_array("a", (3,), "i4", data=[1, 2, 3])
        before = snapshot(env.url())
        with pytest.raises(FileExistsError):
            g.create_group("a")
        with pytest.raises(FileExistsError):
            g.create_group("a/b")
        assert snapshot(env.url()) == before
        new = g.create_group("a", overwrite=True)
        assert isinstance(g["a"], uz.ZarrGroup) and new.keys() == []

    def test_create_array_exists(self, env):
        g = env.group()
        g.create_array("a", (3,), "i4", data=[1, 2, 3])
        g.create_group("grp")
        before = snapshot(env.url())
        for name in ("a", "grp"):
            with pytest.raises(FileExistsError):
                g.create_array(name, (5,), "f8")
        assert snapshot(env.url()) == before
        b = g.create_array("a", (5,), "f8", overwrite=True)
        assert b.shape == (5,) and b.dtype == np.float64
        np.testing.assert_array_equal(g["a"][...], 0)

    def test_setitem_ndarray_creates_and_replaces(self, env):
        g = env.group()
        data = np.arange(24, dtype="i2").reshape(2, 3, 4)
        g["x"] = data
        a = g["x"]
        assert a.dtype == np.int16 and a.shape == (2, 3, 4)
        np.testing.assert_array_equal(a[...], data)
        g["x"] = np.ones(3, dtype="f4")
        assert g["x"].shape == (3,)
        g["lst"] = [1.0, 2.0]
        np.testing.assert_array_equal(g["lst"][...], [1.0, 2.0])

    def test_setitem_array_copies_data_attrs_layout(self, env):
        g = env.group()
        src = g.create_array(
            "src", (20, 10), "u2", chunks=(4, 5), fill_value=3, compressor="zstd",
            compressor_opt={"level": 5}, **({"shards": (8, 10)} if env.zarr_version == 3 else {}),
        )
        src[:10] = np.arange(100, dtype="u2").reshape(10, 10)
        src.attrs["unit"] = "mm"
        other = env.group("other.zarr")
        other["copy"] = src
        dst = other["copy"]
        np.testing.assert_array_equal(dst[...], src[...])
        assert dst.chunks == src.chunks and dst.shards == src.shards
        assert dst.fill_value == 3 and dst.compressor == src.compressor
        assert dict(dst.attrs) == {"unit": "mm"}

    def test_setitem_group_copies_recursively(self, env):
        g = env.group()
        s = g.create_group("s")
        s.attrs["a"] = 1
        s["inner/x"] = np.arange(5)
        g["t"] = s
        assert g["t"].attrs["a"] == 1
        np.testing.assert_array_equal(g["t/inner/x"][...], np.arange(5))

    def test_create_array_with_numpy_and_dask_data(self, env):
        g = env.group()
        ref = np.random.default_rng(0).random((33, 17, 9)).astype("f4")
        a = g.create_array("np", ref.shape, data=ref, chunks=(8,), **env.shard_kw)
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a[...], ref)
        lazy = da.from_array(ref, chunks=(5, 7, 9))  # deliberately misaligned with the chunks
        b = g.create_array("dask", ref.shape, data=lazy, chunks=(8,), **env.shard_kw)
        np.testing.assert_array_equal(b[...], ref)
        np.testing.assert_array_equal(zarr.open_array(env.url() + "/dask", mode="r")[...], ref)

    def test_create_array_data_shape_mismatch_writes_nothing(self, env):
        g = env.group()
        before = snapshot(env.url())
        with pytest.raises(ValueError, match="shape"):
            g.create_array("bad", (4, 4), "i4", data=np.zeros((3, 4)))
        assert snapshot(env.url()) == before
        assert "bad" not in g

    def test_create_array_from_base(self, env):
        g = env.group()
        g.create_array(
            "0", (32, 32, 32), "u2", chunks=(8,), fill_value=5, compressor="blosc",
            compressor_opt={"cname": "zstd", "clevel": 3}, order="F", **env.shard_kw,
        )
        lvl = g.create_array_from_base("1", (16, 16, 16), data=np.ones((16, 16, 16), "u2"))
        base = g["0"]
        assert lvl.dtype == base.dtype and lvl.chunks == base.chunks and lvl.shards == base.shards
        assert lvl.fill_value == 5 and lvl.compressor == base.compressor and lvl.order == "F"
        np.testing.assert_array_equal(lvl[...], 1)
        lvl2 = g.create_array_from_base("2", (8, 8, 8), dtype="f4")
        assert lvl2.dtype == np.float32

    def test_create_array_from_base_without_base(self, env):
        g = env.group()
        with pytest.raises(KeyError):
            g.create_array_from_base("1", (2, 2))

    def test_member_version_follows_parent(self, env):
        g = env.group()
        a = g.create_array("a", (2,), "i4", zarr_config=uz.ZarrConfig(zarr_version=3 if env.zarr_version == 2 else 2))
        assert a.zarr_version == env.zarr_version
        assert g.create_group("s").zarr_version == env.zarr_version

    def test_metadata_document(self, env):
        g = env.group()
        g.attrs["x"] = 1
        meta = g.metadata
        assert meta.zarr_format == env.zarr_version == meta["zarr_format"]
        assert meta["attributes"] == {"x": 1}
        with pytest.raises(AttributeError):
            _ = meta.nonexistent

    def test_paths(self, env):
        g = env.group()
        a = g.create_array("a/b", (2,), "i4")
        assert g.path == g.url == g.store_path == env.url()
        assert a.url.endswith("store.zarr/a/b")
        assert a.store_path == a.path == a.url

    def test_nbytes(self, env):
        g = env.group()
        a = g.create_array("a", (64, 64), "u2", chunks=(16,), compressor="none")
        assert a.nbytes == 64 * 64 * 2
        a[...] = 1
        assert a.nbytes_stored >= a.nbytes

    def test_dimension_names(self, env):
        g = env.group()
        a = g.create_array("0", (4, 5, 6), "u1", dimension_names=["z", "y", "x"])
        expected = ("z", "y", "x") if env.zarr_version == 3 else None
        assert a.dimension_names == expected
        assert g.create_array_from_base("1", (2, 3, 3)).dimension_names == expected
        with pytest.raises(ValueError):
            g.create_array("bad", (4, 5), "u1", dimension_names=["z", "y", "x"] if env.zarr_version == 3 else "zy")
        b = g.create_array("b", (2, 2), "u1")
        b.set_dimension_names(["y", "x"])
        again = uz.open_array(b.url, "r", driver=env.driver)
        assert again.dimension_names == (("y", "x") if env.zarr_version == 3 else None)
        if env.zarr_version == 3:
            assert zarr.open_array(b.url, mode="r").metadata.dimension_names == ("y", "x")  # type: ignore[union-attr]
        with pytest.raises(uz.ReadOnlyError):
            again.set_dimension_names(["a", "b"])
        g["copy"] = b  # copies keep the layout, dimension names included
        assert g["copy"].dimension_names == again.dimension_names
