"""Aggregate worker results into the table and the target ratios.

Times are per contender x layout x workload over the repeats: min and median
seconds; throughput is uncompressed level-0 bytes (10⁶ B = 1 MB) over the
median. Memory is the worst repeat. Target ratios use medians (as
``/work/shared/PERFORMANCE.md`` does); the same ratio on minimums is printed
beside it because disk-write noise on a shared VM is one-sided, and so is the
*paired* ratio: the median over repeats of the ratio of the two runs of the same
repeat (jobs are interleaved per repeat, so each pair ran minutes apart at most and
drift of the machine cancels out of it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .contenders import CONTENDERS, READS_LAYOUT
from .layouts import LAYOUTS, NO_LAYOUT
from .measure import MiB

PEERS = ("ngff-zarr", "ome-zarr")
PHYSICAL = "limit.blosc+write"
READ_ROWS = {c.name for c in CONTENDERS if c.group == "reads"}


@dataclass
class Row:
    """Aggregated measurements of one contender x layout x workload."""

    contender: str
    layout: str
    workload: str
    status: str = "ok"
    reason: str = ""
    n: int = 0
    min: float = float("nan")
    median: float = float("nan")
    mbps: float = float("nan")
    reads_per_s: float = float("nan")
    peak_rss: int = 0
    peak_anon: int = 0
    anon_delta: int = 0
    input_bytes: int = 0
    stored_bytes: int = 0
    foreign_load: float = 0.0
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    by_repeat: dict[int, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether at least one repeat succeeded."""
        return self.status == "ok" and self.n > 0

    def stat(self, which: str, phase: str | None = None) -> float:
        """``min`` or ``median`` seconds of the whole run or of one phase."""
        if phase is None:
            return getattr(self, which)
        return self.phases.get(phase, {}).get(which, float("nan"))


def _order(key: tuple[str, str, str]) -> tuple[int, int, int]:
    """Table order: workload, then registry order of contenders, then layout."""
    names = [c.name for c in CONTENDERS]
    layouts = [NO_LAYOUT, *LAYOUTS]
    contender, layout, workload = key
    return (
        workload != "mem",
        names.index(contender) if contender in names else len(names),
        layouts.index(layout) if layout in layouts else len(layouts),
    )


def summarize(runs: list[dict[str, Any]], level0_bytes: dict[str, int]) -> list[Row]:
    """Group raw worker results into :class:`Row` objects, in table order."""
    rows: dict[tuple[str, str, str], Row] = {}
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        key = (run["contender"], run["layout"], run["workload"])
        grouped.setdefault(key, []).append(run)
    for key, group in grouped.items():
        row = Row(*key)
        ok = [r for r in group if r["status"] == "ok"]
        if not ok:
            row.status, row.reason = group[-1]["status"], group[-1].get("reason", "")
            rows[key] = row
            continue
        secs = [r["seconds"] for r in ok]
        row.by_repeat = {int(r["repeat"]): r["seconds"] for r in ok if "repeat" in r}
        row.n = len(ok)
        row.min, row.median = min(secs), statistics.median(secs)
        row.mbps = level0_bytes[row.workload] / row.median / 1e6
        reads = ok[0].get("reads", 0)
        if reads:
            row.reads_per_s = reads / row.median
        row.peak_rss = max(r["peak_rss"] for r in ok)
        row.peak_anon = max(r["peak_anon"] for r in ok)
        row.anon_delta = max(r["peak_anon"] - r["base_anon"] for r in ok)
        row.input_bytes = ok[0]["input_bytes"]
        row.stored_bytes = int(statistics.median(r["stored_bytes"] for r in ok))
        row.foreign_load = max(r.get("foreign_load", 0.0) for r in ok)
        for name in ok[0].get("phases", {}):
            vals = [r["phases"][name] for r in ok if name in r.get("phases", {})]
            row.phases[name] = {"min": min(vals), "median": statistics.median(vals)}
        row.info = ok[-1].get("info", {})
        if len(ok) < len(group):
            bad = next(r for r in group if r["status"] != "ok")
            row.reason = f"{len(group) - len(ok)} failed repeat(s): {bad.get('reason', '')}"
        rows[key] = row
    return [rows[k] for k in sorted(rows, key=_order)]


def _mib(n: int) -> str:
    return f"{n / MiB:8.0f}" if n else f"{'':>8}"


def _table(title: str, head: str, rows: list[Row], line: Callable[[Row], list[str]]) -> str:
    """A fixed-width table: ``line(row)`` gives the lines of an ok row; failed rows get
    their status and reason."""
    lines = [title, head, "-" * len(head)]
    for r in rows:
        if r.ok:
            lines.extend(line(r))
        else:
            lines.append(f"{r.contender:<20} {r.layout:<6} {r.status}: {r.reason}")
    return "\n".join(lines)


def format_writes(rows: list[Row], title: str) -> str:
    """Fixed-width table of the write rows of one workload."""
    head = (
        f"{'contender':<20} {'layout':<6} {'min s':>7} {'median s':>8} {'MB/s':>7} {'L0 med s':>8} "
        f"{'RSS MiB':>8} {'anon MiB':>8} {'anon+MiB':>8} {'stored MiB':>10} {'other%':>6}"
    )

    def line(r: Row) -> list[str]:
        l0 = r.stat("median", "level0")
        l0s = f"{'':>8}" if math.isnan(l0) else f"{l0:8.3f}"
        out = [
            (f"{r.contender:<20} {r.layout:<6} {r.min:7.3f} {r.median:8.3f} {r.mbps:7.0f} "
            f"{l0s} {_mib(r.peak_rss)} {_mib(r.peak_anon)} {_mib(r.anon_delta)} "
            f"{r.stored_bytes / MiB:10.1f} {r.foreign_load:6.0%}")
        ]
        if r.reason:
            out.append(f"{'':<20} {'':<6} note: {r.reason}")
        return out

    return _table(title, head, rows, line)


def format_reads(rows: list[Row], title: str) -> str:
    """Fixed-width table of the random-read rows."""
    head = (
        f"{'contender':<20} {'layout':<6} {'reads':>6} {'min s':>7} {'median s':>8} {'reads/s':>8} "
        f"{'RSS MiB':>8} {'other%':>6}"
    )

    def line(r: Row) -> list[str]:
        reads = round(r.reads_per_s * r.median)
        return [
            (f"{r.contender:<20} {r.layout:<6} {reads:6d} {r.min:7.3f} {r.median:8.3f} "
            f"{r.reads_per_s:8.0f} {_mib(r.peak_rss)} {r.foreign_load:6.0%}")
        ]

    return _table(title, head, rows, line)


@dataclass
class Ratio:
    """One target (or context-only) ratio.

    ``value`` is computed on medians, ``value_min`` on minimums; ``op`` is
    ``"<="`` or ``">="``; ``target`` is ``None`` for context-only ratios;
    ``group`` is the workload/layout heading it is printed under.
    """

    group: str
    label: str
    value: float | None
    value_min: float | None
    op: str
    target: float | None
    missing: str = ""
    value_paired: float | None = None

    @property
    def verdict(self) -> str:
        """``PASS``/``MISS`` against the target, ``n/a`` without a value, ``info`` without a target."""
        if self.target is None:
            return "info"
        if self.value is None:
            return "n/a"
        ok = self.value <= self.target if self.op == "<=" else self.value >= self.target
        return "PASS" if ok else "MISS"


Key = tuple[str, str, str]  # (contender, layout, workload)


def paired_ratio(num: Row, den: Row) -> float | None:
    """Median over the repeats both rows ran of ``num``'s seconds over ``den``'s in
    the same repeat; ``None`` with fewer than two such repeats."""
    common = sorted(set(num.by_repeat) & set(den.by_repeat))
    if len(common) < 2:
        return None
    return statistics.median(num.by_repeat[i] / den.by_repeat[i] for i in common)


class _Ratios:
    """Builds :class:`Ratio` objects from the summarized rows."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = {(r.contender, r.layout, r.workload): r for r in rows}
        self.out: list[Ratio] = []
        self.group = ""

    def _ok(self, key: Key) -> Row | None:
        row = self.rows.get(key)
        return row if row is not None and row.ok else None

    def _why(self, keys: list[Key]) -> str:
        """Why a ratio over ``keys`` (subject first) cannot be computed; ``"not run"``
        exactly when the subject was not selected, so the ratio is dropped.
        """
        if keys[0] not in self.rows:
            return "not run"
        reasons = []
        for key in keys:
            row = self.rows.get(key)
            if row is None:
                reasons.append(f"{key[0]} not run")
            elif not row.ok:
                reasons.append(f"{key[0]} {row.status}: {row.reason}")
        return "; ".join(reasons) or "level0 phase missing"

    def _add(
        self,
        label: str,
        values: tuple[float, float] | None,
        op: str,
        target: float | None,
        keys: list[Key],
        paired: float | None = None,
    ) -> None:
        if values is None:
            self.out.append(Ratio(self.group, label, None, None, op, target, self._why(keys)))
        else:
            self.out.append(Ratio(self.group, label, values[0], values[1], op, target,
                                  value_paired=paired))

    def time(
        self,
        label: str,
        num: Key,
        dens: list[Key],
        op: str,
        target: float | None,
        phase: str | None = None,
    ) -> None:
        """``num`` seconds over the fastest of ``dens`` (lower is better)."""
        n = self._ok(num)
        ds = [d for d in map(self._ok, dens) if d is not None]
        values, paired = None, None
        if n is not None and ds and not math.isnan(n.stat("median", phase)):
            values = (
                n.stat("median", phase) / min(d.median for d in ds),
                n.stat("min", phase) / min(d.min for d in ds),
            )
            if phase is None:
                paired = paired_ratio(n, min(ds, key=lambda d: d.median))
        self._add(label, values, op, target, [num, *dens], paired)

    def speed(
        self,
        label: str,
        num: Key,
        den: Key,
        op: str,
        target: float | None,
        phase: str | None = None,
    ) -> None:
        """Throughput of ``num`` relative to ``den``: den seconds / num seconds (higher is better)."""
        n, d = self._ok(num), self._ok(den)
        values, paired = None, None
        if n is not None and d is not None and not math.isnan(n.stat("median", phase)):
            values = (d.median / n.stat("median", phase), d.min / n.stat("min", phase))
            if phase is None:
                paired = paired_ratio(d, n)
        self._add(label, values, op, target, [num, den], paired)

    def memory(self, label: str, key: Key, absolute: bool, target: float) -> None:
        """Peak anon MiB (``absolute``) or (peak anon - baseline) / input bytes."""
        row = self._ok(key)
        values = None
        if row is not None and row.input_bytes:
            v = row.peak_anon / MiB if absolute else row.anon_delta / row.input_bytes
            values = (v, v)
        self._add(label, values, "<=", target, [key])


def compute_ratios(rows: list[Row], workloads: dict[str, str]) -> list[Ratio]:
    """Every target of the Performance issue, plus context ratios, for the rows present.

    Parameters
    ----------
    rows : list of Row
        Output of :func:`summarize`.
    workloads : dict
        Workload key -> human label; ``"mem"`` is the in-memory workload and
        ``"big"`` the out-of-core one.

    Returns
    -------
    list of Ratio
        Ratios whose subject row was run (selected), in print order.
    """
    r = _Ratios(rows)
    for wl, wl_label in workloads.items():
        write_layouts = [
            lay
            for lay in LAYOUTS
            if any(k[1] == lay and k[2] == wl and k[0] not in READ_ROWS for k in r.rows)
        ]
        for lay in write_layouts:
            r.group = f"{wl_label}, {lay}"
            peers = [(p, lay, wl) for p in PEERS]
            uz_ts = ("uz.ts", lay, wl)
            for drv, peer_target, raw, l0_target in (
                ("ts", 0.4, "ts.raw", 0.9),
                ("zarr", 0.6, "zarr.raw", 1.0),
            ):
                uz = (f"uz.{drv}", lay, wl)
                r.time(f"uz.{drv} pipeline / fastest peer pipeline", uz, peers, "<=", peer_target)
                if drv == "ts":
                    r.time(
                        "uz.ts pipeline / hand-rolled ts.pyramid",
                        uz,
                        [("ts.pyramid", lay, wl)],
                        "<=",
                        1.0,
                    )
                r.speed(
                    f"uz.{drv} level-0 write speed / {raw}",
                    (f"uz.{drv}.l0", lay, wl),
                    (raw, lay, wl),
                    ">=",
                    l0_target,
                )
                if wl == "mem":
                    r.time(
                        f"uz.{drv} pipeline / physical limit ({PHYSICAL})",
                        uz,
                        [(PHYSICAL, NO_LAYOUT, wl)],
                        "<=",
                        3.0,
                    )
                    r.memory(
                        f"uz.{drv} (peak anon - baseline) / input bytes",
                        uz,
                        absolute=False,
                        target=1.25,
                    )
                else:
                    r.memory(
                        f"uz.{drv} peak anon MiB, out-of-core", uz, absolute=True, target=512.0
                    )
            # The straightforward API (create_array(data=memmap), then generate_pyramid):
            # what converters write without knowing about source=/write_base=.
            api_ts, api_zarr = ("uz.ts.api", lay, wl), ("uz.zarr.api", lay, wl)
            # Against the hand-rolled pyramid on the same input form: in memory the
            # straightforward rows read a memmap (page faults the in-memory rows never
            # take), and so does ts.pyramid.mmap; out of core every row reads one.
            same_input = ("ts.pyramid.mmap" if wl == "mem" else "ts.pyramid", lay, wl)
            r.time(f"uz.ts.api straightforward / hand-rolled {same_input[0]} (same input)",
                   api_ts, [same_input], "<=", 0.9)
            if wl == "mem":
                r.time("uz.ts.api straightforward (memmap) / hand-rolled ts.pyramid (memory)",
                       api_ts, [("ts.pyramid", lay, wl)], "<=", None)
            r.time("uz.ts one-pass / hand-rolled ts.pyramid (round 2)", uz_ts,
                   [("ts.pyramid", lay, wl)], "<=", 0.8)
            r.time("uz.ts.api straightforward / fastest peer pipeline", api_ts, peers, "<=", 0.35)
            r.time("uz.zarr.api straightforward / fastest peer pipeline", api_zarr, peers,
                   "<=", 0.6)
            r.time("uz.ts.api straightforward / uz.ts one-pass", api_ts, [uz_ts], "<=", None)
            r.time("uz.zarr.api straightforward / uz.zarr one-pass", api_zarr,
                   [("uz.zarr", lay, wl)], "<=", None)
            # Context for the targets above: no verdict.
            r.time("ts.pyramid / fastest peer pipeline", ("ts.pyramid", lay, wl), peers, "<=", None)
            if wl == "mem":
                r.time("ts.pyramid.mmap / ts.pyramid (cost of the memmap input)",
                       ("ts.pyramid.mmap", lay, wl), [("ts.pyramid", lay, wl)], "<=", None)
            r.speed(
                "zarr.raw speed / ts.raw", ("zarr.raw", lay, wl), ("ts.raw", lay, wl), ">=", None
            )
            r.speed(
                "ts.raw.fsync speed / ts.raw (cost of TS's default fsync)",
                ("ts.raw.fsync", lay, wl),
                ("ts.raw", lay, wl),
                ">=",
                None,
            )
        if any(k[0] in READ_ROWS and k[2] == wl for k in r.rows):
            r.group = f"{wl_label}, random reads from {READS_LAYOUT}"
            ts_reads = ("ts.reads", READS_LAYOUT, wl)
            for drv in ("ts", "zarr"):
                r.speed(
                    f"uz.{drv}.reads reads/s / ts.reads",
                    (f"uz.{drv}.reads", READS_LAYOUT, wl),
                    ts_reads,
                    ">=",
                    0.9,
                )
            r.speed(
                "uz.ts.reads / ts.reads.cached (TS with a 256 MiB cache)",
                ("uz.ts.reads", READS_LAYOUT, wl),
                ("ts.reads.cached", READS_LAYOUT, wl),
                ">=",
                None,
            )
            r.speed(
                "uz.zarr.reads / zarr.reads",
                ("uz.zarr.reads", READS_LAYOUT, wl),
                ("zarr.reads", READS_LAYOUT, wl),
                ">=",
                None,
            )
            r.speed("zarr.reads / ts.reads", ("zarr.reads", READS_LAYOUT, wl), ts_reads, ">=", None)
    return [
        x for x in r.out if x.value is not None or (x.target is not None and x.missing != "not run")
    ]


def format_ratios(ratios: list[Ratio]) -> str:
    """Ratios under one heading per workload/layout: median, min, target, verdict."""
    width = max((len(r.label) for r in ratios), default=40)
    head = f"{'ratio':<{width}} {'median':>8} {'min':>8} {'paired':>8} {'target':>9}  verdict"
    lines = [head, "-" * len(head)]
    group = None
    for r in ratios:
        if r.group != group:
            group = r.group
            lines.append(f"-- {group}")
        target = f"{r.op} {r.target:g}" if r.target is not None else ""
        if r.value is None:
            lines.append(
                f"{r.label:<{width}} {'':>8} {'':>8} {'':>8} {target:>9}  {r.verdict}"
                f"  ({r.missing})"
            )
        else:
            paired = f"{r.value_paired:8.3f}" if r.value_paired is not None else f"{'':>8}"
            lines.append(
                f"{r.label:<{width}} {r.value:8.3f} {r.value_min:8.3f} {paired} {target:>9}"
                f"  {r.verdict}"
            )
    return "\n".join(lines)


def as_json(rows: list[Row], ratios: list[Ratio]) -> dict[str, Any]:
    """JSON-ready summary (the raw runs are saved beside it by the caller)."""
    return {
        "rows": [asdict(r) for r in rows],
        "ratios": [{**asdict(r), "verdict": r.verdict} for r in ratios],
    }
