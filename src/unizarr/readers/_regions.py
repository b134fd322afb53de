"""Key handling shared by the lazy sources of the format readers.

dask and :meth:`~unizarr.readers.volume.Volume.read_region` index a source with a tuple of
slices or integers, one per axis; these helpers turn any such key into explicit
``range`` objects so that a reader fetches exactly the planes a block covers.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def normalize_key(key: Any, shape: tuple[int, ...]) -> tuple[list[range], tuple[int, ...]]:
    """Per-axis index ranges of ``key`` and the axes that an integer index drops.

    >>> normalize_key((slice(1, 3), 0), (4, 5))
    ([range(1, 3), range(0, 1)], (1,))
    """
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1 :]
    key = key + (slice(None),) * (len(shape) - len(key))
    if len(key) != len(shape):
        raise IndexError(f"too many indices ({len(key)}) for a {len(shape)}-D source")
    ranges: list[range] = []
    dropped: list[int] = []
    for axis, (k, n) in enumerate(zip(key, shape)):
        if isinstance(k, slice):
            ranges.append(range(*k.indices(n)))
        elif isinstance(k, (int, np.integer)):
            i = int(k) + n if int(k) < 0 else int(k)
            if not 0 <= i < n:
                raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
            ranges.append(range(i, i + 1))
            dropped.append(axis)
        else:
            raise IndexError(f"only slices and integers are supported, got {k!r}")
    return ranges, tuple(dropped)


def as_slice(r: range) -> slice:
    """The slice that selects ``r`` (an empty range gives an empty slice)."""
    return slice(r.start, r.stop, r.step) if len(r) else slice(0, 0)
