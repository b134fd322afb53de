"""What every conformance suite shares: the driver x Zarr version parametrisation, the
per-test scratch environment and a disk snapshot to prove that nothing changed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

import unizarr as uz


def snapshot(root: str | os.PathLike[str]) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: compare before/after to prove that a
    refused operation changed nothing on disk."""
    root = Path(root)
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@dataclass
class Env:
    """One driver x Zarr version combination and a scratch directory."""

    driver: str
    zarr_version: int
    tmp: Path

    def url(self, name: str = "store.zarr") -> str:
        return str(self.tmp / name)

    def group(self, name: str = "store.zarr", mode: str = "w", **kw: Any) -> uz.ZarrGroup:
        kw.setdefault("zarr_version", self.zarr_version)
        return uz.open_group(self.url(name), mode, driver=self.driver, **kw)

    def array(self, name: str, mode: str = "a", **kw: Any) -> uz.ZarrArray:
        return uz.open_array(self.url(name), mode, driver=self.driver, **kw)

    @property
    def shard_kw(self) -> dict[str, Any]:
        """Shards only where the format has them."""
        return {"shards": (8,)} if self.zarr_version == 3 else {}


class DriverSuite:
    """Base of the conformance suites: set :attr:`driver` in a subclass named ``Test...``.

    Every test runs once per Zarr version in :attr:`zarr_versions`, with ids such as
    ``[zarrs-v3]`` (so ``pytest -k zarrs`` selects one driver).
    """

    #: The registered name of the driver under test.
    driver: ClassVar[str] = ""
    #: The Zarr versions the driver supports.
    zarr_versions: ClassVar[tuple[int, ...]] = (2, 3)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # pytest calls this hook on the test class too: the parameters follow the
        # subclass's attributes, and direct parametrisation here wins over any
        # ``driver`` / ``zarr_version`` fixture of the project running the suite.
        if not self.driver:
            raise TypeError(f"{type(self).__name__} must set the class attribute 'driver'")
        if "driver" in metafunc.fixturenames:
            metafunc.parametrize("driver", [self.driver], scope="function")
        if "zarr_version" in metafunc.fixturenames:
            metafunc.parametrize(
                "zarr_version", list(self.zarr_versions), ids=lambda v: f"v{v}", scope="function"
            )

    @pytest.fixture
    def env(self, driver: str, zarr_version: int, tmp_path: Path) -> Env:
        """The driver under test, one Zarr version, and a scratch directory."""
        return Env(driver, zarr_version, tmp_path)
