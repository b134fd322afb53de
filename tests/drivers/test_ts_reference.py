"""The TensorStore driver lets TensorStore encode straight from the caller's buffer
(``can_reference_source_data_indefinitely``) when no chunk cache could keep it: the
written data must still be exactly what was passed, whatever the caller does with its
buffer afterwards, for every rank (TensorStore 0.1.86 gets whole rank >= 4 sources
wrong when referencing them, so the driver copies those)."""

from __future__ import annotations

import numpy as np
import pytest

import unizarr as uz

pytest.importorskip("tensorstore")


@pytest.mark.parametrize("zarr_version", [2, 3])
@pytest.mark.parametrize("rank", [1, 2, 3, 4, 5])
def test_written_data_survives_the_caller_reusing_its_buffer(tmp_path, rank, zarr_version):
    rng = np.random.default_rng(rank * 10 + zarr_version)
    for trial in range(12):
        shape = tuple(int(s) for s in rng.integers(1, 10, rank))
        chunks = tuple(int(rng.integers(1, s + 1)) for s in shape)
        shards = None
        if zarr_version == 3 and trial % 3 == 2:
            shards = tuple(min(s, 2 * c) for s, c in zip(shape, chunks))
            chunks = tuple(max(1, s // 2) if s % 2 == 0 and s > 1 else s for s in shards)
        arr = uz.open_array(
            str(tmp_path / f"a{trial}.zarr"), "w", driver="tensorstore",
            zarr_version=zarr_version, shape=shape, dtype="u2", chunks=chunks,
            shards=shards, compressor="blosc",
        )
        expected = np.zeros(shape, np.uint16)
        whole = rng.integers(1, 60000, shape, dtype=np.uint16)
        arr[...] = whole
        expected[...] = whole
        whole[...] = 7  # the caller reuses its buffer: the stored data must not change
        lo = [int(rng.integers(0, s)) for s in shape]
        region = tuple(slice(a, int(rng.integers(a + 1, s + 1))) for a, s in zip(lo, shape))
        big = rng.integers(1, 60000, [2 * (r.stop - r.start) for r in region], dtype=np.uint16)
        view = big[(slice(None, None, 2),) * rank]  # a strided view
        arr[region] = view
        expected[region] = view
        big[...] = 9
        np.testing.assert_array_equal(arr[...], expected, err_msg=f"{shape} {chunks} {shards}")
        reopened = uz.open_array(str(tmp_path / f"a{trial}.zarr"), "r", driver="zarr-python")
        np.testing.assert_array_equal(reopened[...], expected)
