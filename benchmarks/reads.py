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


# -- standalone read comparison on every layout: ``python -m benchmarks.reads`` -----------
#
# The harness of ``benchmarks.compare`` runs the read rows on the v3 layout only. This one
# times random 32³ reads on v2, v3 and v3-sharded stores written by TensorStore, in one
# process, rows interleaved round by round (a loaded machine drifts over all rows alike),
# each row cold (new TensorStore context, empty unizarr read cache). The first round is
# a warm-up and is dropped. Results are checked against the input like ``run_reads``.

STANDALONE_ROWS = (
    "ts.reads",
    "ts.reads.cached",
    "uz.zarr.reads",
    "uz.zarr.reads.nocache",
    "uz.zarrs.reads",
    "uz.zarrs.reads.nocache",
)


def _standalone_row(row: str, path: str, layout_name: str, boxes: np.ndarray, volume: np.ndarray) -> float:
    import time

    layout = LAYOUTS[layout_name]
    t0 = time.perf_counter()
    if row.startswith("ts."):
        import tensorstore as ts

        spec = {
            "driver": "zarr" if layout.zarr_version == 2 else "zarr3",
            "kvstore": {"driver": "file", "path": path},
        }
        context = {"cache_pool": {"total_bytes_limit": CACHE_BYTES}} if row.endswith("cached") else {}
        arr = ts.open(spec, read=True, context=ts.Context(context)).result()

        def box(z: int, y: int, x: int) -> np.ndarray:
            return arr[z : z + EDGE, y : y + EDGE, x : x + EDGE].read().result()

    else:
        import unizarr as uz
        from unizarr import readcache

        readcache.configure(0 if row.endswith("nocache") else readcache.DEFAULT_MAX_BYTES)
        driver = "zarrs" if row.startswith("uz.zarrs") else "zarr-python"
        arr = uz.open_array(path, mode="r", driver=driver)

        def box(z: int, y: int, x: int) -> np.ndarray:
            return np.asarray(arr[z : z + EDGE, y : y + EDGE, x : x + EDGE])

    for z, y, x in boxes:
        box(int(z), int(y), int(x))
    seconds = time.perf_counter() - t0
    for z, y, x in boxes[:CHECKED]:
        want = volume[z : z + EDGE, y : y + EDGE, x : x + EDGE]
        if not np.array_equal(box(int(z), int(y), int(x)), want):
            raise RuntimeError(f"{row} {layout_name}: read at {(z, y, x)} returned wrong data")
    return seconds


def main(argv: list[str] | None = None) -> None:
    """Time the read rows on each layout; print reads/s and ratios of medians."""
    import argparse
    import statistics
    import tempfile
    from pathlib import Path

    from .data import ensure_volume, load_volume

    p = argparse.ArgumentParser(prog="python -m benchmarks.reads", description=main.__doc__)
    p.add_argument("--size", type=int, default=512, help="volume edge (default 512)")
    p.add_argument("--reads", type=int, default=500, help="reads per row and round")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up)")
    p.add_argument("--layouts", default="v2,v3,v3s")
    p.add_argument("--rows", default=",".join(STANDALONE_ROWS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "unizarr-bench"))
    args = p.parse_args(argv)
    layouts = args.layouts.split(",")
    rows = args.rows.split(",")
    volume = load_volume(ensure_volume(Path(args.cache_dir), args.size, args.seed), mmap=False)
    from .raw import ts_context, ts_write_level

    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="unizarr-reads-") as work:
        paths = {}
        for lay in layouts:
            paths[lay] = str(Path(work) / f"{lay}.zarr")
            ts_write_level(LAYOUTS[lay], paths[lay], volume, ts_context(False))
        boxes = offsets(volume.shape, args.reads, args.seed)
        rng = np.random.default_rng(args.seed)
        for rnd in range(args.rounds + 1):
            jobs = [(r, lay) for r in rows for lay in layouts]
            for k in rng.permutation(len(jobs)):
                row, lay = jobs[k]
                s = _standalone_row(row, paths[lay], lay, boxes, volume)
                if rnd:
                    times.setdefault((row, lay), []).append(s)
    print(f"random {EDGE}³ reads, {args.size}³ uint16, 128³ chunks, lz4; {args.reads} reads x "
          f"{args.rounds} rounds (median reads/s; ratio = reads/s over ts.reads)")
    print(f"{'row':24}" + "".join(f"{lay:>18}" for lay in layouts))
    for row in rows:
        cells = []
        for lay in layouts:
            med = statistics.median(times[(row, lay)])
            ref = statistics.median(times[("ts.reads", lay)]) if ("ts.reads", lay) in times else med
            cells.append(f"{args.reads / med:8.0f} {ref / med:5.2f}x   ")
        print(f"{row:24}" + "".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
