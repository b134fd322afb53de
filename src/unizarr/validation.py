"""Judge OME-NGFF metadata (0.4, 0.5, 0.6): images, labels, plates, wells, bioformats2raw.

Every rule of the specification a document breaks becomes a :class:`Finding` naming the
node path and the field (``multiscales[0].axes[1].unit``). A MUST that is broken is an
``"error"``; a SHOULD (a recommended unit name, a plate's ``name``, label ``colors``) is a
``"warning"``, so a document is *valid* when it has no errors and *strict-valid* when it has
no warnings either - the two levels of the specification's own test suites.

Two entry points:

* :func:`validate_attributes` judges one group's attributes (a JSON document; no I/O).
* :func:`validate_hierarchy` walks a store: each node's attributes, plus what only the
  store can tell (dataset arrays exist with the rank of the axes, listed labels, wells
  and fields exist), recursing into ``labels/``, wells, fields and bioformats2raw series.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: NGFF versions judged here (0.6 release candidates and dev versions count as 0.6).
VERSIONS = ("0.4", "0.5", "0.6")

#: Length and time units the specification recommends (UDUNITS-2 names).
SPACE_UNITS = frozenset((
    "angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot",
    "gigameter", "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer",
    "mile", "millimeter", "nanometer", "parsec", "petameter", "picometer", "terameter",
    "yard", "yoctometer", "yottameter", "zeptometer", "zettameter",
))
TIME_UNITS = frozenset((
    "attosecond", "centisecond", "day", "decisecond", "exasecond", "femtosecond",
    "gigasecond", "hectosecond", "hour", "kilosecond", "megasecond", "microsecond",
    "millisecond", "minute", "nanosecond", "petasecond", "picosecond", "second",
    "terasecond", "yoctosecond", "yottasecond", "zeptosecond", "zettasecond",
))
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_FIELD_06 = re.compile(r"^[A-Za-z0-9_.\-]+$")
_HEX6 = re.compile(r"^[0-9A-Fa-f]{6}$")
#: 0.6 transformation types and the parameter each carries inline (``path`` may replace it).
_TRANSFORM_PARAMS = {
    "identity": None, "mapAxis": "mapAxis", "translation": "translation", "scale": "scale",
    "affine": "affine", "rotation": "rotation", "sequence": "transformations",
    "displacements": None, "coordinates": None, "inverseOf": "transformation",
    "bijection": None, "byDimension": "transformations",
}
#: Attribute keys that make a group an OME node (0.4 top level; 0.5+ under ``ome``).
OME_KEYS = ("multiscales", "omero", "image-label", "labels", "plate", "well",
            "bioformats2raw.layout", "series")


@dataclass(frozen=True)
class Finding:
    """One broken rule: ``severity`` is ``"error"`` (MUST) or ``"warning"`` (SHOULD)."""

    severity: str
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path or '/'}: {self.field}" if self.field else (self.path or "/")
        return f"{self.severity}: {where}: {self.message}"


class _Judge:
    """Collects findings for one node; ``field`` paths are built by the callers."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []

    def error(self, field: str, message: str) -> None:
        self.findings.append(Finding("error", self.path, field, message))

    def warn(self, field: str, message: str) -> None:
        self.findings.append(Finding("warning", self.path, field, message))

    # -- JSON type helpers: each reports and returns whether the value has the type
    def is_list(self, value: Any, field: str, min_items: int = 0) -> bool:
        if not isinstance(value, list):
            self.error(field, f"must be an array, got {_kind(value)}")
            return False
        if len(value) < min_items:
            self.error(field, f"must have at least {min_items} item(s), got {len(value)}")
            return False
        return True

    def is_dict(self, value: Any, field: str) -> bool:
        if not isinstance(value, Mapping):
            self.error(field, f"must be an object, got {_kind(value)}")
            return False
        return True

    def is_str(self, value: Any, field: str) -> bool:
        if not isinstance(value, str):
            self.error(field, f"must be a string, got {_kind(value)}")
            return False
        return True

    def is_int(self, value: Any, field: str, minimum: int | None = None) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(field, f"must be an integer, got {_kind(value)}")
            return False
        if minimum is not None and value < minimum:
            self.error(field, f"must be >= {minimum}, got {value}")
            return False
        return True

    def is_number(self, value: Any, field: str) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(field, f"must be a number, got {_kind(value)}")
            return False
        return True

    def numbers(self, value: Any, field: str, length: int | None = None) -> bool:
        if not self.is_list(value, field, 1):
            return False
        if not all(self.is_number(v, f"{field}[{i}]") for i, v in enumerate(value)):
            return False
        if length is not None and len(value) != length:
            self.error(field, f"must have {length} values (one per axis), got {len(value)}")
            return False
        return True

    def required(self, obj: Mapping[str, Any], key: str, field: str) -> bool:
        if key not in obj:
            self.error(_join(field, key), "is required but missing")
            return False
        return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def ome_version(attrs: Mapping[str, Any]) -> str | None:
    """The NGFF version a group's attributes declare, normalised to ``0.4``/``0.5``/``0.6``
    (``None`` when there is no OME metadata; the raw string when it is not one of these)."""
    ome = attrs.get("ome")
    raw: Any = None
    if isinstance(ome, Mapping):
        raw = ome.get("version")
        if raw is None and any(k in ome for k in OME_KEYS):
            raw = "0.5"  # nested metadata without a version: 0.5 at the earliest
    else:
        for key in ("multiscales", "plate", "well", "image-label"):
            value = attrs.get(key)
            if isinstance(value, list) and value and isinstance(value[0], Mapping):
                value = value[0]
            if isinstance(value, Mapping) and "version" in value:
                raw = value["version"]
                break
        else:
            if any(k in attrs for k in OME_KEYS):
                raw = "0.4"  # 0.4 documents without any version field (labels, omero)
    if raw is None:
        return None
    raw = str(raw)
    if raw.startswith("0.6"):
        return "0.6"
    return raw


def _ome_document(attrs: Mapping[str, Any], judge: _Judge) -> tuple[str | None, dict[str, Any], str]:
    """The version, the OME document (the ``ome`` object, or the attributes for 0.4) and
    the field prefix of its keys."""
    ome = attrs.get("ome")
    if isinstance(ome, Mapping):
        version = ome_version(attrs)
        if "version" not in ome:
            if set(ome) & set(OME_KEYS) == {"labels"}:
                # a labels/ group has no schema of its own; ome-zarr-py writes it bare
                judge.warn("ome.version", "SHOULD be given (missing on a labels group)")
            else:
                judge.error("ome.version", "is required but missing")
        elif not isinstance(ome["version"], str):
            judge.error("ome.version", f"must be a string, got {_kind(ome['version'])}")
        if version == "0.4":
            judge.error("ome.version", "0.4 metadata lives in the top-level attributes, "
                                       "not under 'ome'")
        return version, dict(ome), "ome"
    if "ome" in attrs:
        judge.error("ome", f"must be an object, got {_kind(ome)}")
        return None, {}, "ome"
    return ome_version(attrs), dict(attrs), ""


def validate_attributes(attrs: Mapping[str, Any], path: str = "") -> list[Finding]:
    """Every finding about one group's attributes (a parsed ``.zattrs`` or the
    ``attributes`` of a ``zarr.json``), without looking at the store."""
    judge = _Judge(path)
    if not isinstance(attrs, Mapping):
        judge.error("", f"attributes must be an object, got {_kind(attrs)}")
        return judge.findings
    version, doc, prefix = _ome_document(attrs, judge)
    keys = [k for k in OME_KEYS if k in doc]
    if not keys:
        if not judge.findings:
            judge.error(prefix, "no OME-NGFF metadata: no multiscales metadata, nor labels, "
                                "image-label, plate, well or bioformats2raw.layout")
        return judge.findings
    if version not in VERSIONS:
        field = "ome.version" if prefix else f"{keys[0]}.version"
        judge.error(field, f"unsupported OME-NGFF version {version!r}; "
                           f"this validator knows {', '.join(VERSIONS)}")
        return judge.findings
    for key in keys:
        field = _join(prefix, key)
        value = doc[key]
        if key == "multiscales":
            _multiscales(judge, value, field, version)
        elif key == "omero":
            _omero(judge, value, field)
        elif key == "image-label":
            _image_label(judge, value, field, version)
        elif key == "labels":
            if judge.is_list(value, field, 1):
                for i, name in enumerate(value):
                    judge.is_str(name, f"{field}[{i}]")
        elif key == "plate":
            _plate(judge, value, field, version)
        elif key == "well":
            _well(judge, value, field, version)
        elif key == "bioformats2raw.layout":
            if value != 3:
                judge.error(field, f"must be 3, got {value!r}")
        elif key == "series":
            if judge.is_list(value, field):
                for i, name in enumerate(value):
                    judge.is_str(name, f"{field}[{i}]")
    return judge.findings


# -- images -------------------------------------------------------------------------------
def _axes(judge: _Judge, axes: Any, field: str, version: str) -> list[dict[str, Any]] | None:
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
            elif allowed is None and unit not in SPACE_UNITS | TIME_UNITS:
                judge.warn(f"{f}.unit", f"{unit!r} is not a recommended unit name")
        if "discrete" in ax and not isinstance(ax["discrete"], bool):
            judge.error(f"{f}.discrete", f"must be a boolean, got {_kind(ax['discrete'])}")
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


def _transform(judge: _Judge, t: Any, field: str, ndim: int | None, version: str,
               io: bool) -> str | None:
    """Check one coordinate transformation; returns its type (``None`` if unusable)."""
    if not judge.is_dict(t, field):
        return None
    if not judge.required(t, "type", field) or not judge.is_str(t["type"], f"{field}.type"):
        return None
    kind = t["type"]
    known = ("scale", "translation") if version != "0.6" else tuple(_TRANSFORM_PARAMS)
    if kind not in known:
        judge.error(f"{field}.type", f"unknown transformation type {kind!r}; allowed: "
                                     f"{', '.join(known)}")
        return None
    param = _TRANSFORM_PARAMS[kind]
    if version != "0.6":
        has_param, has_path = param in t, "path" in t
        if has_param == has_path:
            judge.error(field, f"a {kind} needs exactly one of {param!r} or 'path'")
        elif has_param:
            judge.numbers(t[param], f"{field}.{param}", ndim)
        else:
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
        if (param in t) == ("path" in t):
            judge.error(field, f"a {kind} needs exactly one of {param!r} or 'path'")
        elif param in t:
            _matrix(judge, t[param], f"{field}.{param}", square=kind == "rotation")
    elif kind == "mapAxis":
        if judge.required(t, "mapAxis", field) and judge.is_list(t["mapAxis"],
                                                                  f"{field}.mapAxis", 1):
            perm = t["mapAxis"]
            if all(judge.is_int(v, f"{field}.mapAxis[{i}]", 0) for i, v in enumerate(perm)):
                if sorted(perm) != list(range(len(perm))):
                    judge.error(f"{field}.mapAxis", f"must be a permutation of 0.."
                                                    f"{len(perm) - 1}, got {perm}")
    elif kind == "sequence":
        if judge.required(t, param, field) and judge.is_list(t[param], f"{field}.{param}", 1):
            for i, sub in enumerate(t[param]):
                _transform(judge, sub, f"{field}.{param}[{i}]", None, version, io=False)
    elif kind == "byDimension":
        if judge.required(t, param, field) and judge.is_list(t[param], f"{field}.{param}", 1):
            for i, item in enumerate(t[param]):
                f = f"{field}.{param}[{i}]"
                if not judge.is_dict(item, f):
                    continue
                if judge.required(item, "transformation", f):
                    _transform(judge, item["transformation"], f"{f}.transformation", None,
                               version, io=False)
                for key in ("inputAxes", "outputAxes"):
                    if judge.required(item, key, f) and judge.is_list(item[key], f"{f}.{key}", 1):
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


def _io_ref(judge: _Judge, ref: Any, field: str) -> None:
    if not judge.is_dict(ref, field):
        return
    if not ("name" in ref or "path" in ref):
        judge.error(field, "must name a coordinate system ('name') or an array ('path')")
    for key in ("name", "path"):
        if key in ref:
            judge.is_str(ref[key], f"{field}.{key}")


def _ref(value: Any) -> tuple[str, str] | None:
    """``("name"|"path", value)`` of a 0.6 input/output (a bare string counts as either)."""
    if isinstance(value, Mapping):
        for key in ("path", "name"):
            if isinstance(value.get(key), str):
                return (key, value[key])
    return None


def _matrix(judge: _Judge, m: Any, field: str, square: bool) -> None:
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


def _dataset_transforms(judge: _Judge, ts: Any, field: str, ndim: int | None,
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


def _coordinate_systems(judge: _Judge, systems: Any, field: str) -> dict[str, int]:
    """0.6: the named coordinate systems and their dimensionality."""
    out: dict[str, int] = {}
    if not judge.is_list(systems, field, 1):
        return out
    for i, cs in enumerate(systems):
        f = f"{field}[{i}]"
        if not judge.is_dict(cs, f):
            continue
        name_ok = judge.required(cs, "name", f) and judge.is_str(cs["name"], f"{f}.name")
        axes = _axes(judge, cs["axes"], f"{f}.axes", "0.6") if judge.required(cs, "axes", f) else None
        if name_ok:
            if cs["name"] in out:
                judge.error(f"{f}.name", f"coordinate system {cs['name']!r} is defined twice")
            out[cs["name"]] = len(axes) if axes is not None else -1
    return out


def _multiscales(judge: _Judge, value: Any, field: str, version: str) -> None:
    if not judge.is_list(value, field, 1):
        return
    for m, ms in enumerate(value):
        f = f"{field}[{m}]"
        if not judge.is_dict(ms, f):
            continue
        if version == "0.4" and "version" not in ms:
            judge.warn(f"{f}.version", "0.4 multiscales SHOULD carry 'version'")
        if "name" in ms and not isinstance(ms["name"], str):
            judge.error(f"{f}.name", f"must be a string, got {_kind(ms['name'])}")
        if version == "0.6":
            _multiscale_06(judge, ms, f)
            continue
        axes = _axes(judge, ms["axes"], f"{f}.axes", version) if judge.required(ms, "axes", f) else None
        ndim = len(axes) if axes is not None else None
        if judge.required(ms, "datasets", f) and judge.is_list(ms["datasets"], f"{f}.datasets", 1):
            paths = []
            for d, ds in enumerate(ms["datasets"]):
                fd = f"{f}.datasets[{d}]"
                if not judge.is_dict(ds, fd):
                    continue
                if judge.required(ds, "path", fd) and judge.is_str(ds["path"], f"{fd}.path"):
                    paths.append(ds["path"])
                if judge.required(ds, "coordinateTransformations", fd):
                    _dataset_transforms(judge, ds["coordinateTransformations"],
                                        f"{fd}.coordinateTransformations", ndim, version)
            if len(set(paths)) != len(paths):
                judge.error(f"{f}.datasets", "dataset paths must be unique")
        if "coordinateTransformations" in ms:
            _dataset_transforms(judge, ms["coordinateTransformations"],
                                f"{f}.coordinateTransformations", ndim, version)


def _multiscale_06(judge: _Judge, ms: Mapping[str, Any], f: str) -> None:
    if "axes" in ms:
        judge.error(f"{f}.axes", "0.6 multiscales declare axes in 'coordinateSystems'")
    systems = (_coordinate_systems(judge, ms["coordinateSystems"], f"{f}.coordinateSystems")
               if judge.required(ms, "coordinateSystems", f) else {})
    intrinsic: str | None = None  # the system the datasets map to
    if not (judge.required(ms, "datasets", f)
            and judge.is_list(ms["datasets"], f"{f}.datasets", 1)):
        return
    paths = []
    for d, ds in enumerate(ms["datasets"]):
        fd = f"{f}.datasets[{d}]"
        if not judge.is_dict(ds, fd):
            continue
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
        src, dst = _ref(t.get("input")), _ref(t.get("output"))
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
    if len(set(paths)) != len(paths):
        judge.error(f"{f}.datasets", "dataset paths must be unique")
    if "coordinateTransformations" in ms:
        ft = f"{f}.coordinateTransformations"
        if judge.is_list(ms["coordinateTransformations"], ft, 1):
            for i, t in enumerate(ms["coordinateTransformations"]):
                _transform(judge, t, f"{ft}[{i}]", None, "0.6", io=True)
                if not isinstance(t, Mapping):
                    continue
                for key in ("input", "output"):
                    ref = _ref(t.get(key))
                    if ref is not None and (ref[0] == "path" or ref[1] not in systems):
                        judge.error(f"{ft}[{i}].{key}", "must name a coordinate system of "
                                                        "this multiscale")


def _omero(judge: _Judge, value: Any, field: str) -> None:
    if not judge.is_dict(value, field):
        return
    channels = value.get("channels")
    if channels is None:
        return
    if not judge.is_list(channels, f"{field}.channels"):
        return
    for i, ch in enumerate(channels):
        f = f"{field}.channels[{i}]"
        if not judge.is_dict(ch, f):
            continue
        if "color" in ch and judge.is_str(ch["color"], f"{f}.color"):
            if not _HEX6.match(ch["color"]):
                judge.error(f"{f}.color", f"must be a 6-digit hex RGB string, got "
                                          f"{ch['color']!r}")
        if "window" in ch and judge.is_dict(ch["window"], f"{f}.window"):
            for key in ("min", "max", "start", "end"):
                if judge.required(ch["window"], key, f"{f}.window"):
                    judge.is_number(ch["window"][key], f"{f}.window.{key}")


# -- labels -------------------------------------------------------------------------------
def _label_values(judge: _Judge, items: Any, field: str, what: str) -> None:
    if not judge.is_list(items, field, 1):
        return
    seen: set[Any] = set()
    for i, item in enumerate(items):
        f = f"{field}[{i}]"
        if not judge.is_dict(item, f):
            continue
        if judge.required(item, "label-value", f):
            v = item["label-value"]
            if judge.is_number(v, f"{f}.label-value"):
                if v in seen:
                    judge.error(f"{f}.label-value", f"label-value {v} appears twice in {what}")
                seen.add(v)
        if what == "colors" and "rgba" in item:
            rgba = item["rgba"]
            if judge.is_list(rgba, f"{f}.rgba"):
                if len(rgba) != 4:
                    judge.error(f"{f}.rgba", f"must have 4 values, got {len(rgba)}")
                for k, c in enumerate(rgba):
                    judge.is_int(c, f"{f}.rgba[{k}]", 0)
                    if isinstance(c, int) and c > 255:
                        judge.error(f"{f}.rgba[{k}]", f"must be <= 255, got {c}")


def _image_label(judge: _Judge, value: Any, field: str, version: str) -> None:
    if not judge.is_dict(value, field):
        return
    if version == "0.4" and "version" not in value:
        judge.warn(f"{field}.version", "0.4 image-label SHOULD carry 'version'")
    if "colors" in value:
        _label_values(judge, value["colors"], f"{field}.colors", "colors")
    else:
        judge.warn(f"{field}.colors", "image-label SHOULD list 'colors'")
    if "properties" in value:
        _label_values(judge, value["properties"], f"{field}.properties", "properties")
    if "source" in value and judge.is_dict(value["source"], f"{field}.source"):
        if "image" in value["source"]:
            judge.is_str(value["source"]["image"], f"{field}.source.image")


# -- plates and wells ---------------------------------------------------------------------
def _named(judge: _Judge, items: Any, field: str, what: str) -> list[str]:
    names: list[str] = []
    if not judge.is_list(items, field, 1):
        return names
    for i, item in enumerate(items):
        f = f"{field}[{i}]"
        if judge.is_dict(item, f) and judge.required(item, "name", f):
            name = item["name"]
            if judge.is_str(name, f"{f}.name"):
                if not _ALNUM.match(name):
                    judge.error(f"{f}.name", f"{what} names must be alphanumeric, got {name!r}")
                elif name in names:
                    judge.error(f"{f}.name", f"{what} {name!r} appears twice")
                names.append(name)
    return names


def _plate(judge: _Judge, plate: Any, field: str, version: str) -> None:
    if not judge.is_dict(plate, field):
        return
    if version == "0.4" and "version" not in plate:
        judge.warn(f"{field}.version", "0.4 plates SHOULD carry 'version'")
    if "name" not in plate:
        judge.warn(f"{field}.name", "a plate SHOULD have a 'name'")
    elif not isinstance(plate["name"], str):
        judge.error(f"{field}.name", f"must be a string, got {_kind(plate['name'])}")
    columns = rows = []
    if judge.required(plate, "columns", field):
        columns = _named(judge, plate["columns"], f"{field}.columns", "column")
    if judge.required(plate, "rows", field):
        rows = _named(judge, plate["rows"], f"{field}.rows", "row")
    if "field_count" in plate:
        judge.is_int(plate["field_count"], f"{field}.field_count", 1)
    if "acquisitions" in plate and judge.is_list(plate["acquisitions"], f"{field}.acquisitions"):
        ids = []
        for i, acq in enumerate(plate["acquisitions"]):
            f = f"{field}.acquisitions[{i}]"
            if not judge.is_dict(acq, f):
                continue
            if judge.required(acq, "id", f) and judge.is_int(acq["id"], f"{f}.id", 0):
                if acq["id"] in ids:
                    judge.error(f"{f}.id", f"acquisition id {acq['id']} appears twice")
                ids.append(acq["id"])
            if "maximumfieldcount" in acq:
                judge.is_int(acq["maximumfieldcount"], f"{f}.maximumfieldcount", 1)
            else:
                judge.warn(f"{f}.maximumfieldcount", "an acquisition SHOULD give "
                                                     "'maximumfieldcount'")
            if "name" in acq:
                judge.is_str(acq["name"], f"{f}.name")
            else:
                judge.warn(f"{f}.name", "an acquisition SHOULD have a 'name'")
            for key in ("starttime", "endtime"):
                if key in acq:
                    judge.is_int(acq[key], f"{f}.{key}", 0)
            if "description" in acq:
                judge.is_str(acq["description"], f"{f}.description")
    if not (judge.required(plate, "wells", field)
            and judge.is_list(plate["wells"], f"{field}.wells", 1)):
        return
    seen: set[str] = set()
    for i, well in enumerate(plate["wells"]):
        f = f"{field}.wells[{i}]"
        if not judge.is_dict(well, f):
            continue
        path = well.get("path")
        if judge.required(well, "path", f) and judge.is_str(path, f"{f}.path"):
            parts = path.split("/")
            if len(parts) != 2 or not all(_ALNUM.match(p) for p in parts):
                judge.error(f"{f}.path", f"must be 'row/column' (two alphanumeric groups), "
                                         f"got {path!r}")
            elif path in seen:
                judge.error(f"{f}.path", f"well {path!r} appears twice")
            seen.add(path)
        for key, names, what in (("rowIndex", rows, "rows"), ("columnIndex", columns, "columns")):
            if version == "0.4" and key not in well:
                continue  # 0.4 introduced the indices as optional-in-practice
            if judge.required(well, key, f) and judge.is_int(well[key], f"{f}.{key}", 0):
                if names and well[key] >= len(names):
                    judge.error(f"{f}.{key}", f"{well[key]} is beyond the {len(names)} {what}")
        if isinstance(path, str) and "/" in path and rows and columns:
            r, _, c = path.partition("/")
            ri, ci = well.get("rowIndex"), well.get("columnIndex")
            if isinstance(ri, int) and 0 <= ri < len(rows) and rows[ri] != r:
                judge.error(f"{f}.path", f"row {r!r} does not match rowIndex {ri} ({rows[ri]!r})")
            if isinstance(ci, int) and 0 <= ci < len(columns) and columns[ci] != c:
                judge.error(f"{f}.path", f"column {c!r} does not match columnIndex {ci} "
                                         f"({columns[ci]!r})")


def _well(judge: _Judge, well: Any, field: str, version: str) -> None:
    if not judge.is_dict(well, field):
        return
    if version == "0.4" and "version" not in well:
        judge.warn(f"{field}.version", "0.4 wells SHOULD carry 'version'")
    if not (judge.required(well, "images", field)
            and judge.is_list(well["images"], f"{field}.images", 1)):
        return
    seen: set[str] = set()
    for i, image in enumerate(well["images"]):
        f = f"{field}.images[{i}]"
        if not judge.is_dict(image, f):
            continue
        if judge.required(image, "path", f) and judge.is_str(image["path"], f"{f}.path"):
            path = image["path"]
            pattern = _ALNUM if version != "0.6" else _FIELD_06
            if not pattern.match(path) or path.strip(".") == "" or path.startswith("__"):
                allowed = "alphanumeric" if version != "0.6" else "letters, digits, _ . -"
                judge.error(f"{f}.path", f"must be a plain field name ({allowed}), got {path!r}")
            elif path in seen:
                judge.error(f"{f}.path", f"field {path!r} appears twice")
            seen.add(path)
        if "acquisition" in image:
            judge.is_int(image["acquisition"], f"{f}.acquisition")


# -- a store ------------------------------------------------------------------------------
def validate_hierarchy(group: Any, path: str = "") -> list[Finding]:
    """Every finding about an OME-Zarr group (a :class:`unizarr.ZarrGroup`) and the OME
    nodes below it: labels, wells, fields and bioformats2raw series."""
    return list(_walk(group, path, set()))


def _walk(group: Any, path: str, seen: set[str]) -> Iterator[Finding]:
    from .core import ZarrArray, ZarrGroup

    if path in seen:
        return
    seen.add(path)
    attrs = group.attrs.asdict()
    findings = validate_attributes(attrs, path)
    yield from findings
    judge = _Judge(path)
    version, doc, prefix = _ome_document(attrs, _Judge(path))
    if version == "0.5" and group.zarr_version != 3:
        judge.error(prefix or "ome", "OME-NGFF 0.5 needs a Zarr v3 group")
    if version == "0.4" and group.zarr_version != 2:
        judge.warn("multiscales", "OME-NGFF 0.4 is defined on Zarr v2; this group is v3")
    for m, ms in enumerate(doc.get("multiscales") or []):
        if not isinstance(ms, Mapping):
            continue
        f = f"{_join(prefix, 'multiscales')}[{m}]"
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
        add([n for n in doc["labels"] if isinstance(n, str)], _join(prefix, "labels"))
    elif isinstance(_member(group, "labels"), ZarrGroup) and path.rsplit("/", 1)[-1] != "labels":
        add(["labels"], "")
    plate = doc.get("plate")
    if isinstance(plate, Mapping):
        add([w["path"] for w in plate.get("wells") or []
             if isinstance(w, Mapping) and isinstance(w.get("path"), str)],
            _join(prefix, "plate.wells"))
    well = doc.get("well")
    if isinstance(well, Mapping):
        add([i["path"] for i in well.get("images") or []
             if isinstance(i, Mapping) and isinstance(i.get("path"), str)],
            _join(prefix, "well.images"))
    if "bioformats2raw.layout" in doc:
        series = doc.get("series")
        if isinstance(series, list):
            add([s for s in series if isinstance(s, str)], _join(prefix, "series"))
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
            ref = _ref(ts[0].get("output"))
            if ref is not None and ref[1] in systems:
                axes = systems[ref[1]].get("axes")
                return axes if isinstance(axes, list) else None
    return None


def errors(findings: list[Finding]) -> list[Finding]:
    """The findings that make a document invalid."""
    return [f for f in findings if f.severity == "error"]


__all__ = [
    "Finding",
    "OME_KEYS",
    "VERSIONS",
    "errors",
    "ome_version",
    "validate_attributes",
    "validate_hierarchy",
]
