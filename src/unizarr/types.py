"""Named types of the layout arguments of the public API.

Each alias says what a keyword accepts (and :func:`unizarr.layout.resolve_array_spec`
checks at run time, so a wrong value is a ``ValueError`` naming it, not a crash deeper
down). This module imports nothing from unizarr; any layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

#: An array shape: one int (1-D) or one int per axis.
ShapeLike: TypeAlias = int | Sequence[int]
#: A chunk shape: one int per axis, or fewer, which then cover the trailing (spatial)
#: axes (``(64,)`` is 64 along every spatial axis; see ``layout.expand_chunks``).
ChunksLike: TypeAlias = int | Sequence[int]
#: A shard shape (Zarr v3): as :data:`ChunksLike`, or ``"auto"`` (0.5-1 GiB shards).
ShardsLike: TypeAlias = int | Sequence[int] | Literal["auto"]
#: Anything numpy reads as a dtype: ``"uint16"``, ``"<u2"``, ``np.uint16``, ``np.dtype``.
DTypeLike: TypeAlias = npt.DTypeLike
#: A fill value: a scalar of the array's dtype (``"NaN"``/``"Infinity"`` strings for
#: floats as in Zarr JSON, bytes for fixed-size bytes types), or ``None`` for the default.
FillValue: TypeAlias = bool | int | float | complex | str | bytes | np.generic | None
#: A compressor name: ``"blosc"``, ``"zstd"``, ``"zlib"`` (v2 only), ``"gzip"``, ``"none"``.
CompressorName: TypeAlias = str
#: Compressor options: a mapping or its JSON text (``'{"cname": "zstd", "clevel": 5}'``).
CompressorOptions: TypeAlias = Mapping[str, Any] | str
#: Separator of chunk keys: ``"/"`` or ``"."``.
DimensionSeparator: TypeAlias = str
#: Memory order of stored chunks: ``"C"`` or ``"F"``.
MemoryOrder: TypeAlias = str
#: Zarr format: 2 or 3.
ZarrVersion: TypeAlias = int
#: Credentials and endpoint of a remote store (``key``, ``secret``, ``endpoint_url``,
#: ``token``, ...), the same for every driver.
StorageOptions: TypeAlias = Mapping[str, Any]
#: OME-NGFF axes, in array order: a string of names (``"zyx"``), or names among
#: ``t, c, z, y, x`` and NGFF axis objects (``{"name": ..., "type": ..., "unit": ...}``).
AxesLike: TypeAlias = str | Sequence[str | Mapping[str, Any]]
#: A configuration read by field name: a :class:`unizarr.ZarrConfig`, linc-convert's own
#: ``ZarrConfig``, a mapping, or any object with those attribute names.
ConfigLike: TypeAlias = Any

__all__ = [
    "AxesLike",
    "ChunksLike",
    "CompressorName",
    "CompressorOptions",
    "ConfigLike",
    "DTypeLike",
    "DimensionSeparator",
    "FillValue",
    "MemoryOrder",
    "ShapeLike",
    "ShardsLike",
    "StorageOptions",
    "ZarrVersion",
]
