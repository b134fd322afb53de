"""OME-NGFF metadata: transforms from the stored level shapes, NGFF rules, validation with
ome-zarr-models, and reading back with ome-zarr-py and ngff-zarr, on every driver x Zarr
version."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

import unizarr as uz
from unizarr import ome as O
from unizarr.errors import MetadataError, ReadOnlyError

AXES = {2: ["y", "x"], 3: ["z", "y", "x"], 4: ["t", "z", "y", "x"], 5: ["t", "c", "z", "y", "x"]}


def image(tmp_path, driver, zarr_version, shape=(2, 3, 13, 20, 17), levels=-1, name="img.zarr",
          **pyramid_kw):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 1000, shape).astype(np.uint16)
    g = uz.open_group(str(tmp_path / name), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=x, chunks=(4,))
    uz.generate_pyramid(g, levels, **pyramid_kw)
    return g, x


def versions_for(zarr_version):
    return ["0.4", "0.5"] if zarr_version == 3 else ["0.4"]


def transforms(ms, level):
    ct = ms["datasets"][level]["coordinateTransformations"]
    assert [t["type"] for t in ct] == ["scale", "translation"]
    return ct[0]["scale"], ct[1]["translation"]


# -- the document --------------------------------------------------------------------------------
def test_layout_of_0_4_and_0_5(tmp_path, driver, zarr_version):
    for version in versions_for(zarr_version):
        g, _ = image(tmp_path, driver, zarr_version, name=f"v{version}.zarr")
        ms = uz.write_ome_metadata(g, AXES[5], ome_version=version, name="brain")
        attrs = g.attrs.asdict()
        if version == "0.4":
            assert attrs["multiscales"][0]["version"] == "0.4"
            assert attrs["multiscales"][0]["name"] == "brain"
            assert "ome" not in attrs
        else:
            assert attrs["ome"]["version"] == "0.5"
            assert attrs["ome"]["multiscales"][0] == ms
            assert "version" not in ms and "multiscales" not in attrs
        assert [d["path"] for d in ms["datasets"]] == ["0", "1", "2", "3"]
        # No unit was given, so none is written (never a guessed micrometre).
        assert ms["axes"] == [
            {"name": "t", "type": "time"},
            {"name": "c", "type": "channel"},
            {"name": "z", "type": "space"},
            {"name": "y", "type": "space"},
            {"name": "x", "type": "space"},
        ]


def test_0_5_on_zarr_v2_is_refused(tmp_path, driver):
    g, _ = image(tmp_path, driver, 2)
    before = g.attrs.asdict()
    with pytest.raises(ValueError, match="0.5 needs Zarr v3"):
        uz.write_ome_metadata(g, AXES[5], ome_version="0.5")
    assert g.attrs.asdict() == before
    with pytest.raises(ValueError, match="ome_version"):
        uz.write_ome_metadata(g, AXES[5], ome_version="0.6")


def test_switching_versions_leaves_no_stale_document(tmp_path, driver):
    g, _ = image(tmp_path, driver, 3)
    g.attrs["keep"] = 1
    uz.write_ome_metadata(g, AXES[5], ome_version="0.5")
    uz.write_ome_metadata(g, AXES[5], ome_version="0.4")
    assert set(g.attrs.asdict()) == {"keep", "multiscales"}
    uz.write_ome_metadata(g, AXES[5], ome_version="0.5")
    assert set(g.attrs.asdict()) == {"keep", "ome"}


@pytest.mark.parametrize("unit", ["um", "micron", "Micrometer", "furlong", 3])
def test_unknown_units_are_refused(tmp_path, driver, unit):
    g, _ = image(tmp_path, driver, 3)
    with pytest.raises(ValueError, match="unit"):
        uz.write_ome_metadata(g, AXES[5], space_unit=unit)
    with pytest.raises(ValueError, match="unit"):
        uz.write_ome_metadata(g, AXES[5], time_unit="meter")
    assert "multiscales" not in g.attrs


def test_every_ngff_unit_is_accepted():
    for unit in O.SPACE_UNITS:
        assert O.normalize_axes("zyx", space_unit=unit)[0]["unit"] == unit
    for unit in O.TIME_UNITS:
        assert O.normalize_axes(["t", "y", "x"], time_unit=unit)[0]["unit"] == unit
    assert "unit" not in O.normalize_axes("yx", space_unit=None)[0]


@pytest.mark.parametrize(
    "axes, match",
    [
        (["x"], "2 to 5 axes"),
        (["z", "y", "x", "t"], "time axis must come first"),
        (["c", "t", "y", "x"], "time axis must come first"),
        (["y", "c", "x"], "space axes must come last"),
        (["x", "x"], "unique"),
        (["q", "y", "x"], "unknown axis"),
        (["t", "t", "y", "x"], "at most one"),
        ([{"name": "a", "type": "angle"}, "y", "x"], "type"),
        (["c", "x"], "2 or 3 space axes"),
    ],
)
def test_axes_rules(axes, match):
    with pytest.raises(ValueError, match=match):
        O.normalize_axes(axes)


def test_axes_must_match_the_arrays(tmp_path, driver):
    g, _ = image(tmp_path, driver, 3)
    with pytest.raises(ValueError, match="dimensions"):
        uz.write_ome_metadata(g, ["z", "y", "x"])


def test_custom_axis_dicts(tmp_path, driver):
    g, _ = image(tmp_path, driver, 3, shape=(4, 10, 10), spatial_ndim=2)
    ms = uz.write_ome_metadata(
        g, [{"name": "ch", "type": "channel"}, "y", {"name": "x", "type": "space", "unit": "nanometer"}],
    )
    assert ms["axes"][0] == {"name": "ch", "type": "channel"}
    assert ms["axes"][2]["unit"] == "nanometer" and "unit" not in ms["axes"][1]
    ms = uz.write_ome_metadata(
        g, [{"name": "ch", "type": "channel"}, "y", {"name": "x", "type": "space", "unit": "nanometer"}],
        space_unit="micrometer",
    )
    assert ms["axes"][2]["unit"] == "nanometer" and ms["axes"][1]["unit"] == "micrometer"


# -- transforms -------------------------------------------------------------------------------------
def test_scales_come_from_the_stored_shapes():
    # z: 13 -> 7 -> 4 -> 2, y: 20 -> 10 -> 5 -> 3, x: not downsampled
    shapes = [(13, 20, 6), (7, 10, 6), (4, 5, 6), (2, 3, 6)]
    edge = O.build_multiscale(shapes, "zyx", space_scale=[2.0, 0.5, 1.5], pyramid_aligns="edge")
    center = O.build_multiscale(shapes, "zyx", space_scale=[2.0, 0.5, 1.5], pyramid_aligns="center")
    window = O.build_multiscale(shapes, "zyx", space_scale=[2.0, 0.5, 1.5], pyramid_aligns=2)
    for level, shape in enumerate(shapes):
        s, t = transforms(edge, level)
        f = [13 / shape[0], 20 / shape[1], 1.0]
        np.testing.assert_allclose(s, [f[0] * 2.0, f[1] * 0.5, 1.5])
        np.testing.assert_allclose(t, [(f[0] - 1) / 2 * 2.0, (f[1] - 1) / 2 * 0.5, 0.0])
        s, t = transforms(center, level)
        np.testing.assert_allclose(s, [12 / (shape[0] - 1) * 2.0, 19 / (shape[1] - 1) * 0.5, 1.5])
        assert t == [0.0, 0.0, 0.0]
        s, t = transforms(window, level)
        np.testing.assert_allclose(s, [2.0 * 2**level, 0.5 * 2**level, 1.5])
        np.testing.assert_allclose(t, [(2**level - 1) / 2 * 2.0, (2**level - 1) / 2 * 0.5, 0.0])


def test_center_alignment_at_one_voxel_falls_back_to_edge():
    ms = O.build_multiscale([(5, 4), (3, 2), (2, 1)], "yx", pyramid_aligns="center")
    s, t = transforms(ms, 2)
    assert s == [4.0, 4.0] and t == [0.0, 1.5]


def test_numeric_alignment_counts_real_downsamplings():
    # x stops changing at one voxel: its scale stops growing too
    ms = O.build_multiscale([(8, 2), (4, 1), (2, 1)], "yx", pyramid_aligns=2)
    assert transforms(ms, 2)[0] == [4.0, 2.0]
    assert transforms(ms, 2)[1] == [1.5, 0.5]


def test_time_scale_and_no_pool():
    ms = O.build_multiscale([(3, 8, 8, 8), (3, 8, 4, 4)], ["t", "z", "y", "x"],
                            time_scale=0.25, pyramid_aligns=[2, 2, "edge"], no_pool=0)
    assert transforms(ms, 1)[0] == [0.25, 1.0, 2.0, 2.0]
    assert transforms(ms, 0)[0] == [0.25, 1.0, 1.0, 1.0]


def test_scale_arguments_are_checked():
    with pytest.raises(ValueError, match="space_scale has 2 values"):
        O.build_multiscale([(4, 4, 4)], "zyx", space_scale=[1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        O.build_multiscale([(4, 4, 4)], "zyx", space_scale=0)
    with pytest.raises(ValueError, match="pyramid_aligns"):
        O.build_multiscale([(4, 4, 4)], "zyx", pyramid_aligns="middle")
    with pytest.raises(ValueError, match="changes size"):
        O.build_multiscale([(3, 4, 4), (2, 2, 2)], "cyx")


def test_levels_argument(tmp_path, driver, zarr_version):
    g, _ = image(tmp_path, driver, zarr_version)
    ms = uz.write_ome_metadata(g, AXES[5], levels=1)
    assert [d["path"] for d in ms["datasets"]] == ["0", "1"]
    with pytest.raises(ValueError, match="levels=7"):
        uz.write_ome_metadata(g, AXES[5], levels=7)
    empty = uz.open_group(str(tmp_path / "empty.zarr"), "w", driver=driver, zarr_version=zarr_version)
    with pytest.raises(KeyError):
        uz.write_ome_metadata(empty, AXES[3])


def test_read_only_group(tmp_path, driver):
    g, _ = image(tmp_path, driver, 3)
    ro = uz.open_group(g.url, "r", driver=driver)
    with pytest.raises(ReadOnlyError):
        uz.write_ome_metadata(ro, AXES[5])


def test_multiscales_type(tmp_path, driver):
    g, _ = image(tmp_path, driver, 3)
    assert "type" not in uz.write_ome_metadata(g, AXES[5])
    assert uz.write_ome_metadata(g, AXES[5], multiscales_type="mean")["type"] == "mean"


# -- validation and third-party readers ------------------------------------------------------------------
@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_validates_with_ome_zarr_models(tmp_path, driver, zarr_version, ndim):
    pytest.importorskip("ome_zarr_models")
    shape = (2, 3, 13, 20, 17)[5 - ndim:]
    for version in versions_for(zarr_version):
        g, _ = image(tmp_path, driver, zarr_version, shape=shape, name=f"{ndim}-{version}.zarr")
        uz.write_ome_metadata(g, AXES[ndim], ome_version=version, space_scale=0.5,
                              space_unit="millimeter")
        model = uz.validate_ome(g)
        expected = "ImageAttrs" if (version == "0.4" and zarr_version == 3) else "Image"
        assert type(model).__name__ == expected


def test_0_5_arrays_carry_dimension_names(tmp_path, driver):
    import zarr

    g, _ = image(tmp_path, driver, 3)
    uz.write_ome_metadata(g, AXES[5], ome_version="0.5")
    for level in ("0", "1", "3"):
        assert zarr.open_array(f"{g.url}/{level}", mode="r").metadata.dimension_names == tuple(AXES[5])


def test_validation_reports_problems(tmp_path, driver, zarr_version):
    pytest.importorskip("ome_zarr_models")
    g, _ = image(tmp_path, driver, zarr_version)
    with pytest.raises(MetadataError, match="no OME-NGFF"):
        uz.validate_ome(g)
    version = versions_for(zarr_version)[-1]
    uz.write_ome_metadata(g, AXES[5], ome_version=version)
    attrs = g.attrs.asdict()
    ms = attrs["ome"]["multiscales"][0] if version == "0.5" else attrs["multiscales"][0]
    ms["axes"][2]["unit"] = "parsecs"
    g.attrs.put(attrs)
    with pytest.raises(MetadataError, match="parsecs"):
        uz.validate_ome(g)
    ms["axes"][2]["unit"] = "parsec"
    ms["datasets"][1]["path"] = "missing"
    g.attrs.put(attrs)
    with pytest.raises(MetadataError, match="not a valid OME-NGFF"):
        uz.validate_ome(g)


def _quiet():
    logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


def test_opens_with_ome_zarr_py(tmp_path, driver, zarr_version):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    for version in versions_for(zarr_version):
        g, x = image(tmp_path, driver, zarr_version, name=f"o{version}.zarr")
        uz.write_ome_metadata(g, AXES[5], ome_version=version, space_scale=[2.0, 0.5, 0.5])
        with warnings.catch_warnings():
            _quiet()
            node = next(iter(Reader(parse_url(g.url))()))
            assert node.load(Multiscales) is not None
            data = node.data
            assert [tuple(d.shape) for d in data] == [g[str(i)].shape for i in range(4)]
            np.testing.assert_array_equal(np.asarray(data[0]), x)
            np.testing.assert_array_equal(np.asarray(data[2]), g["2"][...])
            assert [a["name"] for a in node.metadata["axes"]] == AXES[5]


def test_opens_with_ngff_zarr(tmp_path, driver, zarr_version):
    ngff_zarr = pytest.importorskip("ngff_zarr")

    for version in versions_for(zarr_version):
        g, x = image(tmp_path, driver, zarr_version, name=f"n{version}.zarr")
        uz.write_ome_metadata(g, AXES[5], ome_version=version, space_scale=[2.0, 0.5, 0.5],
                              time_scale=3.0, pyramid_aligns=2, space_unit="micrometer")
        with warnings.catch_warnings():
            _quiet()
            ms = ngff_zarr.from_ngff_zarr(g.url)
        assert len(ms.images) == 4
        np.testing.assert_array_equal(np.asarray(ms.images[0].data), x)
        np.testing.assert_array_equal(np.asarray(ms.images[3].data), g["3"][...])
        assert ms.images[0].scale == {"t": 3.0, "c": 1.0, "z": 2.0, "y": 0.5, "x": 0.5}
        assert ms.images[1].scale == {"t": 3.0, "c": 1.0, "z": 4.0, "y": 1.0, "x": 1.0}
        assert ms.images[1].translation == {"t": 0.0, "c": 0.0, "z": 1.0, "y": 0.25, "x": 0.25}
        assert ms.images[0].axes_units["z"] == "micrometer"
