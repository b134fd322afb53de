"""tools/imports.py on small packages with a known import graph (and on unizarr)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "imports.py"


def _package(tmp_path: Path, modules: dict[str, str]) -> Path:
    root = tmp_path / "unizarr"
    for name, source in {"__init__": "", **modules}.items():
        path = root / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def _run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def test_a_cycle_its_dodge_and_an_upward_import_are_reported(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "errors": "",
        "core": "from .errors import x\n\ndef f():\n    from .api import open_group\n",
        "api": "from .core import f\nfrom unizarr import errors\n",
        "drivers.__init__": "",
        "drivers.mine": "from ..core import f\nfrom .. import api\n",
        "stray": "",
    })
    proc = _run("--root", root)
    assert proc.returncode == 1, proc.stdout
    out = proc.stdout
    assert "Cycles (counting function-level imports): 1\n  {api, core}" in out
    assert "Import-time cycles (module-level imports only): 0" in out
    assert "Imports of a higher floor: 1\n  core:4 in f(): from .api import open_group" in out
    assert "Function-level imports that dodge a cycle: 1" in out
    assert "      because api -> core" in out
    assert "Modules on no floor" in out and "  stray" in out
    assert out.rstrip().endswith("result: 1 cycle")
    strict = _run("--root", root, "--strict")
    assert strict.returncode == 1
    assert "1 cycle, 1 dodge, 1 unplaced, 1 upward" in strict.stdout


def test_a_one_way_package_is_clean(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "errors": "",
        "core": "from .errors import x\n",
        "api": "from .core import f\n\ndef g():\n    from . import errors\n",
    })
    proc = _run("--root", root, "--strict", "--edges")
    assert proc.returncode == 0, proc.stdout
    assert "Cycles (counting function-level imports): 0" in proc.stdout
    assert "api:1: from .core import f" in proc.stdout
    assert proc.stdout.rstrip().endswith("result: clean")


def test_unizarr_itself_is_a_one_way_house() -> None:
    """No cycle (not even through function-level imports), no import of a higher floor,
    no import that dodges a cycle, every module on a floor: fails when one comes back."""
    proc = _run("--strict")
    out = proc.stdout
    assert "Cycles (counting function-level imports): 0" in out, out
    assert "Import-time cycles (module-level imports only): 0" in out, out
    assert "Imports of a higher floor: 0" in out, out
    assert "Function-level imports that dodge a cycle: 0" in out, out
    assert "registry" in out and "Modules on no floor" not in out
    assert out.rstrip().endswith("result: clean") and proc.returncode == 0, out
