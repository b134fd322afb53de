"""The axis convention, in one place: which axes unizarr writes and in which order,
which of an array's axes are spatial, and which of those a pyramid downsamples.

Arrays without axis metadata follow linc-convert's convention by rank: 3-D is
(z, y, x), 4-D is (t or c, z, y, x), 5-D is (t, c, z, y, x); the spatial axes are the
last three (all of them below rank 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Axis names unizarr writes, in the order OME-NGFF and linc-convert use.
CANONICAL_AXES = ("t", "c", "z", "y", "x")
SPATIAL_AXES = ("z", "y", "x")
#: The OME-NGFF type of each conventional axis name.
AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def default_axes(ndim: int, no_time: bool = False) -> tuple[str, ...]:
    """Axis names of an array without metadata, by rank (linc-convert's convention).

    >>> default_axes(3), default_axes(4), default_axes(4, no_time=True)
    (('z', 'y', 'x'), ('t', 'z', 'y', 'x'), ('c', 'z', 'y', 'x'))
    """
    if ndim == 1:
        return ("x",)
    if ndim == 2:
        return ("y", "x")
    if ndim == 3:
        return SPATIAL_AXES
    if ndim == 4:
        return ("c" if no_time else "t",) + SPATIAL_AXES
    if ndim == 5:
        if no_time:
            raise ValueError("a 5-D input is (t, c, z, y, x); --no-time does not apply")
        return CANONICAL_AXES
    raise ValueError(f"cannot convert a {ndim}-D input; unizarr writes 2-D to 5-D images")


def nonspatial_axes(ndim: int, no_time: bool = False) -> tuple[str, ...]:
    """Names of the leading non-spatial axes: ``()``, ``("t",)``, ``("c",)``, ``("t", "c")``."""
    if ndim <= 3:
        return ()
    if ndim == 4:
        return ("c",) if no_time else ("t",)
    if ndim == 5:
        if no_time:
            raise ValueError("no_time cannot be used with 5-D arrays (t, c, z, y, x)")
        return ("t", "c")
    raise ValueError(
        f"cannot expand a short chunk/shard for a {ndim}-D array; give all {ndim} values"
    )


def spatial_axes(ndim: int, spatial_ndim: int | None = None) -> tuple[int, ...]:
    """The spatial axes of an array of rank ``ndim``: its last ``spatial_ndim`` axes
    (all of them when ``spatial_ndim >= ndim``).

    By default the unizarr axis conventions decide: arrays of rank <= 3 are all
    spatial, 4-D arrays are (t or c, z, y, x) and 5-D arrays are (t, c, z, y, x).

    Raises
    ------
    ValueError
        A rank above 5 without ``spatial_ndim``, or ``spatial_ndim`` out of range.
    """
    if spatial_ndim is None:
        if ndim > 5:
            raise ValueError(
                f"cannot tell the spatial axes of a {ndim}-D array; pass spatial_ndim="
            )
        spatial_ndim = min(ndim, 3)
    if isinstance(spatial_ndim, bool) or not isinstance(spatial_ndim, (int, np.integer)):
        raise ValueError(f"spatial_ndim must be an int, got {spatial_ndim!r}")
    if spatial_ndim < 1:
        raise ValueError(f"spatial_ndim must be >= 1, got {spatial_ndim}")
    # More than the rank means "all axes", as linc-convert's ``shape[-ndim:]`` does.
    spatial_ndim = min(int(spatial_ndim), ndim)
    return tuple(range(ndim - spatial_ndim, ndim))


def next_level_shape(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    """``shape`` with every axis in ``axes`` halved, rounding up.

    >>> next_level_shape((3, 9, 8), (1, 2))
    (3, 5, 4)
    """
    return tuple(-(-n // 2) if a in axes else int(n) for a, n in enumerate(shape))


def pyramid_axes(
    ndim: int, no_pyramid_axis: Any = None, spatial_ndim: int | None = None
) -> tuple[int, ...]:
    """The axes a pyramid downsamples: the spatial axes except ``no_pyramid_axis``.

    ``no_pyramid_axis`` is ``"x"``, ``"y"`` or ``"z"`` (the last, second-last and
    third-last spatial axis) or an index among the spatial axes (``0`` is the first
    spatial axis, e.g. ``z`` of a (z, y, x) volume; negative indices count from the end).

    Examples
    --------
    >>> pyramid_axes(5)
    (2, 3, 4)
    >>> pyramid_axes(3, "z")
    (1, 2)
    """
    spatial = spatial_axes(ndim, spatial_ndim)
    if no_pyramid_axis is None:
        return spatial
    n = len(spatial)
    names = {"x": n - 1, "y": n - 2, "z": n - 3}
    key = no_pyramid_axis
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        key = int(key)
    if isinstance(key, str):
        index = names.get(key.lower())
        if index is None or index < 0:
            raise ValueError(
                f"no_pyramid_axis {no_pyramid_axis!r} is not one of the {n} spatial axes "
                f"{['zyx'[3 - n + i] if n <= 3 else i for i in range(n)]}"
            )
    elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not -n <= key < n:
            raise ValueError(
                f"no_pyramid_axis {key} is out of range for {n} spatial axes (use 0..{n - 1} "
                "or 'x'/'y'/'z')"
            )
        index = int(key) % n
    else:
        raise ValueError(f"no_pyramid_axis must be 'x', 'y', 'z' or an int, got {no_pyramid_axis!r}")
    return tuple(a for i, a in enumerate(spatial) if i != index)
