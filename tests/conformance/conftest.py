"""The conformance suite lives in :mod:`unizarr.testing` (shipped, so that any driver
proves itself by subclassing); the modules here run it on the built-in drivers.

``env`` is kept for plain test functions: the root ``driver`` x ``zarr_version`` fixtures
and a scratch directory, as :class:`unizarr.testing.Env`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from unizarr.testing import Env


@pytest.fixture
def env(driver: str, zarr_version: int, tmp_path: Path) -> Env:
    return Env(driver, zarr_version, tmp_path)
