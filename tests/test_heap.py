"""unizarr.heap: free memory that malloc keeps is handed back once a call outgrows its
budget, and not before; the pyramid checks between the pieces it writes.

The retention is made for real: a thread allocates 64 KiB blocks (malloc serves them
from that thread's heap, not from separate mappings) and frees all but the last, which
keeps the heap from shrinking from its top.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import unizarr as uz
from unizarr import heap

MiB = 2**20

glibc_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux") or heap._libc() is None,
    reason="malloc_trim and /proc/self/statm are glibc/Linux features",
)


def _retain(nbytes: int, keep: list[bytearray]) -> None:
    """Leave about ``nbytes`` freed in a thread's malloc heap (its last block kept)."""

    def work() -> None:
        blocks = [bytearray(b"\1" * 65536) for _ in range(nbytes // 65536)]
        keep.append(blocks[-1])
        del blocks

    t = threading.Thread(target=work)
    t.start()
    t.join()


def _rss_anon() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon:"))


@glibc_linux
def test_anon_bytes_is_the_resident_anonymous_memory():
    ours, kernel = heap.anon_bytes(), _rss_anon()
    assert ours is not None
    assert abs(ours - kernel) < 16 * MiB, (ours, kernel)


@glibc_linux
@pytest.mark.parametrize(
    ("allowance", "retained", "trims"),
    [(64 * MiB, 256 * MiB, 1), (1024 * MiB, 128 * MiB, 0)],
    ids=["over-budget", "within-budget"],
)
def test_watch_hands_back_what_threads_freed_over_budget_only(allowance, retained, trims):
    keep: list[bytearray] = []
    watch = heap.Watch(allowance)
    _retain(retained, keep)
    held = heap.anon_bytes()
    watch.check()
    after = heap.anon_bytes()
    assert watch.trims == trims
    if trims:
        assert held - after > retained // 2, (held >> 20, after >> 20)
    else:
        assert after > held - 32 * MiB  # nothing handed back
    assert keep[0][:1] == b"\1"  # what is still in use is untouched
    heap.trim()


@glibc_linux
def test_watch_over_budget_with_live_memory_trims_once_per_step():
    """Live memory above the mark is not freed by trimming: the watch does not trim
    again at every check, only after another quarter of the allowance of growth."""
    watch = heap.Watch(16 * MiB)
    live = np.ones(96 * MiB, np.uint8)  # touched: resident
    watch.check()
    watch.check()
    assert watch.trims == 1
    more = np.ones(16 * MiB, np.uint8)
    watch.check()
    assert watch.trims == 2
    assert int(live[-1]) + int(more[-1]) == 2


def test_watch_without_malloc_trim_does_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_libc", lambda: None)
    watch = heap.Watch(0)
    keep: list[bytearray] = []
    _retain(16 * MiB, keep)
    watch.check()
    assert watch.mark is None and watch.trims == 0
    assert heap.trim() is False


@pytest.mark.parametrize("one_pass", [True, False], ids=["one-pass", "after-create"])
def test_pyramid_checks_between_pieces(tmp_path, driver, zarr_version, monkeypatch, one_pass):
    """Every level-0 piece and every pyramid tile is followed by a check, on both
    drivers, and the store is the one built without a watch."""
    checks = []
    real = heap.Watch.check

    def counting(self: heap.Watch) -> None:
        checks.append(threading.current_thread().name)
        real(self)

    vol = (np.arange(64 * 64 * 256, dtype=np.uint32) % 65521).astype(np.uint16)
    vol = vol.reshape(64, 64, 256)
    expected = {}
    for watched in (False, True):
        if watched:
            monkeypatch.setattr(heap.Watch, "check", counting)
        g = uz.open_group(str(tmp_path / f"w{watched}.zarr"), "w", driver=driver,
                          zarr_version=zarr_version)
        if one_pass:
            g.create_array("0", vol.shape, vol.dtype, chunks=(16,))
            uz.generate_pyramid(g, levels=2, source=vol, write_base=True,
                                max_memory=256 * 1024)
        else:
            g.create_array("0", vol.shape, vol.dtype, chunks=(16,))[...] = vol
            uz.generate_pyramid(g, levels=2, max_memory=256 * 1024)
        for level in ("0", "1", "2"):
            data = g[level][...]
            if watched:
                np.testing.assert_array_equal(data, expected[level])
            else:
                expected[level] = data
    # several pieces of level 0 (one-pass) and several tiles, each followed by a check
    assert len(checks) >= 4, checks
