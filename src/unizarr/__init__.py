"""unizarr: one API for Zarr v2/v3 on zarr-python or TensorStore.

>>> import unizarr as uz
>>> g = uz.open_group("out.zarr", mode="w", driver="tensorstore")   # doctest: +SKIP
"""

from __future__ import annotations

from . import linc as _linc
from . import pyramid as _pyramid
from .aliases import PYRAMID_ALIASES, accepts_aliases
from .api import from_config, open_array, open_group
from .config import ZarrConfig
from .convert import ConvertResult, convert, convert_labels
from .copy import CopyResult, copy  # shadows its module's name, as serve and view below
from .core import Attributes, ZarrArray, ZarrGroup, ZarrNode
from .drivers import drivers, get_driver, register_driver
from .errors import (
    CorruptDataError,
    ForkedProcessError,
    MetadataError,
    OutsideStoreError,
    ReadOnlyError,
    StoreUnavailableError,
    UnizarrError,
    UnsupportedDriverError,
    ZarrVersionError,
)
from .labels import read_lut, write_labels
from .layout import ArraySpec
from .nifti import read_nifti_header, write_nifti_header
from .ome import validate_ome, write_ome_metadata

# The functions shadow their modules' names on the package (``uz.serve(...)``); import
# the modules' other names with ``from unizarr.serve import ...``.
from .serve import serve
from .view import view

#: :func:`unizarr.pyramid.generate_pyramid`, also taking linc-convert's ``mode=`` (for
#: ``method``) and ``ndim=`` (for ``spatial_ndim``): see docs/vocabulary.md.
generate_pyramid = accepts_aliases(PYRAMID_ALIASES)(_pyramid.generate_pyramid)

__version__ = "0.1.0"

# linc-convert's ZarrGroup methods live above the modules they call (no import cycle):
# attached here, so every ``import unizarr`` has them.
_linc.install()


def __getattr__(name: str):  # lazy: importing a driver imports its engine
    if name in ("ZarrPythonArray", "ZarrPythonGroup"):
        from .drivers import zarr_python

        return getattr(zarr_python, name)
    if name in ("ZarrTSArray", "ZarrTSGroup"):
        from .drivers import tensorstore

        return getattr(tensorstore, name)
    raise AttributeError(f"module 'unizarr' has no attribute {name!r}")


__all__ = [
    "ConvertResult",
    "CopyResult",
    "convert",
    "copy",
    "convert_labels",
    "CorruptDataError",
    "ForkedProcessError",
    "ArraySpec",
    "Attributes",
    "MetadataError",
    "OutsideStoreError",
    "ReadOnlyError",
    "StoreUnavailableError",
    "UnizarrError",
    "UnsupportedDriverError",
    "ZarrArray",
    "ZarrConfig",
    "ZarrGroup",
    "ZarrNode",
    "ZarrPythonArray",
    "ZarrPythonGroup",
    "ZarrTSArray",
    "ZarrTSGroup",
    "ZarrVersionError",
    "drivers",
    "from_config",
    "generate_pyramid",
    "get_driver",
    "open_array",
    "open_group",
    "read_lut",
    "read_nifti_header",
    "register_driver",
    "serve",
    "validate_ome",
    "view",
    "write_labels",
    "write_nifti_header",
    "write_ome_metadata",
]
