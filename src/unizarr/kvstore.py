"""The key-value primitives every driver provides for its store.

Groups, attributes, listing and deletion are implemented once, above the drivers, on
these few operations; a driver maps them onto its engine's own storage layer
(zarr-python's ``Store``, TensorStore's ``KvStore``), so no second library sits in the
data path and the same code works on every backend the engine supports.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator

from .errors import ReadOnlyError
from .safety import check_inside, dir_lock


class KVStore(ABC):
    """Key-value access below one store root. Keys are ``/``-separated, relative."""

    #: Set by the driver: a read-only store refuses every mutation itself too.
    read_only: bool = False
    #: The root as a local directory (file stores), else ``None``: writes and deletes
    #: are then confined to its real path (see :mod:`unizarr.safety`).
    local_root: str | None = None
    #: ``storage_options["follow_symlinks_for_writes"]``: let writes follow symlinks.
    follow_links: bool = False

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or ``None`` when it does not exist."""

    @abstractmethod
    def _set(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``; must be atomic (no torn value is ever visible)."""

    @abstractmethod
    def _delete_prefix(self, prefix: str) -> None:
        """Delete ``prefix`` and every key below ``prefix + "/"`` (``""``: everything)."""

    @abstractmethod
    def list_dir(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` (keys and "directories"), unsorted."""

    @abstractmethod
    def size_prefix(self, prefix: str) -> int:
        """Total stored bytes of the keys below ``prefix``."""

    def set(self, key: str, value: bytes) -> None:
        self._check_writable()
        self.check_inside(key, "write")
        self._set(key, value)

    def delete_prefix(self, prefix: str) -> None:
        self._check_writable()
        self.check_inside(prefix.strip("/"), "delete", delete=True)
        self._delete_prefix(prefix)

    def check_inside(self, key: str, what: str, *, delete: bool = False) -> None:
        """Refuse (``OutsideStoreError``) a write/delete of ``key`` that a symlink would
        lead out of the local store root; a no-op on object stores and when
        ``follow_links`` is set."""
        if self.local_root is not None and not self.follow_links:
            check_inside(self.local_root, key, what=what, delete=delete)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Exclusive lock for replacing the node at ``key`` or rewriting its metadata:
        an ``flock`` on the directory holding the node (local disk; it survives the
        node's replacement); nothing on object stores (see ``docs/safety.md``)."""
        if self.local_root is None or self.read_only:
            yield
            return
        if key:  # the locked directory is the node's parent: it must be in the store
            self.check_inside(key, "replace", delete=True)
        node = os.path.join(self.local_root, *key.split("/")) if key else self.local_root
        with dir_lock(os.path.dirname(os.path.abspath(node))):
            yield

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("the store is opened read-only")
