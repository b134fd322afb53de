"""Opening Zarr (any unizarr can open: local, ``s3://``, ``gs://``, ``http(s)://``) and the
small readers of OME-NGFF metadata that the command line needs (the Zarr input reader
itself is :func:`unizarr.readers.zarr.read_zarr`).

An OME-Zarr group is read at its first (finest) multiscale level with its axes, scales
and units; a group with a NIfTI-Zarr ``nifti`` member also brings its header. A plain
group is read at its array ``"0"`` (or its only array); a Zarr array is read as is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..core import ZarrNode
from ..ome import find_multiscale
from .volume import CANONICAL_AXES, default_axes, normalize_unit

#: Files that mark a local directory as a Zarr node.
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")
_TYPE_TO_AXIS = {"time": "t", "channel": "c"}


def is_zarr_dir(path: str | os.PathLike) -> bool:
    """Whether the local directory ``path`` holds Zarr metadata (v2 or v3)."""
    return any(os.path.isfile(os.path.join(path, m)) for m in ZARR_MARKERS)


def open_zarr(
    url: str | os.PathLike,
    mode: str = "r",
    *,
    driver: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> ZarrNode:
    """Open the Zarr group or array at ``url``, whichever it is.

    Raises
    ------
    FileNotFoundError
        Nothing Zarr lives at ``url``.
    """
    from ..api import open_array, open_group

    kw: dict[str, Any] = {"driver": driver, "storage_options": storage_options}
    try:
        return open_group(url, mode, **kw)
    except FileNotFoundError:
        pass
    try:
        return open_array(url, mode, **kw)
    except FileNotFoundError:
        raise FileNotFoundError(f"no Zarr group or array at {url}") from None


# -- OME-NGFF ----------------------------------------------------------------------------
def _scale_of(transforms: Any, ndim: int) -> list[float]:
    for t in transforms or ():
        if isinstance(t, Mapping) and t.get("type") == "scale" and "scale" in t:
            return [float(s) for s in t["scale"]]
    return [1.0] * ndim


def ome_axes(ms: Mapping[str, Any], ndim: int) -> tuple[str, ...]:
    """Axis names (t, c, z, y, x) of a multiscales entry; rank defaults when unclear."""
    names = []
    for ax in ms.get("axes") or ():
        name = ax.get("name") if isinstance(ax, Mapping) else ax
        kind = ax.get("type") if isinstance(ax, Mapping) else None
        name = str(name).lower()
        if name not in CANONICAL_AXES:
            name = _TYPE_TO_AXIS.get(kind or "", name)
        names.append(name)
    order = [CANONICAL_AXES.index(n) for n in names if n in CANONICAL_AXES]
    if len(names) != ndim or len(order) != ndim or order != sorted(set(order)):
        return default_axes(ndim)
    return tuple(names)


def ome_level_scales(ms: Mapping[str, Any], ndim: int) -> list[list[float]]:
    """Per-level voxel sizes (dataset scale times the multiscale-wide scale)."""
    overall = _scale_of(ms.get("coordinateTransformations"), ndim)
    return [
        [a * b for a, b in zip(_scale_of(ds.get("coordinateTransformations"), ndim), overall)]
        for ds in ms.get("datasets") or ()
    ]


def ome_units(ms: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(space unit, time unit) of a multiscales entry."""
    space = time = None
    for ax in ms.get("axes") or ():
        if not isinstance(ax, Mapping):
            continue
        if ax.get("type") == "space" and space is None:
            space = normalize_unit(ax.get("unit")) or ax.get("unit")
        if ax.get("type") == "time" and time is None:
            time = normalize_unit(ax.get("unit")) or ax.get("unit")
    return space, time


def ome_attrs_for(attrs: Mapping[str, Any], ome_version: str) -> dict[str, Any]:
    """The attributes with their OME-NGFF metadata moved to the layout of ``ome_version``.

    0.4 keeps ``multiscales`` (and ``omero``, ``labels``, ...) at the top level with a
    ``version`` in each multiscales entry; 0.5 nests them under ``"ome"`` with one
    ``version``. Attributes without OME metadata are returned unchanged.
    """
    attrs = dict(attrs)
    found = find_multiscale(attrs)
    if found is None or found[0] == ome_version:
        return attrs
    ome: dict[str, Any]
    if ome_version == "0.4":
        ome = dict(attrs.pop("ome"))
        ome.pop("version", None)
        ome["multiscales"] = [{**m, "version": "0.4"} for m in ome["multiscales"]]
        attrs.update(ome)
        return attrs
    ome = {"version": ome_version}
    for key in ("multiscales", "omero", "labels", "image-label", "plate", "well"):
        if key in attrs:
            ome[key] = attrs.pop(key)
    ome["multiscales"] = [
        {k: v for k, v in m.items() if k != "version"} for m in ome["multiscales"]
    ]
    attrs["ome"] = ome
    return attrs
