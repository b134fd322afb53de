"""Fixtures shared by the whole suite."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

import unizarr as uz
from tests.helpers import snapshot  # noqa: F401  (re-exported for tests)


def pytest_configure(config: pytest.Config) -> None:
    """A test run started in the background by a non-interactive shell (``make test &``)
    inherits SIGINT ignored, and so would every CLI subprocess the Ctrl-C tests
    interrupt: Python keeps an inherited ``SIG_IGN``, so the child never sees the
    signal and finishes with exit 0. Runs in every xdist worker too."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

# moto S3 server and http.server fixtures, available to every test module
pytest_plugins = ["tests.remote_fixtures"]

# The two engines. The "zarrs" driver (zarr-python with another codec pipeline) and any
# third-party driver prove themselves with the shipped conformance suite
# (unizarr.testing, run on every built-in driver in tests/conformance).
DRIVERS = [d for d in uz.drivers() if d in ("zarr-python", "tensorstore")]
VERSIONS = (2, 3)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A real ``dask.distributed`` cluster of 2 worker processes x 1 thread (one per
    test module), its client the default one while the module runs."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        host="127.0.0.1",  # services the tests start listen on loopback only
        silence_logs=50,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=VERSIONS, ids=lambda v: f"v{v}")
def zarr_version(request: pytest.FixtureRequest) -> int:
    return request.param
