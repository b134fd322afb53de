"""Zarr and OME-Zarr input (local, ``s3://``, ``gs://``, ``http(s)://``).

An OME-Zarr group is read at its first (finest) multiscale level with its axes, scales,
units and channel labels; a group with a NIfTI-Zarr ``nifti`` member also brings its
header. A plain group is read at its array ``"0"`` (or its only array); a Zarr array is
read as is.
"""

from __future__ import annotations

import os
from typing import Any

from ..core import ZarrArray, ZarrGroup
from ..nifti import read_nifti_header
from ..ome import find_multiscale
from .volume import SPATIAL_AXES, Volume, default_axes
from .zarr_store import ZARR_MARKERS, ome_axes, ome_level_scales, ome_units, open_zarr

SUFFIXES = (".zarr", ".zarr/")
OPTIONS = frozenset({"driver", "storage_options", "no_time"})


def sniff(path: str) -> bool:
    """A local directory holding Zarr metadata (v2 or v3), or a URL."""
    try:
        if "://" in path and not path.startswith("file://"):
            return True
        path = path[len("file://"):] if path.startswith("file://") else path
        return os.path.isdir(path) and any(
            os.path.isfile(os.path.join(path, m)) for m in ZARR_MARKERS
        )
    except Exception:
        return False


def open_volume(path: str, **options: Any) -> Volume:
    """Registry entry: :func:`read_zarr`."""
    return read_zarr(
        path, driver=options.get("driver"), storage_options=options.get("storage_options"),
        no_time=bool(options.get("no_time", False)),
    )


def read_zarr(
    url: str | os.PathLike,
    *,
    driver: str | None = None,
    storage_options: dict[str, Any] | None = None,
    no_time: bool = False,
) -> Volume:
    """Open a Zarr group or array as a lazy :class:`~unizarr.readers.volume.Volume`.

    Raises
    ------
    FileNotFoundError
        Nothing Zarr at ``url``.
    ValueError
        A group with no array to convert.
    """
    node = open_zarr(url, "r", driver=driver, storage_options=storage_options)
    base = os.path.basename(str(url).rstrip("/"))
    name = base.split(".")[0] or base
    if isinstance(node, ZarrArray):
        return Volume(
            source=node, axes=default_axes(node.ndim, no_time), name=name,
            format=f"Zarr v{node.zarr_version} array",
        )
    if not isinstance(node, ZarrGroup):  # pragma: no cover - a node is one or the other
        raise ValueError(f"{url} is neither a Zarr group nor an array")
    group = node
    found = find_multiscale(group.attrs.asdict())
    header = None
    if "nifti" in group.keys():
        header = read_nifti_header(group)
    if found is not None:
        version, ms = found
        path = str(ms["datasets"][0]["path"])
        arr = group[path]
        if not isinstance(arr, ZarrArray):
            raise ValueError(f"OME level {path!r} of {url} is not an array")
        axes = ome_axes(ms, arr.ndim)
        scales = ome_level_scales(ms, arr.ndim)
        scale0 = scales[0] if scales else [1.0] * arr.ndim
        space_unit, time_unit = ome_units(ms)
        return Volume(
            source=arr,
            axes=axes,
            space_scale=tuple(s for s, a in zip(scale0, axes) if a in SPATIAL_AXES),
            space_unit=space_unit,
            time_scale=next((s for s, a in zip(scale0, axes) if a == "t"), 1.0),
            time_unit=time_unit,
            nifti_header=header,
            name=str(ms.get("name") or name),
            format=f"OME-Zarr {version} (Zarr v{group.zarr_version})",
        )
    arrays = [n for n in group.keys() if isinstance(group[n], ZarrArray) and n != "nifti"]
    pick = "0" if "0" in arrays else arrays[0] if len(arrays) == 1 else None
    if pick is None:
        raise ValueError(
            f"{url} is a Zarr group without OME multiscales, an array '0' or a single "
            f"array ({len(arrays)} arrays); give the path of the array to convert"
        )
    arr = group[pick]
    if not isinstance(arr, ZarrArray):  # listed as an array just above
        raise ValueError(f"{url}/{pick} is not an array")
    return Volume(
        source=arr,
        axes=default_axes(arr.ndim, no_time),
        nifti_header=header,
        name=name,
        format=f"Zarr v{group.zarr_version} group",
    )
