"""The other image formats nibabel reads: NIfTI-1/2 pairs (``.hdr``/``.img``), Analyze
7.5 (and SPM's variants), FreeSurfer MGH/MGZ, MINC-1/MINC-2, Philips PAR/REC and AFNI
BRIK/HEAD - read lazily through nibabel's array proxies.

Detection is nibabel's own: each image class checks the file name and, where the format
has one, the header's magic bytes (``sizeof_hdr``/NIfTI magic, the MGH version, the
NetCDF or HDF5 signature of MINC).

Axes
    As for NIfTI (and nifti-zarr): nibabel's array is indexed (i, j, k[, t[, c]]) and the
    output is (t, c, z, y, x) with ``out[..., k, j, i] == img[i, j, k, ...]``. MINC files
    whose first dimension is ``time`` are handled by name. ``Volume.affine`` is
    ``img.affine`` (i, j, k -> RAS+ millimetres) and the spatial voxel sizes are
    nibabel's zooms, in millimetres.

Values
    * NIfTI pairs keep their stored voxels; ``scl_slope``/``scl_inter`` are recorded in
      the NIfTI header carried into the output (as for ``.nii``), where NIfTI viewers
      apply them.
    * Every other format is read as nibabel presents it: when nibabel scales the values
      (MINC's per-slice image-min/max, PAR/REC's per-slice rescale, SPM Analyze's scale
      factor, AFNI brick factors) the output is ``float32`` (``float64`` only for
      ``float64`` files) with the scaling applied; otherwise the stored type is kept.
      The NIfTI header written for them records slope 1, intercept 0.

Time units: MGH stores TR in milliseconds; MINC, PAR/REC and AFNI in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..axes import default_axes
from ..errors import CorruptDataError
from .volume import Volume, normalize_unit

#: nibabel image class names this reader answers for, most specific first (a NIfTI pair
#: header is also a valid Analyze header).
_CLASSES = (
    "Nifti1Pair", "Nifti2Pair", "Spm2AnalyzeImage", "Spm99AnalyzeImage", "AnalyzeImage",
    "MGHImage", "Minc1Image", "Minc2Image", "PARRECImage", "AFNIImage",
)
_FORMATS = {
    "Nifti1Pair": "NIfTI-1 pair", "Nifti2Pair": "NIfTI-2 pair",
    "Spm2AnalyzeImage": "Analyze (SPM2)", "Spm99AnalyzeImage": "Analyze (SPM99)",
    "AnalyzeImage": "Analyze 7.5", "MGHImage": "MGH", "Minc1Image": "MINC-1",
    "Minc2Image": "MINC-2", "PARRECImage": "PAR/REC", "AFNIImage": "AFNI",
}
_TIME_UNIT = {"MGHImage": "millisecond"}
_AXES = {n: default_axes(n) for n in (3, 4, 5)}  # the convention of unizarr.axes


def _head(path: str, n: int = 512) -> bytes:
    """The first ``n`` bytes of ``path``, decompressed for ``.gz``/``.mgz``."""
    import gzip

    lower = path.lower()
    opener = gzip.open if lower.endswith((".gz", ".mgz")) else open
    with opener(path, "rb") as fh:
        return fh.read(n)


#: Content checks for the formats nibabel knows by file name only.
_CONTENT = {
    # MGH: big-endian int32 version 1 first.
    "MGHImage": lambda head: head[:4] == b"\0\0\0\x01",
    "PARRECImage": lambda head: b"DATA DESCRIPTION FILE" in head,
    "AFNIImage": lambda head: b"-attribute" in head and b"name = " in head,
}


def _image_class(path: str) -> Any:
    """The nibabel class that recognises ``path`` (name and content), or ``None``."""
    from nibabel.imageclasses import all_image_classes

    classes = {k.__name__: k for k in all_image_classes}
    sniff = None
    for name in _CLASSES:
        klass = classes.get(name)
        if klass is None:
            continue
        ok, sniff = klass.path_maybe_image(path, sniff)
        if not ok:
            continue
        check = _CONTENT.get(name)
        if check is not None:
            header = path
            if name == "PARRECImage" and path.lower().endswith(".rec"):
                header = path[:-4] + (".PAR" if path.endswith(".REC") else ".par")
            elif name == "AFNIImage" and ".BRIK" in path.upper():
                header = path[: path.upper().rindex(".BRIK")] + ".HEAD"
            try:
                if not check(_head(header)):
                    return None
            except OSError:
                return None
        return klass
    return None


def sniff(path: str) -> bool:
    """Whether nibabel recognises ``path`` as one of this reader's formats (single-file
    NIfTI is the NIfTI reader's). Never raises."""
    try:
        return os.path.isfile(path) and _image_class(path) is not None
    except Exception:  # noqa: BLE001 - sniffing must never fail
        return False


class _Cast:
    """A nibabel array proxy read lazily and converted to ``dtype``."""

    def __init__(self, proxy: Any, dtype: np.dtype, where: str) -> None:
        self.proxy = proxy
        self.shape = tuple(int(n) for n in proxy.shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self.where = where

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            block = np.asarray(self.proxy[key])
        except Exception as exc:  # truncated data file, zlib/HDF5 errors
            raise CorruptDataError(
                f"cannot read the voxels of {self.where}: {' '.join(str(exc).split())}"
            ) from None
        return block.astype(self.dtype, copy=False)


def _name(path: str) -> str:
    base = os.path.basename(path)
    for ext in (".gz", ".bz2", ".zst"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    stem = Path(base).stem
    return stem.split("+")[0] if base.upper().endswith((".HEAD", ".BRIK")) else stem


def nifti_header_for(shape: tuple[int, ...], dtype: np.dtype, zooms: list[float],
                     affine: np.ndarray, time_unit: str | None = None) -> Any:
    """A NIfTI-1 header describing an output read from another format, so that its
    NIfTI-Zarr ``nifti`` member carries the geometry: ``shape`` and ``zooms`` in NIfTI
    order (i, j, k[, t]), sform and qform both ``affine`` (scanner), millimetres, slope 1
    and intercept 0 (values are stored already scaled)."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    try:
        hdr.set_data_dtype(dtype)
    except Exception:  # noqa: BLE001 - a type NIfTI-1 lacks: leave the header's default
        pass
    hdr.set_zooms(tuple(zooms[: len(shape)]))
    hdr.set_xyzt_units("mm", {"millisecond": "msec"}.get(time_unit or "", "sec"))
    hdr.set_sform(affine, code="scanner")
    hdr.set_qform(affine, code="scanner")
    hdr.set_slope_inter(1.0, 0.0)
    return hdr


def open_volume(path: str, **options: Any) -> Volume:
    """Open a NIfTI pair, Analyze, MGH/MGZ, MINC, PAR/REC or AFNI image lazily.

    Raises
    ------
    FileNotFoundError
        ``path`` (or its paired data file) does not exist.
    ValueError
        nibabel does not recognise the file, or it has fewer than 3 or more than 5
        dimensions.
    """
    import nibabel as nib
    from nibabel.arrayproxy import ArrayProxy

    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    klass = _image_class(path)
    if klass is None:
        raise ValueError(
            f"{path} is none of NIfTI pair, Analyze, MGH/MGZ, MINC, PAR/REC, AFNI "
            "(nibabel does not recognise its name and header)"
        )
    kind = klass.__name__
    try:
        img = klass.from_filename(path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{path} needs its data file {exc.filename or ''}: keep the pair together"
        ) from None
    except CorruptDataError:
        raise
    except Exception as exc:  # nibabel's ImageFileError, HeaderDataError, struct errors
        raise ValueError(
            f"cannot read {path} as {_FORMATS[kind]}: {' '.join(str(exc).split())}"
        ) from None
    for role, holder in img.file_map.items():
        # SPM's optional .mat (orientation) may be absent; image and header may not
        if role in ("image", "header") and holder.filename and not os.path.exists(holder.filename):
            raise FileNotFoundError(
                f"{path} needs its data file {holder.filename}, which is missing: keep "
                "the header and data files together"
            )
    shape = tuple(int(n) for n in img.shape)
    if not 3 <= len(shape) <= 5 or (len(shape) == 5 and kind not in ("Nifti1Pair", "Nifti2Pair")):
        raise ValueError(
            f"{path} has {len(shape)} dimensions {shape}; unizarr reads 3-D and 4-D "
            "images of this format (5-D for NIfTI)"
        )
    zooms = [float(z) for z in img.header.get_zooms()]
    proxy = img.dataobj
    # Index of the time axis in nibabel's array: MINC names it, the others put it 4th.
    time_axis = 3 if len(shape) >= 4 else None
    if kind in ("Minc1Image", "Minc2Image") and len(shape) == 4:
        names = list(getattr(proxy.minc_file, "_dim_names", []))
        time_axis = names.index("time") if "time" in names else 3
    spatial = [a for a in range(len(shape)) if a != time_axis][:3]
    rest = [a for a in range(len(shape)) if a not in spatial]
    # Output (t, c, z, y, x): time/channel axes first, then k, j, i.
    perm = tuple(rest) + tuple(reversed(spatial))
    sz = [zooms[a] if zooms[a] > 0 else 1.0 for a in spatial]

    nifti_header = None
    time_unit = _TIME_UNIT.get(kind, "second") if time_axis is not None else None
    space_unit = "millimeter"
    if kind in ("Nifti1Pair", "Nifti2Pair"):
        # Stored voxels, scaling recorded in the header (as the .nii reader does).
        header_class = nib.Nifti2Header if kind == "Nifti2Pair" else nib.Nifti1Header
        nifti_header = header_class.from_header(img.header)
        nifti_header.set_slope_inter(proxy.slope, proxy.inter)
        source: Any = _Cast(
            ArrayProxy(proxy.file_like, (shape, proxy.dtype, proxy.offset, 1.0, 0.0)),
            proxy.dtype, path,
        )
        s_unit, t_unit = img.header.get_xyzt_units()
        space_unit = normalize_unit(s_unit) or "millimeter"
        time_unit = (normalize_unit(t_unit) or "second") if time_axis is not None else None
    else:
        stored = np.dtype(img.get_data_dtype())
        probe = np.asarray(proxy[(0,) * len(shape)])
        if probe.dtype.kind == "f" and (stored.kind != "f" or probe.dtype != stored):
            dtype = np.dtype("float64") if stored == np.float64 else np.dtype("float32")
        else:
            dtype = probe.dtype.newbyteorder("=")
        source = _Cast(proxy, dtype, path)
        nz = list(zooms) + [1.0] * 5
        nifti_header = nifti_header_for(
            tuple(shape[a] for a in spatial + rest), dtype,
            sz + [nz[a] for a in rest], np.asarray(img.affine, dtype=float), time_unit,
        )
    return Volume(
        source=source,
        axes=_AXES[len(shape)],
        perm=perm,
        space_scale=tuple(reversed(sz)),
        space_unit=space_unit,
        time_scale=(zooms[time_axis] if time_axis is not None and zooms[time_axis] > 0 else 1.0),
        time_unit=time_unit,
        nifti_header=nifti_header,
        name=_name(path),
        format=_FORMATS[kind],
        affine=np.asarray(img.affine, dtype=float),
    )
