"""NIfTI-Zarr: the NIfTI header of an OME-Zarr image, as the nifti-zarr package stores it.

The group member ``nifti`` is a one-chunk, uncompressed ``uint8`` array holding the
binary NIfTI-1 or NIfTI-2 header exactly as a ``.nii`` file starts (its byte order
kept): the header alone when it has no extensions, else the header, the 4-byte
extension flag and the extensions. Its attributes hold the JNIfTI (JSON) form of the
header, for people; readers use the bytes.

nibabel is imported only when these functions run: it is needed to hand headers in
and out, not to use the rest of unizarr.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import numpy as np

from .core import ZarrArray, ZarrGroup

#: The group member holding the header.
NIFTI_KEY = "nifti"
_HEADER_SIZES = {348: 1, 540: 2}

# JNIfTI names of NIfTI codes (the nifti-zarr specification's conversion tables).
_DTYPES = {
    2: "uint8", 4: "int16", 8: "int32", 16: "single", 32: "complex64", 64: "double",
    128: "rgb24", 256: "int8", 512: "uint16", 768: "uint32", 1024: "int64", 1280: "uint64",
    1536: "double128", 1792: "complex128", 2048: "complex256", 2304: "rgba32",
}
_UNITS = {0: "", 1: "m", 2: "mm", 3: "um", 8: "s", 16: "ms", 24: "us", 32: "hz", 40: "ppm", 48: "rad/s"}
_XFORMS = {0: "", 1: "scanner_anat", 2: "aligned_anat", 3: "talairach", 4: "mni_152", 5: "template_other"}
_SLICE_ORDERS = {0: "", 1: "seq+", 2: "seq-", 3: "alt+", 4: "alt-", 5: "alt2+", 6: "alt2-"}
_INTENTS = {
    0: "", 2: "corr", 3: "ttest", 4: "ftest", 5: "zscore", 6: "chi2", 7: "beta",
    8: "binomial", 9: "gamma", 10: "poisson", 11: "normal", 12: "ncftest", 13: "ncchi2",
    14: "logistic", 15: "laplace", 16: "uniform", 17: "ncttest", 18: "weibull", 19: "chi",
    20: "invgauss", 21: "extval", 22: "pvalue", 23: "logpvalue", 24: "log10pvalue",
    1001: "estimate", 1002: "label", 1003: "neuronames", 1004: "matrix", 1005: "symmatrix",
    1006: "dispvec", 1007: "vector", 1008: "point", 1009: "triangle", 1010: "quaternion",
    1011: "unitless", 2001: "tseries", 2002: "elem", 2003: "rgb", 2004: "rgba", 2005: "shape",
    2006: "fsl_fnirt_displacement_field", 2007: "fsl_cubic_spline_coefficients",
    2008: "fsl_dct_coefficients", 2009: "fsl_quadratic_spline_coefficients",
    2016: "fsl_topup_cubic_spline_coefficients", 2017: "fsl_topup_quadratic_spline_coefficients",
    2018: "fsl_topup_field",
}
#: How many intent parameters each intent uses (the others are written as null).
_INTENT_PARAMS = {
    "corr": 1, "ttest": 1, "ftest": 2, "chi2": 1, "beta": 2, "binomial": 2, "gamma": 2,
    "poisson": 1, "normal": 2, "ncftest": 3, "ncchi2": 2, "logistic": 2, "laplace": 2,
    "uniform": 2, "ncttest": 2, "weibull": 2, "chi": 1, "invgauss": 2, "extval": 2,
    "matrix": 2, "symmatrix": 1,
}
#: NGFF (UDUNITS-2) names of the NIfTI spatial and temporal units.
_OME_UNITS = {"m": "meter", "mm": "millimeter", "um": "micrometer", "s": "second",
              "ms": "millisecond", "us": "microsecond"}
_CONTROL = re.compile(r"[\n\r\t\x00]")


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("NIfTI headers need nibabel: pip install nibabel") from exc
    return nibabel


def _as_header(header: Any) -> Any:
    """A nibabel NIfTI-1/2 header from a header or an image."""
    nib = _nibabel()
    if isinstance(header, (nib.Nifti1Image, nib.Nifti2Image, nib.Nifti1Pair, nib.Nifti2Pair)):
        header = header.header
    if not isinstance(header, nib.Nifti1Header):  # Nifti2Header subclasses it
        raise TypeError(
            f"expected a nibabel Nifti1Header or Nifti2Header (or image), got {type(header).__name__}"
        )
    return header


def header_bytes(header: Any) -> bytes:
    """The bytes nifti-zarr stores for ``header``: what ``header.write_to`` writes at the
    start of a ``.nii`` file (so ``vox_offset`` is filled in as a file would have it),
    without the extension flag when there are no extensions. ``header`` is not changed.
    """
    header = _as_header(header)
    buf = io.BytesIO()
    header.copy().write_to(buf)
    data = buf.getvalue()
    if len(header.extensions) == 0:
        data = data[: len(header.binaryblock)]
    return data


def _text(value: Any) -> str:
    return _CONTROL.sub("", bytes(value).decode("latin-1"))


def _number(value: Any) -> Any:
    """A JSON number; values JSON cannot hold (NaN, infinities) become ``None``."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def header_json(header: Any) -> dict[str, Any]:
    """The JNIfTI ``NIFTIHeader`` form of ``header`` that nifti-zarr stores as the
    ``nifti`` array's attributes (same keys and values as ``niizarr.nii2json``).
    """
    header = _as_header(header)
    h = header.structarr
    version = 1 if int(h["sizeof_hdr"]) == 348 else 2
    ndim = int(h["dim"][0])
    intent = _INTENTS.get(int(h["intent_code"]))
    params = [float(h[f"intent_p{i}"]) for i in (1, 2, 3)][: _INTENT_PARAMS.get(intent or "", 0)]
    units = int(h["xyzt_units"])
    dim_info = int(h["dim_info"])
    slope, inter = float(h["scl_slope"]), float(h["scl_inter"])
    out: dict[str, Any] = {
        "NIIHeaderSize": int(h["sizeof_hdr"]),
        "DimInfo": {"Freq": dim_info & 3, "Phase": (dim_info >> 2) & 3, "Slice": (dim_info >> 4) & 3},
        "Dim": [int(d) for d in h["dim"][1 : 1 + ndim]],
        "Param1": params[0] if len(params) > 0 else None,
        "Param2": params[1] if len(params) > 1 else None,
        "Param3": params[2] if len(params) > 2 else None,
        "Intent": intent,
        "DataType": _DTYPES.get(int(h["datatype"])),
        "BitDepth": int(h["bitpix"]),
        "FirstSliceID": int(h["slice_start"]),
        "VoxelSize": [_number(v) for v in h["pixdim"][1 : 1 + ndim]],
        "Orientation": {"x": "r" if float(h["pixdim"][0]) == 0 else "l", "y": "a", "z": "s"},
        "NIIByteOffset": _number(h["vox_offset"]),
        "ScaleSlope": slope if math.isfinite(slope) else 0.0,
        "ScaleOffset": inter if math.isfinite(inter) else 0.0,
        "LastSliceID": int(h["slice_end"]),
        "SliceType": _SLICE_ORDERS.get(int(h["slice_code"])),
        "Unit": {"L": _UNITS.get(units & 0x07), "T": _UNITS.get(units & 0x38)},
        "MaxIntensity": _number(h["cal_max"]),
        "MinIntensity": _number(h["cal_min"]),
        "SliceTime": _number(h["slice_duration"]),
        "TimeOffset": _number(h["toffset"]),
        "Description": _text(h["descrip"]),
        "AuxFile": _text(h["aux_file"]),
        "QForm": _XFORMS.get(int(h["qform_code"])),
        "SForm": _XFORMS.get(int(h["sform_code"])),
        "Quatern": {k: _number(h[f"quatern_{k}"]) for k in "bcd"},
        "QuaternOffset": {k: _number(h[f"qoffset_{k}"]) for k in "xyz"},
        "Affine": [[_number(v) for v in h[f"srow_{k}"]] for k in "xyz"],
        "Name": _text(h["intent_name"]),
        "NIIFormat": re.sub(r"[\x00-\x1f]+", "", bytes(h["magic"]).decode("latin-1")),
        "NIFTIExtension": [1 if len(header.extensions) else 0, 0, 0, 0],
    }
    if version == 1:
        out.update(
            {
                "A75DataTypeName": _text(h["data_type"]),
                "A75DBName": _text(h["db_name"]),
                "A75Extends": int(h["extents"]),
                "A75SessionError": int(h["session_error"]),
                "A75Regular": int.from_bytes(bytes(h["regular"]) or b"\0", "little"),  # a char
                "A75GlobalMax": int(h["glmax"]),
                "A75GlobalMin": int(h["glmin"]),
            }
        )
    else:
        out.update(
            {
                "A75DataTypeName": "", "A75DBName": "", "A75Extends": 0, "A75SessionError": 0,
                "A75Regular": 0, "A75GlobalMax": 0, "A75GlobalMin": 0,
            }
        )
    return out


def write_nifti_header(group: ZarrGroup, header: Any) -> ZarrArray:
    """Store a NIfTI header in ``group`` as NIfTI-Zarr (the ``nifti`` member).

    Parameters
    ----------
    group : ZarrGroup
        The OME-Zarr image group (level ``"0"`` should hold the image in NGFF axis
        order, t, c, z, y, x).
    header : nibabel.Nifti1Header or nibabel.Nifti2Header (or an image)
        The header of level 0. Affine (qform and sform), units, intent, scaling and
        extensions are kept byte for byte.

    Returns
    -------
    ZarrArray
        The ``nifti`` array (replaced if it existed).

    Examples
    --------
    >>> img = nibabel.load("brain.nii.gz")                        # doctest: +SKIP
    >>> uz.write_nifti_header(group, img.header)                 # doctest: +SKIP
    """
    if not isinstance(group, ZarrGroup):
        raise TypeError(f"write_nifti_header needs a unizarr ZarrGroup, got {type(group).__name__}")
    data = np.frombuffer(header_bytes(header), dtype=np.uint8)
    return group.create_array(
        NIFTI_KEY,
        data.shape,
        np.uint8,
        data=data,
        chunks=data.shape,
        shards=None,
        compressor="none",
        fill_value=0,
        dimension_separator="/",
        order="C",
        attributes=header_json(header),
        overwrite=True,
    )


def read_nifti_header(group: ZarrGroup) -> Any:
    """The nibabel header stored in ``group``'s ``nifti`` member (NIfTI-1 or NIfTI-2,
    extensions included).

    Raises
    ------
    KeyError
        The group has no ``nifti`` member.
    ValueError
        It does not hold a NIfTI header.
    """
    nib = _nibabel()
    node = group[NIFTI_KEY]
    if not isinstance(node, ZarrArray) or node.ndim != 1:
        raise ValueError(f"'{NIFTI_KEY}' in {group.url} is not a 1-D byte array")
    raw = np.ascontiguousarray(node[...]).tobytes()
    version = None
    for order in ("little", "big"):
        version = version or _HEADER_SIZES.get(int.from_bytes(raw[:4], order))
    if version is None or len(raw) < (348 if version == 1 else 540):
        raise ValueError(f"'{NIFTI_KEY}' in {group.url} does not hold a NIfTI-1/2 header")
    cls = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    return cls.from_fileobj(io.BytesIO(raw), check=False)


def nifti_ome_kwargs(header: Any) -> dict[str, Any]:
    """Arguments of :func:`unizarr.write_ome_metadata` that describe ``header``'s voxel
    size and units, for a level 0 stored in NGFF order (t, c, z, y, x).

    NIfTI units without an NGFF name (none, Hz, ppm, rad/s) give ``None`` (no unit).
    """
    header = _as_header(header)
    zooms = [float(z) for z in header.get_zooms()]
    space_unit, time_unit = header.get_xyzt_units()
    short = {"meter": "m", "mm": "mm", "micron": "um", "sec": "s", "msec": "ms", "usec": "us"}
    spatial = zooms[:3]
    return {
        "space_scale": spatial[::-1],
        "time_scale": zooms[3] if len(zooms) > 3 and zooms[3] > 0 else 1.0,
        "space_unit": _OME_UNITS.get(short.get(space_unit, "")),
        "time_unit": _OME_UNITS.get(short.get(time_unit, "")),
    }


#: NGFF 0.6 coordinate-system names of the NIfTI xform codes (sform_code / qform_code).
XFORM_SYSTEMS = {1: "scanner", 2: "aligned", 3: "talairach", 4: "mni_152", 5: "template"}


def ome_affine(
    header: Any, axes: Any, space_scale: Any
) -> tuple[np.ndarray, str] | None:
    """The NIfTI world transform as the OME-NGFF 0.6 affine unizarr writes.

    NIfTI maps a voxel index ``(i, j, k)`` (a voxel *centre*) to world coordinates
    ``A @ [i, j, k, 1]`` with ``A`` the sform (when ``sform_code > 0``) else the qform
    (when ``qform_code > 0``), as nibabel's ``get_best_affine``. unizarr stores NIfTI
    ``x, y, z`` as Zarr ``z, y, x`` (``k, j, i``), and the 0.6 intrinsic system
    ``"physical"`` puts level-0 voxel centres at ``index * space_scale`` (NGFF also
    has the voxel centre as the origin, so no half-voxel shift). The affine returned
    takes that system to the NIfTI world, also in ``z, y, x`` order: its ``z, y, x``
    axes are NIfTI's world ``z, y, x`` (RAS+: x to the right, y anterior, z superior).
    Time and channel axes pass through unchanged.

    Parameters
    ----------
    header : nibabel NIfTI-1/2 header or image
    axes : sequence of str
        The image's axes in array order (e.g. ``("t", "z", "y", "x")``).
    space_scale : sequence of float
        The intrinsic voxel size of the ``z, y, x`` axes (what the multiscale's level 0
        scale says).

    Returns
    -------
    (numpy.ndarray, str) or None
        The ``n x (n + 1)`` matrix over all ``n`` axes and the name of the world system
        (``"scanner"``, ``"aligned"``, ``"talairach"``, ``"mni_152"`` or
        ``"template"``, from the xform code); ``None`` when both codes are 0 (the header
        gives no orientation).
    """
    header = _as_header(header)
    sform, scode = header.get_sform(coded=True)
    qform, qcode = header.get_qform(coded=True)
    if scode and scode > 0 and sform is not None:
        world, code = np.asarray(sform, float), int(scode)
    elif qcode and qcode > 0 and qform is not None:
        world, code = np.asarray(qform, float), int(qcode)
    else:
        return None
    axes = [a if isinstance(a, str) else a["name"] for a in axes]
    space = [n for n, a in enumerate(axes) if a in ("z", "y", "x")]
    scale = [float(v) for v in space_scale]
    if len(space) != 3 or len(scale) != 3:
        raise ValueError(f"a NIfTI affine needs the 3 space axes z, y, x, got axes {axes}")
    # NIfTI (i, j, k) from the intrinsic (z, y, x) coordinates, then A.
    to_index = np.zeros((4, 4))
    for col, row in enumerate((2, 1, 0)):  # intrinsic z -> k (row 2), y -> j, x -> i
        to_index[row, col] = 1.0 / scale[col]
    to_index[3, 3] = 1.0
    xyz = world @ to_index  # world x, y, z from intrinsic z, y, x (+1)
    zyx = xyz[[2, 1, 0]]  # world z, y, x rows
    n = len(axes)
    out = np.zeros((n, n + 1))
    for r in range(n):
        if r not in space:
            out[r, r] = 1.0
    for k, r in enumerate(space):
        for m, c in enumerate(space):
            out[r, c] = zyx[k, m]
        out[r, n] = zyx[k, 3]
    return out, XFORM_SYSTEMS.get(code, "scanner")


__all__ = [
    "NIFTI_KEY",
    "XFORM_SYSTEMS",
    "header_bytes",
    "header_json",
    "nifti_ome_kwargs",
    "ome_affine",
    "read_nifti_header",
    "write_nifti_header",
]
