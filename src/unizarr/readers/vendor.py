"""Microscope vendor files through maintained pure-Python readers, installed with the
optional extra ``pip install "unizarr[vendor]"``:

=======  ==========  ===========================================================
format   package     read
=======  ==========  ===========================================================
CZI      czifile     Zeiss; lazily, subblock by subblock; scenes are series
ND2      nd2         Nikon; lazily through ``nd2``'s dask array; positions are series
LIF      liffile     Leica; memory-mapped; each image of the file is a series
=======  ==========  ===========================================================

Detection needs none of the packages: CZI files start with ``ZISRAWFILE``, ND2 files
with the chunk magic ``0x0ABECEDA`` (or the JPEG 2000 signature of legacy ND2), LIF
files with the ``0x70 .... 0x2A`` block header. When the package of a detected format is
missing, :func:`open_volume` raises :class:`MissingExtraError` naming the extra.

Axes: ``T``, ``C``, ``Z``, ``Y``, ``X`` keep their meaning; the samples of an RGB image
become channels when there is no channel axis; other axes of size 1 are dropped and an
axis the output cannot hold (mosaic tiles, phases, rotations, ...) is an error. A file
holding several series (scenes, positions, images) is refused with a list unless
``series=N`` picks one. Voxel sizes are in micrometres (CZI stores metres, LIF metres,
ND2 micrometres). Channel names come from the CZI metadata, ND2's channel metadata and
LIF's LUT names (the channel colour shown by LAS X).
"""

from __future__ import annotations

import importlib
import os
import threading
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from ..errors import CorruptDataError, UnizarrError
from ._regions import normalize_key
from .volume import CANONICAL_AXES, Volume

EXTRA = 'pip install "unizarr[vendor]"'
_MAGIC = {
    "CZI": (b"ZISRAWFILE",),
    "ND2": (b"\xda\xce\xbe\x0a", b"\x00\x00\x00\x0cjP  "),
}
_PACKAGE = {"CZI": "czifile", "ND2": "nd2", "LIF": "liffile"}


class MissingExtraError(UnizarrError, ImportError):
    """The optional package that reads a detected vendor format is not installed."""


def detect(path: str) -> str | None:
    """``"CZI"``, ``"ND2"``, ``"LIF"`` from the first bytes of ``path``, or ``None``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    for fmt, magics in _MAGIC.items():
        if any(head.startswith(m) for m in magics):
            return fmt
    if len(head) >= 13 and head[:4] == b"\x70\0\0\0" and head[8] == 0x2A:
        return "LIF"
    return None


def sniff(path: str) -> bool:
    """Whether ``path`` is a CZI, ND2 or LIF file (by content). Never raises."""
    try:
        return os.path.isfile(path) and detect(path) is not None
    except Exception:  # noqa: BLE001 - sniffing must never fail
        return False


def _require(fmt: str, path: str) -> Any:
    name = _PACKAGE[fmt]
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingExtraError(
            f"reading {path} ({fmt}) needs the optional package {name!r}: {EXTRA}"
        ) from None


# -- axes -------------------------------------------------------------------------------
def _map_dims(dims: str, shape: tuple[int, ...], where: str,
              samples: str = "S") -> tuple[tuple[str, ...], tuple[int, ...], dict[int, int]]:
    """File dimension letters -> (output axes, the dims kept in output order, the dims
    dropped, each held at index 0).

    Dimensions of size 1 other than Y and X are dropped; the samples dimension becomes
    ``c`` when no channel dimension has more than one element.

    >>> _map_dims("TCZYXS", (1, 2, 5, 8, 9, 1), "f")
    (('c', 'z', 'y', 'x'), (1, 2, 3, 4), {0: 0, 5: 0})
    """
    dims = dims.upper()
    names: dict[str, int] = {}
    fixed: dict[int, int] = {}
    for i, (d, n) in enumerate(zip(dims, shape)):
        if n == 1 and d not in "YX":
            fixed[i] = 0
            continue
        name = d.lower() if d in "TCZYX" else ("c" if d == samples else None)
        if name is None:
            raise ValueError(
                f"{where} has a {d!r} axis of {n} (dimensions {dims} {shape}) that "
                "unizarr cannot store in (t, c, z, y, x); export the file as "
                "OME-TIFF with the vendor's software first"
            )
        if name in names:
            raise ValueError(
                f"{where} has both channels and samples per pixel (dimensions {dims} "
                f"{shape}); unizarr stores one channel axis - export channels separately"
            )
        names[name] = i
    axes = tuple(a for a in CANONICAL_AXES if a in names)
    if "y" not in axes or "x" not in axes:
        raise ValueError(f"{where} has dimensions {dims}; an image needs Y and X")
    return axes, tuple(names[a] for a in axes), fixed


class _Select:
    """A source seen without its ``fixed`` dimensions (each held at one index) and with
    the remaining ones in ``order``; reads go to ``read(ranges)`` of the full source."""

    def __init__(self, full_shape: tuple[int, ...], dtype: np.dtype, keep: tuple[int, ...],
                 fixed: dict[int, int], read: Any) -> None:
        self.full_shape = full_shape
        self.keep = keep
        self.fixed = fixed
        self.read = read
        self.shape = tuple(full_shape[i] for i in keep)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        ranges, dropped = normalize_key(key, self.shape)
        full: list[range] = []
        for i in range(len(self.full_shape)):
            if i in self.fixed:
                full.append(range(self.fixed[i], self.fixed[i] + 1))
            else:
                full.append(ranges[self.keep.index(i)])
        block = np.asarray(self.read(full))
        block = block.reshape(tuple(len(r) for r in full))
        kept = sorted(self.keep)
        block = block.reshape(tuple(len(full[i]) for i in kept))
        block = block.transpose(tuple(kept.index(i) for i in self.keep))
        return block.squeeze(axis=dropped) if dropped else block


def _series_error(where: str, what: str, items: list[str]) -> ValueError:
    listing = ", ".join(f"{i}: {s}" for i, s in enumerate(items))
    return ValueError(
        f"{where} holds {len(items)} {what} ({listing}); choose one with series=N "
        "(CLI: --series N)"
    )


def _series_index(series: Any, n: int, where: str, what: str, items: list[str]) -> int:
    if series is None:
        if n > 1:
            raise _series_error(where, what, items)
        return 0
    try:
        index = int(series)
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < n:
        raise ValueError(
            f"series {series!r} is not one of the {n} {what} of {where} (0..{n - 1})"
        )
    return index


def _volume(path: str, fmt: str, dims: str, full_shape: tuple[int, ...], dtype: Any,
            read: Any, fixed_extra: dict[int, int], scale: dict[str, float],
            channel_names: list[str] | None, name: str, closer: Any = None,
            samples: str = "S", time_step: float | None = None) -> Volume:
    """Build the Volume of one series; ``fixed_extra`` holds the series dimension."""
    shape = tuple(1 if i in fixed_extra else n for i, n in enumerate(full_shape))
    axes, keep, fixed = _map_dims(dims, shape, path, samples)
    fixed.update(fixed_extra)
    source = _Select(full_shape, np.dtype(dtype), keep, fixed, read)
    nchan = source.shape[axes.index("c")] if "c" in axes else 1
    names = tuple(channel_names) if channel_names and len(channel_names) == nchan else None
    return Volume(
        source=source,
        axes=axes,
        space_scale=tuple(scale.get(a, 1.0) for a in ("z", "y", "x") if a in axes),
        space_unit="micrometer" if scale else None,
        time_scale=time_step or 1.0,
        time_unit="second" if time_step else None,
        name=name,
        format=fmt,
        channel_names=names,
        _closers=[closer] if closer else [],
    )


def _round(value: float) -> float:
    """``value`` to 12 significant digits: 2e-07 m is 0.2 µm, not 0.19999999999999998."""
    return float(f"{value:.12g}")


# -- CZI ----------------------------------------------------------------------------------
def _czi_metadata(xml: str) -> tuple[dict[str, float], list[str]]:
    """Voxel sizes (micrometres) and channel names from CZI metadata XML."""
    scale: dict[str, float] = {}
    names: list[str] = []
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return scale, names
    for dist in root.iter("Distance"):
        axis = (dist.get("Id") or "").lower()
        value = dist.findtext("Value")
        if axis in ("x", "y", "z") and value:
            try:
                scale[axis] = _round(float(value) * 1e6)   # CZI stores metres
            except ValueError:
                pass
    for channels in root.iter("Channels"):
        found = [c.get("Name") or c.get("Id") or "" for c in channels.findall("Channel")]
        if found and all(found):
            names = found
            break
    return scale, names


class _FileRead:
    """A reader of one file that pickles as its constructor arguments (``_args``): the
    open handle and its lock stay behind, and the copy opens the file again on first use
    (dask worker processes)."""

    _args: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(*(state[name] for name in self._args))  # type: ignore[misc]


class _CziRead(_FileRead):
    """Reads a region of one CZI scene, decoding only the subblocks it intersects.

    ``origin`` is the scene's first index along every dimension in the file's global
    coordinates (CZI places scenes side by side on one stage grid). czifile reads
    through one seek-and-read file handle, so concurrent reads (dask threads) take
    turns.
    """

    _args = ("path", "origin")

    def __init__(self, path: str, origin: tuple[int, ...]) -> None:
        self.path = path
        self.origin = origin
        self._czi: Any = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._czi is not None:
            self._czi.close()
            self._czi = None

    def __call__(self, ranges: list[range]) -> np.ndarray:
        with self._lock:
            return self._read(ranges)

    def _read(self, ranges: list[range]) -> np.ndarray:
        if self._czi is None:
            self._czi = _require("CZI", self.path).CziFile(self.path)
        czi = self._czi
        if any(r.step != 1 for r in ranges if len(r)):
            raise IndexError("CZI regions are read with step 1")
        # the region in global coordinates
        want = [range(r.start + o, r.stop + o) for r, o in zip(ranges, self.origin)]
        _, dtype, entries = _czi_layout(czi)
        out = np.zeros(tuple(len(r) for r in ranges), dtype=dtype)
        for lo, shape, entry in entries:
            hi = [a + n for a, n in zip(lo, shape)]
            if any(max(a, r.start) >= min(b, r.stop) for a, b, r in zip(lo, hi, want)):
                continue
            try:
                tile = _czi_tile(czi, entry)
            except Exception as exc:  # noqa: BLE001 - codec errors, truncated segments
                raise CorruptDataError(
                    f"cannot decode a subblock of {self.path} at {tuple(lo)}: "
                    f"{' '.join(str(exc).split())}"
                ) from None
            if tile.size != int(np.prod(shape)):
                raise CorruptDataError(
                    f"a subblock of {self.path} at {tuple(lo)} decodes to {tile.shape}, "
                    f"not {tuple(shape)}; the file is damaged"
                )
            tile = tile.reshape(shape)
            src, dst = [], []
            for a, b, r in zip(lo, hi, want):
                s, e = max(a, r.start), min(b, r.stop)
                src.append(slice(s - a, e - a))
                dst.append(slice(s - r.start, e - r.start))
            out[tuple(dst)] = tile[tuple(src)]
        return out


def _czi_layout(czi: Any) -> tuple[str, np.dtype, list[tuple[list[int], list[int], Any]]]:
    """``(dims, dtype, [(start, shape, entry)])`` of a CZI file's level-0 subblocks in
    the naming of czifile before 2026 (scenes ``S``, samples ``0``), from either API:
    czifile 2026 (Python >= 3.12) gives each entry its own dims and a scene index."""
    entries = czi.filtered_subblock_directory
    if hasattr(czi, "axes"):  # czifile < 2026
        return czi.axes, np.dtype(czi.dtype), [
            ([int(v) for v in e.start], [int(n) for n in e.shape], e) for e in entries
        ]
    dims: str | None = None
    out = []
    for e in entries:
        d = "S" + "".join("0" if a == "S" else a for a in e.dims)
        if dims is not None and d != dims:
            raise ValueError(f"subblocks of one CZI file have dimensions {dims} and {d}")
        dims = d
        scene = int(e.scene_index) if e.scene_index is not None and e.scene_index >= 0 else 0
        out.append(([scene] + [int(v) for v in e.start], [1] + [int(n) for n in e.shape], e))
    dtype = np.dtype(out[0][2].dtype) if out else np.dtype(np.uint8)
    return dims or "", dtype, out


def _czi_tile(czi: Any, entry: Any) -> np.ndarray:
    """The decoded pixels of one subblock (either czifile API)."""
    if hasattr(entry, "data_segment"):  # czifile < 2026
        return np.asarray(entry.data_segment().data())
    return np.asarray(entry.read_segment_data(czi).data())


def _open_czi(path: str, series: Any) -> Volume:
    czifile = _require("CZI", path)
    try:
        czi = czifile.CziFile(path)
    except Exception as exc:  # noqa: BLE001 - czifile raises ValueError/struct errors
        raise ValueError(f"cannot read {path} as CZI: {' '.join(str(exc).split())}") from None
    try:
        dims, dtype, layout = _czi_layout(czi)
        scale, names = _czi_metadata(czi.metadata() or "")
        entries = [(start, shape) for start, shape, _ in layout]
    finally:
        czi.close()
    if not entries:
        raise ValueError(f"{path} holds no image data (no subblock)")
    fixed: dict[int, int] = {}
    if "S" in dims:
        s = dims.index("S")
        scenes = sorted({start[s] for start, _ in entries})
        pick = _series_index(series, len(scenes), path, "scenes",
                             [f"scene {i}" for i in scenes])
        entries = [(st, sh) for st, sh in entries if st[s] == scenes[pick]]
    # the bounding box of the chosen scene in the file's global coordinates
    lo = [min(st[d] for st, _ in entries) for d in range(len(dims))]
    hi = [max(st[d] + sh[d] for st, sh in entries) for d in range(len(dims))]
    shape = tuple(b - a for a, b in zip(lo, hi))
    reader = _CziRead(path, tuple(lo))
    base = os.path.splitext(os.path.basename(path))[0]
    # czifile names the samples of a pixel "0" and scenes "S"
    return _volume(path, "CZI", dims, shape, dtype, reader, fixed, scale, names, base,
                   reader.close, samples="0")


# -- ND2 ----------------------------------------------------------------------------------
def _open_nd2(path: str, series: Any) -> Volume:
    nd2 = _require("ND2", path)
    try:
        f = nd2.ND2File(path)
    except Exception as exc:  # noqa: BLE001 - nd2 raises ValueError/OSError on bad files
        raise ValueError(f"cannot read {path} as ND2: {' '.join(str(exc).split())}") from None
    try:
        sizes = dict(f.sizes)
        vs = f.voxel_size()
        try:
            names = [ch.channel.name for ch in (f.metadata.channels or [])]
        except Exception:  # noqa: BLE001 - channel metadata is optional in legacy files
            names = []
        darr = f.to_dask()
    except Exception as exc:  # noqa: BLE001 - nd2 parses chunks lazily: damage shows here
        f.close()
        raise ValueError(f"cannot read {path} as ND2: {' '.join(str(exc).split())}") from None
    dims = "".join(sizes)
    shape = tuple(int(n) for n in sizes.values())
    fixed: dict[int, int] = {}
    if "P" in dims:
        p = dims.index("P")
        try:
            fixed[p] = _series_index(series, shape[p], path, "positions",
                                     [f"position {i}" for i in range(shape[p])])
        except ValueError:
            f.close()
            raise
    scale = {"x": float(vs.x), "y": float(vs.y), "z": float(vs.z)}

    def read(ranges: list[range]) -> np.ndarray:
        return np.asarray(darr[tuple(slice(r.start, r.stop, r.step) for r in ranges)])

    base = os.path.splitext(os.path.basename(path))[0]
    return _volume(path, "ND2", dims, shape, f.dtype, read, fixed,
                   scale, names, base, f.close)


# -- LIF ----------------------------------------------------------------------------------
_LIF_UNITS = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "nm": 1e-3}


def _lif_metadata(element: Any) -> tuple[dict[str, float], list[str], float | None]:
    """Voxel sizes (micrometres), channel (LUT) names and time step (seconds) of a LIF
    image element.

    LAS X gives each dimension's ``Length`` from the first to the last voxel centre
    (liffile's coordinates end at ``Origin + Length``), so a voxel is
    ``Length / (NumberOfElements - 1)``.
    """
    desc = "./Data/Image/ImageDescription"
    scale: dict[str, float] = {}
    step = None
    for dim in element.findall(f"{desc}/Dimensions/DimensionDescription"):
        axis = {"1": "x", "2": "y", "3": "z", "4": "t"}.get(dim.get("DimID", ""))
        try:
            n = int(dim.get("NumberOfElements", "0"))
            length = abs(float(dim.get("Length", "0")))
        except ValueError:
            continue
        unit = (dim.get("Unit") or "").strip().lower()
        if axis == "t":
            if n > 1 and length > 0 and unit == "s":
                step = _round(length / (n - 1))
            continue
        factor = _LIF_UNITS.get(unit)
        if axis and n > 1 and length > 0 and factor:
            scale[axis] = _round(length / (n - 1) * factor)
    names = [c.get("LUTName") or "" for c in element.findall(f"{desc}/Channels/ChannelDescription")]
    return scale, (names if all(names) else []), step


class _LifRead(_FileRead):
    """Reads a region of one LIF image through a memory map opened on first use."""

    _args = ("path", "index")

    def __init__(self, path: str, index: int) -> None:
        self.path = path
        self.index = index
        self._arr: Any = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._arr = None

    def __call__(self, ranges: list[range]) -> np.ndarray:
        with self._lock:   # dask threads: map the file once
            self._open()
        return np.array(self._arr[tuple(slice(r.start, r.stop, r.step) for r in ranges)])

    def _open(self) -> None:
        if self._arr is None:
            liffile = _require("LIF", self.path)
            with liffile.LifFile(self.path, squeeze=False) as lif:
                try:
                    self._arr = lif.images[self.index].asarray(out="memmap")
                except Exception as exc:  # noqa: BLE001 - short or damaged memory block
                    raise CorruptDataError(
                        f"cannot read image {self.index} of {self.path}: "
                        f"{' '.join(str(exc).split())}"
                    ) from None


def _open_lif(path: str, series: Any) -> Volume:
    liffile = _require("LIF", path)
    try:
        lif = liffile.LifFile(path, squeeze=False)
        images = list(lif.images)
    except Exception as exc:  # noqa: BLE001 - LifFileError, XML errors
        raise ValueError(f"cannot read {path} as LIF: {' '.join(str(exc).split())}") from None
    try:
        if not images:
            raise ValueError(f"{path} holds no image")
        index = _series_index(series, len(images), path, "images",
                              [repr(im.name) for im in images])
        im = images[index]
        dims = "".join(im.dims)
        shape = tuple(int(n) for n in im.shape)
        dtype = im.dtype
        scale, names, step = _lif_metadata(im.xml_element)
        name = im.name
    finally:
        lif.close()
    reader = _LifRead(path, index)
    return _volume(path, "LIF", dims, shape, dtype, reader, {}, scale, names, name,
                   reader.close, time_step=step)


def open_volume(path: str, series: Any = None, **options: Any) -> Volume:
    """Open a CZI, ND2 or LIF file lazily (one series of it).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    MissingExtraError
        The package reading this format is not installed (``pip install
        "unizarr[vendor]"``).
    ValueError
        Not a CZI/ND2/LIF file, several series without ``series=``, or an axis unizarr
        cannot store.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    fmt = detect(path)
    if fmt is None:
        raise ValueError(f"{path} is not a CZI, ND2 or LIF file (unknown first bytes)")
    opener = {"CZI": _open_czi, "ND2": _open_nd2, "LIF": _open_lif}[fmt]
    return opener(path, series)
