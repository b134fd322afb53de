"""Detect (and wait out) CPU load from processes other than the benchmark.

On a 2-core machine shared with test runs, one foreign process halves the
cores a contender gets and the figures become noise. The harness therefore
waits for an idle machine before each job (``--idle-wait``) and records, per
job, the fraction of the machine's CPU capacity used by *other* processes
while the job ran: busy CPU time from ``/proc/stat`` minus the CPU time of the
harness and its children.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
NCPU = os.cpu_count() or 1


def busy_seconds() -> float:
    """CPU seconds spent non-idle by the whole machine since boot (0 if unknown)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    # user nice system idle iowait irq softirq steal ...; idle and iowait are not busy.
    busy = sum(fields[:3]) + sum(fields[5:8])
    return busy / _TICK


def own_seconds() -> float:
    """CPU seconds of this process plus its waited-for children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


@dataclass
class LoadProbe:
    """Foreign CPU load over an interval: ``start()``, run the job, ``stop()``."""

    wall: float = 0.0
    busy: float = 0.0
    own: float = 0.0

    def start(self) -> LoadProbe:
        """Record the starting counters; returns ``self`` for chaining."""
        self.wall, self.busy, self.own = time.perf_counter(), busy_seconds(), own_seconds()
        return self

    def stop(self) -> float:
        """Fraction of total CPU capacity used by other processes (0..1)."""
        wall = time.perf_counter() - self.wall
        foreign = (busy_seconds() - self.busy) - (own_seconds() - self.own)
        return max(0.0, foreign) / (wall * NCPU) if wall > 0 else 0.0


def wait_idle(max_wait: float, threshold: float = 0.15, sample: float = 0.25) -> float:
    """Block until the machine's busy fraction over ``sample`` s is below ``threshold``.

    Returns the seconds waited (at most about ``max_wait``; then it gives up).
    """
    t0 = time.perf_counter()
    while True:
        probe = LoadProbe().start()
        time.sleep(sample)
        if probe.stop() < threshold or time.perf_counter() - t0 >= max_wait:
            return time.perf_counter() - t0
