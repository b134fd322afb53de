"""Writes on a real dask.distributed cluster (worker processes), on every driver."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import unizarr as uz

pytest.importorskip("distributed")  # the ``client`` fixture (conftest) needs it


def test_dask_data_written_by_worker_processes(client, driver, zarr_version, tmp_path):
    ref = np.random.default_rng(1).integers(0, 5000, (48, 40, 36)).astype("u2")
    lazy = da.from_array(ref, chunks=(10, 40, 36))  # misaligned: unizarr realigns to shards
    g = uz.open_group(tmp_path / "d.zarr", "w", driver=driver, zarr_version=zarr_version)
    shards = {"shards": (32,)} if zarr_version == 3 else {}
    a = g.create_array("0", ref.shape, data=lazy, chunks=(16,), **shards)
    np.testing.assert_array_equal(a[...], ref)
    # identical to a single-process write
    g.create_array("single", ref.shape, data=ref, chunks=(16,), **shards)
    files = lambda name: sorted(p.relative_to(tmp_path / "d.zarr" / name) for p in (tmp_path / "d.zarr" / name).rglob("*") if p.is_file())  # noqa: E731
    assert files("0") == files("single")
    # the graph really ran on the workers
    assert client.run(lambda: 1)


def test_store_into_existing_array_from_workers(client, driver, tmp_path):
    g = uz.open_group(tmp_path / "e.zarr", "w", driver=driver)
    a = g.create_array("0", (64, 64), "f4", chunks=(16,), shards=(32,))
    src = da.random.random((64, 64), chunks=(32, 32)).astype("f4")
    da.store(src, a, lock=False)
    np.testing.assert_array_equal(a[...], src.compute())
