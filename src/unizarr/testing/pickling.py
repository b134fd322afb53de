"""Handles pickle as url + driver + mode + options and work in other processes."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np
import pytest

import unizarr as uz

from .base import DriverSuite


def _write_block(args):
    arr, start, stop, value = args
    arr[start:stop] = value
    return arr.url


def _read_sum(arr):
    return int(np.asarray(arr[...]).sum())


def _driver_of(node):
    return node.driver_name, type(node).__module__, type(node).__qualname__


#: Seconds a spawn pool may take: a handle that cannot be reopened in the worker makes
#: the pool wait forever, so every wait has a bound.
POOL_TIMEOUT = 120


class PickleTests(DriverSuite):
    """Handles pickle as url + driver + mode + options and work in other processes."""

    def test_pickle_round_trip(self, env):
        g = env.group()
        a = g.create_array("a", (8, 8), "i4", chunks=(4,), data=np.arange(64).reshape(8, 8))
        g.attrs["x"] = 1
        for node in (g, a):
            clone = pickle.loads(pickle.dumps(node))
            assert type(clone) is type(node)
            assert clone.url == node.url and clone.zarr_version == node.zarr_version
            assert clone.mode == "r+"
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(a))[...], a[...])
        assert pickle.loads(pickle.dumps(g)).attrs["x"] == 1

    def test_pickled_w_handle_does_not_wipe(self, env):
        g = env.group(mode="w")
        g["a"] = np.arange(3)
        clone = pickle.loads(pickle.dumps(g))
        assert clone.keys() == ["a"]

    def test_pickled_read_only_stays_read_only(self, env):
        env.group()["a"] = np.arange(3)
        a = uz.open_array(env.url() + "/a", "r", driver=env.driver)
        clone = pickle.loads(pickle.dumps(a))
        with pytest.raises(uz.ReadOnlyError):
            clone[0] = 1

    def test_spawn_pool_writes_and_reads(self, env):
        g = env.group()
        a = g.create_array("a", (16, 4), "i4", chunks=(4,), **({"shards": (8, 4)} if env.zarr_version == 3 else {}))
        blocks = [(a, i, i + 8, i // 8 + 1) for i in range(0, 16, 8)]
        ctx = mp.get_context("spawn")
        with ctx.Pool(2) as pool:
            urls = pool.map_async(_write_block, blocks).get(POOL_TIMEOUT)
            total = pool.apply_async(_read_sum, (a,)).get(POOL_TIMEOUT)
            # the worker reopened the same driver (not just any that reads the data)
            seen = pool.map_async(_driver_of, [g, a]).get(POOL_TIMEOUT)
        assert urls == [a.url, a.url]
        assert seen == [_driver_of(g), _driver_of(a)]
        assert {name for name, _, _ in seen} == {self.driver}
        expected = np.repeat([1, 2], 8)[:, None] * np.ones((16, 4), "i4")
        np.testing.assert_array_equal(a[...], expected)
        assert total == expected.sum()
