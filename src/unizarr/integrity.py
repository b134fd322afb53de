"""Integrity checks before the engines run: damaged stored blocks (crash leftovers) and
allocations no machine could satisfy. Both raise before any engine is called, so both
drivers report them alike (see ``docs/safety.md``, rules 6 and 7)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory() -> int | None:
    """Bytes of memory the kernel says are available now (``MemAvailable``), or
    ``None`` where it does not say (not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def check_allocation(shape: Sequence[int], dtype: np.dtype, what: str) -> None:
    """Raise ``MemoryError`` before the engine is asked for a buffer larger than the
    machine's physical memory (TensorStore aborts the interpreter on such a request)."""
    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    limit = _physical_memory()
    if limit is not None and nbytes > limit:
        raise MemoryError(
            f"{what} needs {nbytes / 2**30:.1f} GiB in one piece, more than the "
            f"{limit / 2**30:.1f} GiB of memory of this machine; read or write it in "
            "slices (or through dask)"
        )


def block_problem(fd: int, kind: str, n: int) -> str | None:
    """Why the stored block open as ``fd`` is damaged, or ``None`` (see
    :meth:`unizarr.core.ZarrArray._block_check` for ``kind`` and ``n``)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return "is empty (0 bytes)"
    if kind == "size" and size < n:
        return f"is {size} bytes, too short for its {n}-byte shard index (truncated?)"
    if kind == "blosc":
        header = os.pread(fd, 16, 0)
        if len(header) < 16:
            return "is shorter than a blosc header (truncated?)"
        cbytes = int.from_bytes(header[12:16], "little")
        if cbytes != size:
            return f"holds {size} bytes but its blosc header says {cbytes} (truncated?)"
    if kind == "index":
        width = abs(n)
        if size < width:
            return f"is {size} bytes, too short for its {width}-byte shard index (truncated?)"
        raw = os.pread(fd, width, size - width if n > 0 else 0)
        entries = np.frombuffer(raw[: (width // 16) * 16], dtype="<u8").reshape(-1, 2)
        used = entries[~(entries == np.uint64(2**64 - 1)).all(axis=1)]
        data_start, data_end = (0, size - width) if n > 0 else (width, size)
        offset, length = used[:, 0], used[:, 1]
        # (compared without offset + length, which could wrap around for a garbage index)
        too_long = length > np.uint64(data_end) - np.minimum(offset, np.uint64(data_end))
        if ((length == 0) | (offset < np.uint64(data_start)) | too_long).any():
            return "has a shard index pointing outside the file (truncated?)"
    return None
