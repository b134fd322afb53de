"""The public pyramid plan (``unizarr.pyramid.plan``): what both executors run.

A plan must build every level exactly once, in runs of levels that halve the same axes,
each pass reading the level before its first; its tiles must be whole write blocks that
cover each level once, and its pieces must cover each tile once. ``generate_pyramid``
reports progress over the same pieces.
"""

from __future__ import annotations

import numpy as np
import pytest

import unizarr as uz
from unizarr.pyramid import PyramidPlan, level_plan, plan_pyramid, pyramid_axes
from unizarr.pyramid.plan import scaled

SHAPE = (20, 44, 38)
VOXEL = (4.0, 0.5, 0.5)  # z coarse: y and x halve first, then all three
BUDGET = 2**14  # tiny: many tiles and pieces


def base_group(tmp_path, driver, zarr_version):
    x = np.random.default_rng(0).integers(0, 4000, SHAPE, dtype=np.uint16)
    g = uz.open_group(str(tmp_path / "p.zarr"), "w", driver=driver, zarr_version=zarr_version)
    kw = {"shards": (8,)} if zarr_version == 3 else {}
    g.create_array("0", data=x, chunks=(4,), **kw)
    return g


def make_plan(g, *, done=None, source=None, write_base=False):
    base = g["0"]
    axes = pyramid_axes(base.ndim)
    shapes, steps = level_plan(base.shape, base.chunks, axes, 4, voxel_size=VOXEL,
                               sampling="anisotropic")
    targets = [base] + [g.create_array_from_base(str(i), s) for i, s in enumerate(shapes[1:], 1)]
    plan = plan_pyramid(shapes, steps, targets, source=source, write_base=write_base,
                        done=done, max_memory=BUDGET, workers=2)
    return plan, shapes, steps, targets


def test_passes_build_every_level_once_in_runs_of_the_same_axes(tmp_path, driver, zarr_version):
    g = base_group(tmp_path, driver, zarr_version)
    plan, shapes, steps, targets = make_plan(g)
    assert isinstance(plan, PyramidPlan)
    assert plan.shapes == shapes and len(shapes) == 5
    runs_axes = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
    assert [r.axes for r in plan.runs] == runs_axes == [(1, 2), (0, 1, 2)]
    built = [p.first + k for r in plan.runs for p in r.passes for k in range(p.depth)]
    assert built == list(range(1, len(shapes)))
    for run in plan.runs:
        for p in run.passes:
            assert p.source is targets[p.first - 1]  # the level before, as stored
            assert p.targets == targets[p.first:p.first + p.depth]
            assert p.shapes == shapes[p.first - 1:p.first + p.depth]
            assert p.write_source is None and p.done is None


def test_tiles_are_whole_write_blocks_and_pieces_cover_them_once(tmp_path, driver, zarr_version):
    g = base_group(tmp_path, driver, zarr_version)
    plan, shapes, _, targets = make_plan(g)
    wb = targets[0].write_block
    n_tiles = 0
    for run in plan.runs:
        for p in run.passes:
            level = np.zeros(shapes[p.first], np.int8)
            tiles = list(p.tiles(run.axes))
            assert len(tiles) == p.count_tiles(run.axes) >= 1
            for tile in tiles:
                region = scaled(tile.bounds, run.axes, 1)
                assert all(s.start % b == 0 for s, b in zip(region, wb))
                assert all(s.stop % b == 0 or s.stop == n
                           for s, b, n in zip(region, wb, shapes[p.first]))
                level[region] += 1
                inside = np.zeros([hi - lo for lo, hi in tile.bounds], np.int8)
                for piece in tile.pieces:
                    assert piece.tile is tile
                    inside[tuple(slice(lo - t0, hi - t0) for (lo, hi), (t0, _)
                                 in zip(piece.bounds, tile.bounds))] += 1
                assert (inside == 1).all()
            assert (level == 1).all()
            assert p.count_pieces(run.axes) == sum(len(t.pieces) for t in tiles)
            n_tiles += len(tiles)
    assert n_tiles > len(plan.runs)


def test_generate_pyramid_reports_progress_over_the_plan(tmp_path, driver, zarr_version):
    g = base_group(tmp_path, driver, zarr_version)
    plan, shapes, _, _ = make_plan(g)
    calls = []
    got = uz.generate_pyramid(g, levels=4, voxel_size=VOXEL, sampling="anisotropic",
                              max_memory=BUDGET, workers=2,
                              progress=lambda done, total: calls.append((done, total)))
    assert got == shapes
    total = plan.count_pieces()
    assert total == sum(r.count_pieces() for r in plan.runs) > 1
    assert calls[-1] == (total, total) and len(calls) == total


@pytest.mark.parametrize("write_base", [False, True])
def test_resume_sets_and_source_go_to_the_passes_that_use_them(tmp_path, driver, write_base):
    g = base_group(tmp_path, driver, 3)
    x = g["0"][...]
    done = [{(0, 0, 0)}, {(0, 0, 1)}, set(), {(1, 1, 1)}, set()]
    plan, _, _, targets = make_plan(g, done=done, source=x, write_base=write_base)
    first = plan.runs[0].passes[0]
    assert first.first == 1 and first.source is x
    assert first.write_source is (targets[0] if write_base else None)
    assert first.source_done == (done[0] if write_base else None)
    for run in plan.runs:
        for p in run.passes:
            assert p.done == done[p.first:p.first + p.depth]
            if p.first > 1:
                assert p.source is targets[p.first - 1] and p.write_source is None


def test_tiles_grow_along_inner_axes_and_in_memory_sources_get_slab_pieces():
    """Tiles hold several write blocks, added along x, then y, then z, within the
    budget; a numpy source is read in wide slabs (no chunk grid to align to), while a
    stored level is read in whole chunks."""
    from unizarr.pyramid.plan import TILE_WRITE_UNIT, plan_passes

    shapes = [(512, 512, 512), (256, 256, 256), (128, 128, 128)]
    common = dict(chunks=(128,) * 3, write_block=(128,) * 3, itemsize=2,
                  max_memory=128 * 2**20, workers=2)
    (first, depth, tile, piece, _), *_ = plan_passes(shapes, (0, 1, 2), **common)
    assert (first, depth) == (1, 1)
    assert tile == (128, 128, 256)  # 8 MiB <= 128 MiB / (4 * TILE_WRITE_UNIT)
    assert 2 * 128 * 128 * 256 * 2 <= 128 * 2**20 // TILE_WRITE_UNIT
    assert piece == (128, 128, 128)  # stored level 0: whole chunks (4 MiB budget)
    (_, _, tile_m, piece_m, _), *_ = plan_passes(
        shapes, (0, 1, 2), source_grid=(1, 1, 1), **common
    )
    assert tile_m == tile
    assert piece_m[1:] == (256, 512) and piece_m[0] < 128  # a thin, full-width slab
    # a budget too small for two write blocks keeps tiles at one
    (_, _, tile_s, _, _), *_ = plan_passes(
        shapes, (0, 1, 2), **{**common, "max_memory": 48 * 2**20}
    )
    assert tile_s == (128, 128, 128)


def test_small_levels_are_kept_in_memory_for_the_next_pass_and_give_the_same_bytes(
    tmp_path, driver, zarr_version
):
    """With a budget that keeps level 2, the pass after level 2 reads it from memory
    (wide slabs); the files equal those of the same plan run without keeping, and every
    level equals the numpy reference. Resume (``done``) never keeps: skipped tiles
    would leave holes in the kept level."""
    from unizarr.pyramid import downsample, get_kernel
    from unizarr.pyramid.local import run_local

    x = np.random.default_rng(1).integers(0, 60000, (70, 90, 110), dtype=np.uint16)
    budget = 2**19  # two passes (levels 1-2, 3-4); level 2 (23 KB) fits a quarter of it
    trees = {}
    for keep in (True, False):
        root = tmp_path / f"{keep}.zarr"
        g = uz.open_group(str(root), "w", driver=driver, zarr_version=zarr_version)
        g.create_array("0", data=x, chunks=(16,))
        base = g["0"]
        shapes, steps = level_plan(base.shape, base.chunks, pyramid_axes(3), 4)
        targets = [base] + [g.create_array_from_base(str(i), s)
                            for i, s in enumerate(shapes[1:], 1)]
        plan = plan_pyramid(shapes, steps, targets, source=None, write_base=False, done=None,
                            max_memory=budget, workers=2, keep_levels=keep)
        passes = [p for r in plan.runs for p in r.passes]
        assert [p.keep for p in passes] == [keep, False]
        assert [p.reads_kept for p in passes] == [False, keep]
        resumed = plan_pyramid(shapes, steps, targets, source=None, write_base=False,
                               done=[set() for _ in targets], max_memory=budget, workers=2,
                               keep_levels=True)
        assert not any(p.keep or p.reads_kept for r in resumed.runs for p in r.passes)
        run_local(plan, get_kernel("mean"), base.dtype, 2, None)
        ref = x
        for i in range(1, len(shapes)):
            ref = downsample(ref, (0, 1, 2))
            np.testing.assert_array_equal(g[str(i)][...], ref)
        trees[keep] = {p.relative_to(root).as_posix(): p.read_bytes()
                       for p in sorted(root.rglob("*")) if p.is_file()}
    assert trees[True] == trees[False]
