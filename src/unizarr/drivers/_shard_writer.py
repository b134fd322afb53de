"""Whole-shard writes of the zarr-python driver with the inner chunks encoded in parallel.

zarr-python 3.1 writes every shard through its sharding codec's *partial* path, even when
a write covers the whole shard: on its single event-loop thread it first allocates a
fill-valued buffer for each inner chunk and copies the chunk into it, and only then
hands the chunk to a thread for compression. On two cores that serial copy is the
bottleneck of a level-0 write (about half the event-loop thread's time, a 1024³ uint16
write at 2.1x raw TensorStore).

:class:`ShardEncoder` writes a shard the write covers whole itself: each inner chunk is
copied out of the value and encoded by zarr-python's own codec objects, in the caller's
thread pool (numpy copies and the compressors release the GIL), the chunks are laid out
in Morton order behind (or before) the index the way zarr-python's sharding codec lays
them out, and the shard is stored with one ``store.set``, as zarr-python stores it
(atomically on local disk). The stored bytes are zarr-python's, byte for byte: the same
encoders, the same omission of chunks equal to the fill value (unless
``write_empty_chunks``), the same padding of chunks that cross the array's edge, the same
deletion of a shard left without chunks (``tests/drivers/test_zarr_python_shard_writes.py``
compares every file).

It is used only where that equivalence is known to hold (:meth:`ShardEncoder.for_array`
returns ``None`` otherwise, and zarr-python writes): Zarr v3 arrays with one
``sharding_indexed`` codec over a regular grid, zarr-python's own
``BatchedCodecPipeline`` (not the zarrs driver's), inner and index codecs from a fixed
list whose synchronous encoders are the ones zarr-python's asynchronous ones call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

try:  # zarr-python internals (3.1): without them, zarr-python writes every shard itself
    from zarr.codecs.sharding import (
        MAX_UINT_64,
        ShardingCodec,
        ShardingCodecIndexLocation,
        _ShardIndex,
    )
    from zarr.core.array_spec import ArraySpec
    from zarr.core.chunk_grids import RegularChunkGrid
    from zarr.core.codec_pipeline import BatchedCodecPipeline, fill_value_or_default
    from zarr.core.indexing import morton_order_iter
    from zarr.storage import LocalStore
    from zarr.storage._local import _atomic_write

    _INTERNALS = True
except ImportError:  # pragma: no cover - another zarr-python
    _INTERNALS = False

#: The zarr-python line whose shard layout and internals this module was checked
#: against, file by file (tests/drivers/test_zarr_python_shard_writes.py). Another
#: line (zarr 3.2+ moved these internals) writes its shards itself: same files, its
#: own speed, until this module is checked against it.
VERIFIED_ZARR = (3, 1)


def _zarr_line() -> tuple[int, ...]:
    import zarr

    return tuple(int(p) for p in zarr.__version__.split(".")[:2] if p.isdigit())


#: Whether whole shards are encoded here (see :data:`VERIFIED_ZARR`).
AVAILABLE = _INTERNALS and _zarr_line() == VERIFIED_ZARR

#: Codecs whose ``_encode_sync`` is exactly what their ``_encode_single`` runs (zarr 3.1).
_SYNC_CODECS = frozenset({
    "BytesCodec", "BloscCodec", "ZstdCodec", "GzipCodec", "Crc32cCodec", "TransposeCodec",
})


def _encoder(codecs: Sequence[Any], spec: Any) -> Callable[[Any], Any] | None:
    """A function encoding one NDBuffer of ``spec`` through ``codecs`` (array->array,
    array->bytes, bytes->bytes, in that order) synchronously; ``None`` when one of them
    is not known to encode synchronously the way zarr-python encodes it."""
    if any(type(c).__name__ not in _SYNC_CODECS for c in codecs):
        return None
    steps = []
    for codec in codecs:
        steps.append((codec, spec))
        spec = codec.resolve_metadata(spec)

    def encode(chunk: Any) -> Any:
        for codec, s in steps:
            chunk = codec._encode_sync(chunk, s)
            if chunk is None:
                return None
        return chunk

    return encode


class ShardEncoder:
    """Encodes and stores whole shards of one zarr-python array (see the module doc).

    Build it with :meth:`for_array`.
    """

    def __init__(self, array: Any, sharding: Any, shard_spec: Any, chunk_encode: Any,
                 index_encode: Any) -> None:
        meta = array.metadata
        self._store = array.store_path.store
        local = isinstance(self._store, LocalStore) and not self._store.read_only
        self._local_root: Path | None = Path(self._store.root) if local else None
        self._path = array.store_path.path
        self._encode_key = meta.encode_chunk_key
        self.shape: tuple[int, ...] = tuple(meta.shape)
        self.shard: tuple[int, ...] = tuple(shard_spec.shape)
        self.chunk: tuple[int, ...] = tuple(sharding.chunk_shape)
        self._per_shard = tuple(s // c for s, c in zip(self.shard, self.chunk))
        # (Morton order is how zarr-python's sharding codec lays chunks out in a shard.)
        self._order = list(morton_order_iter(self._per_shard))
        self._sharding = sharding
        self._shard_spec = shard_spec
        self._chunk_spec = sharding._get_chunk_spec(shard_spec)
        self._encode_chunk = chunk_encode
        self._encode_index = index_encode
        self._at_start = sharding.index_location == ShardingCodecIndexLocation.start
        self._write_empty = bool(shard_spec.config.write_empty_chunks)
        self._prototype = default_buffer_prototype()
        self.dtype = np.dtype(meta.data_type.to_native_dtype())
        self._fill = fill_value_or_default(self._chunk_spec)

    @classmethod
    def for_array(cls, array: Any) -> ShardEncoder | None:
        """The encoder of ``array`` (a ``zarr.Array``), or ``None`` when zarr-python must
        write its shards itself (not sharded, another codec pipeline, an unknown codec,
        a zarr-python without the internals relied on)."""
        if not AVAILABLE:
            return None
        try:
            native = array._async_array
            meta = native.metadata
            if getattr(meta, "zarr_format", None) != 3 or not isinstance(meta.chunk_grid, RegularChunkGrid):
                return None
            if type(native.codec_pipeline) is not BatchedCodecPipeline:
                return None  # e.g. the zarrs driver's pipeline: its own shard layout
            codecs = list(meta.codecs)
            if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
                return None
            sharding = codecs[0]
            shard_spec = ArraySpec(
                shape=tuple(meta.chunk_grid.chunk_shape), dtype=meta.data_type,
                fill_value=meta.fill_value, config=native.config,
                prototype=default_buffer_prototype(),
            )
            if any(s % c for s, c in zip(shard_spec.shape, sharding.chunk_shape)):
                return None
            chunk_spec = sharding._get_chunk_spec(shard_spec)
            chunk_encode = _encoder(sharding.codecs, chunk_spec)
            per_shard = sharding._get_chunks_per_shard(shard_spec)
            index_encode = _encoder(sharding.index_codecs, sharding._get_index_chunk_spec(per_shard))
            if chunk_encode is None or index_encode is None:
                return None
            return cls(array, sharding, shard_spec, chunk_encode, index_encode)
        except (ImportError, AttributeError, TypeError):  # another zarr-python: its own path
            return None

    # -- one shard ---------------------------------------------------------------------
    def key(self, index: Sequence[int]) -> str:
        """The store key of the shard at grid ``index``."""
        k = self._encode_key(tuple(int(i) for i in index))
        return f"{self._path}/{k}" if self._path else k

    def covers_outside_chunks(self, region: tuple[slice, ...]) -> bool:
        """Whether the shard of ``region`` (a whole shard, clipped at the array's edge)
        has inner chunks wholly outside the array, which a stored shard may hold and
        zarr-python's partial write would keep."""
        return any(
            (s.start + (n_in - 1) * c) >= n
            for s, n_in, c, n in zip(region, self._per_shard, self.chunk, self.shape)
        )

    def exists(self, index: Sequence[int]) -> bool:
        return bool(sync(self._store.exists(self.key(index))))

    def _encode_one(self, value: np.ndarray, coords: tuple[int, ...]) -> Any:
        """The encoded inner chunk at ``coords`` of the shard ``value`` (None when it is
        omitted: outside the value, or equal to the fill value)."""
        sel = tuple(slice(i * c, (i + 1) * c) for i, c in zip(coords, self.chunk))
        part = value[sel]
        if part.size == 0:
            return None  # wholly outside the array: zarr-python never touches it
        if part.shape == self.chunk:
            block = np.array(part, dtype=self.dtype, order="C", copy=True)
        else:  # crosses the array's edge: padded with the fill value, as zarr-python pads
            block = np.full(self.chunk, self._fill, dtype=self.dtype)
            block[tuple(slice(0, n) for n in part.shape)] = part
        nd = self._prototype.nd_buffer.from_numpy_array(block)
        if not self._write_empty and nd.all_equal(self._fill):
            return None
        return self._encode_chunk(nd)

    def encode(self, value: np.ndarray, pool: Executor | None) -> list[Any] | None:
        """The stored form of a whole shard holding ``value`` (its part inside the array,
        C order), as the buffers to store one after the other, or ``None`` when every
        inner chunk is omitted."""
        coords = self._order
        if pool is None:
            encoded = [self._encode_one(value, c) for c in coords]
        else:
            encoded = list(pool.map(lambda c: self._encode_one(value, c), coords))
        index = _ShardIndex.create_empty(self._per_shard)
        buffers = []
        start = 0
        for c, buf in zip(coords, encoded):
            if buf is None or len(buf) == 0:
                continue
            buffers.append(buf)
            index.set_chunk_slice(c, slice(start, start + len(buf)))
            start += len(buf)
        if not buffers:
            return None
        index_bytes = self._index_bytes(index)
        if self._at_start:
            used = index.offsets_and_lengths[..., 0] != MAX_UINT_64
            index.offsets_and_lengths[used, 0] += len(index_bytes)
            buffers.insert(0, self._index_bytes(index))
        else:
            buffers.append(index_bytes)
        return buffers

    def _index_bytes(self, index: Any) -> Any:
        nd = self._prototype.nd_buffer.from_numpy_array(index.offsets_and_lengths)
        return self._encode_index(nd)

    def write(self, index: Sequence[int], value: np.ndarray, pool: Executor | None) -> None:
        """Store the whole shard at grid ``index`` holding ``value`` (delete it when no
        inner chunk is stored, as zarr-python does)."""
        self.store(index, self.encode(value, pool))

    def store(self, index: Sequence[int], parts: list[Any] | None) -> None:
        """Store ``parts`` (from :meth:`encode`) as the shard at grid ``index``."""
        key = self.key(index)
        if parts is None:
            sync(self._store.delete(key))
        elif self._local_root is not None:
            # zarr-python's LocalStore.set, minus joining the parts into one more copy
            # of the shard: the same temporary file and rename (atomic), part by part
            path = self._local_root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            with _atomic_write(path, "wb") as f:
                for part in parts:
                    f.write(part.as_buffer_like())
        else:
            sync(self._store.set(key, self._prototype.buffer.create_zero_length().combine(parts)))

    @property
    def shard_nbytes(self) -> int:
        """Bytes of one decoded shard."""
        return math.prod(self.shard) * self.dtype.itemsize
