"""``ZarrNode`` / ``ZarrArray`` / ``ZarrGroup``: the abstract API and everything shared.

Drivers implement a handful of primitives (see :class:`ZarrArray` and
:class:`ZarrGroup`); every rule of the contract — modes, name checks, numpy indexing,
attributes, group semantics, layout resolution, copies — is applied here, once. The
rules themselves live in the modules below the node model: opening and creating
(:mod:`unizarr.creation`), the write-block grid (:mod:`unizarr.blocks`), dask I/O
(:mod:`unizarr.dask_io`), group members (:mod:`unizarr.members`) and attributes
(:mod:`unizarr.attributes`). Nothing here imports a higher floor (see
``tools/imports.py``).
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Self

import numpy as np

from . import blocks, documents, layout, level0_reuse, level1_ahead, members
from . import metadata as md
from .attributes import Attributes, MetadataDocument, rewrite_dimension_names
from .blocks import copy_data
from .creation import check_data, new_array_spec, open_engine, open_node, spec_of
from .dask_io import align_dask as _align_dask  # noqa: F401 - the former name, kept importable
from .dask_io import is_dask, store_dask, write_data
from .errors import (
    ReadOnlyError,
    engine_errors,
    translate_engine_error,
)
from .indexing import apply_post, normalize_key, value_block
from .integrity import check_allocation
from .kvstore import KVStore
from .layout import ArraySpec
from .modes import child_mode, is_writable
from .noderef import NodeRef
from .paths import (
    Location,
    join_key,
    validate_member_name,
)
from .registry import driver_from_token, driver_token, temp_suffixes
from .safety import overlap
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

__all__ = [
    "Attributes", "MetadataDocument", "NodeRef", "ZarrArray", "ZarrGroup", "ZarrNode",
    "check_data", "copy_data", "open_node", "write_data",
]


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

    # -- driver hook: the engine's errors ----------------------------------------------
    @staticmethod
    def _translate_engine_error(exc: BaseException, where: str) -> BaseException:
        """The exception users get for ``exc``, raised by this driver's engine while
        working on ``where`` (a URL): :class:`~unizarr.CorruptDataError` for undecodable
        data, :class:`~unizarr.StoreUnavailableError` for an unreachable store, ``exc``
        itself when it already means the right thing.

        The default (:func:`unizarr.errors.translate_engine_error`) knows only built-in
        exceptions; a driver overrides it for what its engine reports in its own way.
        """
        return translate_engine_error(exc, where)

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
    #: Name endings of the temporary files this driver's engine writes next to a block
    #: and renames onto it (what a killed writer leaves behind, see
    #: :meth:`remove_partial_writes`).
    TEMP_SUFFIXES: ClassVar[tuple[str, ...]] = ()
    #: Working memory of one write of a whole shard, in (uncompressed) shard sizes:
    #: how many concurrent shard writers a memory budget allows (the pyramid's one-pass
    #: level-0 writers). A driver that measures less declares less.
    SHARD_WRITE_UNIT: ClassVar[float] = layout.SHARD_WRITE_UNIT

    def _init_ref(self, ref: NodeRef, info: md.NodeInfo) -> None:
        super()._init_ref(ref, info)
        where = self._metadata_file()
        self._spec = spec_of(info.document, where)
        self._native = open_engine(self._open_native, where, self._translate_engine_error)

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
        of :func:`unizarr.documents.metadata_document`, so every driver produces the same
        files; the engine then opens it like any existing array."""
        doc = documents.metadata_document(spec)
        if spec.zarr_version == 2 and spec.attributes:
            doc["attributes"] = dict(spec.attributes)
        md.write_array(ref.kv, ref.path, dict(doc))
        return md.NodeInfo("array", spec.zarr_version, documents.metadata_document(spec))

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
        with self._metadata_lock():
            rewrite_dimension_names(self._ref.kv, self._ref.path, self.url, names)
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
        prefix, sep = self._key_encoding()
        return blocks.stored_blocks(
            self._ref.kv, self._ref.path, self.shape, self.write_block, prefix, sep
        )

    def remove_partial_writes(self) -> int:
        """Delete leftovers of interrupted atomic writes below this array on local disk:
        the temporary files of every driver (``TEMP_SUFFIXES`` of its array class:
        zarr-python's ``*.partial``, TensorStore's ``*.__lock``).

        A killed writer leaves them next to the blocks it was writing; they are never
        data. Object stores leave none. Returns the number of files removed.
        """
        self._check_writable()
        loc = self._ref.location
        if not loc.is_local or not os.path.isdir(loc.path):
            return 0
        self._ref.kv.check_inside(self._ref.path, "clean up")
        # Every driver's leftovers, not only this one's: a store written by one driver
        # may be resumed with another.
        return blocks.remove_partial_files(loc.path, temp_suffixes())

    def delete_block(self, index: Sequence[int]) -> None:
        """Remove the stored write block at grid ``index`` (see :meth:`stored_blocks`);
        its region then reads as the fill value. Used to drop a block torn by a crash
        before it is rewritten (writers may read a partial edge block back)."""
        self._check_writable()
        level0_reuse.forget(self)
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
        return blocks.block_key(index, *self._key_encoding())

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
        doc: Mapping[str, Any] = {}
        if self._spec.shards is not None and self._zarr_version == 3:
            doc = md.read_json(self._ref.kv, join_key(self._ref.path, md.V3_KEY)) or {}
        result = blocks.block_check(doc, self._spec.shards, self._spec.chunks,
                                    self._spec.compressor.name, self._zarr_version)
        self.__dict__["_block_check_cache"] = result
        return result

    def _check_block_dirs_inside(self, region: tuple[slice, ...]) -> None:
        """With "/"-separated block keys, the engine writes into nested directories of
        the array (``c/0/1``): refuse a write whose block directory a symlink leads out
        of the store (one ``realpath`` per distinct directory, local disk only)."""
        kv = self._ref.kv
        if kv.local_root is None or kv.follow_links:
            return
        blocks.check_block_dirs_inside(
            kv, self._ref.path, region, self.write_block, *self._key_encoding()
        )

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
        blocks.check_stored_blocks(
            self._ref.location.path, self.url, region, self.write_block, kind, n,
            *self._key_encoding(),
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
        result = blocks.key_encoding(doc, sep)
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
            with engine_errors(self):
                block = self._read(sel.region)
        return apply_post(block, sel)

    def __setitem__(self, key: Any, value: Any) -> None:
        """Write with numpy basic indexing; values broadcast and cast as numpy does."""
        self._check_writable()
        sel = normalize_key(key, self.shape)
        level0_reuse.forget(self)  # any write ends what was known of the content
        # Chunk files are written by the engine, not through the key-value store: check
        # here that the array's directory has not been linked out of the store root.
        self._ref.kv.check_inside(self._ref.path, "write data of")
        if is_dask(value) and sel.trivial and not sel.empty:
            store_dask(self, value, sel.region)  # each dask block comes back here
            return
        check_allocation(sel.region_shape, self.dtype, f"writing {self.url}")
        if not sel.empty:  # (after the allocation check: bounded by a real buffer)
            self._check_block_dirs_inside(sel.region)
        block = value_block(value, sel, self.dtype)  # ValueError before any write
        if not sel.empty:
            # A whole write of level 0 from numpy may reduce it to level 1 meanwhile, on
            # a second thread (unizarr.level1_ahead); the pyramid then starts there.
            eligible = level0_reuse.would_remember(self, sel, value)  # (checked once)
            with engine_errors(self):
                level1 = level1_ahead.write(
                    self, block, eligible, lambda: self._write(sel.region, block)
                )
            # the pyramid may reuse ``value``
            level0_reuse.remember(self, sel, value, level1, eligible=eligible)

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
        return members.hidden_key(self._ref.path, name)

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
        return members.list_members(self._ref.kv, self._ref.path, self._zarr_version,
                                    self._declared_members)

    def _declared_members(self) -> list[str] | None:
        """Members named by this group's metadata (``None``: it names none)."""
        return members.declared_members(self.attrs.asdict())

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
            level0_reuse.forget(self, name)
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
            data = value if is_dask(value) or isinstance(value, np.ndarray) else np.asarray(value)
            self.create_array(name, data.shape, data.dtype, data=data, overwrite=True)

    def _copy_array(self, name: str, src: ZarrArray) -> ZarrArray:
        spec = src.spec
        spec = replace(spec, shards=layout.shards_on(self._zarr_version, spec.shards))
        dst = self.create_array(
            name, spec.shape, spec.dtype, attributes=src.attrs.asdict(), overwrite=True,
            **layout.create_kwargs(spec),
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
        info = members.check_new_member(
            self._ref.kv, self._ref.path, self._zarr_version, self.url, name, overwrite, kind
        )
        return name, info

    def _make_parents(self, name: str) -> None:
        members.make_parents(self._ref.kv, self._ref.path, self._zarr_version, name)

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
        spec, data = new_array_spec(
            self._zarr_version, "create_array", shape, dtype, data=data,
            zarr_config=zarr_config, chunks=chunks, shards=shards, fill_value=fill_value,
            compressor=compressor, compressor_opt=compressor_opt,
            dimension_separator=dimension_separator, order=order, attributes=attributes,
            dimension_names=dimension_names, **zarr_kwargs,
        )
        name = validate_member_name(name)
        key = join_key(self._ref.path, name)
        if data is not None:  # everything is checked before an old member is removed
            check_data(data, spec, self._ref.location.join(name))
        with self._ref.kv.lock(key):
            name, info = self._prepare_member(name, overwrite, "array")
            if info is not None:
                level0_reuse.forget(self, name)
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
        opts: dict[str, Any] = dict(dtype=spec.dtype, overwrite=True, **layout.create_kwargs(spec))
        opts.update(kwargs)
        dtype = opts.pop("dtype")
        return self.create_array(name, shape, dtype, data=data, **opts)


    # linc-convert's group methods (SPEC section 9) - ``generate_pyramid``,
    # ``write_ome_metadata`` and ``write_nifti_header`` - are defined in unizarr.linc,
    # above the pyramid/OME/NIfTI modules they delegate to, and installed on this
    # class when ``unizarr`` is imported: the node model imports no higher floor.
