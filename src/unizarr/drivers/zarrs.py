"""The ``"zarrs"`` driver: zarr-python with the ``zarrs`` Rust codec pipeline.

Everything is the ``"zarr-python"`` driver (:mod:`unizarr.drivers.zarr_python`) except
how chunks and shards of local arrays are encoded, decoded and written: by
``zarrs.ZarrsCodecPipeline`` (all cores, no per-chunk Python; 2-3.8x faster level-0 writes
than zarr-python's own pipeline on the machine of ``benchmarks/README.md``). Install it
with ``pip install 'unizarr[accel]'``; without the ``zarrs`` package this driver is not
listed by :func:`unizarr.drivers`.

Scope: the pipeline is installed on each array this driver opens, never through
zarr-python's process-wide ``codec_pipeline.path`` setting (not even inside a
``zarr.config.set`` block, which another thread opening an array at the same moment
would see). ``"zarr-python"`` handles and plain zarr-python in the same process keep
zarr-python's pipeline.

Limit (crash atomicity): zarrs 0.2 writes a chunk or shard file in place, where
zarr-python's store and TensorStore write a temporary file and rename it. A crash, or
a reader in another process, can therefore see a torn (truncated, even empty) block.
Metadata documents are still written atomically (above the drivers), an interrupted
``unizarr convert`` never claims a complete pyramid, and ``--resume`` rereads every
stored block and rewrites those that do not decode (see ``docs/resume.md``). Use
``"zarr-python"`` or ``"tensorstore"`` where a concurrent reader must never see a torn
block.

Arrays the pipeline does not serve use zarr-python's own: stores other than local
directories (zarrs maps fsspec stores onto its own and rejects some of their options)
and Fortran-ordered arrays (its Zarr v2 fallback hands numcodecs non-contiguous
buffers).
"""

from __future__ import annotations

import zarr
from zarr.storage import LocalStore
from zarrs import ZarrsCodecPipeline

from ..errors import CorruptDataError, translate_engine_error
from ..registry import register_driver
from .zarr_python import ZarrPythonArray, ZarrPythonGroup


def _translate_engine_error(exc: BaseException, where: str) -> BaseException:
    """zarrs reports an undecodable chunk ("invalid gzip header", "incomplete frame")
    as a bare ``OSError`` without an errno; a failure of the disk itself carries one
    (or "os error N" in the message). The rest is the generic translation."""
    if (type(exc) is OSError and exc.errno is None  # noqa: E721 - not the subclasses
            and "os error" not in str(exc)):
        return CorruptDataError(f"could not decode data of {where}: {exc}")
    return translate_engine_error(exc, where)


class ZarrsArray(ZarrPythonArray):
    """Zarr array on zarr-python whose local chunks go through the zarrs pipeline."""

    _translate_engine_error = staticmethod(_translate_engine_error)

    def _configure(self, arr: zarr.Array) -> zarr.Array:
        if not isinstance(arr.store, LocalStore) or self._spec.order != "C":
            return arr
        native = arr._async_array
        pipeline = ZarrsCodecPipeline.from_array_metadata_and_store(
            array_metadata=native.metadata, store=native.store_path.store
        )
        # zarr-python picks the pipeline from its global config when an array object is
        # built; replacing it on this freshly built (unshared) object scopes zarrs to
        # this handle. The field is frozen for callers, hence object.__setattr__, as
        # zarr-python's own constructor sets it.
        object.__setattr__(native, "codec_pipeline", pipeline)
        return arr


class ZarrsGroup(ZarrPythonGroup):
    """Zarr group of the ``"zarrs"`` driver (its arrays are :class:`ZarrsArray`)."""


register_driver("zarrs", ZarrsArray, ZarrsGroup)
