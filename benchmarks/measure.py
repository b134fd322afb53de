"""Process-level measurements used by the worker: memory, stored bytes, fsync.

Peak RSS (``VmHWM``) counts file-backed pages too, so for an ``np.memmap``
input it grows with every page of the input that has been touched even though
the kernel can drop those pages at will. The out-of-core target is therefore
about *anonymous* memory (``RssAnon``), whose peak the kernel does not track:
:class:`AnonSampler` polls it from a thread.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

MiB = 1 << 20


def _status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (0 where unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def anon_bytes() -> int:
    """Current anonymous resident memory of this process."""
    return _status_kib("RssAnon") * 1024


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (``VmHWM``, as ``ru_maxrss``)."""
    hwm = _status_kib("VmHWM")
    if hwm:
        return hwm * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class AnonSampler:
    """Track the peak of ``RssAnon`` by polling it every ``interval`` seconds.

    Polling costs a ``/proc`` read per interval in a thread that holds the GIL
    only for that read; the libraries measured do their heavy work with the
    GIL released, so the sampler neither slows them nor misses much.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = anon_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, anon_bytes())

    def __enter__(self) -> AnonSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, anon_bytes())


def tree_bytes(path: Path) -> int:
    """Total size of the regular files under ``path`` (or of ``path`` itself)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def fsync_tree(path: Path) -> None:
    """Fsync every file and directory under ``path``.

    Used to make writers that never fsync (zarr-python, ngff-zarr,
    ome-zarr-py) as durable as TensorStore with ``file_io_sync`` on, when the
    harness runs with ``--fsync``.
    """
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
