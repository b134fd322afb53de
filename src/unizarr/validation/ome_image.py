"""OME-NGFF image metadata: ``multiscales`` (axes, coordinate transformations, 0.6
coordinate systems) and ``omero`` channels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .findings import Judge, kind_of
from .ngff_spec import HEX6, SPACE_UNITS, TIME_UNITS, TRANSFORM_PARAMS


def _axes(judge: Judge, axes: Any, field: str, version: str) -> list[dict[str, Any]] | None:
    if not judge.is_list(axes, field):
        return None
    low = 2 if version != "0.6" else 1
    if not low <= len(axes) <= 5:
        judge.error(field, f"must have {low} to 5 axes, got {len(axes)}")
    ok = True
    for i, ax in enumerate(axes):
        f = f"{field}[{i}]"
        if not judge.is_dict(ax, f):
            ok = False
            continue
        if judge.required(ax, "name", f):
            ok &= judge.is_str(ax["name"], f"{f}.name")
        else:
            ok = False
        kind = ax.get("type")
        if kind is not None and judge.is_str(kind, f"{f}.type"):
            if kind not in ("space", "time", "channel"):
                judge.warn(f"{f}.type", f"{kind!r} is a custom axis type; the specification "
                                        "names space, time and channel")
        unit = ax.get("unit")
        if unit is not None and judge.is_str(unit, f"{f}.unit"):
            allowed = {"space": SPACE_UNITS, "time": TIME_UNITS}.get(kind)
            if allowed is not None and unit not in allowed:
                judge.warn(f"{f}.unit", f"{unit!r} is not a recommended {kind} unit "
                                        "(UDUNITS-2 names such as micrometer, second)")
            elif allowed is None and unit not in SPACE_UNITS and unit not in TIME_UNITS:
                judge.warn(f"{f}.unit", f"{unit!r} is not a recommended unit name")
        if "discrete" in ax and not isinstance(ax["discrete"], bool):
            judge.error(f"{f}.discrete", f"must be a boolean, got {kind_of(ax['discrete'])}")
    if not ok:
        return None
    names = [ax["name"] for ax in axes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        judge.error(field, f"axis names must be unique; repeated: {', '.join(dupes)}")
    types = [ax.get("type") for ax in axes]
    nspace = types.count("space")
    # 0.6 also admits coordinate systems of 'array' axes (an array's own index space)
    if nspace not in (2, 3) and not (version == "0.6" and types.count("array") >= 2):
        judge.error(field, f"must have 2 or 3 axes of type 'space', got {nspace}")
    if version != "0.6":
        if types.count("time") > 1 or types.count("channel") > 1:
            judge.error(field, "must have at most one 'time' and one 'channel' axis")
        if None not in types:
            # MUST: time first, then channel or custom, then the space axes
            rank = [0 if t == "time" else 2 if t == "space" else 1 for t in types]
            if rank != sorted(rank):
                judge.error(field, f"must be ordered time, channel/custom, space; got "
                                   f"{', '.join(map(str, types))}")
    return axes


def _transform(judge: Judge, t: Any, field: str, ndim: int | None, version: str,
               io: bool) -> str | None:
    """Check one coordinate transformation; returns its type (``None`` if unusable)."""
    if not judge.is_dict(t, field):
        return None
    if not judge.required(t, "type", field) or not judge.is_str(t["type"], f"{field}.type"):
        return None
    kind = t["type"]
    known = ("scale", "translation") if version != "0.6" else tuple(TRANSFORM_PARAMS)
    if kind not in known:
        judge.error(f"{field}.type", f"unknown transformation type {kind!r}; allowed: "
                                     f"{', '.join(known)}")
        return None
    # "" for the types whose values never sit inline (identity, displacements, ...):
    # no branch below reads their parameter.
    param = TRANSFORM_PARAMS[kind] or ""
    if version != "0.6":
        if judge.one_of_value_or_path(t, kind, param, field):
            judge.numbers(t[param], f"{field}.{param}", ndim)
        elif "path" in t and param not in t:
            judge.is_str(t["path"], f"{field}.path")
        return kind
    if io:
        for key in ("input", "output"):
            if judge.required(t, key, field):
                _io_ref(judge, t[key], f"{field}.{key}")
    if kind in ("scale", "translation"):
        if "path" in t:
            judge.error(f"{field}.path", f"a {kind} carries its values inline, not in an "
                                         "array")
        if judge.required(t, param, field):
            judge.numbers(t[param], f"{field}.{param}")
    elif kind in ("affine", "rotation"):
        if judge.one_of_value_or_path(t, kind, param, field):
            _matrix(judge, t[param], f"{field}.{param}", square=kind == "rotation")
    elif kind == "mapAxis":
        if judge.required_list(t, "mapAxis", field):
            perm = t["mapAxis"]
            if all(judge.is_int(v, f"{field}.mapAxis[{i}]", 0) for i, v in enumerate(perm)):
                if sorted(perm) != list(range(len(perm))):
                    judge.error(f"{field}.mapAxis", f"must be a permutation of 0.."
                                                    f"{len(perm) - 1}, got {perm}")
    elif kind == "sequence":
        if judge.required_list(t, param, field):
            for i, sub in enumerate(t[param]):
                _transform(judge, sub, f"{field}.{param}[{i}]", None, version, io=False)
    elif kind == "byDimension":
        if judge.required_list(t, param, field):
            for f, item in judge.objects(t[param], f"{field}.{param}"):
                if judge.required(item, "transformation", f):
                    _transform(judge, item["transformation"], f"{f}.transformation", None,
                               version, io=False)
                for key in ("inputAxes", "outputAxes"):
                    if judge.required_list(item, key, f):
                        for k, v in enumerate(item[key]):
                            judge.is_int(v, f"{f}.{key}[{k}]", 0)
    elif kind == "inverseOf":
        if judge.required(t, "transformation", field):
            _transform(judge, t["transformation"], f"{field}.transformation", None, version,
                       io=False)
    elif kind == "bijection":
        for key in ("forward", "inverse"):
            if judge.required(t, key, field):
                _transform(judge, t[key], f"{field}.{key}", None, version, io=False)
    elif kind in ("displacements", "coordinates"):
        if judge.required(t, "path", field):
            judge.is_str(t["path"], f"{field}.path")
    return kind


def _io_ref(judge: Judge, ref: Any, field: str) -> None:
    if not judge.is_dict(ref, field):
        return
    if not ("name" in ref or "path" in ref):
        judge.error(field, "must name a coordinate system ('name') or an array ('path')")
    for key in ("name", "path"):
        if key in ref:
            judge.is_str(ref[key], f"{field}.{key}")


def reference_of(value: Any) -> tuple[str, str] | None:
    """``("name"|"path", value)`` of a 0.6 input/output (a bare string counts as either)."""
    if isinstance(value, Mapping):
        for key in ("path", "name"):
            if isinstance(value.get(key), str):
                return (key, value[key])
    return None


def _matrix(judge: Judge, m: Any, field: str, square: bool) -> None:
    if not judge.is_list(m, field, 1):
        return
    rows = [r for i, r in enumerate(m) if judge.numbers(r, f"{field}[{i}]")]
    if len(rows) != len(m):
        return
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        judge.error(field, "rows must all have the same length")
    elif square and widths != {len(rows)}:
        judge.error(field, f"a rotation must be square, got {len(rows)}x{widths.pop()}")


def _dataset_transforms(judge: Judge, ts: Any, field: str, ndim: int | None,
                        version: str) -> None:
    """0.4/0.5: exactly one scale, then at most one translation."""
    if not judge.is_list(ts, field, 1):
        return
    kinds = [_transform(judge, t, f"{field}[{i}]", ndim, version, io=False)
             for i, t in enumerate(ts)]
    if None in kinds:
        return
    if kinds.count("scale") != 1 or kinds[0] != "scale":
        judge.error(field, "must hold exactly one 'scale', first")
    if kinds.count("translation") > 1 or len(kinds) > 2:
        judge.error(field, "may hold only a 'scale' and at most one 'translation' after it")


def _coordinate_systems(judge: Judge, systems: Any, field: str) -> dict[str, int]:
    """0.6: the named coordinate systems and their dimensionality."""
    out: dict[str, int] = {}
    if not judge.is_list(systems, field, 1):
        return out
    for f, cs in judge.objects(systems, field):
        name_ok = judge.required(cs, "name", f) and judge.is_str(cs["name"], f"{f}.name")
        axes = _axes(judge, cs["axes"], f"{f}.axes", "0.6") if judge.required(cs, "axes", f) else None
        if name_ok:
            if cs["name"] in out:
                judge.error(f"{f}.name", f"coordinate system {cs['name']!r} is defined twice")
            out[cs["name"]] = len(axes) if axes is not None else -1
    return out


def multiscales(judge: Judge, value: Any, field: str, version: str) -> None:
    if not judge.is_list(value, field, 1):
        return
    for f, ms in judge.objects(value, field):
        judge.version_hint(ms, f, "multiscales", version)
        if "name" in ms and not isinstance(ms["name"], str):
            judge.error(f"{f}.name", f"must be a string, got {kind_of(ms['name'])}")
        if version == "0.6":
            _multiscale_06(judge, ms, f)
            continue
        axes = _axes(judge, ms["axes"], f"{f}.axes", version) if judge.required(ms, "axes", f) else None
        ndim = len(axes) if axes is not None else None
        if judge.required_list(ms, "datasets", f):
            paths = []
            for fd, ds in judge.objects(ms["datasets"], f"{f}.datasets"):
                if judge.required(ds, "path", fd) and judge.is_str(ds["path"], f"{fd}.path"):
                    paths.append(ds["path"])
                if judge.required(ds, "coordinateTransformations", fd):
                    _dataset_transforms(judge, ds["coordinateTransformations"],
                                        f"{fd}.coordinateTransformations", ndim, version)
            judge.unique_paths(paths, f"{f}.datasets")
        if "coordinateTransformations" in ms:
            _dataset_transforms(judge, ms["coordinateTransformations"],
                                f"{f}.coordinateTransformations", ndim, version)


def _multiscale_06(judge: Judge, ms: Mapping[str, Any], f: str) -> None:
    if "axes" in ms:
        judge.error(f"{f}.axes", "0.6 multiscales declare axes in 'coordinateSystems'")
    systems = (_coordinate_systems(judge, ms["coordinateSystems"], f"{f}.coordinateSystems")
               if judge.required(ms, "coordinateSystems", f) else {})
    intrinsic: str | None = None  # the system the datasets map to
    if not judge.required_list(ms, "datasets", f):
        return
    paths = []
    for fd, ds in judge.objects(ms["datasets"], f"{f}.datasets"):
        path = ds.get("path")
        if judge.required(ds, "path", fd) and judge.is_str(path, f"{fd}.path"):
            paths.append(path)
        if not judge.required(ds, "coordinateTransformations", fd):
            continue
        ft = f"{fd}.coordinateTransformations"
        ts = ds["coordinateTransformations"]
        if not judge.is_list(ts, ft, 1):
            continue
        if len(ts) != 1:
            judge.error(ft, f"must hold exactly one transformation (a scale, or a sequence "
                            f"of scale and translation), got {len(ts)}")
            continue
        t = ts[0]
        kind = _transform(judge, t, f"{ft}[0]", None, "0.6", io=True)
        if kind is None:
            continue
        if kind == "sequence":
            inner = [s.get("type") for s in t.get("transformations") or [] if isinstance(s, Mapping)]
            if inner not in (["scale"], ["scale", "translation"], ["translation", "scale"]):
                judge.error(f"{ft}[0].transformations", "a dataset's sequence must be a scale "
                                                        f"and a translation, got {inner}")
        elif kind not in ("scale", "identity"):
            judge.error(f"{ft}[0].type", f"a dataset maps to the coordinate system with a "
                                         f"scale (or a sequence of scale and translation), "
                                         f"not {kind!r}")
        src, dst = reference_of(t.get("input")), reference_of(t.get("output"))
        if src is not None and isinstance(path, str) and (src[0] == "name" or src[1] != path):
            judge.error(f"{ft}[0].input", f"must be the dataset's own path {path!r}")
        if dst is not None and systems:
            if dst[0] == "path" or dst[1] not in systems:
                judge.error(f"{ft}[0].output", f"must name a coordinate system of this "
                                               f"multiscale ({', '.join(systems)})")
            elif intrinsic is None:
                intrinsic = dst[1]
            elif dst[1] != intrinsic:
                judge.error(f"{ft}[0].output", f"every dataset must map to the same "
                                               f"coordinate system ({intrinsic!r}), got "
                                               f"{dst[1]!r}")
    judge.unique_paths(paths, f"{f}.datasets")
    if "coordinateTransformations" in ms:
        ft = f"{f}.coordinateTransformations"
        if judge.is_list(ms["coordinateTransformations"], ft, 1):
            for i, t in enumerate(ms["coordinateTransformations"]):
                _transform(judge, t, f"{ft}[{i}]", None, "0.6", io=True)
                if not isinstance(t, Mapping):
                    continue
                for key in ("input", "output"):
                    ref = reference_of(t.get(key))
                    if ref is not None and (ref[0] == "path" or ref[1] not in systems):
                        judge.error(f"{ft}[{i}].{key}", "must name a coordinate system of "
                                                        "this multiscale")


def omero(judge: Judge, value: Any, field: str) -> None:
    if not judge.is_dict(value, field):
        return
    channels = value.get("channels")
    if channels is None:
        return
    if not judge.is_list(channels, f"{field}.channels"):
        return
    for f, ch in judge.objects(channels, f"{field}.channels"):
        if "color" in ch and judge.is_str(ch["color"], f"{f}.color"):
            if not HEX6.match(ch["color"]):
                judge.error(f"{f}.color", f"must be a 6-digit hex RGB string, got "
                                          f"{ch['color']!r}")
        if "window" in ch and judge.is_dict(ch["window"], f"{f}.window"):
            for key in ("min", "max", "start", "end"):
                if judge.required(ch["window"], key, f"{f}.window"):
                    judge.is_number(ch["window"][key], f"{f}.window.{key}")
