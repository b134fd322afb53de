"""Verified inputs: a damaged, truncated or ambiguous input is refused with one line
naming the file and the fix - before anything is written. An existing output given
with ``--overwrite`` is left byte for byte as it was; a new output is never created.

Inputs are written by their own libraries (nibabel, numpy, tifffile), then damaged the
way disks and transfers damage files: a flipped byte in the compressed payload, a
cut-off tail, a wrong checksum.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile

from tests.helpers import user_error
from unizarr.errors import CorruptDataError
from unizarr.readers import open_input


def _data(shape=(24, 20, 16), dtype="uint16") -> np.ndarray:
    # Noisy values: the gzip payload is long enough to damage in its middle.
    rng = np.random.default_rng(0)
    return rng.integers(0, 4000, size=math.prod(shape)).astype(dtype).reshape(shape)


def _nii_gz(path: Path) -> Path:
    nib.save(nib.Nifti1Image(_data(), np.eye(4)), path)
    return path


def _flip(path: Path, where: float) -> None:
    raw = bytearray(path.read_bytes())
    i = int(len(raw) * where)
    raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))


def _cut(path: Path, keep: float) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


def _damaged_payload(tmp: Path) -> Path:
    p = _nii_gz(tmp / "brain.nii.gz")
    _flip(p, 0.6)
    return p


def _damaged_crc(tmp: Path) -> Path:
    p = _nii_gz(tmp / "brain.nii.gz")
    raw = bytearray(p.read_bytes())
    raw[-8] ^= 0xFF  # the CRC-32 of the trailer: the payload inflates cleanly
    p.write_bytes(bytes(raw))
    return p


def _damaged_length(tmp: Path) -> Path:
    p = _nii_gz(tmp / "brain.nii.gz")
    raw = bytearray(p.read_bytes())
    raw[-4] ^= 0x01  # ISIZE of the trailer
    p.write_bytes(bytes(raw))
    return p


def _truncated_gz(tmp: Path) -> Path:
    p = _nii_gz(tmp / "brain.nii.gz")
    _cut(p, 0.7)
    return p


def _truncated_nii(tmp: Path) -> Path:
    p = tmp / "brain.nii"
    nib.save(nib.Nifti1Image(_data(), np.eye(4)), p)
    _cut(p, 0.8)
    return p


def _truncated_npy(tmp: Path) -> Path:
    p = tmp / "vol.npy"
    np.save(p, _data())
    _cut(p, 0.8)
    return p


def _truncated_tif(tmp: Path) -> Path:
    p = tmp / "stack.tif"
    tifffile.imwrite(p, _data(), compression="lzw")
    _cut(p, 0.6)
    return p


def _truncated_bigtiff(tmp: Path) -> Path:
    p = tmp / "stack.tif"
    tifffile.imwrite(p, _data(), bigtiff=True, tile=(16, 16))
    _cut(p, 0.6)
    return p


def _truncated_slice(tmp: Path) -> Path:
    folder = tmp / "slices"
    folder.mkdir()
    for i, plane in enumerate(_data()):
        tifffile.imwrite(folder / f"z{i}.tif", plane)
    _cut(folder / "z7.tif", 0.5)
    return folder


CORRUPT = {
    "gzip-payload": (_damaged_payload, "brain.nii.gz is a damaged gzip file"),
    "gzip-crc": (_damaged_crc, "brain.nii.gz is a damaged gzip file"),
    "gzip-length": (_damaged_length, "brain.nii.gz is a damaged gzip file"),
    "gzip-truncated": (_truncated_gz, "brain.nii.gz is truncated"),
    "nii-truncated": (_truncated_nii, "brain.nii is truncated"),
    "npy-truncated": (_truncated_npy, "vol.npy is truncated"),
    "tif-truncated": (_truncated_tif, "stack.tif is truncated"),
    "bigtiff-truncated": (_truncated_bigtiff, "stack.tif is truncated"),
    "slice-truncated": (_truncated_slice, "z7.tif is truncated"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_library_raises_corrupt_data_error(tmp_path: Path, case: str) -> None:
    make, message = CORRUPT[case]
    src = make(tmp_path)
    with pytest.raises(CorruptDataError, match=message):
        open_input(src)


def _convert(capsys, *args: object) -> tuple[int, str]:
    from unizarr.cli import main

    code = main(["convert", *map(str, args), "--quiet"])
    return code, capsys.readouterr().err


def _existing_output(path: Path, driver: str, zarr_version: int) -> None:
    import unizarr as uz

    g = uz.open_group(path, "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=np.arange(64, dtype="int32").reshape(4, 4, 4), chunks=(2, 2, 2))


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_convert_refuses_and_leaves_the_old_output(
    tmp_path: Path, capsys, hashes, driver: str, zarr_version: int, case: str
) -> None:
    make, message = CORRUPT[case]
    src = make(tmp_path)
    out = tmp_path / "out.zarr"
    _existing_output(out, driver, zarr_version)
    before, input_before = hashes(out), hashes(src.parent)
    code, err = _convert(capsys, src, out, "--overwrite", "--driver", driver,
                         "--zarr-version", zarr_version)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert hashes(out) == before  # the previous good output is untouched
    assert hashes(src.parent) == input_before  # reading never writes


@pytest.mark.parametrize("case", ["gzip-payload", "tif-truncated", "slice-truncated"])
def test_convert_to_a_new_output_creates_nothing(
    tmp_path: Path, capsys, driver: str, case: str
) -> None:
    src = CORRUPT[case][0](tmp_path)
    out = tmp_path / "new.zarr"
    code, err = _convert(capsys, src, out, "--driver", driver)
    assert code == 2, err
    assert not out.exists()


def test_cli_one_line_exit_2_in_a_real_process(tmp_path: Path) -> None:
    src = _damaged_payload(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "unizarr.cli", "convert", str(src), str(tmp_path / "o.zarr")],
        capture_output=True, text=True, timeout=120,
    )
    user_error(proc, "brain.nii.gz is a damaged gzip file")
    assert "copy it again" in proc.stderr
    assert not (tmp_path / "o.zarr").exists()


# -- several images in one file ------------------------------------------------------------
def _two_series(path: Path) -> None:
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(_data((4, 20, 30)), metadata={"axes": "ZYX", "Name": "big"})
        tw.write(_data((2, 10, 12), "uint8"), metadata={"axes": "ZYX", "Name": "small"})


def test_multi_series_without_choice_is_refused(
    tmp_path: Path, capsys, hashes, driver: str, zarr_version: int
) -> None:
    src = tmp_path / "two.ome.tif"
    _two_series(src)
    out = tmp_path / "out.zarr"
    _existing_output(out, driver, zarr_version)
    before = hashes(out)
    code, err = _convert(capsys, src, out, "--overwrite", "--driver", driver,
                         "--zarr-version", zarr_version)
    assert code == 2, err
    line = err.strip()
    assert len(line.splitlines()) == 1
    assert "holds 2 images" in line and "'big'" in line and "'small'" in line
    assert "--series" in line
    assert hashes(out) == before


def test_multi_page_tiff_of_mixed_shapes_is_several_series(tmp_path: Path) -> None:
    """A plain TIFF whose pages differ in size is several images, not a silent first one."""
    src = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(src) as tw:
        tw.write(_data((3, 8, 8)), photometric="minisblack")
        tw.write(_data((5, 6), "uint8"))
    with pytest.raises(ValueError, match=r"mixed.tif holds 2 images"):
        open_input(src)


# -- streams -------------------------------------------------------------------------------
def test_fifo_is_refused_without_blocking(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe.nii"
    os.mkfifo(fifo)
    result: dict[str, object] = {}

    def run() -> None:
        result["rc"], result["err"] = _convert(capsys, fifo, tmp_path / "o.zarr")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "opening a FIFO blocked"
    assert result["rc"] == 2
    assert "pipe (FIFO)" in str(result["err"]) and "regular file" in str(result["err"])
    assert not (tmp_path / "o.zarr").exists()


def test_character_device_is_refused() -> None:
    with pytest.raises(ValueError, match="character device"):
        open_input("/dev/zero")
