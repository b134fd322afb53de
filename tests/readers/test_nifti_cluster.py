"""``unizarr convert --scheduler`` of a ``.nii.gz`` on a real LocalCluster (2 worker
processes): the client decompresses and verifies the file once, the workers map that
copy instead of each decompressing the whole stream again, and nothing is left in the
spill directory afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.helpers import ok
from tests.readers.conftest import layout_args, level0

distributed = pytest.importorskip("distributed")


def _counts() -> dict[str, int]:
    from unizarr.readers import gzip_spill

    return dict(gzip_spill.COUNTS)


def _use_tmpdir(path: str | None) -> str | None:
    """Set (``None``: unset) ``UNIZARR_TMPDIR`` in this process; the previous value."""
    old = os.environ.get("UNIZARR_TMPDIR")
    if path is None:
        os.environ.pop("UNIZARR_TMPDIR", None)
    else:
        os.environ["UNIZARR_TMPDIR"] = path
    return old


def _spills(where: str | os.PathLike | None = None) -> set[str]:
    where = where or os.environ.get("UNIZARR_TMPDIR") or tempfile.gettempdir()
    return {f for f in os.listdir(where) if f.startswith("unizarr-spill-")}


def test_workers_map_the_clients_spill(
    client, tmp_path: Path, driver: str, zarr_version: int
) -> None:
    data = (np.arange(40 * 36 * 30) % 3001).astype("int16").reshape(40, 36, 30)
    src = tmp_path / "brain.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([0.5, 0.6, 0.7, 1.0])), src)
    before_counts = client.run(_counts)
    # A spill directory of this test's own: another test run on the machine spills
    # into the shared temporary directory meanwhile.
    # (the workers look for the client's copy in theirs: the same path, as on a cluster)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    previous = client.run(_use_tmpdir, str(spill_dir))
    out = tmp_path / "out.zarr"
    try:
        ok(subprocess.run(
            [sys.executable, "-m", "unizarr.cli", "convert", str(src), str(out), "--quiet",
             *layout_args(driver, zarr_version), "--scheduler", client.scheduler.address],
            capture_output=True, text=True, timeout=300,
            env=dict(os.environ, UNIZARR_TMPDIR=str(spill_dir)),
        ))
    finally:
        for worker, value in previous.items():
            client.run(_use_tmpdir, value, workers=[worker])
    np.testing.assert_array_equal(level0(out), data.transpose(2, 1, 0))
    after = client.run(_counts)
    inflated = sum(after[w]["inflated"] - before_counts[w]["inflated"] for w in after)
    shared = sum(after[w]["shared"] - before_counts[w]["shared"] for w in after)
    assert inflated == 0, after  # no worker decompressed the stream itself
    assert shared >= 1, after  # ... they mapped the client's verified copy
    assert _spills(spill_dir) == set()  # the client deleted its published copy


def test_without_the_published_copy_a_worker_decompresses_its_own(
    client, tmp_path: Path
) -> None:
    """The fallback (a worker on a machine that cannot see the spill directory): the
    worker's own verified pass, same voxels."""
    from unizarr.readers.worker_input import InputRef

    data = (np.arange(20 * 16 * 12) % 999).astype("int16").reshape(20, 16, 12)
    src = tmp_path / "small.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), src)
    ref = InputRef.of(src)

    def read_on_worker(ref: InputRef) -> tuple[np.ndarray, int]:
        before = _counts()["inflated"]
        with ref.open() as vol:
            return vol.read(), _counts()["inflated"] - before

    got, inflated = client.submit(read_on_worker, ref, pure=False).result()
    np.testing.assert_array_equal(got, data.transpose(2, 1, 0))
    assert inflated == 1
