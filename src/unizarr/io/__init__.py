"""Input readers for ``unizarr convert``: NIfTI, TIFF, NumPy and Zarr, all lazy.

:func:`open_input` picks the reader from the path and returns a
:class:`~unizarr.io.volume.Volume`: the voxels (read block by block on demand), their
axes in Zarr order and the physical metadata (voxel sizes, units, NIfTI header).

Modules: ``volume`` (the ``Volume`` type), ``nifti``, ``tiff``, ``npy``, ``zarr`` (the
readers); and the library side of the other commands: ``blockwise`` (out-of-core block
copy), ``report`` (``info`` / ``validate``), ``tree_copy`` (``copy``), ``preview``.

>>> from unizarr.io import open_input
>>> with open_input("brain.nii.gz") as vol:            # doctest: +SKIP
...     vol.shape, vol.axes, vol.space_scale
((25, 41, 33), ('z', 'y', 'x'), (2.0, 2.0, 2.0))
"""

from __future__ import annotations

import os
from typing import Any

from .nifti import is_nifti_name, read_nifti
from .npy import read_npy
from .tiff import is_glob, is_tiff_name, read_tiff
from .volume import Volume, default_axes, normalize_unit
from .zarr import is_zarr_dir, open_zarr, read_zarr

#: Formats :func:`open_input` understands, for messages and ``--help``.
FORMATS = ("nifti", "tiff", "npy", "zarr")


def _sniff(path: str) -> str | None:
    """Recognise a file by its first bytes when its name does not say what it is."""
    with open(path, "rb") as f:
        head = f.read(352)
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[344:348] in (b"n+1\x00", b"ni1\x00") or head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return "nifti"
    if head[:2] == b"\x1f\x8b":  # gzip: NIfTI is the only gzipped input we take
        return "nifti"
    return None


def detect_format(path: str | os.PathLike) -> str:
    """Which reader handles ``path``: ``"nifti"``, ``"tiff"``, ``"npy"`` or ``"zarr"``.

    Raises
    ------
    FileNotFoundError
        A local path that does not exist.
    ValueError
        A file or directory of no supported format.
    """
    path = os.fspath(path)
    if "://" in path and not path.startswith("file://"):
        return "zarr"  # remote inputs are Zarr stores
    path = path[len("file://"):] if path.startswith("file://") else path
    if is_glob(path) and not os.path.exists(path):
        return "tiff"
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or directory: {path}")
    if os.path.isdir(path):
        if is_zarr_dir(path):
            return "zarr"
        if any(is_tiff_name(f) for f in os.listdir(path)):
            return "tiff"
        raise ValueError(
            f"{path} is a directory with neither Zarr metadata nor TIFF files"
        )
    if is_nifti_name(path):
        return "nifti"
    if is_tiff_name(path):
        return "tiff"
    if path.lower().endswith(".npy"):
        return "npy"
    fmt = _sniff(path)
    if fmt is None:
        raise ValueError(
            f"unsupported input format: {path} (expected NIfTI .nii/.nii.gz, TIFF, "
            ".npy or a Zarr store)"
        )
    return fmt


def open_input(
    path: str | os.PathLike,
    *,
    driver: str | None = None,
    storage_options: dict[str, Any] | None = None,
    no_time: bool = False,
) -> Volume:
    """Open any supported input lazily (see :func:`detect_format`).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.nii``/``.nii.gz`` file, a TIFF file, a directory or glob of 2-D TIFFs, a
        ``.npy`` file, or a Zarr group/array (local path or URL).
    driver : str, optional
        unizarr driver used to read a Zarr input.
    storage_options : dict, optional
        Credentials/endpoint of a remote Zarr input.
    no_time : bool
        A 4-D input without axis metadata (``.npy``, plain Zarr) is (c, z, y, x)
        rather than (t, z, y, x).

    Raises
    ------
    FileNotFoundError
        The input does not exist.
    ValueError
        The input cannot be read, or is not a 2-D to 5-D image.
    """
    fmt = detect_format(path)
    if fmt == "nifti":
        vol = read_nifti(path)
    elif fmt == "tiff":
        vol = read_tiff(path)
    elif fmt == "npy":
        vol = read_npy(path, no_time=no_time)
    else:
        vol = read_zarr(path, driver=driver, storage_options=storage_options, no_time=no_time)
    vol = vol.with_z()
    if not 2 <= vol.ndim <= 5:
        vol.close()
        raise ValueError(f"{path} is {vol.ndim}-D; unizarr converts 2-D to 5-D images")
    return vol


__all__ = [
    "FORMATS",
    "Volume",
    "default_axes",
    "detect_format",
    "normalize_unit",
    "open_input",
    "open_zarr",
    "read_nifti",
    "read_npy",
    "read_tiff",
    "read_zarr",
]
