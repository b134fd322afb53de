"""TIFF input through tifffile: one TIFF file (multi-page, BigTIFF, OME-TIFF, ImageJ,
pyramidal), read lazily; compressed strips and tiles (LZW, Deflate, ZSTD, JPEG, ...) are
decoded by imagecodecs.

Reads are lazy: tifffile exposes the image as a Zarr store (``aszarr``) whose chunks
are the file's strips/tiles, so a block of the output reads only what it covers. A
pyramidal file is read at full resolution (level 0).

Axes come from tifffile (``series.axes``): ``X``, ``Y``, ``Z``, ``T``, ``C`` keep their
meaning, samples (``S``, e.g. RGB) become channels, and an anonymous page/file index
(``I``, ``Q``) becomes ``z`` (or ``t`` when the image already has a ``z``). Voxel sizes
and channel names are taken from OME-XML (``PhysicalSize*``, ``Channel/@Name``) or
ImageJ metadata (``spacing``, resolution, ``unit``) when present.

A file holding several images (series) is never read partly without saying so: without
``series=`` it is refused with the list of its series; ``series=N`` reads one.
Every strip/tile of the chosen image must lie inside the file (a truncated file is
refused at open, not read as zeros).
"""

from __future__ import annotations

import glob
import os
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..errors import CorruptDataError
from .slices import read_slices
from .tiff_common import (  # re-exported: the readers import them from here
    _imagej_sizes,
    _natural_key,
    check_log,
    is_glob,
    quiet_tifffile,
)
from .volume import CANONICAL_AXES, SPATIAL_AXES, Volume, normalize_unit

SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".gtif", ".ome.tif", ".ome.tiff")
OPTIONS = frozenset({"series"})
_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def sniff(path: str) -> bool:
    """A TIFF file (classic or BigTIFF magic), but not a DICOM file whose 128-byte
    preamble happens to start like a TIFF (DICOM's "DICM" at byte 128 wins)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            head = f.read(132)
        return head[:4] in _MAGIC and head[128:132] != b"DICM"
    except Exception:
        return False


TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".gtif")

#: Length units in metres, to express all spatial sizes in one unit.
_METRES = {
    "meter": 1.0, "centimeter": 1e-2, "millimeter": 1e-3, "micrometer": 1e-6,
    "nanometer": 1e-9, "picometer": 1e-12, "angstrom": 1e-10,
}


def is_tiff_name(path: str | os.PathLike) -> bool:
    """Whether ``path`` has a TIFF file name."""
    return str(path).lower().endswith(TIFF_SUFFIXES)



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


def _ome_pixels(xml: str, image: int = 0) -> Any:
    """The ``Pixels`` element of OME-XML ``Image`` number ``image`` (``None`` if absent)."""
    root = ET.fromstring(xml)
    images = [el for el in root if el.tag.endswith("}Image") or el.tag == "Image"]
    if not images:
        return None
    node = images[min(image, len(images) - 1)]
    return next((el for el in node if el.tag.endswith("}Pixels") or el.tag == "Pixels"), None)


def _ome_channel_names(xml: str, image: int = 0) -> tuple[str, ...] | None:
    """Channel names of OME-XML ``Image`` number ``image`` (``None`` when unnamed)."""
    pixels = _ome_pixels(xml, image)
    if pixels is None:
        return None
    names = [el.get("Name") for el in pixels if el.tag.endswith("}Channel") or el.tag == "Channel"]
    if not names or not all(names):
        return None
    return tuple(str(n) for n in names)


def _ome_sizes(
    xml: str, image: int = 0
) -> tuple[dict[str, float], str | None, float | None, str | None]:
    """PhysicalSize{X,Y,Z} (in one unit) and the time increment from OME-XML."""
    pixels = _ome_pixels(xml, image)
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



def _describe_series(tif: Any) -> str:
    parts = []
    for i, s in enumerate(tif.series):
        shape = "x".join(str(n) for n in s.shape)
        label = f" {s.name!r}" if getattr(s, "name", "") else ""
        parts.append(f"{i}:{label} {shape} {s.dtype} ({s.axes})")
    return "; ".join(parts)


def series_count(path: str) -> int:
    """How many images (series) the TIFF file ``path`` holds."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return len(tif.series)


def _check_inside(tif: Any, series: Any, where: str) -> None:
    """Refuse a file whose strips/tiles of ``series`` (level 0) end past its end."""
    size = tif.filehandle.size
    for page in series.pages:
        if page is None:
            continue
        offsets = getattr(page, "dataoffsets", ()) or ()
        counts = getattr(page, "databytecounts", ()) or ()
        for off, n in zip(offsets, counts):
            if off + n > size:
                raise CorruptDataError(
                    f"{where} is truncated: image data at byte {off}+{n} lies past its "
                    f"end ({size} bytes); the file is incomplete - copy it again"
                )


def read_tiff(path: str | os.PathLike, *, series: int | str | None = None) -> Volume:
    """Open one TIFF file lazily (a folder or glob of slices: :mod:`unizarr.readers.slices`).

    Parameters
    ----------
    path : str or os.PathLike
        The TIFF file.
    series : int, optional
        Which image of a multi-image file to read; required when there are several.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CorruptDataError
        Image data past the end of the file (truncated).
    ValueError
        Not a TIFF tifffile can read, several series and no ``series``, a ``series``
        out of range, or axes that do not map to t, c, z, y, x.
    """
    import tifffile
    import zarr

    path_s = str(path)
    if os.path.isdir(path_s) or (is_glob(path_s) and not os.path.exists(path_s)):
        return read_slices(path_s)
    if not os.path.exists(path_s):
        raise FileNotFoundError(f"no such file: {path_s}")
    closers: list[Any] = []
    sizes: dict[str, float] = {}
    unit: str | None = None
    time_scale: float | None = None
    time_unit: str | None = None
    channel_names: tuple[str, ...] | None = None
    try:
        with quiet_tifffile() as log:
            tif = tifffile.TiffFile(path_s)
            closers.append(tif.close)
            n = len(tif.series)
            _ = [s.shape for s in tif.series]
        check_log(log, path_s)
        if n == 0:
            raise ValueError("no image in the file")
        index = _pick_series(series, n, tif, path_s)
        chosen = tif.series[index]
        _check_inside(tif, chosen, path_s)
        store = chosen.aszarr(level=0)
        tiff_axes = chosen.axes
        if tif.is_ome and tif.ome_metadata:
            sizes, unit, time_scale, time_unit = _ome_sizes(tif.ome_metadata, index)
            channel_names = _ome_channel_names(tif.ome_metadata, index)
        elif tif.is_imagej:
            sizes, unit = _imagej_sizes(tif)
        name = re.sub(r"(\.ome)?\.[^.]+$", "", Path(path_s).name, flags=re.I)
        if n > 1:
            name = f"{name} series {index}"
        fmt = "OME-TIFF" if tif.is_ome else "ImageJ TIFF" if tif.is_imagej else "TIFF"
        if tif.is_bigtiff:
            fmt = f"{fmt} (BigTIFF)"
        closers.append(store.close)
        source = zarr.open_array(store, mode="r")
    except (FileNotFoundError, CorruptDataError):
        for close in reversed(closers):
            close()
        raise
    except _SeriesError as exc:
        for close in reversed(closers):
            close()
        raise ValueError(str(exc)) from None
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
    if channel_names is not None and (
        "c" not in axes or len(channel_names) != source.shape[perm[axes.index("c")]]
    ):
        channel_names = None  # names that do not match the channel axis are not trusted
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
        channel_names=channel_names,
        _closers=closers,
    )


class _SeriesError(Exception):
    """A ``series`` choice that does not fit the file (reported as ValueError)."""


def _pick_series(series: int | str | None, n: int, tif: Any, where: str) -> int:
    if series is None or series == "":
        if n > 1:
            raise _SeriesError(
                f"{where} holds {n} images (series {_describe_series(tif)}); choose one "
                "with --series N, or convert each with --series all"
            )
        return 0
    try:
        index = int(series)
    except (TypeError, ValueError):
        raise _SeriesError(
            f"--series {series!r} for {where}: give a series number 0..{n - 1} or 'all'"
        ) from None
    if not 0 <= index < n:
        raise _SeriesError(
            f"--series {index} for {where}: the file holds series 0..{n - 1} "
            f"({_describe_series(tif)})"
        )
    return index


def open_volume(path: str, *, series: int | str | None = None, **options: Any) -> Volume:
    """Registry entry: :func:`read_tiff`."""
    return read_tiff(path, series=series)
