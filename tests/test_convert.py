"""``uz.convert``: the library function behind ``unizarr convert``, called directly on
both drivers x Zarr v2/v3, with real inputs (.npy, NIfTI) and real stores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import zarr

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from unizarr.convert import CONVERT_RECORD, ConvertResult
from unizarr.errors import CorruptDataError
from unizarr.outputs import Interrupted


def _volume() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4000, (24, 40, 36), dtype="uint16")


def _npy(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = _volume()
    path = tmp_path / "vol.npy"
    np.save(path, data)
    return path, data


def _attrs(out: Path, zarr_version: int) -> dict:
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    return attrs["ome"] if zarr_version == 3 else attrs


def test_npy(tmp_path: Path, driver: str, zarr_version: int, capsys) -> None:
    src, data = _npy(tmp_path)
    out = tmp_path / "vol.ome.zarr"
    calls: list[tuple[int, int]] = []
    res = uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version, chunk=16,
                     progress=lambda done, total: calls.append((done, total)))
    assert isinstance(res, ConvertResult)
    assert res.output == str(out) and res.axes == ("z", "y", "x")
    assert res.shapes[0] == data.shape and len(res.shapes) > 1
    assert res.ome_version == ("0.5" if zarr_version == 3 else "0.4")
    assert res.resumed == "" and not res.nifti and res.input_format
    for name in uz.drivers():  # read back with every engine
        got = uz.open_array(str(out / "0"), "r", driver=name)[...]
        assert np.array_equal(got, data)
    level1 = zarr.open_array(str(out / "1"), mode="r")[...]
    assert level1.shape == tuple((s + 1) // 2 for s in data.shape)
    ms = _attrs(out, zarr_version)["multiscales"][0]
    assert [d["path"] for d in ms["datasets"]] == [str(i) for i in range(len(res.shapes))]
    assert calls and calls[-1][0] == calls[-1][1] > 0  # the pass reported its end
    assert capsys.readouterr() == ("", "")  # the library never prints


def test_nifti(tmp_path: Path, driver: str, zarr_version: int) -> None:
    xyz = np.random.default_rng(3).normal(size=(20, 18, 12)).astype("float32")
    src = tmp_path / "brain.nii.gz"
    nib.save(nib.Nifti1Image(xyz, np.diag([2.0, 2.0, 3.0, 1.0])), src)
    out = tmp_path / "brain.ome.zarr"
    res = uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version,
                     levels=1, name="brain")
    assert res.nifti and res.space_unit == "millimeter"
    assert res.space_scale == (3.0, 2.0, 2.0)  # z, y, x
    assert res.shapes == [(12, 18, 20), (12, 9, 10)]  # anisotropic: z (3 mm) kept
    got = uz.open_array(str(out / "0"), "r", driver=driver)[...]
    assert np.array_equal(got, xyz.transpose(2, 1, 0))  # NIfTI x,y,z -> Zarr z,y,x
    root = uz.open_group(str(out), "r", driver=driver)
    header = uz.read_nifti_header(root)
    assert np.allclose(header.get_best_affine(), np.diag([2.0, 2.0, 3.0, 1.0]))
    ms = _attrs(out, zarr_version)["multiscales"][0]
    assert ms["name"] == "brain"
    assert [a.get("unit") for a in ms["axes"]] == ["millimeter"] * 3


def test_overrides_and_channels(tmp_path: Path, driver: str, zarr_version: int) -> None:
    data = np.random.default_rng(1).integers(0, 255, (2, 8, 16, 16), dtype="uint8")
    src = tmp_path / "cells.npy"
    np.save(src, data)
    out = tmp_path / "cells.zarr"
    res = uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version,
                     no_time=True, levels=0, voxel_size=[4, 0.5, 0.5], unit="um",
                     channel_names=["dapi", "gfp"], channel_colors="0000FF,00FF00")
    assert res.axes == ("c", "z", "y", "x") and res.space_unit == "micrometer"
    attrs = _attrs(out, zarr_version)
    assert [c["label"] for c in attrs["omero"]["channels"]] == ["dapi", "gfp"]
    scale = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [1.0, 4.0, 0.5, 0.5]


def test_resume_finishes_an_interrupted_run(
    tmp_path: Path, driver: str, zarr_version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, data = _npy(tmp_path)
    out = tmp_path / "vol.zarr"
    convert_module = sys.modules["unizarr.convert"]

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C just before the OME metadata

    with monkeypatch.context() as m:
        m.setattr(convert_module, "write_ome_metadata", crash)
        with pytest.raises(Interrupted, match="--resume"):
            uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version, chunk=16)
    assert "multiscales" not in json.dumps(dict(zarr.open_group(str(out), mode="r").attrs))
    record = json.loads((out / CONVERT_RECORD).read_text())
    assert record["state"] == "running"

    res = uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version, chunk=16,
                     resume=True)
    assert res.resumed == "finished"
    assert np.array_equal(zarr.open_array(str(out / "0"), mode="r")[...], data)
    assert _attrs(out, zarr_version)["multiscales"]
    assert json.loads((out / CONVERT_RECORD).read_text())["state"] == "complete"

    before = tree_hashes(out)
    again = uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version,
                       chunk=16, resume=True)
    assert again.resumed == "verified"
    assert tree_hashes(out) == before  # a complete, intact store is left as it was


def test_resume_refuses_other_options(tmp_path: Path, driver: str, zarr_version: int) -> None:
    src, _ = _npy(tmp_path)
    out = tmp_path / "vol.zarr"
    uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version, chunk=16)
    before = tree_hashes(out)
    with pytest.raises(ValueError, match="other options"):
        uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version, chunk=16,
                   method="max", resume=True)
    assert tree_hashes(out) == before


def test_bad_input_leaves_nothing(tmp_path: Path, driver: str, zarr_version: int) -> None:
    src, _ = _npy(tmp_path)
    raw = src.read_bytes()
    src.write_bytes(raw[: int(len(raw) * 0.8)])  # truncated
    out = tmp_path / "new.zarr"
    with pytest.raises(CorruptDataError, match="vol.npy is truncated"):
        uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version)
    assert not out.exists() and not out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vol.npy"]  # no leftovers


def test_bad_input_keeps_the_previous_output(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    good, _ = _npy(tmp_path)
    out = tmp_path / "out.zarr"
    uz.convert(str(good), str(out), driver=driver, zarr_version=zarr_version, chunk=16)
    bad = tmp_path / "bad.nii"
    bad.write_bytes(b"not a nifti at all" * 10)
    before = tree_hashes(out)
    with pytest.raises((uz.UnizarrError, ValueError)):
        uz.convert(str(bad), str(out), driver=driver, zarr_version=zarr_version,
                   overwrite=True, reader="nifti")
    assert tree_hashes(out) == before


def test_existing_output_needs_overwrite(tmp_path: Path, driver: str, zarr_version: int) -> None:
    src, data = _npy(tmp_path)
    out = tmp_path / "out.zarr"
    uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version, levels=0)
    before = tree_hashes(out)
    with pytest.raises(FileExistsError, match="overwrite"):
        uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version)
    assert tree_hashes(out) == before
    np.save(src, data[::-1].copy())
    res = uz.convert(str(src), str(out), driver=driver, zarr_version=zarr_version,
                     levels=0, overwrite=True)
    assert res.shapes == [data.shape]
    assert np.array_equal(zarr.open_array(str(out / "0"), mode="r")[...], data[::-1])


def test_resume_and_overwrite_exclude_each_other(tmp_path: Path) -> None:
    src, _ = _npy(tmp_path)
    with pytest.raises(ValueError, match="exclude"):
        uz.convert(str(src), str(tmp_path / "o.zarr"), resume=True, overwrite=True)
    assert not (tmp_path / "o.zarr").exists()
