"""Two real processes (multiprocessing "spawn") race on one store's metadata.

* attribute write-back (read-modify-write) against a replacement of the same array:
  a stale document must never be written back over the new array;
* ``open_group(p, "a")`` with Zarr v2 in one process and v3 in the other: the store
  ends with one version, never both ``.zgroup`` and ``zarr.json``.

Each case repeats the race enough times to have caught the bug before the metadata lock
(measured: every case failed without it).
"""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

import unizarr as uz

ROUNDS = 40


def _attr_writer(url: str, driver: str, start, stop) -> None:
    g = uz.open_group(url, "r+", driver=driver)
    arr = g["a"]
    start.wait(60)
    i = 0
    while not stop.is_set():
        i += 1
        try:
            arr.attrs["k"] = i  # read-modify-write of the array's attribute document
        except Exception:  # noqa: BLE001 - the adversary keeps going whatever happens
            pass


def _replacer(url: str, driver: str, rounds: int, start, stop, out) -> None:
    bad: list = []
    try:
        g = uz.open_group(url, "r+", driver=driver)
        start.wait(60)
        for i in range(1, rounds + 1):
            g.create_array("a", (i,), "i4", attributes={"gen": i}, overwrite=True)
            for _ in range(3):  # look again while the other process keeps writing
                doc = g["a"].metadata
                gen = dict(g["a"].attrs).get("gen")
                if list(doc["shape"]) != [i] or gen != i:
                    bad.append((i, list(doc["shape"]), gen))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails
        bad.append(("raised", repr(exc)[:300]))
    finally:
        stop.set()
        out.put(bad)


def test_stale_attribute_write_back_never_replaces_new_metadata(
    driver, zarr_version, tmp_path, hashes
):
    url = str(tmp_path / "g.zarr")
    g = uz.open_group(url, "w", driver=driver, zarr_version=zarr_version)
    g.create_array("a", (1,), "i4", attributes={"gen": 0})
    ctx = mp.get_context("spawn")
    start, stop, out = ctx.Barrier(2), ctx.Event(), ctx.Queue()
    writer = ctx.Process(target=_attr_writer, args=(url, driver, start, stop))
    replacer = ctx.Process(target=_replacer, args=(url, driver, ROUNDS, start, stop, out))
    writer.start()
    replacer.start()
    bad = out.get(timeout=300)
    writer.join(timeout=60)
    replacer.join(timeout=60)
    assert writer.exitcode == 0 and replacer.exitcode == 0
    assert bad == [], f"stale metadata written back over a replaced array: {bad[:5]}"
    final = uz.open_group(url, "r", driver=driver)["a"]
    assert final.shape == (ROUNDS,) and final.attrs["gen"] == ROUNDS
    before = hashes(url)
    np.testing.assert_array_equal(final[:], np.zeros(ROUNDS, "i4"))
    assert hashes(url) == before


def _open_a(base: str, driver: str, version: int, rounds: int, start, out) -> None:
    results: list = []
    try:
        for r in range(rounds):
            start.wait(60)
            try:
                g = uz.open_group(os.path.join(base, f"r{r}.zarr"), "a", driver=driver,
                                  zarr_version=version)
                results.append(g.zarr_version)
            except uz.ZarrVersionError:
                results.append(None)  # the other process created it first: refused, fine
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails
        results.append(("raised", repr(exc)[:300]))
    finally:
        out.put((version, results))


def test_mixed_version_open_a_race_ends_with_one_version(driver, tmp_path):
    rounds = 25
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_open_a, args=(str(tmp_path), driver, v, rounds, start, out))
             for v in (2, 3)]
    for p in procs:
        p.start()
    got = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    for r in range(rounds):
        store = tmp_path / f"r{r}.zarr"
        has2, has3 = (store / ".zgroup").exists(), (store / "zarr.json").exists()
        assert has2 != has3, f"round {r}: .zgroup={has2} zarr.json={has3}"
        winner = 2 if has2 else 3
        # exactly one process opened it, with the version on disk; the other was refused
        opened = [got[v][r] for v in (2, 3)]
        assert sorted(opened, key=str) == sorted([winner, None], key=str), (r, opened)
