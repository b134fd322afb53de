"""Small OME-Zarr images for the serve/view tests, written by the engine under test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import unizarr as uz


def phantom(shape: tuple[int, ...] = (24, 40, 48)) -> np.ndarray:
    """A uint16 volume with structure (a bright ball in a gradient), never uniform."""
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape[-3:]), indexing="ij")
    ball = (x**2 + y**2 + z**2) < 0.5
    vol = (1000 * (x + 1) + 3000 * ball).astype(np.uint16)
    return np.broadcast_to(vol, shape).copy()


def write_image(
    path: str | Path,
    driver: str,
    zarr_version: int,
    *,
    data: np.ndarray | None = None,
    axes: tuple[str, ...] = ("z", "y", "x"),
    scale: tuple[float, ...] = (2.0, 0.5, 0.5),
    unit: str = "micrometer",
    labels: bool = False,
    name: str = "phantom",
) -> Path:
    """An OME-Zarr (0.4 on Zarr v2, 0.5 on v3; sharded on v3) with a 2-level pyramid
    and, with ``labels``, one label image ``labels/ball``."""
    data = phantom() if data is None else data
    ome = "0.5" if zarr_version == 3 else "0.4"
    g = uz.open_group(path, "w", driver=driver, zarr_version=zarr_version)
    chunks = tuple(1 if a in "tc" else 8 for a in axes)
    shards = tuple(1 if a in "tc" else 16 for a in axes) if zarr_version == 3 else None
    g.create_array("0", data.shape, data.dtype, data=data, chunks=chunks, shards=shards)
    uz.generate_pyramid(g, 1)
    uz.write_ome_metadata(g, axes, space_scale=scale, space_unit=unit, ome_version=ome,
                          name=name)
    if labels:
        lab_root = g.create_group("labels")
        lab = lab_root.create_group("ball")
        seg = (data > 2500).astype(np.uint32)
        lab.create_array("0", seg.shape, seg.dtype, data=seg, chunks=chunks, shards=shards)
        uz.generate_pyramid(lab, 1, method="mode")
        uz.write_ome_metadata(lab, axes, space_scale=scale, space_unit=unit, ome_version=ome,
                              name="ball")
        if ome == "0.5":
            lab_root.attrs["ome"] = {"version": "0.5", "labels": ["ball"]}
        else:
            lab_root.attrs["labels"] = ["ball"]
    return Path(path)
