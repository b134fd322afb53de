"""Reuse the data a pyramid's level 0 was written from, instead of reading it back.

The natural call sequence ::

    g.create_array("0", data=volume)       # volume = np.load(path, mmap_mode="r")
    g.generate_pyramid(levels=3)

used to decompress level 0 again to build level 1. When the whole of an array is
written from a numpy array, this module remembers (in this process only) that the
array's content *is* that source; :func:`generate_pyramid` then reads the source
(``source=``, level 0 already written) instead of the stored level 0 - the output is
byte for byte the same, minus one decompression of the volume.

The source is used only when all of these hold at the moment the pyramid starts
(:func:`source_for`); otherwise the pyramid reads the stored level 0 as before:

* **it cannot have changed in memory**: the source and every numpy array it is a view
  of are read-only, and the memory belongs to a read-only buffer - a memmap opened
  with ``mode="r"`` (``np.load(path, mmap_mode="r")``) or a ``bytes`` object. A
  writeable array, or a read-only one that owns its memory (numpy lets its owner make
  it writeable again, and views taken before it was frozen stay writeable), is never
  reused: checking that it still holds the written values would cost the read we
  are saving;
* **its file has not changed**: for a memmap, the backing file's device, inode,
  size, modification and change times are those recorded at the write;
* it is still alive (only a weak reference is kept: user memory is never held);
* **no cast**: its dtype and shape are exactly the stored array's, and the dtype is
  an integer or boolean one (float chunks equal to the fill value, e.g. all ``-0.0``
  with fill ``0.0``, are not stored and read back as the fill value: not the same
  bytes). All unizarr codecs are lossless;
* **the stored array has not changed**: no write, block deletion, deletion or
  replacement of the node through any unizarr handle of this process since (the
  hooks in :mod:`unizarr.core` call :func:`forget`), and every file under the array's
  directory (metadata and chunks or shards) has the path, inode, size, modification
  and change time recorded right after the write - both engines replace a chunk file
  by renaming a new one, so a write by another process gives a new inode;
* the store is a local directory (object stores and ``memory://`` fall back: listing
  them is not a reliable modification record).

The same record may carry the level 1 that :mod:`unizarr.level1_ahead` computed from
the source during the write; :func:`reusable` hands both to the pyramid under the same
checks.

Known limits, by design: a change made by mapping the source file writable *in place*
and dirtying an already-dirty page, or by flipping a read-only array back to
writeable through a writable owner outside numpy, is not seen; writes that bypass
unizarr (``arr.native[...] = x``) are seen only through the file check above.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
import weakref
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

#: dtype kinds whose stored bytes always equal the written ones (see module docstring).
_EXACT_KINDS = "biu"


@dataclass(frozen=True)
class _Record:
    """What was written into one array, and how to tell it is still true."""

    source: weakref.ref
    dtype: np.dtype
    shape: tuple[int, ...]
    backing: tuple[Any, ...] | None  # stat of a memmap's file
    stored: str  # digest of the stat of every file of the array
    level1: Any = None  # a unizarr.level1_ahead.Level1 computed during the write


_lock = threading.Lock()
_records: dict[str, _Record] = {}  # real path of the array directory -> record
_stats: dict[str, Any] = {
    "reused": 0, "fallbacks": 0, "last": "nothing asked yet", "level1": "nothing asked yet",
}


def _clear_in_child() -> None:
    # A forked child starts with no record: the parent may write after the fork.
    global _lock
    _lock = threading.Lock()
    _records.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_clear_in_child)


# -- facts about the source and the store -----------------------------------------------
def _local_dir(node: Any, name: str | None = None) -> str | None:
    """Real path of ``node`` (or of its member ``name``) when it is on local disk."""
    loc = node._ref.location
    if not loc.is_local:
        return None
    path = os.path.join(loc.path, *name.split("/")) if name else loc.path
    return os.path.realpath(path)


def _mutable_reason(src: np.ndarray) -> str | None:
    """Why ``src``'s values could change without a write we see; ``None`` when they
    cannot (read-only views all the way down to a read-only buffer)."""
    obj: Any = src
    while isinstance(obj, np.ndarray):
        if obj.flags.writeable:
            return "the source array is writeable (it may have changed since it was written)"
        obj = obj.base
    if obj is None:
        return "the source array owns its memory (it could be made writeable again)"
    try:
        with memoryview(obj) as view:
            if not view.readonly:
                return "the source's memory is a writeable buffer"
    except (TypeError, ValueError):
        return f"the source's memory belongs to a {type(obj).__name__}"
    if isinstance(obj, mmap.mmap) and _backing_file(src) is None:
        return "the source is a read-only mapping of an unknown file"
    return None


def memory_map(src: np.ndarray) -> np.memmap | mmap.mmap | None:
    """The memory map behind ``src``: the first ``np.memmap`` down its ``.base`` chain,
    or the ``mmap.mmap`` at its end; ``None`` when its memory is not a mapping."""
    obj: Any = src
    while isinstance(obj, np.ndarray):
        if isinstance(obj, np.memmap):
            return obj
        obj = obj.base
    return obj if isinstance(obj, mmap.mmap) else None


def _backing_file(src: np.ndarray) -> str | None:
    found = memory_map(src)
    name = getattr(found, "filename", None) if isinstance(found, np.memmap) else None
    return str(name) if name else None


def _backing_stat(src: np.ndarray) -> tuple[Any, ...] | None:
    path = _backing_file(src)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return ("missing", path)
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _stored_digest(root: str) -> str:
    """Digest of (relative path, inode, size, mtime, ctime) of every file below
    ``root``: any replaced, rewritten, added or removed chunk, shard or metadata file
    changes it."""
    h = hashlib.blake2b(digest_size=16)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            try:
                st = os.lstat(path)
            except OSError:
                continue  # vanished while listing: the entry is simply absent
            rel = os.path.relpath(path, root)
            h.update(f"{rel}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode())
    return h.hexdigest()


# -- hooks of unizarr.core ----------------------------------------------------------------
def forget(node: Any, name: str | None = None) -> None:
    """Drop what is remembered about ``node`` (or its member ``name``) and every array
    below it: called before each write, block deletion, deletion or replacement."""
    if not _records:
        return  # the common case: nothing remembered, no path to resolve
    path = _local_dir(node, name)
    if path is None:
        return
    prefix = path.rstrip(os.sep) + os.sep
    with _lock:
        for key in [k for k in _records if k == path or k.startswith(prefix)]:
            del _records[key]


def would_remember(arr: Any, sel: Any, value: Any) -> bool:
    """Whether ``arr[sel] = value`` would be remembered by :func:`remember` once it
    succeeds: a whole-array write of an exactly matching, unchangeable numpy array on a
    local store (see the module docstring)."""
    if not (isinstance(value, np.ndarray) and sel.trivial):
        return False
    shape = tuple(arr.shape)
    if value.shape != shape or value.dtype != arr.dtype or arr.dtype.kind not in _EXACT_KINDS:
        return False
    if any((s.start, s.stop, s.step) != (0, n, 1) for s, n in zip(sel.region, shape)):
        return False
    path = _local_dir(arr)
    return path is not None and os.path.isdir(path) and _mutable_reason(value) is None


def remember(arr: Any, sel: Any, value: Any, level1: Any = None, *,
             eligible: bool | None = None) -> None:
    """After ``arr[sel] = value`` succeeded: remember ``value`` as ``arr``'s content
    when :func:`would_remember` says so, with the ``level1`` computed during the write
    (:mod:`unizarr.level1_ahead`), if any. Does nothing otherwise. At most one record
    holds a level 1: a new one drops the others' (their memory is the caller's cost).
    ``eligible``: :func:`would_remember`'s verdict when the caller already has it."""
    if not (would_remember(arr, sel, value) if eligible is None else eligible):
        return
    path = _local_dir(arr)
    if path is None:  # (would_remember checked it: only a vanished store gets here)
        return
    record = _Record(
        source=weakref.ref(value),
        dtype=np.dtype(value.dtype),
        shape=tuple(arr.shape),
        backing=_backing_stat(value),
        stored=_stored_digest(path),
        level1=level1,
    )
    with _lock:
        for key in [k for k, r in _records.items() if r.source() is None]:
            del _records[key]  # sources collected since: nothing to reuse there
        if level1 is not None:
            for key, r in list(_records.items()):
                if r.level1 is not None:
                    _records[key] = replace(r, level1=None)
        _records[path] = record


# -- the question generate_pyramid asks ---------------------------------------------------
def _decide(base: Any) -> tuple[np.ndarray | None, Any, str]:
    """The reusable source of ``base``, the level 1 computed with it (or ``None``) and
    ``"reused"``; or ``None``, ``None`` and why not."""
    path = _local_dir(base)
    if path is None:
        return None, None, "the store is not a local directory"
    with _lock:
        record = _records.get(path)
    if record is None:
        return None, None, "no whole-array write of a numpy array recorded for this array"
    src = record.source()
    if src is None:
        forget(base)
        return None, None, "the source array was garbage-collected"
    if (
        np.dtype(base.dtype) != record.dtype
        or src.dtype != record.dtype
        or tuple(base.shape) != record.shape
        or tuple(src.shape) != record.shape
    ):
        return None, None, "dtype or shape differ from the recorded write"
    reason = _mutable_reason(src)
    if reason is not None:
        return None, None, reason
    if _backing_stat(src) != record.backing:
        return None, None, "the source's file changed since it was written"
    if _stored_digest(path) != record.stored:
        return None, None, "the stored array changed since it was written"
    return src, record.level1, "reused"


def source_for(base: Any) -> np.ndarray | None:
    """The numpy array ``base`` was last written from, when it provably still holds
    exactly ``base``'s stored content (see the module docstring); else ``None``."""
    return reusable(base)[0]


def reusable(base: Any) -> tuple[np.ndarray | None, Any]:
    """:func:`source_for` and the level 1 computed during that write (a
    :class:`unizarr.level1_ahead.Level1`, or ``None``), which is handed over: the record
    keeps its source but no longer the level."""
    src, level1, why = _decide(base)
    with _lock:
        _stats["reused" if src is not None else "fallbacks"] += 1
        _stats["last"] = why
        _stats["level1"] = "computed ahead" if level1 is not None else "none computed ahead"
        path = _local_dir(base)
        record = _records.get(path) if path is not None else None
        if path is not None and record is not None:
            if src is None:
                del _records[path]  # it no longer describes the array: free its level too
            elif level1 is not None and record.level1 is level1:
                _records[path] = replace(record, level1=None)
    return src, level1


def stats() -> dict[str, Any]:
    """How often :func:`source_for` reused a source or fell back, the last reason
    (``"reused"`` when it did), whether the last call found a level 1 computed ahead
    (``"level1"``) and the bytes of such levels held now (``"level1_bytes"``, at most
    one level): a record tests and benchmarks check."""
    with _lock:
        out = dict(_stats)
        # (a level whose source was collected is freed by the next write or pyramid)
        out["level1_bytes"] = sum(
            r.level1.data.nbytes for r in _records.values()
            if r.level1 is not None and r.source() is not None
        )
    return out


__all__ = ["forget", "memory_map", "remember", "reusable", "source_for", "stats", "would_remember"]
