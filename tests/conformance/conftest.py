"""The conformance fixture: every test here runs on each driver x Zarr version.

A driver is "done" when this suite passes on it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import unizarr as uz


@dataclass
class Env:
    """One driver x version combination and a scratch directory."""

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


@pytest.fixture
def env(driver: str, zarr_version: int, tmp_path: Path) -> Env:
    return Env(driver, zarr_version, tmp_path)
