"""Safe defaults of ``write_ome_metadata`` (function and linc-convert's group method): the
OME-NGFF version follows the group (0.5 on Zarr v3, 0.4 on v2) and no unit is written
unless one is given; the output validates with ome-zarr-models either way. Every driver x
Zarr version."""

from __future__ import annotations

import numpy as np
import pytest

import unizarr as uz
from unizarr.ome import default_ome_version, find_multiscale

AXES = ["t", "c", "z", "y", "x"]


def image(tmp_path, driver, zarr_version, name="img.zarr"):
    x = np.arange(2 * 2 * 8 * 10 * 6, dtype=np.uint16).reshape(2, 2, 8, 10, 6)
    g = uz.open_group(str(tmp_path / name), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=x, chunks=(4,))
    uz.generate_pyramid(g, 1)
    return g


def expected_version(zarr_version):
    return "0.5" if zarr_version == 3 else "0.4"


@pytest.mark.parametrize("call", ["function", "method"])
def test_default_version_follows_the_group_and_no_unit_is_invented(
    tmp_path, driver, zarr_version, call
):
    g = image(tmp_path, driver, zarr_version)
    if call == "function":
        ms = uz.write_ome_metadata(g, AXES)
    else:
        ms = g.write_ome_metadata(AXES, [2.0, 1.0, 1.0])
    version, stored = find_multiscale(uz.open_group(g.url, "r", driver=driver).attrs.asdict())
    assert version == expected_version(zarr_version) == default_ome_version(zarr_version)
    assert [a.get("unit") for a in stored["axes"]] == [None] * 5
    assert all("unit" not in a for a in ms["axes"])
    model = uz.validate_ome(g)
    assert model is not None


def test_explicit_units_and_version_are_written(tmp_path, driver, zarr_version):
    g = image(tmp_path, driver, zarr_version)
    ms = g.write_ome_metadata(AXES, 1.0, 0.5, "millimeter", "millisecond", ome_version="0.4")
    attrs = uz.open_group(g.url, "r", driver=driver).attrs.asdict()
    assert attrs["multiscales"][0]["version"] == "0.4" and "ome" not in attrs
    units = {a["name"]: a.get("unit") for a in attrs["multiscales"][0]["axes"]}
    assert units == {"t": "millisecond", "c": None, "z": "millimeter", "y": "millimeter",
                     "x": "millimeter"}
    assert ms["axes"] == attrs["multiscales"][0]["axes"]
    uz.validate_ome(g)


def test_auto_is_the_same_as_the_default(tmp_path, driver, zarr_version):
    g = image(tmp_path, driver, zarr_version)
    uz.write_ome_metadata(g, AXES, ome_version="auto", space_unit="micrometer")
    version, ms = find_multiscale(g.attrs.asdict())
    assert version == expected_version(zarr_version)
    assert ms["axes"][2]["unit"] == "micrometer" and "unit" not in ms["axes"][0]
    uz.validate_ome(g)


def test_an_mri_in_millimetres_keeps_its_unit_through_the_nifti_arguments(
    tmp_path, driver, zarr_version
):
    """The NIfTI path passes the header's unit explicitly; nothing swaps it for micrometre."""
    nib = pytest.importorskip("nibabel")
    from unizarr.nifti import nifti_ome_kwargs

    g = image(tmp_path, driver, zarr_version)
    header = nib.Nifti1Header()
    header.set_data_shape((6, 10, 8, 2))
    header.set_zooms((1.0, 1.0, 1.5, 2.0))
    header.set_xyzt_units("mm", "sec")
    kw = nifti_ome_kwargs(header)
    assert kw["space_unit"] == "millimeter"
    uz.write_ome_metadata(g, AXES, **kw)
    _, ms = find_multiscale(g.attrs.asdict())
    assert {a["name"]: a.get("unit") for a in ms["axes"]}["z"] == "millimeter"
    uz.validate_ome(g)
