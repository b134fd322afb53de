"""Zarr metadata documents on a :class:`~unizarr.kvstore.KVStore`.

"Metadata" here is the Zarr format's own node document (``zarr.json``, ``.zarray``,
``.zgroup``, ``.zattrs``): never the OME attributes a group carries (written by
:mod:`unizarr.ome`, judged by :mod:`unizarr.validation`) nor a NIfTI header (stored by
:mod:`unizarr.nifti`).

One implementation of node detection, group creation and attribute storage for v2
(``.zgroup`` / ``.zarray`` / ``.zattrs``) and v3 (``zarr.json``), shared by all drivers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import MetadataError
from .kvstore import KVStore
from .paths import join_key

V3_KEY = "zarr.json"
V2_ARRAY_KEY = ".zarray"
V2_GROUP_KEY = ".zgroup"
V2_ATTRS_KEY = ".zattrs"


@dataclass(frozen=True)
class NodeInfo:
    """What is stored at a key path: ``kind`` is ``"array"`` or ``"group"``."""

    kind: str
    zarr_version: int
    document: dict[str, Any]


def read_json(kv: KVStore, key: str) -> dict[str, Any] | None:
    """The JSON object stored under ``key``, ``None`` when the key is missing."""
    raw = kv.get(key)
    if raw is None:
        return None
    return _parse(raw, _display(kv, key))


def _display(kv: KVStore, key: str) -> str:
    """``key`` as the user can find it: a full path on local disk."""
    root = kv.local_root
    return f"{root.rstrip('/')}/{key}" if root else key


def _parse(raw: bytes, key: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"{key} is not valid JSON: {exc}; restore or rewrite it") from exc
    except RecursionError:
        raise MetadataError(
            f"{key} nests JSON deeper than Python can parse; it is not Zarr metadata, "
            "restore or rewrite it"
        ) from None
    if not isinstance(doc, dict):
        raise MetadataError(f"{key} must hold a JSON object, found {type(doc).__name__}")
    return doc


def dumps(doc: Any) -> bytes:
    """Serialise a metadata document (strict JSON: NaN/Infinity are refused)."""
    return json.dumps(doc, indent=2, allow_nan=False).encode()


def write_json(kv: KVStore, key: str, doc: Any) -> None:
    kv.set(key, dumps(doc))


def detect_node(kv: KVStore, path: str, zarr_version: int | None = None) -> NodeInfo | None:
    """Find the node at ``path``; v3 metadata wins when both versions are present.

    With ``zarr_version`` given, only that version's metadata is looked for.
    """
    if zarr_version in (None, 3):
        doc = read_json(kv, join_key(path, V3_KEY))
        if doc is not None:
            kind = doc.get("node_type")
            if kind not in ("array", "group") or doc.get("zarr_format") != 3:
                raise MetadataError(f"{join_key(path, V3_KEY)} is not Zarr v3 node metadata")
            return NodeInfo(kind, 3, doc)
    if zarr_version in (None, 2):
        doc = read_json(kv, join_key(path, V2_ARRAY_KEY))
        if doc is not None:
            return NodeInfo("array", 2, doc)
        doc = read_json(kv, join_key(path, V2_GROUP_KEY))
        if doc is not None:
            return NodeInfo("group", 2, doc)
    return None


def group_document(zarr_version: int, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    if zarr_version == 3:
        return {"zarr_format": 3, "node_type": "group", "attributes": dict(attributes or {})}
    return {"zarr_format": 2}


def write_group(kv: KVStore, path: str, zarr_version: int) -> None:
    """Write the metadata of an empty group at ``path``."""
    if zarr_version == 3:
        write_json(kv, join_key(path, V3_KEY), group_document(3))
    else:
        write_json(kv, join_key(path, V2_GROUP_KEY), group_document(2))


def write_array(kv: KVStore, path: str, document: dict[str, Any]) -> None:
    """Write an array's metadata (and, for v2, its attributes)."""
    if document["zarr_format"] == 3:
        write_json(kv, join_key(path, V3_KEY), document)
    else:
        attrs = document.pop("attributes", None)
        write_json(kv, join_key(path, V2_ARRAY_KEY), document)
        if attrs:
            write_json(kv, join_key(path, V2_ATTRS_KEY), attrs)


def read_attributes(kv: KVStore, path: str, zarr_version: int) -> dict[str, Any]:
    """The current attributes of the node at ``path``, read from the store."""
    if zarr_version == 3:
        doc = read_json(kv, join_key(path, V3_KEY)) or {}
        attrs = doc.get("attributes", {})
    else:
        attrs = read_json(kv, join_key(path, V2_ATTRS_KEY)) or {}
    if not isinstance(attrs, dict):
        raise MetadataError(f"attributes of {path or '/'} are not a JSON object")
    return attrs


def write_attributes(kv: KVStore, path: str, zarr_version: int, attrs: dict[str, Any]) -> None:
    """Replace the attributes of the node at ``path`` with one atomic write."""
    payload = dumps(attrs)  # serialise first: a bad value must not touch the store
    if zarr_version == 3:
        key = join_key(path, V3_KEY)
        # Callers hold the node's lock on local disk (KVStore.lock). Object stores have
        # no lock: compare the document just before writing it back and redo the
        # update when another writer changed it meanwhile (narrows, cannot close, the
        # window; see docs/safety.md).
        for _attempt in range(5):
            raw = kv.get(key)
            if raw is None:
                raise FileNotFoundError(f"the node at {path or '/'} no longer exists")
            doc = _parse(raw, _display(kv, key))
            doc["attributes"] = json.loads(payload)
            if kv.local_root is not None or kv.get(key) == raw:
                write_json(kv, key, doc)
                return
        raise RuntimeError(
            f"{key} kept changing while its attributes were written; retry when the "
            "other writer is done"
        )
    else:
        kv.set(join_key(path, V2_ATTRS_KEY), payload)


def to_json_value(value: Any, where: str = "value") -> Any:
    """Convert an attribute value to plain JSON types, refusing what JSON cannot hold.

    numpy scalars and arrays become Python numbers and lists (a careful user expects
    ``attrs["scale"] = header.get_zooms()`` to work); tuples become lists.

    Raises
    ------
    TypeError
        Non-string keys, NaN/Infinity, or objects JSON has no form for.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise TypeError(f"{where} is {value}, which JSON cannot represent")
        return float(value)
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"attribute keys must be strings; {where} has key {k!r}")
            out[k] = to_json_value(v, f"{where}[{k!r}]")
        return out
    raise TypeError(
        f"{where} of type {type(value).__name__} is not JSON-serialisable; attributes "
        "hold only str, int, float, bool, None, lists and dicts"
    )
