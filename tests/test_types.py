"""Named types of the public layout arguments (unizarr.types), and the values they
promise work on every driver: an int shard applies to every spatial axis as an int
chunk does."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import unizarr as uz
from unizarr import layout, types

LAYOUT_ARGS = {
    uz.ZarrGroup.create_array: ("shape", "dtype", "chunks", "shards", "fill_value",
                                "compressor", "compressor_opt", "dimension_separator",
                                "order", "zarr_config"),
    uz.open_group: ("zarr_version", "storage_options"),
    uz.open_array: ("zarr_version", "storage_options"),
    uz.from_config: ("config", "storage_options"),
    layout.resolve_array_spec: ("dtype", "zarr_version", "config", "chunks", "shards",
                                "fill_value", "compressor", "compressor_opt",
                                "dimension_separator", "order"),
    uz.write_ome_metadata: ("axes",),
}


@pytest.mark.parametrize("fn", list(LAYOUT_ARGS), ids=lambda f: f.__qualname__)
def test_layout_arguments_have_named_types(fn):
    params = inspect.signature(fn).parameters
    names = set(types.__all__)
    for arg in LAYOUT_ARGS[fn]:
        annotation = str(params[arg].annotation)
        assert annotation != "Any", (fn, arg)
        assert any(n in annotation for n in names), (fn, arg, annotation)


def test_int_shards_and_chunks(tmp_path, driver):
    g = uz.open_group(str(tmp_path / "s.zarr"), "w", driver=driver, zarr_version=3)
    x = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    a = g.create_array("a", data=x, chunks=8, shards=32)
    assert a.chunks == (8, 8) and a.shards == (32, 32)
    np.testing.assert_array_equal(uz.open_group(g.url, "r")["a"][...], x)
    with pytest.raises(ValueError, match="shard"):
        g.create_array("b", (64, 64), "u2", chunks=8, shards=12)
    assert "b" not in uz.open_group(g.url, "r").keys()
