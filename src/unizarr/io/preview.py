"""Orthogonal mid-slice previews (``unizarr preview``), read without loading the volume.

Only three planes are read: the middle z, y and x slices of one pyramid level (at one
time point and channel). They are contrast-stretched together between two percentiles
of their values, drawn side by side - axial (y by x), coronal (z by x), sagittal
(z by y) - and stretched to the voxels' physical aspect ratio.

Orientation: NIfTI-Zarr images (a ``nifti`` member) are shown world-up - the row of
highest y/z index on top, so a RAS image has anterior/superior up; other images use the
image convention, row 0 on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import ZarrArray, ZarrGroup, ZarrNode
from ..ome import find_multiscale
from ..readers.volume import SPATIAL_AXES, default_axes
from ..readers.zarr_store import ome_axes, ome_level_scales


def _level(node: ZarrNode, level: int) -> tuple[ZarrArray, tuple[str, ...], list[float]]:
    """The array of pyramid ``level``, its axis names and its voxel sizes."""
    if isinstance(node, ZarrArray):
        if level != 0:
            raise ValueError(f"{node.url} is a single array; only --level 0 exists")
        return node, default_axes(node.ndim), [1.0] * node.ndim
    if not isinstance(node, ZarrGroup):  # pragma: no cover - a node is one or the other
        raise TypeError(f"not a Zarr node: {node!r}")
    found = find_multiscale(node.attrs.asdict())
    if found is not None:
        datasets = found[1].get("datasets") or []
        if not 0 <= level < len(datasets):
            raise ValueError(
                f"--level {level} does not exist: {node.url} has levels 0-{len(datasets) - 1}"
            )
        arr = node[str(datasets[level]["path"])]
    else:
        if str(level) not in node.keys():
            raise ValueError(f"{node.url} has no OME multiscales and no array {str(level)!r}")
        arr = node[str(level)]
    if not isinstance(arr, ZarrArray):
        raise ValueError(f"level {level} of {node.url} is not an array")
    if found is None:
        return arr, default_axes(arr.ndim), [1.0] * arr.ndim
    axes = ome_axes(found[1], arr.ndim)
    scales = ome_level_scales(found[1], arr.ndim)
    return arr, axes, scales[level] if level < len(scales) else [1.0] * arr.ndim


def _to_uint8(planes: list[np.ndarray], percentiles: Sequence[float]) -> list[np.ndarray]:
    """Stretch ``planes`` jointly: the low percentile -> 0, the high one -> 255."""
    values = np.concatenate([p[np.isfinite(p)].ravel() for p in planes])
    if values.size == 0:
        return [np.zeros(p.shape, np.uint8) for p in planes]
    lo, hi = np.percentile(values, list(percentiles))
    if hi <= lo:  # a flat image: everything at mid-grey rather than a division by 0
        hi = lo + 1
    return [
        (np.clip((np.nan_to_num(p, nan=lo) - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)
        for p in planes
    ]


def render_preview(
    node: ZarrNode,
    *,
    level: int = 0,
    time: int = 0,
    channel: int = 0,
    percentiles: Sequence[float] = (1.0, 99.5),
    zoom: int = 1,
) -> Any:
    """A Pillow image of the mid-slices of ``node`` (an OME-Zarr group or an array).

    The image is ``zoom * (X + X + Y)`` pixels wide and ``zoom * max(Y, Z)`` high for
    isotropic voxels (a 2-D image: ``zoom * X`` by ``zoom * Y``); with anisotropic
    voxels each panel is stretched so one pixel is the smallest voxel size.

    Raises
    ------
    ValueError
        A level, time point or channel that does not exist.
    """
    from PIL import Image

    arr, axes, scale = _level(node, level)
    key: list[Any] = []
    for axis, n in zip(axes, arr.shape):
        if axis in ("t", "c"):
            index, what = (time, "--time") if axis == "t" else (channel, "--channel")
            if not 0 <= index < n:
                raise ValueError(f"{what} {index} is out of range: the image has {n} along {axis}")
            key.append(index)
        else:
            key.append(slice(None))
    spatial = [a for a in axes if a in SPATIAL_AXES]
    sizes = {a: n for a, n in zip(axes, arr.shape) if a in SPATIAL_AXES}
    vox = {a: float(s) for a, s in zip(axes, scale) if a in SPATIAL_AXES}
    if any(n == 0 for n in sizes.values()):
        raise ValueError(f"{arr.url} is empty (shape {arr.shape})")

    def plane(fixed: str | None) -> np.ndarray:
        k = list(key)
        if fixed is not None:
            k[axes.index(fixed)] = sizes[fixed] // 2
        data = np.asarray(arr[tuple(k)])
        if np.iscomplexobj(data):
            data = np.abs(data)
        return data.astype(np.float64)

    if len(spatial) == 3:
        views = [(plane("z"), "y", "x"), (plane("y"), "z", "x"), (plane("x"), "z", "y")]
    elif len(spatial) == 2:
        views = [(plane(None), spatial[0], spatial[1])]
    else:
        raise ValueError(f"cannot preview an image with spatial axes {spatial}")
    world_up = isinstance(node, ZarrGroup) and "nifti" in node.keys()
    pixels = _to_uint8([v[0] for v in views], percentiles)
    unit = min(vox.values()) if vox and min(vox.values()) > 0 else 1.0
    panels = []
    for data, (_, rows, cols) in zip(pixels, views):
        if world_up:
            data = data[::-1]
        height = max(1, round(data.shape[0] * vox.get(rows, unit) / unit)) * zoom
        width = max(1, round(data.shape[1] * vox.get(cols, unit) / unit)) * zoom
        img = Image.fromarray(np.ascontiguousarray(data))  # uint8 2-D: mode "L"
        panels.append(img.resize((width, height), Image.Resampling.NEAREST))
    canvas = Image.new("L", (sum(p.width for p in panels), max(p.height for p in panels)), 0)
    x = 0
    for p in panels:
        canvas.paste(p, (x, (canvas.height - p.height) // 2))
        x += p.width
    return canvas
