"""``generate_pyramid`` on dask.distributed: 1 worker vs 2 workers (and local threads).

Usage::

    python -m benchmarks.distributed                 # 512³, 3 interleaved repeats (~3 min on 2 cores)
    python -m benchmarks.distributed --size 256 --repeats 1     # smoke run
    python -m benchmarks.distributed --drivers tensorstore --layouts v3s --json out.json

Workload: the deterministic 512³ uint16 volume of :mod:`benchmarks.data`, stored once
(untimed) as level 0 with the layouts of :mod:`benchmarks.layouts` (chunks 128³, Blosc
lz4 clevel 5 shuffle; ``v3s`` = Zarr v3 with 256³ shards, ``v3`` = unsharded), then
timed: ``generate_pyramid(group, levels=3)`` (256³, 128³, 64³) from the stored level 0,
in three modes:

* ``local``: ``client=False``, threads of this process (one per core);
* ``1x1``: ``LocalCluster(processes=True)`` of 1 worker x 1 thread;
* ``2x1``: ``LocalCluster(processes=True)`` of 2 workers x 1 thread;
* ``1x1-pin``, ``2x1-pin``: the same with every worker process pinned to a core of
  its own (CPU affinity of all its threads).

A worker with one dask thread still uses every core of the machine: the engines
(TensorStore's thread pool, Blosc, zarr-python's codec threads) decode and encode in
their own threads. On a 2-core machine ``2x1`` therefore competes with ``1x1`` for the
same two cores; the pinned rows show how the work splits between workers when each
has its own core, as workers on separate nodes do.

Both clusters live through the whole run (idle workers cost nothing) and the warm-up
imports the engines in every worker, so no timing pays for a process start. Every
repeat runs each (driver, layout, mode) once, in a seeded shuffled order, after
deleting the previous levels and ``os.sync()`` (untimed). Each result is checked
against the local run's levels (the timings of a wrong result would mean nothing).

On a shared machine, each run first waits (up to ``--idle-wait`` s) for idle CPUs,
and is run once more when other processes took more than ``--noisy`` of the CPUs
during it (the worker processes count as ours); ``other%`` is the worst such share
among a row's kept runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .data import ensure_volume, load_volume
from .hostload import NCPU, busy_seconds, wait_idle
from .layouts import CHUNK, CLEVEL, CNAME, LAYOUTS
from .uz import PIPELINE_API, import_unizarr

LEVELS = 3
MODES = ("local", "1x1", "2x1", "1x1-pin", "2x1-pin")
DRIVERS = ("tensorstore", "zarr-python")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512, help="edge of the cubic volume (multiple of 64)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--drivers", default=",".join(DRIVERS))
    p.add_argument("--layouts", default="v3s,v3", help="subset of v3s,v3,v2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "unizarr-bench-cache")
    p.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--json", type=Path, help="save every timing here")
    p.add_argument("--idle-wait", type=float, default=10, help="seconds to wait for idle CPUs")
    p.add_argument("--noisy", type=float, default=0.2, help="re-run above this foreign CPU share")
    return p.parse_args(argv)


def store_level0(uz: Any, path: Path, driver: str, layout: str, volume: np.ndarray) -> Any:
    """Level 0 of ``volume`` at ``path`` with the benchmark layout (untimed)."""
    lay = LAYOUTS[layout]
    g = uz.open_group(str(path), "w", driver=driver, zarr_version=lay.zarr_version)
    g.create_array(
        "0", data=volume, chunks=(CHUNK,), shards=(lay.shard,) if lay.shard else None,
        compressor="blosc", compressor_opt={"cname": CNAME, "clevel": CLEVEL, "shuffle": "shuffle"},
    )
    return g


def start_clusters() -> dict[str, Any]:
    """The clusters of :data:`MODES` (dask's default worker settings), engines
    imported in every worker."""
    from distributed import Client, LocalCluster

    clients = {}
    for mode in MODES[1:]:
        cluster = LocalCluster(
            n_workers=int(mode[0]), threads_per_worker=1, processes=True,
            dashboard_address=":0", silence_logs=50,
        )
        client = Client(cluster, set_as_default=False)
        client.run(lambda: [__import__(m) for m in ("unizarr", "tensorstore", "zarr", "numcodecs")])
        if mode.endswith("-pin"):
            for cpu, address in enumerate(sorted(client.nthreads())):
                client.run(pin_to, cpu % (os.cpu_count() or 1), workers=[address])
        clients[mode] = client
    return clients


def pin_to(cpu: int) -> None:
    """Pin every thread of this process to ``cpu``; threads started later inherit it."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except (ProcessLookupError, PermissionError):  # thread gone meanwhile
            pass


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by these processes (utime + stime from ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_once(uz: Any, group: Any, client: Any, pids: list[int]) -> tuple[float, float]:
    """Seconds of one ``generate_pyramid`` from the stored level 0 (levels deleted
    first), and the share of the CPUs other processes than ``pids`` took meanwhile."""
    for level in range(1, LEVELS + 1):
        if str(level) in group:
            del group[str(level)]
    os.sync()
    busy, own = busy_seconds(), cpu_seconds(pids)
    start = time.perf_counter()
    uz.generate_pyramid(group, levels=LEVELS, client=client)
    wall = time.perf_counter() - start
    foreign = (busy_seconds() - busy) - (cpu_seconds(pids) - own)
    return wall, max(0.0, foreign) / (wall * NCPU)


def levels_of(group: Any) -> list[np.ndarray]:
    return [np.asarray(group[str(level)][...]) for level in range(1, LEVELS + 1)]


def report(
    times: dict[tuple[str, str, str], list[float]],
    other: dict[tuple[str, str, str], list[float]],
    drivers: list[str],
    layouts: list[str],
) -> str:
    """The table: median (min) seconds per mode and the speed-ups."""
    head = ("| driver | layout | local s | 1 worker s | 2 workers s | 1 worker, pinned s "
            "| 2 workers, pinned s | 2w vs 1w | 2w vs 1w, pinned | other% |")
    lines = [head, "|" + "---|" * 10]
    for driver in drivers:
        for layout in layouts:
            med = {m: statistics.median(times[driver, layout, m]) for m in MODES}
            low = {m: min(times[driver, layout, m]) for m in MODES}
            cells = [f"{med[m]:.2f} ({low[m]:.2f})" for m in MODES]
            worst = max(max(other[driver, layout, m]) for m in MODES)
            lines.append(
                f"| {driver} | {layout} | {' | '.join(cells)} | "
                f"{med['1x1'] / med['2x1']:.2f}x | {med['1x1-pin'] / med['2x1-pin']:.2f}x | "
                f"{100 * worst:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    uz = import_unizarr(PIPELINE_API)
    drivers = args.drivers.split(",")
    layouts = args.layouts.split(",")
    volume = load_volume(ensure_volume(args.cache_dir, args.size, args.seed), mmap=True)
    work = Path(tempfile.mkdtemp(prefix="unizarr-bench-dist-", dir=args.work_dir))
    clients = start_clusters()
    pids = [os.getpid()] + [
        pid for c in clients.values() for pid in c.run(os.getpid).values()
    ]
    try:
        groups = {}
        want = {}
        for driver in drivers:
            for layout in layouts:
                g = store_level0(uz, work / f"{driver}-{layout}.zarr", driver, layout, volume)
                run_once(uz, g, False, pids)  # warm-up, and the reference levels
                groups[driver, layout] = g
                want[driver, layout] = levels_of(g)
        jobs = [(d, lay, m) for d in drivers for lay in layouts for m in MODES]
        times: dict[tuple[str, str, str], list[float]] = {j: [] for j in jobs}
        other: dict[tuple[str, str, str], list[float]] = {j: [] for j in jobs}
        rng = random.Random(args.seed)
        for rep in range(args.repeats):
            rng.shuffle(jobs)
            for driver, layout, mode in jobs:
                g = groups[driver, layout]
                for _attempt in range(2):  # one re-run when another process interfered
                    wait_idle(args.idle_wait)
                    seconds, foreign = run_once(uz, g, clients.get(mode, False), pids)
                    if foreign <= args.noisy:
                        break
                for got, ref in zip(levels_of(g), want[driver, layout]):
                    np.testing.assert_array_equal(got, ref)
                times[driver, layout, mode].append(seconds)
                other[driver, layout, mode].append(foreign)
                print(f"repeat {rep + 1}: {driver:12s} {layout:4s} {mode:7s} {seconds:6.2f} s "
                      f"(other {100 * foreign:.0f}%)", flush=True)
    finally:
        logging.getLogger("distributed").setLevel(logging.ERROR)  # no shutdown chatter
        for client in clients.values():
            cluster = client.cluster
            client.close()
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.size}³ uint16, generate_pyramid(levels={LEVELS}) from stored level 0, "
          f"median (min) of {args.repeats} repeats, {os.cpu_count()} CPUs\n")
    print(report(times, other, drivers, layouts))
    if args.json:
        rows = [
            {"driver": d, "layout": lay, "mode": m, "seconds": s, "other": other[d, lay, m]}
            for (d, lay, m), s in times.items()
        ]
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
