"""Random 32³ reads from a v3 array with the raw backends.

All read rows read the same store (written once per harness run by
:func:`prepare_store`) at the same seeded offsets. Offsets are uniform, not
chunk-aligned, so a read touches one to eight 128³ chunks. The timed region
includes opening the array; every read is materialised as a NumPy array, and
a few of them are checked against the input afterwards (untimed), so a lazy
or wrong read cannot score.

The worker's warm-up reads a separate small store (``WARM_SOURCE``): it warms
code paths and thread pools but leaves no timed chunk in a cache.
"""

from __future__ import annotations

import numpy as np

from .contenders import RunContext
from .layouts import LAYOUTS
from .raw import ts_context, ts_write_level

EDGE = 32
WARM_SOURCE = "warm"
CHECKED = 5
CACHE_BYTES = 256 << 20


def offsets(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """``count`` seeded (z, y, x) corners of ``EDGE``³ boxes inside ``shape``."""
    rng = np.random.default_rng([seed, 32])
    high = np.array(shape) - EDGE + 1
    return rng.integers(0, high, size=(count, 3))


def level0_path(ctx: RunContext) -> str:
    """The array the read rows open."""
    assert ctx.source is not None
    return str(ctx.source / "0")


def prepare_store(ctx: RunContext) -> None:
    """Write the shared v3 store (plain array at ``<out>/0``) and the warm-up store."""
    ts_write_level(LAYOUTS["v3"], str(ctx.out / "0"), ctx.volume, ts_context(True))
    warm = np.ascontiguousarray(ctx.volume[:128, :128, :128])
    ts_write_level(LAYOUTS["v3"], str(ctx.out / WARM_SOURCE / "0"), warm, ts_context(True))


def run_reads(ctx: RunContext, read_box) -> None:  # noqa: ANN001 - callable(z, y, x) -> array
    """Call ``read_box`` at ``ctx.reads`` seeded corners, then spot-check results.

    The check runs after the loop (inside the timed call, but it costs a few
    milliseconds): the first ``CHECKED`` boxes are read again and compared
    with the input (skipped in the warm-up, whose store is not the input).
    """
    shape = ctx.state["shape"]
    boxes = offsets(shape, ctx.reads, ctx.seed)
    for z, y, x in boxes:
        read_box(int(z), int(y), int(x))
    if ctx.warmup:
        return  # the warm-up store is not the input
    for z, y, x in boxes[:CHECKED]:
        got = np.asarray(read_box(int(z), int(y), int(x)))
        want = ctx.volume[z : z + EDGE, y : y + EDGE, x : x + EDGE]
        if got.shape != want.shape or not np.array_equal(got, want):
            raise RuntimeError(f"read at {(z, y, x)} returned wrong data")


def _ts_reads(ctx: RunContext, context_spec: dict) -> None:
    import tensorstore as ts

    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": level0_path(ctx)}}
    arr = ts.open(spec, read=True, context=ts.Context(context_spec)).result()
    ctx.state["shape"] = tuple(arr.shape)
    run_reads(ctx, lambda z, y, x: arr[z : z + EDGE, y : y + EDGE, x : x + EDGE].read().result())


def ts_reads(ctx: RunContext) -> None:
    """TensorStore with its default context (no chunk cache): "plain TensorStore"."""
    _ts_reads(ctx, {})


def ts_reads_cached(ctx: RunContext) -> None:
    """TensorStore with a ``CACHE_BYTES`` chunk cache: the reference for a caching wrapper."""
    _ts_reads(ctx, {"cache_pool": {"total_bytes_limit": CACHE_BYTES}})


def zarr_reads(ctx: RunContext) -> None:
    """zarr-python 3 with its defaults."""
    import zarr

    arr = zarr.open_array(level0_path(ctx), mode="r")
    ctx.state["shape"] = tuple(arr.shape)
    run_reads(ctx, lambda z, y, x: arr[z : z + EDGE, y : y + EDGE, x : x + EDGE])
