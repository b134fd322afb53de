"""The driver plugin contract, as a third-party package uses it: a driver declared by
packaging alone (a ``*.dist-info`` with an ``unizarr.drivers`` entry point on the path,
exactly what ``pip install`` leaves), picked up by the library and the CLI, and proved
(or refused) by the shipped conformance suite, each in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import zarr

import unizarr as uz
from tests.helpers import ok, user_error

DRIVER_MODULE = '''
import numpy as np

import unizarr
from unizarr.drivers.zarr_python import ZarrPythonArray, ZarrPythonGroup


class FakeArray(ZarrPythonArray):
    pass


class FakeGroup(ZarrPythonGroup):
    pass


class LossyArray(ZarrPythonArray):
    """Drops every other write: the conformance suite must catch it."""

    def _write(self, region, value):
        if np.asarray(value).flat[0] % 2:
            return
        super()._write(region, value)


class LossyGroup(ZarrPythonGroup):
    pass


unizarr.register_driver("fake", FakeArray, FakeGroup)
unizarr.register_driver("lossy", LossyArray, LossyGroup)
'''

ENTRY_POINTS = """\
[unizarr.drivers]
fake = unizarr_fake_driver
lossy = unizarr_fake_driver
broken = unizarr_broken_driver
silent = unizarr_silent_driver
missing = unizarr_no_such_module
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory laid out as ``pip install`` would leave a driver package."""
    site = tmp_path / "site"
    dist = site / "unizarr_fake_driver-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: unizarr-fake-driver\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "unizarr_fake_driver.py").write_text(DRIVER_MODULE)
    (site / "unizarr_broken_driver.py").write_text("raise RuntimeError('this plugin is broken')\n")
    (site / "unizarr_silent_driver.py").write_text("# imports fine, registers nothing\n")
    return site


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _python(site: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        cwd=cwd, env=_env(site), timeout=180,
    )


def _cli(site: Path, cwd: Path, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unizarr.cli", *map(str, args)], capture_output=True, text=True,
        cwd=cwd, env=_env(site), timeout=180,
    )


def test_builtin_drivers_are_declared_as_entry_points() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="unizarr.drivers")}
    assert declared["zarr-python"] == "unizarr.drivers.zarr_python"
    assert declared["tensorstore"] == "unizarr.drivers.tensorstore"
    assert declared["zarrs"] == "unizarr.drivers.zarrs"
    assert {"zarr-python", "tensorstore", "zarrs"} <= set(uz.drivers())


def test_an_installed_driver_is_found_by_name(site: Path, tmp_path: Path) -> None:
    proc = ok(_python(site, """
        import pickle, warnings
        import numpy as np
        import unizarr as uz
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = uz.drivers()
        print(names)
        print([str(w.message) for w in caught])
        g = uz.open_group("out.zarr", "w", driver="fake")
        g["a"] = np.arange(5)
        print(type(g).__name__, type(g["a"]).__name__, g["a"].driver_name)
        print(type(pickle.loads(pickle.dumps(g["a"]))).__name__)
        print(uz.get_driver("unizarr_fake_driver:FakeGroup")[1].__name__)
        for name in ("broken", "silent", "missing"):
            try:
                uz.get_driver(name)
            except uz.UnsupportedDriverError as exc:
                print(name, "->", exc)
    """, tmp_path))
    lines = proc.stdout.splitlines()
    assert lines[0] == "['fake', 'lossy', 'tensorstore', 'zarr-python', 'zarrs']"
    # a broken third-party driver is a warning naming it, not a failure of unizarr
    assert "broken" in lines[1] and "this plugin is broken" in lines[1]
    assert "silent" in lines[1] and "did not call unizarr.register_driver('silent'" in lines[1]
    assert "missing" not in lines[1]  # not installed: simply not listed
    assert lines[2] == "FakeGroup FakeArray fake"
    assert lines[3] == "FakeArray"
    assert lines[4] == "FakeGroup"
    assert lines[5].startswith("broken -> driver 'broken' (unizarr_broken_driver) cannot be loaded: RuntimeError")
    assert lines[6].startswith("silent -> entry point 'silent'")
    assert lines[7].startswith("missing -> driver 'missing' (unizarr_no_such_module) cannot be loaded: ModuleNotFoundError")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "out.zarr" / "a"), mode="r")[...], np.arange(5))


def test_the_cli_accepts_any_installed_driver(site: Path, tmp_path: Path) -> None:
    vol = np.arange(16 * 12 * 10, dtype="u2").reshape(16, 12, 10)
    np.save(tmp_path / "v.npy", vol)
    ok(_cli(site, tmp_path, "convert", "v.npy", "o.zarr", "--driver", "fake", "--chunk", "8"))
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "o.zarr" / "0"), mode="r")[...], vol)
    ok(_cli(site, tmp_path, "info", "o.zarr", "--driver", "fake"))
    for name, match in (("nope", "available drivers: fake, lossy, tensorstore, zarr-python, zarrs"),
                        ("broken", "this plugin is broken")):
        user_error(_cli(site, tmp_path, "convert", "v.npy", f"{name}.zarr", "--driver", name), match)
        assert not (tmp_path / f"{name}.zarr").exists()


SUITE = '''
from unizarr.testing import KVStoreTests, ModeTests


class TestFake(ModeTests, KVStoreTests):
    driver = "fake"


class TestLossy(ModeTests):
    driver = "lossy"
    zarr_versions = (3,)
'''


def _suite(site: Path, project: Path, select: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-rfs", "-k", select, "test_driver.py"],
        capture_output=True, text=True, cwd=project, env=_env(site), timeout=600,
    )
    return proc.returncode, proc.stdout


def test_an_external_driver_proves_itself_with_the_shipped_suite(site: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_driver.py").write_text(SUITE)
    rc, out = _suite(site, project, "TestFake")
    summary = out.strip().splitlines()[-1]
    assert rc == 0, out[-3000:]
    assert "failed" not in summary and "skipped" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 80, summary  # 88 today
    # a driver that loses writes is caught
    rc, out = _suite(site, project, "TestLossy")
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert rc == 1 and failed, out[-3000:]
    assert all("TestLossy" in line for line in failed)
