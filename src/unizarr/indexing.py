"""numpy basic indexing, normalised once for every driver.

A key is split into

* a *region*: one ``slice(start, stop, step)`` per array axis with ``0 <= start <=
  stop <= n`` and ``step >= 1`` — what a driver reads or writes; and
* a *post-key*: applied with numpy to the block of that region, it gives exactly
  what ``numpy_array[key]`` gives (integer axes dropped, negative steps reversed,
  ``None`` axes added, 0-d results as scalars or 0-d arrays as numpy decides).

Drivers therefore never see negative indices, negative steps, out-of-range bounds or
``Ellipsis``; the numpy semantics live here only.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Selection:
    """A normalised basic-indexing key. See the module docstring."""

    region: tuple[slice, ...]
    post: tuple[Any, ...]
    #: True when ``post`` is a no-op: the block of ``region`` is the result.
    trivial: bool

    @property
    def region_shape(self) -> tuple[int, ...]:
        return tuple(len(range(s.start, s.stop, s.step)) for s in self.region)

    @property
    def empty(self) -> bool:
        return any(n == 0 for n in self.region_shape)


def _as_int(obj: Any) -> int | None:
    if isinstance(obj, (bool, np.bool_)):
        return None
    try:
        return operator.index(obj)
    except TypeError:
        return None


def normalize_key(key: Any, shape: tuple[int, ...]) -> Selection:
    """Normalise a numpy basic-indexing ``key`` for an array of ``shape``.

    Raises
    ------
    IndexError
        Too many indices, an integer out of range, or a key that is not basic
        indexing (arrays, lists, booleans, floats).
    ValueError
        A slice step of zero.
    """
    if not isinstance(key, tuple):
        key = (key,)
    n_ellipsis = sum(1 for k in key if k is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_axes_used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_axes_used > len(shape):
        raise IndexError(
            f"too many indices for array: array is {len(shape)}-dimensional, "
            f"but {n_axes_used} were indexed"
        )
    region: list[slice] = []
    post: list[Any] = []
    trivial = True
    axis = 0
    for k in key:
        if k is Ellipsis:
            fill = len(shape) - n_axes_used
            for _ in range(fill):
                region.append(slice(0, shape[axis], 1))
                axis += 1
            post.append(Ellipsis)
            continue
        if k is None:
            post.append(None)
            trivial = False
            continue
        n = shape[axis]
        if isinstance(k, slice):
            start, stop, step = k.indices(n)  # raises ValueError for step 0, like numpy
            idx = range(start, stop, step)
            if len(idx) == 0:
                region.append(slice(0, 0, 1))
                post.append(slice(None))
            elif step > 0:
                region.append(slice(idx[0], idx[-1] + 1, step))
                post.append(slice(None))
            else:
                region.append(slice(idx[-1], idx[0] + 1, -step))
                post.append(slice(None, None, -1))
                trivial = False
            axis += 1
            continue
        i = _as_int(k)
        if i is None:
            raise IndexError(
                "unizarr supports numpy basic indexing only (integers, slices, '...', "
                f"None); got {type(k).__name__}. For fancy indexing read a slice first "
                "and index the numpy result."
            )
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
        i += n if i < 0 else 0
        region.append(slice(i, i + 1, 1))
        post.append(0)
        trivial = False
        axis += 1
    while axis < len(shape):  # unindexed trailing axes
        region.append(slice(0, shape[axis], 1))
        post.append(slice(None))
        axis += 1
    if len(shape) == 0 and Ellipsis not in post:
        trivial = False  # numpy gives a scalar for x[()] but a 0-d array for x[...]
    return Selection(tuple(region), tuple(post), trivial)


def apply_post(block: np.ndarray, sel: Selection) -> Any:
    """The numpy result of the key, given the block of its region."""
    return block if sel.trivial else block[sel.post]


def value_block(value: Any, sel: Selection, dtype: np.dtype) -> np.ndarray:
    """The block to write for ``a[key] = value``, cast and broadcast as numpy would.

    Raises
    ------
    ValueError
        ``value`` cannot broadcast to the selection (numpy's own error).
    """
    shape = sel.region_shape
    if (
        sel.trivial
        and isinstance(value, np.ndarray)
        and value.dtype == dtype
        and value.shape == shape
    ):
        return value
    block = np.empty(shape, dtype=dtype)
    post = sel.post if Ellipsis in sel.post else sel.post + (Ellipsis,)
    block[post] = value  # numpy casts and broadcasts exactly as x[key] = value
    return block
