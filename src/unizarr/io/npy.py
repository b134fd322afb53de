"""NumPy ``.npy`` input, memory-mapped (``np.load(mmap_mode="r")``): nothing is read
until a block of the output asks for it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .volume import Volume, default_axes


def read_npy(path: str | os.PathLike, *, no_time: bool = False) -> Volume:
    """Open a ``.npy`` file lazily; axes by rank (2-D ``y, x`` ... 5-D ``t, c, z, y, x``;
    a 4-D array is ``t, z, y, x``, or ``c, z, y, x`` with ``no_time``).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not a ``.npy`` file, an object/structured array, or a rank unizarr cannot write.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # ValueError for pickles, OSError/UnpicklingError otherwise
        raise ValueError(f"cannot read {path} as a .npy file: {exc}") from None
    if not isinstance(data, np.ndarray):  # np.load of a .npz gives an NpzFile
        raise ValueError(f"{path} is not a single-array .npy file")
    return Volume(
        source=data,
        axes=default_axes(data.ndim, no_time),
        name=path.stem,
        format="NumPy .npy",
    )
