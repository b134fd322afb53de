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

from ..readers import FORMATS, detect_format, open_input
from .nifti import read_nifti
from .npy import read_npy
from .tiff import read_tiff
from .volume import Volume, default_axes, normalize_unit
from .zarr import open_zarr, read_zarr

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
