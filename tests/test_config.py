"""ZarrConfig validation and round trips."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

import unizarr as uz


def test_defaults_match_spec():
    c = uz.ZarrConfig()
    assert (c.zarr_version, c.chunk, c.shard, c.compressor, c.ome_version, c.driver) == (
        3, (128,), None, "blosc", "0.4", "zarr-python")
    assert c.chunk_time and not c.chunk_channels and not c.shard_time and c.levels == -1


def test_json_round_trip():
    c = uz.ZarrConfig(zarr_version=2, chunk=(64, 32), compressor="zstd", compressor_opt='{"level": 4}')
    assert c.compressor_opt == {"level": 4}
    assert uz.ZarrConfig.from_json(c.to_json()) == c
    with pytest.raises(ValueError, match="unknown"):
        uz.ZarrConfig.from_json('{"nope": 1}')


@pytest.mark.parametrize(
    "kw",
    [{"zarr_version": 4}, {"chunk": (0,)}, {"shard": "big"}, {"order": "X"}, {"compressor": "lzma"},
     {"compressor_opt": {"bad": 1}}, {"ome_version": "0.3"}, {"levels": -2}, {"dimension_separator": "_"}],
)
def test_invalid_values(kw):
    with pytest.raises(ValueError):
        uz.ZarrConfig(**kw)


def test_from_object_reads_by_field_name(tmp_path):
    @dataclass
    class Foreign:  # e.g. linc-convert's own config class
        zarr_version: int = 2
        chunk: tuple = (32,)
        overwrite: bool = True
        extra: list = field(default_factory=list)

    cfg = uz.ZarrConfig.from_object(Foreign())
    assert cfg.zarr_version == 2 and cfg.chunk == (32,) and cfg.overwrite
    g = uz.from_config(tmp_path / "o.zarr", Foreign())
    assert g.zarr_version == 2
    a = g.create_array("0", (64, 64, 64), "u1", zarr_config=Foreign())
    assert a.chunks == (32, 32, 32)
    g2 = uz.from_config(tmp_path / "o.zarr", {"zarr_version": 3, "overwrite": True})
    assert g2.zarr_version == 3


def test_from_config_modes(tmp_path):
    uz.from_config(tmp_path / "x.zarr", uz.ZarrConfig())
    with pytest.raises(FileExistsError):
        uz.from_config(tmp_path / "x.zarr", uz.ZarrConfig())
    uz.from_config(tmp_path / "x.zarr", uz.ZarrConfig(overwrite=True))
    with pytest.raises(uz.UnsupportedDriverError):
        uz.from_config(tmp_path / "y.zarr", uz.ZarrConfig(driver="nope"))


def test_seed_from_config_classmethod(tmp_path):
    g = uz.ZarrPythonGroup.from_config(tmp_path / "s.zarr", uz.ZarrConfig(zarr_version=2))
    assert isinstance(g, uz.ZarrPythonGroup) and g.zarr_version == 2


def test_seed_constructors_wrap_native(tmp_path):
    import numpy as np
    import zarr

    zg = zarr.open_group(str(tmp_path / "n.zarr"), mode="w")
    za = zg.create_array("a", shape=(4,), dtype="i4")
    za[...] = np.arange(4)
    g = uz.ZarrPythonGroup(zg)
    a = uz.ZarrPythonArray(za)
    assert g.keys() == ["a"]
    np.testing.assert_array_equal(a[...], np.arange(4))
    assert a.nchunks == za.nchunks  # __getattr__ delegates to zarr.Array
    assert g.store is not None  # ... and to zarr.Group
    assert isinstance(a.native, zarr.Array)
    with pytest.raises(AttributeError):
        _ = a._private_thing
