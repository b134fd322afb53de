"""TIFF input through tifffile: one (multi-page, OME or ImageJ) TIFF file, or a stack of
2-D TIFF files given as a directory or a glob pattern.

Reads are lazy: tifffile exposes the image as a Zarr store (``aszarr``) whose chunks
are the file's strips/tiles (or, for a stack, its files), so a block of the output reads
only the pages and strips it covers.

Axes come from tifffile (``series.axes``): ``X``, ``Y``, ``Z``, ``T``, ``C`` keep their
meaning, samples (``S``, e.g. RGB) become channels, and an anonymous page/file index
(``I``, ``Q``) becomes ``z`` (or ``t`` when the image already has a ``z``). Voxel sizes
are taken from OME-XML (``PhysicalSize*``) or ImageJ metadata (``spacing``, resolution,
``unit``) when present.
"""

from __future__ import annotations

import glob
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .volume import CANONICAL_AXES, SPATIAL_AXES, Volume, normalize_unit

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".gtif")

#: Length units in metres, to express all spatial sizes in one unit.
_METRES = {
    "meter": 1.0, "centimeter": 1e-2, "millimeter": 1e-3, "micrometer": 1e-6,
    "nanometer": 1e-9, "picometer": 1e-12, "angstrom": 1e-10,
}


def is_tiff_name(path: str | os.PathLike) -> bool:
    """Whether ``path`` has a TIFF file name."""
    return str(path).lower().endswith(TIFF_SUFFIXES)


def is_glob(path: str) -> bool:
    """Whether ``path`` is a glob pattern rather than a file name."""
    return any(ch in str(path) for ch in "*?[")


def _natural_key(name: str) -> list[Any]:
    # "z2" before "z10", as a person numbering slices expects.
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def stack_files(path: str | os.PathLike) -> list[str]:
    """The 2-D TIFF files of a directory or glob pattern, in natural order.

    Raises
    ------
    FileNotFoundError
        No TIFF file matches.
    """
    path = str(path)
    if is_glob(path):
        files = [f for f in glob.glob(path) if os.path.isfile(f)]
    else:
        files = [
            os.path.join(path, f) for f in os.listdir(path)
            if is_tiff_name(f) and not f.startswith(".")
        ]
    if not files:
        raise FileNotFoundError(f"no TIFF files match {path}")
    return sorted(files, key=lambda f: _natural_key(os.path.basename(f)))


def _map_axes(tiff_axes: str, where: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """tifffile axis letters -> (output axes in t,c,z,y,x order, permutation)."""
    names: list[str] = []
    for letter in tiff_axes.upper():
        if letter in "XYZTC":
            name = letter.lower()
        elif letter == "S":
            name = "c"
        elif letter in "IQ":
            name = "z" if "z" not in names and "Z" not in tiff_axes.upper() else "t"
        else:
            raise ValueError(
                f"{where} has a TIFF axis {letter!r} (axes {tiff_axes!r}) that unizarr "
                "cannot map to t, c, z, y, x"
            )
        if name in names:
            raise ValueError(
                f"{where} has axes {tiff_axes!r}: two of them map to {name!r}"
            )
        names.append(name)
    ordered = tuple(a for a in CANONICAL_AXES if a in names)
    if "y" not in ordered or "x" not in ordered:
        raise ValueError(f"{where} has axes {tiff_axes!r}; an image needs Y and X")
    return ordered, tuple(names.index(a) for a in ordered)


def _ome_sizes(xml: str) -> tuple[dict[str, float], str | None, float | None, str | None]:
    """PhysicalSize{X,Y,Z} (in one unit) and the time increment from OME-XML."""
    root = ET.fromstring(xml)
    pixels = next(
        (el for el in root.iter() if el.tag.endswith("}Pixels") or el.tag == "Pixels"), None
    )
    if pixels is None:
        return {}, None, None, None
    sizes: dict[str, float] = {}
    unit = None
    for axis in "XYZ":
        value = pixels.get(f"PhysicalSize{axis}")
        if value is None:
            continue
        # OME's default length unit is the micrometre.
        this_unit = normalize_unit(pixels.get(f"PhysicalSize{axis}Unit", "µm")) or "micrometer"
        unit = unit or this_unit
        factor = _METRES.get(this_unit, 1.0) / _METRES.get(unit, 1.0)
        sizes[axis.lower()] = float(value) * factor
    dt = pixels.get("TimeIncrement")
    time_unit = normalize_unit(pixels.get("TimeIncrementUnit", "s")) if dt else None
    return sizes, unit, float(dt) if dt else None, time_unit


def _imagej_sizes(tif: Any) -> tuple[dict[str, float], str | None]:
    """Voxel sizes of an ImageJ TIFF: ``spacing`` for z, the resolution tags for x/y."""
    meta = tif.imagej_metadata or {}
    sizes: dict[str, float] = {}
    tags = tif.pages[0].tags
    for axis, tag in (("x", "XResolution"), ("y", "YResolution")):
        if tag in tags:
            num, den = tags[tag].value
            if num > 0 and den > 0:
                sizes[axis] = den / num  # the tag is pixels per unit
    if meta.get("spacing"):
        sizes["z"] = float(meta["spacing"])
    unit = meta.get("unit")
    if isinstance(unit, str):
        unit = unit.encode().decode("unicode_escape") if "\\u" in unit else unit
    return sizes, normalize_unit(unit)


def read_tiff(path: str | os.PathLike) -> Volume:
    """Open a TIFF file, a directory of 2-D TIFFs or a glob of them, lazily.

    Raises
    ------
    FileNotFoundError
        The file, directory or pattern matches nothing.
    ValueError
        Not a TIFF tifffile can read, or axes that do not map to t, c, z, y, x.
    """
    import tifffile
    import zarr

    path_s = str(path)
    is_stack = is_glob(path_s) or os.path.isdir(path_s)
    if not is_stack and not os.path.exists(path_s):
        raise FileNotFoundError(f"no such file: {path_s}")
    closers: list[Any] = []
    sizes: dict[str, float] = {}
    unit: str | None = None
    time_scale: float | None = None
    time_unit: str | None = None
    try:
        if is_stack:
            files = stack_files(path_s)
            seq = tifffile.TiffSequence(files, pattern=None)
            closers.append(seq.close)
            store = seq.aszarr()
            tiff_axes = seq.axes + _first_series_axes(files[0])
            with tifffile.TiffFile(files[0]) as first:
                if first.is_imagej:
                    sizes, unit = _imagej_sizes(first)
            name = Path(files[0]).resolve().parent.name
            fmt = f"TIFF stack of {len(files)} files"
        else:
            tif = tifffile.TiffFile(path_s)
            closers.append(tif.close)
            series = tif.series[0]
            store = series.aszarr(level=0)
            tiff_axes = series.axes
            if tif.is_ome and tif.ome_metadata:
                sizes, unit, time_scale, time_unit = _ome_sizes(tif.ome_metadata)
            elif tif.is_imagej:
                sizes, unit = _imagej_sizes(tif)
            name = re.sub(r"(\.ome)?\.[^.]+$", "", Path(path_s).name, flags=re.I)
            fmt = "OME-TIFF" if tif.is_ome else "ImageJ TIFF" if tif.is_imagej else "TIFF"
        closers.append(store.close)
        source = zarr.open_array(store, mode="r")
    except FileNotFoundError:
        for close in reversed(closers):
            close()
        raise
    except Exception as exc:  # tifffile's TiffFileError (a ValueError), struct errors, ...
        for close in reversed(closers):
            close()
        raise ValueError(f"cannot read {path_s} as TIFF: {exc}") from None
    try:
        axes, perm = _map_axes(tiff_axes, path_s)
    except ValueError:
        for close in reversed(closers):
            close()
        raise
    space = tuple(sizes.get(a, 1.0) for a in axes if a in SPATIAL_AXES)
    return Volume(
        source=source,
        axes=axes,
        perm=perm,
        space_scale=space,
        space_unit=unit,
        time_scale=time_scale or 1.0,
        time_unit=time_unit,
        name=name,
        format=fmt,
        _closers=closers,
    )


def _first_series_axes(file: str) -> str:
    import tifffile

    with tifffile.TiffFile(file) as tif:
        return tif.series[0].axes
