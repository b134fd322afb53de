"""Folders (or glob patterns) of 2-D slices - TIFF, PNG, JPEG 2000 - as one lazy volume.

Without a pattern the files are the z axis, in natural order (``z2`` before ``z10``).
With ``pattern=`` their names say where each file goes: a template such as
``"{name}_c{c}_z{z}.tif"`` (``{z}``, ``{c}``, ``{t}`` are numbers; any other
``{field}`` matches any text) or a regular expression with named groups ``z``, ``c``,
``t`` (recognised by ``(?P<``). Every index of every axis must be present once:
a gap or a duplicate is refused, naming the files.

Every slice's header (size, data type, samples) is checked at open, so one odd slice
is refused - with its name and what differs - before anything is written; its data is
read only when a block of the output needs it. An uncompressed TIFF slice (tifffile's
and most acquisition software's default) is read in place: a block reads only the rows
it needs, straight from the file into the block, so nothing of a slice is held between
blocks and a block of a shard column costs that block's bytes, not whole slices.
A compressed TIFF slice in strips decodes only the strips holding a block's rows
(:mod:`unizarr.readers.slice_strips`); tiled TIFF, PNG and JPEG 2000 slices are decoded
whole. Decoded strips and slices are kept in a small cache (an eighth of the
conversion's ``--max-memory``, or ``slice_cache`` bytes), so the blocks of one slab
decode each file (or strip) once when the slab fits.
"""

from __future__ import annotations

import glob
import math
import os
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import CorruptDataError
from .slice_strips import StripPlane, read_strip, strip_plane
from .tiff_common import _imagej_sizes, _natural_key, check_log, is_glob, quiet_tifffile
from .volume import CANONICAL_AXES, Volume

OPTIONS = frozenset({"pattern"})
TIFF_SUFFIXES = (".tif", ".tiff")
PNG_SUFFIXES = (".png",)
JPEG2000_SUFFIXES = (".jp2", ".j2k", ".j2c", ".jpx")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PNG_SUFFIXES + JPEG2000_SUFFIXES
SUFFIXES: tuple[str, ...] = ()  # directories and globs: recognised by sniff only
_FIELD = re.compile(r"\{(\w+)\}")
#: The decoded-slice cache takes 1/CACHE_SHARE of a conversion's --max-memory
#: (:func:`unizarr.readers.fit_to_budget`); DEFAULT_CACHE until a budget is given (a cluster worker
#: that reopened the input), the share of the default 512 MiB budget.
CACHE_SHARE = 8
DEFAULT_CACHE = (512 << 20) // CACHE_SHARE


def is_image_name(name: str) -> bool:
    """Whether ``name`` is a slice file this reader reads."""
    return name.lower().endswith(IMAGE_SUFFIXES) and not os.path.basename(name).startswith(".")


def sniff(path: str) -> bool:
    """A directory holding image slices, or a glob pattern matching some."""
    try:
        if is_glob(path) and not os.path.exists(path):
            return any(os.path.isfile(f) for f in glob.iglob(path))
        return os.path.isdir(path) and any(is_image_name(f) for f in os.listdir(path))
    except Exception:
        return False


def list_files(path: str) -> list[str]:
    """The slice files of a directory or glob pattern, in natural order."""
    if is_glob(path) and not os.path.exists(path):
        files = [f for f in glob.glob(path) if os.path.isfile(f)]
    elif os.path.isdir(path):
        files = [os.path.join(path, f) for f in os.listdir(path) if is_image_name(f)]
    else:
        files = []
    if not files:
        raise FileNotFoundError(f"no TIFF files (nor PNG / JPEG 2000 slices) match {path}")
    return sorted(files, key=lambda f: _natural_key(os.path.basename(f)))


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A template (``{name}_c{c}_z{z}.tif``) or regex (``(?P<z>\\d+)``) as a regex."""
    if "(?P<" in pattern:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"--pattern {pattern!r} is not a valid regular expression: {exc}") from None
    else:
        parts, pos = [], 0
        for m in _FIELD.finditer(pattern):
            parts.append(re.escape(pattern[pos:m.start()]))
            field = m.group(1)
            parts.append(rf"(?P<{field}>\d+)" if field in "tcz" else rf"(?P<{field}>.*?)")
            pos = m.end()
        parts.append(re.escape(pattern[pos:]))
        rx = re.compile("".join(parts))
    axes = [g for g in rx.groupindex if g in ("t", "c", "z")]
    if not axes:
        raise ValueError(
            f"--pattern {pattern!r} names no axis: use {{z}}, {{c}} or {{t}} (or regex "
            "groups (?P<z>...), (?P<c>...), (?P<t>...))"
        )
    return rx


def arrange(files: Sequence[str], pattern: str | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Place ``files`` on a grid: (axes before y/x, object array of file names).

    Raises
    ------
    ValueError
        No file matches the pattern, a non-numeric field, an index missing from an
        axis (a gap) or from the grid, or two files at one position.
    """
    if pattern is None:
        return ("z",), np.array(list(files), dtype=object)
    rx = compile_pattern(pattern)
    axes = tuple(a for a in ("t", "c", "z") if a in rx.groupindex)
    placed: dict[tuple[int, ...], str] = {}
    for f in files:
        m = rx.fullmatch(os.path.basename(f))
        if m is None:
            continue  # not one of the slices (a thumbnail, a notes file)
        try:
            key = tuple(int(m.group(a)) for a in axes)
        except ValueError:
            raise ValueError(
                f"{f}: the fields {axes} of --pattern {pattern!r} are not all numbers"
            ) from None
        if key in placed:
            raise ValueError(
                f"{placed[key]} and {f} are both at {dict(zip(axes, key))} of --pattern "
                f"{pattern!r}; remove one"
            )
        placed[key] = f
    if not placed:
        raise FileNotFoundError(f"no file name matches --pattern {pattern!r}")
    grid_idx = []
    for i, a in enumerate(axes):
        values = sorted({k[i] for k in placed})
        missing = sorted(set(range(values[0], values[-1] + 1)) - set(values))
        if missing:
            raise ValueError(
                f"--pattern {pattern!r}: {a} = {', '.join(map(str, missing[:5]))}"
                f"{' ...' if len(missing) > 5 else ''} missing between {a} = {values[0]} "
                f"and {values[-1]} (a gap in the slices); add the file(s) or fix the pattern"
            )
        grid_idx.append(values)
    shape = tuple(len(v) for v in grid_idx)
    grid = np.empty(shape, dtype=object)
    for key, f in placed.items():
        grid[tuple(k - v[0] for k, v in zip(key, grid_idx))] = f
    if len(placed) != math.prod(shape):
        hole = next(i for i in np.ndindex(shape) if grid[i] is None)
        where = {a: v[0] + i for a, v, i in zip(axes, grid_idx, hole)}
        raise ValueError(
            f"--pattern {pattern!r}: no file at {where} (the grid {dict(zip(axes, shape))} "
            "is incomplete); add it or fix the pattern"
        )
    return axes, grid


# -- headers -------------------------------------------------------------------------------
def _png_header(path: str) -> tuple[tuple[int, ...], np.dtype]:
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height, depth, color = struct.unpack(">IIBB", head[16:26])
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color, 1)
    dtype = np.dtype("uint16" if depth == 16 else "uint8")
    if color == 3:
        samples = 3  # palette images decode to RGB
    return ((height, width) if samples == 1 else (height, width, samples)), dtype


def _jp2_header(path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Size, components and bit depth from a JP2 ``ihdr`` box or a J2K ``SIZ`` marker."""
    with open(path, "rb") as f:
        head = f.read(4096)
    i = head.find(b"ihdr")
    if i >= 0:
        height, width, nc, bpc = struct.unpack(">IIHB", head[i + 4:i + 15])
    else:
        j = head.find(b"\xff\x51")  # SIZ
        if head[:2] != b"\xff\x4f" or j < 0:
            raise ValueError("not a JPEG 2000 file")
        xs, ys, xo, yo = struct.unpack(">IIII", head[j + 6:j + 22])
        nc = struct.unpack(">H", head[j + 38:j + 40])[0]
        bpc = head[j + 40]
        width, height = xs - xo, ys - yo
    bits = (bpc & 0x7F) + 1
    signed = bool(bpc & 0x80)
    dtype = np.dtype(("int" if signed else "uint") + ("8" if bits <= 8 else "16" if bits <= 16 else "32"))
    return ((height, width) if nc == 1 else (height, width, nc)), dtype


class RawPlane(NamedTuple):
    """Where the pixels of an uncompressed, contiguous slice lie in its file: row ``y``
    starts at ``offset + y * rowbytes``, in ``dtype`` (the file's byte order)."""

    offset: int
    rowbytes: int
    dtype: np.dtype


def _raw_plane(tif: Any, shape: tuple[int, ...]) -> RawPlane | None:
    """The :class:`RawPlane` of a one-page TIFF whose pixels can be read in place
    (uncompressed, contiguous, whole bytes per sample, samples interleaved), else None."""
    page = tif.pages[0]
    if len(tif.pages) != 1 or page.dtype is None or not page.is_contiguous or page.compression != 1:
        return None
    if page.fillorder != 1 or page.bitspersample != page.dtype.itemsize * 8:
        return None
    if page.samplesperpixel > 1 and page.planarconfig != 1:  # planes of samples
        return None
    dtype = np.dtype(tif.byteorder + page.dtype.char)
    rowbytes = math.prod(shape[1:]) * dtype.itemsize
    if page.databytecounts[0] and sum(page.databytecounts) < rowbytes * shape[0]:
        return None
    return RawPlane(int(page.dataoffsets[0]), rowbytes, dtype)


#: Where a slice's pixels lie: read in place, decoded strip by strip, or (None) whole.
Layout = RawPlane | StripPlane | None


def _tiff_layout(path: str, like: Layout = None) -> tuple[tuple[int, ...], np.dtype, Layout]:
    import tifffile

    with quiet_tifffile() as log, tifffile.TiffFile(path) as tif:
        nseries = len(tif.series)
        check_log(log, path)
        if nseries != 1:
            raise ValueError(f"holds {len(tif.series)} images, a slice holds one")
        s = tif.series[0]
        size = tif.filehandle.size
        for page in s.pages:
            if page is None:  # tifffile lists a page it cannot parse as None
                raise ValueError("has a page tifffile cannot read")
            for off, n in zip(page.dataoffsets or (), page.databytecounts or ()):
                if off + n > size:
                    raise CorruptDataError(
                        f"{path} is truncated: image data at byte {off}+{n} lies past its "
                        f"end ({size} bytes); the slice is incomplete - copy it again"
                    )
        shape = tuple(int(n) for n in s.shape)
        where: Layout = _raw_plane(tif, shape)
        if where is None:
            where = strip_plane(tif, shape, like if isinstance(like, StripPlane) else None)
        return shape, np.dtype(s.dtype), where


class _Twin:
    """The bytes of an in-place slice outside its pixels (header, tags, IFDs): another
    file of the same size holding the same bytes there has the same header, so the
    same shape, data type and layout, without parsing it (tifffile takes about 1 ms a
    file: half a second of every 512-slice conversion)."""

    #: Beyond this, structure bytes (e.g. a big description) are not compared.
    LIMIT = 1 << 16

    def __init__(self, path: str, raw: RawPlane, rows: int) -> None:
        self.size = os.path.getsize(path)
        self.start, self.end = raw.offset, raw.offset + rows * raw.rowbytes
        self.usable = self.size - (self.end - self.start) <= self.LIMIT
        self.bytes = self._structure(path) if self.usable else b""

    def _structure(self, path: str) -> bytes:
        with open(path, "rb") as f:
            head = f.read(self.start)
            f.seek(self.end)
            return head + f.read()

    def matches(self, path: str) -> bool:
        """Whether ``path`` has this slice's size and structure bytes."""
        if not self.usable:
            return False
        try:
            return os.path.getsize(path) == self.size and self._structure(path) == self.bytes
        except OSError:
            return False  # the full parse says what is wrong


def slice_header(path: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one slice from its header, without decoding its data.

    Raises
    ------
    CorruptDataError
        A truncated slice.
    ValueError
        Not an image this reader reads.
    """
    shape, dtype, _ = slice_layout(path)
    return shape, dtype


def slice_layout(path: str, like: Layout = None) -> tuple[tuple[int, ...], np.dtype, Layout]:
    """:func:`slice_header`, and where the pixels lie when they can be read in place or
    strip by strip (``like``: the first slice's, whose strip decoder is shared)."""
    low = path.lower()
    try:
        if low.endswith(TIFF_SUFFIXES):
            return _tiff_layout(path, like)
        if low.endswith(PNG_SUFFIXES):
            return (*_png_header(path), None)
        return (*_jp2_header(path), None)
    except CorruptDataError:
        raise
    except Exception as exc:
        raise ValueError(f"cannot read the slice {path}: {exc}") from None


def read_slice(path: str) -> np.ndarray:
    """The pixels of one slice (TIFF: tifffile; PNG, JPEG 2000: imagecodecs)."""
    try:
        if path.lower().endswith(TIFF_SUFFIXES):
            import tifffile

            return tifffile.imread(path)
        import imagecodecs

        with open(path, "rb") as f:
            data = f.read()
        if path.lower().endswith(PNG_SUFFIXES):
            return imagecodecs.png_decode(data)
        return imagecodecs.jpeg2k_decode(data)
    except Exception as exc:
        raise CorruptDataError(f"cannot decode the slice {path}: {exc}; the file is damaged") from None


class SliceStack:
    """The slices as one array-like: (grid axes..., y, x[, samples]), read lazily."""

    def __init__(self, grid: np.ndarray, plane: tuple[int, ...], dtype: np.dtype,
                 cache_bytes: int, raw: dict[str, RawPlane | StripPlane] | None = None
                 ) -> None:
        self.grid = grid
        #: The slices read in place (:class:`RawPlane`) or by strips
        #: (:class:`~unizarr.readers.slice_strips.StripPlane`), by file name.
        self.raw = raw or {}
        self.plane = plane
        self.dtype = np.dtype(dtype)
        self.shape = tuple(grid.shape) + plane
        self.ndim = len(self.shape)
        self._cache: OrderedDict[Any, np.ndarray] = OrderedDict()  # path or (path, strip)
        self._cache_bytes = cache_bytes
        self._cached = 0
        self._lock = threading.Lock()

    def set_memory_budget(self, max_memory: int) -> None:
        """Size the decoded-slice cache from the conversion's memory budget: an eighth
        of it (the pyramid builder plans its own blocks within the rest)."""
        with self._lock:
            self._cache_bytes = max(int(max_memory) // CACHE_SHARE, 0)
            self._evict()

    def _evict(self) -> None:
        """Drop the least recently used entries until the cache fits its bound (oldest
        first: the blocks of one slab ask for the same slices in a row). Lock held."""
        while self._cache and self._cached > self._cache_bytes:
            self._cached -= self._cache.popitem(last=False)[1].nbytes

    def _through_cache(self, key: Any, decode: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array of ``key`` (a slice's path, or ``(path, strip)``), else
        ``decode()``, kept for the next caller. Decoding runs outside the lock, so two
        threads may decode the same key; the first to finish is kept."""
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        data = decode()
        with self._lock:
            if key not in self._cache:
                self._cache[key] = data
                self._cached += data.nbytes
            self._evict()
        return data

    def _plane(self, path: str) -> np.ndarray:
        return self._through_cache(path, lambda: self._decode_plane(path))

    def _decode_plane(self, path: str) -> np.ndarray:
        data = read_slice(path)
        if data.shape != self.plane or data.dtype != self.dtype:
            raise CorruptDataError(
                f"the slice {path} decodes to {data.shape} {data.dtype}, the others are "
                f"{self.plane} {self.dtype}; fix or remove it"
            )
        return data

    def _read_rows(self, path: str, raw: RawPlane, rows: tuple[int, int, Any],
                   inner: tuple[Any, ...], out: np.ndarray) -> None:
        """``plane[inner]`` of an in-place slice into ``out``: one read of the rows
        ``inner`` spans (whole rows: one contiguous range of the file), straight into
        ``out`` when it wants whole rows in the file's byte order."""
        lo, hi, first = rows
        if out.size == 0:
            return
        shape = (hi - lo,) + self.plane[1:]
        direct = (raw.dtype == out.dtype and out.shape == shape
                  and all(k == slice(None) or k == slice(0, n) or k == slice(0, n, 1)
                          for k, n in zip(inner[1:], self.plane[1:])))
        buf = out if direct else np.empty(shape, raw.dtype)
        want = buf.nbytes
        try:
            with open(path, "rb", buffering=0) as f:
                got = os.preadv(f.fileno(), [memoryview(buf.data).cast("B")],
                                raw.offset + lo * raw.rowbytes)
        except OSError as exc:
            raise CorruptDataError(f"cannot read the slice {path}: {exc}") from None
        if got != want:
            raise CorruptDataError(
                f"the slice {path} is truncated: rows {lo}-{hi - 1} need bytes up to "
                f"{raw.offset + hi * raw.rowbytes}, the file ends before; the slice is "
                "incomplete - copy it again"
            )
        if not direct:
            out[...] = buf[(first,) + tuple(inner[1:])]

    def _strip(self, path: str, sp: StripPlane, index: int) -> np.ndarray:
        """One decoded strip, through the cache (the blocks beside each other along x
        ask for the same strips, two threads at a time in step)."""
        return self._through_cache((path, index), lambda: read_strip(path, sp, index, self.plane))

    def _read_strips(self, path: str, sp: StripPlane, rows: tuple[int, int, Any],
                     inner: tuple[Any, ...], out: np.ndarray) -> None:
        """``plane[inner]`` of a compressed slice into ``out``, decoding only the strips
        that hold the rows ``inner`` spans."""
        lo, hi, first = rows
        if out.size == 0 or hi <= lo:
            return
        target = out if isinstance(first, slice) else out[np.newaxis]
        rest = (slice(None),) + tuple(inner[1:])
        for i in range(lo // sp.rows, (hi - 1) // sp.rows + 1):
            start = i * sp.rows
            seg = self._strip(path, sp, i)
            a, b = max(lo, start), min(hi, start + seg.shape[0])
            target[a - lo:b - lo] = seg[a - start:b - start][rest]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        ng = self.grid.ndim
        outer = [range(*k.indices(n)) if isinstance(k, slice) else [k]
                 for k, n in zip(key[:ng], self.grid.shape)]
        inner = key[ng:]
        probe = np.empty(self.plane, dtype=np.uint8)[inner]
        out = np.empty(tuple(len(r) for r in outer) + probe.shape, dtype=self.dtype)
        rows = _row_range(inner[0], self.plane[0])
        for pos in np.ndindex(*(len(r) for r in outer)):
            f = self.grid[tuple(r[i] for r, i in zip(outer, pos))]
            raw = self.raw.get(f)
            if isinstance(raw, RawPlane) and rows is not None:
                self._read_rows(f, raw, rows, inner, out[pos])
            elif isinstance(raw, StripPlane) and rows is not None:
                self._read_strips(f, raw, rows, inner, out[pos])
            else:
                out[pos] = self._plane(f)[inner]
        squeeze = tuple(i for i, k in enumerate(key[:ng]) if not isinstance(k, slice))
        return out.squeeze(axis=squeeze) if squeeze else out


def _row_range(key: Any, n: int) -> tuple[int, int, Any] | None:
    """The rows ``(lo, hi)`` a key of the y axis spans, and the key relative to ``lo``
    (``None``: a stepped slice, read through the whole-slice path)."""
    if isinstance(key, slice):
        start, stop, step = key.indices(n)
        if step != 1:
            return None
        stop = max(start, stop)
        return start, stop, slice(0, stop - start)
    if not isinstance(key, (int, np.integer)):
        return None
    k = int(key)
    k = k + n if k < 0 else k
    return k, k + 1, 0


def read_slices(
    path: str | os.PathLike, *, pattern: str | None = None, slice_cache: int | None = None
) -> Volume:
    """Open a directory or glob of 2-D slices as one lazy volume.

    Raises
    ------
    FileNotFoundError
        Nothing matches.
    CorruptDataError
        A truncated slice.
    ValueError
        Slices of different sizes, data types or sample counts (the message names the
        first odd file and what differs), or a pattern with gaps or duplicates.
    """
    path_s = os.fspath(path)
    files = list_files(path_s)
    axes_outer, grid = arrange(files, pattern)
    flat = list(grid.ravel())
    plane, dtype, first_raw = slice_layout(flat[0])
    raw: dict[str, RawPlane | StripPlane] = {flat[0]: first_raw} if first_raw is not None else {}
    twin = _Twin(flat[0], first_raw, plane[0]) if isinstance(first_raw, RawPlane) else None
    for f in flat[1:]:
        if twin is not None and twin.matches(f):
            raw[f] = first_raw  # type: ignore[assignment]
            continue
        shape, dt, where = slice_layout(f, first_raw)
        if where is not None:
            raw[f] = where
        if shape != plane or dt != dtype:
            raise ValueError(
                f"the slice {f} is {'x'.join(map(str, shape))} {dt}, the first slice "
                f"{flat[0]} is {'x'.join(map(str, plane))} {dtype}; fix or remove it"
            )
    if len(plane) not in (2, 3):
        raise ValueError(f"{flat[0]} is {len(plane)}-D; a slice is a 2-D image (or RGB)")
    src_axes = list(axes_outer) + ["y", "x"] + (["c"] if len(plane) == 3 else [])
    if src_axes.count("c") > 1:
        raise ValueError(f"{flat[0]} has colour samples and --pattern has {{c}}: one channel axis only")
    axes = tuple(a for a in CANONICAL_AXES if a in src_axes)
    perm = tuple(src_axes.index(a) for a in axes)
    sizes: dict[str, float] = {}
    unit = None
    if flat[0].lower().endswith(TIFF_SUFFIXES):
        import tifffile

        with tifffile.TiffFile(flat[0]) as first:
            if first.is_imagej:
                sizes, unit = _imagej_sizes(first)
            else:
                sizes, unit = _resolution_sizes(first)
    first_dir = Path(flat[0]).resolve().parent
    kind = {"tif": "TIFF", "tiff": "TIFF", "png": "PNG"}.get(flat[0].rsplit(".", 1)[-1].lower(), "JPEG 2000")
    return Volume(
        source=SliceStack(grid, plane, dtype, DEFAULT_CACHE if slice_cache is None else slice_cache,
                          raw),
        axes=axes,
        perm=perm,
        space_scale=tuple(sizes.get(a, 1.0) for a in axes if a in ("z", "y", "x")),
        space_unit=unit,
        name=first_dir.name,
        format=f"{kind} stack of {len(flat)} files",
    )


def _resolution_sizes(tif: Any) -> tuple[dict[str, float], str | None]:
    """Pixel size of a plain TIFF from its resolution tags (centimetre or inch units only:
    'no unit' resolution is a display hint, not a physical size)."""
    tags = tif.pages[0].tags
    unit_tag = tags.get("ResolutionUnit")
    unit_value = int(unit_tag.value) if unit_tag is not None else 2
    if unit_value not in (2, 3):
        return {}, None
    per_unit_mm = 25.4 if unit_value == 2 else 10.0
    sizes: dict[str, float] = {}
    for axis, tag in (("x", "XResolution"), ("y", "YResolution")):
        if tag in tags:
            num, den = tags[tag].value
            if num > 0 and den > 0 and (num, den) not in ((1, 1), (72, 1)):
                sizes[axis] = per_unit_mm * den / num
    return (sizes, "millimeter") if sizes else ({}, None)


def open_volume(path: str, *, pattern: str | None = None, **options: Any) -> Volume:
    """Registry entry: :func:`read_slices`."""
    return read_slices(path, pattern=pattern)
