"""NumPy ``.npy`` input, memory-mapped (``np.load(mmap_mode="r")``): nothing is read
until a block of the output asks for it. A file shorter than its header announces is
refused at open (a memory map past the end would fault on read)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptDataError
from .volume import Volume, default_axes

SUFFIXES = (".npy",)
OPTIONS = frozenset({"no_time"})
_MAGIC = b"\x93NUMPY"


def sniff(path: str) -> bool:
    """A ``.npy`` file: the ``\\x93NUMPY`` magic."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(6) == _MAGIC
    except Exception:
        return False


def _check_length(path: Path) -> None:
    """Refuse a ``.npy`` whose data is shorter than its header says."""
    with open(path, "rb") as f:
        if f.read(6) != _MAGIC:
            return  # np.load gives its own error
        f.seek(0)
        try:
            major, _ = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
        except Exception:
            return
        if dtype.hasobject:
            return
        end = f.tell() + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size < end:
        raise CorruptDataError(
            f"{path} is truncated: {size} bytes, its header announces {end} "
            f"({'x'.join(map(str, shape))} {dtype}); the file is incomplete - copy it again"
        )


def read_npy(path: str | os.PathLike, *, no_time: bool = False) -> Volume:
    """Open a ``.npy`` file lazily; axes by rank (2-D ``y, x`` ... 5-D ``t, c, z, y, x``;
    a 4-D array is ``t, z, y, x``, or ``c, z, y, x`` with ``no_time``).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CorruptDataError
        The file is shorter than its header announces.
    ValueError
        Not a ``.npy`` file, an object/structured array, or a rank unizarr cannot write.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    _check_length(path)
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


def open_volume(path: str, *, no_time: bool = False, **options: Any) -> Volume:
    """Registry entry: :func:`read_npy`."""
    return read_npy(path, no_time=no_time)
