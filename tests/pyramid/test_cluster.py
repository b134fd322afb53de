"""``generate_pyramid`` and ``unizarr convert --scheduler`` on a real dask.distributed
cluster (2 worker processes, the ``client`` fixture of conftest), on every driver.

The oracle is the single-process run: the cluster's output must be the same files
byte for byte (data, metadata documents, set of stored keys). That the work really ran
on the workers is read from the scheduler's task stream, so these tests fail if the
cluster path silently falls back to local threads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import dask.array as da
import nibabel as nib
import numpy as np
import pytest

import unizarr as uz
import unizarr.pyramid.cluster as uz_cluster
from tests.helpers import snapshot

distributed = pytest.importorskip("distributed")

SHAPE = (70, 64, 66)  # an odd edge on z, a chunk-misaligned edge on x
LAYOUTS = {
    "v2": {"zarr_version": 2, "chunks": (16,)},
    "v3-sharded": {"zarr_version": 3, "chunks": (16,), "shards": (32,)},
}
#: A small budget: several tiles per pass and more than one pass.
BUDGET = 2**16


class PyramidBoom(Exception):
    """Raised by a method inside a worker process."""


def exploding_method(blocks: np.ndarray, axis: Any) -> np.ndarray:
    raise PyramidBoom("boom in a worker")


@pytest.fixture(params=list(LAYOUTS))
def layout(request: pytest.FixtureRequest) -> dict[str, Any]:
    return LAYOUTS[request.param]


def volume(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4000, shape).astype("u2")


def base_group(
    path: Path, driver: str, layout: dict[str, Any], data: np.ndarray | None, shape: tuple[int, ...] = SHAPE
) -> uz.ZarrGroup:
    """A group with level 0 (holding ``data``, or uint16 of ``shape`` left empty)."""
    opts = dict(layout)
    g = uz.open_group(path, "w", driver=driver, zarr_version=opts.pop("zarr_version"))
    if data is None:
        g.create_array("0", shape, "u2", **opts)
    else:
        g.create_array("0", data=data, **opts)
    return g


def local_pyramid(path: Path, driver: str, layout: dict[str, Any], x: np.ndarray) -> dict[str, bytes]:
    """Every stored file of the single-process pyramid of ``x``."""
    uz.generate_pyramid(base_group(path, driver, layout, x), max_memory=BUDGET, client=False)
    return snapshot(path)


def ran(ts: Any, prefix: str) -> int:
    """How many tasks of ``ts`` (a task stream) have a key starting with ``prefix``."""
    return sum(str(t["key"]).lstrip("('").startswith(prefix) for t in ts.data)


# -- generate_pyramid(client=...) ------------------------------------------------------------
def test_cluster_pyramid_is_identical_to_a_local_one(client, driver, layout, tmp_path):
    x = volume()
    want = local_pyramid(tmp_path / "local.zarr", driver, layout, x)
    g = base_group(tmp_path / "cluster.zarr", driver, layout, x)
    calls: list[tuple[int, int]] = []
    with distributed.get_task_stream(client) as ts:
        shapes = uz.generate_pyramid(
            g, max_memory=BUDGET, client=client, progress=lambda d, t: calls.append((d, t))
        )
    assert shapes == [(70, 64, 66), (35, 32, 33), (18, 16, 17), (9, 8, 9)]
    assert snapshot(tmp_path / "cluster.zarr") == want
    assert ran(ts, "unizarr-tile") >= 2
    assert calls and calls[-1][0] == calls[-1][1]  # progress reaches the total


def test_few_big_tiles_are_split_into_piece_tasks(client, driver, layout, tmp_path):
    """One fused tile for the whole pass (a budget that holds it): its pieces are read
    and reduced by both workers, one task assembles and writes it; level 0 is written
    from a unizarr array source by the piece tasks."""
    x = volume((128, 128, 128))
    lay = {**layout, "chunks": (32,)} | ({"shards": (64,)} if "shards" in layout else {})
    src = base_group(tmp_path / "src.zarr", driver, lay, x)["0"]
    runs = {}
    for where in ("local", "cluster"):
        g = base_group(tmp_path / f"{where}.zarr", driver, lay, None, x.shape)
        with distributed.get_task_stream(client) as ts:
            uz.generate_pyramid(g, max_memory=4 * 2**20, source=src, write_base=True,
                                workers=1, client=client if where == "cluster" else False)
        runs[where] = snapshot(tmp_path / f"{where}.zarr")
    assert runs["cluster"] == runs["local"]
    assert ran(ts, "unizarr-piece") >= 4 and ran(ts, "unizarr-tile") >= 1
    assert len({t["worker"] for t in ts.data if "unizarr-piece" in str(t["key"])}) == 2


def test_level0_from_a_dask_source_is_written_by_the_workers(client, driver, layout, tmp_path):
    x = volume()
    want = local_pyramid(tmp_path / "local.zarr", driver, layout, x)
    g = base_group(tmp_path / "cluster.zarr", driver, layout, None)
    lazy = da.from_array(x, chunks=(20, 30, 64))  # misaligned: realigned to write blocks
    with distributed.get_task_stream(client) as ts:
        uz.generate_pyramid(g, max_memory=BUDGET, source=lazy, write_base=True, client=client)
    assert snapshot(tmp_path / "cluster.zarr") == want
    assert ran(ts, "unizarr-base") and ran(ts, "unizarr-tile")


def test_resume_through_the_cluster(client, driver, layout, tmp_path):
    """An interrupted run (blocks missing at every level, level 0 included) is finished
    by the workers, which compute only the unfinished tiles."""
    x = volume()
    want = local_pyramid(tmp_path / "local.zarr", driver, layout, x)
    path = tmp_path / "cluster.zarr"
    g = base_group(path, driver, layout, None)
    lazy = da.from_array(x, chunks=(32, 64, 64))
    with distributed.get_task_stream(client) as full:
        uz.generate_pyramid(g, max_memory=BUDGET, source=lazy, write_base=True, client=client)
    for level in ("0", "1", "2"):
        arr = g[level]
        blocks = sorted(arr.stored_blocks())
        for b in (blocks[0], blocks[-1]):
            arr.delete_block(b)
    assert snapshot(path) != want
    with distributed.get_task_stream(client) as ts:
        uz.generate_pyramid(
            g, max_memory=BUDGET, source=lazy, write_base=True, client=client, resume=True
        )
    assert snapshot(path) == want
    assert 0 < ran(ts, "unizarr-tile") < ran(full, "unizarr-tile")
    assert 0 < ran(ts, "unizarr-base") < ran(full, "unizarr-base")


def test_an_error_in_a_worker_surfaces_with_its_type(client, driver, tmp_path):
    g = base_group(tmp_path / "e.zarr", driver, LAYOUTS["v3-sharded"], volume())
    with pytest.raises(PyramidBoom, match="boom in a worker"):
        uz.generate_pyramid(g, method=exploding_method, max_memory=BUDGET, client=client)


def test_the_active_client_is_the_default(client, tmp_path):
    assert distributed.default_client() is client
    x = volume()
    g = base_group(tmp_path / "d.zarr", "tensorstore", LAYOUTS["v3-sharded"], x)
    with distributed.get_task_stream(client) as ts:
        g.generate_pyramid(max_memory=BUDGET)  # the group method passes client= through
    assert ran(ts, "unizarr-tile") >= 2
    with distributed.get_task_stream(client) as ts:
        uz.generate_pyramid(g, max_memory=BUDGET, client=False)
    assert ran(ts, "unizarr-tile") == 0
    assert snapshot(tmp_path / "d.zarr")  # still a pyramid, built locally


def test_memory_stores_stay_local_and_bad_clients_are_refused(client):
    g = uz.open_group("memory://dist-pyramid", "w", driver="zarr-python")
    g.create_array("0", data=volume((20, 20, 20)), chunks=(8,))
    with distributed.get_task_stream(client) as ts:
        assert len(uz.generate_pyramid(g)) == 3  # the active client cannot see memory://
    assert ran(ts, "unizarr-tile") == 0
    with pytest.raises(ValueError, match="in-memory"):
        uz.generate_pyramid(g, client=client)
    with pytest.raises(TypeError, match="Client"):
        uz.generate_pyramid(g, client="tcp://127.0.0.1:8786")


def test_no_client_and_no_distributed_import_without_one(tmp_path):
    """A process that never imported ``distributed`` builds locally and does not import
    it (no scheduler is looked for, nothing is started)."""
    code = (
        "import sys, numpy as np, unizarr as uz\n"
        f"g = uz.open_group({str(tmp_path / 'p.zarr')!r}, 'w')\n"
        "g.create_array('0', data=np.ones((40, 40, 40), 'u1'), chunks=(16,))\n"
        "assert len(uz.generate_pyramid(g)) == 3\n"
        "assert 'distributed' not in sys.modules, 'distributed was imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_numpy_sources_small_are_scattered_big_are_refused(client, tmp_path, monkeypatch):
    """Also through a client that is not the default one."""
    x = volume()
    want = local_pyramid(tmp_path / "local.zarr", "zarr-python", LAYOUTS["v2"], x)
    g = base_group(tmp_path / "np.zarr", "zarr-python", LAYOUTS["v2"], None)
    with distributed.Client(client.scheduler.address, set_as_default=False) as other:
        with distributed.get_task_stream(client) as ts:
            uz.generate_pyramid(g, max_memory=BUDGET, source=x, write_base=True, client=other)
        assert snapshot(tmp_path / "np.zarr") == want
        assert ran(ts, "unizarr-base") and ran(ts, "unizarr-tile")
        monkeypatch.setattr(uz_cluster, "MAX_SCATTER_BYTES", x.nbytes - 1)
        with pytest.raises(ValueError, match="dask array"):
            uz.generate_pyramid(g, source=x, write_base=True, client=other)


# -- unizarr convert --scheduler -----------------------------------------------------------------
def convert(*args: object) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "unizarr.cli", "convert", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    x = volume((40, 50, 60))
    np.save(root / "vol.npy", x)
    nii = nib.Nifti1Image(x.transpose(2, 1, 0).astype("<i2"), np.diag([0.5, 0.6, 0.7, 1.0]))
    nii.header.set_xyzt_units("mm", "sec")
    nib.save(nii, root / "brain.nii.gz")
    return root


@pytest.mark.parametrize("name", ["vol.npy", "brain.nii.gz"])
def test_convert_on_a_scheduler_equals_a_local_convert(client, inputs, tmp_path, name):
    layout = ["--chunk", "16", "--shard", "32", "--driver", "tensorstore"]
    convert(inputs / name, tmp_path / "local.zarr", *layout)
    with distributed.get_task_stream(client) as ts:  # the scheduler's, whoever submits
        convert(inputs / name, tmp_path / "cluster.zarr", *layout,
                "--scheduler", client.scheduler.address)
    assert snapshot(tmp_path / "cluster.zarr") == snapshot(tmp_path / "local.zarr")
    # the workers read the input, wrote level 0 and built the pyramid
    assert ran(ts, "unizarr-input") and ran(ts, "unizarr-base") and ran(ts, "unizarr-tile")


def test_convert_with_a_missing_scheduler_file(inputs, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "unizarr.cli", "convert", inputs / "vol.npy", tmp_path / "o.zarr",
         "--scheduler", tmp_path / "nowhere.json"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no scheduler file") and "Traceback" not in proc.stderr
