"""OME-NGFF rules only the store can check: dataset arrays exist with the rank (and 0.5+
dimension names) of the axes, and the labels, wells, fields and bioformats2raw series
listed exist; each is judged in turn (:func:`validate_hierarchy`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..core import ZarrArray, ZarrGroup
from .findings import Finding, Judge, join
from .ome_document import ome_document, validate_attributes
from .ome_image import reference_of


def validate_hierarchy(group: Any, path: str = "") -> list[Finding]:
    """Every finding about an OME-Zarr group (a :class:`unizarr.ZarrGroup`) and the OME
    nodes below it: labels, wells, fields and bioformats2raw series."""
    return list(_walk(group, path, set()))


def _walk(group: Any, path: str, seen: set[str]) -> Iterator[Finding]:
    if path in seen:
        return
    seen.add(path)
    attrs = group.attrs.asdict()
    findings = validate_attributes(attrs, path)
    yield from findings
    judge = Judge(path)
    version, doc, prefix = ome_document(attrs, Judge(path))
    if version == "0.5" and group.zarr_version != 3:
        judge.error(prefix or "ome", "OME-NGFF 0.5 needs a Zarr v3 group")
    if version == "0.4" and group.zarr_version != 2:
        judge.warn("multiscales", "OME-NGFF 0.4 is defined on Zarr v2; this group is v3")
    for m, ms in enumerate(doc.get("multiscales") or []):
        if not isinstance(ms, Mapping):
            continue
        f = f"{join(prefix, 'multiscales')}[{m}]"
        axes = _target_axes(ms) if version == "0.6" else ms.get("axes")
        ndim = len(axes) if isinstance(axes, list) else None
        names = ([a.get("name") for a in axes if isinstance(a, Mapping)]
                 if version != "0.4" and isinstance(axes, list) else [])
        for d, ds in enumerate(ms.get("datasets") or []):
            p = ds.get("path") if isinstance(ds, Mapping) else None
            if not isinstance(p, str):
                continue
            node = _member(group, p)
            fd = f"{f}.datasets[{d}].path"
            if not isinstance(node, ZarrArray):
                judge.error(fd, f"dataset {p!r} is not an array in the store")
                continue
            if ndim is not None and node.ndim != ndim:
                judge.error(fd, f"array {p!r} has {node.ndim} dimensions, the axes say {ndim}")
            if version in ("0.5", "0.6") and names and node.zarr_version == 3:
                dims = node.spec.dimension_names
                if dims is not None and list(dims) != names:
                    judge.error(fd, f"array {p!r} has dimension_names {list(dims)}, the axes "
                                    f"are {names}")
    fields: dict[str, str] = {}  # child -> the field that lists it

    def add(names: list[str], field: str) -> None:
        for n in names:
            fields.setdefault(n, field)

    if "labels" in doc and isinstance(doc["labels"], list):
        add([n for n in doc["labels"] if isinstance(n, str)], join(prefix, "labels"))
    elif isinstance(_member(group, "labels"), ZarrGroup) and path.rsplit("/", 1)[-1] != "labels":
        add(["labels"], "")
    plate = doc.get("plate")
    if isinstance(plate, Mapping):
        add([w["path"] for w in plate.get("wells") or []
             if isinstance(w, Mapping) and isinstance(w.get("path"), str)],
            join(prefix, "plate.wells"))
    well = doc.get("well")
    if isinstance(well, Mapping):
        add([i["path"] for i in well.get("images") or []
             if isinstance(i, Mapping) and isinstance(i.get("path"), str)],
            join(prefix, "well.images"))
    if "bioformats2raw.layout" in doc:
        series = doc.get("series")
        if isinstance(series, list):
            add([s for s in series if isinstance(s, str)], join(prefix, "series"))
        else:
            i = 0
            while isinstance(_member(group, str(i)), ZarrGroup):
                add([str(i)], "")
                i += 1
    for child, field in fields.items():
        node = _member(group, child)
        child_path = f"{path}/{child}" if path else child
        if not isinstance(node, ZarrGroup):
            judge.error(field, f"{child!r} is listed here but is not a group in the store")
            continue
        if not node.attrs.asdict() and child == "labels" and not field:
            continue  # a plain labels/ group without metadata is not claimed as OME
        yield from _walk(node, child_path, seen)
    yield from judge.findings


def _member(group: Any, name: str) -> Any:
    """``group[name]``, or ``None`` for a name that is missing or not a valid member path
    (``..``, an absolute path): the caller reports it as missing."""
    try:
        return group.get(name)
    except (ValueError, KeyError, TypeError):
        return None


def _target_axes(ms: Mapping[str, Any]) -> list[Any] | None:
    """0.6: the axes of the coordinate system the datasets map to."""
    systems = {cs.get("name"): cs for cs in ms.get("coordinateSystems") or []
               if isinstance(cs, Mapping)}
    for ds in ms.get("datasets") or []:
        ts = ds.get("coordinateTransformations") if isinstance(ds, Mapping) else None
        if isinstance(ts, list) and ts and isinstance(ts[0], Mapping):
            ref = reference_of(ts[0].get("output"))
            if ref is not None and ref[1] in systems:
                axes = systems[ref[1]].get("axes")
                return axes if isinstance(axes, list) else None
    return None
