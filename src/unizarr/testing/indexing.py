"""numpy basic indexing on every driver, with numpy as the oracle."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from .base import DriverSuite

SHAPE = (7, 6, 5)


def _pick(rng: np.random.Generator, options: list[Any]) -> Any:
    return options[int(rng.integers(0, len(options)))]


def random_key(rng: np.random.Generator, shape: tuple[int, ...]) -> Any:
    """A random numpy basic-indexing key: ints (negative too), slices with any steps and
    out-of-range bounds, Ellipsis, None."""
    parts: list[Any] = []
    k = int(rng.integers(0, len(shape) + 1))
    use_ellipsis = rng.random() < 0.3
    p = int(rng.integers(0, k + 1)) if use_ellipsis else k  # where '...' stands
    for i in range(k):
        axis = i if i < p else len(shape) - (k - i)  # parts after '...' index the last axes
        n = shape[axis]
        kind = rng.integers(0, 4)
        if kind == 0:
            parts.append(int(rng.integers(-n, n)))
        elif kind == 1:
            parts.append(slice(None))
        else:
            start = _pick(rng, [None, int(rng.integers(-n - 3, n + 3))])
            stop = _pick(rng, [None, int(rng.integers(-n - 3, n + 3))])
            step = _pick(rng, [None, 1, 2, 3, -1, -2, n + 1])
            parts.append(slice(start, stop, step))
    if use_ellipsis:
        parts.insert(p, Ellipsis)
    if rng.random() < 0.15:
        parts.insert(int(rng.integers(0, len(parts) + 1)), None)
    if len(parts) == 1 and rng.random() < 0.5:
        return parts[0]
    return tuple(parts)


class IndexingTests(DriverSuite):
    """numpy basic indexing, with numpy as the oracle."""

    @pytest.fixture
    def pair(self, env):
        rng = np.random.default_rng(0)
        ref = rng.integers(0, 1000, SHAPE).astype("i4")
        g = env.group()
        a = g.create_array("a", SHAPE, "i4", chunks=(2, 4, 3), **({"shards": (4, 8, 3)} if env.zarr_version == 3 else {}))
        a[...] = ref
        return a, ref

    def test_random_reads_match_numpy(self, pair):
        a, ref = pair
        rng = np.random.default_rng(1234)
        for _ in range(300):
            key = random_key(rng, SHAPE)
            expected = ref[key]
            got = a[key]
            assert type(got) is type(expected), key
            assert np.shape(got) == np.shape(expected), key
            np.testing.assert_array_equal(got, expected, err_msg=repr(key))

    def test_random_writes_match_numpy(self, env):
        rng = np.random.default_rng(99)
        ref = np.zeros(SHAPE, "i4")
        a = env.group().create_array("w", SHAPE, "i4", chunks=(3,))
        for i in range(200):
            key = random_key(rng, SHAPE)
            target_shape = ref[key].shape
            # a value broadcastable to the selection: full, trailing-dim, or scalar
            choice = rng.integers(0, 3)
            if choice == 0:
                value = rng.integers(0, 100, target_shape)
            elif choice == 1 and target_shape:
                value = rng.integers(0, 100, target_shape[-1:])
            else:
                value = int(rng.integers(0, 100))
            ref[key] = value
            a[key] = value
            if i % 20 == 0:
                np.testing.assert_array_equal(a[...], ref)
        np.testing.assert_array_equal(a[...], ref)

    @pytest.mark.parametrize(
        "key",
        [7, -8, (0, 6), (0, 0, 5), (0, 0, 0, 0), (Ellipsis, 5), (1.5,), ([0, 1],), (np.array([1]),), (True,)],
    )
    def test_bad_keys_raise_index_error(self, pair, key):
        a, ref = pair
        with pytest.raises(IndexError):
            a[key]
        with pytest.raises(IndexError):
            a[key] = 1
        np.testing.assert_array_equal(a[...], ref)

    def test_two_ellipses(self, pair):
        a, _ = pair
        with pytest.raises(IndexError):
            a[..., 0, ...]

    def test_zero_step(self, pair):
        a, ref = pair
        with pytest.raises(ValueError):
            a[::0]
        with pytest.raises(ValueError):
            a[::0] = 1
        np.testing.assert_array_equal(a[...], ref)

    def test_unbroadcastable_value_writes_nothing(self, pair):
        a, ref = pair
        for value in (np.ones((3, 3)), np.ones((7, 6, 4)), np.ones((2, 7, 6, 5))):
            with pytest.raises(ValueError):
                a[...] = value
            with pytest.raises(ValueError):
                a[0:2] = np.ones((3, 6, 5))
        np.testing.assert_array_equal(a[...], ref)

    def test_cast_like_numpy(self, env):
        g = env.group()
        a = g.create_array("i", (5,), "i2", chunks=(2,))
        vals = np.array([1.9, -1.9, 2.5, 300.7, -0.2])
        ref = np.zeros(5, "i2")
        ref[...] = vals
        a[...] = vals
        np.testing.assert_array_equal(a[...], ref)
        b = g.create_array("b", (3,), "bool", chunks=(2,))
        b[...] = [0, 2, 0.0]
        np.testing.assert_array_equal(b[...], [False, True, False])
        f = g.create_array("f", (3,), "f4", chunks=(2,))
        f[1] = 2
        assert f[1] == np.float32(2) and type(f[1]) is np.float32
        c = g.create_array("c", (2,), "complex64", chunks=(2,))
        c[...] = [1 + 2j, 3]
        np.testing.assert_array_equal(c[...], np.array([1 + 2j, 3], "complex64"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_f = np.zeros(2, "f8")
            ref_f[...] = np.array([1 + 2j, 3])
            f2 = g.create_array("f2", (2,), "f8", chunks=(2,))
            f2[...] = np.array([1 + 2j, 3])
        np.testing.assert_array_equal(f2[...], ref_f)

    def test_zero_d_array(self, env):
        g = env.group()
        a = g.create_array("s", (), "f8", fill_value=3.5)
        assert a.shape == () and a.ndim == 0
        assert a[()] == 3.5 and isinstance(a[()], np.float64)
        assert isinstance(a[...], np.ndarray) and a[...].shape == ()
        a[()] = 4
        assert a[...] == 4.0
        with pytest.raises(TypeError):
            len(a)

    def test_empty_selection_and_empty_array(self, env):
        g = env.group()
        a = g.create_array("a", (4, 5), "u1", chunks=(2,))
        assert a[2:2].shape == (0, 5)
        a[3:1] = 9  # writes nothing, like numpy
        np.testing.assert_array_equal(a[...], 0)
        e = g.create_array("e", (0, 3), "f4", chunks=(2,))
        assert e[...].shape == (0, 3)
        e[...] = 1

    def test_asarray_len_and_fill(self, env):
        g = env.group()
        a = g.create_array("a", (6, 4), "f4", chunks=(4,), fill_value=2.5)
        assert len(a) == 6
        np.testing.assert_array_equal(np.asarray(a), np.full((6, 4), 2.5, "f4"))
        assert np.asarray(a, dtype="f8").dtype == np.float64

    def test_negative_step_writes(self, env):
        a = env.group().create_array("a", (10,), "i8", chunks=(3,))
        ref = np.zeros(10, "i8")
        ref[::-3] = [1, 2, 3, 4]
        a[::-3] = [1, 2, 3, 4]
        np.testing.assert_array_equal(a[...], ref)
        np.testing.assert_array_equal(a[8:1:-2], ref[8:1:-2])
