"""Shared thread pools survive fork(): a child process gets pools of its own instead of
the parent's (whose threads do not exist in the child, so work would never run)."""

from __future__ import annotations

import multiprocessing as mp
import sys

import numpy as np
import pytest

import unizarr as uz
from unizarr.threads import shared_pool, shared_semaphore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork()")


def _child_uses_pool(q):
    q.put(shared_pool("test", 2).submit(lambda: 41 + 1).result(timeout=20))


def _child_takes_semaphore(q):
    q.put(shared_semaphore("test-sem", 1).acquire(timeout=10))


def _child_builds_pyramid(path, q):
    g = uz.open_group(path, "r+", driver="zarr-python")
    x = g["0"][...]
    g["0"][...] = x + 1  # several chunks: the driver's write pool
    uz.generate_pyramid(g, source=x + 1, write_base=True)  # the level-0 writer pool
    q.put(g["1"].shape)


def _run_forked(target, *args):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    p.join(60)
    if p.is_alive():
        p.kill()
        pytest.fail("the forked child hung")
    assert p.exitcode == 0
    return q.get(timeout=5)


def test_same_pool_within_a_process_new_one_after_fork():
    pool = shared_pool("test", 2)
    assert shared_pool("test", 2) is pool
    assert pool.submit(lambda: 1).result() == 1
    assert _run_forked(_child_uses_pool) == 42


def test_pyramid_in_a_child_forked_after_the_parent_built_one(tmp_path):
    x = np.random.default_rng(0).integers(0, 500, (32, 32, 32)).astype(np.uint16)
    for name in ("parent.zarr", "child.zarr"):
        g = uz.open_group(str(tmp_path / name), "w", driver="zarr-python")
        g.create_array("0", data=x, chunks=(8,))
    parent = uz.open_group(str(tmp_path / "parent.zarr"), "r+", driver="zarr-python")
    parent["0"][...] = x
    uz.generate_pyramid(parent, source=x, write_base=True)  # parent's pools now exist
    assert _run_forked(_child_builds_pyramid, str(tmp_path / "child.zarr")) == (16, 16, 16)


def test_semaphore_held_by_the_parent_is_free_in_a_forked_child():
    sem = shared_semaphore("test-sem", 1)
    assert shared_semaphore("test-sem", 1) is sem
    assert sem.acquire(timeout=1)  # held by this process while it forks
    try:
        assert _run_forked(_child_takes_semaphore) is True
    finally:
        sem.release()
