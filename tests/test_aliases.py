"""One vocabulary: the canonical keyword names (``method``, ``chunks``, ``shards``,
``spatial_ndim``, ``zarr_version``) and the aliases accepted for them (``mode``,
``chunk``, ``shard``, ``ndim``, ``zarr_format``), in the library and the CLI. An alias
gives exactly what its canonical name gives; both with different values raise a
``TypeError`` naming both, before anything is written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import ok, user_error
from unizarr import aliases

ROOT = Path(__file__).resolve().parents[1]


def base(tmp_path, driver, zarr_version, name="g.zarr", shape=(2, 12, 10, 9)):
    x = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape) % 97
    g = uz.open_group(str(tmp_path / name), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=x, chunks=(4,))
    return g


def levels_of(g):
    return {p: g[p][...] for p in sorted(k for k in g.keys() if k.isdigit())}


# -- generate_pyramid: method / mode, spatial_ndim / ndim ---------------------------------------
def test_pyramid_aliases_give_the_canonical_result(tmp_path, driver, zarr_version):
    canonical = base(tmp_path, driver, zarr_version, "canonical.zarr")
    shapes = uz.generate_pyramid(canonical, 2, method="max", spatial_ndim=2)
    for i, call in enumerate([
        lambda g: uz.generate_pyramid(g, 2, mode="max", ndim=2),       # library, aliases
        lambda g: g.generate_pyramid(2, 2, "max"),                      # linc positions
        lambda g: g.generate_pyramid(2, method="max", spatial_ndim=2),  # linc, canonical
        lambda g: g.generate_pyramid(2, ndim=2, mode="max", method="max"),  # same value twice
    ]):
        g = base(tmp_path, driver, zarr_version, f"alias{i}.zarr")
        assert call(g) == shapes
        got, want = levels_of(g), levels_of(canonical)
        assert got.keys() == want.keys() == {"0", "1", "2"}
        for p in want:
            np.testing.assert_array_equal(got[p], want[p])
    # spatial_ndim=2 kept the z axis (12) whole: the alias really reached the pyramid.
    assert shapes[1] == (2, 12, 5, 5)


@pytest.mark.parametrize("call, names", [
    (lambda g: uz.generate_pyramid(g, 1, method="mean", mode="max"), ("method", "mode")),
    (lambda g: uz.generate_pyramid(g, 1, spatial_ndim=3, ndim=2), ("spatial_ndim", "ndim")),
    (lambda g: g.generate_pyramid(1, 3, "max", method="min"), ("method", "mode")),
    (lambda g: g.generate_pyramid(1, 2, spatial_ndim=3), ("spatial_ndim", "ndim")),
])
def test_pyramid_conflicts_name_both_and_write_nothing(tmp_path, driver, zarr_version, call, names):
    g = base(tmp_path, driver, zarr_version)
    before = tree_hashes(tmp_path / "g.zarr")
    with pytest.raises(TypeError) as info:
        call(g)
    assert all(f"{n}=" in str(info.value) for n in names), info.value
    assert tree_hashes(tmp_path / "g.zarr") == before


def test_library_default_of_the_linc_method_is_unchanged(tmp_path, driver, zarr_version):
    """``g.generate_pyramid()`` is still linc-convert's ``ndim=3, mode="mean"``."""
    g = base(tmp_path, driver, zarr_version, shape=(12, 10, 8))
    h = base(tmp_path, driver, zarr_version, "h.zarr", shape=(12, 10, 8))
    assert g.generate_pyramid(1) == uz.generate_pyramid(h, 1, method="mean", spatial_ndim=3)
    np.testing.assert_array_equal(g["1"][...], h["1"][...])


# -- create_array / open_array: chunks / chunk, shards / shard -----------------------------------
def test_create_array_chunk_and_shard(tmp_path, driver, zarr_version):
    g = uz.open_group(str(tmp_path / "c.zarr"), "w", driver=driver, zarr_version=zarr_version)
    shard = {"shard": (8, 8)} if zarr_version == 3 else {}
    a = g.create_array("a", (16, 16), "u1", chunk=(4, 4), **shard)
    b = g.create_array("b", (16, 16), "u1", chunks=[4, 4], chunk=(4, 4))  # same value: fine
    assert a.chunks == b.chunks == (4, 4)
    if zarr_version == 3:
        assert a.shards == (8, 8)
    before = tree_hashes(tmp_path / "c.zarr")
    with pytest.raises(TypeError, match=r"chunks=\(8, 8\).*chunk=\(4, 4\)"):
        g.create_array("a", (16, 16), "u1", chunks=(8, 8), chunk=(4, 4), overwrite=True)
    assert tree_hashes(tmp_path / "c.zarr") == before


def test_open_array_and_group_accept_zarr_format(tmp_path, driver, zarr_version):
    url = str(tmp_path / "arr.zarr")
    a = uz.open_array(url, "w", driver=driver, zarr_format=zarr_version, shape=(10,),
                      dtype="i2", chunk=(5,))
    assert a.zarr_version == zarr_version and a.chunks == (5,)
    g = uz.open_group(str(tmp_path / "grp.zarr"), "w", driver=driver, zarr_format=zarr_version)
    assert g.zarr_version == zarr_version
    with pytest.raises(TypeError, match="zarr_version=3.*zarr_format=2"):
        uz.open_group(str(tmp_path / "other.zarr"), "w", driver=driver, zarr_version=3,
                      zarr_format=2)
    with pytest.raises(TypeError, match="chunks=.*chunk="):
        uz.open_array(str(tmp_path / "other.zarr"), "w", driver=driver, shape=(4,), dtype="u1",
                      chunks=(2,), chunk=(4,))
    assert not (tmp_path / "other.zarr").exists()


# -- ZarrConfig, from_config, convert ----------------------------------------------------------
def test_config_accepts_the_library_names(tmp_path, driver, zarr_version):
    cfg = uz.ZarrConfig(chunks=(8,), zarr_format=zarr_version, driver=driver)
    assert cfg.chunk == (8,) and cfg.zarr_version == zarr_version
    assert uz.ZarrConfig.from_object({"chunks": [8], "zarr_format": zarr_version}) == uz.ZarrConfig(
        chunk=(8,), zarr_version=zarr_version
    )
    with pytest.raises(TypeError, match="chunk=.*chunks="):
        uz.ZarrConfig(chunk=(4,), chunks=(8,))
    g = uz.from_config(str(tmp_path / "cfg.zarr"), {"zarr_format": zarr_version, "driver": driver})
    assert g.zarr_version == zarr_version
    a = g.create_array("0", (16, 16, 16), "u2", zarr_config=cfg)
    assert a.chunks == (8, 8, 8)


def test_convert_accepts_chunks(tmp_path, driver, zarr_version):
    src = tmp_path / "in.npy"
    np.save(src, np.arange(16 * 16 * 16, dtype=np.uint16).reshape(16, 16, 16))
    uz.convert(str(src), str(tmp_path / "out.zarr"), chunks=(8,), zarr_format=zarr_version,
               driver=driver)
    g = uz.open_group(str(tmp_path / "out.zarr"), "r")
    assert g.zarr_version == zarr_version and g["0"].chunks == (8, 8, 8)
    with pytest.raises(TypeError, match="chunk=.*chunks="):
        uz.convert(str(src), str(tmp_path / "bad.zarr"), chunk=(4,), chunks=(8,))
    assert not (tmp_path / "bad.zarr").exists()


# -- the CLI ---------------------------------------------------------------------------------------
def run(*args):
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_aliases(tmp_path):
    src = tmp_path / "in.npy"
    np.save(src, (np.arange(16 * 16 * 16) % 251).astype(np.uint8).reshape(16, 16, 16))
    ok(run("convert", src, tmp_path / "a.zarr", "--chunks", 8, "--zarr-format", 2,
           "--method", "max", "--quiet"))
    ok(run("convert", src, tmp_path / "b.zarr", "--chunk", 8, "--zarr-version", 2,
           "--mode", "max", "--quiet"))
    a, b = uz.open_group(str(tmp_path / "a.zarr"), "r"), uz.open_group(str(tmp_path / "b.zarr"), "r")
    assert a.zarr_version == b.zarr_version == 2 and a["0"].chunks == b["0"].chunks == (8, 8, 8)
    np.testing.assert_array_equal(a["1"][...], b["1"][...])
    user_error(run("convert", src, tmp_path / "c.zarr", "--chunk", 8, "--chunks", 4), "--chunks")
    assert not (tmp_path / "c.zarr").exists()


# -- the table ------------------------------------------------------------------------------------
def test_vocabulary_table_lists_every_alias():
    text = (ROOT / "docs" / "vocabulary.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", text, re.M)}
    tables = (aliases.PYRAMID_ALIASES, aliases.ARRAY_ALIASES, aliases.OPEN_ALIASES)
    for table in tables:
        for alias, canonical in table.items():
            assert canonical in rows and f"`{alias}`" in rows[canonical], (canonical, alias)
    assert "docs/vocabulary.md" in (ROOT / "README.md").read_text()
