"""TIFF helpers shared by the TIFF reader and the slice-folder reader
(:mod:`unizarr.readers.tiff`, :mod:`unizarr.readers.slices`): file-name globs and
ordering, ImageJ voxel sizes, and tifffile's log turned into errors. Both readers
import it; neither imports the other at module level."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import CorruptDataError
from .volume import normalize_unit


def is_glob(path: str) -> bool:
    """Whether ``path`` is a glob pattern rather than a file name."""
    return any(ch in str(path) for ch in "*?[")


def _natural_key(name: str) -> list[Any]:
    # "z2" before "z10", as a person numbering slices expects.
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _imagej_sizes(tif: Any) -> tuple[dict[str, float], str | None]:
    """Voxel sizes of an ImageJ TIFF: ``spacing`` for z, the resolution tags for x/y."""
    meta = tif.imagej_metadata or {}
    sizes: dict[str, float] = {}
    tags = tif.pages[0].tags
    for axis, tag in (("x", "XResolution"), ("y", "YResolution")):
        if tag in tags:
            num, den = tags[tag].value
            if num > 0 and den > 0:
                sizes[axis] = den / num  # the tag is pixels per unit
    if meta.get("spacing"):
        sizes["z"] = float(meta["spacing"])
    unit = meta.get("unit")
    if isinstance(unit, str):
        unit = unit.encode().decode("unicode_escape") if "\\u" in unit else unit
    return sizes, normalize_unit(unit)


class _TiffLog(logging.Handler):
    """Collects what tifffile logs while a file is parsed, instead of printing it: a
    damaged page chain is only *logged* by tifffile, which then returns fewer pages -
    a silent subset that must be an error instead."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())


@contextmanager
def quiet_tifffile() -> Iterator[_TiffLog]:
    """tifffile's log records of the block, captured (never printed on stderr)."""
    logger = logging.getLogger("tifffile")
    handler = _TiffLog()
    old = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = old


def check_log(log: _TiffLog, where: str) -> None:
    """Refuse a file whose parsing tifffile reported as broken (pages cut off)."""
    for message in log.errors:
        low = message.lower()
        if "invalid page offset" in low or "reshape" in low or "truncat" in low:
            raise CorruptDataError(
                f"{where} is truncated or damaged: its page chain is broken "
                f"({message.split('> ', 1)[-1]}); the file is incomplete - copy it again"
            )
