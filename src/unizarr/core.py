"""``ZarrNode`` / ``ZarrArray`` / ``ZarrGroup``: the abstract API and everything shared.

Drivers implement a handful of primitives (see :class:`ZarrArray` and
:class:`ZarrGroup`); every rule of the contract — modes, name checks, numpy indexing,
attributes, group semantics, layout resolution, copies — lives here, once.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

import numpy as np

from . import layout
from . import metadata as md
from .aliases import merge
from .errors import (
    CorruptDataError,
    MetadataError,
    ReadOnlyError,
    ZarrVersionError,
    translate_engine_error,
)
from .indexing import apply_post, normalize_key, value_block
from .integrity import block_problem, check_allocation
from .kvstore import KVStore
from .layout import ArraySpec
from .modes import Action, check_mode, child_mode, is_writable, plan_open
from .output_guard import check_node_replaceable, check_not_a_file
from .paths import (
    METADATA_KEYS,
    Location,
    is_internal_name,
    join_key,
    parse_url,
    validate_member_name,
)
from .registry import driver_from_token, driver_token, get_driver
from .safety import FOLLOW_SYMLINKS_OPTION, overlap
from .types import (
    ChunksLike,
    CompressorName,
    CompressorOptions,
    ConfigLike,
    DimensionSeparator,
    DTypeLike,
    FillValue,
    MemoryOrder,
    ShapeLike,
    ShardsLike,
)


@dataclass
class NodeRef:
    """Where a node lives and how it was opened. Shared by a node and its members."""

    driver: str
    root: Location
    path: str
    kv: KVStore
    mode: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> Location:
        return self.root.join(self.path)

    def child(self, name: str) -> NodeRef:
        return NodeRef(
            self.driver,
            self.root,
            join_key(self.path, name),
            self.kv,
            child_mode(self.mode),
            self.storage_options,
        )


class MetadataDocument(dict):
    """A node's metadata document (a dict) whose keys also read as attributes.

    ``group.metadata.zarr_format`` therefore works as it does on zarr-python's
    metadata objects (nifti-zarr relies on it).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Attributes(MutableMapping):
    """A node's attributes: read from the store on every access, written on every change.

    Values must be JSON-serialisable; a value that is not raises ``TypeError`` and
    nothing is written. ``update`` writes once for all keys.
    """

    def __init__(self, node: ZarrNode) -> None:
        self._node = node

    def _load(self) -> dict[str, Any]:
        return self._node._read_attrs()

    def _store(self, attrs: dict[str, Any]) -> None:
        self._node._write_attrs(attrs)

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        self._node._check_writable()
        with self._node._metadata_lock():  # read-modify-write: no interleaved writer
            attrs = self._load()
            del attrs[key]
            self._store(attrs)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        self._node._check_writable()
        new = dict(other, **kwargs)
        checked = md.to_json_value(new, "attribute")  # TypeError before any write
        with self._node._metadata_lock():
            attrs = self._load()
            attrs.update(checked)
            self._store(attrs)

    def put(self, attrs: Mapping[str, Any]) -> None:
        """Replace all attributes with ``attrs``."""
        self._node._check_writable()
        checked = md.to_json_value(dict(attrs), "attribute")
        with self._node._metadata_lock():
            self._store(checked)

    def asdict(self) -> dict[str, Any]:
        return self._load()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._load() == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Attributes({self._load()!r})"


def _reopen(kind: str, driver: Any, url: str, mode: str, storage_options: dict) -> ZarrNode:
    return open_node(
        url, mode, kind, driver=driver_from_token(driver), zarr_version=None,
        storage_options=storage_options or None,
    )


class ZarrNode(ABC):
    """A Zarr array or group opened through one driver."""

    _kind: ClassVar[str] = "node"
    #: Filled by :func:`unizarr.drivers.register_driver`.
    driver_name: ClassVar[str] = ""

    _ref: NodeRef
    _zarr_version: int

    # -- construction (internal) -----------------------------------------------------
    @classmethod
    def _from_ref(cls, ref: NodeRef, info: md.NodeInfo) -> Self:
        node = cls.__new__(cls)
        node._init_ref(ref, info)
        return node

    def _init_ref(self, ref: NodeRef, info: md.NodeInfo) -> None:
        self._ref = ref
        self._zarr_version = info.zarr_version

    # -- identity ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The node's location: a local path, or a URL such as ``s3://bucket/x.zarr/0``."""
        return self._ref.location.url

    @property
    def path(self) -> str:
        """Same as :attr:`url` (the seed's name)."""
        return self.url

    @property
    def store_path(self) -> str:
        """Same as :attr:`url` (linc-convert's name)."""
        return self.url

    @property
    def name(self) -> str:
        """The node's key path relative to the opened root (``""`` for the root)."""
        return self._ref.path

    @property
    def mode(self) -> str:
        return self._ref.mode

    @property
    def storage_options(self) -> dict[str, Any]:
        """The storage options the node was opened with (a copy)."""
        return dict(self._ref.storage_options)

    @property
    def read_only(self) -> bool:
        return not is_writable(self._ref.mode)

    @property
    def zarr_version(self) -> int:
        """2 or 3."""
        return self._zarr_version

    @property
    def attrs(self) -> Attributes:
        """The node's attributes (a mutable mapping persisted on every change)."""
        return Attributes(self)

    @property
    def metadata(self) -> MetadataDocument:
        """The node's full metadata document, read from the store.

        v3: the ``zarr.json`` content. v2: the ``.zgroup``/``.zarray`` content with the
        ``.zattrs`` content under ``"attributes"``.
        """
        info = md.detect_node(self._ref.kv, self._ref.path, self._zarr_version)
        if info is None:
            raise FileNotFoundError(f"{self.url} no longer exists")
        doc = dict(info.document)
        if info.zarr_version == 2:
            doc["attributes"] = md.read_attributes(self._ref.kv, self._ref.path, 2)
        return MetadataDocument(doc)

    # -- shared internals ------------------------------------------------------------
    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"{self.url} is opened read-only (mode 'r'); reopen with mode='r+'")

    def _metadata_lock(self) -> Any:
        """The lock held while this node's metadata is rewritten or the node replaced
        (see :meth:`unizarr.kvstore.KVStore.lock`)."""
        return self._ref.kv.lock(self._ref.path)

    def _read_attrs(self) -> dict[str, Any]:
        return md.read_attributes(self._ref.kv, self._ref.path, self._zarr_version)

    def _write_attrs(self, attrs: dict[str, Any]) -> None:
        self._check_writable()
        md.write_attributes(self._ref.kv, self._ref.path, self._zarr_version, attrs)

    def __reduce__(self) -> tuple:
        ref = self._ref
        return (
            _reopen,
            # the driver's name and classes: a fresh process reopens the same driver
            # even when it was registered at run time, not by entry point
            (self._kind, driver_token(ref.driver), self.url, child_mode(ref.mode),
             dict(ref.storage_options)),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ZarrNode):
            return NotImplemented
        return (
            type(self) is type(other)
            and self._ref.location == other._ref.location
        )

    def __hash__(self) -> int:
        return hash((type(self), self._ref.location))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r} v{self._zarr_version} mode={self.mode!r}>"

    # -- the seed's classmethods -----------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Any,
        mode: str = "a",
        *,
        zarr_version: int | None = None,
        storage_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ZarrNode:
        """Open (or create, as ``mode`` says) a node with this class's driver.

        See :func:`unizarr.open_array` / :func:`unizarr.open_group`.
        """
        return open_node(
            path,
            mode,
            cls._kind,
            driver=cls.driver_name,
            zarr_version=zarr_version,
            storage_options=storage_options,
            create_kwargs=kwargs,
        )


class ZarrArray(ZarrNode):
    """A Zarr array.

    Driver primitives: :meth:`_open_native` (attach the engine's array object to an
    existing node), :meth:`_read` and :meth:`_write` (positive-step, in-bounds regions
    only), and optionally :meth:`_create_native`.
    """

    _kind = "array"
    _spec: ArraySpec
    _native: Any

    def _init_ref(self, ref: NodeRef, info: md.NodeInfo) -> None:
        super()._init_ref(ref, info)
        attrs = None  # attributes are read live, never cached in the spec
        where = self._metadata_file()
        try:
            self._spec = layout.spec_from_metadata(info.document, attrs)
        except MetadataError as exc:
            if where in str(exc):
                raise
            raise MetadataError(
                f"{where}: {exc}; rewrite the array or fix the document"
            ) from exc
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise MetadataError(
                f"{where}: invalid array metadata ({exc}); rewrite the array or fix the "
                "document"
            ) from exc
        try:
            self._native = self._open_native()
        except (MetadataError, OSError):
            raise
        except Exception as exc:
            mapped = translate_engine_error(exc, where)
            if not isinstance(mapped, (CorruptDataError, MetadataError)) and mapped is not exc:
                raise mapped from exc
            if isinstance(exc, (ValueError, TypeError, KeyError, RuntimeError, NotImplementedError)):
                raise MetadataError(
                    f"{where}: the engine refused the array metadata ({exc}); rewrite the "
                    "array or fix the document"
                ) from exc
            raise

    def _metadata_file(self) -> str:
        name = md.V3_KEY if self._zarr_version == 3 else md.V2_ARRAY_KEY
        return self._ref.location.join(name).url

    # -- primitives ------------------------------------------------------------------
    @abstractmethod
    def _open_native(self) -> Any:
        """Open the engine's array object for ``self._ref`` (metadata exists)."""

    @abstractmethod
    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        """Read a region (slices with ``0 <= start <= stop <= n``, ``step >= 1``)."""

    @abstractmethod
    def _write(self, region: tuple[slice, ...], value: np.ndarray) -> None:
        """Write ``value`` (exactly the region's shape and the array's dtype)."""

    @classmethod
    def _create_native(cls, ref: NodeRef, spec: ArraySpec) -> md.NodeInfo:
        """Write the metadata of a new array. The default writes the canonical document
        of :func:`unizarr.layout.metadata_document`, so every driver produces the same
        files; the engine then opens it like any existing array."""
        doc = layout.metadata_document(spec)
        if spec.zarr_version == 2 and spec.attributes:
            doc["attributes"] = dict(spec.attributes)
        md.write_array(ref.kv, ref.path, dict(doc))
        return md.NodeInfo("array", spec.zarr_version, layout.metadata_document(spec))

    # -- properties ------------------------------------------------------------------
    @property
    def native(self) -> Any:
        """The wrapped engine object (``zarr.Array`` or ``tensorstore.TensorStore``)."""
        return self._native

    @property
    def spec(self) -> ArraySpec:
        """The array's layout as a neutral :class:`~unizarr.layout.ArraySpec`."""
        return self._spec

    @property
    def ndim(self) -> int:
        return len(self._spec.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._spec.shape

    @property
    def dtype(self) -> np.dtype:
        return self._spec.dtype

    @property
    def chunks(self) -> tuple[int, ...]:
        """The read-chunk shape (the inner chunk when sharded)."""
        return self._spec.chunks

    @property
    def shards(self) -> tuple[int, ...] | None:
        return self._spec.shards

    @property
    def write_block(self) -> tuple[int, ...]:
        """Shard shape when sharded, else chunk shape: writers that split work on this
        grid never write the same stored object twice."""
        return self._spec.write_block

    @property
    def fill_value(self) -> Any:
        return self._spec.fill_value

    @property
    def order(self) -> str:
        return self._spec.order

    @property
    def compressor(self) -> layout.CodecSpec:
        return self._spec.compressor

    @property
    def dimension_names(self) -> tuple[str | None, ...] | None:
        """Zarr v3 ``dimension_names`` (``None`` when unset, and always on v2)."""
        return self._spec.dimension_names

    def set_dimension_names(self, names: Sequence[str | None] | None) -> None:
        """Record ``dimension_names`` in the array's ``zarr.json`` (one atomic write).

        Zarr v2 has no such field: there this is a no-op, so format-agnostic code (OME
        writers) can call it unconditionally.

        Raises
        ------
        ValueError
            ``names`` does not have one entry per axis.
        """
        self._check_writable()
        if names is not None:
            names = tuple(None if n is None else str(n) for n in names)
            if len(names) != self.ndim:
                raise ValueError(f"{len(names)} dimension names for a {self.ndim}-D array")
        if self._zarr_version != 3 or names == self._spec.dimension_names:
            return
        key = join_key(self._ref.path, md.V3_KEY)
        with self._metadata_lock():
            doc = md.read_json(self._ref.kv, key)
            if doc is None:
                raise FileNotFoundError(f"{self.url} no longer exists")
            if names is None:
                doc.pop("dimension_names", None)
            else:
                doc["dimension_names"] = list(names)
            md.write_json(self._ref.kv, key, doc)
        self._spec = replace(self._spec, dimension_names=names)

    def stored_blocks(self) -> set[tuple[int, ...]]:
        """Grid indices of the write blocks (shards, or chunks when unsharded) that
        exist in the store.

        Both engines write one block as one atomic object (temp file + rename on
        disk, a single PUT on object stores), so a stored block is a finished one;
        resumable writers skip those and redo the rest. Blocks equal to the fill
        value may legitimately be absent (the engines do not store them).

        Returns
        -------
        set of tuple of int
            One index per axis on the ``write_block`` grid (``{()}`` or ``set()``
            for a 0-d array).
        """
        kv, path = self._ref.kv, self._ref.path
        prefix, sep = self._key_encoding()
        grid = tuple(-(-n // b) if b else 0 for n, b in zip(self.shape, self.write_block))
        if not grid:
            return {()} if (prefix or "0") in kv.list_dir(path) else set()

        def index(parts: Sequence[str]) -> tuple[int, ...] | None:
            if len(parts) != len(grid) or not all(p.isdigit() for p in parts):
                return None
            idx = tuple(int(p) for p in parts)
            return idx if all(i < n for i, n in zip(idx, grid)) else None

        found: set[tuple[int, ...]] = set()
        if sep == ".":
            for name in kv.list_dir(path):
                if prefix:
                    if not name.startswith(prefix + "."):
                        continue
                    name = name[len(prefix) + 1:]
                idx = index(name.split("."))
                if idx is not None:
                    found.add(idx)
            return found
        # "/" separator: one directory level per axis, listed level by level.
        level: list[tuple[str, tuple[str, ...]]] = [(join_key(path, prefix) if prefix else path, ())]
        for depth in range(len(grid)):
            nxt = []
            for key, parts in level:
                for name in kv.list_dir(key):
                    if name.isdigit() and int(name) < grid[depth]:
                        nxt.append((join_key(key, name), parts + (name,)))
            level = nxt
        for _, parts in level:
            idx = index(parts)
            if idx is not None:
                found.add(idx)
        return found

    def remove_partial_writes(self) -> int:
        """Delete leftovers of interrupted atomic writes below this array on local disk
        (zarr-python's ``*.partial`` temporary files, TensorStore's ``*.__lock`` files).

        A killed writer leaves them next to the blocks it was writing; they are never
        data. Object stores leave none. Returns the number of files removed.
        """
        self._check_writable()
        loc = self._ref.location
        if not loc.is_local or not os.path.isdir(loc.path):
            return 0
        self._ref.kv.check_inside(self._ref.path, "clean up")
        removed = 0
        for dirpath, _dirs, files in os.walk(loc.path, followlinks=False):
            for f in files:
                if f.endswith(".partial") or f.endswith(".__lock"):
                    os.unlink(os.path.join(dirpath, f))
                    removed += 1
        return removed

    def delete_block(self, index: Sequence[int]) -> None:
        """Remove the stored write block at grid ``index`` (see :meth:`stored_blocks`);
        its region then reads as the fill value. Used to drop a block torn by a crash
        before it is rewritten (writers may read a partial edge block back)."""
        self._check_writable()
        self._ref.kv.delete_prefix(join_key(self._ref.path, self._block_key(index)))

    def block_key(self, index: Sequence[int]) -> str:
        """The store key (relative to the store root) of the write block — the shard
        when the array is sharded, else the chunk — at grid ``index``.

        Read-only: it names where the engine keeps the block (per the array's chunk key
        encoding and Zarr version); whether the block is stored is not checked.

        Examples
        --------
        >>> a.block_key((0, 1))   # v3 default encoding, array "0" of a group  # doctest: +SKIP
        '0/c/0/1'
        """
        return join_key(self._ref.path, self._block_key(index))

    def block_bytes(self, index: Sequence[int]) -> bytes | None:
        """The stored (encoded) object of the write block at grid ``index``, or ``None``
        when it is not stored. Read-only; nothing is decoded or checked."""
        return self._ref.kv.get(self.block_key(index))

    def _block_key(self, index: Sequence[int]) -> str:
        """The store key (below the array) of the write block at grid ``index``."""
        prefix, sep = self._key_encoding()
        parts = [str(int(i)) for i in index]
        if not parts:
            return prefix or "0"
        return sep.join(([prefix] if prefix else []) + parts)

    #: Set by drivers whose engine itself refuses empty and truncated blocks
    #: (TensorStore): the pre-read check of :meth:`_check_stored_blocks` is skipped.
    _engine_detects_damaged_blocks: ClassVar[bool] = False

    def _block_check(self) -> tuple[str, int]:
        """What to check of each stored block before a read: ``("", 0)`` nothing,
        ``("size", n)`` at least ``n`` bytes, ``("index", n)`` a shard index of ``n``
        bytes (negative: at the start) that has no checksum, ``("blosc", 1)`` the
        blosc header's size."""
        cached = self.__dict__.get("_block_check_cache")
        if cached is not None:
            return cached
        result = ("", 0)
        if self._spec.shards is not None and self._zarr_version == 3:
            doc = md.read_json(self._ref.kv, join_key(self._ref.path, md.V3_KEY)) or {}
            for codec in doc.get("codecs") or []:
                if isinstance(codec, Mapping) and codec.get("name") == "sharding_indexed":
                    cfg = codec.get("configuration") or {}
                    inner = math.prod(
                        s // c for s, c in zip(self._spec.shards, self._spec.chunks)
                    )
                    crc = any(
                        isinstance(c, Mapping) and c.get("name") == "crc32c"
                        for c in cfg.get("index_codecs") or []
                    )
                    index = 16 * inner + (4 if crc else 0)
                    at_end = cfg.get("index_location", "end") == "end"
                    # with a checksum the engine detects a torn index itself; only a
                    # file too short to hold one (zarr-python: read as fill!) is ours
                    result = ("size", index) if crc else ("index", index if at_end else -index)
        elif (self._spec.compressor.name or "").lower() == "blosc":
            result = ("blosc", 1)
        self.__dict__["_block_check_cache"] = result
        return result

    def _check_block_dirs_inside(self, region: tuple[slice, ...]) -> None:
        """With "/"-separated block keys, the engine writes into nested directories of
        the array (``c/0/1``): refuse a write whose block directory a symlink leads out
        of the store (one ``realpath`` per distinct directory, local disk only)."""
        kv = self._ref.kv
        if kv.local_root is None or kv.follow_links:
            return
        prefix, sep = self._key_encoding()
        if sep != "/" and not prefix:
            return  # block files sit directly in the array directory, checked already
        import itertools

        ranges = [
            range(s.start // b, -(-s.stop // b)) if b else range(0)
            for s, b in zip(region, self.write_block)
        ]
        outer = ranges[:-1] if sep == "/" else []
        seen: set[str] = set()
        for idx in itertools.product(*outer):
            parts = ([prefix] if prefix else []) + [str(i) for i in idx]
            if not parts:
                continue
            key = join_key(self._ref.path, "/".join(parts))
            if key not in seen:
                seen.add(key)
                kv.check_inside(key, "write data of")

    def _check_stored_blocks(self, region: tuple[slice, ...]) -> None:
        """Raise :class:`~unizarr.CorruptDataError` for a damaged stored block the read
        touches (local disk, engines that do not detect it themselves).

        A crash can leave empty or truncated files behind; zarr-python reads a 0-byte
        shard as the fill value and a truncated blosc chunk as garbage. A missing block
        is not damage: it reads as the fill value.
        """
        if self._engine_detects_damaged_blocks or self._ref.kv.local_root is None:
            return
        kind, n = self._block_check()
        if not kind:
            return
        import itertools

        base = self._ref.location.path
        ranges = [
            range(s.start // b, -(-s.stop // b)) if b else range(0)
            for s, b in zip(region, self.write_block)
        ]
        for idx in itertools.product(*ranges):
            path = os.path.join(base, *self._block_key(idx).split("/"))
            try:
                fd = os.open(path, os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                problem = block_problem(fd, kind, n)
            finally:
                os.close(fd)
            if problem:
                raise CorruptDataError(
                    f"{path} (block {tuple(idx)} of {self.url}) {problem}: it is damaged "
                    "(left by a crash?); rewrite that region, or delete the block with "
                    "delete_block() to read it as the fill value"
                )

    def _key_encoding(self) -> tuple[str, str]:
        """(prefix, separator) of the stored block keys: ``("c", "/")`` for v3's
        default encoding, ``("", sep)`` for v2 and v3's "v2" encoding."""
        sep = self._spec.dimension_separator
        if self._zarr_version != 3:
            return "", sep
        cached = self.__dict__.get("_key_encoding_cache")
        if cached is not None:  # fixed for the life of the array's metadata
            return cached
        doc = md.read_json(self._ref.kv, join_key(self._ref.path, md.V3_KEY)) or {}
        enc = doc.get("chunk_key_encoding") or {}
        sep = (enc.get("configuration") or {}).get("separator", sep)
        # The "default" encoding puts keys under "c"; the "v2" one does not.
        result = ("c" if enc.get("name", "default") == "default" else ""), sep
        self.__dict__["_key_encoding_cache"] = result
        return result

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Logical (uncompressed) size in bytes."""
        return self.size * self.dtype.itemsize

    @property
    def nbytes_stored(self) -> int:
        """Bytes stored for this array: metadata plus every chunk/shard."""
        return self._ref.kv.size_prefix(self._ref.path)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    # -- data ------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        """Read with numpy basic indexing."""
        sel = normalize_key(key, self.shape)
        check_allocation(sel.region_shape, self.dtype, f"reading {self.url}")
        if sel.empty:
            block = np.empty(sel.region_shape, dtype=self.dtype)
        else:
            self._check_stored_blocks(sel.region)
            with _engine_errors(self):
                block = self._read(sel.region)
        return apply_post(block, sel)

    def __setitem__(self, key: Any, value: Any) -> None:
        """Write with numpy basic indexing; values broadcast and cast as numpy does."""
        self._check_writable()
        sel = normalize_key(key, self.shape)
        # Chunk files are written by the engine, not through the key-value store: check
        # here that the array's directory has not been linked out of the store root.
        self._ref.kv.check_inside(self._ref.path, "write data of")
        if _is_dask(value) and sel.trivial and not sel.empty:
            self._store_dask(value, sel.region)  # each dask block comes back here
            return
        check_allocation(sel.region_shape, self.dtype, f"writing {self.url}")
        if not sel.empty:  # (after the allocation check: bounded by a real buffer)
            self._check_block_dirs_inside(sel.region)
        block = value_block(value, sel, self.dtype)  # ValueError before any write
        if not sel.empty:
            with _engine_errors(self):
                self._write(sel.region, block)

    def _store_dask(self, value: Any, region: tuple[slice, ...]) -> None:
        import dask.array as da

        shape = tuple(len(range(s.start, s.stop, s.step)) for s in region)
        value = da.broadcast_to(da.asarray(value), shape).astype(self.dtype)
        if all(s.step == 1 for s in region):
            offset = tuple(s.start for s in region)
            value = _align_dask(value, self.write_block, offset)
        da.store(value, self, regions=region, lock=False)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self[...])
        return out.astype(dtype, copy=False) if dtype is not None else out

    def read(self) -> np.ndarray:
        """The whole array as numpy."""
        return np.asarray(self[...])


class ZarrGroup(ZarrNode):
    """A Zarr group. Implemented entirely on the driver's key-value store; drivers only
    provide :meth:`_make_kv` and the array class."""

    _kind = "group"
    #: The driver's array class (set by :func:`unizarr.drivers.register_driver`).
    _array_cls: ClassVar[type[ZarrArray]]

    @classmethod
    @abstractmethod
    def _make_kv(
        cls, location: Location, storage_options: dict[str, Any], read_only: bool
    ) -> KVStore:
        """The driver's key-value store rooted at ``location``."""

    # -- listing -----------------------------------------------------------------------
    def _member_info(self, key: str) -> md.NodeInfo | None:
        return md.detect_node(self._ref.kv, key, self._zarr_version)

    # -- hidden documents (never members: names start with ".") ------------------------
    def _hidden_key(self, name: str) -> str:
        if not is_internal_name(name) or "/" in name:
            raise ValueError(
                f"hidden document names start with '.unizarr' and have no '/': {name!r}"
            )
        return join_key(self._ref.path, name)

    def _get_hidden(self, name: str) -> bytes | None:
        """Bytes of the hidden document ``name`` of this group, or ``None``."""
        return self._ref.kv.get(self._hidden_key(name))

    def _set_hidden(self, name: str, value: bytes) -> None:
        """Store the hidden document ``name`` (atomically, like metadata)."""
        self._check_writable()
        self._ref.kv.set(self._hidden_key(name), value)

    def _delete_hidden(self, name: str) -> None:
        self._check_writable()
        self._ref.kv.delete_prefix(self._hidden_key(name))

    def keys(self) -> list[str]:
        """Names of the direct members (arrays and groups), sorted.

        Every Zarr node below the group is listed, including names starting with "."
        (legal in Zarr); only metadata keys and unizarr's own documents
        (``.unizarr*``) are not members."""
        names = []
        try:
            children = self._ref.kv.list_dir(self._ref.path)
        except Exception:
            # The store refuses listings (an S3 bucket without list permission, a static
            # server answering 403): the members the metadata names are the members.
            declared = self._declared_members()
            if declared is None:
                raise
            children = declared
        if not children:  # some servers answer a refused listing with an empty page
            children = self._declared_members() or []
        for child in children:
            if child in METADATA_KEYS or is_internal_name(child):
                continue
            if self._member_info(join_key(self._ref.path, child)) is not None:
                names.append(child)
        return sorted(names)

    def _declared_members(self) -> list[str] | None:
        """Members named by this group's metadata (``None``: it names none)."""
        from .declared import declared_members

        names = declared_members(self.attrs.asdict())
        return names or None

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = join_key(self._ref.path, validate_member_name(name))
        return self._member_info(key) is not None

    def arrays(self) -> Iterator[tuple[str, ZarrArray]]:
        for name in self.keys():
            node = self[name]
            if isinstance(node, ZarrArray):
                yield name, node

    def groups(self) -> Iterator[tuple[str, ZarrGroup]]:
        for name in self.keys():
            node = self[name]
            if isinstance(node, ZarrGroup):
                yield name, node

    # -- access ------------------------------------------------------------------------
    def _wrap(self, name: str, info: md.NodeInfo) -> ZarrNode:
        ref = self._ref.child(name)
        cls = self._array_cls if info.kind == "array" else type(self)
        return cls._from_ref(ref, info)

    def __getitem__(self, name: str) -> ZarrArray | ZarrGroup:
        """The member ``name`` (may be nested, ``"a/b"``); ``KeyError`` when missing."""
        name = validate_member_name(name)
        info = self._member_info(join_key(self._ref.path, name))
        if info is None:
            raise KeyError(f"no member {name!r} in group {self.url}")
        return self._wrap(name, info)  # type: ignore[return-value]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __delitem__(self, name: str) -> None:
        """Delete member ``name`` and everything below it; ``KeyError`` when missing."""
        name = validate_member_name(name)
        self._check_writable()
        key = join_key(self._ref.path, name)
        with self._ref.kv.lock(key):
            if self._member_info(key) is None:
                raise KeyError(f"no member {name!r} in group {self.url}")
            self._ref.kv.delete_prefix(key)

    def __setitem__(self, name: str, value: Any) -> None:
        """``g[name] = ndarray`` creates an array from the data; ``g[name] = node`` copies
        an array (data, attributes, layout) or a group (recursively). An existing member
        of that name is replaced, as in a dict."""
        name = validate_member_name(name)
        self._check_writable()
        if isinstance(value, ZarrNode):
            target = self._ref.location.join(name)
            relation = overlap(value._ref.location, target)
            if relation == "same":
                return  # g["a"] = g["a"] (through any handle): already there
            if relation is not None:
                raise ValueError(
                    f"cannot copy {value.url} to {target.url}: "
                    + ("the target is inside the source" if relation == "dst-inside-src"
                       else "the source is inside the target, which the copy replaces")
                    + "; copy to another name first"
                )
        if isinstance(value, ZarrArray):
            self._copy_array(name, value)
        elif isinstance(value, ZarrGroup):
            self._copy_group(name, value)
        else:
            data = value if _is_dask(value) or isinstance(value, np.ndarray) else np.asarray(value)
            self.create_array(name, data.shape, data.dtype, data=data, overwrite=True)

    def _copy_array(self, name: str, src: ZarrArray) -> ZarrArray:
        spec = src.spec
        if self._zarr_version == 2 and spec.shards is not None:
            spec = replace(spec, shards=None)
        dst = self.create_array(
            name, spec.shape, spec.dtype, attributes=src.attrs.asdict(), overwrite=True,
            **_layout_kwargs(spec),
        )
        copy_data(src, dst)
        return dst

    def _copy_group(self, name: str, src: ZarrGroup) -> ZarrGroup:
        dst = self.create_group(name, overwrite=True)
        dst.attrs.put(src.attrs.asdict())
        for child in src.keys():
            dst[child] = src[child]
        return dst

    # -- creation ----------------------------------------------------------------------
    def _prepare_member(self, name: str, overwrite: bool, kind: str) -> tuple[str, md.NodeInfo | None]:
        """Validate ``name``, create missing intermediate groups' plan, check existence.

        Returns the key and the existing member's info (``None`` if missing). Raises
        before anything is written.
        """
        name = validate_member_name(name)
        self._check_writable()
        parts = name.split("/")
        for i in range(1, len(parts)):
            key = join_key(self._ref.path, "/".join(parts[:i]))
            info = self._member_info(key)
            if info is not None and info.kind == "array":
                raise FileExistsError(
                    f"{'/'.join(parts[:i])!r} in {self.url} is an array, not a group"
                )
        key = join_key(self._ref.path, name)
        info = self._member_info(key)
        if info is None:
            other = md.detect_node(self._ref.kv, key)  # a node of the other version
            if other is not None:
                raise ZarrVersionError(
                    f"{name!r} in {self.url} holds Zarr v{other.zarr_version} metadata but "
                    f"the group is v{self._zarr_version}"
                )
        if info is not None and kind == "array" and not overwrite:
            raise FileExistsError(
                f"{name!r} already exists in {self.url}; pass overwrite=True to replace it"
            )
        if info is not None and kind == "group" and info.kind == "array" and not overwrite:
            raise FileExistsError(
                f"{name!r} in {self.url} is an array; pass overwrite=True to replace it "
                "with a group"
            )
        return name, info

    def _make_parents(self, name: str) -> None:
        parts = name.split("/")
        for i in range(1, len(parts)):
            key = join_key(self._ref.path, "/".join(parts[:i]))
            if self._member_info(key) is None:
                md.write_group(self._ref.kv, key, self._zarr_version)

    def create_group(self, name: str, overwrite: bool = False) -> ZarrGroup:
        """Open subgroup ``name``, creating it (and missing parents) if needed.

        ``overwrite=True`` replaces an existing member of that name with an empty group.
        An existing *array* of that name raises ``FileExistsError`` unless ``overwrite``.
        """
        key = join_key(self._ref.path, validate_member_name(name))
        self._check_writable()
        with self._ref.kv.lock(key):  # existence check and replacement in one step
            name, info = self._prepare_member(name, overwrite, "group")
            if info is not None and info.kind == "group" and not overwrite:
                return self._wrap(name, info)  # type: ignore[return-value]
            if info is not None:
                self._ref.kv.delete_prefix(key)
            self._make_parents(name)
            md.write_group(self._ref.kv, key, self._zarr_version)
        return self[name]  # type: ignore[return-value]

    def require_group(self, name: str) -> ZarrGroup:
        return self.create_group(name)

    def create_array(
        self,
        name: str,
        shape: ShapeLike | None = None,
        dtype: DTypeLike | None = None,
        *,
        zarr_config: ConfigLike = None,
        data: Any = None,
        overwrite: bool = False,
        chunks: ChunksLike | None = None,
        shards: ShardsLike | None = None,
        fill_value: FillValue = None,
        compressor: CompressorName | None = None,
        compressor_opt: CompressorOptions | None = None,
        dimension_separator: DimensionSeparator | None = None,
        order: MemoryOrder | None = None,
        attributes: Mapping[str, Any] | None = None,
        dimension_names: Sequence[str | None] | None = None,
        **zarr_kwargs: Any,
    ) -> ZarrArray:
        """Create array ``name`` in this group.

        Keyword arguments win over ``zarr_config`` (any object with
        :class:`~unizarr.ZarrConfig`'s fields), which wins over the defaults. ``dtype``
        defaults to ``data.dtype``; ``shape`` to ``data.shape``. ``data`` may be any
        array-like, including a dask array (written shard-/chunk-aligned in parallel).
        zarr-python's ``compressors=`` and ``chunk_key_encoding=`` are accepted too.

        Raises
        ------
        FileExistsError
            ``name`` exists and ``overwrite`` is false.
        ValueError
            Invalid layout, or ``data`` that does not fit ``shape``.
        """
        self._check_writable()
        # linc-convert's ZarrConfig names (chunk=, shard=) mean chunks=, shards=.
        chunks = merge("create_array", "chunks", chunks, "chunk", zarr_kwargs.pop("chunk", None))
        shards = merge("create_array", "shards", shards, "shard", zarr_kwargs.pop("shard", None))
        compressor, compressor_opt, dimension_separator = _zarr_python_kwargs(
            zarr_kwargs, compressor, compressor_opt, dimension_separator
        )
        if data is not None and not _is_dask(data) and not hasattr(data, "shape"):
            data = np.asarray(data)
        if shape is None:
            if data is None:
                raise TypeError("create_array needs a shape (or data)")
            shape = data.shape
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if dtype is None:
            dtype = data.dtype if data is not None else np.float64
        spec = layout.resolve_array_spec(
            shape,
            dtype,
            zarr_version=self._zarr_version,
            config=zarr_config,
            chunks=chunks,
            shards=shards,
            fill_value=fill_value,
            compressor=compressor,
            compressor_opt=compressor_opt,
            dimension_separator=dimension_separator,
            order=order,
            attributes=md.to_json_value(dict(attributes), "attribute") if attributes else None,
            dimension_names=dimension_names,
        )
        name = validate_member_name(name)
        key = join_key(self._ref.path, name)
        if data is not None:  # everything is checked before an old member is removed
            check_data(data, spec, self._ref.location.join(name))
        with self._ref.kv.lock(key):
            name, info = self._prepare_member(name, overwrite, "array")
            if info is not None:
                self._ref.kv.delete_prefix(key)
            self._make_parents(name)
            ref = self._ref.child(name)
            new_info = self._array_cls._create_native(ref, spec)
        arr = self._array_cls._from_ref(ref, new_info)
        if data is not None:
            write_data(arr, data)
        return arr

    def create_array_from_base(
        self, name: str, shape: Sequence[int], data: Any = None, **kwargs: Any
    ) -> ZarrArray:
        """A new array with the layout (dtype, chunks, shards, codecs, fill value, order,
        separator) of the group's base level ``"0"``; ``kwargs`` override it."""
        self._check_writable()
        base = self["0"]
        if not isinstance(base, ZarrArray):
            raise KeyError(f"group {self.url} has no base array '0'")
        spec = base.spec
        opts: dict[str, Any] = dict(dtype=spec.dtype, overwrite=True, **_layout_kwargs(spec))
        opts.update(kwargs)
        dtype = opts.pop("dtype")
        return self.create_array(name, shape, dtype, data=data, **opts)


    # linc-convert's group methods (SPEC section 9) - ``generate_pyramid``,
    # ``write_ome_metadata`` and ``write_nifti_header`` - are defined in unizarr.linc,
    # above the pyramid/OME/NIfTI modules they delegate to, and installed on this
    # class when ``unizarr`` is imported: the node model imports no higher floor.


def _layout_kwargs(spec: ArraySpec) -> dict[str, Any]:
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


# -- data movement -----------------------------------------------------------------------
@contextmanager
def _engine_errors(arr: ZarrArray) -> Iterator[None]:
    """Engines report undecodable chunks and unreachable stores differently; users get
    :class:`~unizarr.CorruptDataError` / :class:`~unizarr.StoreUnavailableError` from
    both (see :func:`unizarr.errors.translate_engine_error`)."""
    try:
        yield
    except Exception as exc:
        mapped = translate_engine_error(exc, arr.url)
        if mapped is exc:
            raise
        raise mapped from exc


def _is_dask(obj: Any) -> bool:
    return type(obj).__module__.startswith("dask.") and hasattr(obj, "chunks") and hasattr(obj, "dask")


def _align_dask(data: Any, block: Sequence[int], offset: Sequence[int] | None = None) -> Any:
    """Rechunk ``data`` so every dask chunk boundary falls on a ``block`` boundary of the
    target (written at ``offset``): no two tasks then write the same chunk/shard."""
    offset = tuple(offset or (0,) * data.ndim)

    def aligned(chunks: tuple[int, ...], b: int, off: int) -> bool:
        return all((off + x) % b == 0 for x in np.cumsum(chunks)[:-1])

    if all(aligned(c, b, o) for c, b, o in zip(data.chunks, block, offset)):
        return data
    new_chunks = []
    for chunks, b, off, n in zip(data.chunks, block, offset, data.shape):
        # Whole blocks, about as large as the source chunks (keeps the task count sane).
        size = max(b, (max(chunks, default=b) // b) * b)
        cuts = [min(n, (b - off % b) % b)] if off % b else []
        rest = n - sum(cuts)
        while rest > 0:
            cuts.append(min(size, rest))
            rest -= cuts[-1]
        new_chunks.append(tuple(c for c in cuts if c) or (n,))
    return data.rechunk(tuple(new_chunks))


def check_data(data: Any, spec: ArraySpec, target: Location) -> None:
    """Check that ``data`` can fill a new array ``spec`` at ``target`` — called before an
    existing node there is removed, so a mistake never costs the old data.

    Raises
    ------
    ValueError
        ``data`` does not broadcast to the shape, cannot be cast to the dtype, or is
        (part of) the node the new array replaces.
    """
    shape = tuple(spec.shape)
    try:
        if np.broadcast_shapes(tuple(data.shape), shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"data of shape {tuple(data.shape)} does not fit the array shape {shape}"
        ) from None
    if isinstance(data, ZarrNode) and overlap(data._ref.location, target) is not None:
        raise ValueError(
            f"data {data.url} is the array that {target.url} would replace (or lies inside "
            "it); write it to another name first"
        )
    if isinstance(data, np.ndarray) and data.size:
        try:  # one element is enough to find data numpy cannot cast ("abc" -> int)
            np.asarray(data[(0,) * data.ndim]).astype(spec.dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"data of dtype {data.dtype} cannot be stored as {spec.dtype}: {exc}"
            ) from None


def write_data(arr: ZarrArray, data: Any) -> None:
    """Write ``data`` (numpy-like or dask) into the whole of ``arr``."""
    if _is_dask(data):
        import dask.array as da

        data = da.broadcast_to(data, arr.shape).astype(arr.dtype)
        da.store(_align_dask(data, arr.write_block), arr, lock=False)
    else:
        arr[...] = data


def copy_data(src: Any, dst: ZarrArray) -> None:
    """Copy ``src`` (a ZarrArray or any array-like with shape, dtype and slicing) into ``dst`` in destination-block-aligned pieces, in parallel,
    without holding the whole array in memory."""
    import dask.array as da

    if math.prod(src.shape) == 0:
        return
    block = dst.write_block
    # Pieces of a few destination blocks keep memory bounded and tasks coarse.
    lazy = da.from_array(src, chunks=block, asarray=True, lock=False, fancy=False)
    da.store(lazy, dst, lock=False)


def _zarr_python_kwargs(
    kwargs: dict[str, Any], compressor: Any, compressor_opt: Any, separator: Any
) -> tuple[Any, Any, Any]:
    """Accept the zarr-python keywords nifti-zarr and others pass to ``create_array``."""
    kwargs = dict(kwargs)
    if "compressors" in kwargs:
        comps = kwargs.pop("compressors")
        if compressor is None:
            compressor = layout.codec_from_object(comps)
    if "compressor" in kwargs:  # zarr v2-style single codec object
        comp = kwargs.pop("compressor")
        if compressor is None:
            compressor = layout.codec_from_object(comp)
    cke = kwargs.pop("chunk_key_encoding", None)
    if cke is not None and separator is None:
        if isinstance(cke, Mapping):
            separator = (cke.get("configuration") or {}).get("separator", cke.get("separator"))
            if separator is None:
                separator = "." if cke.get("name") == "v2" else "/"
        else:
            separator = getattr(cke, "separator", None)
    kwargs.pop("config", None)  # zarr-python's runtime config (memory order): not stored
    for name, neutral in (("filters", (None, "auto", [], ())), ("serializer", ("auto",))):
        if name in kwargs and kwargs[name] in neutral:
            kwargs.pop(name)
    if kwargs:
        raise TypeError(f"create_array got unexpected keyword arguments {sorted(kwargs)}")
    return compressor, compressor_opt, separator


def open_node(
    url: Any,
    mode: str,
    kind: str,
    *,
    driver: str | None,
    zarr_version: int | None,
    storage_options: dict[str, Any] | None,
    create_kwargs: dict[str, Any] | None = None,
) -> ZarrNode:
    """Open or create the node at ``url`` as the mode table says (see :mod:`unizarr.api`)."""
    mode = check_mode(mode)
    array_cls, group_cls = get_driver(driver)
    if zarr_version is not None:
        zarr_version = layout.normalize_zarr_version(zarr_version)
    location = parse_url(url)
    if location.is_local and location.path.lower().endswith(".ozx"):
        if is_writable(mode):
            raise ReadOnlyError(
                f"{location.url} is a zipped OME-Zarr (.ozx), read-only; write a directory "
                "store and pack it with `unizarr copy store.zarr out.ozx`"
            )
        if not os.path.isfile(location.path):
            raise FileNotFoundError(f"{location.url} does not exist")
    storage_options = dict(storage_options or {})
    read_only = not is_writable(mode) or location.read_only_scheme
    kv = group_cls._make_kv(location, storage_options, read_only)
    kv.follow_links = bool(storage_options.get(FOLLOW_SYMLINKS_OPTION))
    ref = NodeRef(group_cls.driver_name, location, "", kv, mode, storage_options)
    if read_only or mode == "r+":  # never creates: no lock needed
        return _open_or_create(ref, mode, kind, array_cls, group_cls, zarr_version, create_kwargs)
    # Detection, validation and creation happen under one lock, so two processes opening
    # a missing store with mode "a" agree on one node (and one Zarr version).
    data, node = None, None
    with kv.lock(""):
        node, data = _open_or_create(
            ref, mode, kind, array_cls, group_cls, zarr_version, create_kwargs, defer_data=True
        )
    if data is not None:
        write_data(node, data)
    return node


def _open_or_create(
    ref: NodeRef,
    mode: str,
    kind: str,
    array_cls: type[ZarrArray],
    group_cls: type[ZarrGroup],
    zarr_version: int | None,
    create_kwargs: dict[str, Any] | None,
    defer_data: bool = False,
) -> Any:
    location, kv = ref.root, ref.kv
    if mode == "w":
        check_not_a_file(location)  # before the engine reads (and would create) the path
    try:
        info = md.detect_node(kv, "")
    except PermissionError as exc:
        if isinstance(exc, ReadOnlyError):
            raise
        raise PermissionError(
            f"access to {location.url} was denied ({exc}); check the credentials in "
            "storage_options (key/secret, profile, anon) or the environment"
        ) from exc
    if info is not None and zarr_version is not None and info.zarr_version != zarr_version:
        if mode in ("r", "r+", "a"):  # w replaces the node; for w- existence wins
            raise ZarrVersionError(
                f"{location.url} holds Zarr v{info.zarr_version} metadata, not "
                f"v{zarr_version}; open it with zarr_version={info.zarr_version} (or None), "
                "or use mode='w' to replace it"
            )
    if info is not None and info.kind != kind and mode != "w":
        if mode in ("r", "r+"):
            raise FileNotFoundError(f"{location.url} is a Zarr {info.kind}, not a {kind}")
        raise FileExistsError(
            f"{location.url} is a Zarr {info.kind}; use mode='w' to replace it with a {kind}"
        )
    if location.read_only_scheme and mode in ("w", "w-"):
        raise ReadOnlyError(f"{location.url} is served over HTTP and is read-only; use mode='r'")
    action = plan_open(mode, info is not None, location.url)
    if mode == "w":  # replaces only an empty location or a Zarr node (docs/safety.md)
        check_node_replaceable(kv, location)
    if action is Action.OPEN:
        if info is None:  # plan_open opens only a node that exists
            raise FileNotFoundError(f"no Zarr {kind} at {location.url}")
        cls = array_cls if kind == "array" else group_cls
        if location.read_only_scheme:
            ref.mode = "r"  # r+/a on HTTP open for reading; any write raises ReadOnlyError
        node = cls._from_ref(ref, info)
        return (node, None) if defer_data else node
    if location.read_only_scheme:
        raise ReadOnlyError(f"{location.url} is served over HTTP and is read-only")
    version = zarr_version or 3
    if kind == "array":
        kw = dict(create_kwargs or {})
        if kw.get("shape") is None and kw.get("data") is None:
            raise FileNotFoundError(
                f"no array at {location.url}; pass shape= and dtype= to create one"
            )
        data = kw.pop("data", None)
        if data is not None and not _is_dask(data) and not hasattr(data, "shape"):
            data = np.asarray(data)
        # Validate everything (layout, data shape and dtype, aliasing) before the old
        # node is removed.
        shape = kw.pop("shape", None)
        spec = layout.resolve_array_spec(
            np.shape(data) if shape is None else shape,
            kw.pop("dtype", None) or getattr(data, "dtype", np.float64),
            zarr_version=version,
            config=kw.pop("zarr_config", None),
            **{k: kw.pop(k) for k in list(kw) if k in _SPEC_KWARGS},
        )
        if kw:
            raise TypeError(f"open_array got unexpected keyword arguments {sorted(kw)}")
        if data is not None:
            check_data(data, spec, location)
        if action is Action.REPLACE:
            kv.delete_prefix("")
        new_info = array_cls._create_native(ref, spec)
        arr = array_cls._from_ref(ref, new_info)
        if defer_data:
            return arr, data
        if data is not None:
            write_data(arr, data)
        return arr
    if create_kwargs:
        raise TypeError(f"open_group got unexpected keyword arguments {sorted(create_kwargs)}")
    if action is Action.REPLACE:
        kv.delete_prefix("")
    md.write_group(kv, "", version)
    grp = group_cls._from_ref(ref, md.NodeInfo("group", version, md.group_document(version)))
    return (grp, None) if defer_data else grp


_SPEC_KWARGS = (
    "chunks",
    "shards",
    "fill_value",
    "compressor",
    "compressor_opt",
    "dimension_separator",
    "order",
    "attributes",
)
