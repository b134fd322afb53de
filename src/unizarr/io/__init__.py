"""The library side of the Zarr-to-Zarr commands: ``report`` (``info`` / ``validate``),
``preview``, ``tree_copy`` (``copy``) and ``ome_convert`` (OME version changes). The
out-of-core block copy they use is :func:`unizarr.blocks.copy_blocks`.

Inputs are read by :mod:`unizarr.readers` (one module per format, a registry, detection
by content, the :class:`~unizarr.readers.volume.Volume` they return, Zarr inputs in
:mod:`unizarr.readers.zarr_store`, inputs reopened on cluster workers in
:mod:`unizarr.readers.worker_input`). The input names once importable from here
(``open_input``, ``detect_format``, ``FORMATS``, ``Volume``, ``read_*``, ``open_zarr``...)
still resolve, from the readers, on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Names kept importable from ``unizarr.io``: where each lives now.
_MOVED = {
    "FORMATS": "..readers",
    "detect_format": "..readers",
    "open_input": "..readers",
    "Volume": "..readers.volume",
    "default_axes": "..readers.volume",
    "normalize_unit": "..readers.volume",
    "read_nifti": "..readers.nifti",
    "read_npy": "..readers.npy",
    "read_tiff": "..readers.tiff",
    "read_zarr": "..readers.zarr",
    "open_zarr": "..readers.zarr_store",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(import_module(_MOVED[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_MOVED)
