"""Input readers for ``unizarr convert``: one module per input family, each returning a
lazy :class:`~unizarr.readers.volume.Volume` (axes, voxel sizes, units, channel names, affine).

Built-in readers: ``nifti`` (.nii, .nii.gz), ``tiff`` (TIFF, BigTIFF, OME-TIFF, ImageJ),
``slices`` (folders or globs of 2-D TIFF/PNG/JPEG 2000 slices, with ``pattern=``),
``npy``, ``zarr`` (Zarr / OME-Zarr, local or remote), and, when installed, ``dicom``,
``imaris``, ``nibabel`` (MGH, MINC, PAR/REC, Analyze, NIfTI pairs) and the vendor
formats ``czi``, ``nd2``, ``lif``. Others plug in through the entry-point group
``unizarr.readers`` (see :mod:`unizarr.readers.registry`).

>>> from unizarr.readers import open_input
>>> with open_input("brain.nii.gz") as vol:            # doctest: +SKIP
...     vol.shape, vol.axes, vol.space_scale
((25, 41, 33), ('z', 'y', 'x'), (2.0, 2.0, 2.0))
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

from .registry import (
    BUILTIN_READERS,
    ENTRY_POINT_GROUP,
    ReaderUnavailableError,
    detect_reader,
    load_reader,
    open_volume,
    reader_paths,
)

if TYPE_CHECKING:
    from .volume import Volume

#: The built-in reader names, for messages and ``--help``.
FORMATS = tuple(BUILTIN_READERS)


def detect_format(path: str | os.PathLike) -> str:
    """The name of the reader that handles ``path`` (see :func:`detect_reader`)."""
    return detect_reader(path)


def count_series(path: str | os.PathLike, reader: str | None = None) -> int:
    """How many images (series) ``path`` holds, for ``series="all"``.

    Raises
    ------
    ValueError
        The input's reader reads one image only.
    """
    path = os.fspath(path)
    _refuse_streams(path)
    name = reader or detect_reader(path)
    impl = load_reader(name)
    counter = getattr(impl, "series_count", None)
    if counter is None:
        raise ValueError(
            f"--series all does not apply to {path}: the {name!r} reader reads one image"
        )
    return int(counter(path))


def fit_to_budget(vol: Volume, max_memory: int) -> None:
    """Size what the reader of ``vol`` keeps in memory (the slice folders' decoded-slice
    cache) from a conversion's ``max_memory``; readers that keep nothing are left alone.
    """
    source: Any = vol.source
    while source is not None:  # through wrappers such as Volume.with_z's trailing axis
        setter = getattr(source, "set_memory_budget", None)
        if callable(setter):
            setter(int(max_memory))
            return
        source = getattr(source, "source", None)


def _refuse_streams(path: str) -> None:
    """A FIFO, socket or character device (``<(zcat ...)``, ``/dev/stdin``) can be read
    once, front to back; conversion reads regions in any order, and ``--resume`` and
    cluster workers read the input again."""
    if "://" in path:
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
        kind = "a pipe (FIFO)" if stat.S_ISFIFO(mode) else (
            "a socket" if stat.S_ISSOCK(mode) else "a character device"
        )
        raise ValueError(
            f"{path} is {kind}; unizarr reads its input in any order and more than once: "
            "save the data to a regular file first"
        )


def open_input(
    path: str | os.PathLike,
    *,
    reader: str | None = None,
    driver: str | None = None,
    storage_options: dict[str, Any] | None = None,
    no_time: bool = False,
    series: int | str | None = None,
    pattern: str | None = None,
) -> Volume:
    """Open any supported input lazily, as a 2-D to 5-D volume in Zarr axis order.

    Parameters
    ----------
    path : str or os.PathLike
        A file, a directory or glob of 2-D slices, or a Zarr group/array (path or URL).
    reader : str, optional
        Force this reader (``"nifti"``, ``"tiff"``, ...); detected from the content
        (then the name) when ``None``.
    driver, storage_options
        How to read a Zarr input (unizarr driver; remote credentials/endpoint).
    no_time : bool
        A 4-D input without axis metadata (``.npy``, plain Zarr) is (c, z, y, x)
        rather than (t, z, y, x).
    series : int, optional
        The image of a multi-image file (TIFF) to read.
    pattern : str, optional
        How slice file names map to axes (see :mod:`unizarr.readers.slices`).

    Raises
    ------
    FileNotFoundError
        The input does not exist.
    CorruptDataError
        The input is truncated or its checksums do not match.
    ValueError
        The input cannot be read, is a pipe, or is not a 2-D to 5-D image.
    """
    path = os.fspath(path)
    _refuse_streams(path)
    vol = open_volume(
        path, reader, driver=driver, storage_options=storage_options,
        no_time=no_time or None, series=series, pattern=pattern,
    ).with_z()
    if not 2 <= vol.ndim <= 5:
        vol.close()
        raise ValueError(f"{path} is {vol.ndim}-D; unizarr converts 2-D to 5-D images")
    return vol


__all__ = [
    "BUILTIN_READERS",
    "ENTRY_POINT_GROUP",
    "FORMATS",
    "ReaderUnavailableError",
    "count_series",
    "detect_format",
    "detect_reader",
    "fit_to_budget",
    "load_reader",
    "open_input",
    "open_volume",
    "reader_paths",
]
