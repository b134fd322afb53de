"""OME-NGFF labels: ``labels/NAME`` beside an image, with the image's levels (mode
downsampling), colours and properties from a BIDS-style lookup table; validated with
ome-zarr-models and opened with ome-zarr-py; refusals change nothing on disk."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import ok, user_error

LUT = "index\tname\tcolor\tvolume_ml\n0\tbackground\t#000000\tn/a\n1\tgrey\t#808080\t610.5\n2\twhite\t#ffffffcc\t480\n"


def mode_ref(x: np.ndarray, halved) -> np.ndarray:
    """2x mode of the windows along ``halved`` (ties to the smallest value)."""
    out_shape = tuple(-(-n // 2) if a in halved else n for a, n in enumerate(x.shape))
    out = np.empty(out_shape, x.dtype)
    for idx in itertools.product(*map(range, out_shape)):
        win = x[tuple(slice(2 * i, 2 * i + 2) if a in halved else slice(i, i + 1)
                      for a, i in enumerate(idx))]
        vals, counts = np.unique(win, return_counts=True)
        out[idx] = vals[np.argmax(counts)]
    return out


def make_image(path, driver, zarr_version, version, shape=(6, 11, 9), axes="zyx", **pyr):
    rng = np.random.default_rng(0)
    g = uz.open_group(str(path), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=rng.normal(size=shape).astype(np.float32), chunks=(4,) * len(shape))
    uz.generate_pyramid(g, **pyr)
    nspace = sum(a in "zyx" for a in axes)
    uz.write_ome_metadata(g, list(axes), space_scale=[2.0, 0.5, 0.5][-nspace:],
                          ome_version=version, pyramid_aligns=2)
    return g


def segmentation(shape, seed=1):
    return np.random.default_rng(seed).integers(0, 3, shape).astype(np.uint16)


def ome_attrs(path):
    doc = json.loads((path / "zarr.json").read_text()) if (path / "zarr.json").exists() else None
    if doc is not None:
        return doc["attributes"]
    return json.loads((path / ".zattrs").read_text())


def validate_labels(path, version):
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if version == "0.4":
            from ome_zarr_models.v04.image_label import ImageLabel
            from ome_zarr_models.v04.labels import Labels
        elif version == "0.5":
            from ome_zarr_models.v05.image_label import ImageLabel
            from ome_zarr_models.v05.labels import Labels
        else:
            from ome_zarr_models.v06.image_label import ImageLabel
            from ome_zarr_models.v06.labels import Labels
        Labels.from_zarr(zarr.open_group(str(path / "labels"), mode="r"))
        return ImageLabel.from_zarr(zarr.open_group(str(path / "labels" / "seg"), mode="r"))


def test_labels_follow_the_image(tmp_path, driver, zarr_version):
    # 0.4 on Zarr v2; 0.5 and 0.6 (which need v3) on v3.
    for version in ["0.4"] if zarr_version == 2 else ["0.5", "0.6"]:
        check_labels_follow_the_image(tmp_path / version, driver, zarr_version, version)


def check_labels_follow_the_image(tmp_path, driver, zarr_version, version):
    tmp_path.mkdir()
    path = tmp_path / "img.ome.zarr"
    # An anisotropic pyramid: the labels must follow its per-level factors.
    g = make_image(path, driver, zarr_version, version, shape=(6, 11, 9),
                   voxel_size=(2.0, 0.5, 0.5), sampling="anisotropic", levels=3)
    (tmp_path / "lut.tsv").write_text(LUT)
    seg = segmentation(g["0"].shape)
    lg = uz.write_labels(g, "seg", seg, lut=tmp_path / "lut.tsv")
    n = len([k for k in g if k.isdigit()])
    assert [lg[str(i)].shape for i in range(n)] == [g[str(i)].shape for i in range(n)]
    assert str(n) not in lg
    ref = seg
    for j in range(1, n):
        prev, cur = g[str(j - 1)].shape, g[str(j)].shape
        ref = mode_ref(ref, [a for a in range(3) if prev[a] != cur[a]])
        np.testing.assert_array_equal(lg[str(j)][...], ref)
        assert lg[str(j)].dtype == np.uint16
    model = validate_labels(path, version)
    attrs = ome_attrs(path / "labels" / "seg")
    il = attrs["image-label"] if version == "0.4" else attrs["ome"]["image-label"]
    assert il["colors"][2] == {"label-value": 2, "rgba": [255, 255, 255, 204]}
    assert il["properties"][1] == {"label-value": 1, "name": "grey", "volume_ml": 610.5}
    assert il["properties"][0] == {"label-value": 0, "name": "background"}
    assert model is not None
    # The label image has the image's transforms, level by level.
    img_ms = uz.ome.find_multiscale(g.attrs.asdict())[1]
    lab_ms = uz.ome.find_multiscale(lg.attrs.asdict())[1]
    assert [d["coordinateTransformations"] for d in lab_ms["datasets"]] == [
        d["coordinateTransformations"] for d in img_ms["datasets"]]


def test_ome_zarr_py_opens_the_labels(tmp_path, driver, zarr_version):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    version = "0.4" if zarr_version == 2 else "0.5"
    path = tmp_path / "img.ome.zarr"
    g = make_image(path, driver, zarr_version, version, levels=2)
    seg = segmentation(g["0"].shape)
    uz.write_labels(g, "seg", seg, colors=[{"label-value": 1, "rgba": [255, 0, 0, 255]}])
    nodes = list(Reader(parse_url(str(path / "labels" / "seg")))())
    label = next(n for n in nodes if n.load(Label))
    np.testing.assert_array_equal(np.asarray(label.data[0]), seg)
    assert len(label.data) == 3


def test_channel_axis_is_one_long(tmp_path, driver):
    path = tmp_path / "c.ome.zarr"
    g = make_image(path, driver, 3, "0.5", shape=(3, 8, 10), axes="cyx", levels=1,
                   spatial_ndim=2)
    seg = segmentation((8, 10))
    lg = uz.write_labels(g, "seg", seg)
    assert lg["0"].shape == (1, 8, 10) and lg["1"].shape == (1, 4, 5)
    np.testing.assert_array_equal(lg["0"][0], seg)
    validate_labels(path, "0.5")


# -- refusals: one clear error, nothing written ---------------------------------------------------
@pytest.mark.parametrize("case, match", [
    ("float", "integer dtype"),
    ("shape", "do not fit"),
    ("voxel", "voxel size"),
    ("name", "label name"),
    ("method", "invent label values"),
    ("lut-column", "no 'name' column"),
    ("lut-color", "is not #RRGGBB"),
    ("lut-index", "listed twice"),
    ("exists", "exists"),
])
def test_refusals_change_nothing(tmp_path, driver, zarr_version, case, match):
    version = "0.4" if zarr_version == 2 else "0.5"
    path = tmp_path / "img.ome.zarr"
    g = make_image(path, driver, zarr_version, version, levels=1)
    seg = segmentation(g["0"].shape)
    kwargs: dict = {}
    name = "seg"
    lut = tmp_path / "lut.tsv"
    if case == "float":
        seg = seg.astype(np.float32)
    elif case == "shape":
        seg = seg[:, :-1]
    elif case == "voxel":
        kwargs["space_scale"] = [1.0, 0.5, 0.5]
    elif case == "name":
        name = "../escape"
    elif case == "method":
        kwargs["method"] = "mean"
    elif case.startswith("lut"):
        lut.write_text({
            "lut-column": "index\tlabel\n1\tgrey\n",
            "lut-color": "index\tname\tcolor\n1\tgrey\tgrey\n",
            "lut-index": "index\tname\n1\tgrey\n1\twhite\n",
        }[case])
        kwargs["lut"] = lut
    elif case == "exists":
        uz.write_labels(g, "seg", seg)
    before = tree_hashes(path)
    with pytest.raises((ValueError, FileExistsError), match=match):
        uz.write_labels(g, name, seg, **kwargs)
    assert tree_hashes(path) == before


def test_overwrite_replaces_and_lists_once(tmp_path, driver):
    g = make_image(tmp_path / "i.ome.zarr", driver, 3, "0.5", levels=1)
    seg = segmentation(g["0"].shape)
    uz.write_labels(g, "seg", seg)
    uz.write_labels(g, "other", seg)
    uz.write_labels(g, "seg", seg + 1, overwrite=True)
    assert ome_attrs(tmp_path / "i.ome.zarr" / "labels")["ome"]["labels"] == ["other", "seg"]
    np.testing.assert_array_equal(g["labels"]["seg"]["0"][...], seg + 1)


def test_not_an_image(tmp_path, driver):
    g = uz.open_group(str(tmp_path / "plain.zarr"), "w", driver=driver)
    g.create_array("0", data=np.zeros((4, 4, 4), np.float32))
    before = tree_hashes(tmp_path / "plain.zarr")
    with pytest.raises(uz.MetadataError, match="not an OME-Zarr image"):
        uz.write_labels(g, "seg", np.zeros((4, 4, 4), np.uint8))
    assert tree_hashes(tmp_path / "plain.zarr") == before


# -- the command line -----------------------------------------------------------------------------
def run(*args):
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_label_of(tmp_path, driver):
    nib = pytest.importorskip("nibabel")
    aff = np.diag([0.5, 0.5, 2.0, 1.0])
    rng = np.random.default_rng(2)
    img = nib.Nifti1Image(rng.normal(size=(20, 18, 6)).astype(np.float32), aff)
    nib.save(img, tmp_path / "t1.nii.gz")
    seg = nib.Nifti1Image(rng.integers(0, 3, (20, 18, 6)).astype(np.uint8), aff)
    nib.save(seg, tmp_path / "seg.nii.gz")
    out = tmp_path / "t1.ome.zarr"
    ok(run("convert", tmp_path / "t1.nii.gz", out, "--chunk", "8", "--driver", driver, "--quiet"))
    (tmp_path / "lut.tsv").write_text(LUT)
    ok(run("convert", tmp_path / "seg.nii.gz", "--label-of", out, "--name", "seg", "--lut",
           tmp_path / "lut.tsv", "--driver", driver))
    g = uz.open_group(str(out), "r")
    n = len([k for k in g if k.isdigit()])
    assert len([k for k in g["labels"]["seg"] if k.isdigit()]) == n
    np.testing.assert_array_equal(g["labels"]["seg"]["0"][...], np.asarray(seg.dataobj).T)
    validate_labels(out, "0.5")

    # Another grid (shifted origin), a float "segmentation", no --name: exit 2, no change.
    shifted = nib.Nifti1Image(np.asarray(seg.dataobj), aff @ np.array(
        [[1, 0, 0, 3], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]))
    nib.save(shifted, tmp_path / "shifted.nii.gz")
    nib.save(nib.Nifti1Image(np.asarray(seg.dataobj).astype(np.float32), aff),
             tmp_path / "float.nii.gz")
    before = tree_hashes(out)
    user_error(run("convert", tmp_path / "shifted.nii.gz", "--label-of", out, "--name", "s2"),
               "not on the voxel grid")
    user_error(run("convert", tmp_path / "float.nii.gz", "--label-of", out, "--name", "f"),
               "integer dtype")
    user_error(run("convert", tmp_path / "seg.nii.gz", "--label-of", out), "--name")
    user_error(run("convert", tmp_path / "seg.nii.gz", "--label-of", out, "--name", "seg"),
               "exists")
    assert tree_hashes(out) == before
