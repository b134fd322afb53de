"""Unit tests of the pure layout functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unizarr import documents, layout
from unizarr.config import ZarrConfig


@pytest.mark.parametrize(
    "shape,chunk,kw,expected",
    [
        ((512, 512, 512), (128,), {}, (128, 128, 128)),
        ((512, 512, 512), (64, 128), {}, (64, 128, 128)),
        ((512, 512), (128,), {}, (128, 128)),
        ((100,), (10,), {}, (10,)),
        ((10, 512, 512, 512), (128,), {}, (1, 128, 128, 128)),
        ((10, 512, 512, 512), (128,), {"chunk_time": False}, (10, 128, 128, 128)),
        ((3, 512, 512, 512), (128,), {"no_time": True}, (3, 128, 128, 128)),
        ((3, 512, 512, 512), (128,), {"no_time": True, "chunk_channels": True}, (1, 128, 128, 128)),
        ((10, 3, 64, 64, 64), (32,), {}, (1, 3, 32, 32, 32)),
        ((10, 3, 64, 64, 64), (32,), {"chunk_channels": True, "chunk_time": False}, (10, 1, 32, 32, 32)),
        ((10, 3, 64, 64, 64), (2, 32, 32, 32), {}, (1, 2, 32, 32, 32)),
        ((10, 3, 64, 64, 64), (5, 1, 8, 8, 8), {}, (5, 1, 8, 8, 8)),
        ((7, 9), (-1, 4), {}, (7, 4)),
        ((0, 5), (128,), {}, (128, 128)),
    ],
)
def test_expand_chunks(shape, chunk, kw, expected):
    assert layout.expand_chunks(shape, chunk, **kw) == expected


def test_expand_chunks_errors():
    with pytest.raises(ValueError, match="more dimensions"):
        layout.expand_chunks((4, 4), (2, 2, 2))
    with pytest.raises(ValueError, match="5-D"):
        layout.expand_chunks((2, 2, 4, 4, 4), (2,), no_time=True)
    with pytest.raises(ValueError, match="6-D"):
        layout.expand_chunks((2,) * 6, (2,))
    assert layout.expand_chunks((2,) * 6, (1,) * 6) == (1,) * 6
    for bad in ((0,), (-2,), (1.5,), ("a",), (), "12", True):
        with pytest.raises(ValueError):
            layout.expand_chunks((4,), bad)


def test_expand_shards_rules():
    shape = (10, 3, 512, 512, 512)
    chunks = layout.expand_chunks(shape, (128,))
    assert layout.expand_shards(shape, chunks, (256,), 2) == (10, 3, 256, 256, 256)
    assert layout.expand_shards(shape, chunks, (256,), 2, shard_time=True) == (1, 3, 256, 256, 256)
    assert layout.expand_shards(shape, chunks, None, 2) is None
    with pytest.raises(ValueError, match=r"shard=\(10, 3, 256, 256, 256\)"):
        layout.expand_shards(shape, chunks, (200,), 2)


def test_auto_shard_targets_half_to_one_gib():
    shape, itemsize = (4096, 4096, 4096), 2
    chunks = (128, 128, 128)
    shard = layout.expand_shards(shape, chunks, "auto", itemsize)
    nbytes = math.prod(shard) * itemsize
    assert 2**29 <= nbytes <= 2**30
    assert all(s % c == 0 for s, c in zip(shard, chunks))
    # small arrays: one shard covers everything, rounded to whole chunks
    assert layout.expand_shards((100, 300, 300), (32, 32, 32), "auto", 2) == (128, 320, 320)
    # time axis kept whole by default, one chunk with shard_time
    s = layout.expand_shards((4, 2048, 2048, 2048), (1, 128, 128, 128), "auto", 2)
    assert s[0] == 4 and 2**29 <= math.prod(s) * 2 <= 2**30
    s = layout.expand_shards((4, 2048, 2048, 2048), (1, 128, 128, 128), "auto", 2, shard_time=True)
    assert s[0] == 1


@pytest.mark.parametrize(
    ("budget_mib", "want"),
    [
        (16, (128, 128, 128)),  # one chunk is the floor (1.6 MiB allowed, 4 MiB chunk)
        (64, (128, 128, 128)),
        (128, (128, 128, 256)),
        (256, (128, 256, 256)),
        (512, (256, 256, 256)),
        (2048, (256, 512, 512)),
        (8192, (512, 512, 1024)),  # the budget no longer binds: the 512 MiB target does
    ],
)
def test_auto_shard_gives_way_to_the_memory_budget(budget_mib: int, want: tuple) -> None:
    """``shard="auto"`` under a budget: two writers of 5 shard sizes each fit it, so a
    1024^3 uint16 volume gets 16 MiB shards at 256 MiB (instead of 512 MiB ones)."""
    cap = layout.shard_bytes_for_budget(budget_mib * 2**20)
    assert cap == budget_mib * 2**20 // 10
    shard = layout.expand_shards((1024,) * 3, (128,) * 3, "auto", 2, max_shard_bytes=cap)
    assert shard == want
    assert math.prod(shard) * 2 <= max(cap, 128**3 * 2)
    # without a budget the rule is unchanged
    assert layout.expand_shards((1024,) * 3, (128,) * 3, "auto", 2) == (512, 512, 1024)


def test_auto_shard_budget_counts_whole_leading_axes() -> None:
    """A whole channel axis is part of every shard, so it shrinks the spatial part;
    a clamped axis lets another axis grow instead of stopping."""
    cap = layout.shard_bytes_for_budget(320 * 2**20)  # 32 MiB
    s = layout.expand_shards((4, 2048, 2048, 2048), (1, 128, 128, 128), "auto", 2,
                             max_shard_bytes=cap)
    assert s == (4, 128, 128, 256) and math.prod(s) * 2 == cap
    # z is only 100 deep: y and x grow instead
    s = layout.expand_shards((100, 2048, 2048), (128, 128, 128), "auto", 2, max_shard_bytes=cap)
    assert s == (128, 256, 512)
    spec = layout.resolve_array_spec((1024,) * 3, "uint16", zarr_version=3, config=None,
                                     chunks=(128,), shards="auto",
                                     max_shard_bytes=layout.shard_bytes_for_budget(256 * 2**20))
    assert spec.shards == (128, 256, 256)


def test_normalize_compressor_defaults_and_aliases():
    c = layout.normalize_compressor("blosc", {}, "u2")
    assert c.options == {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "blocksize": 0}
    assert layout.normalize_compressor("blosc", {}, "u1").options["shuffle"] == "bitshuffle"
    assert layout.normalize_compressor("blosc", {"shuffle": 0}, "u2").options["shuffle"] == "noshuffle"
    assert layout.normalize_compressor("BLOSC", '{"clevel": 1}').options["clevel"] == 1
    assert layout.normalize_compressor(None).name == "none"
    assert layout.normalize_compressor("zstd").options == {"level": 3}
    with pytest.raises(ValueError, match="gzip"):
        layout.normalize_compressor("zlib", {}, "u2", 3)
    with pytest.raises(ValueError, match="allowed"):
        layout.normalize_compressor("gzip", {"clevel": 1})


def test_fill_value_normalization():
    assert layout.normalize_fill_value(None, np.dtype("f4")) == 0
    assert layout.normalize_fill_value(None, np.dtype("bool")) is np.False_
    assert np.isnan(layout.normalize_fill_value(float("nan"), np.dtype("f8")))
    assert layout.normalize_fill_value(3, np.dtype("c8")) == 3 + 0j
    for dtype, bad in (("u1", -1), ("i1", 200), ("i4", 0.5), ("i4", float("nan")), ("f4", "abc")):
        with pytest.raises(ValueError):
            layout.normalize_fill_value(bad, np.dtype(dtype))


def test_fill_value_json_round_trip():
    for dtype, value in (("f4", float("nan")), ("f8", float("inf")), ("c16", complex(1, float("-inf"))),
                         ("bool", True), ("i8", -5), ("u8", 2**64 - 1)):
        dt = np.dtype(dtype)
        enc = documents.fill_value_json(layout.normalize_fill_value(value, dt), dt)
        dec = documents.fill_value_from_json(enc, dt)
        np.testing.assert_array_equal(np.array(dec, dt), np.array(value, dt))


def test_unsupported_dtypes():
    for bad in ("U3", "O", "M8[s]", [("a", "i4")], "nope"):
        with pytest.raises(ValueError):
            layout.normalize_dtype(bad)
    assert layout.normalize_dtype(">u2") == np.dtype("<u2")


def test_resolve_spec_keywords_win_over_config():
    cfg = ZarrConfig(chunk=(64,), compressor="zstd", compressor_opt={"level": 9}, order="F")
    spec = layout.resolve_array_spec((100, 100), "u2", zarr_version=3, config=cfg, chunks=(10,), order="C")
    assert spec.chunks == (10, 10) and spec.order == "C"
    assert spec.compressor == layout.CodecSpec("zstd", {"level": 9})
    spec = layout.resolve_array_spec((100, 100), "u2", zarr_version=3, config=cfg, compressor="gzip")
    assert spec.compressor == layout.CodecSpec("gzip", {"level": 6})


def test_spec_metadata_round_trip():
    for version in (2, 3):
        for kw in ({}, {"shards": (64,)} if version == 3 else {}, {"order": "F"}, {"compressor": "none"},
                   {"fill_value": float("nan")}, {"dimension_separator": "."}):
            spec = layout.resolve_array_spec((100, 50, 7), "f4", zarr_version=version, config=None, chunks=(32,), **kw)
            doc = documents.metadata_document(spec)
            back = documents.spec_from_metadata(doc)
            assert back.chunks == spec.chunks and back.shards == spec.shards
            assert back.compressor == spec.compressor and back.order == spec.order
            assert back.dimension_separator == spec.dimension_separator
            np.testing.assert_array_equal(np.array(back.fill_value), np.array(spec.fill_value))


def test_codec_from_object():
    import numcodecs
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    assert documents.codec_from_object(None).name == "none"
    assert documents.codec_from_object([]).name == "none"
    assert documents.codec_from_object("auto") is None
    assert documents.codec_from_object(numcodecs.Zlib(level=3)) == layout.CodecSpec("zlib", {"level": 3})
    assert documents.codec_from_object(GzipCodec(level=4)) == layout.CodecSpec("gzip", {"level": 4})
    assert documents.codec_from_object([ZstdCodec(level=2)]).options == {"level": 2}
    b = documents.codec_from_object(BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"))
    assert b.options["cname"] == "zstd" and b.options["shuffle"] == "bitshuffle"
