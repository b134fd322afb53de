"""Driver equivalence by construction: the same arguments give the same files.

Every case writes the same data through the zarr-python and the TensorStore driver into
two stores and checks that

* the metadata documents are equal (``zarr.json``; ``.zarray`` + ``.zattrs``),
* the *set of stored keys* is equal (same chunk/shard grid and key encoding, and both
  engines skip chunks that hold only the fill value),
* uncompressed chunks are byte-identical, and so is every inner chunk of an
  uncompressed shard (the engines may place inner chunks in a different order inside
  the shard - zarr-python uses Morton order, TensorStore lexicographic - and both are
  valid); compressed bytes may differ with the compressor library's version, so for
  those only the decoded data is compared,
* each driver reads back the other's array exactly (NaN compares equal to NaN).

The matrix is built from three small sweeps (dtype x compressor, rank x order x
separator x sharding, fill values) rather than a full product, so it stays at a few
hundred cases that run in seconds.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unizarr as uz
from unizarr.documents import metadata_document

DRIVERS = ("zarr-python", "tensorstore")

DTYPES = (
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
)
COMPRESSORS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("blosc", {}),
    ("blosc", {"cname": "lz4hc", "clevel": 9, "shuffle": "noshuffle"}),
    ("blosc", {"cname": "zstd", "clevel": 3, "shuffle": "bitshuffle", "blocksize": 256}),
    ("blosc", {"cname": "zlib", "shuffle": 1}),
    ("zstd", {"level": 5}),
    ("gzip", {"level": 1}),
    ("zlib", {"level": 9}),  # v2 only
    ("none", {}),
)
SHAPES: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = (
    # (shape, chunks, shards): ragged edges on purpose
    ((23,), (5,), (10,)),
    ((9, 7), (4, 3), (8, 6)),
    ((5, 6, 7), (2, 3, 4), (4, 3, 8)),
    ((3, 4, 5, 6), (1, 2, 3, 4), (2, 4, 3, 4)),
    ((2, 3, 4, 5, 3), (1, 2, 2, 3, 2), (2, 2, 4, 3, 2)),
)
FILLS: tuple[tuple[str, Any], ...] = (
    ("float32", float("nan")),
    ("float64", float("-inf")),
    ("float16", float("inf")),
    ("float16", -2.5),
    ("complex64", complex(float("nan"), 2.0)),
    ("complex128", 3 - 4j),
    ("bool", True),
    ("int8", -128),
    ("int64", -(2**62)),
    ("uint64", 2**64 - 1),
    ("uint16", 7),
)


@dataclass(frozen=True)
class Case:
    zarr_version: int
    dtype: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None = None
    compressor: str = "blosc"
    compressor_opt: dict[str, Any] = field(default_factory=dict, hash=False)
    order: str = "C"
    separator: str = "/"
    fill_value: Any = None

    @property
    def id(self) -> str:
        opt = ",".join(f"{k}={v}" for k, v in self.compressor_opt.items())
        parts = [
            f"v{self.zarr_version}", self.dtype, "x".join(map(str, self.shape)),
            "c" + "x".join(map(str, self.chunks)),
            "s" + "x".join(map(str, self.shards)) if self.shards else "",
            self.compressor + (f"({opt})" if opt else ""), self.order,
            "dot" if self.separator == "." else "slash",
            f"fill={self.fill_value}" if self.fill_value is not None else "",
        ]
        return "-".join(p for p in parts if p)


def _cases() -> list[Case]:
    cases = []
    for version in (2, 3):
        for dtype in DTYPES:
            for comp, opt in COMPRESSORS:
                if comp == "zlib" and version == 3:
                    continue
                cases.append(Case(version, dtype, (9, 7), (4, 3), None, comp, opt))
    for shape, chunks, shards in SHAPES:
        for order in ("C", "F"):
            for sep in ("/", "."):
                for version, shard in ((2, None), (3, None), (3, shards)):
                    cases.append(
                        Case(version, "int16", shape, chunks, shard, "blosc", {}, order, sep)
                    )
                # uncompressed: stored bytes must be identical too (v2 "order": "F" and
                # the v3 transpose codec included)
                for version, shard in ((2, None), (3, shards)):
                    cases.append(
                        Case(version, "float32", shape, chunks, shard, "none", {}, order, sep)
                    )
    for dtype, fill in FILLS:
        for version, shard in ((2, None), (3, None), (3, (8, 6))):
            cases.append(Case(version, dtype, (9, 7), (4, 3), shard, "zstd", {}, "C", "/", fill))
    # sharded x compressor x dtype sample (bytes-level index layout, crc32c)
    for dtype in ("bool", "uint8", "float16", "complex128", "uint64"):
        for comp, opt in COMPRESSORS:
            if comp != "zlib":
                cases.append(Case(3, dtype, (9, 7), (4, 3), (8, 6), comp, opt))
    return cases


CASES = _cases()


def _data(case: Case) -> np.ndarray:
    """Random values, with one whole chunk (the first) left at the fill value so that
    both engines must agree on skipping it, and a NaN where the dtype has one."""
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    dt = np.dtype(case.dtype)
    n = math.prod(case.shape)
    if dt.kind == "b":
        ref = rng.random(n) > 0.5
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        ref = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    elif dt.kind == "f":
        ref = (rng.standard_normal(n) * 100).astype(dt)
        ref[1] = np.nan
    else:
        ref = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt)
        ref[1] = complex(np.nan, 1)
    ref = ref.reshape(case.shape)
    fill = np.zeros((), dt) if case.fill_value is None else np.asarray(case.fill_value, dt)
    block = tuple(slice(0, c) for c in (case.shards or case.chunks))
    ref[block] = fill
    return ref


def _write(root: Path, driver: str, case: Case, ref: np.ndarray) -> uz.ZarrArray:
    g = uz.open_group(str(root), "w", driver=driver, zarr_version=case.zarr_version)
    g.attrs["origin"] = "equivalence"
    a = g.create_array(
        "a", case.shape, case.dtype, chunks=case.chunks, shards=case.shards,
        compressor=case.compressor, compressor_opt=case.compressor_opt, order=case.order,
        dimension_separator=case.separator, fill_value=case.fill_value,
        attributes={"case": case.id},
    )
    a[...] = ref
    return a


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


_METADATA = ("zarr.json", ".zarray", ".zattrs", ".zgroup")
_MISSING = 2**64 - 1


def _inner_chunks(shard: bytes, case: Case) -> list[bytes | None]:
    """The inner chunks of a shard (index at the end: (offset, nbytes) little-endian
    uint64 pairs in C order of the chunk grid, then a crc32c), ``None`` when absent."""
    n = math.prod(s // c for s, c in zip(case.shards, case.chunks))
    index = np.frombuffer(shard[-(16 * n + 4) : -4], "<u8").reshape(n, 2)
    return [None if off == _MISSING else shard[off : off + size] for off, size in index.tolist()]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_files_and_data(case: Case, tmp_path: Path) -> None:
    ref = _data(case)
    arrays = {d: _write(tmp_path / d, d, case, ref) for d in DRIVERS}
    files = {d: _files(tmp_path / d) for d in DRIVERS}
    zp, tsf = files["zarr-python"], files["tensorstore"]
    # Same stored keys: same grid, key encoding and empty-chunk handling.
    assert sorted(zp) == sorted(tsf)
    for key in zp:
        if key.rsplit("/", 1)[-1] in _METADATA:
            assert json.loads(zp[key]) == json.loads(tsf[key]), key
        elif case.compressor == "none" and case.shards:
            assert _inner_chunks(zp[key], case) == _inner_chunks(tsf[key], case), key
        elif case.compressor == "none":
            assert zp[key] == tsf[key], f"uncompressed chunk {key} differs"
    # Each driver reads back both stores exactly.
    for reader in DRIVERS:
        for writer in DRIVERS:
            a = uz.open_array(str(tmp_path / writer / "a"), "r", driver=reader)
            # (compared as documents: a NaN fill value is not == itself)
            assert metadata_document(a.spec) == metadata_document(arrays[writer].spec)
            np.testing.assert_array_equal(a[...], ref)


def test_matrix_size() -> None:
    """Guard the matrix: a few hundred cases covering every axis of variation."""
    assert 250 <= len(CASES) <= 400
    assert {c.dtype for c in CASES} == set(DTYPES)
    assert {len(c.shape) for c in CASES} == {1, 2, 3, 4, 5}
    assert {c.compressor for c in CASES} == {c for c, _ in COMPRESSORS}
    assert {c.order for c in CASES} == {"C", "F"}
    assert {c.separator for c in CASES} == {"/", "."}
    assert any(c.shards for c in CASES) and any(c.zarr_version == 2 for c in CASES)
