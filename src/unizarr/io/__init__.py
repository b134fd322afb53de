"""The library side of the commands: input volumes and the Zarr-to-Zarr jobs.

The input readers live in :mod:`unizarr.readers` (one module per format, a registry,
detection by content); :func:`open_input`, :func:`detect_format` and the ``read_*``
functions stay importable from here. Modules: ``volume`` (the ``Volume`` type),
``blockwise`` (out-of-core block copy), ``report`` (``info`` / ``validate``),
``tree_copy`` (``copy``), ``preview``, ``worker_input`` (inputs on cluster workers).

>>> from unizarr.io import open_input
>>> with open_input("brain.nii.gz") as vol:            # doctest: +SKIP
...     vol.shape, vol.axes, vol.space_scale
((25, 41, 33), ('z', 'y', 'x'), (2.0, 2.0, 2.0))
"""

from __future__ import annotations

from typing import Any

from ..readers import FORMATS, detect_format, open_input
from .volume import Volume, default_axes, normalize_unit

#: The old ``read_*`` names, resolved on first use: the reader modules import
#: ``unizarr.io.volume``, so importing them here would be a cycle when a reader
#: module is imported first.
_LAZY = {
    "read_nifti": ("..readers.nifti", "read_nifti"),
    "read_npy": ("..readers.npy", "read_npy"),
    "read_tiff": ("..readers.tiff", "read_tiff"),
    "read_zarr": ("..readers.zarr", "read_zarr"),
    "open_zarr": (".zarr", "open_zarr"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(module, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "Volume",
    "default_axes",
    "detect_format",
    "normalize_unit",
    "open_input",
    "open_zarr",
    "read_nifti",
    "read_npy",
    "read_tiff",
    "read_zarr",
]
