"""Run one contender once, in this process, and write its measurements as JSON.

Usage (normally spawned by :mod:`benchmarks.compare`)::

    python -m benchmarks.worker --contender ts.raw --layout v3 \\
        --volume /tmp/.../blobs_512_seed0_v1.npy --out /tmp/.../run \\
        --result /tmp/.../result.json

Sequence: import the contender's module, warm it up on a 128³ volume
(first-call costs such as thread-pool start-up and WebAssembly compilation
are not what the table compares), record the anonymous-memory baseline, load
the input, run ``setup`` untimed, then time ``run`` while sampling anonymous
memory, check the output (:mod:`benchmarks.verify`, untimed), measure the
stored bytes and delete the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .contenders import REGISTRY, Contender, RunContext, Unavailable, resolve
from .data import load_volume
from .layouts import LAYOUTS
from .measure import AnonSampler, anon_bytes, peak_rss_bytes, tree_bytes
from .reads import WARM_SOURCE
from .verify import check_level0, check_pyramid

WARM_EDGE = 128  # one full 128³ chunk: the same chunk-sized code paths as the timed run
WARM_READS = 50


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _execute(contender: Contender, ctx: RunContext) -> float:
    """Run ``setup`` (untimed) then ``run``; return the seconds ``run`` took."""
    if contender.setup:
        resolve(contender.setup)(ctx)
    func = resolve(contender.run)
    t0 = time.perf_counter()
    func(ctx)
    return time.perf_counter() - t0


def _warm_up(contender: Contender, ctx: RunContext) -> None:
    """Same code path on tiny data, output discarded."""
    tiny = np.random.default_rng(0).integers(0, 1000, size=(WARM_EDGE,) * 3, dtype=np.uint16)
    warm = replace(
        ctx,
        volume=tiny,
        out=ctx.out.with_name(ctx.out.name + ".warm"),
        # A separate small store: warm the code path, not a chunk cache with the timed data.
        source=ctx.source / WARM_SOURCE if ctx.source else None,
        reads=min(ctx.reads, WARM_READS),
        seed=ctx.seed + 1000,
        warmup=True,
        phases={},
        info={},
        state={},
    )
    try:
        _execute(contender, warm)
    finally:
        _remove(warm.out)


class WrongOutput(Exception):
    """The contender's output does not match the workload (see :mod:`benchmarks.verify`)."""


def _verify(contender: Contender, ctx: RunContext) -> str | None:
    """Untimed output check of write rows; ``None`` when fine or not applicable."""
    if ctx.layout is None or not ctx.out.exists():
        return None
    if contender.group == "raw":
        return check_level0(ctx.out, ctx.layout, ctx.volume)
    if contender.group == "pipeline":
        return check_pyramid(ctx.out, ctx.layout, ctx.volume)
    return None


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one contender run as described by the command-line ``args``."""
    contender = REGISTRY[args.contender]
    layout = LAYOUTS.get(args.layout)
    ctx = RunContext(
        volume=np.zeros((0, 0, 0), np.uint16),
        layout=layout,
        out=Path(args.out),
        fsync=args.fsync,
        out_of_core=args.mmap,
        source=Path(args.source) if args.source else None,
        reads=args.reads,
        seed=args.seed,
    )
    result: dict[str, Any] = {"contender": contender.name, "layout": args.layout, "status": "ok"}
    try:
        if not args.no_warmup:
            _warm_up(contender, ctx)
        gc.collect()
        base_anon = anon_bytes()
        ctx.volume = load_volume(Path(args.volume), args.mmap or contender.input_mode == "mmap")
        with AnonSampler() as sampler:
            seconds = _execute(contender, ctx)
        peak_rss = peak_rss_bytes()  # before the (small) verification reads
        problem = _verify(contender, ctx)
        if problem:
            raise WrongOutput(problem)
        result.update(
            seconds=seconds,
            phases=ctx.phases,
            info={k: v for k, v in ctx.info.items()},
            base_anon=base_anon,
            peak_anon=sampler.peak,
            peak_rss=peak_rss,
            input_bytes=int(ctx.volume.nbytes),
            stored_bytes=tree_bytes(ctx.out) if ctx.out.exists() else 0,
            reads=ctx.reads if contender.group == "reads" else 0,
        )
    except Unavailable as exc:
        result.update(status="n/a", reason=f"unizarr not available: {exc}")
    except WrongOutput as exc:
        result.update(status="error", reason=f"wrong output: {exc}")
    except Exception as exc:  # noqa: BLE001 - any failure becomes a table cell
        traceback.print_exc()
        result.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        if not args.keep_output:
            _remove(ctx.out)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of one worker run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contender", required=True, choices=sorted(REGISTRY))
    p.add_argument("--layout", required=True, help="layout key, or '-' for layout-independent rows")
    p.add_argument("--volume", required=True, help="cached .npy input")
    p.add_argument("--mmap", action="store_true", help="open the input as a memmap (out-of-core)")
    p.add_argument("--out", required=True, help="output path (created, then deleted)")
    p.add_argument("--result", required=True, help="where to write the JSON result")
    p.add_argument(
        "--fsync", action="store_true", help="make every output durable inside the timed region"
    )
    p.add_argument("--source", help="store read by the random-read rows")
    p.add_argument("--reads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-warmup", action="store_true")
    p.add_argument("--keep-output", action="store_true", help="do not delete --out (prepare steps)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; the exit status is 0 even for a failed contender (see the JSON)."""
    args = parse_args(argv)
    result = run_one(args)
    Path(args.result).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
