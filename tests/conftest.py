"""Fixtures shared by the whole suite."""

from __future__ import annotations

from tests.helpers import snapshot  # noqa: F401  (re-exported for tests)

import pytest

import unizarr as uz

# moto S3 server and http.server fixtures, available to every test module
pytest_plugins = ["tests.remote_fixtures"]

DRIVERS = uz.drivers()
VERSIONS = (2, 3)


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=VERSIONS, ids=lambda v: f"v{v}")
def zarr_version(request: pytest.FixtureRequest) -> int:
    return request.param
