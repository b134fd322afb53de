"""NumPy input: moved to :mod:`unizarr.readers.npy` (kept here for existing imports)."""

from ..readers.npy import read_npy

__all__ = ["read_npy"]
