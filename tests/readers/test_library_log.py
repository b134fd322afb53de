"""The input libraries' log lines and warnings (nibabel's header fixes, ...) never reach
stderr during ``unizarr convert``: they are shown in the summary, naming the library."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from tests.helpers import ok
from tests.readers.conftest import layout_args, level0
from unizarr.readers.library_log import library_messages

FIX = "pixdim[1,2,3] should be positive"


def _negative_pixdim(path: Path) -> np.ndarray:
    """A NIfTI whose pixdim[1] is negative: nibabel fixes it and logs on load."""
    data = np.arange(6 * 5 * 4, dtype="int16").reshape(6, 5, 4)
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    raw = bytearray(path.read_bytes())
    raw[80:84] = struct.pack("<f", -2.0)  # pixdim[1]
    path.write_bytes(bytes(raw))
    return data


def test_nibabel_lines_go_to_the_summary_not_stderr(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    src = tmp_path / "flipped.nii"
    data = _negative_pixdim(src)
    # the independent check: nibabel itself does log this file
    plain = subprocess.run([sys.executable, "-c", f"import nibabel; nibabel.load({str(src)!r})"],
                           capture_output=True, text=True, timeout=120)
    assert FIX in plain.stderr
    out = tmp_path / "out.zarr"
    cmd = [sys.executable, "-m", "unizarr.cli", "convert", str(src), str(out),
           *layout_args(driver, zarr_version)]
    proc = ok(subprocess.run(cmd, capture_output=True, text=True, timeout=300))
    assert proc.stderr == ""
    notes = [line for line in proc.stdout.splitlines() if FIX in line]
    assert notes == [f"  note from nibabel: {FIX}; setting to abs of pixdim values"]
    np.testing.assert_array_equal(level0(out), data.transpose(2, 1, 0))
    quiet = ok(subprocess.run(cmd + ["--quiet", "--overwrite"],
                              capture_output=True, text=True, timeout=300))
    assert quiet.stderr == "" and quiet.stdout == ""


def test_other_warnings_still_show_and_handlers_come_back(tmp_path: Path) -> None:
    import logging

    src = tmp_path / "flipped.nii"
    _negative_pixdim(src)
    before = list(logging.getLogger("nibabel.global").handlers)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with library_messages() as notes:
            nib.load(src)
            warnings.warn("not a library's", UserWarning, stacklevel=1)
    assert notes == [f"nibabel: {FIX}; setting to abs of pixdim values"]
    assert [str(w.message) for w in shown] == ["not a library's"]
    assert logging.getLogger("nibabel.global").handlers == before


def test_library_first_imported_inside_the_block_stays_quiet(tmp_path: Path) -> None:
    """nibabel and pydicom are not imported up front (their import would cost every
    conversion half a second): the stderr handlers they add on import while the block
    runs are held back, so a fresh interpreter that first imports nibabel inside the
    block prints nothing, collects the line, and has nibabel's handler after it."""
    path = tmp_path / "neg.nii"
    _negative_pixdim(path)
    script = f"""
import logging, sys
from unizarr.readers.library_log import library_messages
assert "nibabel" not in sys.modules and "pydicom" not in sys.modules
with library_messages() as found:
    import nibabel, pydicom
    nibabel.load({str(path)!r}).header.get_zooms()
    logging.getLogger("pydicom").warning("from pydicom")
print(found)
print(len(logging.getLogger("nibabel.global").handlers))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    ok(proc)
    assert proc.stderr == ""
    found, handlers = proc.stdout.splitlines()
    assert FIX in found and "pydicom: from pydicom" in found
    assert int(handlers) >= 1  # nibabel's own handler, attached after the block
