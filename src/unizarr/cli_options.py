"""Option groups and option parsers of the ``unizarr`` command.

The dataclasses here are cyclopts option groups (``Layout``, ``PyramidOptions``,
``ReadOptions``) shared by several commands; the ``parse_*`` functions turn option text
into values and raise a ``ValueError`` naming the option (exit code 2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from cyclopts import Parameter

import unizarr as uz

from .layout import parse_json_object as _json_object
from .layout import refuse_v2_shards
from .readers.zarr_store import open_zarr

Compressor = Literal["blosc", "zstd", "zlib", "gzip", "none"]
Method = Literal["mean", "median", "mode", "min", "max", "nearest"]


def _registered_driver(type_: Any, value: Any) -> None:
    """``--driver`` takes any driver registered here (built-in or by entry point), or an
    alias; an unknown name is refused while parsing, with the available ones listed."""
    if value is not None:
        uz.get_driver(value)


Driver = Annotated[str, Parameter(validator=_registered_driver)]
Flag = Parameter(negative="")  # a switch with no --no-... twin


# -- option groups ------------------------------------------------------------------------
@Parameter(name="*")
@dataclass
class Layout:
    """How arrays are stored: the fields of :class:`unizarr.ZarrConfig` (unset: its
    default for ``convert``, the source's layout for ``copy``)."""

    driver: Driver | None = None
    "Engine that writes (and reads) the data. [default: zarr-python]"
    zarr_version: Annotated[
        Literal[2, 3] | None, Parameter(name=["--zarr-version", "--zarr-format"])
    ] = None
    "Zarr format of the output. [default: 3 for convert, the source's for copy]"
    chunk: Annotated[str | None, Parameter(name=["--chunks", "--chunk"])] = None
    (
        "Chunk shape: one int for every spatial axis, or one per axis, comma-separated "
        "(e.g. 64 or 32,64,64). [default: 128 for convert, the source's for copy]"
    )
    shard: Annotated[str | None, Parameter(name=["--shards", "--shard"])] = None
    (
        "Shard shape (Zarr v3): ints like --chunk, 'auto' (up to a tenth of --max-memory) "
        "or 'none'. "
        "[default: none for convert, the source's for copy]"
    )
    compressor: Compressor | None = None
    "Chunk compressor. [default: blosc for convert, the source's for copy]"
    compressor_opt: str | None = None
    'Compressor options as JSON, e.g. \'{"cname": "zstd", "clevel": 5}\' or \'{"level": 9}\'.'
    dimension_separator: Literal["/", "."] | None = None
    "Separator of chunk keys. [default: / for convert, the source's for copy]"
    order: Literal["C", "F"] | None = None
    "Memory order of stored chunks. [default: C for convert, the source's for copy]"
    chunk_channels: bool = False
    "Chunk the channel axis by 1 instead of keeping all channels in each chunk."
    chunk_time: bool = True
    "Chunk the time axis by 1 (--no-chunk-time: whole time axis per chunk)."
    shard_channels: bool = False
    "Split shards along the channel axis."
    shard_time: bool = False
    "Split shards along the time axis."
    no_time: Annotated[bool, Flag] = False
    "A 4-D input without axis names (.npy, plain Zarr) is (c, z, y, x), not (t, z, y, x)."

    def given(self) -> set[str]:
        """Names of the layout options set on the command line."""
        keys = ("chunk", "shard", "compressor", "compressor_opt", "dimension_separator", "order")
        return {k for k in keys if getattr(self, k) is not None}

    def copy_options(self) -> dict[str, Any]:
        """The layout keywords of :func:`unizarr.copy`: the given options parsed (an
        option not given keeps the source's layout), and the axis switches."""
        parsers = {
            "chunk": lambda t: parse_shape(t, "--chunk"),
            "shard": parse_shard,  # "none" -> None: given, and unsharded
            "compressor_opt": lambda t: parse_json_object(t, "--compressor-opt"),
        }
        options: dict[str, Any] = {
            k: parsers.get(k, lambda t: t)(getattr(self, k)) for k in self.given()
        }
        if not options:
            return {}
        return dict(options, chunk_channels=self.chunk_channels, chunk_time=self.chunk_time,
                    shard_channels=self.shard_channels, shard_time=self.shard_time,
                    no_time=self.no_time)


@Parameter(name="*")
@dataclass
class PyramidOptions:
    """How the multiscale pyramid is built."""

    levels: int = -1
    "Pyramid levels to add after level 0 (-1: until a level fits in one chunk; 0: none)."
    method: Annotated[Method, Parameter(name=["--method", "--mode"])] = "mean"
    "Downsampling method (mode/nearest for label images)."
    no_pyramid_axis: Literal["x", "y", "z"] | None = None
    "Spatial axis never downsampled (thick slices)."
    sampling: Literal["isotropic", "anisotropic"] = "anisotropic"
    (
        "anisotropic: halve an axis only while its voxels are finer than about half the "
        "coarsest (0.5x0.5x4 um light sheet: x,y first); isotropic: halve every axis."
    )
    factors: str | None = None
    (
        "Force the factor (1 or 2) of each downsampled axis, z,y,x order: 1,2,2 for "
        "every level, or 1,2,2;2,2,2 level by level (the last repeated)."
    )


@Parameter(name="*")
@dataclass
class ReadOptions:
    """How a command that only reads opens its Zarr store."""

    driver: Driver | None = None
    "Engine used to read. [default: zarr-python]"
    storage_options: str | None = None
    "JSON credentials/endpoint for a remote store."

    def open(self, path: str) -> uz.ZarrNode:
        """``path`` opened read-only (a group, or an array)."""
        options = parse_json_object(self.storage_options, "--storage-options")
        return open_zarr(path, "r", driver=self.driver, storage_options=options)


# -- small parsers (errors are ValueErrors naming the option) ---------------------------
def parse_shape(text: str | None, option: str) -> tuple[int, ...] | None:
    """``"64"`` -> ``(64,)``; ``"32,64,64"`` -> ``(32, 64, 64)``; ``None`` stays ``None``."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[,\sx]+", text.strip()) if p]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if not values or any(v < 1 and v != -1 for v in values):
        raise ValueError(
            f"{option} takes positive ints separated by commas (e.g. 64 or 32,64,64), "
            f"got {text!r}"
        )
    return values


def parse_shard(text: str | None) -> tuple[int, ...] | str | None:
    """``--shard``: ints, ``"auto"`` or ``"none"``."""
    if text is None or text.strip().lower() == "none":
        return None
    if text.strip().lower() == "auto":
        return "auto"
    return parse_shape(text, "--shard")


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """``"0.5"`` or ``"2,0.5,0.5"`` -> floats (all positive)."""
    if text is None:
        return None
    try:
        values = tuple(float(p) for p in re.split(r"[,\s]+", text.strip()) if p)
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{option} takes positive numbers separated by commas, got {text!r}")
    return values


_BYTE_UNITS = {
    "": 1, "b": 1,
    "k": 2**10, "kib": 2**10, "kb": 10**3,
    "m": 2**20, "mib": 2**20, "mb": 10**6,
    "g": 2**30, "gib": 2**30, "gb": 10**9,
    "t": 2**40, "tib": 2**40, "tb": 10**12,
}


def parse_bytes(text: str | None) -> int | None:
    """``--max-memory``: ``"512M"``, ``"2GiB"``, ``"1.5G"``, ``"4GB"`` or plain bytes.

    ``K``/``M``/``G``/``T`` and ``KiB``... are powers of 1024; ``KB``/``MB``/``GB`` of
    1000.
    """
    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _BYTE_UNITS or float(m.group(1)) * _BYTE_UNITS[unit] < 1:
        raise ValueError(f"--max-memory takes a size like 512M, 2GiB or 4GB, got {text!r}")
    return int(float(m.group(1)) * _BYTE_UNITS[unit])


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """An option's JSON object (``None`` when the option was not given)."""
    return None if text is None else _json_object(text, option)


def make_config(layout: Layout, *, levels: int = -1, overwrite: bool = False) -> uz.ZarrConfig:
    """The :class:`~unizarr.ZarrConfig` of ``convert``: given options over its defaults."""
    values: dict[str, Any] = dict(
        chunk_channels=layout.chunk_channels,
        chunk_time=layout.chunk_time,
        shard_channels=layout.shard_channels,
        shard_time=layout.shard_time,
        no_time=layout.no_time,
        levels=levels,
        overwrite=overwrite,
    )
    if layout.driver is not None:
        values["driver"] = layout.driver
    if layout.zarr_version is not None:
        values["zarr_version"] = layout.zarr_version
    if layout.chunk is not None:
        values["chunk"] = parse_shape(layout.chunk, "--chunk")
    if layout.shard is not None:
        values["shard"] = parse_shard(layout.shard)
    if layout.compressor is not None:
        values["compressor"] = layout.compressor
    if layout.compressor_opt is not None:
        values["compressor_opt"] = parse_json_object(layout.compressor_opt, "--compressor-opt")
    if layout.dimension_separator is not None:
        values["dimension_separator"] = layout.dimension_separator
    if layout.order is not None:
        values["order"] = layout.order
    cfg = uz.ZarrConfig(**values)
    refuse_v2_shards(cfg.zarr_version, cfg.shard, "--shard", "--zarr-version 3")
    if cfg.compressor == "zlib" and cfg.zarr_version == 3:
        raise ValueError("zlib is not a Zarr v3 codec; use --compressor gzip or --zarr-version 2")
    return cfg


