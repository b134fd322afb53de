"""TIFF input: moved to :mod:`unizarr.readers.tiff` and :mod:`unizarr.readers.slices`
(kept here for existing imports)."""

from ..readers.slices import list_files as stack_files
from ..readers.tiff import TIFF_SUFFIXES, is_glob, is_tiff_name, read_tiff

__all__ = ["TIFF_SUFFIXES", "is_glob", "is_tiff_name", "read_tiff", "stack_files"]
