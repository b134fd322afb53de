"""DICOM input through pydicom: a series of single-frame files in a folder, or one
multi-frame file (classic or enhanced).

Slices
    The files of one series (``SeriesInstanceUID``) are stacked by their position along
    the slice normal - ``ImagePositionPatient · (row × column)`` of
    ``ImageOrientationPatient`` - never by file name or ``InstanceNumber``. Two slices
    at one position, uneven gaps (a missing slice), slices that do not lie on the
    normal (gantry tilt) or a file whose size, orientation or pixel format differs from
    the others are errors naming the file, never a silently distorted volume. A folder
    holding several series is refused with a list of them; ``series=`` (a
    ``SeriesInstanceUID`` or ``SeriesNumber``) picks one. Files without ``DICM`` at byte
    128 (sidecars, notes) and ``DICOMDIR`` are ignored.

Values
    ``RescaleSlope``/``RescaleIntercept`` (per slice or frame) are applied, as every
    viewer does. The output type is chosen once for the whole series:

    * slope 1 and intercept 0 everywhere: the stored type (e.g. ``uint16``);
    * integer slopes and intercepts: the smallest integer type in
      ``uint8, int8, uint16, int16, uint32, int32, int64`` that holds the stored range
      (``BitsStored``) mapped through every slice's slope and intercept - CT's
      ``uint16`` with intercept -1024 becomes ``int16``;
    * any fractional slope or intercept: ``float32``.

    A stored value outside the ``BitsStored`` range that does not fit the chosen type
    is reported as damaged data. ``MONOCHROME1`` (inverted greyscale) values are kept as
    stored, as dcm2niix does; colour and 1-bit images are refused.

Geometry
    Axes are (z, y, x) = (slice, row, column). Voxel sizes are ``PixelSpacing`` (row
    spacing for y, column spacing for x) and the slice spacing measured from the
    positions, in millimetres. ``Volume.affine`` maps NIfTI-order voxel indices
    (i = column, j = row, k = slice, i.e. x, y, z) to RAS+ millimetres: DICOM's LPS
    patient coordinates with the first two world axes negated, the convention of
    nibabel and dcm2niix (whose NIfTI files store the same matrix; dcm2niix may
    additionally flip the row order of the pixels, which changes the matrix but not
    the world position of any voxel). The same matrix goes into a NIfTI-1 header
    (``Volume.nifti_header``: sform and qform, millimetres) for NIfTI-Zarr output.

Reads are lazy: a block of the output decodes only the files (or frames) it covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptDataError
from ._regions import normalize_key
from .volume import Volume

#: Largest gap difference (mm) still read as even slice spacing; relative part below.
_SPACING_ABS_TOL = 1e-2
_SPACING_REL_TOL = 1e-3
#: Output integer types in order of preference (smallest first).
_INT_TYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64")
#: How many files of a folder ``sniff`` opens.
_SNIFF_FILES = 8


def _is_dicom_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a DICOM Part-10 file (``DICM`` after the 128-byte preamble)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _folder_files(folder: Path) -> list[Path]:
    """Regular, non-hidden files of ``folder`` except ``DICOMDIR``, sorted by name."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )


def sniff(path: str) -> bool:
    """Whether ``path`` is a DICOM file or a folder of DICOM files (content-based).

    For a folder, the first few files by name are opened; most of them must be DICOM.
    Never raises.
    """
    try:
        p = Path(path)
        if p.is_dir():
            sample = _folder_files(p)[:_SNIFF_FILES]
            hits = sum(_is_dicom_file(f) for f in sample)
            return hits > 0 and 2 * hits >= len(sample)
        return p.is_file() and _is_dicom_file(p)
    except Exception:  # noqa: BLE001 - sniffing must never fail
        return False


# -- headers ---------------------------------------------------------------------------
@dataclass
class _Plane:
    """One 2-D image of the series: a single-frame file or one frame of a file."""

    path: str
    frame: int | None
    position: np.ndarray | None
    orientation: np.ndarray | None
    spacing: tuple[float, float] | None
    slope: float
    inter: float
    #: SpacingBetweenSlices or SliceThickness: the z size of a lone slice
    thickness: float = 0.0
    #: transfer syntax name when the pixel data is compressed, for decoder hints
    compressed: str = ""


def _floats(value: Any, n: int) -> np.ndarray | None:
    """``value`` (a multi-valued DICOM element) as ``n`` floats, or ``None``."""
    if value is None:
        return None
    try:
        out = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return out if out.shape == (n,) and np.all(np.isfinite(out)) else None


def _seq_item(ds: Any, seq: str, item: int = 0) -> Any:
    value = getattr(ds, seq, None)
    return value[item] if value is not None and len(value) > item else None


def _functional(frame_group: Any, shared: Any, seq: str, attr: str) -> Any:
    """``attr`` of functional-group ``seq``, per-frame first, then shared."""
    for group in (frame_group, shared):
        item = _seq_item(group, seq) if group is not None else None
        if item is not None and attr in item:
            return getattr(item, attr)
    return None


def _rescale(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None and str(value).strip() != "" else default
    except (TypeError, ValueError):
        return default


def _planes_of(path: str, ds: Any) -> list[_Plane]:
    """The planes of one file, with their geometry and rescale."""
    planes = _geometry_of(path, ds)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and getattr(syntax, "is_compressed", False):
        for p in planes:
            p.compressed = str(getattr(syntax, "name", syntax))
    return planes


def _geometry_of(path: str, ds: Any) -> list[_Plane]:
    nframes = int(getattr(ds, "NumberOfFrames", 1) or 1)
    spacing = _floats(getattr(ds, "PixelSpacing", None), 2)
    orient = _floats(getattr(ds, "ImageOrientationPatient", None), 6)
    position = _floats(getattr(ds, "ImagePositionPatient", None), 3)
    slope = _rescale(getattr(ds, "RescaleSlope", None), 1.0)
    inter = _rescale(getattr(ds, "RescaleIntercept", None), 0.0)
    sp = tuple(spacing) if spacing is not None else None
    step = _rescale(getattr(ds, "SpacingBetweenSlices", None), 0.0) or _rescale(
        getattr(ds, "SliceThickness", None), 0.0)
    if nframes == 1:
        return [_Plane(path, None, position, orient, sp, slope, inter, abs(step))]
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    shared = _seq_item(ds, "SharedFunctionalGroupsSequence")
    planes = []
    if per_frame is not None and len(per_frame) == nframes:
        # Enhanced multi-frame: geometry and rescale per frame (or shared by all).
        for i, group in enumerate(per_frame):
            f_pos = _floats(_functional(group, shared, "PlanePositionSequence",
                                        "ImagePositionPatient"), 3)
            f_ori = _floats(_functional(group, shared, "PlaneOrientationSequence",
                                        "ImageOrientationPatient"), 6)
            f_sp = _floats(_functional(group, shared, "PixelMeasuresSequence",
                                       "PixelSpacing"), 2)
            f_slope = _functional(group, shared, "PixelValueTransformationSequence",
                                  "RescaleSlope")
            f_inter = _functional(group, shared, "PixelValueTransformationSequence",
                                  "RescaleIntercept")
            planes.append(_Plane(
                path, i,
                f_pos if f_pos is not None else None,
                f_ori if f_ori is not None else orient,
                tuple(f_sp) if f_sp is not None else sp,
                _rescale(f_slope, slope), _rescale(f_inter, inter),
            ))
        return planes
    # Classic multi-frame: one position for the first frame, frames a fixed step apart.
    normal = np.cross(orient[:3], orient[3:]) if orient is not None else None
    for i in range(nframes):
        pos = None
        if position is not None and normal is not None and step > 0:
            pos = position + i * step * normal
        planes.append(_Plane(path, i, pos, orient, sp, slope, inter))
    return planes


def _read_headers(files: list[Path]) -> list[tuple[str, Any]]:
    import pydicom

    headers = []
    for f in files:
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        except Exception as exc:  # pydicom raises InvalidDicomError, EOFError, struct errors
            raise CorruptDataError(
                f"cannot read DICOM file {f}: {' '.join(str(exc).split())}; "
                "replace or remove the file"
            ) from None
        if "Rows" not in ds or "Columns" not in ds or "SeriesInstanceUID" not in ds:
            # pydicom reads a torn header as far as it goes; what is left lacks these
            raise CorruptDataError(
                f"DICOM file {f} has no image header (Rows/Columns/SeriesInstanceUID "
                "missing): it is truncated or not an image (a report, a DICOMDIR); "
                "replace or remove it"
            )
        headers.append((str(f), ds))
    return headers


def _series_label(uid: str, items: list[tuple[str, Any]]) -> str:
    ds = items[0][1]
    desc = str(getattr(ds, "SeriesDescription", "") or "")
    number = getattr(ds, "SeriesNumber", None)
    label = uid or "<no SeriesInstanceUID>"
    if number not in (None, ""):
        label += f" #{number}"
    if desc:
        label += f" {desc!r}"
    return f"{label} ({len(items)} file{'s' if len(items) != 1 else ''})"


def _choose_series(
    headers: list[tuple[str, Any]], series: Any, where: str
) -> tuple[str, list[tuple[str, Any]]]:
    groups: dict[str, list[tuple[str, Any]]] = {}
    for f, ds in headers:
        groups.setdefault(str(getattr(ds, "SeriesInstanceUID", "") or ""), []).append((f, ds))
    listing = ", ".join(_series_label(uid, items) for uid, items in groups.items())
    if series is None:
        if len(groups) > 1:
            raise ValueError(
                f"{where} holds {len(groups)} DICOM series: {listing}; choose one with "
                "series=<SeriesInstanceUID or SeriesNumber> (CLI: --series)"
            )
        return next(iter(groups.items()))
    wanted = str(series).strip()
    matches = [
        (uid, items) for uid, items in groups.items()
        if uid == wanted or str(getattr(items[0][1], "SeriesNumber", "")) == wanted
    ]
    if len(matches) != 1:
        what = "matches" if matches else "is"
        raise ValueError(
            f"series {wanted!r} {what} {'several' if matches else 'not one'} of the DICOM "
            f"series in {where}: {listing}; give a SeriesInstanceUID from this list"
        )
    return matches[0]


# -- geometry ---------------------------------------------------------------------------
@dataclass
class _Geometry:
    order: list[int]          # plane indices sorted along the normal
    scale: tuple[float, float, float]   # z, y, x
    affine: np.ndarray | None


def _stack(planes: list[_Plane], where: str) -> _Geometry:
    """Order the planes along the slice normal and derive spacing and affine."""
    ref = planes[0]
    for p in planes[1:]:
        for name, a, b in (("ImageOrientationPatient", p.orientation, ref.orientation),
                           ("PixelSpacing", p.spacing, ref.spacing)):
            if (a is None) != (b is None) or (
                a is not None and b is not None and not np.allclose(a, b, atol=1e-4)
            ):
                raise ValueError(
                    f"{_name(p)} does not match {_name(ref)} of the same DICOM series: "
                    f"{name} {_fmt(a)} instead of {_fmt(b)}; remove it or convert it apart"
                )
    dy, dx = ref.spacing if ref.spacing is not None else (1.0, 1.0)
    if ref.orientation is None or any(p.position is None for p in planes):
        if len(planes) > 1:
            missing = next(p for p in planes if p.position is None or p.orientation is None)
            raise ValueError(
                f"{_name(missing)} has no ImagePositionPatient/ImageOrientationPatient, so "
                f"the slices of {where} cannot be ordered by position; add the geometry "
                "or convert the files one by one"
            )
        return _Geometry([0], (ref.thickness or 1.0, float(dy), float(dx)), None)

    row, col = ref.orientation[:3], ref.orientation[3:]
    normal = np.cross(row, col)
    dist = np.array([float(p.position @ normal) for p in planes])
    order = sorted(range(len(planes)), key=lambda i: dist[i])
    # a lone slice is as thick as its header says (1 when it does not)
    dz = ref.thickness or 1.0
    if len(planes) > 1:
        d = dist[order]
        gaps = np.diff(d)
        k = int(np.argmin(gaps))
        if gaps[k] < 1e-4:
            raise ValueError(
                f"{_name(planes[order[k]])} and {_name(planes[order[k + 1]])} lie at the "
                f"same position ({d[k]:.4f} mm along the slice normal) in {where}: the "
                "series holds several volumes (echoes, time points or repeats); split them "
                "into one folder per volume"
            )
        dz = float((d[-1] - d[0]) / (len(planes) - 1))
        tol = max(_SPACING_ABS_TOL, _SPACING_REL_TOL * dz)
        k = int(np.argmax(np.abs(gaps - dz)))
        if abs(gaps[k] - dz) > tol:
            raise ValueError(
                f"slices of {where} are unevenly spaced along the slice normal: "
                f"{gaps[k]:.4f} mm between {_name(planes[order[k]])} and "
                f"{_name(planes[order[k + 1]])} against {dz:.4f} mm on average (gaps "
                f"{gaps.min():.4f}..{gaps.max():.4f} mm); a slice is missing or the series "
                "mixes stacks - complete the series or convert the evenly spaced part"
            )
        # every plane has a position (checked above)
        positions = [p.position for p in planes if p.position is not None]
        first = positions[order[0]]
        for i in order[1:]:
            p = planes[i]
            off = positions[i] - first - (dist[i] - d[0]) * normal
            if np.linalg.norm(off) > tol:
                raise ValueError(
                    f"{_name(p)} is {np.linalg.norm(off):.4f} mm off the slice normal "
                    f"through the first slice of {where} (gantry tilt or a sheared stack); "
                    "unizarr stores only orthogonal grids - resample the series first"
                )
    lps = np.eye(4)
    lps[:3, 0] = row * dx
    lps[:3, 1] = col * dy
    lps[:3, 2] = normal * dz
    lps[:3, 3] = planes[order[0]].position
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return _Geometry(order, (abs(dz), float(dy), float(dx)), ras)


def _name(p: _Plane) -> str:
    return p.path if p.frame is None else f"{p.path} (frame {p.frame})"


def _fmt(v: Any) -> str:
    return "none" if v is None else "[" + ", ".join(f"{x:g}" for x in v) + "]"


# -- values -----------------------------------------------------------------------------
def _stored_type(ds: Any, where: str) -> tuple[np.dtype, int, int]:
    """Stored numpy type and the range of ``BitsStored`` values."""
    bits = int(getattr(ds, "BitsAllocated", 0) or 0)
    signed = int(getattr(ds, "PixelRepresentation", 0) or 0) == 1
    stored = int(getattr(ds, "BitsStored", bits) or bits)
    if bits not in (8, 16, 32) or int(getattr(ds, "SamplesPerPixel", 1) or 1) != 1:
        raise ValueError(
            f"{where} has {getattr(ds, 'SamplesPerPixel', 1)} samples of {bits} bits per "
            "pixel; unizarr reads greyscale DICOM of 8, 16 or 32 bits - convert colour or "
            "1-bit images with another tool"
        )
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    lo, hi = (-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if signed else (0, (1 << stored) - 1)
    return dtype, lo, hi


def output_dtype(
    stored: np.dtype, lo: int, hi: int, rescale: list[tuple[float, float]]
) -> np.dtype:
    """The output type for stored values in ``[lo, hi]`` under these (slope, intercept)s.

    >>> output_dtype(np.dtype("uint16"), 0, 4095, [(1.0, -1024.0)])
    dtype('int16')
    >>> output_dtype(np.dtype("uint16"), 0, 4095, [(0.5, 0.0)])
    dtype('float32')
    """
    pairs = set(rescale)
    if pairs <= {(1.0, 0.0)}:
        return stored
    if not all(float(s).is_integer() and float(i).is_integer() for s, i in pairs):
        return np.dtype("float32")
    ends = [v * s + i for s, i in pairs for v in (lo, hi)]
    low, high = min(ends), max(ends)
    for name in _INT_TYPES:
        info = np.iinfo(name)
        if info.min <= low and high <= info.max:
            return np.dtype(name)
    return np.dtype("float64")


class DicomSource:
    """The series as a lazy (z, y, x) array: a read decodes only the planes it covers.

    Holds only paths and numbers, so it pickles to worker processes as it is.
    """

    def __init__(
        self, planes: list[_Plane], shape: tuple[int, int, int], stored: np.dtype,
        dtype: np.dtype,
    ) -> None:
        self.planes = planes
        self.shape = shape
        self.stored = stored
        self.dtype = dtype
        self.ndim = 3

    def _plane(self, p: _Plane) -> np.ndarray:
        from pydicom.pixels import pixel_array

        try:
            arr = pixel_array(p.path, index=p.frame)
        except Exception as exc:  # missing decoder plugin, truncated pixel data, ...
            hint = (
                f"; the pixels are compressed ({p.compressed}): if the file is intact, "
                "install a decoder: pip install pylibjpeg pylibjpeg-libjpeg "
                "pylibjpeg-openjpeg"
            ) if p.compressed else ""
            raise CorruptDataError(
                f"cannot decode the pixels of DICOM file {_name(p)}: "
                f"{' '.join(str(exc).split())}{hint}"
            ) from None
        if arr.shape != self.shape[1:]:
            raise CorruptDataError(
                f"DICOM file {_name(p)} decodes to {arr.shape} pixels instead of "
                f"{self.shape[1:]}; the file is damaged - replace it"
            )
        if (p.slope, p.inter) == (1.0, 0.0) and self.dtype == self.stored:
            return arr.astype(self.dtype, copy=False)
        if self.dtype.kind == "f":
            return (arr.astype(np.float64) * p.slope + p.inter).astype(self.dtype)
        out = arr.astype(np.int64) * int(p.slope) + int(p.inter)
        info = np.iinfo(self.dtype)
        if out.size and (out.min() < info.min or out.max() > info.max):
            raise CorruptDataError(
                f"DICOM file {_name(p)} holds values outside its BitsStored range "
                f"(rescaled {out.min()}..{out.max()} does not fit {self.dtype}); the file "
                "is damaged or mislabelled"
            )
        return out.astype(self.dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        (rz, ry, rx), dropped = normalize_key(key, self.shape)
        out = np.empty((len(rz), len(ry), len(rx)), dtype=self.dtype)
        ys = slice(ry.start, ry.stop, ry.step) if len(ry) else slice(0, 0)
        xs = slice(rx.start, rx.stop, rx.step) if len(rx) else slice(0, 0)
        for n, z in enumerate(rz):
            out[n] = self._plane(self.planes[z])[ys, xs]
        return out.squeeze(axis=dropped) if dropped else out


def open_volume(path: str, series: Any = None, **options: Any) -> Volume:
    """Open a DICOM series (a folder) or a single (multi-frame) DICOM file lazily.

    Parameters
    ----------
    path : str
        A folder holding the files of one series, or one DICOM file.
    series : str or int, optional
        ``SeriesInstanceUID`` or ``SeriesNumber`` of the series to read when the folder
        holds several.

    Returns
    -------
    Volume
        Axes (z, y, x), voxel sizes in millimetres, RAS+ ``affine`` (see the module
        documentation), rescaled values.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        No DICOM file, several series without ``series=``, or slices that do not form
        one evenly spaced, consistent stack.
    CorruptDataError
        A file cannot be parsed or decoded.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    if p.is_dir():
        files = [f for f in _folder_files(p) if _is_dicom_file(f)]
        if not files:
            raise ValueError(
                f"{p} holds no DICOM file (none has 'DICM' at byte 128); give the folder "
                "of a DICOM series"
            )
    else:
        if not _is_dicom_file(p):
            raise ValueError(f"{p} is not a DICOM file (no 'DICM' at byte 128)")
        files = [p]
    uid, items = _choose_series(_read_headers(files), series, str(p))
    multi = [f for f, ds in items if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1]
    if multi and len(items) > 1:
        raise ValueError(
            f"series {uid} in {p} mixes multi-frame ({multi[0]}) and other files; "
            "convert the multi-frame file on its own"
        )
    ref = items[0][1]
    stored, lo, hi = _stored_type(ref, items[0][0])
    rows, cols = int(ref.Rows), int(ref.Columns)
    planes: list[_Plane] = []
    for f, ds in items:
        for attr in ("Rows", "Columns", "BitsAllocated", "BitsStored",
                     "PixelRepresentation", "SamplesPerPixel"):
            if getattr(ds, attr, None) != getattr(ref, attr, None):
                raise ValueError(
                    f"{f} does not match {items[0][0]} of the same DICOM series: {attr} "
                    f"{getattr(ds, attr, None)} instead of {getattr(ref, attr, None)}; "
                    "remove it or convert it apart"
                )
        planes.extend(_planes_of(f, ds))
    geo = _stack(planes, str(p))
    ordered = [planes[i] for i in geo.order]
    dtype = output_dtype(stored, lo, hi, [(q.slope, q.inter) for q in ordered])
    source = DicomSource(ordered, (len(ordered), rows, cols), stored, dtype)
    name = str(getattr(ref, "SeriesDescription", "") or "") or (p.name if p.is_dir() else p.stem)
    header = None
    if geo.affine is not None:
        from .nibabel_formats import nifti_header_for

        dz, dy, dx = geo.scale
        header = nifti_header_for((cols, rows, len(ordered)), dtype, [dx, dy, dz], geo.affine)
    return Volume(
        source=source,
        axes=("z", "y", "x"),
        space_scale=geo.scale,
        space_unit="millimeter",
        name=name,
        format="DICOM",
        affine=geo.affine,
        nifti_header=header,
    )

