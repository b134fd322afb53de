"""Remote failure modes on every driver: bad credentials, a server that dies mid-write."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import unizarr as uz
from tests.remote_fixtures import start_moto_process

pytest.importorskip("moto")


@pytest.fixture(scope="module")
def auth_server():
    # INITIAL_NO_AUTH_ACTION_COUNT=0 makes moto check credentials: no key is valid.
    proc, endpoint = start_moto_process({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    yield endpoint
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("mode", ["r", "a", "w"])
def test_bad_credentials_are_permission_errors(driver, auth_server, mode):
    so = {"endpoint_url": auth_server, "key": "wrong", "secret": "wrong", "timeout": 5, "retries": 0}
    with pytest.raises(PermissionError, match="credentials") as info:
        uz.open_group("s3://bucket/x.zarr", mode, driver=driver, storage_options=so)
    assert "s3://bucket/x.zarr" in str(info.value)


def test_server_gone_mid_write_raises_quickly(driver):
    import boto3

    proc, endpoint = start_moto_process()
    try:
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="t", aws_secret_access_key="t",
                     region_name="us-east-1").create_bucket(Bucket="bkt")
        so = {"endpoint_url": endpoint, "key": "t", "secret": "t", "timeout": 3, "retries": 1}
        g = uz.open_group("s3://bkt/x.zarr", "w", driver=driver, storage_options=so)
        data = np.random.default_rng(0).integers(0, 1000, (192, 192, 192)).astype("u2")
        killer = threading.Timer(0.3, proc.kill)
        killer.start()
        start = time.monotonic()
        with pytest.raises(uz.StoreUnavailableError, match="could not reach"):
            g.create_array("0", data.shape, data=data, chunks=(32,))
            g.attrs["complete"] = True  # a converter's completion marker, written last
        assert time.monotonic() - start < 60  # no hang: timeouts and retries are bounded
        killer.join()
    finally:
        proc.kill()
        proc.wait()
