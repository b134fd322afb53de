"""The store-safety rules shared by every driver: node identity, containment of writes
inside the store root, and the per-directory metadata lock.

* **Identity** (:func:`node_identity`, :func:`overlap`) is decided by the file system
  on local disk (device + inode of the node's directory, so two handles, two spellings
  of a path or a symlinked root all agree) and by the normalised URL elsewhere.
* **Containment** (:func:`check_inside`): writes and deletes never reach a file outside
  the store root's real path, whatever symlink lies in between. Reads may follow
  symlinks. The storage option ``follow_symlinks_for_writes=True`` opts out (for users
  who link pyramid levels to other disks).
* **Locking** (:func:`dir_lock`): metadata read-modify-write and node replacement hold an
  exclusive ``flock`` on the directory that contains the node (local disk only), so two
  processes never interleave a stale write-back with a replacement.

See ``docs/safety.md`` for the rules and the tests that hold them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import OutsideStoreError

try:  # POSIX only; elsewhere the lock degrades to a per-process lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: storage option that lets writes follow symlinks out of the store root
FOLLOW_SYMLINKS_OPTION = "follow_symlinks_for_writes"


# -- identity ------------------------------------------------------------------------------
def node_identity(location: Any) -> tuple | None:
    """What makes two handles "the same node": ``(st_dev, st_ino)`` of the directory on
    local disk, ``(scheme, path)`` elsewhere; ``None`` when a local node does not exist."""
    if location.scheme == "file":
        try:
            st = os.stat(location.path)
        except OSError:
            return None
        return ("inode", st.st_dev, st.st_ino)
    return ("url", location.scheme, location.path.strip("/"))


def _ancestors(location: Any) -> Iterator[tuple]:
    """Identities of ``location`` and of every directory above it (local: the real path's
    ancestors; remote: every key prefix)."""
    if location.scheme == "file":
        path = os.path.realpath(location.path)
        while True:
            try:
                st = os.stat(path)
                yield ("inode", st.st_dev, st.st_ino)
            except OSError:
                pass
            parent = os.path.dirname(path)
            if parent == path:
                return
            path = parent
    else:
        parts = location.path.strip("/").split("/")
        for i in range(len(parts), 0, -1):
            yield ("url", location.scheme, "/".join(parts[:i]))


def overlap(src: Any, dst: Any) -> str | None:
    """How the node at location ``src`` relates to location ``dst``: ``"same"``,
    ``"src-inside-dst"``, ``"dst-inside-src"`` or ``None`` (disjoint)."""
    src_id = node_identity(src)
    if src_id is None:
        return None
    dst_id = node_identity(dst)
    if dst_id is not None and dst_id == src_id:
        return "same"
    if dst_id is not None and dst_id in set(_ancestors(src)):
        return "src-inside-dst"
    if src_id in set(_ancestors(dst)) or (
        dst_id is None and dst.scheme == "file" and src_id in set(_ancestors(_existing(dst)))
    ):
        return "dst-inside-src"
    return None


def _existing(location: Any) -> Any:
    """The deepest existing directory of a local location (for targets not created yet)."""
    path = location.path
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return type(location)(location.scheme, path)


# -- containment ---------------------------------------------------------------------------
def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_inside(root: str, key: str, *, what: str, delete: bool = False) -> None:
    """Refuse a write (or delete) of ``key`` below the local store ``root`` that would
    land outside the root's real path.

    For a delete, the key itself may be a symlink (deleting it removes the link, never
    its target), so only its parent directory is resolved.

    Raises
    ------
    OutsideStoreError
        The target's real path is outside the store root's.
    """
    real_root = os.path.realpath(root)
    target = os.path.join(root, *key.split("/")) if key else root
    probe = os.path.dirname(target) if delete and key else target
    real = os.path.realpath(probe)
    if not _inside(real, real_root):
        raise OutsideStoreError(
            f"refusing to {what} {target}: a symlink leads it to {real}, outside the store "
            f"root {real_root}; remove the link, or open the store with storage_options="
            f"{{'{FOLLOW_SYMLINKS_OPTION}': True}} if the link is intended"
        )


# -- locking -------------------------------------------------------------------------------
_REGISTRY_LOCK = threading.Lock()
_HELD: dict[str, list[Any]] = {}  # real path -> [RLock, fd or None, depth]


@contextmanager
def dir_lock(directory: str) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (created if missing): ``flock`` between
    processes, a re-entrant lock between the threads of this process.

    Re-entrant within a thread, so nested metadata updates do not deadlock. File
    systems without ``flock`` (some network mounts) and directories the user may not
    read get the in-process lock only.
    """
    try:
        os.makedirs(directory, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # a file where a directory should be: the operation itself reports that
        yield
        return
    key = os.path.realpath(directory)
    with _REGISTRY_LOCK:
        entry = _HELD.setdefault(key, [threading.RLock(), None, 0])
    with entry[0]:
        if entry[2] == 0:
            try:
                fd: int | None = os.open(key, os.O_RDONLY)
            except PermissionError:  # a directory we may not read (mode --x): no flock
                fd = None
            if fcntl is not None and fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except OSError:  # no flock on this file system
                    pass
            entry[1] = fd
        entry[2] += 1
        try:
            yield
        finally:
            entry[2] -= 1
            if entry[2] == 0:
                if entry[1] is not None:
                    os.close(entry[1])  # closing releases the flock
                entry[1] = None
