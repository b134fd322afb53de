"""The driver registry under misuse: a second name for a driver, run-time registration,
name clashes, and handles crossing into spawned processes.

A driver keeps its first name; a second registration of its classes is an alias. A
handle pickles as its driver's name plus both classes by import path, so a spawn pool
or a dask worker reopens the *same* driver even when the driver was registered at run
time; an unpicklable driver fails in the parent at once, never as a hung pool. Every
pool wait has a timeout, and each case checks the disk.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import uuid
from pathlib import Path

import numpy as np
import pytest
import zarr

import unizarr as uz
from tests.adversarial.registry_drivers import RUNTIME, driver_of, total, write_block
from unizarr.drivers.tensorstore import ZarrTSGroup
from unizarr.drivers.zarr_python import ZarrPythonArray
from unizarr.registry import driver_from_token

#: Seconds a spawn pool may take before the case counts as hung.
POOL_TIMEOUT = 120


def _alias() -> str:
    return f"alias-{uuid.uuid4().hex[:8]}"


def _shards(zarr_version: int) -> dict:
    return {"shards": (8, 4)} if zarr_version == 3 else {}


def _pool_round_trip(group: uz.ZarrGroup) -> tuple[list, int, list]:
    """Write two blocks, sum the array and report the reopened driver, in a spawn pool."""
    a = group.create_array("a", (16, 4), "i4", chunks=(4,), **_shards(group.zarr_version))
    blocks = [(a, i, i + 8, i // 8 + 1) for i in range(0, 16, 8)]
    with mp.get_context("spawn").Pool(2) as pool:
        urls = pool.map_async(write_block, blocks).get(POOL_TIMEOUT)
        s = pool.apply_async(total, (a,)).get(POOL_TIMEOUT)
        seen = pool.map_async(driver_of, [group, a]).get(POOL_TIMEOUT)
    return urls, s, seen


def _expected() -> np.ndarray:
    return np.repeat([1, 2], 8)[:, None] * np.ones((16, 4), "i4")


# -- a second name is an alias, never a rename ------------------------------------------------
def test_alias_does_not_rename_the_driver(driver: str, tmp_path: Path, hashes) -> None:
    array_cls, group_cls = uz.get_driver(driver)
    alias = _alias()
    uz.register_driver(alias, array_cls, group_cls)
    assert array_cls.driver_name == group_cls.driver_name == driver
    assert uz.get_driver(alias) == (array_cls, group_cls)
    assert alias not in uz.drivers() and driver in uz.drivers()
    g = uz.open_group(str(tmp_path / "s.zarr"), "w", driver=alias)
    g["a"] = np.arange(6)
    assert g.driver_name == driver and g["a"].driver_name == driver
    before = hashes(tmp_path)
    blob = pickle.dumps(g["a"])
    assert driver.encode() in blob and alias.encode() not in blob
    clone = pickle.loads(blob)
    assert type(clone) is array_cls and clone.driver_name == driver
    np.testing.assert_array_equal(clone[...], np.arange(6))
    assert hashes(tmp_path) == before


def test_alias_handles_work_in_a_spawn_pool(driver: str, zarr_version: int, tmp_path: Path, hashes) -> None:
    array_cls, group_cls = uz.get_driver(driver)
    alias = _alias()
    uz.register_driver(alias, array_cls, group_cls)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("not unizarr's")
    outside = hashes(tmp_path / "precious")
    g = uz.open_group(str(tmp_path / "s.zarr"), "w", driver=alias, zarr_version=zarr_version)
    urls, s, seen = _pool_round_trip(g)
    assert urls == [g["a"].url] * 2
    assert s == _expected().sum()
    assert {name for name, _, _ in seen} == {driver}
    assert seen[0][2] == group_cls.__qualname__ and seen[1][2] == array_cls.__qualname__
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "s.zarr" / "a"), mode="r")[...], _expected())
    assert hashes(tmp_path / "precious") == outside


# -- registered at run time: the worker reopens the same classes ------------------------------
def test_runtime_driver_reopens_in_a_spawn_pool(driver: str, zarr_version: int, tmp_path: Path, hashes) -> None:
    array_cls, group_cls = RUNTIME[driver]
    name = f"runtime-{driver}"
    uz.register_driver(name, array_cls, group_cls)  # again in a later case: a no-op
    g = uz.open_group(str(tmp_path / "s.zarr"), "w", driver=name, zarr_version=zarr_version)
    assert type(g) is group_cls
    urls, s, seen = _pool_round_trip(g)
    assert s == _expected().sum()
    mod = group_cls.__module__
    assert seen == [(name, mod, group_cls.__qualname__), (name, mod, array_cls.__qualname__)]
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "s.zarr" / "a"), mode="r")[...], _expected())
    files = hashes(tmp_path)
    assert files["s.zarr/zarr.json" if zarr_version == 3 else "s.zarr/.zgroup"]


def test_unpicklable_driver_fails_in_the_parent_not_in_a_hung_pool(driver: str, zarr_version: int, tmp_path: Path, hashes) -> None:
    base_array, base_group = uz.get_driver(driver)

    class LocalArray(base_array):  # defined in a function: no import path
        pass

    class LocalGroup(base_group):
        pass

    name = f"local-{uuid.uuid4().hex[:8]}"
    uz.register_driver(name, LocalArray, LocalGroup)
    g = uz.open_group(str(tmp_path / "s.zarr"), "w", driver=name, zarr_version=zarr_version)
    a = g.create_array("a", (8,), "i4", chunks=(4,), data=np.arange(8))
    before = hashes(tmp_path)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError), match="[Ll]ocal"):
        pickle.dumps(a)
    with mp.get_context("spawn").Pool(1) as pool:
        job = pool.map_async(write_block, [(a, 0, 4, 9)])
        with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
            job.get(POOL_TIMEOUT)  # raises at once; a timeout here would be the old hang
    assert hashes(tmp_path) == before
    np.testing.assert_array_equal(a[...], np.arange(8))


# -- clashes are refused and change nothing ------------------------------------------------------
def _registry_state() -> tuple:
    return tuple((n, uz.get_driver(n)) for n in uz.drivers())


def test_a_taken_name_is_refused(driver: str) -> None:
    before = _registry_state()
    array_cls, group_cls = RUNTIME[driver]
    other = "tensorstore" if driver == "zarr-python" else "zarr-python"
    for taken in (driver, other, "ts", "zarr"):
        if uz.get_driver(taken) == (array_cls, group_cls):
            continue
        with pytest.raises(ValueError, match="already registered"):
            uz.register_driver(taken, array_cls, group_cls)
    assert _registry_state() == before
    assert uz.get_driver(driver) != (array_cls, group_cls)


def test_classes_of_two_drivers_cannot_be_mixed() -> None:
    before = _registry_state()
    with pytest.raises(ValueError, match="mix classes"):
        uz.register_driver(_alias(), ZarrPythonArray, ZarrTSGroup)
    assert _registry_state() == before
    assert ZarrPythonArray.driver_name == "zarr-python" and ZarrTSGroup.driver_name == "tensorstore"


@pytest.mark.parametrize("name", ["", "a:b", "../x", " x", "x y", "a/b", 3, None])
def test_bad_driver_names(driver: str, name) -> None:
    before = _registry_state()
    with pytest.raises(ValueError, match="driver name"):
        uz.register_driver(name, *uz.get_driver(driver))
    assert _registry_state() == before


@pytest.mark.parametrize("bad", ["pair", "swapped", "not-a-class", "instance"])
def test_non_driver_classes_are_type_errors(driver: str, bad: str) -> None:
    array_cls, group_cls = uz.get_driver(driver)
    args = {
        "pair": (dict, group_cls),
        "swapped": (group_cls, array_cls),
        "not-a-class": ("ZarrPythonArray", group_cls),
        "instance": (array_cls, object()),
    }[bad]
    before = _registry_state()
    with pytest.raises(TypeError):
        uz.register_driver(_alias(), *args)
    assert _registry_state() == before


def test_same_pair_same_name_is_a_no_op(driver: str) -> None:
    pair = uz.get_driver(driver)
    uz.register_driver(driver, *pair)
    assert uz.get_driver(driver) == pair and pair[0].driver_name == driver


def test_a_handle_meeting_other_classes_under_its_name_is_refused(driver: str) -> None:
    """A pickled handle whose driver name means other classes where it is unpickled is
    refused; it is never reopened with the wrong driver."""
    array_cls, group_cls = RUNTIME[driver]
    with pytest.raises(uz.UnsupportedDriverError, match=driver):
        driver_from_token((driver, array_cls, group_cls))
    assert uz.get_driver(driver) != (array_cls, group_cls)


def test_unknown_driver_names_the_known_ones(driver: str, tmp_path: Path) -> None:
    for name in ("nope", "tensorstor", "unizarr.nothing:Group", "unizarr.core:ZarrGroup"):
        with pytest.raises(uz.UnsupportedDriverError):
            uz.open_group(str(tmp_path / "x.zarr"), "w", driver=name)
    assert not (tmp_path / "x.zarr").exists()
    assert driver in str(pytest.raises(uz.UnsupportedDriverError, uz.get_driver, "nope").value)


def test_first_use_from_many_threads_does_not_deadlock(tmp_path: Path) -> None:
    """Threads asking for drivers by name while others import the driver modules
    directly, in a fresh process (nothing loaded yet): every thread finishes and every
    driver ends up registered once, under its own name."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import importlib, threading
        import unizarr as uz
        modules = {"zarr-python": "unizarr.drivers.zarr_python",
                   "tensorstore": "unizarr.drivers.tensorstore", "zarrs": "unizarr.drivers.zarrs"}
        errors = []
        def by_name(n):
            try:
                uz.get_driver(n)
            except Exception as exc:
                errors.append(exc)
        def by_import(n):
            importlib.import_module(modules[n])
        threads = [threading.Thread(target=f, args=(n,), daemon=True)
                   for _ in range(3) for n in modules for f in (by_name, by_import)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        print(sum(t.is_alive() for t in threads), errors)
        print(uz.drivers(), [uz.get_driver(n)[1].driver_name for n in modules])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "0 []",
        "['tensorstore', 'zarr-python', 'zarrs'] ['zarr-python', 'tensorstore', 'zarrs']",
    ]
