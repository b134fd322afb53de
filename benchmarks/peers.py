"""Peer libraries' full pipelines: level 0 + three 2x mean levels + OME metadata.

Both peers are driven to the same result as the other pipeline rows: 4 levels
(512³ down to 64³), 128³ chunks, Blosc lz4 clevel 5 byte-shuffle, 256³ shards
for ``v3s``, OME 0.4 on Zarr v2 and OME 0.5 on Zarr v3. Known differences
that cannot be configured away are listed in ``benchmarks/README.md``.

Both get the input as a dask array in 128³ chunks (wrapping it is timed; it
is a view, no copy), which both document and which is their fastest entry:
measured in fresh processes, ngff-zarr takes ~0.65 s this way and ~0.9-1.6 s
from the bare NumPy array (its ``to_multiscales`` then does ~0.25 s of eager
work), ome-zarr-py ~1.5 s instead of ~2.4 s.
"""

from __future__ import annotations

import warnings

import numpy as np

from .contenders import RunContext
from .layouts import AXES, CHUNK, blosc_codec_for

LEVELS = 3


def as_dask(volume: np.ndarray):  # noqa: ANN201 - dask.array.Array
    """The input as a lazy dask array in storage-sized chunks (no copy)."""
    import dask.array as da

    return da.from_array(volume, chunks=CHUNK)


def ngff_zarr_pipeline(ctx: RunContext) -> None:
    """ngff-zarr with its fastest 2x mean method, ``ITKWASM_BIN_SHRINK``.

    ngff-zarr writes through its own (zarrista) engine; the compressor is
    passed as ``compressor`` (v2) or ``compressors`` (v3) exactly as its
    docstring prescribes, and sharding as ``chunks_per_shard``.
    """
    import ngff_zarr as nz
    from ngff_zarr.methods import Methods

    layout = ctx.layout
    assert layout is not None
    image = nz.to_ngff_image(as_dask(ctx.volume), dims=AXES)
    multiscales = nz.to_multiscales(
        image,
        scale_factors=[2**k for k in range(1, LEVELS + 1)],
        method=Methods.ITKWASM_BIN_SHRINK,
        chunks=CHUNK,
    )
    kwargs: dict = {"version": layout.ome_version}
    if layout.zarr_version == 2:
        kwargs["compressor"] = blosc_codec_for(layout)
    else:
        kwargs["compressors"] = [blosc_codec_for(layout)]
        if layout.shard is not None:
            kwargs["chunks_per_shard"] = layout.shard // CHUNK
    nz.to_ngff_zarr(str(ctx.out), multiscales, **kwargs)
    ctx.durable()


def ome_zarr_pipeline(ctx: RunContext) -> None:
    """ome-zarr-py ``write_image`` with ``Methods.LOCAL_MEAN``.

    Scale factors are given per axis including ``z``: the plain integer form
    (and the deprecated ``Scaler``) downsample only y and x.
    """
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    layout = ctx.layout
    assert layout is not None
    group = zarr.open_group(str(ctx.out), mode="w", zarr_format=layout.zarr_version)
    storage: dict = {"chunks": (CHUNK,) * 3, "compressor": blosc_codec_for(layout)}
    if layout.shard is not None:
        storage["shards"] = (layout.shard,) * 3
    factors = [{a: 2**k for a in AXES} for k in range(1, LEVELS + 1)]
    with warnings.catch_warnings():
        # ome-zarr-py warns about dask/zarr API drift on every call.
        warnings.simplefilter("ignore")
        write_image(
            as_dask(ctx.volume),
            group,
            scale_factors=factors,
            method=Methods.LOCAL_MEAN,
            fmt=FormatV04() if layout.zarr_version == 2 else FormatV05(),
            axes=list(AXES),
            storage_options=storage,
        )
    ctx.durable()
