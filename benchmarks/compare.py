"""Run every contender on the same data, interleaved, and print table + target ratios.

Usage::

    python -m benchmarks.compare                  # 512³, 3 repeats (~10 min on 2 cores)
    python -m benchmarks.compare --quick --repeats 1   # 256³ smoke run (~1 min)
    python -m benchmarks.compare --big            # adds 1024³ out-of-core from a memmap
    python -m benchmarks.compare --only 'uz.*,ts.raw' --layouts v3 --json out.json

Each (contender, layout, workload) run is its own ``python -m
benchmarks.worker`` subprocess, so peak memory is per contender. Repeats are
interleaved: every repeat runs all jobs once, in a seeded shuffled order, so
slow drifts of the machine spread over all rows instead of biasing one.
``os.sync()`` runs (untimed) before each job so no contender pays for the
previous one's dirty pages.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .contenders import CONTENDERS, PREPARE_READS, READS_LAYOUT, Contender
from .data import ensure_volume
from .hostload import LoadProbe, wait_idle
from .layouts import LAYOUTS, NO_LAYOUT
from .report import (
    READ_ROWS,
    as_json,
    compute_ratios,
    format_ratios,
    format_reads,
    format_writes,
    summarize,
)

REPO = Path(__file__).resolve().parents[1]
WRITE_LEGEND = (
    "(MB/s = level-0 MB / median s; L0 = level-0 phase of a pipeline; RSS = peak resident set;\n"
    " anon = peak anonymous memory; anon+ = anon above the pre-input baseline;\n"
    " other% = worst CPU share taken by other processes during a repeat)"
)
PACKAGES = (
    "numpy",
    "zarr",
    "tensorstore",
    "numcodecs",
    "dask",
    "ngff-zarr",
    "ome-zarr",
    "itkwasm-downsample",
    "unizarr",
)


@dataclass(frozen=True)
class Job:
    """One (contender, layout, workload) cell of the table."""

    contender: Contender
    layout: str
    workload: str  # "mem" (in memory) or "big" (out-of-core memmap)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the harness."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats per job (default 3)")
    p.add_argument(
        "--quick", action="store_true", help="256³ instead of 512³ and 500 reads: a smoke run"
    )
    p.add_argument(
        "--big",
        action="store_true",
        help="also run the out-of-core workload (2x edge, from a memmap, v3 sharded)",
    )
    p.add_argument(
        "--only", help="comma-separated contender patterns (glob, or substring without wildcards)"
    )
    p.add_argument(
        "--layouts", default=",".join(LAYOUTS), help="comma-separated layouts (default v2,v3,v3s)"
    )
    p.add_argument(
        "--fsync",
        action="store_true",
        help="every contender makes its output durable inside the timed region",
    )
    p.add_argument(
        "--reads", type=int, help="random reads per read row (default 2000, 500 with --quick)"
    )
    p.add_argument("--size", type=int, help="override the in-memory edge length (multiple of 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, read offsets and job order")
    p.add_argument("--json", type=Path, help="save raw runs, rows and ratios here")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "unizarr-bench-cache",
        help="where the .npy inputs are cached",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="parent of the temporary output dir",
    )
    p.add_argument("--timeout", type=float, default=900, help="seconds before a job is killed")
    p.add_argument(
        "--idle-wait", type=float, default=10,
        help="before each job, wait up to this many seconds for the CPUs to be idle (0: don't)",
    )  # fmt: skip
    p.add_argument(
        "--noisy", type=float, default=0.2,
        help="re-run a job once when other processes used more than this fraction of the CPUs during it",
    )  # fmt: skip
    p.add_argument(
        "--quiet-budget", type=float, default=240,
        help="total seconds the run may spend waiting for idle CPUs and re-running noisy jobs",
    )  # fmt: skip
    p.add_argument("--list", action="store_true", help="list contenders and exit")
    return p.parse_args(argv)


def _matches(name: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(name, pat) if any(c in pat for c in "*?[") else pat in name
        for pat in patterns
    )


def select_jobs(args: argparse.Namespace) -> list[Job]:
    """Jobs selected by ``--only``, ``--layouts``, ``--big`` and ``--fsync``."""
    patterns = [p for p in (args.only or "").split(",") if p]
    layouts = [lay for lay in args.layouts.split(",") if lay]
    unknown = set(layouts) - set(LAYOUTS)
    if unknown:
        raise SystemExit(f"unknown layout(s): {', '.join(sorted(unknown))}")
    jobs: list[Job] = []
    for c in CONTENDERS:
        if patterns and not _matches(c.name, patterns):
            continue
        if args.fsync and c.fsync_variant:
            continue  # identical to its twin when everything fsyncs
        for lay in c.layouts:
            if lay == NO_LAYOUT or lay in layouts or c.group == "reads":
                jobs.append(Job(c, lay, "mem"))
        if args.big and c.big and "v3s" in layouts:
            jobs.append(Job(c, "v3s", "big"))
    return jobs


def _run_worker(
    job: Job,
    volume: Path,
    out: Path,
    args: argparse.Namespace,
    extra: list[str],
    keep: bool = False,
) -> dict[str, Any]:
    """Spawn one worker; return its JSON result (or an error record).

    The output is removed afterwards (also when the worker crashed) unless ``keep``.
    """
    result_path = out.with_name(out.name + ".json")
    cmd = [
        sys.executable, "-m", "benchmarks.worker",
        "--contender", job.contender.name, "--layout", job.layout,
        "--volume", str(volume), "--out", str(out), "--result", str(result_path),
        "--seed", str(args.seed), *extra,
    ]  # fmt: skip
    if job.workload == "big":
        cmd.append("--mmap")
    if args.fsync:
        cmd.append("--fsync")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    base = {"contender": job.contender.name, "layout": job.layout}
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "reason": f"timeout after {args.timeout:g} s"}
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    if not result_path.exists():
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {**base, "status": "error", "reason": f"worker died: {tail[0]}"[:300]}
    result = json.loads(result_path.read_text())
    result_path.unlink()
    return result


class _QuietGuard:
    """Wait for idle CPUs before a job and re-run it once if others interfered.

    Both cost time, so they draw on one budget (``--quiet-budget``): on a
    machine that never gets quiet the run still ends in bounded time, and the
    report flags the noisy runs instead.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.budget = args.quiet_budget

    def run(self, job: Job, volume: Path, out: Path, extra: list[str]) -> dict[str, Any]:
        """:func:`_run_worker`, with ``foreign_load`` and ``attempts`` added to the result."""
        for attempt in (1, 2):
            if self.args.idle_wait > 0 and self.budget > 0:
                self.budget -= wait_idle(min(self.args.idle_wait, self.budget))
            os.sync()  # flush the previous job's dirty pages outside every timed region
            probe = LoadProbe().start()
            t0 = time.perf_counter()
            res = _run_worker(job, volume, out, self.args, extra)
            res.update(foreign_load=probe.stop(), attempts=attempt)
            if (
                attempt == 2
                or res["status"] != "ok"
                or res["foreign_load"] <= self.args.noisy
                or self.budget <= 0
            ):
                return res
            self.budget -= time.perf_counter() - t0
        return res


def _versions() -> dict[str, str]:
    """Package versions, plus any UNIZARR_* environment setting that changes behaviour."""
    out = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
    }
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out.update({k: v for k, v in os.environ.items() if k.startswith("UNIZARR_")})
    return out


def _progress(i: int, total: int, job: Job, res: dict[str, Any]) -> None:
    if res["status"] == "ok":
        extra = f" {res['reads'] / res['seconds']:.0f} reads/s" if res.get("reads") else ""
        what = f"{res['seconds']:.3f} s{extra}"
    else:
        what = f"{res['status']}: {res.get('reason', '')}"
    load = res.get("foreign_load", 0.0)
    if load > 0.05:
        what += f" (other processes used {load:.0%} of the CPUs; attempt {res.get('attempts', 1)})"
    print(
        f"[{i}/{total}] {job.contender.name} {job.layout} {job.workload}: {what}",
        file=sys.stderr,
        flush=True,
    )


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Generate/cached inputs, run every job ``--repeats`` times interleaved, return raw results."""
    edge = args.size or (256 if args.quick else 512)
    reads = args.reads or (500 if args.quick else 2000)
    jobs = select_jobs(args)
    if not jobs:
        raise SystemExit("no contender selected")
    t0 = time.perf_counter()
    volumes = {"mem": ensure_volume(args.cache_dir, edge, args.seed)}
    if any(j.workload == "big" for j in jobs):
        volumes["big"] = ensure_volume(args.cache_dir, 2 * edge, args.seed)
    print(
        f"inputs ready in {time.perf_counter() - t0:.1f} s: {', '.join(map(str, volumes.values()))}",
        file=sys.stderr,
    )

    args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="unizarr-bench-", dir=args.work_dir))
    runs: list[dict[str, Any]] = []
    skip: set[Job] = set()
    guard = _QuietGuard(args)
    try:
        read_extra: list[str] = []
        if any(j.contender.group == "reads" for j in jobs):
            src = work / "reads-src"
            prep = _run_worker(
                Job(PREPARE_READS, READS_LAYOUT, "mem"),
                volumes["mem"],
                src,
                args,
                ["--keep-output", "--no-warmup"],
                keep=True,
            )
            if prep["status"] != "ok":
                raise SystemExit(f"could not write the random-read store: {prep.get('reason')}")
            read_extra = ["--source", str(src), "--reads", str(reads)]
        total = len(jobs) * args.repeats
        i = 0
        for rep in range(args.repeats):
            order = list(jobs)
            random.Random(args.seed * 1000 + rep).shuffle(order)
            for job in order:
                i += 1
                if job in skip:
                    continue
                extra = read_extra if job.contender.group == "reads" else []
                res = guard.run(job, volumes[job.workload], work / f"run{i}", extra)
                res.update(workload=job.workload, repeat=rep)
                runs.append(res)
                _progress(i, total, job, res)
                if res["status"] != "ok":
                    skip.add(job)  # same cause next time; do not spend the time again
    finally:
        shutil.rmtree(work, ignore_errors=True)
    level0 = {wl: int(np.load(p, mmap_mode="r").nbytes) for wl, p in volumes.items()}
    return {
        "meta": {
            "versions": _versions(),
            "edge": edge,
            "big_edge": 2 * edge if "big" in volumes else None,
            "reads": reads,
            "repeats": args.repeats,
            "fsync": args.fsync,
            "seed": args.seed,
            "work_dir": str(args.work_dir),
            "wall_seconds": time.perf_counter() - t0,
        },
        "level0_bytes": level0,
        "runs": runs,
    }


def render(raw: dict[str, Any]) -> tuple[str, list, list]:
    """The printed report, plus the rows and ratios it was made from."""
    meta = raw["meta"]
    labels = {"mem": f"{meta['edge']}³ in memory"}
    if meta["big_edge"]:
        labels["big"] = f"{meta['big_edge']}³ memmap"
    rows = summarize(raw["runs"], raw["level0_bytes"])
    ratios = compute_ratios(rows, labels)
    fsync_note = (
        "every row fsyncs its output inside the timed region (--fsync)"
        if meta["fsync"]
        else "no fsync except rows named *fsync* (TensorStore file_io_sync off elsewhere; "
        "zarr-python, ngff-zarr, ome-zarr-py never fsync)"
    )
    v = meta["versions"]
    parts = [
        "unizarr benchmark: uint16 smooth blobs + noise, chunks 128³, blosc lz4-5 shuffle; "
        f"{meta['repeats']} interleaved repeat(s); {fsync_note}.",
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
    ]
    for wl, label in labels.items():
        writes = [r for r in rows if r.workload == wl and r.contender not in READ_ROWS]
        reads = [r for r in rows if r.workload == wl and r.contender in READ_ROWS]
        if writes:
            parts.append(format_writes(writes, f"\n== writes, {label}\n{WRITE_LEGEND}"))
        if reads:
            parts.append(format_reads(reads, f"\n== random 32³ reads, {label}, v3 array"))
    parts.append("\n== targets (value on medians; 'min' = same ratio on minimums; 'paired' = "
                 "median of the per-repeat ratios)")
    parts.append(format_ratios(ratios))
    noisy = [r for r in raw["runs"] if r.get("foreign_load", 0.0) > 0.1]
    if noisy:
        worst = max(r["foreign_load"] for r in noisy)
        parts.append(
            f"\nWARNING: other processes used >10% of the CPUs during {len(noisy)} of {len(raw['runs'])} runs "
            f"(worst {worst:.0%}); those figures are unreliable. Re-run on an idle machine."
        )
    parts.append(f"\nwall time {meta['wall_seconds']:.0f} s")
    return "\n".join(parts), rows, ratios


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.compare``."""
    args = parse_args(argv)
    if args.list:
        for c in CONTENDERS:
            big = "big" if c.big else ""
            print(f"{c.name:<20} {c.group:<9} {','.join(c.layouts):<10} {big:<4}{c.description}")
        return 0
    raw = run_all(args)
    text, rows, ratios = render(raw)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({**raw, **as_json(rows, ratios)}, indent=1))
        print(f"raw results saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
