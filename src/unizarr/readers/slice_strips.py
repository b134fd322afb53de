"""Compressed TIFF slices decoded strip by strip: a block of the output decodes only the
strips holding its rows, not whole slices.

The strips' places (offsets, byte counts) of each slice are read at open; the decoding
itself is tifffile's (any compression and predictor it reads), through the decoder of
the first slice whose decoding tags (compression, predictor, sample format, rows per
strip, ...) this slice shares - one decoder for the folder instead of one parsed file
kept open per slice. A slice with other decoding tags, tiles, or planes of samples is
decoded whole instead (:func:`strip_plane` returns ``None``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..errors import CorruptDataError


class StripPlane(NamedTuple):
    """Where the strips of a compressed slice lie, and how they decode."""

    offsets: np.ndarray
    counts: np.ndarray
    rows: int  # rows per strip (the last one may hold fewer)
    key: tuple[Any, ...]  # the tags the decoding depends on
    decode: Callable[..., Any]  # tifffile's decoder of a page with these tags


def _decode_key(tif: Any, page: Any) -> tuple[Any, ...]:
    tags = page.tags
    jpegtables = tags.get("JPEGTables")
    return (
        tif.byteorder, page.compression, page.predictor, page.bitspersample,
        page.sampleformat, page.samplesperpixel, page.planarconfig, page.rowsperstrip,
        page.imagewidth, page.imagelength, page.fillorder, page.photometric,
        tuple(page.extrasamples), str(page.dtype),
        bytes(jpegtables.value) if jpegtables is not None else None,
    )


def strip_plane(tif: Any, shape: tuple[int, ...], like: StripPlane | None) -> StripPlane | None:
    """The :class:`StripPlane` of a one-page, stripped TIFF (``None``: decode whole).
    ``like`` (the first slice's) lends its decoder when the decoding tags agree."""
    page = tif.pages[0]
    if len(tif.pages) != 1 or page.dtype is None or page.is_tiled:
        return None
    if page.samplesperpixel > 1 and page.planarconfig != 1:
        return None
    rows = int(page.rowsperstrip or shape[0])
    offsets = np.asarray(page.dataoffsets, dtype=np.int64)
    if rows <= 0 or len(offsets) != -(-shape[0] // rows) or page.imagedepth != 1:
        return None
    key = _decode_key(tif, page)
    if like is not None and like.key == key:
        decode = like.decode
    else:
        decode = page.decode
    return StripPlane(offsets, np.asarray(page.databytecounts, dtype=np.int64), rows, key,
                      decode)


def read_strip(path: str, sp: StripPlane, index: int, plane: tuple[int, ...]) -> np.ndarray:
    """Strip ``index`` of the slice ``path``: (rows, width[, samples]).

    Raises
    ------
    CorruptDataError
        The strip's bytes are not all there, or they do not decode to its size.
    """
    off, n = int(sp.offsets[index]), int(sp.counts[index])
    try:
        with open(path, "rb", buffering=0) as f:
            data = os.pread(f.fileno(), n, off)
    except OSError as exc:
        raise CorruptDataError(f"cannot read the slice {path}: {exc}") from None
    if len(data) != n:
        raise CorruptDataError(
            f"the slice {path} is truncated: strip {index} needs bytes up to {off + n}, "
            "the file ends before; the slice is incomplete - copy it again"
        )
    want = (min(sp.rows, plane[0] - index * sp.rows),) + tuple(plane[1:])
    try:
        seg = sp.decode(data, index)[0]
        seg = np.asarray(seg).reshape(-1, *plane[1:])[: want[0]]
    except Exception as exc:  # noqa: BLE001 - any codec error: the file is damaged
        raise CorruptDataError(
            f"cannot decode strip {index} of the slice {path}: {exc}; the file is damaged"
        ) from None
    if seg.shape != want:
        raise CorruptDataError(
            f"strip {index} of the slice {path} decodes to {seg.shape}, not {want}; "
            "the file is damaged"
        )
    return seg


__all__ = ["StripPlane", "read_strip", "strip_plane"]
