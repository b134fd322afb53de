"""Move every OME-NGFF node's metadata between versions 0.4, 0.5 and 0.6.

``unizarr copy`` calls :func:`convert_ome_attrs` on each group it copies, so images,
``labels/`` groups, label images, plates, wells and bioformats2raw collections all land in
the destination's version - not only the multiscales of the root.

* 0.4: the OME keys at the top level of the attributes, ``version`` inside
  ``multiscales[i]``, ``plate``, ``well`` and ``image-label``.
* 0.5: the same keys under ``"ome"`` with one ``"version"``, none inside.
* 0.6: as 0.5, and each multiscale names its axes in a coordinate system
  (``coordinateSystems``) that every dataset maps to with a scale (or a sequence of
  scale and translation) from ``{"path": dataset}`` to ``{"name": system}``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..validation import OME_KEYS, ome_version

#: Keys that carry their own ``version`` in 0.4.
_VERSIONED = ("plate", "well", "image-label")
#: Name of the coordinate system 0.4/0.5 axes become in 0.6.
PHYSICAL = "physical"


def _ms_to_06(ms: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in ms.items() if k not in ("version", "axes")}
    system = str(ms.get("name") or PHYSICAL)
    out["coordinateSystems"] = [{"name": system, "axes": copy.deepcopy(ms.get("axes", []))}]
    datasets = []
    for ds in ms.get("datasets", []):
        ts = [dict(t) for t in ds.get("coordinateTransformations", [])]
        ref = {"input": {"path": ds.get("path")}, "output": {"name": system}}
        if len(ts) == 1:
            transform = {**ts[0], **ref}
        else:
            transform = {"type": "sequence", "transformations": ts, **ref}
        datasets.append({**ds, "coordinateTransformations": [transform]})
    out["datasets"] = datasets
    if "coordinateTransformations" in ms:
        # a multiscale-wide 0.4/0.5 transform applies after every dataset's: in 0.6 it is
        # folded into none of them, so it maps the system onto a second one
        out["coordinateSystems"].append({"name": f"{system}-transformed",
                                         "axes": copy.deepcopy(ms.get("axes", []))})
        ts = [dict(t) for t in ms["coordinateTransformations"]]
        ref = {"input": {"name": system}, "output": {"name": f"{system}-transformed"}}
        out["coordinateTransformations"] = [
            {**ts[0], **ref} if len(ts) == 1
            else {"type": "sequence", "transformations": ts, **ref}
        ]
    return out


def _plain(t: Mapping[str, Any]) -> list[dict[str, Any]]:
    """0.4/0.5 transformations (scale, translation) of a 0.6 one, without input/output."""
    if t.get("type") == "sequence":
        return [x for sub in t.get("transformations", []) for x in _plain(sub)]
    if t.get("type") == "identity":
        return []
    return [{k: v for k, v in t.items() if k in ("type", "scale", "translation", "path")}]


def _affine_as_plain(t: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A 0.6 multiscale-wide transformation as 0.4/0.5 scale and translation.

    Raises
    ------
    ValueError
        It rotates or shears (an affine with off-diagonal terms, a rotation, ...):
        0.4/0.5 cannot hold it and dropping it would move the image.
    """
    kind = t.get("type")
    if kind == "affine" and isinstance(t.get("affine"), list):
        rows = t["affine"]
        n = len(rows)
        if all(rows[i][j] == 0 for i in range(n) for j in range(n) if i != j):
            scale = [float(rows[i][i]) for i in range(n)]
            shift = [float(rows[i][n]) for i in range(n)]
            out = [{"type": "scale", "scale": scale}]
            if any(shift):
                out.append({"type": "translation", "translation": shift})
            return out
    elif kind in ("scale", "translation", "identity", "sequence"):
        plain = _plain(t)
        if all(p.get("type") in ("scale", "translation") for p in plain):
            return plain
    raise ValueError(
        f"the multiscale transformation {kind!r} to {t.get('output')} rotates or shears; "
        "OME-NGFF 0.4/0.5 cannot hold it: keep --ome-version 0.6"
    )


def _ms_from_06(ms: Mapping[str, Any]) -> dict[str, Any]:
    """A 0.6 multiscale in 0.4/0.5 form: the datasets' target system becomes ``axes``.

    Raises
    ------
    ValueError
        A dataset's transformation is not a scale and translation (0.4/0.5 hold nothing
        else), or the multiscale-wide transformation is an affine/rotation/...
    """
    systems = {cs.get("name"): cs for cs in ms.get("coordinateSystems", [])}
    out = {k: copy.deepcopy(v) for k, v in ms.items()
           if k not in ("coordinateSystems", "coordinateTransformations")}
    datasets, target = [], None
    for ds in ms.get("datasets", []):
        (t,) = ds.get("coordinateTransformations", [{}])[:1] or [{}]
        if isinstance(t.get("output"), Mapping):
            target = t["output"].get("name", target)
        plain = _plain(t)
        if not plain or plain[0].get("type") != "scale":
            ndim = len(systems.get(target, {}).get("axes", [])) or 1
            plain = [{"type": "scale", "scale": [1.0] * ndim}, *plain]
        if [p.get("type") for p in plain] not in (["scale"], ["scale", "translation"]):
            raise ValueError(
                f"dataset {ds.get('path')!r} maps with {t.get('type')!r}; OME-NGFF 0.4/0.5 "
                "hold only a scale and a translation per dataset: keep --ome-version 0.6"
            )
        datasets.append({**ds, "coordinateTransformations": plain})
    out["datasets"] = datasets
    wide = [x for t in ms.get("coordinateTransformations") or [] for x in _affine_as_plain(t)]
    if wide and wide[0]["type"] != "scale":
        ndim = len(wide[0].get("translation") or [0])
        wide.insert(0, {"type": "scale", "scale": [1.0] * ndim})
    if len(wide) > 2:
        raise ValueError("the multiscale transformations chain more than a scale and a "
                         "translation; OME-NGFF 0.4/0.5 cannot hold it: keep --ome-version 0.6")
    identity = [{"type": "scale", "scale": [1.0] * len(wide[0]["scale"])}] if wide else []
    if wide and wide != identity:
        out["coordinateTransformations"] = wide
    system: dict[str, Any] = systems.get(target) or next(iter(systems.values()), {})
    out["axes"] = copy.deepcopy(system.get("axes", []))
    if system.get("name") not in (None, PHYSICAL) and "name" not in out:
        out["name"] = system["name"]
    return out


def convert_ome_attrs(attrs: Mapping[str, Any], target: str) -> dict[str, Any]:
    """``attrs`` with every OME key moved to the layout of version ``target``.

    Attributes without OME metadata, or already in ``target``, come back unchanged;
    non-OME keys are kept as they are.

    Raises
    ------
    ValueError
        ``target`` is not 0.4, 0.5 or 0.6, or a 0.6 transformation has no 0.4/0.5 form.
    """
    if target not in ("0.4", "0.5", "0.6"):
        raise ValueError(f"OME-NGFF version must be 0.4, 0.5 or 0.6, got {target!r}")
    have = ome_version(attrs)
    out = copy.deepcopy(dict(attrs))
    if have is None or have == target:
        return out
    nested = isinstance(out.get("ome"), Mapping)
    doc: dict[str, Any] = dict(out.pop("ome")) if nested else {
        k: out.pop(k) for k in OME_KEYS if k in out
    }
    doc.pop("version", None)
    for key in _VERSIONED:
        if isinstance(doc.get(key), Mapping):
            doc[key] = {k: v for k, v in doc[key].items() if k != "version"}
    multiscales = [dict(m) for m in doc.get("multiscales") or [] if isinstance(m, Mapping)]
    for m in multiscales:
        m.pop("version", None)
    if have == "0.6" and target != "0.6":
        multiscales = [_ms_from_06(m) for m in multiscales]
    elif target == "0.6" and have != "0.6":
        multiscales = [_ms_to_06(m) for m in multiscales]
    if "multiscales" in doc:
        doc["multiscales"] = multiscales
    if target == "0.4":
        if "multiscales" in doc:
            doc["multiscales"] = [{**m, "version": "0.4"} for m in multiscales]
        for key in _VERSIONED:
            if isinstance(doc.get(key), Mapping):
                doc[key] = {**doc[key], "version": "0.4"}
        out.update(doc)
        return out
    out["ome"] = {"version": target, **doc}
    return out


__all__ = ["PHYSICAL", "convert_ome_attrs"]
