"""What a group holds: listing its members, its hidden documents, and the checks and
intermediate groups of a new member. Functions of a group's key-value store and key,
used by :class:`unizarr.core.ZarrGroup`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import metadata as md
from .declared import declared_members as _declared
from .errors import ZarrVersionError
from .kvstore import KVStore
from .paths import METADATA_KEYS, is_internal_name, join_key


def list_members(
    kv: KVStore, path: str, zarr_version: int, declared: Callable[[], list[str] | None]
) -> list[str]:
    """Names of the direct members of the group at ``path``, sorted (see
    :meth:`unizarr.ZarrGroup.keys`); ``declared()`` names them when the store refuses
    listings."""
    names = []
    children: list[str] | None
    try:
        children = kv.list_dir(path)
    except Exception:
        # The store refuses listings (an S3 bucket without list permission, a static
        # server answering 403): the members the metadata names are the members.
        children = declared()
        if children is None:
            raise
    if not children:  # some servers answer a refused listing with an empty page
        children = declared() or []
    for child in children:
        if child in METADATA_KEYS or is_internal_name(child):
            continue
        if md.detect_node(kv, join_key(path, child), zarr_version) is not None:
            names.append(child)
    return sorted(names)


def declared_members(attrs: Mapping[str, Any]) -> list[str] | None:
    """Members named by a group's metadata (``None``: it names none)."""
    names = _declared(dict(attrs))
    return names or None


def hidden_key(path: str, name: str) -> str:
    """The key of the hidden document ``name`` of the group at ``path`` (never a
    member: names start with ".unizarr")."""
    if not is_internal_name(name) or "/" in name:
        raise ValueError(
            f"hidden document names start with '.unizarr' and have no '/': {name!r}"
        )
    return join_key(path, name)


def check_new_member(
    kv: KVStore, path: str, zarr_version: int, url: str, name: str, overwrite: bool, kind: str
) -> md.NodeInfo | None:
    """Check that member ``name`` (validated) of the group at ``path`` may be created
    as a ``kind``: no array on its way, no node of the other Zarr version there, no
    existing member unless ``overwrite``. Returns the existing member's info (``None``
    if missing); raises before anything is written."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        key = join_key(path, "/".join(parts[:i]))
        info = md.detect_node(kv, key, zarr_version)
        if info is not None and info.kind == "array":
            raise FileExistsError(
                f"{'/'.join(parts[:i])!r} in {url} is an array, not a group"
            )
    key = join_key(path, name)
    info = md.detect_node(kv, key, zarr_version)
    if info is None:
        other = md.detect_node(kv, key)  # a node of the other version
        if other is not None:
            raise ZarrVersionError(
                f"{name!r} in {url} holds Zarr v{other.zarr_version} metadata but "
                f"the group is v{zarr_version}"
            )
    if info is not None and kind == "array" and not overwrite:
        raise FileExistsError(
            f"{name!r} already exists in {url}; pass overwrite=True to replace it"
        )
    if info is not None and kind == "group" and info.kind == "array" and not overwrite:
        raise FileExistsError(
            f"{name!r} in {url} is an array; pass overwrite=True to replace it "
            "with a group"
        )
    return info


def make_parents(kv: KVStore, path: str, zarr_version: int, name: str) -> None:
    """Write the missing intermediate groups of member ``name``."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        key = join_key(path, "/".join(parts[:i]))
        if md.detect_node(kv, key, zarr_version) is None:
            md.write_group(kv, key, zarr_version)
