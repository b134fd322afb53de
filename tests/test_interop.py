"""Interoperability with the plain engines, in both directions.

* Every node written by either unizarr driver reads back identically with plain
  zarr-python (``zarr.open_group`` / ``zarr.open_array``) and plain TensorStore
  (``ts.open``): data, shape, dtype, chunk and shard shape, fill value, attributes.
* Arrays and groups created by plain zarr-python and by plain TensorStore (v2 and v3,
  sharded, Fortran order, "." separators, NaN fills, engine-default codecs) open in
  unizarr on both drivers with the right layout and data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import unizarr as uz

ts = pytest.importorskip("tensorstore")

DRIVERS = ("zarr-python", "tensorstore")

#: name -> (create_array keywords, v3 only)
LAYOUTS: dict[str, tuple[dict[str, Any], bool]] = {
    "plain": (dict(shape=(13, 17), dtype="uint16", chunks=(4, 8)), False),
    "order_f": (dict(shape=(5, 6, 7), dtype="float32", chunks=(2, 3, 4), order="F"), False),
    "dot_sep": (dict(shape=(9, 9), dtype="int8", chunks=(4,), dimension_separator="."), False),
    "nan_fill": (
        dict(shape=(10,), dtype="float64", chunks=(3,), fill_value=float("nan"), compressor="zstd"),
        False,
    ),
    "bool": (
        dict(shape=(6, 5), dtype="bool", chunks=(4,), fill_value=True, compressor="gzip"), False
    ),
    "complex": (
        dict(shape=(7, 3), dtype="complex64", chunks=(2,), fill_value=1 - 1j, compressor="none"),
        False,
    ),
    "f16_4d": (dict(shape=(2, 3, 8, 8), dtype="float16", chunks=(1, 3, 4, 4)), False),
    "sharded": (dict(shape=(20, 24), dtype="int32", chunks=(4, 6), shards=(8, 12)), True),
    "sharded_f": (
        dict(
            shape=(6, 8, 10), dtype="uint64", chunks=(2, 2, 5), shards=(4, 4, 10), order="F",
            compressor="blosc", compressor_opt={"cname": "zstd", "shuffle": "bitshuffle"},
        ),
        True,
    ),
}


def _reference(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    dt = np.dtype(dtype)
    if dt.kind == "b":
        ref = rng.random(shape) > 0.3
    elif dt.kind in "iu":
        ref = rng.integers(0, np.iinfo(dt).max, shape, dtype=dt, endpoint=True)
    elif dt.kind == "c":
        ref = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    else:
        ref = rng.standard_normal(shape).astype(dt)
    return ref


def _ts_open(path: Path, version: int, **kw: Any) -> Any:
    return ts.open(
        {"driver": "zarr3" if version == 3 else "zarr", "kvstore": {"driver": "file", "path": f"{path}/"}},
        read=True,
        **kw,
    ).result()


def _assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # NaN == NaN here


# -- unizarr -> plain engines -------------------------------------------------------------
@pytest.fixture(params=[(d, v) for d in DRIVERS for v in (2, 3)], ids=lambda p: f"{p[0]}-v{p[1]}")
def written(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, int, dict[str, Any]]:
    """A tree written by one unizarr driver: root attrs, arrays of every layout (one of
    them below a nested group), and per array its expected content, chunk shape, shard
    shape and fill value."""
    driver, version = request.param
    root = tmp_path / "w.zarr"
    g = uz.open_group(str(root), "w", driver=driver, zarr_version=version)
    g.attrs.update({"title": "interop", "nested": {"k": [1, 2.5, None]}})
    expected: dict[str, Any] = {}
    for name, (kw, v3_only) in LAYOUTS.items():
        if v3_only and version == 2:
            continue
        kw = dict(kw)
        shape, dtype = kw.pop("shape"), kw.pop("dtype")
        member = f"sub/inner/{name}" if name == "plain" else name
        a = g.create_array(member, shape, dtype, attributes={"name": name}, **kw)
        ref = np.full(shape, a.fill_value, dtype=dtype)
        data = _reference(shape, dtype)
        write = tuple(slice(0, max(1, s - 3)) for s in shape)  # a corner stays unwritten
        ref[write] = data[write]
        a[write] = data[write]
        full = tuple(kw["chunks"]) * (len(shape) if len(kw["chunks"]) == 1 else 1)
        assert a.chunks == full and a.shards == kw.get("shards")
        expected[member] = (ref, full, kw.get("shards"), a.fill_value)
    g.create_group("empty").attrs["e"] = True
    return root, version, expected


def test_plain_zarr_python_reads_unizarr_output(written) -> None:
    root, version, expected = written
    zg = zarr.open_group(str(root), mode="r")
    assert zg.metadata.zarr_format == version
    assert dict(zg.attrs) == {"title": "interop", "nested": {"k": [1, 2.5, None]}}
    assert sorted(zg.group_keys()) == ["empty", "sub"]
    assert dict(zg["empty"].attrs) == {"e": True}
    for name, (ref, chunks, shards, fill) in expected.items():
        z = zarr.open_array(str(root / name), mode="r")
        _assert_same(z[...], ref)
        assert z.chunks == chunks and z.shards == shards
        np.testing.assert_array_equal(z.fill_value, fill)
        assert dict(z.attrs) == {"name": name.rsplit("/", 1)[-1]}


def test_plain_tensorstore_reads_unizarr_output(written) -> None:
    root, version, expected = written
    for name, (ref, chunks, shards, fill) in expected.items():
        t = _ts_open(root / name, version)
        _assert_same(t.read().result(), ref)
        layout = t.chunk_layout
        assert tuple(layout.read_chunk.shape) == chunks
        assert tuple(layout.write_chunk.shape) == (shards or chunks)
        np.testing.assert_array_equal(t.fill_value, fill)


# -- plain engines -> unizarr ---------------------------------------------------------------
def _zarr_python_nodes(root: Path) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Arrays written by plain zarr-python with its own defaults and options."""
    out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    for version in (2, 3):
        g = zarr.open_group(str(root / f"zp_v{version}.zarr"), mode="w", zarr_format=version)
        g.attrs["made_by"] = "zarr-python"
        sub = g.create_group("sub")
        ref = _reference((11, 9), "int16")
        a = sub.create_array("default", shape=ref.shape, dtype=ref.dtype, chunks=(4, 4), fill_value=-1)
        a[:8, :8] = ref[:8, :8]
        full = np.full(ref.shape, -1, ref.dtype)
        full[:8, :8] = ref[:8, :8]
        out[f"zp_v{version}.zarr/sub/default"] = (full, dict(chunks=(4, 4), shards=None, fill=-1))
        ref = _reference((6, 10), "float32")
        kw: dict[str, Any] = dict(fill_value=float("nan"), compressors=None)
        if version == 3:
            kw["shards"] = (6, 10)
        b = g.create_array("nanfill", shape=ref.shape, dtype=ref.dtype, chunks=(3, 5), **kw)
        b[:3] = ref[:3]
        full = np.full(ref.shape, np.nan, ref.dtype)
        full[:3] = ref[:3]
        out[f"zp_v{version}.zarr/nanfill"] = (
            full, dict(chunks=(3, 5), shards=(6, 10) if version == 3 else None, fill=np.nan)
        )
    return out


def _tensorstore_nodes(root: Path) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Arrays written by plain TensorStore: explicit metadata and TensorStore defaults."""
    out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}

    def make(name: str, spec: dict[str, Any], ref_shape: tuple[int, ...], ref_dtype: str, **kw: Any) -> Any:
        spec = {**spec, "kvstore": {"driver": "file", "path": f"{root / name}/"}}
        t = ts.open(spec, create=True, delete_existing=True, **kw).result()
        ref = _reference(ref_shape, ref_dtype)
        t[...].write(ref).result()
        return ref

    ref = make("ts_v2_f.zarr", {"driver": "zarr", "metadata": {
        "shape": [7, 8, 9], "chunks": [3, 4, 5], "dtype": "<u2", "order": "F", "fill_value": 5,
        "compressor": {"id": "zstd", "level": 3}, "dimension_separator": "/"}}, (7, 8, 9), "uint16")
    out["ts_v2_f.zarr"] = (ref, dict(chunks=(3, 4, 5), shards=None, fill=5, order="F"))
    # TensorStore's own defaults (v2: blosc with autoshuffle, "." keys, null fill)
    ref = make("ts_v2_default.zarr", {"driver": "zarr"}, (10, 6), "uint8",
               dtype=ts.uint8, shape=[10, 6], chunk_layout=ts.ChunkLayout(read_chunk_shape=[5, 3]))
    # blosc "shuffle": -1 means bit shuffle for 1-byte items
    out["ts_v2_default.zarr"] = (ref, dict(chunks=(5, 3), shards=None, fill=0, shuffle="bitshuffle"))
    ref = make("ts_v3_sharded.zarr", {"driver": "zarr3", "metadata": {
        "shape": [12, 20], "data_type": "float32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [6, 10]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
        "fill_value": "NaN",
        "codecs": [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": [3, 5],
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                       {"name": "blosc", "configuration": {
                           "cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 4,
                           "blocksize": 0}}],
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
        }}]}}, (12, 20), "float32")
    out["ts_v3_sharded.zarr"] = (ref, dict(chunks=(3, 5), shards=(6, 10), fill=np.nan))
    # TensorStore's own v3 defaults, sharded through the chunk layout
    ref = make("ts_v3_default.zarr", {"driver": "zarr3"}, (16, 16), "int64", dtype=ts.int64,
               shape=[16, 16],
               chunk_layout=ts.ChunkLayout(read_chunk_shape=[4, 4], write_chunk_shape=[8, 16]))
    out["ts_v3_default.zarr"] = (ref, dict(chunks=(4, 4), shards=(8, 16), fill=0))
    ref = make("ts_v3_bool.zarr", {"driver": "zarr3", "metadata": {
        "shape": [5, 5], "data_type": "bool",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": True,
        "codecs": [{"name": "transpose", "configuration": {"order": [1, 0]}}, {"name": "bytes"},
                   {"name": "gzip", "configuration": {"level": 5}}]}}, (5, 5), "bool")
    out["ts_v3_bool.zarr"] = (ref, dict(chunks=(2, 2), shards=None, fill=True, order="F"))
    return out


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("source", ["zarr-python", "tensorstore"])
def test_foreign_nodes_open_in_unizarr(driver: str, source: str, tmp_path: Path) -> None:
    nodes = _zarr_python_nodes(tmp_path) if source == "zarr-python" else _tensorstore_nodes(tmp_path)
    for name, (ref, want) in nodes.items():
        a = uz.open_array(str(tmp_path / name), "r", driver=driver)
        assert a.shape == ref.shape and a.dtype == ref.dtype, name
        assert a.chunks == want["chunks"] and a.shards == want["shards"], name
        np.testing.assert_array_equal(a.fill_value, want["fill"])
        assert a.order == want.get("order", "C"), name
        if "shuffle" in want:
            assert a.compressor.options["shuffle"] == want["shuffle"], name
        _assert_same(a[...], ref)
        _assert_same(np.asarray(a[1:, ::2]), ref[1:, ::2])
        # writable too, and the engine that made it still reads the result
        rw = uz.open_array(str(tmp_path / name), "r+", driver=driver)
        new = ref.copy()
        new[0] = ref[-1]
        rw[0] = ref[-1]
        _assert_same(zarr.open_array(str(tmp_path / name), mode="r")[...], new)
        _assert_same(_ts_open(tmp_path / name, rw.zarr_version).read().result(), new)
    if source == "zarr-python":
        for version in (2, 3):
            g = uz.open_group(str(tmp_path / f"zp_v{version}.zarr"), "r", driver=driver)
            assert g.zarr_version == version and g.keys() == ["nanfill", "sub"]
            assert g.attrs["made_by"] == "zarr-python"
            assert g["sub"].keys() == ["default"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_foreign_layout_is_reproduced_by_copy(driver: str, tmp_path: Path) -> None:
    """``g[name] = foreign_array`` keeps the foreign layout (chunks, shards, codec and
    its options, order) as unizarr reads it."""
    nodes = _tensorstore_nodes(tmp_path)
    out = uz.open_group(str(tmp_path / "copies.zarr"), "w", driver=driver)
    for i, name in enumerate(nodes):
        src = uz.open_array(str(tmp_path / name), "r", driver=driver)
        if src.zarr_version != out.zarr_version:
            continue
        out[f"c{i}"] = src
        dst = out[f"c{i}"]
        assert dst.spec.chunks == src.spec.chunks and dst.spec.shards == src.spec.shards
        assert dst.spec.compressor == src.spec.compressor and dst.order == src.order
        _assert_same(dst[...], src[...])
