"""linc-convert's group methods (SPEC section 9): ``ZarrGroup.generate_pyramid``,
``ZarrGroup.write_ome_metadata`` and ``ZarrGroup.write_nifti_header``.

They are thin delegations to the library functions of :mod:`unizarr.pyramid`,
:mod:`unizarr.ome` and :mod:`unizarr.nifti`, which all build on :mod:`unizarr.core`.
Defining them in ``core`` would make the node model import the floors above it (an
import cycle); instead this module, above all three, installs them onto
:class:`~unizarr.ZarrGroup` when ``unizarr`` is imported (:func:`install`). Every
driver's group class inherits them.
"""

from __future__ import annotations

from typing import Any

from .aliases import merge
from .core import ZarrArray, ZarrGroup
from .nifti import write_nifti_header as _write_nifti_header
from .ome import write_ome_metadata as _write_ome_metadata
from .pyramid import generate_pyramid as _generate_pyramid
from .types import AxesLike


def generate_pyramid(
    self: ZarrGroup,
    levels: int = -1,
    ndim: int | None = None,
    mode: Any = None,
    no_pyramid_axis: Any = None,
    **kwargs: Any,
) -> list[tuple[int, ...]]:
    """Build levels ``"1"``, ``"2"``, ... from ``"0"``; see
    :func:`unizarr.generate_pyramid`. linc-convert's ``ndim`` and ``mode`` (positions 2
    and 3) are aliases of ``spatial_ndim`` and ``method``, which are accepted too
    (default: 3 spatial axes, ``"mean"``); an alias and its canonical name with
    different values raise :class:`TypeError`. The other keywords (``max_memory``,
    ``source``, ``resume``, ``client``, ...) pass through, so ``client=`` runs the
    tiles on a ``dask.distributed`` cluster. Returns every level's shape, level 0
    first."""
    where = "generate_pyramid"
    method = merge(where, "method", kwargs.pop("method", None), "mode", mode)
    spatial_ndim = merge(where, "spatial_ndim", kwargs.pop("spatial_ndim", None), "ndim", ndim)
    return _generate_pyramid(
        self, levels, method="mean" if method is None else method,
        no_pyramid_axis=no_pyramid_axis, spatial_ndim=3 if spatial_ndim is None else spatial_ndim,
        **kwargs,
    )


def write_ome_metadata(
    self: ZarrGroup,
    axes: AxesLike,
    space_scale: Any = 1.0,
    time_scale: float = 1.0,
    space_unit: str | None = None,
    time_unit: str | None = None,
    name: str = "",
    pyramid_aligns: Any = 2,
    levels: int | None = None,
    no_pool: int | None = None,
    multiscales_type: str = "",
    ome_version: str | None = None,
) -> dict[str, Any]:
    """Write OME-NGFF multiscales metadata; see :func:`unizarr.write_ome_metadata`
    (same positional order as linc-convert's method).

    Two defaults differ from linc-convert's on purpose: ``ome_version`` follows the
    group (0.5 on Zarr v3, 0.4 on v2) instead of always 0.4, and no unit is written
    unless one is given (linc-convert wrote micrometre and second, which makes a
    millimetre MRI 1000x too small). Pass ``space_unit="micrometer",
    time_unit="second", ome_version="0.4"`` for linc-convert's output."""
    return _write_ome_metadata(
        self, axes, space_scale=space_scale, time_scale=time_scale, space_unit=space_unit,
        time_unit=time_unit, name=name, pyramid_aligns=pyramid_aligns, levels=levels,
        ome_version=ome_version, no_pool=no_pool, multiscales_type=multiscales_type,
    )


def write_nifti_header(self: ZarrGroup, header: Any) -> ZarrArray:
    """Store a nibabel NIfTI header as NIfTI-Zarr; see :func:`unizarr.write_nifti_header`."""
    return _write_nifti_header(self, header)


def install(cls: type[ZarrGroup] = ZarrGroup) -> None:
    """Attach the three methods to ``cls`` (``ZarrGroup``: every driver's group)."""
    for method in (generate_pyramid, write_ome_metadata, write_nifti_header):
        method.__qualname__ = f"{cls.__name__}.{method.__name__}"
        setattr(cls, method.__name__, method)
