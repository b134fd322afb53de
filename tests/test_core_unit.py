"""Unit tests of shared helpers in core.py that need no store."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from unizarr.core import _align_dask


@pytest.mark.parametrize(
    "shape,chunks,block,offset",
    [
        ((100, 50), (7, 50), (16, 16), (0, 0)),
        ((100, 50), (32, 50), (16, 25), (0, 0)),
        ((100,), (100,), (30,), (0,)),
        ((90,), (13,), (32,), (10,)),
        ((5, 5), (1, 1), (2, 2), (3, 1)),
    ],
)
def test_align_dask_puts_boundaries_on_blocks(shape, chunks, block, offset):
    data = da.ones(shape, chunks=chunks)
    out = _align_dask(data, block, offset)
    assert out.shape == data.shape
    for dim_chunks, b, off in zip(out.chunks, block, offset):
        bounds = off + np.cumsum(dim_chunks)[:-1]
        assert all(x % b == 0 for x in bounds), (out.chunks, block)
    np.testing.assert_array_equal(out.compute(), 1)


def test_align_dask_keeps_aligned_input():
    data = da.ones((64, 64), chunks=(32, 16))
    assert _align_dask(data, (16, 16)) is data
