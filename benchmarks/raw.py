"""Raw level-0 writes (no pyramid, no OME metadata) with each backend.

These are the baselines for unizarr's level-0 targets: the same array written
by the library directly, with its defaults except for what the layout fixes.
"""

from __future__ import annotations

from .contenders import RunContext
from .layouts import Layout, ts_spec, zarr_python_kwargs


def ts_context(fsync: bool):  # noqa: ANN201 - tensorstore.Context
    """TensorStore context; ``file_io_sync`` is TensorStore's fsync switch (default on)."""
    import tensorstore as ts

    return ts.Context({"file_io_sync": fsync})


def ts_write_level(layout: Layout, path: str, data, context) -> object:  # noqa: ANN001
    """Create ``path`` with ``layout`` and write ``data`` (array or TensorStore) into it."""
    import numpy as np
    import tensorstore as ts

    # A TensorStore source has a ts.dtype; its numpy_dtype names it for the spec.
    dtype = np.dtype(getattr(data.dtype, "numpy_dtype", data.dtype)).name
    dst = ts.open(
        ts_spec(layout, path, tuple(data.shape), dtype),
        create=True,
        delete_existing=True,
        context=context,
    ).result()
    dst.write(data).result()
    return dst


def _ts_raw(ctx: RunContext, fsync: bool) -> None:
    assert ctx.layout is not None
    with ctx.phase("level0"):
        ts_write_level(ctx.layout, str(ctx.out), ctx.volume, ts_context(fsync))


def ts_raw(ctx: RunContext) -> None:
    """TensorStore, fsync only in ``--fsync`` mode: like-for-like with zarr-python."""
    _ts_raw(ctx, ctx.fsync)


def ts_raw_fsync(ctx: RunContext) -> None:
    """TensorStore with its default ``file_io_sync: true``: what a plain user gets."""
    _ts_raw(ctx, True)


def zarr_raw(ctx: RunContext) -> None:
    """zarr-python 3 ``create_array`` + one full-array assignment."""
    import zarr

    assert ctx.layout is not None
    with ctx.phase("level0"):
        arr = zarr.create_array(
            store=str(ctx.out),
            dtype=ctx.volume.dtype,
            overwrite=True,
            **zarr_python_kwargs(ctx.layout, ctx.volume.shape),
        )
        arr[...] = ctx.volume
        ctx.durable()
