"""One group's OME attributes as a document: which NGFF version they declare, where the
OME keys live (top level for 0.4, under ``ome`` for 0.5+), and the judgement of the
whole document (:func:`validate_attributes`, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .findings import Finding, Judge, join, kind_of
from .ngff_spec import OME_KEYS, VERSIONS
from .ome_hcs import plate, well
from .ome_image import multiscales, omero
from .ome_labels import image_label


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


def ome_document(attrs: Mapping[str, Any], judge: Judge) -> tuple[str | None, dict[str, Any], str]:
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
            judge.error("ome.version", f"must be a string, got {kind_of(ome['version'])}")
        if version == "0.4":
            judge.error("ome.version", "0.4 metadata lives in the top-level attributes, "
                                       "not under 'ome'")
        return version, dict(ome), "ome"
    if "ome" in attrs:
        judge.error("ome", f"must be an object, got {kind_of(ome)}")
        return None, {}, "ome"
    return ome_version(attrs), dict(attrs), ""


def validate_attributes(attrs: Mapping[str, Any], path: str = "") -> list[Finding]:
    """Every finding about one group's attributes (a parsed ``.zattrs`` or the
    ``attributes`` of a ``zarr.json``), without looking at the store."""
    judge = Judge(path)
    if not isinstance(attrs, Mapping):
        judge.error("", f"attributes must be an object, got {kind_of(attrs)}")
        return judge.findings
    version, doc, prefix = ome_document(attrs, judge)
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
        field = join(prefix, key)
        value = doc[key]
        if key == "multiscales":
            multiscales(judge, value, field, version)
        elif key == "omero":
            omero(judge, value, field)
        elif key == "image-label":
            image_label(judge, value, field, version)
        elif key == "labels":
            judge.strings(value, field, 1)
        elif key == "plate":
            plate(judge, value, field, version)
        elif key == "well":
            well(judge, value, field, version)
        elif key == "bioformats2raw.layout":
            if value != 3:
                judge.error(field, f"must be 3, got {value!r}")
        elif key == "series":
            judge.strings(value, field)
    return judge.findings
