"""Whole-shard writes of the zarr-python driver encode the inner chunks themselves
(``unizarr.drivers._shard_writer``). Every file they store must be the one zarr-python
stores for the same write, byte for byte (dtypes, fill values, empty chunks and shards,
edge shards, index at the start, several codecs, overwrites), the fast path must really
be taken, and zarr-python and TensorStore must read the data back."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ShardingCodec, TransposeCodec, ZstdCodec

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from unizarr.drivers import _shard_writer

SHAPE = (40, 36, 20)  # 2.5 x 2.25 x 1.25 shards: edge shards with chunks outside the array
CHUNKS = (8, 8, 8)
SHARDS = (16, 16, 16)


#: Whether this zarr-python is the line the fast path was checked against: elsewhere
#: every test here still runs and checks that zarr-python wrote every shard itself.
FAST = _shard_writer.AVAILABLE


def fast(n: int) -> int:
    """Shards the fast path stores: ``n`` on the verified zarr-python, else none."""
    return n if FAST else 0


def test_fast_path_is_on_for_the_verified_zarr_python_only():
    import zarr

    line = tuple(int(p) for p in zarr.__version__.split(".")[:2])
    assert FAST == (line in _shard_writer.VERIFIED_ZARR)


@pytest.mark.parametrize("line", [(3, 0), (3, 2), (3, 3), (3, 5), (4, 0)])
def test_never_enabled_on_an_unverified_line(line):
    """zarr 3.2 and 3.3 (never checked file by file) and any later line write their
    shards themselves, whatever internals they happen to have."""
    assert _shard_writer._internals(line) is None


def test_other_subchunk_orders_are_left_to_zarr_python(tmp_path):
    """zarr 3.4's sharding codec can lay chunks out in another order than Morton (a
    write-time setting of the codec object): such an array is written by zarr-python,
    the same array with the Morton default by the fast path."""
    import inspect

    orders = ["morton"]
    if "subchunk_write_order" in inspect.signature(ShardingCodec).parameters:
        orders += ["lexicographic", "colexicographic", "unordered"]
    for order in orders:
        kw = {} if order == "morton" else {"subchunk_write_order": order}
        codec = ShardingCodec(chunk_shape=CHUNKS, codecs=[BytesCodec()], **kw)
        arr = zarr.create_array(str(tmp_path / f"{order}.zarr"), shape=SHAPE, dtype="u2",
                                chunks=SHARDS, serializer=codec, compressors=None, zarr_format=3)
        encoder = _shard_writer.ShardEncoder.for_array(arr)
        assert (encoder is not None) == (FAST and order == "morton"), order


@pytest.fixture(autouse=True)
def same_gzip_second(monkeypatch):
    """numcodecs' GZip stamps the current second into every chunk's gzip header, so two
    writes a second apart differ in those bytes alone: the clock gzip reads is frozen
    for the file-by-file comparisons."""
    import gzip
    import types

    monkeypatch.setattr(gzip, "time", types.SimpleNamespace(time=lambda: 1_700_000_000.0))


@pytest.fixture
def shard_writes(monkeypatch):
    """Counts the shards the fast path stores (a spy: the real method runs)."""
    calls = []
    real = _shard_writer.ShardEncoder.store

    def spy(self, index, buf):
        calls.append(tuple(index))
        return real(self, index, buf)

    monkeypatch.setattr(_shard_writer.ShardEncoder, "store", spy)
    return calls


def _data(dtype: str, fill: float, rng: np.random.Generator) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        data = rng.random(SHAPE) < 0.5
    elif dt.kind == "f":
        data = (rng.random(SHAPE) * 100).astype(dt)
    elif dt.kind == "c":
        data = (rng.random(SHAPE) + 1j * rng.random(SHAPE)).astype(dt)
    else:
        info = np.iinfo(dt)
        data = rng.integers(max(info.min, -100), min(info.max, 100), SHAPE, endpoint=True).astype(dt)
    data[:8, :8, :8] = fill  # one inner chunk equal to the fill value: omitted
    data[16:32, 16:32, :16] = fill  # a whole shard equal to the fill value: not stored
    data[8, 8, 8] = fill  # a chunk whose first voxel only is the fill value
    if dt.kind == "f":
        data[8:16, :8, :8] = -0.0  # differs from a 0.0 fill bit for bit: stored
        data[32:, 32:, 16:] = np.nan  # an edge chunk of NaN
    return data


def _dense(dtype: str, fill: float, rng: np.random.Generator) -> np.ndarray:
    """No chunk starts with the fill value: unizarr's dense path (every chunk stored)."""
    data = _data(dtype, fill, rng)
    data[::8, ::8, ::8] = np.ones((), dtype=dtype) if np.dtype(dtype).kind != "b" else not fill
    data[:8, :8, :8] = data[8:16, 8:16, 8:16]
    data[16:32, 16:32, :16] = data[:16, :16, :16]
    return data


CASES = {
    # name: (dtype, fill, create_array keyword arguments)
    "u2-blosc": ("uint16", 0, {"compressors": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")}),
    "f4-nan-zstd": ("float32", float("nan"), {"compressors": ZstdCodec(level=3)}),
    "f8-zero-none": ("float64", 0.0, {"compressors": None}),
    "i1-fill7-gzip": ("int8", 7, {"compressors": GzipCodec(level=1)}),
    "bool": ("bool", False, {}),
    "c16": ("complex128", 0, {}),
    "i4-big-endian": ("int32", 3, {"serializer": BytesCodec(endian="big")}),
    "u2-transpose": ("uint16", 5, {"filters": [TransposeCodec(order=(2, 0, 1))]}),
    "u2-index-start": ("uint16", 0, {"index_location": "start"}),
}


def _create(path: str, case: str, shape=SHAPE) -> zarr.Array:
    dtype, fill, kw = CASES[case]
    kw = dict(kw)
    location = kw.pop("index_location", None)
    if location is not None:  # only a ShardingCodec spelled out puts the index first
        codecs = [ShardingCodec(chunk_shape=CHUNKS, codecs=[BytesCodec()], index_location=location)]
        return zarr.create_array(path, shape=shape, dtype=dtype, chunks=SHARDS, fill_value=fill,
                                 zarr_format=3, serializer=codecs[0], compressors=None)
    return zarr.create_array(path, shape=shape, dtype=dtype, chunks=CHUNKS, shards=SHARDS,
                             fill_value=fill, zarr_format=3, **kw)


def _pair(tmp_path, case: str, shape=SHAPE) -> tuple[str, str]:
    plain, ours = str(tmp_path / f"plain-{case}.zarr"), str(tmp_path / f"uz-{case}.zarr")
    _create(plain, case, shape)
    _create(ours, case, shape)
    return plain, ours


def _check_readers(path: str, data: np.ndarray) -> None:
    np.testing.assert_array_equal(zarr.open_array(path, mode="r")[...], data)
    np.testing.assert_array_equal(uz.open_array(path, "r", driver="tensorstore")[...], data)


@pytest.mark.parametrize("case", list(CASES))
def test_every_file_is_zarr_pythons(tmp_path, case, shard_writes):
    dtype, fill, _ = CASES[case]
    rng = np.random.default_rng(3)
    for kind, data in (("sparse", _data(dtype, fill, rng)), ("dense", _dense(dtype, fill, rng))):
        plain, ours = _pair(tmp_path / kind, case)
        zarr.open_array(plain, mode="r+")[...] = data
        shard_writes.clear()
        uz.open_array(ours, "r+", driver="zarr-python")[...] = data
        assert len(shard_writes) == fast(3 * 3 * 2), (case, kind)  # every shard, fast path
        stored = tree_hashes(ours)
        assert stored == tree_hashes(plain), (case, kind)
        assert ("c/1/1/0" in stored) == (kind == "dense")  # the all-fill shard: omitted
        _check_readers(ours, data)


@pytest.mark.parametrize("case", ["u2-blosc", "f4-nan-zstd", "u2-index-start"])
def test_overwrites_match_zarr_python(tmp_path, case, shard_writes):
    """Rewriting stored shards (some chunks, then whole shards, becoming the fill
    value) replaces and deletes the same files zarr-python's own write does."""
    dtype, fill, _ = CASES[case]
    rng = np.random.default_rng(11)
    first, second = _dense(dtype, fill, rng), _data(dtype, fill, rng)
    second[:16, :16, :] = fill  # two stored shards become empty: deleted
    plain, ours = _pair(tmp_path, case)
    for data in (first, second):
        zarr.open_array(plain, mode="r+")[...] = data
        uz.open_array(ours, "r+", driver="zarr-python")[...] = data
        assert tree_hashes(ours) == tree_hashes(plain)
    assert bool(shard_writes) == FAST
    _check_readers(ours, second)


def test_region_writes_and_partial_shards(tmp_path, shard_writes):
    """A region of whole shards takes the fast path; a region that cuts a shard is
    zarr-python's (merged with what is stored); the files end as zarr-python's."""
    rng = np.random.default_rng(5)
    data = _data("uint16", 0, rng)
    plain, ours = _pair(tmp_path, "u2-blosc")
    zp, us = zarr.open_array(plain, mode="r+"), uz.open_array(ours, "r+", driver="zarr-python")
    # (region, shards it covers whole: written by the fast path)
    for region, whole in [(np.s_[:16, :16, :16], 1),  # one shard: chunks encoded in parallel
                          (np.s_[16:40, :, :], 12), (np.s_[:16, 16:36, 0:20], 4),
                          (np.s_[3:11, 5:30, 2:19], 0),
                          # shard (2, 0, 0) has a chunk outside the array and is stored
                          # by now: zarr-python merges it
                          (np.s_[:, :16, :16], 2)]:
        shard_writes.clear()
        zp[region] = data[region]
        us[region] = data[region]
        assert tree_hashes(ours) == tree_hashes(plain), region
        assert len(shard_writes) == fast(whole), region
    _check_readers(ours, zp[...])


def test_stored_chunks_outside_a_shrunk_array_are_kept(tmp_path, shard_writes):
    """After a resize, an edge shard may hold chunks outside the array; zarr-python's
    write keeps them, and so does unizarr's (it lets zarr-python merge those shards)."""
    rng = np.random.default_rng(9)
    big = rng.integers(1, 500, (48, 48, 48)).astype("uint16")
    plain, ours = _pair(tmp_path, "u2-blosc", shape=(48, 48, 48))
    for path in (plain, ours):
        z = zarr.open_array(path, mode="r+")
        z[...] = big
        z.resize(SHAPE)
    data = _dense("uint16", 0, rng)
    zarr.open_array(plain, mode="r+")[...] = data
    shard_writes.clear()
    uz.open_array(ours, "r+", driver="zarr-python")[...] = data
    assert tree_hashes(ours) == tree_hashes(plain)
    # shards without chunks outside the array, or not stored, took the fast path
    assert (bool(shard_writes) and len(shard_writes) < 18) if FAST else not shard_writes
    _check_readers(ours, data)


@pytest.mark.parametrize("order", ["C", "F"])
def test_new_path_writes_what_the_old_path_wrote(tmp_path, driver, zarr_version, order, monkeypatch):
    """Through unizarr's own options (Blosc lz4, 128-style layout scaled down), the new
    whole-shard path and the old one (zarr-python's sharding codec) store identical
    files on both Zarr versions (v2 has no shards: the same path); each driver reads
    them back."""
    rng = np.random.default_rng(1)
    data = _data("uint16", 0, rng)
    shards = (16,) if zarr_version == 3 else None
    trees = []
    for label, fast in (("new", True), ("old", False)):
        if not fast:
            monkeypatch.setattr(_shard_writer.ShardEncoder, "for_array", classmethod(lambda cls, a: None))
        path = str(tmp_path / f"{label}.zarr")
        arr = uz.open_array(path, "w", driver="zarr-python", zarr_version=zarr_version, shape=SHAPE,
                            dtype="uint16", chunks=(8,), shards=shards, compressor="blosc",
                            compressor_opt={"cname": "lz4", "clevel": 5, "shuffle": "shuffle"},
                            order=order)
        if fast and zarr_version == 3 and FAST:
            assert arr._shard_encoder is not None and arr._shard_encoder_dense is not None
        arr[...] = data
        trees.append(tree_hashes(path))
        np.testing.assert_array_equal(uz.open_array(path, "r", driver=driver)[...], data)
    assert trees[0] == trees[1]


def test_not_taken_where_zarr_python_must_write(tmp_path):
    """Unsharded arrays, arrays on the zarrs pipeline and, on zarr 3.4, shards of
    varying size and arrays on its opt-in fused pipeline keep their own write path."""
    plain = uz.open_array(str(tmp_path / "a.zarr"), "w", driver="zarr-python", zarr_version=3,
                          shape=(16, 16), dtype="u2", chunks=(8,))
    assert plain._shard_encoder is None
    if zarr.config.get("array.rectilinear_chunks", None) is not None:  # zarr 3.4: shards of varying size
        with zarr.config.set({"array.rectilinear_chunks": True}):
            codec = ShardingCodec(chunk_shape=(8, 8), codecs=[BytesCodec()])
            uneven = zarr.create_array(str(tmp_path / "r.zarr"), shape=(48, 16), dtype="u2",
                                       chunks=[[16, 32], [16]], serializer=codec, compressors=None,
                                       zarr_format=3)
        assert _shard_writer.ShardEncoder.for_array(uneven) is None
    import zarr.core.codec_pipeline as pipelines

    if hasattr(pipelines, "FusedCodecPipeline"):  # zarr 3.4's opt-in pipeline: not checked
        path = str(tmp_path / "fused.zarr")
        _create(path, "u2-blosc")
        with zarr.config.set({"codec_pipeline.path": "zarr.core.codec_pipeline.FusedCodecPipeline"}):
            fused = zarr.open_array(path, mode="r+")
        assert type(fused._async_array.codec_pipeline).__name__ == "FusedCodecPipeline"
        assert _shard_writer.ShardEncoder.for_array(fused) is None
        assert _shard_writer.ShardEncoder.for_array(zarr.open_array(path, mode="r+")) is not None
    if "zarrs" in uz.drivers():
        z = uz.open_array(str(tmp_path / "b.zarr"), "w", driver="zarrs", zarr_version=3,
                          shape=(16, 16), dtype="u2", chunks=(8,), shards=(16,))
        assert z._shard_encoder is None


def test_object_store(tmp_path, s3_bucket, shard_writes):
    """The fast path stores through zarr-python's store API: an object store gets the
    same objects as zarr-python writes there."""
    bucket, options = s3_bucket
    rng = np.random.default_rng(2)
    data = _dense("uint16", 0, rng)
    plain = str(tmp_path / "plain.zarr")
    _create(plain, "u2-blosc")
    zarr.open_array(plain, mode="r+")[...] = data
    url = f"s3://{bucket}/a.zarr"
    arr = uz.open_array(url, "w", driver="zarr-python", zarr_version=3, shape=SHAPE, dtype="uint16",
                        chunks=(8,), shards=(16,), compressor="blosc",
                        compressor_opt={"cname": "lz4", "clevel": 5, "shuffle": "shuffle"},
                        fill_value=0, storage_options=options)
    arr[...] = data
    assert len(shard_writes) == fast(18)
    import fsspec

    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": options["endpoint_url"]},
                           key="testing", secret="testing")
    stored = {p.split("a.zarr/", 1)[1]: fs.cat_file(p) for p in fs.find(f"{bucket}/a.zarr")
              if "/c/" in p}
    import hashlib

    local = {k: v for k, v in tree_hashes(plain).items() if k.startswith("c/")}
    assert {k: hashlib.sha256(v).hexdigest() for k, v in stored.items()} == local
    np.testing.assert_array_equal(uz.open_array(url, "r", driver="tensorstore",
                                                storage_options=options)[...], data)


MEMORY = """
import json, sys, threading
import numpy as np
import unizarr as uz
from unizarr.drivers import _shard_writer

def anon():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("RssAnon:")) / 1024

npy, out = sys.argv[1], sys.argv[2]
volume = np.load(npy, mmap_mode="r")  # file-backed: only the writer's buffers are anonymous
opts = dict(driver="zarr-python", zarr_version=3, chunks=(64,), shards=(128,),
            compressor="blosc", compressor_opt={"cname": "lz4", "clevel": 5, "shuffle": "shuffle"})
warm = np.ones((128, 128, 128), volume.dtype)  # thread pools, codecs, first-call imports
uz.open_array(out + ".warm", "w", shape=warm.shape, dtype=warm.dtype, data=warm, **opts)
shards = []
real = _shard_writer.ShardEncoder.store
_shard_writer.ShardEncoder.store = lambda self, i, b: (shards.append(i), real(self, i, b))[1]
base = peak = anon()
stop = threading.Event()
def sample():
    global peak
    while not stop.wait(0.002):
        peak = max(peak, anon())
t = threading.Thread(target=sample, daemon=True)
t.start()
uz.open_array(out, "w", shape=volume.shape, dtype=volume.dtype, data=volume, **opts)
stop.set()
t.join()
back = uz.open_array(out, "r", driver="tensorstore")
ok = bool((back[200:260, 0:64, 300:384] == volume[200:260, 0:64, 300:384]).all())
print(json.dumps({"above_mib": max(peak, anon()) - base, "shards": len(shards), "ok": ok}))
"""


def test_whole_array_write_from_a_memmap_stays_bounded(tmp_path):
    """A 384^3 uint16 memmap (108 MiB) written whole into 128^3 shards (4 MiB) holds a
    few shards at a time, never the input: peak anonymous memory of a fresh process
    above its level after warm-up stays under 64 MiB (measured ~40 on 2 cores: shards
    in flight, thread arenas; the input alone would be 108)."""
    import json
    import subprocess
    import sys

    n = 384
    volume = np.lib.format.open_memmap(tmp_path / "in.npy", "w+", "uint16", (n, n, n))
    for z in range(0, n, 64):
        volume[z:z + 64] = np.random.default_rng(z).integers(0, 4000, (64, n, n), dtype=np.uint16)
    volume.flush()
    del volume
    out = subprocess.run(
        [sys.executable, "-c", MEMORY, str(tmp_path / "in.npy"), str(tmp_path / "out.zarr")],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["shards"] == fast(27), result
    assert result["above_mib"] < 64, result
