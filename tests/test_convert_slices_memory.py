"""``unizarr convert`` of a folder of TIFF slices stays within ``--max-memory``: the real
command in a fresh subprocess, on a slice folder written with tifffile, on both
drivers; peak anonymous memory (``RssAnon``, sampled every 2 ms) above the baseline of
the same command on a tiny folder (the interpreter, the CLI, the engine and their
thread pools, which no budget covers) stays within the budget, and the output holds
the input voxel for voxel.

A scaled-down form of the ingest benchmark (benchmarks/ingest.py: 512 slices of 1024²
with ``--max-memory 512M``): 128 slices of 512² (64 MiB, twice the budget) with
``--max-memory 32M``, 64³ chunks in ``--shard auto`` shards (64x128x128, 2 MiB).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from tests.helpers import ok
from tests.test_convert_memory import run_measured

MiB = 2**20
BUDGET = 32 * MiB


def _volume(shape: tuple[int, ...]) -> np.ndarray:
    """Smooth structure plus noise, as the benchmark's slices (compresses ~1.5x)."""
    rng = np.random.default_rng(7)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    base = (1000 + 800 * np.sin(z / 17.0) * np.cos(y / 23.0) + 4 * x).astype(np.float32)
    return (base + rng.normal(0, 40, size=shape)).clip(0, 65535).astype(np.uint16)


def _folder(path: Path, data: np.ndarray) -> Path:
    path.mkdir()
    for z, plane in enumerate(data):
        tifffile.imwrite(path / f"slice_z{z}.tif", plane)  # unpadded: natural order
    return path


@pytest.fixture(scope="module")
def slices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, np.ndarray]]:
    root = tmp_path_factory.mktemp("slicemem")
    data = _volume((128, 512, 512))
    yield _folder(root / "slices", data), data


def _convert(src: Path, out: Path, driver: str) -> tuple[int, str]:
    proc, peak = run_measured("convert", src, out, "--driver", driver, "--zarr-version", 3,
                              "--chunk", 64, "--shard", "auto", "--max-memory", "32M",
                              "--quiet")
    ok(proc)
    return peak, proc.stderr


def test_slice_folder_converts_within_max_memory(
    tmp_path: Path, driver: str, slices: tuple[Path, np.ndarray]
) -> None:
    src, data = slices
    # just above one chunk: the same one-pass level 0 + pyramid path, a few voxels
    tiny = _folder(tmp_path / "tiny", data[:72, :72, :72])
    base, _ = _convert(tiny, tmp_path / "tiny.zarr", driver)
    out = tmp_path / "out.zarr"
    peak, err = _convert(src, out, driver)
    assert err == ""  # the chosen shard fits the budget: no warning
    print(f"\n{driver}: peak anon {peak / MiB:.0f} MiB, baseline {base / MiB:.0f} MiB")
    assert peak - base <= BUDGET, (peak / MiB, base / MiB)
    level0 = zarr.open_array(str(out / "0"), mode="r")
    assert tuple(level0.shards) == (64, 128, 128)
    np.testing.assert_array_equal(level0[...], data)
    want = np.rint(data[:64, 128:192, 448:].astype(np.float64)
                   .reshape(32, 2, 32, 2, 32, 2).mean(axis=(1, 3, 5)))
    np.testing.assert_array_equal(
        zarr.open_array(str(out / "1"), mode="r")[:32, 64:96, 224:], want
    )
    ms = dict(zarr.open_group(str(out), mode="r").attrs)["ome"]["multiscales"][0]
    assert len(ms["datasets"]) == 4  # 512 -> 256 -> 128 -> 64: one chunk
