"""Unit tests of the key normalisation (no I/O)."""

from __future__ import annotations

import numpy as np
import pytest

from unizarr.indexing import apply_post, normalize_key, value_block


@pytest.mark.parametrize(
    "key",
    [(), ..., 0, -1, slice(None, None, -1), (slice(1, None, 2), -2), (None, 1), (..., None),
     (slice(-100, 100), slice(3, 1)), (1, ..., 2), np.int64(2), (slice(None, None, -3), None, slice(None))],
)
def test_post_key_reproduces_numpy(key):
    ref = np.arange(4 * 5 * 3).reshape(4, 5, 3)
    sel = normalize_key(key, ref.shape)
    for s, n in zip(sel.region, ref.shape):
        assert 0 <= s.start <= s.stop <= n and s.step >= 1
    block = ref[sel.region]
    got = apply_post(block, sel)
    np.testing.assert_array_equal(got, ref[key])
    assert np.shape(got) == np.shape(ref[key])


def test_zero_d():
    ref = np.array(5.0)
    assert type(apply_post(ref[()], normalize_key((), ()))) is np.float64
    assert isinstance(apply_post(np.array(5.0), normalize_key(..., ())), np.ndarray)


def test_value_block_broadcast_and_cast():
    sel = normalize_key((slice(None), 0), (3, 4))
    blk = value_block([1.7, 2.2, -1.5], sel, np.dtype("i4"))
    assert blk.shape == (3, 1) and blk.dtype == np.int32
    np.testing.assert_array_equal(blk[:, 0], [1, 2, -1])
    with pytest.raises(ValueError):
        value_block(np.ones(4), sel, np.dtype("i4"))


def test_fast_path_passes_array_through():
    sel = normalize_key(..., (3, 4))
    v = np.ones((3, 4), "f4")
    assert value_block(v, sel, np.dtype("f4")) is v
