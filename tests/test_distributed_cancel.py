"""An error on a real dask.distributed cluster is raised only once the tasks already
running on the workers have ended: a worker cannot stop a running thread, so a
cancelled task would otherwise go on writing after the caller was told it failed (and
after the output's lock was released)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.adversarial.conftest import tree_hashes
from unizarr.distributed import Pending, Tracker, wait_until_stopped
from unizarr.errors import CorruptDataError

pytest.importorskip("distributed")  # the ``client`` fixture (conftest) needs it


def test_error_leaves_no_task_writing(client, tmp_path: Path) -> None:
    def write_late(path: str, delay: float) -> None:
        time.sleep(delay)
        Path(path).write_text("written")

    def fail() -> None:
        time.sleep(0.3)  # the writers have started
        raise CorruptDataError("the slice z7.tif is truncated")

    with pytest.raises(CorruptDataError, match="z7.tif"):  # its own type and message
        with Pending(client, Tracker(None, 4)) as pending:
            pending.add(client.submit(fail, pure=False), 1)
            for name in ("a", "b", "c"):  # one runs beside fail(), the others queue
                pending.add(client.submit(write_late, str(tmp_path / name), 1.5, pure=False), 1)
            pending.wait()
    at_error = tree_hashes(tmp_path)
    assert at_error  # the writer that was running when fail() raised had finished
    time.sleep(2.0)
    assert tree_hashes(tmp_path) == at_error  # ... and nothing ran after the error


def test_wait_until_stopped_reports_a_task_still_running(client) -> None:
    future = client.submit(time.sleep, 1.0, pure=False)
    while future.key not in {k for ks in client.processing().values() for k in ks}:
        time.sleep(0.01)
    time.sleep(0.1)  # executing on its worker
    client.cancel([future])
    assert wait_until_stopped(client, [future.key], timeout=0.2) is False
    assert wait_until_stopped(client, [future.key], timeout=5.0) is True
