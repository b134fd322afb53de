"""NIfTI input: moved to :mod:`unizarr.readers.nifti` (kept here for existing imports)."""

from ..readers.nifti import is_nifti_name, read_nifti

__all__ = ["is_nifti_name", "read_nifti"]
