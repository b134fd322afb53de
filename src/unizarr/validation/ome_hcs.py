"""OME-NGFF high-content screening metadata: ``plate`` (rows, columns, acquisitions,
wells) and ``well`` (its fields of view)."""

from __future__ import annotations

from typing import Any

from .findings import Judge, kind_of
from .ngff_spec import ALNUM, FIELD_06


def _named(judge: Judge, items: Any, field: str, what: str) -> list[str]:
    names: list[str] = []
    if not judge.is_list(items, field, 1):
        return names
    for f, item in judge.objects(items, field):
        if judge.required(item, "name", f):
            name = item["name"]
            if judge.is_str(name, f"{f}.name"):
                if not ALNUM.match(name):
                    judge.error(f"{f}.name", f"{what} names must be alphanumeric, got {name!r}")
                elif name in names:
                    judge.error(f"{f}.name", f"{what} {name!r} appears twice")
                names.append(name)
    return names


def plate(judge: Judge, plate: Any, field: str, version: str) -> None:
    if not judge.is_dict(plate, field):
        return
    judge.version_hint(plate, field, "plates", version)
    if "name" not in plate:
        judge.warn(f"{field}.name", "a plate SHOULD have a 'name'")
    elif not isinstance(plate["name"], str):
        judge.error(f"{field}.name", f"must be a string, got {kind_of(plate['name'])}")
    columns = rows = []
    if judge.required(plate, "columns", field):
        columns = _named(judge, plate["columns"], f"{field}.columns", "column")
    if judge.required(plate, "rows", field):
        rows = _named(judge, plate["rows"], f"{field}.rows", "row")
    if "field_count" in plate:
        judge.is_int(plate["field_count"], f"{field}.field_count", 1)
    if "acquisitions" in plate and judge.is_list(plate["acquisitions"], f"{field}.acquisitions"):
        ids = []
        for f, acq in judge.objects(plate["acquisitions"], f"{field}.acquisitions"):
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
    if not judge.required_list(plate, "wells", field):
        return
    seen: set[str] = set()
    for f, well in judge.objects(plate["wells"], f"{field}.wells"):
        path = well.get("path")
        if judge.required(well, "path", f) and judge.is_str(path, f"{f}.path"):
            parts = path.split("/")
            if len(parts) != 2 or not all(ALNUM.match(p) for p in parts):
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


def well(judge: Judge, well: Any, field: str, version: str) -> None:
    if not judge.is_dict(well, field):
        return
    judge.version_hint(well, field, "wells", version)
    if not judge.required_list(well, "images", field):
        return
    seen: set[str] = set()
    for f, image in judge.objects(well["images"], f"{field}.images"):
        if judge.required(image, "path", f) and judge.is_str(image["path"], f"{f}.path"):
            path = image["path"]
            pattern = ALNUM if version != "0.6" else FIELD_06
            if not pattern.match(path) or path.strip(".") == "" or path.startswith("__"):
                allowed = "alphanumeric" if version != "0.6" else "letters, digits, _ . -"
                judge.error(f"{f}.path", f"must be a plain field name ({allowed}), got {path!r}")
            elif path in seen:
                judge.error(f"{f}.path", f"field {path!r} appears twice")
            seen.add(path)
        if "acquisition" in image:
            judge.is_int(image["acquisition"], f"{f}.acquisition")
