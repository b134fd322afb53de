"""NIfTI reader: voxels, voxel size, unit and affine as nibabel reads them, through
``unizarr convert`` on both drivers; ``.nii.gz`` decompressed once, verified."""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.readers.conftest import layout_args, level0, scale_units
from unizarr.readers import detect_reader, open_input


def _image(shape=(30, 20, 12), dtype="int16") -> nib.Nifti1Image:
    data = (np.arange(math.prod(shape)) * 7919 % 30000).astype(dtype).reshape(shape)
    affine = np.array([[0.8, 0, 0.1, -20], [0, 1.2, 0, 10], [0, 0, 2.5, 3], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    return img


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_convert_keeps_voxels_voxel_size_and_unit(
    tmp_path: Path, convert, driver: str, zarr_version: int, suffix: str
) -> None:
    img = _image()
    src = tmp_path / f"brain{suffix}"
    nib.save(img, src)
    out = tmp_path / "out.zarr"
    code, _, err = convert(src, out, "--quiet", *layout_args(driver, zarr_version))
    assert code == 0, err
    expected = np.asarray(nib.load(src).dataobj.get_unscaled()).transpose(2, 1, 0)
    np.testing.assert_array_equal(level0(out), expected)
    scale, units = scale_units(out)
    assert scale == pytest.approx(list(nib.load(src).header.get_zooms()[::-1]))
    assert units == {"z": "millimeter", "y": "millimeter", "x": "millimeter"}


def test_affine_and_gzip_volume_equal_the_plain_file(tmp_path: Path) -> None:
    img = _image()
    nib.save(img, tmp_path / "a.nii")
    nib.save(img, tmp_path / "a.nii.gz")
    with open_input(tmp_path / "a.nii") as plain, open_input(tmp_path / "a.nii.gz") as gz:
        np.testing.assert_array_equal(plain.read(), gz.read())
        np.testing.assert_allclose(gz.affine, nib.load(tmp_path / "a.nii.gz").affine)
        np.testing.assert_allclose(plain.affine, img.affine)
        # regions in any order, from the one decompressed copy
        assert np.array_equal(gz.read_region((slice(5, 9), slice(0, 20), slice(3, 4))),
                              plain.read_region((slice(5, 9), slice(0, 20), slice(3, 4))))


def test_multi_member_gzip_reads_whole(tmp_path: Path) -> None:
    """pigz and ``cat a.gz b.gz`` write several gzip members: all of them are the file."""
    img = _image()
    nib.save(img, tmp_path / "a.nii")
    raw = (tmp_path / "a.nii").read_bytes()
    cut = len(raw) // 3
    (tmp_path / "m.nii.gz").write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
    with open_input(tmp_path / "m.nii.gz") as vol:
        np.testing.assert_array_equal(vol.read(), np.asarray(img.dataobj).transpose(2, 1, 0))


def test_detected_by_content_without_a_name(tmp_path: Path) -> None:
    nib.save(_image(), tmp_path / "a.nii.gz")
    shutil.copy(tmp_path / "a.nii.gz", tmp_path / "scan.bin")
    assert detect_reader(tmp_path / "scan.bin") == "nifti"


def test_gzip_spill_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setenv("UNIZARR_TMPDIR", str(spill))
    nib.save(_image(), tmp_path / "a.nii.gz")
    with open_input(tmp_path / "a.nii.gz") as vol:
        assert vol.read().shape == (12, 20, 30)
        assert list(spill.iterdir()) == []  # unlinked at creation: nothing to leak


@pytest.mark.parametrize("engine", ["isal", "zlib"])
def test_both_inflaters_give_the_bytes_and_refuse_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """ISA-L (the dependency) and zlib (the fallback) spill the same bytes, across many
    small pieces and members, and both check every member's trailer."""
    import zlib

    from isal import isal_zlib

    from unizarr.errors import CorruptDataError
    from unizarr.readers import gzip_spill

    monkeypatch.setenv("UNIZARR_INFLATE", engine)
    assert gzip_spill.inflater() is (isal_zlib if engine == "isal" else zlib)
    monkeypatch.setattr(gzip_spill, "_MAX_OUT", 4096)  # many bounded inflate calls
    monkeypatch.setattr(gzip_spill, "_STEP", 1000)
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 900, size=150_000).astype("uint16").tobytes()
    cut = len(raw) // 3
    src = tmp_path / "m.gz"
    src.write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]) + b"\0" * 10)
    with gzip_spill.decompress_verified(str(src), expected=len(raw)) as spilled:
        assert spilled.read() == raw
    good = src.read_bytes()
    # the last member's CRC-32, its length (before the zero padding), the payload
    for where in (len(good) - 18, len(good) - 14, len(good) // 2):
        bad = bytearray(good)
        bad[where] ^= 0x5A
        src.write_bytes(bytes(bad))
        with pytest.raises(CorruptDataError, match="m.gz is a damaged gzip file"):
            gzip_spill.decompress_verified(str(src))
    src.write_bytes(good[: len(good) - 30])
    with pytest.raises(CorruptDataError, match="m.gz is truncated"):
        gzip_spill.decompress_verified(str(src))
