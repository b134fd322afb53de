"""Progress of the ``unizarr`` command on stderr: rich bars on a terminal, plain log
lines in a batch job (stderr redirected to a file, as under SLURM), nothing with
``--quiet``.

The library reports ``progress(done, total)``; :class:`Reporter` turns that into a bar
or into lines such as ``convert: 37% (120/324 blocks) 45 s elapsed``. A log line is
written when a new tenth of the work is reached or ``interval`` seconds have passed
since the last line, but never during the first ``interval`` seconds: a job shorter
than that writes nothing, as before, and an error stays the only line on stderr. The
interval is 10 s, or the ``UNIZARR_PROGRESS_INTERVAL`` environment variable (seconds).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .io.report import human_bytes

#: Seconds between two log lines when stderr is not a terminal.
DEFAULT_INTERVAL = 10.0
INTERVAL_VARIABLE = "UNIZARR_PROGRESS_INTERVAL"


def log_interval() -> float:
    """The log-line interval: ``UNIZARR_PROGRESS_INTERVAL`` seconds, else 10."""
    text = os.environ.get(INTERVAL_VARIABLE, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{INTERVAL_VARIABLE} must be a number of seconds, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{INTERVAL_VARIABLE} must be >= 0 seconds, got {text!r}")
    return value


def amount(done: float, total: float | None, unit: str) -> str:
    """``1.2 GiB / 3.3 GiB`` for bytes, ``120/324 blocks`` otherwise."""
    if unit == "B":
        return f"{human_bytes(done)} / {human_bytes(total)}"
    return f"{int(done)}/{'?' if total is None else int(total)} {unit}"


class _AmountColumn(ProgressColumn):
    """Bytes written (or blocks, for the pyramid)."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "B")
        total = task.total or 0
        if unit == "B":
            return Text(f"{human_bytes(task.completed)}/{human_bytes(total)}")
        return Text(f"{int(task.completed)}/{int(total)} {unit}")


class _SpeedColumn(ProgressColumn):
    """Throughput: MiB/s for bytes, blocks/s otherwise."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("")
        if task.fields.get("unit", "B") == "B":
            return Text(f"{human_bytes(speed)}/s")
        return Text(f"{speed:.1f} {task.fields['unit']}/s")


class LogLines:
    """Progress of one task as periodic plain lines on ``stream`` (see the module
    docstring for when a line is written). Thread-safe: the library reports from its
    worker threads."""

    def __init__(self, label: str, total: float | None, unit: str, stream: TextIO,
                 interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.last = self.start
        self.done = 0.0
        self.tenth = 0  # tenths of the work already reported
        self.lines = 0
        self.written = 0.0  # the amount the last line showed
        self.lock = threading.Lock()

    def update(self, *, advance: float = 0, completed: float | None = None,
               total: float | None = None) -> None:
        with self.lock:
            if total is not None:
                self.total = total
            # Reports from worker threads may arrive out of order: never go back.
            self.done = max(self.done, completed) if completed is not None else (
                self.done + advance)
            now = self.clock()
            if now - self.start < self.interval or (self.lines and self.done == self.written):
                return
            tenth = self._tenth()
            if tenth > self.tenth or now - self.last >= self.interval:
                self.tenth = max(tenth, self.tenth)
                self._write(now)

    def finish(self) -> None:
        """A last line at 100 %, when the task wrote any line (a short task stays silent)."""
        with self.lock:
            if self.lines and not (self.total and self.written == self.total):
                if self.total:
                    self.done = self.total
                self._write(self.clock())

    def _tenth(self) -> int:
        return int(10 * self.done / self.total) if self.total else 0

    def _write(self, now: float) -> None:
        percent = f"{100 * self.done / self.total:.0f}% " if self.total else ""
        print(f"{self.label}: {percent}({amount(self.done, self.total, self.unit)}) "
              f"{now - self.start:.0f} s elapsed", file=self.stream, flush=True)
        self.last = now
        self.written = self.done
        self.lines += 1


class Reporter:
    """Progress on stderr unless ``quiet``: bars when it is a terminal, log lines
    (:class:`LogLines`) when it is not. ``command`` prefixes the log lines."""

    def __init__(self, quiet: bool = False, command: str = "") -> None:
        self.quiet = quiet
        self.command = command
        self.terminal = not quiet and sys.stderr.isatty()
        self.interval = log_interval()  # a bad value is refused before any work
        self._progress: Progress | None = None

    def __enter__(self) -> Reporter:
        if self.terminal:
            self._progress = Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                TaskProgressColumn(),
                _AmountColumn(),
                _SpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def task(
        self, description: str, total: float | None, unit: str = "B"
    ) -> Iterator[Callable[..., None]]:
        """Yield ``update(advance=..., completed=..., total=...)`` for one task."""
        if self.quiet:
            yield lambda **kw: None
            return
        progress = self._progress
        if progress is None:
            label = description if self.command in ("", description) else (
                f"{self.command}: {description}")
            lines = LogLines(label, total, unit, sys.stderr, self.interval)
            yield lines.update
            lines.finish()  # on success only, as the bar's 100 % below
            return
        task_id = progress.add_task(description, total=total, unit=unit)
        yield lambda **kw: progress.update(task_id, **kw)
        # Reached only on success: a finished bar shows 100 % even when the work was
        # smaller than announced (e.g. a pyramid with no level to build).
        progress.update(task_id, total=progress.tasks[task_id].total or 1,
                        completed=progress.tasks[task_id].total or 1)
