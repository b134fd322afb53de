"""The zarr-python driver skips zarr-python's per-chunk fill-value comparison when a
write stores whole blocks whose chunks all differ from the fill value in their first
voxel. Whatever path a write takes, the stored objects must be exactly those plain
zarr-python stores for the same write (empty chunks omitted, -0.0 is not 0.0, NaN
fills), and the data must read back."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zarr

import unizarr as uz


def _stored(root: str) -> dict[str, bytes]:
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if rel.endswith(("zarr.json", ".zarray", ".zattrs")):
                continue
            with open(p, "rb") as fh:
                out[rel] = fh.read()
    return out


def _same_objects(a: dict[str, bytes], b: dict[str, bytes], sharded: object) -> bool:
    """Same stored objects; a shard's inner chunks may be in another order (zarr-python
    and the zarrs pipeline order them as their encoding completes), so shards compare
    by size: the same inner chunks stored make the same size."""
    if a.keys() != b.keys():
        return False
    if sharded:
        return all(len(a[k]) == len(b[k]) for k in a)
    return a == b


def _cases():
    rng = np.random.default_rng(7)
    base = rng.integers(1, 1000, (8, 8, 8)).astype("f8")
    empty_chunk = base.copy()
    empty_chunk[:4, :4, :4] = 0  # one whole chunk equal to the fill value
    first_is_fill = base.copy()
    first_is_fill[4, 4, 4] = 0  # a chunk whose first voxel only is the fill value
    neg_zero = base.copy()
    neg_zero[:4, 4:, :4] = -0.0  # -0.0 differs from a 0.0 fill bit for bit: stored
    nan = base.copy()
    nan[4:, :4, 4:] = np.nan
    yield "empty", empty_chunk, 0.0
    yield "first-is-fill", first_is_fill, 0.0
    yield "neg-zero", neg_zero, 0.0
    yield "nan-fill", nan, float("nan")
    yield "dense", base, 0.0


@pytest.mark.parametrize("shards", [None, (8, 8, 8)], ids=["chunks", "shards"])
@pytest.mark.parametrize("zarr_version", [2, 3])
def test_stored_objects_match_plain_zarr_python(tmp_path, zarr_version, shards):
    if shards and zarr_version == 2:
        pytest.skip("Zarr v2 has no sharding")
    for name, data, fill in _cases():
        ours = str(tmp_path / f"uz-{name}.zarr")
        arr = uz.open_array(ours, "w", driver="zarr-python", zarr_version=zarr_version,
                            shape=data.shape, dtype="f8", chunks=(4, 4, 4), shards=shards,
                            compressor="none", fill_value=fill)
        arr[...] = data  # several blocks: the split path
        plain = str(tmp_path / f"plain-{name}.zarr")
        kw = {"shards": shards} if shards else {}
        if zarr_version == 2:
            kw["chunk_key_encoding"] = {"name": "v2", "separator": "/"}  # unizarr's default
        z = zarr.create_array(plain, shape=data.shape, dtype="f8", chunks=(4, 4, 4),
                              zarr_format=zarr_version, fill_value=fill, compressors=None,
                              **kw)
        z[...] = data
        assert _same_objects(_stored(ours), _stored(plain), shards), name
        np.testing.assert_array_equal(arr[...], data)
        # one block at a time (the pyramid's path) stores the same
        again = str(tmp_path / f"uz1-{name}.zarr")
        arr1 = uz.open_array(again, "w", driver="zarr-python", zarr_version=zarr_version,
                             shape=data.shape, dtype="f8", chunks=(4, 4, 4), shards=shards,
                             compressor="none", fill_value=fill)
        block = shards or (4, 4, 4)
        for z0 in range(0, 8, block[0]):
            for y0 in range(0, 8, block[1]):
                for x0 in range(0, 8, block[2]):
                    sl = (slice(z0, z0 + block[0]), slice(y0, y0 + block[1]),
                          slice(x0, x0 + block[2]))
                    arr1[sl] = data[sl]
        assert _same_objects(_stored(again), _stored(plain), shards), name


def test_partial_block_writes_still_drop_chunks_that_become_empty(tmp_path):
    arr = uz.open_array(str(tmp_path / "a.zarr"), "w", driver="zarr-python", zarr_version=3,
                        shape=(8, 8), dtype="u1", chunks=(4, 4), compressor="none")
    arr[...] = 5
    assert len(_stored(str(tmp_path / "a.zarr"))) == 4
    arr[:4, :4] = 0  # a whole chunk back to the fill value: its object is deleted
    assert len(_stored(str(tmp_path / "a.zarr"))) == 3
    arr[4:, 4:6] = 0  # half a chunk: merged with the stored half, still stored
    assert len(_stored(str(tmp_path / "a.zarr"))) == 3
    arr[4:, 6:] = 0  # the other half: the merged chunk is empty now
    assert len(_stored(str(tmp_path / "a.zarr"))) == 2
