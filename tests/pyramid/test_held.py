"""The levels below a level 1 held in memory, written at once (unizarr.pyramid.held)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unizarr as uz
from unizarr.pyramid import held
from unizarr.reduction import downsample, get_kernel


def _volume(shape: tuple[int, ...] = (66, 70, 130)) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 65535, shape, dtype=np.uint16)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _targets(g: uz.ZarrGroup, shapes: list[tuple[int, ...]], shards: Any = None) -> list:
    return [g.create_array(str(i), s, np.uint16, chunks=(16, 16, 32), shards=shards,
                           compressor="blosc") for i, s in enumerate(shapes, start=1)]


@pytest.mark.parametrize("steps", [[(0, 1, 2), (0, 1, 2)], [(1, 2), (0, 1, 2), (2,)]],
                         ids=["isotropic", "per-level"])
def test_levels_match_the_stepwise_reduction(tmp_path, driver, zarr_version, steps):
    """Each level is the previous one reduced along its own step, on both drivers."""
    level1 = _volume()
    expected = [level1]
    for step in steps:
        expected.append(downsample(expected[-1], step, "mean"))
    g = uz.open_group(str(tmp_path / "l.zarr"), "w", driver=driver, zarr_version=zarr_version)
    targets = _targets(g, [e.shape for e in expected])
    seen: list[tuple[int, int]] = []
    held.write_from_level1(targets, level1, steps, get_kernel("mean"), 2,
                           progress=lambda d, t: seen.append((d, t)))
    for target, want in zip(targets, expected, strict=True):
        np.testing.assert_array_equal(target[...], want)
    assert sorted(seen) == [(i, len(targets)) for i in range(1, len(targets) + 1)]


def test_same_bytes_as_the_tiled_pyramid(tmp_path, driver, zarr_version):
    """The store is byte for byte the one the tiled path writes from the stored level 0,
    sharded v3 included."""
    vol = _volume((132, 140, 260))
    shards = (32, 32, 64) if zarr_version == 3 else None
    trees = []
    for way in ("held", "tiled"):
        root = tmp_path / f"{way}.zarr"
        g = uz.open_group(str(root), "w", driver=driver, zarr_version=zarr_version)
        base = g.create_array("0", vol.shape, vol.dtype, chunks=(16, 16, 32), shards=shards,
                              compressor="blosc")
        if way == "held":
            base[...] = vol
            level1 = downsample(vol, (0, 1, 2), "mean")
            shapes = [level1.shape, downsample(level1, (0, 1, 2), "mean").shape]
            targets = [g.create_array_from_base(str(i), s) for i, s in enumerate(shapes, 1)]
            held.write_from_level1(targets, level1, [(0, 1, 2)], get_kernel("mean"), 2)
        else:
            base[...] = vol  # writeable: never remembered, the pyramid decodes level 0
            uz.generate_pyramid(g, levels=2)
        trees.append({k: v for k, v in _tree(root).items() if k.split("/")[0] in ("1", "2")})
    assert trees[0] == trees[1] and len(trees[0]) > 4


class _Failing:
    """A target whose write fails at once, as on a full disk; it takes the shape of the
    real array it stands in for, and ``started`` records that the write was tried."""

    def __init__(self, real: Any, started: threading.Event) -> None:
        self.shape = real.shape
        self.started = started

    def __setitem__(self, key: Any, value: Any) -> None:
        self.started.set()
        raise OSError("No space left on device")


def test_a_failed_write_waits_for_the_others_and_raises(tmp_path, driver, zarr_version):
    """The first failure is raised only after every other write has finished: nothing
    is left running, and the levels that could be written are whole."""
    level1 = _volume((64, 64, 128))
    g = uz.open_group(str(tmp_path / "f.zarr"), "w", driver=driver,
                      zarr_version=zarr_version)
    targets = _targets(g, [(64, 64, 128), (32, 32, 64), (16, 16, 32)])
    started = threading.Event()
    targets[1] = _Failing(targets[1], started)
    with pytest.raises(OSError, match="No space left"):
        held.write_from_level1(targets, level1, [(0, 1, 2)] * 2, get_kernel("mean"), 2)
    assert started.is_set()
    assert not [t for t in threading.enumerate() if t.name.startswith("unizarr-levels")]
    np.testing.assert_array_equal(targets[0][...], level1)
    np.testing.assert_array_equal(targets[2][...],
                                  downsample(downsample(level1, (0, 1, 2)), (0, 1, 2)))


def test_a_failed_reduction_waits_for_the_writes(tmp_path, driver, zarr_version):
    """A kernel that fails while level 1 is being written: the write is finished (whole)
    before the error is raised."""
    level1 = _volume((64, 64, 128))
    g = uz.open_group(str(tmp_path / "r.zarr"), "w", driver=driver,
                      zarr_version=zarr_version)
    targets = _targets(g, [(64, 64, 128), (32, 32, 64)])

    def broken(blocks: np.ndarray, axis: Any) -> np.ndarray:
        raise ArithmeticError("kernel failed")

    with pytest.raises(ArithmeticError, match="kernel failed"):
        held.write_from_level1(targets, level1, [(0, 1, 2)], get_kernel(broken), 2)
    assert not [t for t in threading.enumerate() if t.name.startswith("unizarr-levels")]
    np.testing.assert_array_equal(targets[0][...], level1)


def test_watch_checked_after_every_level(tmp_path, driver, zarr_version):
    level1 = _volume((32, 32, 64))
    g = uz.open_group(str(tmp_path / "w.zarr"), "w", driver=driver,
                      zarr_version=zarr_version)
    targets = _targets(g, [(32, 32, 64), (16, 16, 32), (8, 8, 16)])

    class Counting:
        def __init__(self) -> None:
            self.checks = 0
            self.lock = threading.Lock()

        def check(self) -> None:
            with self.lock:
                self.checks += 1

    watch = Counting()
    held.write_from_level1(targets, level1, [(0, 1, 2)] * 2, get_kernel("mean"), 2,
                           watch=watch)  # type: ignore[arg-type]
    assert watch.checks == 3
