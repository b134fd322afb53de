"""``ZarrConfig``: the layout and engine options of a conversion, as one dataclass.

The field names and defaults are those of linc-convert's ``ZarrConfig`` so that a config
object from there can be handed to :func:`unizarr.from_config` unchanged; unizarr reads
such objects by field name (:meth:`ZarrConfig.from_object`), never by type.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import layout
from .aliases import CONFIG_ALIASES, resolve

#: Values accepted for ``ome_version``.
OME_VERSIONS = ("0.4", "0.5")


@dataclass
class ZarrConfig:
    """Options that decide how arrays are laid out and which engine writes them.

    Parameters
    ----------
    zarr_version : {2, 3}
        Zarr format of new groups and arrays.
    chunk : tuple of int
        Read-chunk shape. A tuple shorter than the array's rank applies to the spatial
        (last) axes; see :func:`unizarr.layout.expand_chunks`.
    chunk_channels, chunk_time : bool
        Chunk the channel / time axis by 1 (``True``) or keep it whole (``False``).
    shard : tuple of int, "auto" or None
        Shard shape (Zarr v3 only); ``"auto"`` targets 0.5-1 GiB uncompressed shards
        (``uz.convert`` caps them at a tenth of its ``max_memory``).
    shard_channels, shard_time : bool
        Split shards along the channel / time axis (``True``) or keep the axis whole.
    dimension_separator : {"/", "."}
        Separator of chunk keys.
    order : {"C", "F"}
        Memory order of the stored chunks.
    compressor : {"blosc", "zstd", "zlib", "gzip", "none"}
        Compressor of every chunk.
    compressor_opt : dict or str
        Compressor options (a dict or its JSON text), see
        :func:`unizarr.layout.normalize_compressor`.
    no_time : bool
        A 4-D array is (channel, z, y, x) rather than (time, z, y, x).
    no_pyramid_axis : str, int or None
        Spatial axis never downsampled by the pyramid.
    levels : int
        Pyramid levels to add after level 0 (``-1``: until one chunk).
    ome_version : {"0.4", "0.5"}
        OME-NGFF version of the multiscales metadata.
    overwrite : bool
        Replace an existing output.
    driver : str
        ``"zarr-python"`` or ``"tensorstore"``.

    Notes
    -----
    The fields keep linc-convert's names (``chunk``, ``shard``) because converters read
    and set them; the keywords ``chunks=``, ``shards=`` and ``zarr_format=`` are
    accepted as aliases (see ``docs/vocabulary.md``).
    """

    zarr_version: int = 3
    chunk: tuple[int, ...] = (128,)
    chunk_channels: bool = False
    chunk_time: bool = True
    shard: tuple[int, ...] | str | None = None
    shard_channels: bool = False
    shard_time: bool = False
    dimension_separator: str = "/"
    order: str = "C"
    compressor: str = "blosc"
    compressor_opt: dict[str, Any] | str = field(default_factory=dict)
    no_time: bool = False
    no_pyramid_axis: str | int | None = None
    levels: int = -1
    ome_version: str = "0.4"
    overwrite: bool = False
    driver: str = "zarr-python"

    def __post_init__(self) -> None:
        self.zarr_version = layout.normalize_zarr_version(self.zarr_version)
        self.chunk = layout.normalize_block_shape(self.chunk, "chunk")
        if self.shard is not None and self.shard != "auto":
            self.shard = layout.normalize_block_shape(self.shard, "shard")
        self.dimension_separator = layout.normalize_separator(self.dimension_separator)
        self.order = layout.normalize_order(self.order)
        self.compressor_opt = layout.parse_compressor_opt(self.compressor_opt)
        # Options are checked against the compressor now, so a typo fails at once
        # rather than when the first array is created.
        layout.normalize_compressor(self.compressor, self.compressor_opt)
        if str(self.ome_version) not in OME_VERSIONS:
            raise ValueError(
                f"ome_version must be one of {OME_VERSIONS}, got {self.ome_version!r}"
            )
        self.ome_version = str(self.ome_version)
        if not isinstance(self.levels, int) or self.levels < -1:
            raise ValueError(f"levels must be an int >= -1, got {self.levels!r}")

    # -- round trips -----------------------------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of the fields, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_object(cls, obj: Any) -> ZarrConfig:
        """Build a config from any object (or mapping) that has these field names.

        Missing fields take their defaults; other attributes are ignored. This is how
        configs of other tools (e.g. linc-convert's own ``ZarrConfig``) are accepted.
        """
        if isinstance(obj, ZarrConfig):
            return dataclasses.replace(obj)
        if obj is None:
            return cls()
        if isinstance(obj, Mapping):
            # A mapping's keys may use the aliases; an object's attributes may not (a
            # zarr array's ``.chunks`` says nothing about a config).
            obj = resolve("ZarrConfig.from_object", obj, CONFIG_ALIASES)
        values: dict[str, Any] = {}
        for name in cls.field_names():
            if isinstance(obj, Mapping):
                if name in obj:
                    values[name] = obj[name]
            elif hasattr(obj, name):
                values[name] = getattr(obj, name)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-compatible dict."""
        out = dataclasses.asdict(self)
        for key in ("chunk", "shard"):
            if isinstance(out[key], tuple):
                out[key] = list(out[key])
        return out

    def to_json(self) -> str:
        """The config as JSON text (round-trips through :meth:`from_json`)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ZarrConfig:
        """Parse the JSON produced by :meth:`to_json`; unknown keys are an error."""
        data = json.loads(text)
        unknown = set(data) - set(cls.field_names())
        if unknown:
            raise ValueError(f"unknown ZarrConfig fields: {sorted(unknown)}")
        return cls(**data)


def _init_with_aliases(init: Any) -> Any:
    """The dataclass ``__init__`` also taking the aliases of :data:`CONFIG_ALIASES`."""

    @functools.wraps(init)
    def __init__(self: ZarrConfig, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **resolve("ZarrConfig", kwargs, CONFIG_ALIASES))

    return __init__


# Wrapped after the class is built: a hand-written __init__ would stop @dataclass from
# generating the one that holds the fields' defaults.
setattr(ZarrConfig, "__init__", _init_with_aliases(ZarrConfig.__init__))  # noqa: B010
