"""The ``"zarr-python"`` driver: ``ZarrPythonArray`` / ``ZarrPythonGroup`` on zarr-python 3.

Only the primitives live here: a key-value adapter over zarr-python's ``Store`` and the
array read/write calls. Everything else is shared (:mod:`unizarr.core`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from concurrent.futures import wait as futures_wait
from typing import Any

import numpy as np
import zarr
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from .. import metadata as md
from ..core import NodeRef, ZarrArray, ZarrGroup
from ..errors import StoreUnavailableError, UnizarrError
from ..errors import translate_engine_error as generic_translation
from ..kvstore import KVStore
from ..ozx import is_ozx
from ..paths import Location, join_key
from ..registry import register_driver
from ..storage import check_options, fsspec_target
from ..threads import shared_pool, shared_semaphore, usable_cpus
from . import _cached_reads as cached_reads
from ._shard_writer import ShardEncoder

#: ``memory://`` stores of this process, shared by every handle (and by both drivers'
#: notion of "the same URL" within one process).
_MEMORY: dict[str, Any] = {}
_MEMORY_LOCK = threading.Lock()


#: Connection failures of the fsspec filesystems zarr-python reaches remote stores
#: through (botocore for s3fs, aiohttp for gcsfs and HTTP), matched by name so that
#: none of those packages is imported to recognise them.
_UNAVAILABLE_TYPES = frozenset({
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
    "ConnectionClosedError", "ClientConnectorError", "ServerDisconnectedError",
    "ClientOSError", "ServerTimeoutError", "TimeoutError",
})


def translate_engine_error(exc: BaseException, where: str) -> BaseException:
    """zarr-python's (and fsspec's) failures as unizarr's: connection errors of s3fs /
    gcsfs / aiohttp -> :class:`~unizarr.StoreUnavailableError`, the rest as every
    driver (:func:`unizarr.errors.translate_engine_error`)."""
    if isinstance(exc, UnizarrError):
        return exc
    if _UNAVAILABLE_TYPES & {t.__name__ for t in type(exc).__mro__}:
        return StoreUnavailableError(f"could not reach the store of {where}: {exc}")
    return generic_translation(exc, where)


async def _collect(agen: Any) -> list[str]:
    return [x async for x in agen]


def _translated(method: Any) -> Any:
    """Raise engine failures (s3fs/aiohttp connection errors, ...) as unizarr's."""

    @functools.wraps(method)
    def call(self: ZarrPythonKV, *args: Any) -> Any:
        try:
            return method(self, *args)
        except Exception as exc:
            mapped = translate_engine_error(exc, str(self.store))
            if mapped is exc or not isinstance(mapped, StoreUnavailableError):
                raise
            raise mapped from exc

    return call


class ZarrPythonKV(KVStore):
    """:class:`~unizarr.kvstore.KVStore` over a zarr-python ``Store`` (keys below ``prefix``)."""

    def __init__(self, store: Store, prefix: str = "") -> None:
        self.store = store
        self.prefix = prefix.strip("/")
        self.read_only = bool(store.read_only)
        if isinstance(store, LocalStore) and not self.prefix:
            self.local_root = str(store.root)

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key) if key else self.prefix

    def _root_missing(self) -> bool:
        # zarr's LocalStore creates its root when first opened; probing a missing node
        # must not leave an empty directory behind, so reads short-cut here.
        return isinstance(self.store, LocalStore) and not self.store.root.exists()

    @_translated
    def get(self, key: str) -> bytes | None:
        if self._root_missing():
            return None
        buf = sync(self.store.get(self._key(key), prototype=default_buffer_prototype()))
        return None if buf is None else buf.to_bytes()

    @_translated
    def _set(self, key: str, value: bytes) -> None:
        # LocalStore writes to a temporary file and renames it: atomic on local disk.
        sync(self.store.set(self._key(key), default_buffer_prototype().buffer.from_bytes(value)))

    @_translated
    def _delete_prefix(self, prefix: str) -> None:
        key = self._key(prefix)
        if isinstance(self.store, LocalStore):
            path = self.store.root / key if key else self.store.root
            cached_reads.forget_below(str(path))
            if path.is_file() or path.is_symlink():
                path.unlink()
                return
        if key:
            sync(self.store.delete(key))
            sync(self.store.delete_dir(key))
        else:
            for k in sync(_collect(self.store.list_prefix(""))):
                sync(self.store.delete(k))
            if isinstance(self.store, LocalStore) and self.store.root.exists():
                import shutil

                shutil.rmtree(self.store.root)

    @_translated
    def list_dir(self, prefix: str) -> list[str]:
        if self._root_missing():
            return []
        key = self._key(prefix)
        # fsspec's HTTP listing reports "directories" with a trailing slash
        names = {n.rstrip("/") for n in sync(_collect(self.store.list_dir(key)))}
        return [n for n in names if n]

    @_translated
    def size_prefix(self, prefix: str) -> int:
        if self._root_missing():
            return 0
        key = self._key(prefix)
        if not key:
            return int(sync(self.store.getsize_prefix("")))
        # zarr-python matches the prefix as a string ("a" also sizes "ab", "a.b/x" on
        # memory and object stores): size the key itself and what lies below "a/".
        below = int(sync(self.store.getsize_prefix(key + "/")))
        # (exists() is False for a local directory, whose getsize() is its inode size)
        own = int(sync(self.store.getsize(key))) if sync(self.store.exists(key)) else 0
        return below + own

    def store_path(self, path: str) -> Any:
        from zarr.storage import StorePath

        return StorePath(self.store, self._key(path))


def _make_store(location: Location, storage_options: dict[str, Any], read_only: bool) -> tuple[Store, str]:
    """The zarr-python store (and key prefix inside it) of a location."""
    check_options(storage_options)
    if location.scheme == "file":
        if is_ozx(location.path):  # zipped OME-Zarr (RFC-9): read-only, see unizarr.ozx
            from zarr.storage import ZipStore

            return sync(ZipStore.open(location.path, mode="r", read_only=True)), ""
        return LocalStore(location.path, read_only=read_only), ""
    if location.scheme == "memory":
        with _MEMORY_LOCK:
            shared = _MEMORY.setdefault("", {})
        return MemoryStore(shared, read_only=read_only), location.path
    from zarr.storage import FsspecStore

    url, kwargs = fsspec_target(location, storage_options)
    read_only = read_only or location.read_only_scheme
    return FsspecStore.from_url(url, storage_options=kwargs, read_only=read_only), ""


def _c_order(x: np.ndarray) -> np.ndarray:
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one.)
    return x if x.flags.c_contiguous else x.copy(order="C")


def _pool() -> Any:
    return shared_pool("zarr-write", usable_cpus())


def _encode_pool() -> Any:
    # (not the "zarr-write" pool: its threads wait on these tasks)
    return shared_pool("zarr-encode", usable_cpus())




def _whole_blocks(region: tuple[slice, ...], block: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether ``region`` covers whole write blocks only (clipped at the array's edge)."""
    return all(
        s.step in (1, None) and s.start % b == 0 and (s.stop % b == 0 or s.stop == n) and s.stop > s.start
        for s, b, n in zip(region, block, shape)
    )


def _encode_slots() -> threading.BoundedSemaphore:
    return shared_semaphore("zarr-shard-encode", usable_cpus())


def _shard_slots() -> threading.BoundedSemaphore:
    return shared_semaphore("zarr-shards", max(1, usable_cpus() // 2))


def _split(
    region: tuple[slice, ...], block: tuple[int, ...]
) -> Iterator[tuple[tuple[slice, ...], tuple[slice, ...]]]:
    """The block-aligned parts of a block-aligned ``region``: (array slices, slices of
    the region's value)."""
    from itertools import product

    ranges = [range(s.start, s.stop, b) for s, b in zip(region, block)]
    for starts in product(*ranges):
        sub = tuple(slice(a, min(a + b, s.stop)) for a, b, s in zip(starts, block, region))
        local = tuple(slice(q.start - s.start, q.stop - s.start) for q, s in zip(sub, region))
        yield sub, local


def _every_chunk_holds_data(
    region: tuple[slice, ...],
    value: np.ndarray,
    chunks: tuple[int, ...],
    write_block: tuple[int, ...],
    shape: tuple[int, ...],
    fill: Any,
) -> bool:
    """Whether writing ``value`` to ``region`` stores every chunk it touches, whole, with
    some voxel that is not the fill value (checked on each chunk's first voxel only: an
    answer of ``False`` just means "let zarr-python check")."""
    if value.size == 0 or value.dtype.kind not in "biufc":
        return False
    for s, b, n in zip(region, write_block, shape):
        # whole write blocks only: zarr-python merges a partial block with the stored
        # data, which this check does not see
        if s.step != 1 or s.start % b or (s.stop % b and s.stop != n):
            return False
    if fill is None:  # Zarr v2 without a fill value: every chunk is stored
        return True
    firsts = value[tuple(slice(None, None, c) for c in chunks)]
    try:
        fill = np.asarray(fill, dtype=value.dtype)
    except (TypeError, ValueError):
        return False
    same = firsts == fill
    if value.dtype.kind in "fc":
        same |= np.isnan(firsts) & np.isnan(fill)
    return not same.any()


class ZarrPythonArray(ZarrArray):
    """Zarr array implemented with zarr-python.

    Parameters
    ----------
    array : zarr.Array
        An array opened with zarr-python; it is wrapped as is (mode ``"r"`` when its
        store is read-only, else ``"r+"``).
    """

    # LocalStore writes "<key>.<uuid>.partial" and renames it onto the key
    TEMP_SUFFIXES = (".partial",)
    _translate_engine_error = staticmethod(translate_engine_error)

    def __init__(self, array: zarr.Array) -> None:
        ref, info = _ref_from_native(array.store_path, "array", type(self).driver_name)
        self._init_ref(ref, info)

    def _open_native(self) -> zarr.Array:
        return self._open(dense=False)

    def _open(self, *, dense: bool) -> zarr.Array:
        kv: ZarrPythonKV = self._ref.kv  # type: ignore[assignment]
        arr = zarr.open_array(
            store=kv.store_path(self._ref.path),
            mode="r" if kv.read_only else "r+",
            zarr_format=self._zarr_version,  # type: ignore[arg-type]  # 2 or 3, checked on open
        )
        return self._configure(arr.with_config({"write_empty_chunks": True}) if dense else arr)

    def _configure(self, arr: zarr.Array) -> zarr.Array:
        """Hook for drivers built on this one: adjust each freshly opened ``zarr.Array``
        (the ``zarrs`` driver installs its codec pipeline here)."""
        return arr

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        plan = cached_reads.plan(self, region)
        if plan is None:
            # not served by the decoded-chunk cache: the damage check, then zarr-python
            ZarrArray._check_stored_blocks(self, region)
            return np.asarray(self._native[region])
        return cached_reads.read(self, region, plan)

    def _check_stored_blocks(self, region: tuple[slice, ...]) -> None:
        # Done by _read, per block and only for blocks it decodes: a chunk served from
        # the cache was checked and decoded from a stored object that has not changed.
        return

    def _write(self, region: tuple[slice, ...], value: np.ndarray) -> None:
        try:
            self._write_blocks(region, value)
        finally:
            # (also after a failed write: some blocks may have been replaced)
            cached_reads.forget(self, region)

    def _write_blocks(self, region: tuple[slice, ...], value: np.ndarray) -> None:
        native = self._native
        dense_ok = _every_chunk_holds_data(
            region, value, self.chunks, self.write_block, self.shape, native.fill_value
        )
        if self.chunks != self.write_block and _whole_blocks(region, self.write_block, self.shape):
            encoder = self._shard_encoder_dense if dense_ok else self._shard_encoder
            if encoder is not None:
                self._write_shards(encoder, region, value, self._dense if dense_ok else native)
                return
        if not dense_ok:
            native[region] = value
            return
        # zarr-python compares every chunk with the fill value (to skip storing empty
        # ones) on its event-loop thread, one chunk after another: a third of the time
        # of a pyramid build. A whole-block write whose chunks all differ from the fill
        # value in their first voxel stores every chunk anyway, so skip the check.
        dense = self._dense
        # Unsharded, each call gets one C-contiguous chunk, copied in the caller's
        # threads: zarr-python would otherwise copy it out of ``value`` on its event-loop
        # thread, one chunk at a time. Sharded, zarr-python's sharding codec copies the
        # inner chunks out anyway; a contiguous copy of the shard would only add memory.
        sharded = self.chunks != self.write_block
        copy = (lambda x: x) if sharded else _c_order
        # The sharding codec encodes a shard's inner chunks in parallel already and holds
        # them all until the shard is assembled: on local disk, more shards in flight than
        # one per two cores add memory (1.75x -> 1.55x the input for a 512^3 pyramid
        # with 256^3 shards), not speed. Object stores keep their latency-hiding
        # concurrency.
        slots = _shard_slots() if sharded and isinstance(getattr(self._ref.kv, "store", None), LocalStore) else None

        def one(sub: tuple[slice, ...], local: tuple[slice, ...]) -> None:
            if slots is None:
                dense[sub] = copy(value[local])
                return
            with slots:
                dense[sub] = copy(value[local])

        blocks = list(_split(region, self.write_block))
        if len(blocks) == 1:
            one(*blocks[0])
            return
        list(_pool().map(lambda b: one(*b), blocks))

    def _write_shards(
        self, encoder: ShardEncoder, region: tuple[slice, ...], value: np.ndarray, target: zarr.Array
    ) -> None:
        """Write the whole shards of ``region`` through ``encoder`` (see
        :mod:`._shard_writer`).

        Several shards: one per core at a time, each encoded and stored by one thread
        of the encoding pool (so the cores never wait on one another). One shard: its
        inner chunks encoded on every core. On local disk, the shards in flight are
        bounded per process (one per core, shared by every caller: the pyramid builder
        writes from several threads) because each holds its encoded chunks and their
        concatenation until stored (~40 MiB per 256^3 uint16 shard). Slots are taken by
        the submitting thread, never by a pool thread, so pool threads never wait on a
        caller that waits on them. All encoding runs on the same few threads: each
        thread that allocates chunk buffers keeps a malloc arena of its own."""
        shard = self.write_block
        local = isinstance(getattr(self._ref.kv, "store", None), LocalStore)
        slots = _encode_slots() if local else None
        blocks = list(_split(region, self.write_block))
        pool = _encode_pool() if usable_cpus() > 1 else None
        parallel = len(blocks) > 1 and pool is not None

        def one(block: tuple[tuple[slice, ...], tuple[slice, ...]], inner: Any) -> None:
            sub, local_sel = block
            index = tuple(s.start // b for s, b in zip(sub, shard))
            if encoder.covers_outside_chunks(sub) and encoder.exists(index):
                # a stored edge shard may hold chunks outside the array, which
                # zarr-python's own (partial) write keeps: let it merge them
                target[sub] = value[local_sel]
                return
            encoder.write(index, value[local_sel], inner)

        if not parallel:
            for b in blocks:
                if slots is None:
                    one(b, pool)
                else:
                    with slots:
                        one(b, pool)
            return
        if pool is None:  # parallel writes are only chosen with a pool
            raise RuntimeError("parallel shard writes without a thread pool")
        futures = []
        try:
            for b in blocks:
                if slots is not None:
                    slots.acquire()
                try:
                    future = pool.submit(one, b, None)
                except BaseException:
                    if slots is not None:
                        slots.release()
                    raise
                if slots is not None:
                    future.add_done_callback(lambda _f: slots.release())
                futures.append(future)
        finally:
            # every submitted shard ends (stored or failed) before the write returns
            futures_wait(futures)
        for f in futures:
            f.result()

    @functools.cached_property
    def _shard_encoder(self) -> ShardEncoder | None:
        """Whole-shard encoder of the array as configured (empty chunks omitted)."""
        return ShardEncoder.for_array(self._native)

    @functools.cached_property
    def _shard_encoder_dense(self) -> ShardEncoder | None:
        """Whole-shard encoder storing every chunk (see :attr:`_dense`)."""
        return ShardEncoder.for_array(self._dense)

    @functools.cached_property
    def _dense(self) -> zarr.Array:
        """The array, configured not to check chunks for the fill value."""
        return self._open(dense=True)

    def __getattr__(self, name: str) -> Any:
        """Delegate unknown attributes to the wrapped ``zarr.Array`` (seed behaviour)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._native, name)


class ZarrPythonGroup(ZarrGroup):
    """Zarr group implemented with zarr-python.

    Parameters
    ----------
    zarr_group : zarr.Group
        A group opened with zarr-python; it is wrapped as is.
    """

    _translate_engine_error = staticmethod(translate_engine_error)

    def __init__(self, zarr_group: zarr.Group) -> None:
        ref, info = _ref_from_native(zarr_group.store_path, "group", type(self).driver_name)
        self._init_ref(ref, info)

    @classmethod
    def _make_kv(
        cls, location: Location, storage_options: dict[str, Any], read_only: bool
    ) -> KVStore:
        store, prefix = _make_store(location, storage_options, read_only)
        return ZarrPythonKV(store, prefix)

    @property
    def native(self) -> zarr.Group:
        """The group as a ``zarr.Group`` (opened on first use)."""
        kv: ZarrPythonKV = self._ref.kv  # type: ignore[assignment]
        return zarr.open_group(
            store=kv.store_path(self._ref.path),
            mode="r" if kv.read_only else "r+",
            zarr_format=3 if self._zarr_version == 3 else 2,
        )

    @classmethod
    def from_config(cls, out: Any, zarr_config: Any) -> ZarrPythonGroup:
        """Create the root group of ``out`` as ``zarr_config`` says (see
        :func:`unizarr.from_config`)."""
        from ..api import from_config

        return from_config(out, zarr_config, driver=cls.driver_name)  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        """Delegate unknown attributes to the wrapped ``zarr.Group`` (seed behaviour)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.native, name)


def _ref_from_native(store_path: Any, kind: str, driver: str) -> tuple[NodeRef, md.NodeInfo]:
    store = store_path.store
    if isinstance(store, LocalStore):
        root = Location("file", str(store.root))
    else:
        root = Location("memory", f"zarr-python-{id(store)}")
    kv = ZarrPythonKV(store)
    mode = "r" if store.read_only else "r+"
    ref = NodeRef(driver, root, store_path.path, kv, mode)
    info = md.detect_node(kv, store_path.path)
    if info is None or info.kind != kind:
        raise FileNotFoundError(f"no Zarr {kind} at {store_path}")
    return ref, info


register_driver("zarr-python", ZarrPythonArray, ZarrPythonGroup)
