"""Imaris ``.ims`` input (HDF5) through h5py: full resolution of every channel and time
point, read lazily.

Layout read (Imaris 5.5 file format)::

    DataSet/ResolutionLevel 0/TimePoint <t>/Channel <c>/Data      (z, y, x), padded
    DataSet/ResolutionLevel 0/TimePoint <t>/Channel <c>           ImageSizeX/Y/Z
    DataSetInfo/Image                  X, Y, Z, ExtMin0..2, ExtMax0..2, Unit
    DataSetInfo/Channel <c>            Name
    DataSetInfo/TimeInfo               TimePoint1, TimePoint2, ... (timestamps)

Imaris stores attributes as arrays of single characters; they are joined and parsed.
``Data`` is padded up to its HDF5 chunk size, so reads are cropped to ``ImageSize*``.
The voxel size along each axis is ``(ExtMax - ExtMin) / size``, in ``Unit`` (default
micrometre). The time step is the difference of the first two ``TimePoint`` stamps, in
seconds. The output axes are (t, c, z, y, x) without the ``t`` (``c``) axis when there
is one time point (channel). ``channel_names`` holds one name per channel (``Channel
<c>`` when the file names none). The lower resolution levels are not read: unizarr
builds its own pyramid. Imaris has no patient/world orientation, so ``affine`` is
``None``.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any

import numpy as np

from ..errors import CorruptDataError, MetadataError
from ._regions import as_slice, normalize_key
from .volume import Volume, normalize_unit

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
LEVEL0 = "DataSet/ResolutionLevel 0"


def _attr(node: Any, name: str) -> str | None:
    """An Imaris attribute (array of 1-byte strings, or a plain string) as text."""
    if name not in node.attrs:
        return None
    value = node.attrs[name]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind == "S":
        return b"".join(arr.ravel().tolist()).decode("utf-8", "replace")
    if arr.dtype.kind in "iuf" and arr.size == 1:
        return str(arr.ravel()[0])
    return str(value)


def _has_signature(path: str) -> bool:
    # HDF5 puts its signature at 0, 512, 1024, ... when a user block precedes it.
    with open(path, "rb") as fh:
        for offset in (0, 512, 1024, 2048):
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return True
    return False


def sniff(path: str) -> bool:
    """Whether ``path`` is an HDF5 file with Imaris' ``DataSet/ResolutionLevel 0``.
    Never raises."""
    try:
        if not os.path.isfile(path) or not _has_signature(path):
            return False
        import h5py

        with h5py.File(path, "r") as f:
            return isinstance(f.get(LEVEL0), h5py.Group)
    except Exception:  # noqa: BLE001 - sniffing must never fail
        return False


def _number(node: Any, name: str, where: str) -> float:
    text = _attr(node, name)
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MetadataError(
            f"{where}: attribute {name} of {node.name} is {text!r}, not a number; the "
            "file is damaged or not written by Imaris"
        ) from None


def _indexed(group: Any, prefix: str) -> list[int]:
    """Sorted indices n of the members ``"<prefix> n"`` of ``group``."""
    out = []
    for key in group:
        head, _, tail = key.rpartition(" ")
        if head == prefix and tail.isdigit():
            out.append(int(tail))
    return sorted(out)


def _time_step(info: Any) -> float | None:
    """Seconds between the first two time points, or ``None``."""
    node = info.get("TimeInfo") if info is not None else None
    if node is None:
        return None
    stamps = []
    for key in ("TimePoint1", "TimePoint2"):
        text = _attr(node, key)
        if not text:
            return None
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                stamps.append(datetime.strptime(text.strip(), fmt))
                break
            except ValueError:
                continue
        else:
            return None
    step = (stamps[1] - stamps[0]).total_seconds()
    return step if step > 0 else None


class ImarisSource:
    """Level 0 as a lazy (t, c, z, y, x) array; opens the file on first read and
    reopens it after pickling (HDF5 handles do not cross processes)."""

    def __init__(self, path: str, times: list[int], channels: list[int],
                 shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = path
        self.times = times
        self.channels = channels
        self.shape = (len(times), len(channels)) + tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = 5
        self._file: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _data(self, t: int, c: int) -> Any:
        with self._lock:   # dask threads: open the file once
            if self._file is None:
                import h5py

                self._file = h5py.File(self.path, "r")
        name = f"{LEVEL0}/TimePoint {self.times[t]}/Channel {self.channels[c]}/Data"
        data = self._file.get(name)
        if data is None:
            raise CorruptDataError(f"{self.path} has no dataset {name}; the file is damaged")
        return data

    def __getitem__(self, key: Any) -> np.ndarray:
        ranges, dropped = normalize_key(key, self.shape)
        rt, rc, rz, ry, rx = ranges
        out = np.empty(tuple(len(r) for r in ranges), dtype=self.dtype)
        region = (as_slice(rz), as_slice(ry), as_slice(rx))
        for i, t in enumerate(rt):
            for j, c in enumerate(rc):
                try:
                    out[i, j] = self._data(t, c)[region]
                except CorruptDataError:
                    raise
                except Exception as exc:  # HDF5 filter/checksum errors, truncated file
                    raise CorruptDataError(
                        f"cannot read time point {self.times[t]}, channel "
                        f"{self.channels[c]} of {self.path}: {' '.join(str(exc).split())}"
                    ) from None
        return out.squeeze(axis=dropped) if dropped else out


class _Drop:
    """A view of a 5-D source without its size-1 leading axes listed in ``drop``."""

    def __init__(self, source: ImarisSource, drop: tuple[int, ...]) -> None:
        self.source = source
        self.drop = drop
        self.shape = tuple(n for i, n in enumerate(source.shape) if i not in drop)
        self.dtype = source.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        ranges, dropped = normalize_key(key, self.shape)
        full: list[Any] = []
        it = iter(ranges)
        for i in range(5):
            full.append(slice(0, 1) if i in self.drop else as_slice(next(it)))
        out = self.source[tuple(full)].reshape(tuple(len(r) for r in ranges))
        return out.squeeze(axis=dropped) if dropped else out


def open_volume(path: str, **options: Any) -> Volume:
    """Open the full-resolution image of an Imaris file lazily.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not an Imaris file (no ``DataSet/ResolutionLevel 0``).
    MetadataError
        Missing or unreadable sizes/extents, or channels that differ in size.
    """
    import h5py

    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(
            f"cannot open {path} as HDF5/Imaris: {' '.join(str(exc).split())}"
        ) from None
    try:
        level = f.get(LEVEL0)
        if not isinstance(level, h5py.Group):
            raise ValueError(
                f"{path} is HDF5 but not an Imaris file (no {LEVEL0} group)"
            )
        times = _indexed(level, "TimePoint")
        if not times:
            raise MetadataError(f"{path}: {LEVEL0} holds no 'TimePoint n' group")
        channels = _indexed(level[f"TimePoint {times[0]}"], "Channel")
        if not channels:
            raise MetadataError(f"{path}: TimePoint {times[0]} holds no 'Channel n' group")
        shape = None
        dtype = None
        for t in times:
            for c in channels:
                name = f"TimePoint {t}/Channel {c}"
                node = level.get(name)
                data = node.get("Data") if isinstance(node, h5py.Group) else None
                if data is None:
                    raise MetadataError(
                        f"{path}: {LEVEL0}/{name}/Data is missing; every time point must "
                        "hold every channel"
                    )
                size = tuple(int(_number(node, f"ImageSize{a}", path)) for a in "ZYX")
                if shape is None:
                    shape, dtype = size, data.dtype
                if size != shape or data.dtype != dtype:
                    raise MetadataError(
                        f"{path}: {name} is {size} {data.dtype}, unlike {shape} {dtype} of "
                        "the first channel; convert the channels separately"
                    )
                if data.ndim != 3 or any(d < s for d, s in zip(data.shape, size)):
                    raise MetadataError(
                        f"{path}: {name}/Data has shape {data.shape}, smaller than its "
                        f"ImageSize {size}; the file is damaged"
                    )
        if shape is None or dtype is None:  # unreachable: times and channels are non-empty
            raise MetadataError(f"{path}: no image data at {LEVEL0}")
        info = f.get("DataSetInfo")
        image = info.get("Image") if info is not None else None
        scale = [1.0, 1.0, 1.0]
        unit = "micrometer"
        if image is not None:
            for i, axis in enumerate("ZYX"):
                k = "XYZ".index(axis)
                if f"ExtMin{k}" in image.attrs and f"ExtMax{k}" in image.attrs:
                    extent = _number(image, f"ExtMax{k}", path) - _number(image, f"ExtMin{k}", path)
                    if extent > 0:
                        scale[i] = extent / shape[i]
            unit = normalize_unit(_attr(image, "Unit")) or "micrometer"
        names = []
        for c in channels:
            node = info.get(f"Channel {c}") if info is not None else None
            names.append((_attr(node, "Name") if node is not None else None) or f"Channel {c}")
        step = _time_step(info)
    finally:
        f.close()

    source = ImarisSource(path, times, channels, shape, dtype)
    drop = tuple(i for i, n in ((0, len(times)), (1, len(channels))) if n == 1)
    axes = tuple(a for i, a in enumerate(("t", "c", "z", "y", "x")) if i not in drop)
    base = os.path.basename(path)
    return Volume(
        source=_Drop(source, drop) if drop else source,
        axes=axes,
        space_scale=tuple(scale),
        space_unit=unit,
        time_scale=step or 1.0,
        time_unit="second" if step else None,
        name=base[:-4] if base.lower().endswith(".ims") else base,
        format="Imaris",
        channel_names=tuple(names),
        _closers=[source.close],
    )
