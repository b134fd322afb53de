"""The key-value primitives every driver provides for its store.

Groups, attributes, listing and deletion are implemented once, above the drivers, on
these few operations; a driver maps them onto its engine's own storage layer
(zarr-python's ``Store``, TensorStore's ``KvStore``), so no second library sits in the
data path and the same code works on every backend the engine supports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .errors import ReadOnlyError


class KVStore(ABC):
    """Key-value access below one store root. Keys are ``/``-separated, relative."""

    #: Set by the driver: a read-only store refuses every mutation itself too.
    read_only: bool = False

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
        self._set(key, value)

    def delete_prefix(self, prefix: str) -> None:
        self._check_writable()
        self._delete_prefix(prefix)

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("the store is opened read-only")
