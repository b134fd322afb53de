"""The reader registry: names, entry points, detection by content, forcing a reader,
readers that are not installed, options a reader does not take, streams."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile

from unizarr.readers import (
    BUILTIN_READERS,
    ReaderUnavailableError,
    detect_reader,
    load_reader,
    open_input,
    reader_paths,
    registry,
)


def test_builtins_are_declared_as_entry_points_too() -> None:
    from importlib.metadata import entry_points

    declared = {ep.name: ep.value for ep in entry_points(group="unizarr.readers")}
    assert {k: declared[k] for k in BUILTIN_READERS} == BUILTIN_READERS


def test_the_other_formats_are_registered_by_name() -> None:
    paths = reader_paths()
    assert paths["dicom"] == "unizarr.readers.dicom"
    assert paths["imaris"] == "unizarr.readers.imaris"
    assert paths["nibabel"] == "unizarr.readers.nibabel_formats"
    assert paths["czi"] == paths["nd2"] == paths["lif"] == "unizarr.readers.vendor"
    assert list(paths)[-1] == "slices"  # any folder of images: last


def test_a_reader_that_is_not_installed_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(BUILTIN_READERS, "ghost", "unizarr.readers.ghost_not_installed")
    with pytest.raises(ReaderUnavailableError, match="'ghost' reader .* is not available"):
        load_reader("ghost")
    np.save(tmp_path / "v.npy", np.zeros((2, 3, 4)))
    assert detect_reader(tmp_path / "v.npy") == "npy"  # detection skips it


def test_unknown_reader_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown reader 'bmp'; choose one of: .*nifti"):
        load_reader("bmp")


def test_detection_by_content_ignores_the_name(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    os.rename(tmp_path / "a.npy", tmp_path / "data.tif")  # a lying name
    assert detect_reader(tmp_path / "data.tif") == "npy"
    tifffile.imwrite(tmp_path / "t.nii", np.zeros((3, 4), "uint8"))
    assert detect_reader(tmp_path / "t.nii") == "tiff"


def test_damaged_file_falls_back_to_its_name(tmp_path: Path) -> None:
    """No reader recognises a broken header: the name picks the reader, whose error
    then says what is wrong with the file."""
    (tmp_path / "broken.nii").write_bytes(b"\0" * 100)
    assert detect_reader(tmp_path / "broken.nii") == "nifti"
    with pytest.raises(ValueError, match="cannot read .*broken.nii as NIfTI"):
        open_input(tmp_path / "broken.nii")


def test_reader_forced_by_name(tmp_path: Path) -> None:
    data = np.arange(24, dtype="int16").reshape(2, 3, 4)
    np.save(tmp_path / "v.npy", data)
    with open_input(tmp_path / "v.npy", reader="npy") as vol:
        np.testing.assert_array_equal(vol.read(), data)
    with pytest.raises(ValueError, match="cannot read .* as TIFF"):
        open_input(tmp_path / "v.npy", reader="tiff")


def test_options_a_reader_does_not_take_are_refused(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((2, 3, 4), "int16"), np.eye(4)), tmp_path / "a.nii")
    with pytest.raises(ValueError, match="--series does not apply to .*a.nii"):
        open_input(tmp_path / "a.nii", series=1)
    with pytest.raises(ValueError, match="--pattern does not apply"):
        open_input(tmp_path / "a.nii", pattern="{z}.tif")


def test_third_party_reader_plugs_in_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package that declares ``unizarr.readers`` is found and used, with no change here."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "rawfmt.py").write_text(textwrap.dedent('''
        import numpy as np
        from unizarr.readers.volume import Volume

        def sniff(path):
            try:
                with open(path, "rb") as f:
                    return f.read(6) == b"RAWFMT"
            except OSError:
                return False

        def open_volume(path, **options):
            data = np.fromfile(path, dtype="uint8", offset=6).reshape(2, 3, 4)
            return Volume(source=data, axes=("z", "y", "x"), space_scale=(2.0, 1.0, 1.0),
                          space_unit="micrometer", name="raw", format="RAWFMT",
                          channel_names=None)
    '''))
    dist = site / "rawfmt-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rawfmt\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[unizarr.readers]\nrawfmt = rawfmt\n")
    monkeypatch.syspath_prepend(str(site))
    registry._entry_points.cache_clear()
    try:
        data = np.arange(24, dtype="uint8")
        (tmp_path / "x.bin").write_bytes(b"RAWFMT" + data.tobytes())
        assert reader_paths()["rawfmt"] == "rawfmt"
        assert detect_reader(tmp_path / "x.bin") == "rawfmt"
        with open_input(tmp_path / "x.bin") as vol:
            assert vol.format == "RAWFMT" and vol.space_scale == (2.0, 1.0, 1.0)
            np.testing.assert_array_equal(vol.read(), data.reshape(2, 3, 4))
    finally:
        registry._entry_points.cache_clear()
        sys.modules.pop("rawfmt", None)


def test_a_builtin_name_cannot_be_taken_by_a_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    dist = site / "evil-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[unizarr.readers]\nnifti = evil_module\n")
    monkeypatch.syspath_prepend(str(site))
    registry._entry_points.cache_clear()
    try:
        assert reader_paths()["nifti"] == "unizarr.readers.nifti"
    finally:
        registry._entry_points.cache_clear()


def test_summary_prints_the_voxel_size_and_warns_without_unit(tmp_path: Path, convert) -> None:
    np.save(tmp_path / "v.npy", np.zeros((4, 5, 6), "uint8"))
    code, out, err = convert(tmp_path / "v.npy", tmp_path / "o.zarr")
    assert code == 0, err
    assert "voxel size (z, y, x): 1 × 1 × 1 (no unit) - warning" in out
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), "int16"), np.diag([0.5, 0.7, 2.0, 1])),
             tmp_path / "a.nii")
    code, out, err = convert(tmp_path / "a.nii", tmp_path / "n.zarr")
    assert code == 0, err
    assert "voxel size (z, y, x): 2 × 0.7 × 0.5 millimeter" in out and "warning" not in out
    assert err == ""  # no stray library log line


def test_no_tifffile_log_line_for_a_damaged_tiff(tmp_path: Path, capfd) -> None:
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((6, 16, 16), "uint16"), tile=(16, 16))
    raw = (tmp_path / "s.tif").read_bytes()
    (tmp_path / "s.tif").write_bytes(raw[: len(raw) // 2])
    from unizarr.errors import CorruptDataError

    with pytest.raises(CorruptDataError):
        open_input(tmp_path / "s.tif")
    assert "tifffile" not in capfd.readouterr().err
