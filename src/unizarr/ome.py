"""OME-NGFF 0.4 / 0.5 / 0.6 ``multiscales`` metadata: build, write and validate.

* 0.4: the group attribute ``multiscales`` (Zarr v2, or v3 when asked for).
* 0.5: the same document under the group attribute ``ome``, with
  ``"version": "0.5"``; Zarr v3 only. Level arrays get ``dimension_names`` equal to
  the axis names (0.5 requires it; it is harmless for 0.4 on v3).
* 0.6 (RFC-5, opt-in): under ``ome`` with ``"version": "0.6"``; Zarr v3 only. The axes
  become the *intrinsic* coordinate system ``"physical"``; each level maps its array
  indices there with a ``scale`` (or a ``sequence`` of scale then translation). An
  affine (e.g. a NIfTI sform/qform) is written as a multiscale-level ``affine`` from
  ``"physical"`` to a named system (``"scanner"``, ``"mni_152"``, ...). As in NIfTI,
  an integer index is a voxel's *centre* (the NGFF convention too), so no half-voxel
  shift is involved anywhere.

Per-level ``scale`` and ``translation`` come from the level shapes actually stored,
not from an assumed factor of two, so odd sizes and axes that were not downsampled are
described exactly. The time scale is written into every level's ``scale`` (readers
such as ngff-zarr ignore a multiscale-level transform).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .axes import AXIS_TYPES
from .core import ZarrArray, ZarrGroup
from .errors import MetadataError
from .types import AxesLike
from .validation import errors, validate_hierarchy
from .validation.ngff_spec import SPACE_UNITS, TIME_UNITS, VERSIONS

#: The OME-NGFF versions unizarr writes (all it judges).
OME_VERSIONS = VERSIONS
#: Name of the intrinsic coordinate system of unizarr's OME-NGFF 0.6 images.
INTRINSIC_SYSTEM = "physical"

#: Axis type of each conventional axis name.


# -- axes ------------------------------------------------------------------------------------
def _check_unit(unit: Any, kind: str) -> str | None:
    if unit is None or unit == "":
        return None
    allowed = SPACE_UNITS if kind == "space" else TIME_UNITS
    if not isinstance(unit, str) or unit not in allowed:
        hint = "micrometer, millimeter, meter, ..." if kind == "space" else "second, millisecond, ..."
        raise ValueError(
            f"{kind} unit {unit!r} is not an NGFF (UDUNITS-2) unit; use the full name, "
            f"e.g. {hint}"
        )
    return unit


def normalize_axes(
    axes: Sequence[Any], space_unit: str | None = None, time_unit: str | None = None
) -> list[dict[str, Any]]:
    """NGFF axis objects from names (``"t"``, ``"c"``, ``"z"``, ``"y"``, ``"x"``) or dicts
    (``{"name": ..., "type": ..., "unit": ...}``; a dict's unit wins over the defaults).

    Raises
    ------
    ValueError
        Unknown names or types, bad units, or an order NGFF forbids: 2-5 axes, 2 or 3
        space axes last, at most one time axis (first) and one channel axis.
    """
    if isinstance(axes, str):
        axes = list(axes)
    out: list[dict[str, Any]] = []
    for ax in axes:
        if isinstance(ax, Mapping):
            name, kind, unit = ax.get("name"), ax.get("type"), ax.get("unit", ...)
        else:
            name, kind, unit = ax, None, ...
        if not isinstance(name, str) or not name:
            raise ValueError(f"axis names must be non-empty strings, got {name!r}")
        if kind is None:
            kind = AXIS_TYPES.get(name)
            if kind is None:
                raise ValueError(
                    f"unknown axis {name!r}; use t, c, z, y, x or a dict with a 'type' "
                    "('space', 'time' or 'channel')"
                )
        if kind not in ("space", "time", "channel"):
            raise ValueError(f"axis {name!r} has type {kind!r}; use 'space', 'time' or 'channel'")
        entry: dict[str, Any] = {"name": name, "type": kind}
        if kind != "channel":
            if unit is ...:
                unit = space_unit if kind == "space" else time_unit
            unit = _check_unit(unit, kind)
            if unit is not None:
                entry["unit"] = unit
        out.append(entry)
    names = [a["name"] for a in out]
    types = [a["type"] for a in out]
    problems = []
    if not 2 <= len(out) <= 5:
        problems.append(f"NGFF images have 2 to 5 axes, got {len(out)}")
    if len(set(names)) != len(names):
        problems.append(f"axis names must be unique, got {names}")
    nspace = types.count("space")
    if nspace not in (2, 3):
        problems.append(f"there must be 2 or 3 space axes, got {nspace}")
    elif types[-nspace:] != ["space"] * nspace:
        problems.append(f"space axes must come last, got {names}")
    if types.count("time") > 1 or types.count("channel") > 1:
        problems.append(f"at most one time and one channel axis, got {names}")
    if "time" in types and types[0] != "time":
        problems.append(f"the time axis must come first, got {names}")
    if problems:
        raise ValueError("; ".join(problems))
    return out


# -- transforms ------------------------------------------------------------------------------
def _per_space_axis(value: Any, nspace: int, what: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        return [value] * nspace
    values = list(value)
    if len(values) == 1:
        return values * nspace
    if len(values) != nspace:
        raise ValueError(
            f"{what} has {len(values)} values but there are {nspace} space axes; give one "
            f"value or one per space axis (in array order, e.g. z, y, x)"
        )
    return values


def _align_kind(align: Any) -> str | float:
    if isinstance(align, str):
        key = align.strip().lower()
        if key.startswith("c"):
            return "center"
        if key.startswith("e"):
            return "edge"
        try:
            align = float(key)
        except ValueError:
            raise ValueError(
                f"pyramid_aligns {align!r} must be 'center', 'edge' or a window size"
            ) from None
    if isinstance(align, bool) or not isinstance(align, (int, float, np.number)) or not align > 0:
        raise ValueError(f"pyramid_aligns {align!r} must be 'center', 'edge' or a positive number")
    return float(align)


def level_transform(
    shape0: int, shape: int, align: str | float, ndown: int
) -> tuple[float, float]:
    """Scale factor and translation (in level-0 voxels) of one axis of a level.

    Parameters
    ----------
    shape0, shape : int
        The axis size at level 0 and at this level.
    align : {"center", "edge"} or float
        ``"edge"``: the level covers the same extent as level 0, so the factor is
        ``shape0 / shape`` and the first voxel's centre moves by ``(factor - 1) / 2``.
        ``"center"``: the centres of the corner voxels stay put, factor
        ``(shape0 - 1) / (shape - 1)`` and no translation (at one voxel, where that is
        undefined, ``"edge"`` is used). A number ``w``: nifti-zarr's form, a sliding
        window of ``w`` voxels applied ``ndown`` times, factor ``w ** ndown`` and
        translation ``(factor - 1) / 2``.
    ndown : int
        How many times this axis was actually downsampled (its size changed) up to
        this level.
    """
    if shape == shape0 and (not isinstance(align, float) or ndown == 0):
        return 1.0, 0.0
    if align == "center" and shape > 1:
        return (shape0 - 1) / (shape - 1), 0.0
    if isinstance(align, float):
        factor = align**ndown
    else:  # edge, or center at a single voxel
        factor = shape0 / shape
    return factor, (factor - 1) / 2


def build_multiscale(
    shapes: Sequence[Sequence[int]],
    axes: Sequence[Any],
    *,
    space_scale: float | Sequence[float] = 1.0,
    time_scale: float = 1.0,
    space_unit: str | None = None,
    time_unit: str | None = None,
    name: str = "",
    pyramid_aligns: Any = "center",
    paths: Sequence[str] | None = None,
    no_pool: int | None = None,
    multiscales_type: str = "",
) -> dict[str, Any]:
    """The ``multiscales[0]`` object for levels of the given shapes (no I/O).

    See :func:`write_ome_metadata` for the parameters.
    """
    ax = normalize_axes(axes, space_unit, time_unit)
    ndim = len(ax)
    shapes = [tuple(int(n) for n in s) for s in shapes]
    if not shapes:
        raise ValueError("no levels to describe")
    for i, s in enumerate(shapes):
        if len(s) != ndim:
            raise ValueError(f"level {i} has {len(s)} dimensions but {ndim} axes were given")
    space = [i for i, a in enumerate(ax) if a["type"] == "space"]
    for i, a in enumerate(ax):
        if a["type"] != "space" and any(s[i] != shapes[0][i] for s in shapes):
            raise ValueError(f"the {a['type']} axis {a['name']!r} changes size across levels")
    scales = [float(v) for v in _per_space_axis(space_scale, len(space), "space_scale")]
    for v in scales + [float(time_scale)]:
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"scales must be positive finite numbers, got {v}")
    aligns = [_align_kind(v) for v in _per_space_axis(pyramid_aligns, len(space), "pyramid_aligns")]
    if no_pool is not None and not -len(space) <= int(no_pool) < len(space):
        raise ValueError(f"no_pool {no_pool} is not a space-axis index (0..{len(space) - 1})")
    paths = [str(i) for i in range(len(shapes))] if paths is None else list(paths)
    datasets = []
    ndown = [0] * ndim
    for level, shape in enumerate(shapes):
        if level:
            for i in space:
                ndown[i] += shape[i] != shapes[level - 1][i]
        scale = [float(time_scale) if a["type"] == "time" else 1.0 for a in ax]
        translation = [0.0] * ndim
        for k, i in enumerate(space):
            if no_pool is not None and k == int(no_pool) % len(space):
                factor, shift = 1.0, 0.0
            else:
                factor, shift = level_transform(shapes[0][i], shape[i], aligns[k], ndown[i])
            scale[i] = factor * scales[k]
            translation[i] = shift * scales[k]
        datasets.append(
            {
                "path": paths[level],
                "coordinateTransformations": [
                    {"type": "scale", "scale": scale},
                    {"type": "translation", "translation": translation},
                ],
            }
        )
    ms: dict[str, Any] = {"name": str(name), "axes": ax, "datasets": datasets}
    if multiscales_type:
        ms["type"] = str(multiscales_type)
    return ms


# -- reading and writing groups --------------------------------------------------------------
def level_paths(group: ZarrGroup, levels: int | None = None) -> list[str]:
    """``"0"``, ``"1"``, ... : the contiguous numbered arrays of ``group``
    (``levels``: the index of the coarsest level, which must exist)."""
    paths = []
    i = 0
    while levels is None or i <= levels:
        node = group.get(str(i))
        if not isinstance(node, ZarrArray):
            break
        paths.append(str(i))
        i += 1
    if not paths:
        raise KeyError(f"{group.url} has no level '0'; write the image (and its pyramid) first")
    if levels is not None and len(paths) != levels + 1:
        raise ValueError(
            f"levels={levels} but {group.url} only has levels 0..{len(paths) - 1}"
        )
    return paths


def level_array(group: ZarrGroup, path: str) -> ZarrArray:
    """The multiscale level ``path`` of ``group``, which must be an array.

    Raises
    ------
    MetadataError
        ``path`` is a group.
    """
    node = group[path]
    if not isinstance(node, ZarrArray):
        raise MetadataError(
            f"{group.url}/{path} is listed as a multiscale level but is not an array; "
            "rewrite the OME-NGFF metadata"
        )
    return node


def default_ome_version(zarr_version: int) -> str:
    """The OME-NGFF version a Zarr group of ``zarr_version`` gets when none is asked
    for: ``"0.5"`` on Zarr v3, ``"0.4"`` on Zarr v2 (0.5 needs v3)."""
    return "0.5" if zarr_version == 3 else "0.4"


def _normalize_version(ome_version: Any, zarr_version: int) -> str:
    version = str(ome_version)
    if version not in OME_VERSIONS:
        raise ValueError(f"ome_version must be one of {OME_VERSIONS}, got {ome_version!r}")
    if version in ("0.5", "0.6") and zarr_version != 3:
        raise ValueError(
            f"OME-NGFF {version} needs Zarr v3 and this group is Zarr v2; use "
            "ome_version='0.4' or write the image as zarr_version=3"
        )
    return version


def _v06_transform(path: str, scale: list[float], translation: list[float]) -> dict[str, Any]:
    """A level's 0.6 transform: array indices of ``path`` to the intrinsic system."""
    ends = {"input": {"path": path}, "output": {"name": INTRINSIC_SYSTEM}}
    if not any(translation):
        return {"type": "scale", "scale": scale, **ends}
    return {
        "type": "sequence",
        "transformations": [
            {"type": "scale", "scale": scale},
            {"type": "translation", "translation": translation},
        ],
        **ends,
    }


def check_affine(affine: Any, ndim: int) -> list[list[float]]:
    """``affine`` as the ``ndim x (ndim + 1)`` rows NGFF 0.6 stores (a square
    homogeneous matrix loses its last row, which must be ``0 ... 0 1``).

    Raises
    ------
    ValueError
        Wrong shape, non-finite values, a bad last row or a singular matrix.
    """
    m = np.asarray(affine, dtype=float)
    if m.shape == (ndim + 1, ndim + 1):
        if not np.allclose(m[-1], [0.0] * ndim + [1.0]):
            raise ValueError(f"the last row of a homogeneous affine must be 0 ... 0 1, got {m[-1]}")
        m = m[:-1]
    if m.shape != (ndim, ndim + 1):
        raise ValueError(
            f"affine has shape {m.shape}; an image with {ndim} axes needs "
            f"({ndim}, {ndim + 1}) or ({ndim + 1}, {ndim + 1})"
        )
    if not np.isfinite(m).all():
        raise ValueError("affine has non-finite values")
    if abs(np.linalg.det(m[:, :-1])) < 1e-12:
        raise ValueError("affine is singular (it collapses an axis)")
    return [[float(v) for v in row] for row in m]


def multiscale_v06(
    ms: Mapping[str, Any],
    *,
    affine: Any = None,
    affine_system: str = "scanner",
    affine_axes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The OME-NGFF 0.6 (RFC-5) form of a 0.4/0.5 multiscale object (no I/O).

    Parameters
    ----------
    ms : mapping
        A multiscale object as :func:`build_multiscale` returns it.
    affine : array-like, optional
        ``n x (n + 1)`` (or square homogeneous) matrix over all ``n`` axes in array
        order, from the intrinsic system ``"physical"`` to ``affine_system``.
    affine_system : str
        Name of the system the affine leads to.
    affine_axes : sequence, optional
        Axes of that system (default: the intrinsic axes).
    """
    axes = [dict(a) for a in ms["axes"]]
    systems = [{"name": INTRINSIC_SYSTEM, "axes": axes}]
    datasets = []
    for ds in ms["datasets"]:
        scale = translation = None
        for t in ds["coordinateTransformations"]:
            if t["type"] == "scale":
                scale = [float(v) for v in t["scale"]]
            elif t["type"] == "translation":
                translation = [float(v) for v in t["translation"]]
        scale = scale or [1.0] * len(axes)
        translation = translation or [0.0] * len(axes)
        datasets.append(
            {"path": ds["path"], "coordinateTransformations": [
                _v06_transform(ds["path"], scale, translation)
            ]}
        )
    out: dict[str, Any] = {}
    if ms.get("name") is not None:
        out["name"] = ms["name"]
    out["coordinateSystems"] = systems
    out["datasets"] = datasets
    if affine is not None:
        if not isinstance(affine_system, str) or not affine_system or affine_system == INTRINSIC_SYSTEM:
            raise ValueError(
                f"affine_system {affine_system!r} must be a name other than {INTRINSIC_SYSTEM!r}"
            )
        rows = check_affine(affine, len(axes))
        target = normalize_axes(affine_axes, None, None) if affine_axes is not None else axes
        if len(target) != len(axes):
            raise ValueError(f"affine_axes has {len(target)} axes, the image {len(axes)}")
        systems.append({"name": affine_system, "axes": [dict(a) for a in target]})
        out["coordinateTransformations"] = [
            {
                "type": "affine",
                "affine": rows,
                "input": {"name": INTRINSIC_SYSTEM},
                "output": {"name": affine_system},
            }
        ]
    if ms.get("type"):
        out["type"] = ms["type"]
    return out


def _v06_as_v05(ms: Mapping[str, Any]) -> dict[str, Any]:
    """A 0.6 multiscale seen as 0.5 (``axes`` and per-level scale/translation), for the
    readers that need only those; the 0.6 document itself is kept under ``"0.6"``."""
    systems = {cs.get("name"): cs for cs in ms.get("coordinateSystems", []) if isinstance(cs, Mapping)}
    datasets = []
    intrinsic = None
    for ds in ms.get("datasets", []):
        transforms = list(ds.get("coordinateTransformations") or [])
        flat: list[Mapping[str, Any]] = []
        for t in transforms:
            if intrinsic is None and isinstance(t.get("output"), Mapping):
                intrinsic = t["output"].get("name")
            flat.extend(t.get("transformations", [t]) if t.get("type") == "sequence" else [t])
        datasets.append({
            "path": ds.get("path"),
            "coordinateTransformations": [
                {k: v for k, v in t.items() if k in ("type", "scale", "translation")}
                for t in flat if t.get("type") in ("scale", "translation")
            ],
        })
    cs = systems.get(intrinsic) or next(iter(systems.values()), {})
    out = {k: v for k, v in ms.items() if k not in ("coordinateSystems", "datasets")}
    out.update({"axes": list(cs.get("axes", [])), "datasets": datasets, "0.6": dict(ms)})
    return out


def set_dimension_names(array: ZarrArray, names: Sequence[str]) -> None:
    """Record ``names`` as the ``dimension_names`` of a Zarr v3 array (no-op on v2)."""
    array.set_dimension_names(names)


def write_ome_metadata(
    group: ZarrGroup,
    axes: AxesLike,
    *,
    space_scale: float | Sequence[float] = 1.0,
    time_scale: float = 1.0,
    space_unit: str | None = None,
    time_unit: str | None = None,
    name: str = "",
    pyramid_aligns: Any = "center",
    levels: int | None = None,
    ome_version: str | None = None,
    no_pool: int | None = None,
    multiscales_type: str = "",
    affine: Any = None,
    affine_system: str = "scanner",
    affine_axes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Write OME-NGFF ``multiscales`` metadata describing the levels of ``group``.

    Parameters
    ----------
    group : ZarrGroup
        Group holding the levels ``"0"``, ``"1"``, ...
    axes : sequence of str or dict
        One per array dimension, in array order: names among ``t, c, z, y, x`` (their
        type follows) or NGFF axis dicts.
    space_scale : float or sequence of float
        Level-0 voxel size, one value or one per space axis (array order, z, y, x).
    time_scale : float
        Time step.
    space_unit, time_unit : str or None
        NGFF (UDUNITS-2) unit names such as ``"micrometer"``, ``"millimeter"``,
        ``"second"``. ``None`` (default) writes no unit: a unit is never guessed, since
        a wrong one (micrometre for an MRI in millimetres) scales the image 1000x.
    name : str
        The multiscale's name.
    pyramid_aligns : {"center", "edge"}, number, or one per space axis
        How level voxels sit on level 0 (see :func:`level_transform`): ``"center"``
        keeps the centres of the corner voxels, ``"edge"`` the outer edges, and a number
        ``w`` (nifti-zarr's form) means a ``w``-voxel window applied once per level, so
        ``2`` describes unizarr's own 2x pyramids exactly.
    levels : int, optional
        Index of the coarsest level to list (default: every numbered level present).
    ome_version : {"0.4", "0.5", "0.6", "auto"}, optional
        Default (``None`` or ``"auto"``): follow the group, 0.5 on Zarr v3 and 0.4 on Zarr v2 (the newest
        version each format can hold that validators read). 0.5 and 0.6 need a Zarr v3
        group. 0.6 writes coordinate systems (RFC-5): see
        :func:`multiscale_v06`.
    no_pool : int, optional
        Index of a space axis that was not downsampled (linc-convert's argument).
    multiscales_type : str
        Written as the multiscale's ``type`` (e.g. the downsampling method).
    affine : array-like, optional
        0.6 only: an ``n x (n + 1)`` (or square) matrix over all axes in array order,
        from the intrinsic system ``"physical"`` (level-0 voxel centres at
        ``index * space_scale``) to ``affine_system``. :func:`unizarr.nifti.ome_affine`
        makes it from a NIfTI header.
    affine_system : str
        Name of the coordinate system the affine leads to (e.g. ``"scanner"``).
    affine_axes : sequence, optional
        Axes of ``affine_system`` (default: the image's axes).

    Returns
    -------
    dict
        The multiscale object written (0.6: in its 0.6 form).

    Raises
    ------
    ValueError
        Bad axes, units, scales, affine or version (0.5/0.6 on Zarr v2, an affine
        below 0.6), or levels that do not match the axes.
    KeyError
        No level ``"0"``.
    """
    if not isinstance(group, ZarrGroup):
        raise TypeError(f"write_ome_metadata needs a unizarr ZarrGroup, got {type(group).__name__}")
    if ome_version is None or ome_version == "auto":
        ome_version = default_ome_version(group.zarr_version)
    version = _normalize_version(ome_version, group.zarr_version)
    if affine is not None and version != "0.6":
        raise ValueError(
            f"OME-NGFF {version} cannot store an affine; use ome_version='0.6' (or drop the affine)"
        )
    group._check_writable()
    paths = level_paths(group, levels)
    arrays = [level_array(group, p) for p in paths]
    ms = build_multiscale(
        [a.shape for a in arrays],
        axes,
        space_scale=space_scale,
        time_scale=time_scale,
        space_unit=space_unit,
        time_unit=time_unit,
        name=name,
        pyramid_aligns=pyramid_aligns,
        paths=paths,
        no_pool=no_pool,
        multiscales_type=multiscales_type,
    )
    names = [a["name"] for a in ms["axes"]]
    if version == "0.6":
        # Built (and checked) before anything is written.
        ms = multiscale_v06(
            ms, affine=affine, affine_system=affine_system, affine_axes=affine_axes
        )
    for arr in arrays:
        set_dimension_names(arr, names)
    attrs = group.attrs.asdict()
    if version == "0.4":
        attrs["multiscales"] = [{"version": "0.4", **ms}]
        ome = attrs.get("ome")
        if isinstance(ome, dict):  # never leave a stale 0.5 document beside it
            ome.pop("multiscales", None)
            if set(ome) <= {"version"}:
                attrs.pop("ome")
    else:
        attrs.pop("multiscales", None)
        ome = dict(attrs.get("ome") or {})
        ome.update({"version": version, "multiscales": [ms]})
        attrs["ome"] = ome
    group.attrs.put(attrs)
    return ms


def read_multiscale(group: ZarrGroup) -> tuple[str, dict[str, Any]]:
    """The OME-NGFF version and first multiscale object of ``group``.

    Raises
    ------
    MetadataError
        The group has no OME-NGFF multiscales metadata.
    """
    found = find_multiscale(group.attrs.asdict())
    if found is None:
        raise MetadataError(f"{group.url} has no OME-NGFF multiscales metadata")
    return found


def find_multiscale(attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The NGFF version and first multiscale object in a group's attributes: 0.4
    (``attrs["multiscales"]``) or 0.5/0.6 (``attrs["ome"]["multiscales"]``); ``None`` if
    absent. A 0.6 object is returned in its 0.5 form (``axes`` and per-level scale and
    translation), with the 0.6 document under the key ``"0.6"``."""
    ome = attrs.get("ome")
    if isinstance(ome, Mapping) and ome.get("multiscales"):
        version = str(ome.get("version", "0.5"))
        ms = dict(ome["multiscales"][0])
        if version.startswith("0.6") and "coordinateSystems" in ms:
            ms = _v06_as_v05(ms)
        return version, ms
    v04 = attrs.get("multiscales")
    if isinstance(v04, list) and v04 and isinstance(v04[0], Mapping):
        return str(v04[0].get("version", "0.4")), dict(v04[0])
    return None


def _zarr_python_group(group: ZarrGroup) -> Any:
    """The group as a ``zarr.Group`` (ome-zarr-models reads through zarr-python)."""
    from .api import open_group

    if group.driver_name == "zarr-python":
        return group.native  # type: ignore[attr-defined]
    other = open_group(
        group.url, mode="r", driver="zarr-python",
        storage_options=group.storage_options or None,
    )
    return other.native  # type: ignore[attr-defined]


def validate_ome(group: ZarrGroup) -> Any:
    """Validate the OME-NGFF image metadata of ``group`` with ``ome-zarr-models``.

    Checks the ``multiscales`` document (axes, transforms, dataset order), that every
    dataset path is an array of the right rank (and, for 0.5, ``dimension_names``),
    and that units are NGFF unit names.

    Returns
    -------
    ome_zarr_models Image or ImageAttrs
        The validated model (``ImageAttrs`` for OME 0.4 stored in Zarr v3, a layout
        ome-zarr-models does not open as a group).

    Raises
    ------
    MetadataError
        What is wrong, in one message.
    ImportError
        ``ome-zarr-models`` is not installed.
    """
    try:
        import ome_zarr_models  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("validate_ome needs ome-zarr-models: pip install ome-zarr-models") from exc
    version, ms = read_multiscale(group)
    axes = ms.get("axes", [])
    if version.startswith("0.6"):  # 0.6 declares the axes in its coordinate systems
        systems = ms.get("coordinateSystems") or [{}]
        axes = systems[-1].get("axes", []) if isinstance(systems[-1], Mapping) else []
    problems = []
    for ax in axes:
        kind, unit = ax.get("type"), ax.get("unit")
        if unit is not None and kind in ("space", "time"):
            try:
                _check_unit(unit, kind)
            except ValueError as exc:
                problems.append(str(exc))
    if problems:
        raise MetadataError(f"{group.url}: " + "; ".join(problems))
    return check_with_ome_zarr_models(group, version)


def check_with_ome_zarr_models(group: ZarrGroup, version: str | None = None) -> Any:
    """Read the image with ``ome-zarr-models`` (its pydantic models of 0.4, 0.5 and, when
    installed in a version that has them, 0.6): the document and its dataset arrays.

    Raises
    ------
    MetadataError
        The model rejects the group, in one message.
    ImportError
        ``ome-zarr-models`` is not installed.
    """
    import ome_zarr_models.v04.image as v04
    import ome_zarr_models.v05.image as v05

    if version is None:
        version = read_multiscale(group)[0]
    if version.startswith("0.6"):
        version = "0.6"
    try:
        if version == "0.6":
            if group.zarr_version != 3:
                raise ValueError("OME-NGFF 0.6 metadata in a Zarr v2 group")
            # the specification's rules first: ome-zarr-models may not know 0.6 yet
            broken = errors(validate_hierarchy(group))
            if broken:
                raise MetadataError(f"{group.url} is not a valid OME-NGFF 0.6 image: "
                                    + "; ".join(str(f) for f in broken[:3]))
            try:
                import ome_zarr_models.v06.image as v06
            except ImportError:
                return None
            return v06.Image.from_zarr(_zarr_python_group(group))
        if version == "0.5":
            if group.zarr_version != 3:
                raise ValueError("OME-NGFF 0.5 metadata in a Zarr v2 group")
            return v05.Image.from_zarr(_zarr_python_group(group))
        if version != "0.4":
            raise ValueError(f"unsupported OME-NGFF version {version!r}")
        if group.zarr_version == 2:
            return v04.Image.from_zarr(_zarr_python_group(group))
        _, ms = read_multiscale(group)
        model = v04.ImageAttrs.model_validate(group.attrs.asdict())
        ndim = len(ms["axes"])
        for ds in ms["datasets"]:
            node = group.get(ds["path"])
            if not isinstance(node, ZarrArray):
                raise ValueError(f"dataset {ds['path']!r} is not an array")
            if node.ndim != ndim:
                raise ValueError(f"dataset {ds['path']!r} has {node.ndim} dimensions, axes say {ndim}")
        return model
    except MetadataError:
        raise
    except Exception as exc:  # pydantic and zarr errors alike
        raise MetadataError(f"{group.url} is not a valid OME-NGFF {version} image: {exc}") from exc


__all__ = [
    "AXIS_TYPES",
    "OME_VERSIONS",
    "SPACE_UNITS",
    "TIME_UNITS",
    "INTRINSIC_SYSTEM",
    "build_multiscale",
    "check_affine",
    "check_with_ome_zarr_models",
    "level_paths",
    "level_transform",
    "multiscale_v06",
    "normalize_axes",
    "read_multiscale",
    "set_dimension_names",
    "validate_ome",
    "write_ome_metadata",
]
