"""Untimed check that a contender wrote what the table says it wrote.

A fast row must be a correct row: after the timed call the worker opens the
output with zarr-python and checks the layout (Zarr format, shapes, chunks,
shards, Blosc lz4), for pipelines the OME ``multiscales`` metadata and the 4
levels, and a few values (level 0 exactly, level 1 within ±1 of the 2x mean,
since rounding differs between libraries). A failed check turns the row into
an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .layouts import CHUNK, CNAME, Layout

LEVELS = 3
BOX = 16  # edge of the level-0 region compared


def _check_array(path: Path, layout: Layout, shape: tuple[int, ...]) -> str | None:
    """Problems with the array at ``path`` (``None`` when it matches the layout)."""
    import zarr

    arr = zarr.open_array(str(path), mode="r")
    if arr.metadata.zarr_format != layout.zarr_version:
        return f"{path.name}: zarr_format {arr.metadata.zarr_format}"
    if tuple(arr.shape) != tuple(shape):
        return f"{path.name}: shape {arr.shape}, expected {shape}"
    # Chunks (and shards) are either the nominal edge or clamped to a smaller level.
    if not all(c in (CHUNK, min(CHUNK, s)) for c, s in zip(arr.chunks, shape, strict=True)):
        return f"{path.name}: chunks {arr.chunks}"
    shards = getattr(arr, "shards", None)
    if layout.shard is None and shards is not None:
        return f"{path.name}: unexpected shards {shards}"
    if layout.shard is not None and (
        shards is None
        or not all(
            c in (layout.shard, min(layout.shard, s)) for c, s in zip(shards, shape, strict=True)
        )
    ):
        return f"{path.name}: shards {shards}"
    if CNAME not in repr(arr.compressors):
        return f"{path.name}: compressors {arr.compressors!r}"
    return None


def check_level0(path: Path, layout: Layout, volume: np.ndarray) -> str | None:
    """Check a raw level-0 array: layout and one exact region."""
    problem = _check_array(path, layout, volume.shape)
    if problem:
        return problem
    import zarr

    arr = zarr.open_array(str(path), mode="r")
    mid = tuple(slice(s // 2, s // 2 + BOX) for s in volume.shape)
    if not np.array_equal(arr[mid], volume[mid]):
        return f"{path.name}: level-0 values differ from the input"
    return None


def _multiscales(root: Path) -> tuple[str | None, list[dict]]:
    import zarr

    attrs = zarr.open_group(str(root), mode="r").attrs.asdict()
    ome = attrs.get("ome", {})
    ms = ome.get("multiscales") or attrs.get("multiscales") or []
    version = ome.get("version") or (ms[0].get("version") if ms else None)
    return version, ms


def check_pyramid(root: Path, layout: Layout, volume: np.ndarray) -> str | None:
    """Check an OME-Zarr pyramid: metadata, 4 levels, layout, level-0 and level-1 values."""
    import zarr

    version, ms = _multiscales(root)
    if not ms:
        return "no OME multiscales metadata"
    if version != layout.ome_version:
        return f"OME version {version}, expected {layout.ome_version}"
    datasets = ms[0].get("datasets", [])
    if len(datasets) != LEVELS + 1:
        return f"{len(datasets)} levels, expected {LEVELS + 1}"
    paths = [root / d["path"] for d in datasets]
    for k, path in enumerate(paths):
        shape = tuple(s // 2**k for s in volume.shape)
        problem = _check_array(path, layout, shape)
        if problem:
            return problem
    problem = check_level0(paths[0], layout, volume)
    if problem:
        return problem
    # Level 1 near the centre against the exact 2x mean of the input.
    c = tuple(s // 2 for s in volume.shape)
    want = (
        volume[tuple(slice(x, x + BOX) for x in c)]
        .astype(np.float64)
        .reshape(BOX // 2, 2, BOX // 2, 2, BOX // 2, 2)
        .mean(axis=(1, 3, 5))
    )
    got = zarr.open_array(str(paths[1]), mode="r")[
        tuple(slice(x // 2, x // 2 + BOX // 2) for x in c)
    ]
    err = float(np.abs(got.astype(np.float64) - want).max())
    if err > 1.0:
        return f"level 1 differs from the 2x mean by up to {err:g}"
    return None
