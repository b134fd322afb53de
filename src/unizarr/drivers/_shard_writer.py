"""Whole-shard writes of the zarr-python driver with the inner chunks encoded in parallel.

zarr-python writes every shard through its sharding codec's *partial* path, even when a
write covers the whole shard, and the per-chunk work of that path runs on its single
event-loop thread: on 3.1 it allocates a fill-valued buffer for each inner chunk and
copies the chunk into it before handing it to a thread for compression; on 3.4 (default
``BatchedCodecPipeline``) it passes each inner chunk as a view but then, still on the
event loop, checks it against the fill value and lets ``BytesCodec`` copy it into a
contiguous buffer, one chunk after the other (only Blosc/Zstd/Gzip run in threads). On
two cores that serial work is the bottleneck of a level-0 write (a 1024³ uint16 write at
2.1x raw TensorStore on 3.1; on 3.4 the event-loop thread alone spends ~0.22 s of a 512³
write's ~0.6 s CPU, and the write takes 1.3x (3.1) to 1.55x (3.4) the wall time of this
module's path).

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
returns ``None`` otherwise, and zarr-python writes): a zarr-python line in
:data:`VERIFIED_ZARR`, Zarr v3 arrays with one ``sharding_indexed`` codec over a regular
grid (Morton-ordered chunks: 3.4's other ``subchunk_write_order`` layouts are left to
zarr-python), zarr-python's own ``BatchedCodecPipeline`` (not the zarrs driver's, nor
3.4's opt-in ``FusedCodecPipeline``), inner and index codecs from a fixed list whose
synchronous encoders are the ones zarr-python's asynchronous ones call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync


def _zarr_line() -> tuple[int, ...]:
    import zarr

    return tuple(int(p) for p in zarr.__version__.split(".")[:2] if p.isdigit())


#: The zarr-python lines whose shard layout and internals this module was checked
#: against, file by file (tests/drivers/test_zarr_python_shard_writes.py). Another
#: line writes its shards itself (same files, its own speed) until this module is
#: checked against it: the internals moved between 3.1 and 3.4.
VERIFIED_ZARR = frozenset({(3, 1), (3, 4)})


def _internals(line: tuple[int, ...]) -> SimpleNamespace | None:
    """The zarr-python internals the encoder relies on, per verified line (their
    names moved between lines), or ``None`` on any other line or when one is missing."""
    if line not in VERIFIED_ZARR:
        return None
    try:
        import zarr.codecs.sharding as sharding
        from zarr.core.array_spec import ArraySpec
        from zarr.core.codec_pipeline import BatchedCodecPipeline
        from zarr.storage import LocalStore
        from zarr.storage._local import _atomic_write

        found = SimpleNamespace(
            MAX_UINT_64=sharding.MAX_UINT_64, ShardingCodec=sharding.ShardingCodec,
            ShardIndex=sharding._ShardIndex, ArraySpec=ArraySpec,
            BatchedCodecPipeline=BatchedCodecPipeline, LocalStore=LocalStore,
            atomic_write=_atomic_write,
        )
        if line == (3, 1):
            from zarr.core.chunk_grids import RegularChunkGrid  # type: ignore[attr-defined,unused-ignore]
            from zarr.core.codec_pipeline import fill_value_or_default
            from zarr.core.indexing import morton_order_iter  # type: ignore[attr-defined,unused-ignore]

            found.regular_grid = RegularChunkGrid
            found.fill_value_or_default = fill_value_or_default
            found.morton = morton_order_iter
            # 3.1's sharding codec encodes inner chunks with its codecs as stored
            found.evolve = lambda codecs, spec: tuple(codecs)
        else:  # 3.4 (names absent from 3.1, which the type checker sees)
            import zarr.core.chunk_utils as chunk_utils  # type: ignore[import-not-found,unused-ignore]
            from zarr.core.indexing import morton_order_coords  # type: ignore[attr-defined,unused-ignore]
            from zarr.core.metadata.v3 import RegularChunkGridMetadata  # type: ignore[attr-defined,unused-ignore]

            found.regular_grid = RegularChunkGridMetadata
            found.fill_value_or_default = chunk_utils.fill_value_or_default
            found.morton = morton_order_coords
            # 3.4's sharding codec evolves its inner and index codecs against the
            # inner chunk's spec before encoding (ShardingCodec._get_inner_pipeline)
            found.evolve = chunk_utils.evolve_codecs
        return found
    except (ImportError, AttributeError):  # pragma: no cover - a damaged zarr-python
        return None


_ZARR = _internals(_zarr_line())

#: Whether whole shards are encoded here (see :data:`VERIFIED_ZARR`).
AVAILABLE = _ZARR is not None

#: Codecs whose ``_encode_sync`` is exactly what their ``_encode_single`` runs (zarr 3.1
#: and 3.4).
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
                 index_encode: Any, internals: SimpleNamespace) -> None:
        meta = array.metadata
        self._z = internals
        self._store = array.store_path.store
        local = isinstance(self._store, internals.LocalStore) and not self._store.read_only
        self._local_root: Path | None = Path(self._store.root) if local else None
        self._path = array.store_path.path
        self._encode_key = meta.encode_chunk_key
        self.shape: tuple[int, ...] = tuple(meta.shape)
        self.shard: tuple[int, ...] = tuple(shard_spec.shape)
        self.chunk: tuple[int, ...] = tuple(sharding.chunk_shape)
        self._per_shard = tuple(s // c for s, c in zip(self.shard, self.chunk))
        # (Morton order is how zarr-python's sharding codec lays chunks out in a shard.)
        self._order = list(internals.morton(self._per_shard))
        self._sharding = sharding
        self._shard_spec = shard_spec
        self._chunk_spec = sharding._get_chunk_spec(shard_spec)
        self._encode_chunk = chunk_encode
        self._encode_index = index_encode
        # (an enum on 3.1, a string on 3.4)
        self._at_start = str(getattr(sharding.index_location, "value", sharding.index_location)) == "start"
        self._write_empty = bool(shard_spec.config.write_empty_chunks)
        self._prototype = default_buffer_prototype()
        self.dtype = np.dtype(meta.data_type.to_native_dtype())
        self._fill = internals.fill_value_or_default(self._chunk_spec)

    @classmethod
    def for_array(cls, array: Any) -> ShardEncoder | None:
        """The encoder of ``array`` (a ``zarr.Array``), or ``None`` when zarr-python must
        write its shards itself (not sharded, another codec pipeline, an unknown codec,
        a zarr-python without the internals relied on)."""
        z = _ZARR
        if z is None:
            return None
        try:
            native = array._async_array
            meta = native.metadata
            if getattr(meta, "zarr_format", None) != 3 or not isinstance(meta.chunk_grid, z.regular_grid):
                return None
            if type(native.codec_pipeline) is not z.BatchedCodecPipeline:
                return None  # e.g. the zarrs driver's pipeline: its own shard layout
            codecs = list(meta.codecs)
            if len(codecs) != 1 or not isinstance(codecs[0], z.ShardingCodec):
                return None
            sharding = codecs[0]
            if getattr(sharding, "subchunk_write_order", "morton") != "morton":
                return None  # 3.4's other layouts (a write-time setting) are not checked
            shard_spec = z.ArraySpec(
                shape=tuple(meta.chunk_grid.chunk_shape), dtype=meta.data_type,
                fill_value=meta.fill_value, config=native.config,
                prototype=default_buffer_prototype(),
            )
            if any(s % c for s, c in zip(shard_spec.shape, sharding.chunk_shape)):
                return None
            chunk_spec = sharding._get_chunk_spec(shard_spec)
            chunk_encode = _encoder(z.evolve(sharding.codecs, chunk_spec), chunk_spec)
            per_shard = sharding._get_chunks_per_shard(shard_spec)
            index_spec = sharding._get_index_chunk_spec(per_shard)
            index_encode = _encoder(z.evolve(sharding.index_codecs, index_spec), index_spec)
            if chunk_encode is None or index_encode is None:
                return None
            return cls(array, sharding, shard_spec, chunk_encode, index_encode, z)
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
        index = self._z.ShardIndex.create_empty(self._per_shard)
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
            used = index.offsets_and_lengths[..., 0] != self._z.MAX_UINT_64
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
            with self._z.atomic_write(path, "wb") as f:
                for part in parts:
                    f.write(part.as_buffer_like())
        else:
            sync(self._store.set(key, self._prototype.buffer.create_zero_length().combine(parts)))

    @property
    def shard_nbytes(self) -> int:
        """Bytes of one decoded shard."""
        return math.prod(self.shard) * self.dtype.itemsize
