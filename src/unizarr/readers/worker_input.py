"""Inputs read by ``dask.distributed`` workers (``unizarr convert --scheduler``).

A :class:`~unizarr.readers.volume.Volume` holds open files (a nibabel proxy, a tifffile
store, a memmap), which do not travel to another process - a memmap would even
pickle as its whole data. :class:`WorkerInput` travels instead: it holds what
:func:`unizarr.io.open_input` was called with, and each worker process opens the input
once (then reuses it) and reads only the regions its tasks ask for. The workers must
see the input at the same path (a shared file system) or URL.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .volume import Volume


@dataclass(frozen=True)
class InputRef:
    """How to open an input again in another process: :func:`~unizarr.io.open_input`'s
    arguments, hashable (the per-process cache key)."""

    path: str
    driver: str | None = None
    storage_options: str = "null"  # JSON
    no_time: bool = False
    reader: str | None = None
    series: int | str | None = None
    pattern: str | None = None

    @classmethod
    def of(
        cls,
        path: str | os.PathLike,
        *,
        driver: str | None = None,
        storage_options: dict[str, Any] | None = None,
        no_time: bool = False,
        reader: str | None = None,
        series: int | str | None = None,
        pattern: str | None = None,
    ) -> InputRef:
        """A reference valid in any process: local paths are made absolute (workers
        may run in another directory)."""
        path = os.fspath(path)
        if "://" not in path:
            path = os.path.abspath(path)
        return cls(
            path, driver, json.dumps(storage_options, sort_keys=True), no_time,
            reader, series, pattern,
        )

    def open(self) -> Volume:
        from . import open_input

        return open_input(
            self.path, driver=self.driver, storage_options=json.loads(self.storage_options),
            no_time=self.no_time, reader=self.reader, series=self.series,
            pattern=self.pattern,
        )


@lru_cache(maxsize=8)
def _opened(ref: InputRef) -> Volume:
    # One open per worker process and input: a NIfTI header parse or a TIFF's page
    # index per task would cost more than many reads. Evicted volumes are closed by
    # the garbage collector (a task may still be reading from one).
    return ref.open()


class WorkerInput:
    """An input volume as an array-like that pickles as its :class:`InputRef`:
    ``shape``, ``dtype`` and ``x[region]`` (slices in Zarr axis order)."""

    def __init__(self, ref: InputRef, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.ref = ref
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        return _opened(self.ref).read_region(region)


def input_on_workers(ref: InputRef, vol: Volume, chunks: tuple[int, ...]) -> Any:
    """The voxels of ``vol`` (opened from ``ref`` here) as a dask array whose tasks
    open ``ref`` on the worker that runs them and read their own chunk."""
    import dask.array as da

    return da.from_array(
        WorkerInput(ref, vol.shape, vol.dtype),
        chunks=chunks,
        asarray=True,
        lock=False,
        fancy=False,
        meta=np.empty((0,) * vol.ndim, dtype=vol.dtype),
        # A fresh name: tokenizing would key the graph on the path alone, and a file
        # rewritten between two conversions must be read again.
        name=f"unizarr-input-{uuid.uuid4().hex[:12]}",
    )


__all__ = ["InputRef", "WorkerInput", "input_on_workers"]
