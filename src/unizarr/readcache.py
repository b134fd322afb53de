"""A bounded, validated cache of decoded chunks for the ``"zarr-python"`` driver's reads.

zarr-python has no chunk cache: a random 32³ read of an array with 128³ chunks decodes
one to eight whole chunks (4 MiB each for uint16), to keep a few KiB of each. This cache
keeps recently decoded chunks of **local** arrays, shared by every handle of the process.

Coherence (an entry is never served stale):

- every entry records the identity of the stored object it was decoded from: the
  ``os.stat`` of the chunk file (or of the shard holding the inner chunk) — device,
  inode, size, modification and status-change times in nanoseconds. Each read stats the
  stored objects it touches and uses an entry only when that identity is unchanged. A
  write through any engine or process (zarr-python and TensorStore write a temporary
  file and rename it: a new inode; an in-place rewrite changes the times) or a deletion
  is therefore seen by the next read;
- a file whose last change is younger than :data:`RACY_SECONDS` when it is decoded is
  not cached: file systems stamp times with a coarse clock (a few ms), so a second
  same-size rewrite within the same tick would keep the identity (the "racy git"
  problem);
- writes and deletions through the ``"zarr-python"`` (and ``"zarrs"``) driver of this
  process drop the entries of what they touch as well.

Memory: the cache holds at most ``max_bytes`` of decoded data (its own accounting,
exact: the sum of the cached arrays' ``nbytes``), evicting the least recently used
chunks. A chunk larger than a quarter of the bound is never cached. The default is
:data:`DEFAULT_MAX_BYTES`; the environment variable ``UNIZARR_READ_CACHE_BYTES`` (read
at import, inherited by spawned workers) or :func:`configure` change it, ``0`` disables
the cache.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np

#: Default bound of the decoded-chunk cache, in bytes (256 MiB: one 512³ uint16 volume).
DEFAULT_MAX_BYTES = 256 << 20

#: A stored object changed less than this long before it was decoded is not cached
#: (file-system time stamps are coarse; see the module docstring).
RACY_SECONDS = 1.0

#: Identity of a stored object: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns).
Identity = tuple[int, int, int, int, int]


def identity(st: os.stat_result) -> Identity:
    """The identity of a stored object from its ``os.stat``."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def is_racy(ident: Identity, now_ns: int | None = None) -> bool:
    """Whether the object may still change without its identity changing (changed less
    than :data:`RACY_SECONDS` ago, or stamped in the future)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    newest = max(ident[3], ident[4])
    return now_ns - newest < RACY_SECONDS * 1e9


@dataclass(frozen=True)
class CacheStats:
    """Counters of the cache (since the last :func:`clear` or :func:`configure`)."""

    hits: int
    misses: int
    entries: int
    nbytes: int
    max_bytes: int
    peak_nbytes: int


class ChunkCache:
    """Least-recently-used map ``key -> (identity, decoded chunk)`` bounded in bytes.

    Keys are ``(file, chunk)`` pairs (``file`` the absolute path of the stored object,
    then anything hashable); thread-safe.
    """

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Identity, np.ndarray]] = OrderedDict()
        self._nbytes = 0
        self._peak = 0
        self._hits = 0
        self._misses = 0
        self.max_bytes = max(0, int(max_bytes))

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        """Decoded bytes held now."""
        return self._nbytes

    def get(self, key: tuple[str, Hashable], ident: Identity) -> np.ndarray | None:
        """The cached chunk of ``key`` if it was decoded from the object ``ident``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != ident:
                self._misses += 1
                if entry is not None:  # stale: the stored object changed
                    self._drop(key)
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[1]

    def put(self, key: tuple[str, Hashable], ident: Identity, chunk: np.ndarray) -> bool:
        """Keep ``chunk`` (decoded from the object ``ident``); returns whether it was
        kept. The array is made read-only: callers copy out of it."""
        size = int(chunk.nbytes)
        if size > self.max_bytes // 4 or is_racy(ident):
            return False
        chunk.setflags(write=False)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            while self._entries and self._nbytes + size > self.max_bytes:
                self._drop(next(iter(self._entries)))
            if self._nbytes + size > self.max_bytes:
                return False
            self._entries[key] = (ident, chunk)
            self._nbytes += size
            self._peak = max(self._peak, self._nbytes)
            return True

    def _drop(self, key: Hashable) -> None:
        _ident, chunk = self._entries.pop(key)
        self._nbytes -= int(chunk.nbytes)

    def invalidate(self, files: Iterable[str]) -> None:
        """Drop every entry decoded from one of ``files``."""
        files = set(files)
        if not files or not self._entries:
            return
        with self._lock:
            for key in [k for k in self._entries if k[0] in files]:  # type: ignore[index]
                self._drop(key)

    def invalidate_below(self, directory: str) -> None:
        """Drop every entry decoded from a file at or below ``directory``."""
        if not self._entries:
            return
        directory = os.path.abspath(directory)
        below = directory.rstrip(os.sep) + os.sep
        with self._lock:
            for key in [
                k for k in self._entries
                if k[0] == directory or k[0].startswith(below)  # type: ignore[index]
            ]:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._nbytes = 0
            self._peak = 0
            self._hits = self._misses = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, len(self._entries), self._nbytes,
                self.max_bytes, self._peak,
            )


def _env_bytes() -> int:
    raw = os.environ.get("UNIZARR_READ_CACHE_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        return max(0, int(raw))
    except ValueError:
        import warnings

        warnings.warn(
            f"UNIZARR_READ_CACHE_BYTES={raw!r} is not a number of bytes; using the default "
            f"{DEFAULT_MAX_BYTES}",
            stacklevel=2,
        )
        return DEFAULT_MAX_BYTES


_CACHE = ChunkCache(_env_bytes())


def cache() -> ChunkCache:
    """The process-wide cache of decoded chunks."""
    return _CACHE


def configure(max_bytes: int) -> None:
    """Set the bound of the process-wide cache (``0`` disables it); drops its entries.

    Parameters
    ----------
    max_bytes : int
        Most decoded bytes held at once.
    """
    if int(max_bytes) < 0:
        raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
    _CACHE.clear()
    _CACHE.max_bytes = int(max_bytes)


def clear() -> None:
    """Drop every cached chunk (and reset the counters)."""
    _CACHE.clear()


def stats() -> CacheStats:
    """Counters and size of the process-wide cache."""
    return _CACHE.stats()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork() time would never be released in the child.
    _CACHE._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
