"""What ends up on disk for given layout arguments, checked with plain zarr-python."""

from __future__ import annotations

import math

import numpy as np
import pytest
import zarr

import unizarr as uz

from .base import DriverSuite


def _plain(env, name):
    return zarr.open_array(env.url() + "/" + name, mode="r")


def _codec_conf(z):
    """(name, configuration) of the array's compressor as zarr-python reports it."""
    if z.metadata.zarr_format == 2:
        comp = z.metadata.compressor
        return None if comp is None else comp.get_config()
    codecs = z.metadata.to_dict()["codecs"]
    if codecs[0]["name"] == "sharding_indexed":
        codecs = codecs[0]["configuration"]["codecs"]
    rest = [c for c in codecs if c["name"] not in ("bytes", "transpose")]
    return rest[0] if rest else None


class LayoutTests(DriverSuite):
    """What ends up on disk for given layout arguments, checked with plain zarr-python."""

    @pytest.mark.parametrize("dtype", ["bool", "u1", "i2", "u4", "i8", "f2", "f4", "f8", "c8", "c16"])
    def test_dtypes_round_trip(self, env, dtype):
        rng = np.random.default_rng(3)
        ref = (rng.random((9, 7)) * 100).astype(dtype)
        if np.dtype(dtype).kind == "c":
            ref = ref + 1j * ref[::-1]
        a = env.group().create_array("a", ref.shape, dtype, chunks=(4,), data=ref)
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a[...], ref)
        np.testing.assert_array_equal(_plain(env, "a")[...], ref)

    @pytest.mark.parametrize(
        "dtype,fill",
        [("bool", True), ("i2", -7), ("u8", 2**63), ("f4", float("nan")), ("f8", float("-inf")),
         ("c8", 1 + 2j), ("c16", complex(float("nan"), 1)), ("f2", 0.5)],
    )
    def test_fill_values(self, env, dtype, fill):
        a = env.group().create_array("a", (5, 3), dtype, chunks=(2,), fill_value=fill)
        expected = np.full((5, 3), fill, dtype=dtype)
        np.testing.assert_array_equal(a[...], expected)
        np.testing.assert_array_equal(_plain(env, "a")[...], expected)
        a[0, 0] = 0
        np.testing.assert_array_equal(a[1:], expected[1:])

    def test_bad_fill_value(self, env):
        g = env.group()
        for dtype, fill in (("u1", -1), ("i2", 1.5), ("u1", 300), ("i4", "x"), ("i4", float("nan"))):
            with pytest.raises(ValueError):
                g.create_array("a", (2,), dtype, fill_value=fill)
        assert "a" not in g

    def test_defaults(self, env):
        a = env.group().create_array("a", (300, 300), "u2")
        assert a.chunks == (128, 128)
        assert a.shards is None
        assert a.fill_value == 0 and a.order == "C"
        conf = _codec_conf(_plain(env, "a"))
        if env.zarr_version == 2:
            assert conf["id"] == "blosc" and conf["cname"] == "lz4" and conf["clevel"] == 5
            assert conf["shuffle"] == 1
        else:
            assert conf["name"] == "blosc"
            assert conf["configuration"]["cname"] == "lz4" and conf["configuration"]["shuffle"] == "shuffle"

    def test_bitshuffle_default_for_bytes(self, env):
        env.group().create_array("a", (10,), "u1")
        conf = _codec_conf(_plain(env, "a"))
        shuffle = conf["shuffle"] if env.zarr_version == 2 else conf["configuration"]["shuffle"]
        assert shuffle in (2, "bitshuffle")

    @pytest.mark.parametrize(
        "compressor,opt",
        [("blosc", {"cname": "zstd", "clevel": 9, "shuffle": "noshuffle"}),
         ("blosc", {"cname": "lz4hc", "shuffle": 2, "blocksize": 4096}),
         ("zstd", {"level": 7}), ("gzip", {"level": 2}), ("zlib", {"level": 4}), ("none", {})],
    )
    def test_compressors(self, env, compressor, opt):
        g = env.group()
        ref = np.arange(1000, dtype="i4").reshape(10, 100)
        if compressor == "zlib" and env.zarr_version == 3:
            with pytest.raises(ValueError, match="gzip"):
                g.create_array("a", ref.shape, "i4", compressor=compressor, compressor_opt=opt)
            assert "a" not in g
            return
        a = g.create_array("a", ref.shape, "i4", compressor=compressor, compressor_opt=opt, data=ref)
        np.testing.assert_array_equal(_plain(env, "a")[...], ref)
        conf = _codec_conf(_plain(env, "a"))
        if compressor == "none":
            assert conf is None
            return
        flat = dict(conf) if env.zarr_version == 2 else dict(conf["configuration"])
        name = conf["id"] if env.zarr_version == 2 else conf["name"]
        assert name == compressor
        for k, v in opt.items():
            if k == "shuffle" and env.zarr_version == 3 and isinstance(v, int):
                v = ("noshuffle", "shuffle", "bitshuffle")[v]
            if k == "shuffle" and env.zarr_version == 2 and isinstance(v, str):
                v = ("noshuffle", "shuffle", "bitshuffle").index(v)
            assert flat[k] == v, (k, flat)
        assert a.compressor.name == compressor

    @pytest.mark.parametrize(
        "compressor,opt",
        [("lzma", {}), ("blosc", {"cname": "nope"}), ("blosc", {"clevel": 11}), ("blosc", {"shuffle": 5}),
         ("zstd", {"lvl": 1}), ("gzip", {"level": 12}), ("none", {"level": 1}), ("blosc", "{bad json")],
    )
    def test_bad_compressor_is_value_error(self, env, compressor, opt):
        g = env.group()
        with pytest.raises(ValueError):
            g.create_array("a", (4,), "i4", compressor=compressor, compressor_opt=opt)
        assert "a" not in g

    def test_order_f(self, env):
        ref = np.arange(60, dtype="i2").reshape(3, 4, 5)
        a = env.group().create_array("a", ref.shape, "i2", chunks=(2,), order="F", data=ref)
        assert a.order == "F"
        np.testing.assert_array_equal(a[...], ref)
        z = _plain(env, "a")
        np.testing.assert_array_equal(z[...], ref)
        if env.zarr_version == 2:
            assert z.metadata.order == "F"
        else:
            names = [c["name"] for c in z.metadata.to_dict()["codecs"]]
            assert names[0] == "transpose"

    @pytest.mark.parametrize("sep", ["/", "."])
    def test_dimension_separator(self, env, sep):
        a = env.group().create_array("a", (4, 4), "u1", chunks=(2,), dimension_separator=sep, data=np.ones((4, 4), "u1"))
        assert a.spec.dimension_separator == sep
        root = env.tmp / "store.zarr" / "a"
        keys = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        prefix = "c" + sep if env.zarr_version == 3 else ""
        assert f"{prefix}1{sep}1" in keys, keys
        np.testing.assert_array_equal(_plain(env, "a")[...], 1)

    def test_shards(self, env):
        g = env.group()
        if env.zarr_version == 2:
            with pytest.raises(ValueError, match="sharding"):
                g.create_array("a", (64, 64), "u2", chunks=(8,), shards=(16,))
            assert "a" not in g
            return
        ref = np.arange(64 * 64, dtype="u2").reshape(64, 64)
        a = g.create_array("a", ref.shape, "u2", chunks=(8,), shards=(32, 16), data=ref)
        assert a.chunks == (8, 8) and a.shards == (32, 16)
        z = _plain(env, "a")
        assert z.shards == (32, 16) and z.chunks == (8, 8)
        np.testing.assert_array_equal(z[...], ref)
        with pytest.raises(ValueError, match="whole number of chunks"):
            g.create_array("b", (64, 64), "u2", chunks=(8,), shards=(12,))
        assert "b" not in g

    def test_config_expansion(self, env):
        cfg = uz.ZarrConfig(chunk=(16,), chunk_time=True, chunk_channels=False,
                            shard=(32,) if env.zarr_version == 3 else None, zarr_version=env.zarr_version)
        g = env.group()
        a = g.create_array("a", (3, 2, 40, 40, 40), "u1", zarr_config=cfg)
        assert a.chunks == (1, 2, 16, 16, 16)
        if env.zarr_version == 3:
            assert a.shards == (3, 2, 32, 32, 32)
        b = g.create_array("b", (40, 40), "u1", zarr_config=cfg, chunks=(8, 4))
        assert b.chunks == (8, 4)

    def test_shard_auto(self, env):
        g = env.group()
        if env.zarr_version == 2:
            with pytest.raises(ValueError, match="sharding"):
                g.create_array("a", (100, 300, 300), "u2", chunks=(32,), shards="auto")
            assert "a" not in g
            return
        a = g.create_array("a", (100, 300, 300), "u2", chunks=(32,), shards="auto")
        assert all(s % c == 0 for s, c in zip(a.shards, a.chunks))
        # the array is far below 512 MiB: one shard covers it
        assert all(s >= n for s, n in zip(a.shards, a.shape))
        assert math.prod(a.shards) * 2 < 2**31
