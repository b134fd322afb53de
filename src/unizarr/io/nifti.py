"""NIfTI-1/2 input (``.nii``, ``.nii.gz``) through nibabel, read lazily.

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
"""

from __future__ import annotations

import os
from pathlib import Path

from .volume import Volume, normalize_unit

#: NIfTI dims -> permutation from NIfTI axes to Zarr axes (niizarr's ``perm``).
_PERM = {3: (2, 1, 0), 4: (3, 2, 1, 0), 5: (3, 4, 2, 1, 0)}
_AXES = {3: ("z", "y", "x"), 4: ("t", "z", "y", "x"), 5: ("t", "c", "z", "y", "x")}


def is_nifti_name(path: str | os.PathLike) -> bool:
    """Whether ``path`` has a NIfTI file name (``.nii`` or ``.nii.gz``)."""
    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def read_nifti(path: str | os.PathLike) -> Volume:
    """Open a NIfTI file as a lazy :class:`~unizarr.io.volume.Volume`.

    Voxel sizes (``pixdim``) become the spatial scales in (z, y, x) order, the
    ``xyzt_units`` become OME units (unknown spatial units are taken as millimetres,
    NIfTI's customary unit), and the header is kept for the NIfTI-Zarr ``nifti`` member.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
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
    proxy = img.dataobj
    # nibabel consumes scl_slope/scl_inter into the proxy when loading; put them back
    # into the header (as niizarr does) and read the raw values with a proxy that does
    # not scale, so the stored voxels are exactly the file's.
    header.set_slope_inter(proxy.slope, proxy.inter)
    raw = ArrayProxy(proxy.file_like, (shape, proxy.dtype, proxy.offset, 1.0, 0.0))

    # A zero or negative pixdim (sloppy writers) is no usable scale; 1 keeps OME valid.
    zooms = [float(z) if z > 0 else 1.0 for z in header.get_zooms()] + [1.0] * 5
    space_unit, time_unit = header.get_xyzt_units()
    name = Path(path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name).stem
    return Volume(
        source=raw,
        axes=_AXES[len(shape)],
        perm=_PERM[len(shape)],
        space_scale=(zooms[2], zooms[1], zooms[0]),
        space_unit=normalize_unit(space_unit) or "millimeter",
        time_scale=zooms[3],
        time_unit=normalize_unit(time_unit) or "second",
        nifti_header=header,
        name=name,
        format="NIfTI-2" if isinstance(img, nib.Nifti2Image) else "NIfTI-1",
    )
