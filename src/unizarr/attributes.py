"""A node's attributes and metadata document as Python mappings.

:class:`Attributes` reads and writes through the node's ``_read_attrs`` /
``_write_attrs`` / ``_metadata_lock`` (see :class:`unizarr.core.ZarrNode`), so it needs
no import of the node model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from . import metadata as md
from .paths import join_key

if TYPE_CHECKING:
    from .core import ZarrNode


class MetadataDocument(dict):
    """A node's metadata document (a dict) whose keys also read as attributes.

    ``group.metadata.zarr_format`` therefore works as it does on zarr-python's
    metadata objects (nifti-zarr relies on it).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Attributes(MutableMapping):
    """A node's attributes: read from the store on every access, written on every change.

    Values must be JSON-serialisable; a value that is not raises ``TypeError`` and
    nothing is written. ``update`` writes once for all keys.
    """

    def __init__(self, node: ZarrNode) -> None:
        self._node = node

    def _load(self) -> dict[str, Any]:
        return self._node._read_attrs()

    def _store(self, attrs: dict[str, Any]) -> None:
        self._node._write_attrs(attrs)

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        self._node._check_writable()
        with self._node._metadata_lock():  # read-modify-write: no interleaved writer
            attrs = self._load()
            del attrs[key]
            self._store(attrs)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        self._node._check_writable()
        new = dict(other, **kwargs)
        checked = md.to_json_value(new, "attribute")  # TypeError before any write
        with self._node._metadata_lock():
            attrs = self._load()
            attrs.update(checked)
            self._store(attrs)

    def put(self, attrs: Mapping[str, Any]) -> None:
        """Replace all attributes with ``attrs``."""
        self._node._check_writable()
        checked = md.to_json_value(dict(attrs), "attribute")
        with self._node._metadata_lock():
            self._store(checked)

    def asdict(self) -> dict[str, Any]:
        return self._load()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._load() == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Attributes({self._load()!r})"


def rewrite_dimension_names(
    kv: Any, path: str, url: str, names: tuple[str | None, ...] | None
) -> None:
    """Set (``None``: remove) ``dimension_names`` in the ``zarr.json`` of the array at
    ``path``: one atomic write of the whole document (the caller holds its lock)."""
    key = join_key(path, md.V3_KEY)
    doc = md.read_json(kv, key)
    if doc is None:
        raise FileNotFoundError(f"{url} no longer exists")
    if names is None:
        doc.pop("dimension_names", None)
    else:
        doc["dimension_names"] = list(names)
    md.write_json(kv, key, doc)
