"""NIfTI-1/2 input (``.nii``, ``.nii.gz``) through nibabel, read lazily and verified.

Axis order follows nifti-zarr (``niizarr.nii2zarr``), the reference of the NIfTI-Zarr
format: NIfTI stores (x, y, z, t, c) with x varying fastest, and the Zarr array is the
reverse for the spatial axes, with time and channels in front:

=========  ===================  ==================
NIfTI dim  NIfTI axes           Zarr axes
=========  ===================  ==================
3          x, y, z              z, y, x
4          x, y, z, t           t, z, y, x
5          x, y, z, t, c        t, c, z, y, x
=========  ===================  ==================

so ``zarr[t, c, k, j, i] == nifti[i, j, k, t, c]``. The stored values are the *raw*
(unscaled) voxels in the file's data type; ``scl_slope``/``scl_inter`` stay in the
NIfTI header, as nifti-zarr does, so nothing is lost to a float conversion.

A ``.nii`` must hold every voxel its header announces (a truncated file is refused at
open). A ``.nii.gz`` is decompressed once, from start to end, with its gzip checksums
verified (:mod:`unizarr.readers.gzip_spill`): a damaged file is refused before anything
is written from it, and the conversion then reads the voxels in linear time.
"""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from ..axes import default_axes
from ..errors import CorruptDataError
from .gzip_spill import decompress_verified
from .volume import Volume, normalize_unit

SUFFIXES = (".nii", ".nii.gz")
OPTIONS: frozenset[str] = frozenset()

#: NIfTI dims -> permutation from NIfTI axes to Zarr axes (niizarr's ``perm``).
_PERM = {3: (2, 1, 0), 4: (3, 2, 1, 0), 5: (3, 4, 2, 1, 0)}
_AXES = {n: default_axes(n) for n in (3, 4, 5)}  # the convention of unizarr.axes


def is_nifti_name(path: str | os.PathLike) -> bool:
    """Whether ``path`` has a NIfTI file name (``.nii`` or ``.nii.gz``)."""
    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _head(path: str, n: int) -> bytes:
    """The first ``n`` (uncompressed) bytes of a regular file; b"" when unreadable."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""  # a FIFO would block the sniff
        with open(path, "rb") as f:
            head = f.read(n)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                head = g.read(n)
        return head
    except Exception:  # sniffing never raises
        return b""


def sniff(path: str) -> bool:
    """A single-file NIfTI-1 (``n+1``) or NIfTI-2 (``n+2``) image, plain or gzipped.

    NIfTI pairs (``ni1``, ``.hdr``/``.img``) are the ``nibabel`` reader's."""
    head = _head(path, 352)
    return head[344:348] == b"n+1\x00" or head[4:8] == b"n+2\x00"


def read_nifti(path: str | os.PathLike) -> Volume:
    """Open a NIfTI file as a lazy :class:`~unizarr.readers.volume.Volume`.

    Voxel sizes (``pixdim``) become the spatial scales in (z, y, x) order, the
    ``xyzt_units`` become OME units (unknown spatial units are taken as millimetres,
    NIfTI's customary unit), and the header is kept for the NIfTI-Zarr ``nifti`` member;
    the affine is the header's best one (sform, else qform).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CorruptDataError
        A truncated file, or a ``.nii.gz`` whose gzip data or checksum is damaged.
    ValueError
        ``path`` is not a NIfTI file nibabel can read, or has fewer than 3 or more
        than 5 dimensions.
    """
    import nibabel as nib
    from nibabel.arrayproxy import ArrayProxy

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises ImageFileError, struct / gzip errors, ...
        raise ValueError(f"cannot read {path} as NIfTI: {exc}") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ValueError(f"{path} is a {type(img).__name__}, not a NIfTI-1/2 image")
    header = img.header.copy()
    shape = tuple(int(n) for n in img.shape)
    if not 3 <= len(shape) <= 5:
        raise ValueError(
            f"{path} has {len(shape)} dimensions; NIfTI-Zarr holds 3-D to 5-D images"
        )
    # nibabel annotates dataobj as a numpy ArrayLike; for a file image it is an
    # ArrayProxy (slope, inter, offset, file_like), which is what is read here.
    proxy: Any = img.dataobj
    # nibabel consumes scl_slope/scl_inter into the proxy when loading; put them back
    # into the header (as niizarr does) and read the raw values, so the stored voxels
    # are exactly the file's.
    header.set_slope_inter(proxy.slope, proxy.inter)
    dtype = np.dtype(proxy.dtype)
    end = int(proxy.offset) + int(np.prod(shape)) * dtype.itemsize
    closers: list[Any] = []
    source: Any
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if gzipped:
        spilled = decompress_verified(str(path), expected=end)
        closers.append(spilled.close)
        source = np.memmap(spilled, dtype=dtype, mode="r", offset=int(proxy.offset),
                           shape=shape, order="F")
    else:
        size = path.stat().st_size
        if size < end:
            raise CorruptDataError(
                f"{path} is truncated: {size} bytes, its header announces {end} "
                f"({'x'.join(map(str, shape))} {dtype}); the file is incomplete - copy it again"
            )
        source = ArrayProxy(proxy.file_like, (shape, dtype, proxy.offset, 1.0, 0.0))

    # A zero or negative pixdim (sloppy writers) is no usable scale; 1 keeps OME valid.
    zooms = [float(z) if z > 0 else 1.0 for z in header.get_zooms()] + [1.0] * 5
    space_unit, time_unit = header.get_xyzt_units()
    name = Path(path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name).stem
    return Volume(
        source=source,
        axes=_AXES[len(shape)],
        perm=_PERM[len(shape)],
        space_scale=(zooms[2], zooms[1], zooms[0]),
        space_unit=normalize_unit(space_unit) or "millimeter",
        time_scale=zooms[3],
        time_unit=normalize_unit(time_unit) or "second",
        nifti_header=header,
        name=name,
        format="NIfTI-2" if isinstance(img, nib.Nifti2Image) else "NIfTI-1",
        affine=np.asarray(img.affine, dtype=float),
        _closers=closers,
    )


def open_volume(path: str, **options: Any) -> Volume:
    """Registry entry: :func:`read_nifti` (NIfTI takes no options)."""
    return read_nifti(path)
