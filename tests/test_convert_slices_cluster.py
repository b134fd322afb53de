"""A folder of TIFF slices converted on a real ``dask.distributed`` LocalCluster (2 worker
processes x 1 thread, on 127.0.0.1): the workers reopen the folder themselves and read
their blocks' rows in place (uncompressed) or strip by strip (LZW), and the store they
write is the local conversion's, file for file. A slice truncated while the conversion
runs raises :class:`~unizarr.errors.CorruptDataError` naming it, from whichever process
read it, and leaves an unfinished store whose blocks all hold true data, which
``resume`` finishes once the slice is whole again."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from unizarr.errors import CorruptDataError
from unizarr.readers import open_input
from unizarr.readers.slice_strips import StripPlane
from unizarr.readers.slices import RawPlane
from unizarr.readers.worker_input import InputRef

distributed = pytest.importorskip("distributed")
convert_module = importlib.import_module("unizarr.convert")  # ``uz.convert`` is the function

SHAPE = (32, 256, 256)
#: 4 MiB of budget: level 0 is read in several tasks (a third of the budget each), so
#: both workers read slices.
BUDGET = 4 << 20
COMPRESSIONS = {"raw": None, "lzw": "lzw"}
METADATA = {"zarr.json", ".zarray", ".zattrs"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The root conftest's cluster, but listening on 127.0.0.1 only."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def stack() -> np.ndarray:
    # Smooth plus noise: the 2x2x2 means are not constant, and their rounding matters.
    z, y, x = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    noise = np.random.default_rng(7).integers(0, 4000, SHAPE)
    return (z * 900 + y * 97 + x * 31 + noise).astype(np.uint16)


def write_folder(folder: Path, data: np.ndarray, compression: str | None) -> Path:
    folder.mkdir(parents=True)
    for z, plane in enumerate(data):
        tifffile.imwrite(folder / f"slice_{z}.tif", plane, compression=compression)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, stack: np.ndarray) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("slices")
    return {name: write_folder(base / name, stack, comp) for name, comp in COMPRESSIONS.items()}


def layout(driver: str, zarr_version: int, chunk: int) -> dict[str, Any]:
    kw: dict[str, Any] = dict(driver=driver, zarr_version=zarr_version, chunk=chunk,
                              max_memory=BUDGET)
    if zarr_version == 3:
        kw["shard"] = "auto"
    return kw


def read_by_tifffile(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.tif"), key=lambda p: int(p.stem.split("_")[1]))
    return tifffile.imread(files)


def mean_2x2x2(a: np.ndarray) -> np.ndarray:
    """The ``mean`` pyramid level of unsigned data: rounded to nearest, ties to even."""
    z, y, x = (n // 2 for n in a.shape)
    w = a[:2 * z, :2 * y, :2 * x].astype(np.float64).reshape(z, 2, y, 2, x, 2)
    return np.rint(w.mean(axis=(1, 3, 5))).astype(a.dtype)


def worker_reads(client: Any) -> int:
    """Regions read through the per-process input cache, summed over the workers."""

    def reads() -> int:
        from unizarr.readers import worker_input

        info = worker_input._opened.cache_info()
        return info.hits + info.misses

    return sum(client.run(reads).values())


def validate_ome(path: Path, zarr_version: int) -> Any:
    """The store as ome-zarr-models reads it (0.4 on Zarr v2, 0.5 on v3)."""
    if zarr_version == 2:
        from ome_zarr_models.v04.image import Image
    else:
        from ome_zarr_models.v05.image import Image
    return Image.from_zarr(zarr.open_group(str(path), mode="r"))


def level_trees(store: Path) -> dict[str, dict[str, str]]:
    return {p.name: tree_hashes(p) for p in sorted(store.iterdir()) if p.is_dir()}


# -- 1. the cluster conversion is the local one ------------------------------------------
def test_reader_layouts_under_test(folders: dict[str, Path]) -> None:
    """The folders exercise the two partial-read paths, not the whole-slice decode."""
    with open_input(folders["raw"]) as raw, open_input(folders["lzw"]) as lzw:
        assert len(raw.source.raw) == SHAPE[0]
        assert all(isinstance(p, RawPlane) for p in raw.source.raw.values())
        assert len(lzw.source.raw) == SHAPE[0]
        assert all(isinstance(p, StripPlane) for p in lzw.source.raw.values())


@pytest.mark.parametrize("compression", list(COMPRESSIONS))
def test_slice_folder_on_the_cluster_equals_the_local_conversion(
    client: Any, folders: dict[str, Path], tmp_path: Path, driver: str, zarr_version: int,
    compression: str,
) -> None:
    src = folders[compression]
    kw = layout(driver, zarr_version, chunk=64)
    local = tmp_path / "local.ome.zarr"
    remote = tmp_path / "cluster.ome.zarr"
    uz.convert(str(src), str(local), **kw)
    before = worker_reads(client)
    res = uz.convert(str(src), str(remote), client=client, **kw)
    assert worker_reads(client) > before  # the workers read the slices themselves

    expected = read_by_tifffile(src)
    level0 = zarr.open_array(str(remote / "0"), mode="r")
    if zarr_version == 3:
        assert level0.shards is not None  # --shard auto: sharded
    np.testing.assert_array_equal(level0[...], expected)
    level1 = zarr.open_array(str(remote / "1"), mode="r")[...]
    np.testing.assert_array_equal(level1, mean_2x2x2(expected))
    assert res.shapes[:2] == [SHAPE, (16, 128, 128)]
    # every level, file for file: the cluster wrote what one process writes
    remote_levels = level_trees(remote)
    assert set(remote_levels) == {str(i) for i in range(len(res.shapes))}
    assert remote_levels == level_trees(local)
    model = validate_ome(remote, zarr_version)
    datasets = model.attributes.multiscales[0].datasets if zarr_version == 2 else \
        model.attributes.ome.multiscales[0].datasets
    assert [d.path for d in datasets] == [str(i) for i in range(len(res.shapes))]


# -- 2. a slice damaged while the cluster converts ----------------------------------------
@pytest.mark.parametrize("compression", list(COMPRESSIONS))
@pytest.mark.parametrize("workers_opened_first", [False, True], ids=["reopen", "opened"])
def test_slice_truncated_during_a_cluster_conversion(
    client: Any, stack: np.ndarray, tmp_path: Path, driver: str, zarr_version: int,
    compression: str, workers_opened_first: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``opened``: the workers hold the folder open (its layouts parsed while the slice
    was whole) and find the rows or strip missing; ``reopen``: a worker opens the folder
    after the cut and its header check refuses the slice. Either way: the reader's
    error, one line, naming the slice - not plausible numbers, not a wrapper."""
    src = write_folder(tmp_path / "in", stack, COMPRESSIONS[compression])
    victim = src / "slice_20.tif"
    whole, st = victim.read_bytes(), victim.stat()
    kw = layout(driver, zarr_version, chunk=16)
    clean = tmp_path / "clean.ome.zarr"
    uz.convert(str(src), str(clean), **kw)
    if workers_opened_first:
        ref = InputRef.of(src, driver=driver)  # the reference convert builds

        def open_here(ref: InputRef) -> tuple[int, ...]:
            from unizarr.readers.worker_input import _opened

            return _opened(ref).shape

        assert set(client.run(open_here, ref).values()) == {SHAPE}

    real = convert_module.generate_pyramid
    cut: dict[str, dict[str, str]] = {}

    def cut_then_build(*args: Any, **kwargs: Any) -> Any:
        # after the folder was opened and checked, and the run record written
        os.truncate(victim, st.st_size - 3000)
        cut["input"] = tree_hashes(src)
        return real(*args, **kwargs)

    monkeypatch.setattr(convert_module, "generate_pyramid", cut_then_build)
    out = tmp_path / "out.ome.zarr"
    with pytest.raises(CorruptDataError) as info:
        uz.convert(str(src), str(out), client=client, **kw)
    monkeypatch.undo()
    message = str(info.value)
    assert type(info.value) is CorruptDataError
    assert str(victim) in message and "truncated" in message
    assert "\n" not in message and "Traceback" not in message
    # which read found it: a worker's open (the header check), or its block's read
    found = {(False, "raw"): "image data at byte", (False, "lzw"): "image data at byte",
             (True, "raw"): "need bytes up to", (True, "lzw"): "strip 0 needs bytes"}
    assert found[workers_opened_first, compression] in message
    assert tree_hashes(src) == cut["input"]  # the input was only read

    # Unfinished, and says so: no OME multiscales, both run records not complete ...
    attrs = zarr.open_group(str(out), mode="r").attrs.asdict()
    assert "multiscales" not in attrs.get("ome", attrs)
    assert json.loads((out / ".unizarr-convert-run.json").read_bytes())["state"] == "running"
    assert json.loads((out / ".unizarr-pyramid-run.json").read_bytes()).get("complete") is not True
    # ... and every block it holds is the clean conversion's block, byte for byte (the
    # arrays' metadata gets its OME dimension names at the end).
    clean_levels = level_trees(clean)
    stored = 0
    for name, files in level_trees(out).items():
        for key, digest in files.items():
            if key not in METADATA:
                assert clean_levels[name].get(key) == digest, f"level {name}: {key}"
        stored += len(uz.open_array(out / name, "r", driver=driver).stored_blocks())

    # The slice copied again (same bytes and time): resume finishes the same store.
    victim.write_bytes(whole)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    kept = level_trees(out)
    res = uz.convert(str(src), str(out), client=client, resume=True, **kw)
    assert res.resumed == "finished"
    assert sum(res.reused_blocks) == stored  # nothing of the good part was redone
    done = level_trees(out)
    for name, files in kept.items():
        blocks = {k: v for k, v in files.items() if k not in METADATA}
        assert {k: done[name][k] for k in blocks} == blocks  # kept blocks left as they were
    assert done == clean_levels
    validate_ome(out, zarr_version)
