"""Layout decisions as pure functions: chunk/shard expansion, codecs, fill values.

Everything a driver needs to create an array is resolved here into one neutral
:class:`ArraySpec`, and :func:`unizarr.documents.metadata_document` turns that spec into
the canonical Zarr metadata document (``zarr.json`` for v3, ``.zarray`` for v2). Both
drivers create
arrays from this one description, which is what makes "same arguments, same files" true
by construction. No I/O happens in this module.

Axis conventions (from linc-convert's ZarrIO): arrays of rank <= 3 are all spatial; a
4-D array is (time, z, y, x), or (channel, z, y, x) with ``no_time``; a 5-D array is
(time, channel, z, y, x).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .axes import nonspatial_axes
from .types import (
    ChunksLike,
    CompressorName,
    CompressorOptions,
    ConfigLike,
    DimensionSeparator,
    DTypeLike,
    FillValue,
    MemoryOrder,
    ShardsLike,
    ZarrVersion,
)

#: Compressors unizarr can write on both drivers.
COMPRESSORS = ("blosc", "zstd", "zlib", "gzip", "none")
#: Blosc inner codecs that both numcodecs and TensorStore implement.
BLOSC_CNAMES = ("lz4", "lz4hc", "blosclz", "zstd", "zlib")
BLOSC_SHUFFLES = ("noshuffle", "shuffle", "bitshuffle")
#: dtype kinds both engines store: bool, signed/unsigned int, float, complex.
SUPPORTED_KINDS = "biufc"
#: ``shard="auto"`` grows shards until their uncompressed size reaches this.
AUTO_SHARD_TARGET_BYTES = 512 * 2**20
#: Working memory one concurrent writer of a shard takes, in uncompressed shard sizes:
#: the decoded shard, the engine's copy of it and its encode buffers (3), the level-1
#: tile it reduces into and that tile's own write (2). Measured (1024^3 uint16,
#: ``unizarr convert``, two writers): 4.2-4.8 shard sizes per writer above the
#: interpreter with 32 MiB shards, 6-7 with 16 MiB ones (fixed costs weigh more).
SHARD_WRITE_UNIT = 5
#: Concurrent shard writers a memory budget leaves room for when it sizes
#: ``shard="auto"``. Fixed (not the CPU count) so that a budget gives the same shard
#: on every machine: a ``--resume`` elsewhere must find the same layout.
AUTO_SHARD_WRITERS = 2

COMPRESSOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "blosc": {"cname": "lz4", "clevel": 5, "shuffle": None, "blocksize": 0},
    "zstd": {"level": 3},
    "zlib": {"level": 6},
    "gzip": {"level": 6},
    "none": {},
}


# -- scalar option validation ---------------------------------------------------------
def normalize_zarr_version(value: Any) -> int:
    """Return 2 or 3; anything else is a ``ValueError``."""
    if isinstance(value, bool) or value not in (2, 3):
        raise ValueError(f"zarr_version must be 2 or 3, got {value!r}")
    return int(value)


def normalize_separator(value: Any) -> str:
    """Return ``"/"`` or ``"."``; anything else is a ``ValueError``."""
    if value not in ("/", "."):
        raise ValueError(f"dimension_separator must be '/' or '.', got {value!r}")
    return value


def normalize_order(value: Any) -> str:
    """Return ``"C"`` or ``"F"``; anything else is a ``ValueError``."""
    if not isinstance(value, str) or value.upper() not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', got {value!r}")
    return value.upper()


def normalize_block_shape(value: Any, what: str) -> tuple[int, ...]:
    """Validate a chunk or shard shape: an int or a sequence of positive ints.

    ``-1`` means "the whole axis" (resolved later against the array shape).
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{what} must be an int or a non-empty tuple of ints, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or (v < 1 and v != -1):
            raise ValueError(
                f"{what} must hold positive ints (or -1 for a whole axis), got {tuple(value)!r}"
            )
        out.append(int(v))
    return tuple(out)


def normalize_dtype(dtype: Any) -> np.dtype:
    """Return a little-endian numpy dtype of a kind both engines store."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"not a numpy dtype: {dtype!r}") from exc
    if dt.kind not in SUPPORTED_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise ValueError(
            f"dtype {dt} is not supported; use bool, (u)int8-64, float16/32/64 or "
            "complex64/128"
        )
    return dt.newbyteorder("<") if dt.byteorder == ">" else dt


def normalize_fill_value(fill_value: Any, dtype: np.dtype) -> Any:
    """Cast ``fill_value`` to ``dtype`` (``None`` means zero), refusing lossy casts."""
    dtype = np.dtype(dtype)
    if fill_value is None:
        return dtype.type(0)
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            cast = np.asarray(fill_value).astype(dtype)[()]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fill_value {fill_value!r} cannot be stored as {dtype}") from exc
    if dtype.kind in "biu":
        try:
            same = complex(cast) == complex(fill_value)
        except (TypeError, ValueError):
            same = False
        if not same:
            raise ValueError(f"fill_value {fill_value!r} cannot be stored exactly as {dtype}")
    return cast


# -- compressor ------------------------------------------------------------------------
@dataclass(frozen=True)
class CodecSpec:
    """A compressor and its fully resolved options (no defaults left to engines)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


def parse_json_object(value: Any, what: str) -> dict[str, Any]:
    """A JSON object given as a dict, JSON text, ``""`` or ``None`` (empty), as a dict.

    Raises
    ------
    ValueError
        Not valid JSON, or not an object; the message names ``what``.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} is not valid JSON ({exc.msg}): {value!r}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a dict or JSON object, got {value!r}")
    return dict(value)


def parse_compressor_opt(value: Any) -> dict[str, Any]:
    """Accept compressor options as a dict, JSON text or ``None``."""
    return parse_json_object(value, "compressor_opt")


def blosc_shuffle(value: Any, itemsize: int | None) -> str:
    if value is None or value == -1:  # -1 is numcodecs' AUTOSHUFFLE
        return "bitshuffle" if itemsize == 1 else "shuffle"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value <= 2:
        return BLOSC_SHUFFLES[int(value)]
    if value in BLOSC_SHUFFLES:
        return value
    raise ValueError(
        f"blosc shuffle must be one of {BLOSC_SHUFFLES} or 0/1/2, got {value!r}"
    )


def _int_option(name: str, opt: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} option {opt!r} must be an int in [{lo}, {hi}], got {value!r}")
    return int(value)


def normalize_compressor(
    name: Any, options: Any = None, dtype: Any = None, zarr_version: int | None = None
) -> CodecSpec:
    """Resolve a compressor name and options into a :class:`CodecSpec`.

    Options mean the same on Zarr v2 and v3. ``blosc``: ``cname`` (default ``"lz4"``),
    ``clevel`` (5), ``shuffle`` (``"noshuffle"|"shuffle"|"bitshuffle"`` or 0/1/2;
    default byte shuffle, bit shuffle for 1-byte types), ``blocksize`` (0 = automatic).
    ``zstd``: ``level`` (3). ``zlib``/``gzip``: ``level`` (6). ``none``: no options.

    Raises
    ------
    ValueError
        Unknown compressor or option, an out-of-range value, or ``zlib`` on Zarr v3
        (not a v3 codec: use ``gzip``, the same DEFLATE stream with a gzip header).
    """
    if name is None or name in ("raw", "null"):
        name = "none"
    if not isinstance(name, str) or name.lower() not in COMPRESSORS:
        raise ValueError(f"unknown compressor {name!r}; choose one of {COMPRESSORS}")
    name = name.lower()
    given = parse_compressor_opt(options)
    defaults = COMPRESSOR_DEFAULTS[name]
    unknown = set(given) - set(defaults)
    if unknown:
        allowed = sorted(defaults) or "no options"
        raise ValueError(f"unknown {name} option(s) {sorted(unknown)}; allowed: {allowed}")
    opts = {**defaults, **given}
    itemsize = np.dtype(dtype).itemsize if dtype is not None else None
    if name == "blosc":
        if opts["cname"] not in BLOSC_CNAMES:
            raise ValueError(f"blosc cname must be one of {BLOSC_CNAMES}, got {opts['cname']!r}")
        opts["clevel"] = _int_option(name, "clevel", opts["clevel"], 0, 9)
        opts["shuffle"] = blosc_shuffle(opts["shuffle"], itemsize)
        opts["blocksize"] = _int_option(name, "blocksize", opts["blocksize"], 0, 2**31 - 1)
    elif name == "zstd":
        opts["level"] = _int_option(name, "level", opts["level"], -131072, 22)
    elif name in ("zlib", "gzip"):
        opts["level"] = _int_option(name, "level", opts["level"], 0, 9)
    if name == "zlib" and zarr_version == 3:
        raise ValueError(
            "zlib is not a Zarr v3 codec; use compressor='gzip' (same DEFLATE "
            "compression) or zarr_version=2"
        )
    return CodecSpec(name, opts)


# -- chunk / shard expansion ----------------------------------------------------------
def refuse_v2_shards(zarr_version: int, shards: Any, option: str, fix: str) -> None:
    """The one rule for shards on Zarr v2, which has none: refuse them where a user
    asks for them (``option``, e.g. ``shard=`` or ``--shard``; ``fix`` says what to
    pass instead).

    Raises
    ------
    ValueError
        ``shards`` is given and ``zarr_version`` is 2.
    """
    if shards is not None and zarr_version == 2:
        raise ValueError(f"{option} needs {fix} (Zarr v2 has no sharding)")


def shards_on(zarr_version: int, shards: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The shards a copy of an array sharded as ``shards`` keeps on a ``zarr_version``
    destination: none on Zarr v2 (the copy stores the inner chunks directly)."""
    return shards if zarr_version == 3 else None


def _expand(
    shape: Sequence[int], block: Sequence[int], leading: Sequence[int], what: str
) -> tuple[int, ...]:
    """Expand ``block`` to ``shape``: given values cover the last axes, the first spatial
    value repeats as the seed does, and ``leading`` fills the non-spatial axes."""
    ndim = len(shape)
    block = tuple(block)
    if len(block) > ndim:
        raise ValueError(f"{what} {block} has more dimensions than the array shape {tuple(shape)}")
    if len(block) < ndim:
        nlead = len(leading)
        nspatial = ndim - nlead
        if len(block) <= nspatial:
            spatial = block + block[-1:] * (nspatial - len(block))
            block = tuple(leading) + spatial
        else:  # covers some non-spatial axes too: those keep the given values
            block = tuple(leading[: ndim - len(block)]) + block
    return tuple(s if b == -1 else b for b, s in zip(block, shape)) if -1 in block else block


def expand_chunks(
    shape: Sequence[int],
    chunk: ChunksLike,
    *,
    chunk_channels: bool = False,
    chunk_time: bool = True,
    no_time: bool = False,
) -> tuple[int, ...]:
    """Expand a (possibly short) chunk tuple to the array's rank.

    Examples
    --------
    >>> expand_chunks((10, 3, 512, 512, 512), (128,))
    (1, 3, 128, 128, 128)
    >>> expand_chunks((3, 512, 512, 512), (64,), no_time=True, chunk_channels=True)
    (1, 64, 64, 64)
    """
    shape = tuple(int(s) for s in shape)
    chunk = normalize_block_shape(chunk, "chunk")
    leading: list[int] = []
    if len(chunk) < len(shape):
        for axis, kind in enumerate(nonspatial_axes(len(shape), no_time)):
            split = chunk_time if kind == "t" else chunk_channels
            leading.append(1 if split else max(1, shape[axis]))
    return _expand(shape, chunk, leading, "chunk")


def shard_bytes_for_budget(max_memory: int) -> int:
    """The largest uncompressed shard ``shard="auto"`` picks under a working-memory
    budget of ``max_memory`` bytes: :data:`AUTO_SHARD_WRITERS` writers of
    :data:`SHARD_WRITE_UNIT` shard sizes each fit in it (256 MiB -> at most 25.6 MiB,
    i.e. 16 MiB shards of 128x256x256 uint16)."""
    return max(1, int(max_memory) // (SHARD_WRITE_UNIT * AUTO_SHARD_WRITERS))


def shard_write_bytes(shard_bytes: int) -> int:
    """Working memory one writer of a shard of ``shard_bytes`` (uncompressed) takes."""
    return SHARD_WRITE_UNIT * int(shard_bytes)


def auto_shard(
    shape: Sequence[int],
    chunks: Sequence[int],
    itemsize: int,
    nlead: int,
    max_bytes: int | None = None,
) -> tuple[int, ...]:
    """Spatial shard shape for ``shard="auto"``.

    Rule: start from one chunk and double the shard along the spatial axis whose shard
    extent is smallest (ties: the last axis), clamping at the chunk-rounded array extent,
    until the shard reaches :data:`AUTO_SHARD_TARGET_BYTES` (512 MiB) uncompressed or
    covers the array. A shard is thus a whole number of chunks and 0.5-1 GiB, unless
    the array itself is smaller.

    With ``max_bytes`` (from a memory budget, see :func:`shard_bytes_for_budget`) a
    step is taken only if the grown shard stays within ``max_bytes`` (the next axis in
    the same order is tried when growing one would not); one chunk is the floor.
    """
    shard = list(chunks)
    cover = [max(c, math.ceil(s / c) * c) for s, c in zip(shape, chunks)]
    spatial = list(range(nlead, len(shape)))
    while math.prod(shard) * itemsize < AUTO_SHARD_TARGET_BYTES:
        growable = [a for a in spatial if shard[a] < cover[a]]
        # smallest extent first, ties: the last axis (a stable sort of the reversed axes)
        order = sorted(reversed(growable), key=lambda a: shard[a])
        for axis in order:
            grown = min(shard[axis] * 2, cover[axis])
            size = math.prod(shard) // shard[axis] * grown * itemsize
            if max_bytes is None or size <= max_bytes:
                shard[axis] = grown
                break
        else:
            break
    return tuple(shard[nlead:])


def expand_shards(
    shape: Sequence[int],
    chunks: Sequence[int],
    shard: ShardsLike | None,
    itemsize: int,
    *,
    shard_channels: bool = False,
    shard_time: bool = False,
    no_time: bool = False,
    max_shard_bytes: int | None = None,
) -> tuple[int, ...] | None:
    """Expand a shard tuple (or ``"auto"``) to the array's rank and check it.

    Non-spatial axes get one chunk when ``shard_time``/``shard_channels`` is set, the
    whole (chunk-rounded) axis otherwise. ``max_shard_bytes`` caps an ``"auto"`` shard
    (see :func:`auto_shard`); an explicit shard is kept as given.

    Raises
    ------
    ValueError
        The shard is not a whole number of chunks on some axis.
    """
    if shard is None:
        return None
    if shard != "auto":  # one int (every spatial axis) or a tuple, as chunks
        shard = normalize_block_shape(shard, "shard")
    shape = tuple(int(s) for s in shape)
    chunks = tuple(chunks)
    leading: list[int] = []
    kinds = nonspatial_axes(len(shape), no_time) if (shard == "auto" or len(shard) < len(shape)) else ()
    for axis, kind in enumerate(kinds):
        split = shard_time if kind == "t" else shard_channels
        full = max(chunks[axis], math.ceil(shape[axis] / chunks[axis]) * chunks[axis])
        leading.append(chunks[axis] if split else full)
    if shard == "auto":
        spatial = auto_shard(
            shape, chunks, itemsize * math.prod(leading), len(leading), max_shard_bytes
        )
        out = tuple(leading) + spatial
    else:
        out = _expand(shape, normalize_block_shape(shard, "shard"), leading, "shard")
    for axis, (s, c) in enumerate(zip(out, chunks)):
        if s % c:
            fixed = tuple(math.ceil(x / y) * y for x, y in zip(out, chunks))
            raise ValueError(
                f"shard {out} is not a whole number of chunks {chunks} on axis {axis}; "
                f"use e.g. shard={fixed}"
            )
    return out


# -- the neutral description ----------------------------------------------------------
@dataclass(frozen=True)
class ArraySpec:
    """Everything needed to create an array, independent of the engine."""

    shape: tuple[int, ...]
    dtype: np.dtype
    zarr_version: int = 3
    chunks: tuple[int, ...] = ()
    shards: tuple[int, ...] | None = None
    compressor: CodecSpec = CodecSpec("none")
    fill_value: Any = 0
    order: str = "C"
    dimension_separator: str = "/"
    attributes: Mapping[str, Any] | None = None
    dimension_names: tuple[str | None, ...] | None = None

    @property
    def write_block(self) -> tuple[int, ...]:
        """The unit of independent writes: the shard when sharded, else the chunk."""
        return self.shards or self.chunks

    def with_shape(self, shape: Sequence[int]) -> ArraySpec:
        """The same layout for another shape (chunks and shards kept as they are)."""
        return replace(self, shape=tuple(int(s) for s in shape))


def resolve_array_spec(
    shape: Sequence[int],
    dtype: DTypeLike,
    *,
    zarr_version: ZarrVersion,
    config: ConfigLike,
    chunks: ChunksLike | None = None,
    shards: ShardsLike | None = None,
    fill_value: FillValue = None,
    compressor: CompressorName | CodecSpec | None = None,
    compressor_opt: CompressorOptions | None = None,
    dimension_separator: DimensionSeparator | None = None,
    order: MemoryOrder | None = None,
    attributes: Mapping[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    max_shard_bytes: int | None = None,
) -> ArraySpec:
    """Combine keyword arguments (which win), a config and defaults into an ArraySpec.

    ``config`` is read by field name (any object with ``ZarrConfig``'s fields).
    ``chunks``/``shards`` are expanded with the config's channel/time rules;
    ``max_shard_bytes`` caps a ``"auto"`` shard (:func:`auto_shard`).
    """
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must hold non-negative ints, got {shape}")
    dt = normalize_dtype(dtype)
    zarr_version = normalize_zarr_version(zarr_version)

    def get(name: str, default: Any) -> Any:  # the config is read by field name
        return getattr(config, name, default)

    no_time = bool(get("no_time", False))
    chunk: ChunksLike = chunks if chunks is not None else get("chunk", (128,))
    if len(shape) == 0:
        chunk_shape: tuple[int, ...] = ()
    else:
        chunk_shape = expand_chunks(
            shape,
            chunk,
            chunk_channels=bool(get("chunk_channels", False)),
            chunk_time=bool(get("chunk_time", True)),
            no_time=no_time,
        )
    shard = shards if shards is not None else get("shard", None)
    shard_shape = None
    if shard is not None:
        refuse_v2_shards(zarr_version, shard, "shard=", "zarr_version=3 (or shard=None)")
        if len(shape) == 0:
            raise ValueError("a 0-d array cannot be sharded; use shard=None")
        shard_shape = expand_shards(
            shape,
            chunk_shape,
            shard,
            dt.itemsize,
            shard_channels=bool(get("shard_channels", False)),
            shard_time=bool(get("shard_time", False)),
            no_time=no_time,
            max_shard_bytes=max_shard_bytes,
        )
    if compressor is None:
        compressor = get("compressor", "blosc")
        if compressor_opt is None:
            compressor_opt = get("compressor_opt", {})
    codec = (
        compressor
        if isinstance(compressor, CodecSpec)
        else normalize_compressor(compressor, compressor_opt, dt, zarr_version)
    )
    if codec.name not in COMPRESSORS:
        raise ValueError(
            f"the source's codecs {dict(codec.options).get('metadata')!r} are not ones unizarr "
            f"writes; pass compressor= (one of {COMPRESSORS})"
        )
    if codec.name == "zlib" and zarr_version == 3:
        normalize_compressor("zlib", {}, dt, 3)  # raises the explanatory ValueError
    sep = normalize_separator(
        dimension_separator if dimension_separator is not None else get("dimension_separator", "/")
    )
    return ArraySpec(
        shape=shape,
        dtype=dt,
        zarr_version=zarr_version,
        chunks=chunk_shape,
        shards=shard_shape,
        compressor=codec,
        fill_value=normalize_fill_value(fill_value, dt),
        order=normalize_order(order if order is not None else get("order", "C")),
        dimension_separator=sep,
        attributes=dict(attributes) if attributes else None,
        dimension_names=_dimension_names(dimension_names, shape, zarr_version),
    )


def _dimension_names(names: Any, shape: tuple[int, ...], zarr_version: int) -> tuple | None:
    """Validated v3 ``dimension_names``; Zarr v2 has no such field (dropped there, as
    zarr-python users passing it to a v2 group expect)."""
    if names is None:
        return None
    if isinstance(names, str) or len(names) != len(shape):
        raise ValueError(f"dimension_names needs one name per axis ({len(shape)}), got {names!r}")
    return None if zarr_version == 2 else tuple(None if n is None else str(n) for n in names)


def create_kwargs(spec: ArraySpec) -> dict[str, Any]:
    """``create_array`` keywords that reproduce a spec's stored layout."""
    return dict(
        chunks=spec.chunks,
        shards=spec.shards,
        compressor=spec.compressor,
        fill_value=spec.fill_value,
        order=spec.order,
        dimension_separator=spec.dimension_separator,
        dimension_names=spec.dimension_names,
    )
