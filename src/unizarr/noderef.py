"""``NodeRef``: where a node lives and how it was opened (shared by a node and its members)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .kvstore import KVStore
from .modes import child_mode
from .paths import Location, join_key


@dataclass
class NodeRef:
    """Where a node lives and how it was opened. Shared by a node and its members."""

    driver: str
    root: Location
    path: str
    kv: KVStore
    mode: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> Location:
        return self.root.join(self.path)

    def child(self, name: str) -> NodeRef:
        return NodeRef(
            self.driver,
            self.root,
            join_key(self.path, name),
            self.kv,
            child_mode(self.mode),
            self.storage_options,
        )
