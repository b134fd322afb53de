"""Channels and time: ``omero`` channel names, colours and contrast windows (measured on
a low pyramid level when not given), and the time step taken from the input header."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import ok, user_error
from unizarr import channels as C


def image(path, driver, zarr_version, data, axes, version):
    g = uz.open_group(str(path), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=data, chunks=(1,) + (16,) * (data.ndim - 1))
    uz.generate_pyramid(g)
    uz.write_ome_metadata(g, list(axes), ome_version=version, pyramid_aligns=2)
    return g


def omero_of(path, version):
    if (path / "zarr.json").exists():
        attrs = json.loads((path / "zarr.json").read_text())["attributes"]
    else:
        attrs = json.loads((path / ".zattrs").read_text())
    return attrs["omero"] if version == "0.4" else attrs["ome"]["omero"]


def two_channels(shape=(2, 40, 48, 48)):
    rng = np.random.default_rng(0)
    data = np.empty(shape, np.uint16)
    data[0] = rng.integers(100, 200, shape[1:])
    data[1] = rng.integers(1000, 3000, shape[1:])
    return data


def test_names_colours_windows(tmp_path, driver, zarr_version):
    versions = ["0.4"] if zarr_version == 2 else ["0.5", "0.6"]
    for version in versions:
        path = tmp_path / f"{version}.ome.zarr"
        g = image(path, driver, zarr_version, two_channels(), "czyx", version)
        C.write_omero(g, names=["DAPI", "GFP"], colors=["0000ff", "#00FF00"],
                      windows=[None, (1200.0, 2800.0)])
        om = omero_of(path, version)
        ch0, ch1 = om["channels"]
        assert (ch0["label"], ch0["color"], ch1["label"], ch1["color"]) == (
            "DAPI", "0000FF", "GFP", "00FF00")
        # Measured on a low level of a mean pyramid: inside the channel's value range.
        w0 = ch0["window"]
        assert 100 <= w0["min"] <= w0["start"] < w0["end"] <= w0["max"] <= 199
        assert (ch1["window"]["start"], ch1["window"]["end"]) == (1200.0, 2800.0)
        from ome_zarr_models.v04.omero import Omero

        Omero.model_validate(om)
        if version == "0.4":
            uz.validate_ome(g)


def test_windows_come_from_a_low_level(tmp_path, driver):
    data = two_channels((2, 64, 64, 64))
    g = image(tmp_path / "w.ome.zarr", driver, 3, data, "czyx", "0.5")
    levels = [k for k in g if k.isdigit()]
    chosen = max(int(k) for k in levels if g[k].size // 2 >= C.MIN_VOXELS)
    assert chosen > 0
    low = np.asarray(g[str(chosen)][1])
    w = C.measure_windows(g)[1]
    assert w["start"] == pytest.approx(np.percentile(low, 0.1))
    assert w["end"] == pytest.approx(np.percentile(low, 99.9))


def test_single_channel_image(tmp_path, driver):
    g = image(tmp_path / "s.ome.zarr", driver, 3, np.arange(8 * 16 * 16, dtype=np.float32)
              .reshape(1, 8, 16, 16)[0][None], "czyx", "0.5")
    om = C.write_omero(g)
    assert len(om["channels"]) == 1 and om["channels"][0]["color"] == "FFFFFF"
    assert om["rdefs"]["model"] == "greyscale"


@pytest.mark.parametrize("kwargs, match", [
    ({"names": ["a"]}, "1 channel names given for 2"),
    ({"colors": ["red", "00FF00"]}, "not RRGGBB"),
    ({"windows": [(0, 1)]}, "1 channel windows"),
])
def test_bad_channel_options_change_nothing(tmp_path, driver, zarr_version, kwargs, match):
    version = "0.4" if zarr_version == 2 else "0.5"
    path = tmp_path / "b.ome.zarr"
    g = image(path, driver, zarr_version, two_channels((2, 8, 16, 16)), "czyx", version)
    before = tree_hashes(path)
    with pytest.raises(ValueError, match=match):
        C.write_omero(g, **kwargs)
    assert tree_hashes(path) == before


@pytest.mark.parametrize("text, match", [
    ("5,1", "below END"), ("a,b", "START,END"), ("0,1;0,2;0,3", "3 windows for 2"),
])
def test_parse_windows_errors(text, match):
    with pytest.raises(ValueError, match=match):
        C.parse_windows(text, 2)


# -- the command line and the time axis --------------------------------------------------------
def run(*args):
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_channel_options(tmp_path, driver):
    src = tmp_path / "c.npy"
    np.save(src, two_channels((2, 20, 32, 32)))
    out = tmp_path / "c.ome.zarr"
    ok(run("convert", src, out, "--no-time", "--driver", driver, "--channel-names", "DAPI,GFP",
           "--channel-colors", "0000FF,00FF00", "--contrast", "auto;1000,2000", "--quiet"))
    om = omero_of(out, "0.5")
    assert [c["label"] for c in om["channels"]] == ["DAPI", "GFP"]
    assert om["channels"][1]["window"]["start"] == 1000.0
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    node = next(iter(Reader(parse_url(str(out)))()))
    assert node.metadata["channel_names"] == ["DAPI", "GFP"]
    assert node.metadata["contrast_limits"][1] == [1000.0, 2000.0]
    # Without channel options, the 0.5 output has no omero (stays as it was).
    plain = tmp_path / "plain.ome.zarr"
    ok(run("convert", src, plain, "--no-time", "--quiet"))
    assert "omero" not in json.loads((plain / "zarr.json").read_text())["attributes"]["ome"]


def test_cli_bad_channel_options_write_nothing(tmp_path):
    src = tmp_path / "c.npy"
    np.save(src, two_channels((2, 8, 16, 16)))
    out = tmp_path / "c.ome.zarr"
    user_error(run("convert", src, out, "--no-time", "--channel-names", "a,b,c"),
               "--channel-names has 3 values for 2 channel(s)")
    user_error(run("convert", src, out, "--no-time", "--channel-colors", "FF0000,blue"),
               "not RRGGBB")
    user_error(run("convert", src, out, "--no-time", "--contrast", "9,1"), "below END")
    assert not out.exists()


def test_time_step_from_the_nifti_header(tmp_path, driver):
    nib = pytest.importorskip("nibabel")
    img = nib.Nifti1Image(np.zeros((16, 16, 8, 3), np.int16), np.diag([1.0, 1.0, 2.0, 1.0]))
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][4] = 750.0
    nib.save(img, tmp_path / "fmri.nii.gz")
    out = tmp_path / "fmri.ome.zarr"
    ok(run("convert", tmp_path / "fmri.nii.gz", out, "--driver", driver, "--quiet",
           "--ome-version", "0.6"))
    ms = json.loads((out / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0]
    t_axis = ms["coordinateSystems"][0]["axes"][0]
    assert t_axis == {"name": "t", "type": "time", "unit": "millisecond"}
    for ds in ms["datasets"]:
        (t,) = ds["coordinateTransformations"]
        scale = t["scale"] if t["type"] == "scale" else t["transformations"][0]["scale"]
        assert scale[0] == 750.0
