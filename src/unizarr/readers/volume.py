"""``Volume``: a lazily read input image in Zarr axis order, with its physical metadata.

Every reader of :mod:`unizarr.io` returns a :class:`Volume`. Nothing is read when it is
opened: the voxels stay in the file and are fetched block by block when the dask array
of :meth:`Volume.to_dask` is computed, so a conversion never holds a whole volume.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from ..axes import CANONICAL_AXES, SPATIAL_AXES, default_axes  # noqa: F401 - re-exported
from ..blocks import aligned_chunks  # noqa: F401 - re-exported (readers and convert use it)

#: Spellings of length/time units found in file headers -> the UDUNITS-2 names
#: OME-NGFF accepts.
_UNIT_ALIASES = {
    "m": "meter", "meter": "meter", "metre": "meter",
    "cm": "centimeter", "centimeter": "centimeter",
    "mm": "millimeter", "millimeter": "millimeter", "millimetre": "millimeter",
    "um": "micrometer", "µm": "micrometer", "μm": "micrometer", "micron": "micrometer",
    "microns": "micrometer", "micrometer": "micrometer", "micrometre": "micrometer",
    "nm": "nanometer", "nanometer": "nanometer", "nanometre": "nanometer",
    "pm": "picometer", "picometer": "picometer",
    "a": "angstrom", "å": "angstrom", "angstrom": "angstrom",
    "s": "second", "sec": "second", "second": "second",
    "ms": "millisecond", "msec": "millisecond", "millisecond": "millisecond",
    "us": "microsecond", "µs": "microsecond", "usec": "microsecond",
    "microsecond": "microsecond",
    "min": "minute", "minute": "minute", "h": "hour", "hour": "hour",
}


def normalize_unit(unit: str | None) -> str | None:
    """Map a unit spelling (``"mm"``, ``"µm"``, ``"micron"``) to its UDUNITS-2 name.

    Returns ``None`` for an empty or unknown unit (the caller then keeps its default).

    >>> normalize_unit("um"), normalize_unit("Millimeter"), normalize_unit("pixel")
    ('micrometer', 'millimeter', None)
    """
    if not unit:
        return None
    return _UNIT_ALIASES.get(str(unit).strip().lower())


class ArrayLike(Protocol):
    """What a reader hands to dask: ``shape``, ``dtype`` and basic-slicing reads."""

    # Read-only properties: a protocol attribute would demand a settable one, which
    # numpy arrays and Zarr arrays do not offer for ``dtype``/``shape``.
    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, key: Any) -> Any: ...


@dataclass
class Volume:
    """A lazily read image, described in Zarr axis order.

    Attributes
    ----------
    source : ArrayLike
        The voxels in the *source's* axis order (e.g. NIfTI's x, y, z); read lazily.
    axes : tuple of str
        Output axis names, a subsequence of ``("t", "c", "z", "y", "x")``.
    perm : tuple of int
        Output axis ``i`` is source axis ``perm[i]`` (identity when the orders agree).
    space_scale : tuple of float
        Voxel size along each spatial output axis (z, y, x order).
    space_unit, time_unit : str or None
        UDUNITS-2 unit names; ``None`` when the input does not say.
    time_scale : float
        Time step along ``t``.
    nifti_header : nibabel header or None
        Carried into the output as NIfTI-Zarr.
    name : str
        Image name for the OME metadata.
    format : str
        What was read, for messages (``"NIfTI-1"``, ``"TIFF"``, ...).
    affine : numpy.ndarray or None
        4x4 voxel-to-world matrix where the format has one, in NIfTI's convention: it
        maps voxel indices in the *reverse* of the spatial output order (x, y, z, i.e.
        NIfTI's i, j, k) to RAS+ world coordinates in ``space_unit``.
    channel_names : tuple of str or None
        One name per channel, when the format names them.
    """

    source: ArrayLike
    axes: tuple[str, ...]
    perm: tuple[int, ...] = ()
    space_scale: tuple[float, ...] = ()
    space_unit: str | None = None
    time_scale: float = 1.0
    time_unit: str | None = None
    nifti_header: Any = None
    name: str = ""
    format: str = ""
    affine: Any = None
    channel_names: tuple[str, ...] | None = None
    _closers: list[Callable[[], Any]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        ndim = len(self.source.shape)
        if not self.perm:
            self.perm = tuple(range(ndim))
        if sorted(self.perm) != list(range(ndim)) or len(self.axes) != ndim:
            raise ValueError(
                f"axes {self.axes} / permutation {self.perm} do not match a {ndim}-D source"
            )
        order = [CANONICAL_AXES.index(a) for a in self.axes]
        if order != sorted(order) or len(set(order)) != ndim:
            raise ValueError(f"axes must follow the order t, c, z, y, x; got {self.axes}")
        nspace = sum(a in SPATIAL_AXES for a in self.axes)
        if not self.space_scale:
            self.space_scale = (1.0,) * nspace
        if len(self.space_scale) != nspace:
            raise ValueError(
                f"{len(self.space_scale)} voxel sizes given for {nspace} spatial axes"
            )

    # -- shape -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape in output (Zarr) axis order."""
        src = tuple(int(n) for n in self.source.shape)
        return tuple(src[p] for p in self.perm)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.source.dtype)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    # -- data --------------------------------------------------------------------------
    def read_region(self, region: Sequence[slice]) -> np.ndarray:
        """The voxels of ``region`` (slices in output axis order), read from the source.

        >>> vol.read_region((slice(0, 16), slice(0, 64), slice(0, 64)))   # doctest: +SKIP
        """
        src: list[slice] = [slice(None)] * self.ndim
        for out_axis, src_axis in enumerate(self.perm):
            src[src_axis] = region[out_axis]
        block = np.asarray(self.source[tuple(src)])
        return block.transpose(self.perm) if self.perm != tuple(range(self.ndim)) else block

    def to_dask(self, chunks: Sequence[int]) -> Any:
        """A dask array of the voxels in output axis order with these ``chunks``.

        Each dask chunk reads only its own region of the source, so choosing ``chunks``
        as whole multiples of the output's shard/chunk grid gives writes that never
        touch the same stored object twice.
        """
        import dask.array as da

        chunks = tuple(int(c) for c in chunks)
        if len(chunks) != self.ndim:
            raise ValueError(f"chunks {chunks} do not match the {self.ndim}-D volume")
        src_chunks = [0] * self.ndim
        for out_axis, src_axis in enumerate(self.perm):
            src_chunks[src_axis] = chunks[out_axis]
        arr = da.from_array(
            self.source,
            chunks=tuple(src_chunks),
            asarray=True,
            lock=False,
            fancy=False,
            meta=np.empty((0,) * self.ndim, dtype=self.dtype),
        )
        if self.perm != tuple(range(self.ndim)):
            arr = arr.transpose(self.perm)
        return arr

    def with_z(self) -> Volume:
        """The volume with a ``z`` axis of size 1 when it has time/channel axes but no
        ``z``: unizarr's layout rules read the last three axes of a 4-/5-D array as
        (z, y, x), so a (c, y, x) image is stored as (c, 1, y, x)."""
        if "z" in self.axes or not ({"t", "c"} & set(self.axes)):
            return self
        nsrc = len(self.source.shape)
        axes = tuple(a for a in CANONICAL_AXES if a in self.axes or a == "z")
        old = dict(zip(self.axes, self.perm))
        perm = tuple(nsrc if a == "z" else old[a] for a in axes)
        return replace(
            self,
            source=_TrailingAxis(self.source),
            axes=axes,
            perm=perm,
            space_scale=(1.0,) + tuple(self.space_scale),
        )

    def read(self) -> np.ndarray:
        """The whole volume as numpy (small inputs and tests only)."""
        return np.asarray(self.to_dask(self.shape).compute(scheduler="synchronous"))

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Release file handles held by the reader."""
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Volume:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _TrailingAxis:
    """``source`` seen with an extra trailing axis of length 1 (read-only, lazy)."""

    def __init__(self, source: ArrayLike) -> None:
        self.source = source
        self.shape = tuple(source.shape) + (1,)
        self.dtype = np.dtype(source.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if len(key) != self.ndim or any(k is Ellipsis or k is None for k in key):
            raise IndexError(f"expected {self.ndim} slices/ints, got {key!r}")
        out = np.asarray(self.source[key[:-1]])
        last = key[-1]
        if isinstance(last, slice):
            n = len(range(*last.indices(1)))
            out = np.expand_dims(out, -1)
            return out if n == 1 else out[..., :0]
        if last not in (0, -1):
            raise IndexError(f"index {last} is out of bounds for an axis of size 1")
        return out
