"""What ``unizarr info`` and ``unizarr validate`` report about a Zarr store.

:func:`describe` turns a node (recursively) into a JSON-compatible dict - the ``--json``
output - and :func:`render_tree` draws that dict as a rich tree. :func:`validate_store`
collects OME-NGFF and NIfTI-Zarr findings as ``{"severity", "check", "message"}`` dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core import ZarrArray, ZarrGroup, ZarrNode
from ..errors import MetadataError
from ..nifti import read_nifti_header
from ..ome import check_with_ome_zarr_models, find_multiscale
from ..readers.zarr_store import ome_level_scales
from ..validation import OME_KEYS, ome_version, validate_hierarchy

#: NIfTI axis order (x, y, z, t, c) -> Zarr order, as nifti-zarr stores it.
_NIFTI_PERM = {3: (2, 1, 0), 4: (3, 2, 1, 0), 5: (3, 4, 2, 1, 0)}


def _jsonable(value: Any) -> Any:
    """numpy scalars and non-finite floats as JSON can hold them."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, complex):
        return [_jsonable(value.real), _jsonable(value.imag)]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _ratio(logical: int, stored: int | None) -> float | None:
    return round(logical / stored, 3) if stored else None


def stored_size(arr: ZarrArray) -> int | None:
    """Bytes ``arr`` occupies in its store, or ``None`` when the store will not list its
    keys (a server refusing directory listings, a bucket without list permission)."""
    try:
        return arr.nbytes_stored
    except Exception:  # any listing failure: the size is unknown, the array still readable
        return None


def describe_array(arr: ZarrArray, name: str) -> dict[str, Any]:
    """Layout and sizes of one array (``nbytes_stored`` ``None``: the store cannot list)."""
    stored = stored_size(arr)
    codec = arr.compressor
    return {
        "name": name,
        "kind": "array",
        "zarr_version": arr.zarr_version,
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "chunks": list(arr.chunks),
        "shards": list(arr.shards) if arr.shards else None,
        "compressor": {"name": codec.name, "options": dict(codec.options)},
        "fill_value": _jsonable(arr.fill_value),
        "order": arr.order,
        "dimension_separator": arr.spec.dimension_separator,
        "nbytes": arr.nbytes,
        "nbytes_stored": stored,
        "compression_ratio": _ratio(arr.nbytes, stored),
    }


def nifti_summary(group: ZarrGroup) -> dict[str, Any]:
    """The main fields of the group's NIfTI-Zarr header (``{"error": ...}`` if unreadable)."""
    try:
        header = read_nifti_header(group)
    except Exception as exc:  # any failure to parse is a finding, not a crash
        return {"error": " ".join(str(exc).split()) or type(exc).__name__}
    from nibabel.nifti1 import xform_codes

    dtype = np.dtype(header.get_data_dtype())
    slope, inter = header.get_slope_inter()
    space_unit, time_unit = header.get_xyzt_units()
    return {
        "version": 2 if int(header["sizeof_hdr"]) == 540 else 1,
        "dim": [int(d) for d in header.get_data_shape()],
        "voxel_size": [float(z) for z in header.get_zooms()],
        "units": {"space": space_unit, "time": time_unit},
        "datatype": dtype.name,
        "byte_order": {"<": "little", ">": "big"}.get(dtype.byteorder, "native"),
        "intent": header.get_intent()[0],
        "description": header["descrip"].item().decode("latin-1").strip("\x00 "),
        "qform": xform_codes.label[int(header["qform_code"])],
        "sform": xform_codes.label[int(header["sform_code"])],
        "scl_slope": _jsonable(slope),
        "scl_inter": _jsonable(inter),
        "affine": [[float(v) for v in row] for row in header.get_best_affine()],
    }


def ome_summary(group: ZarrGroup) -> dict[str, Any] | None:
    """The group's OME-NGFF multiscales: version, axes, and each level's shape/scale."""
    found = find_multiscale(group.attrs.asdict())
    if found is None:
        return None
    version, ms = found
    axes = ms.get("axes") or []
    ndim = len(axes)
    scales = ome_level_scales(ms, ndim)
    levels = []
    for i, ds in enumerate(ms.get("datasets") or []):
        path = str(ds.get("path"))
        node = group.get(path) if path else None
        levels.append({
            "path": path,
            "shape": list(node.shape) if isinstance(node, ZarrArray) else None,
            "scale": scales[i] if i < len(scales) else None,
        })
    return {
        "version": version,
        "name": ms.get("name", ""),
        "type": ms.get("type"),
        "axes": [
            a if isinstance(a, Mapping) else {"name": a} for a in axes
        ],
        "levels": levels,
    }


def describe(node: ZarrNode, label: str | None = None, name: str = "") -> dict[str, Any]:
    """A JSON-compatible description of ``node`` and, for a group, its whole tree."""
    if isinstance(node, ZarrArray):
        desc = describe_array(node, name)
        if label is not None:
            desc["url"] = label
        return desc
    if not isinstance(node, ZarrGroup):  # pragma: no cover - a node is one or the other
        raise TypeError(f"not a Zarr node: {node!r}")
    members = []
    for child in node.keys():
        members.append(describe(node[child], name=f"{name}/{child}" if name else child))
    arrays = list(_arrays(members))
    nbytes = sum(a["nbytes"] for a in arrays)
    sizes = [a["nbytes_stored"] for a in arrays]
    stored = None if None in sizes else sum(sizes)
    out: dict[str, Any] = {
        "name": name,
        "kind": "group",
        "zarr_version": node.zarr_version,
        "ome": ome_summary(node),
        "nifti": nifti_summary(node) if "nifti" in node.keys() else None,
        "nbytes": nbytes,
        "nbytes_stored": stored,
        "compression_ratio": _ratio(nbytes, stored),
        "members": members,
    }
    if label is not None:
        out = {"url": label, **out}
    return out


def _arrays(members: list[dict[str, Any]]) -> Any:
    for m in members:
        if m["kind"] == "array":
            yield m
        else:
            yield from _arrays(m["members"])


# -- rendering -----------------------------------------------------------------------------
def human_bytes(n: float | None) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``None`` (unknown) -> ``"?"``."""
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def _shape(values: Any) -> str:
    return "×".join(str(v) for v in values)


def _num(v: float) -> str:
    return f"{v:g}"


def codec_text(codec: Mapping[str, Any]) -> str:
    """``blosc(lz4, clevel=5, shuffle)``-style text of a compressor description."""
    opts = dict(codec.get("options") or {})
    if codec["name"] == "none":
        return "uncompressed"
    if codec["name"] == "blosc":
        return (f"blosc({opts.get('cname')}, clevel={opts.get('clevel')}, "
                f"{opts.get('shuffle')})")
    return f"{codec['name']}(level={opts.get('level')})" if "level" in opts else codec["name"]


def array_line(a: Mapping[str, Any], scale: list[float] | None = None) -> str:
    """One line describing an array (rich markup)."""
    parts = [
        f"[bold]{a['name'].rsplit('/', 1)[-1]}[/]",
        f"{_shape(a['shape'])} {a['dtype']}",
        f"chunks {_shape(a['chunks'])}",
    ]
    if a.get("shards"):
        parts.append(f"shards {_shape(a['shards'])}")
    parts.append(codec_text(a["compressor"]))
    ratio = a.get("compression_ratio")
    parts.append(
        f"{human_bytes(a['nbytes'])} → {human_bytes(a['nbytes_stored'])}"
        + (f" ({ratio:.2f}×)" if ratio else "")
    )
    if scale:
        parts.append(f"scale {' '.join(_num(s) for s in scale)}")
    return "  ".join(parts)


def _ome_line(ome: Mapping[str, Any]) -> str:
    axes = []
    for ax in ome["axes"]:
        unit = f" {ax['unit']}" if ax.get("unit") else ""
        axes.append(f"{ax.get('name')}{unit}")
    name = f" [italic]{ome['name']}[/]" if ome.get("name") else ""
    return (f"[cyan]OME-NGFF {ome['version']}[/] multiscales{name}: "
            f"{len(ome['levels'])} level(s); axes {', '.join(axes)}")


def _nifti_line(nii: Mapping[str, Any]) -> str:
    if "error" in nii:
        return f"[red]NIfTI-Zarr header unreadable:[/] {nii['error']}"
    units = nii["units"]
    return (
        f"[magenta]NIfTI-{nii['version']}[/] header: {_shape(nii['dim'])} voxels of "
        f"{'×'.join(_num(z) for z in nii['voxel_size'][:3])} {units['space']}, "
        f"{nii['datatype']} ({nii['byte_order']}-endian), qform {nii['qform']}, "
        f"sform {nii['sform']}"
        + (f", \"{nii['description']}\"" if nii.get("description") else "")
    )


def render_tree(desc: Mapping[str, Any]) -> Any:
    """A rich renderable of :func:`describe`'s output."""
    from rich.console import Group
    from rich.markup import escape
    from rich.text import Text
    from rich.tree import Tree

    title = escape(str(desc.get("url") or desc.get("name") or "/"))
    if desc["kind"] == "array":
        return Text.from_markup(f"{title}  [dim](Zarr v{desc['zarr_version']} array)[/]\n"
                                + array_line({**desc, "name": ""}))

    def fill(tree: Any, g: Mapping[str, Any]) -> None:
        ome = g.get("ome")
        scales = {}
        if ome:
            tree.add(Text.from_markup(_ome_line(ome)))
            scales = {lv["path"]: lv["scale"] for lv in ome["levels"]}
        if g.get("nifti"):
            tree.add(Text.from_markup(_nifti_line(g["nifti"])))
        for m in g["members"]:
            short = m["name"].rsplit("/", 1)[-1]
            if m["kind"] == "array":
                tree.add(Text.from_markup(array_line(m, scales.get(short))))
            else:
                sub = tree.add(Text.from_markup(f"[bold]{escape(short)}/[/] [dim](group)[/]"))
                fill(sub, m)

    tree = Tree(Text.from_markup(f"[bold]{title}[/]  [dim](Zarr v{desc['zarr_version']} group)[/]"))
    fill(tree, desc)
    ratio = desc.get("compression_ratio")
    total = Text(
        f"total: {human_bytes(desc['nbytes'])} logical, {human_bytes(desc['nbytes_stored'])} stored"
        + (f" ({ratio:.2f}×)" if ratio else "")
    )
    return Group(tree, total)


# -- validation ---------------------------------------------------------------------------
def _finding(severity: str, check: str, message: str) -> dict[str, str]:
    return {"severity": severity, "check": check, "message": message}


def nifti_findings(group: ZarrGroup) -> list[dict[str, str]]:
    """NIfTI-Zarr checks: the header parses, and agrees with level 0's shape and dtype."""
    check = "NIfTI-Zarr"
    if "nifti" not in group.keys():
        return [_finding("ok", check, "no nifti member (not a NIfTI-Zarr; nothing to check)")]
    member = group["nifti"]
    if not isinstance(member, ZarrArray) or member.ndim != 1 or member.dtype != np.uint8:
        return [_finding("error", check, "'nifti' must be a 1-D uint8 array holding the header")]
    summary = nifti_summary(group)
    if "error" in summary:
        return [_finding("error", check, f"header cannot be read: {summary['error']}")]
    out = [_finding("ok", check, f"NIfTI-{summary['version']} header readable "
                                 f"({_shape(summary['dim'])}, {summary['datatype']})")]
    found = find_multiscale(group.attrs.asdict())
    base_path = str(found[1]["datasets"][0]["path"]) if found and found[1].get("datasets") else "0"
    base = group.get(base_path)
    if not isinstance(base, ZarrArray):
        out.append(_finding(
            "error", check, f"no level-0 array {base_path!r} to check the header against"
        ))
        return out
    dims = summary["dim"]
    perm = _NIFTI_PERM.get(len(dims))
    expected = [dims[p] for p in perm] if perm else dims
    # nifti-zarr squeezes singleton axes of --no-time images: compare without them too
    squeezed = [n for n in base.shape if n != 1] == [n for n in expected if n != 1]
    if list(base.shape) != expected and not squeezed:
        out.append(_finding(
            "error", check,
            f"header dims {_shape(dims)} (x, y, z, t, c) do not match level 0 of shape "
            f"{_shape(base.shape)} (expected {_shape(expected)})",
        ))
    else:
        out.append(_finding("ok", check, f"header dims match level 0 ({_shape(base.shape)})"))
    if np.dtype(summary["datatype"]) != base.dtype.newbyteorder("="):
        out.append(_finding(
            "error", check,
            f"header datatype {summary['datatype']} differs from level 0's {base.dtype}",
        ))
    if not member.attrs.asdict():
        out.append(_finding("warning", check, "the nifti member has no JSON header attributes"))
    return out


def ome_findings(group: ZarrGroup) -> list[dict[str, str]]:
    """OME-NGFF checks of the group and every OME node below it (labels, wells, fields,
    bioformats2raw series) by :mod:`unizarr.validation`; an image whose metadata passes
    is also read with ``ome-zarr-models`` where it knows the version."""
    check = "OME-NGFF"
    findings = validate_hierarchy(group)
    out = [_finding(f.severity, check, str(f).split(": ", 1)[1]) for f in findings]
    if any(f.severity == "error" for f in findings):
        return out
    attrs = group.attrs.asdict()
    version = ome_version(attrs)
    found = find_multiscale(attrs)
    if found is not None and version in ("0.4", "0.5", "0.6"):
        try:
            check_with_ome_zarr_models(group, version)
        except MetadataError as exc:
            # the specification's rules passed: a model that disagrees (ome-zarr-models
            # requires a version on labels/ groups ome-zarr-py writes without one) is
            # reported, not taken as the verdict
            out.append(_finding("warning", check, "ome-zarr-models disagrees: "
                                + " ".join(str(exc).split())))
        except ImportError:
            pass  # the rules above still judged it; ome-zarr-models is a cross-check
    kinds = sorted({k for k in OME_KEYS if k in attrs or k in (attrs.get("ome") or {})})
    levels = f" ({len(found[1].get('datasets') or [])} levels)" if found else ""
    out.append(_finding("ok", check, f"OME-NGFF {version} {', '.join(kinds)}{levels} valid"))
    return out


def validate_store(node: ZarrNode) -> list[dict[str, str]]:
    """Every finding about ``node`` (an OME-Zarr group), errors and passes alike."""
    if isinstance(node, ZarrArray):
        return [_finding(
            "error", "OME-NGFF",
            "this is a Zarr array; OME-NGFF images are groups (give the group's path)",
        )]
    return ome_findings(node) + nifti_findings(node)  # type: ignore[arg-type]
