"""Zipped OME-Zarr (.ozx, RFC-9): pack, unpack, read on both drivers, ``unizarr copy``."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import ok, user_error
from unizarr import ozx
from unizarr.errors import CorruptDataError, ReadOnlyError
from unizarr.validation import errors, validate_hierarchy

DATA = np.arange(40 * 48, dtype="uint16").reshape(40, 48)


def _store(path: Path, driver: str = "zarr-python") -> Path:
    """A 0.5 image with a pyramid, a label image and sharded level 0."""
    g = uz.open_group(path, "w", driver=driver, zarr_version=3)
    g.create_array("0", data=DATA, chunks=(8, 8), shards=(16, 16))
    g.create_array("1", data=DATA[::2, ::2], chunks=(8, 8))
    uz.write_ome_metadata(g, "yx", ome_version="0.5", space_scale=0.5)
    labels = g.create_group("labels")
    labels.attrs.put({"ome": {"version": "0.5", "labels": ["seg"]}})
    seg = labels.create_group("seg")
    seg.create_array("0", data=(DATA % 3).astype("uint8"))
    seg.create_array("1", data=(DATA[::2, ::2] % 3).astype("uint8"))
    uz.write_ome_metadata(seg, "yx", ome_version="0.5", space_scale=0.5)
    attrs = seg.attrs.asdict()
    attrs["ome"]["image-label"] = {"colors": [{"label-value": 1, "rgba": [0, 255, 0, 255]}]}
    seg.attrs.put(attrs)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unizarr.cli", *args],
                          capture_output=True, text=True)


def test_pack_follows_rfc9(tmp_path, driver) -> None:
    src = _store(tmp_path / "img.zarr", driver)
    out = ozx.pack(src, tmp_path / "img.ozx")
    names = ozx.entries(out)
    metas = [n for n in names if n.endswith("zarr.json")]
    # root zarr.json first, every zarr.json before any chunk, breadth-first
    assert names[0] == "zarr.json"
    assert names[: len(metas)] == metas
    depths = [n.count("/") for n in metas]
    assert depths == sorted(depths)
    assert sorted(names) == sorted(p.relative_to(src).as_posix()
                                   for p in src.rglob("*") if p.is_file())
    with zipfile.ZipFile(out) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        assert json.loads(zf.comment) == {"ome": {"version": "0.5", "zipFile": {
            "centralDirectory": {"jsonFirst": True}}}}
        for info in zf.infolist():  # the archive is byte-identical to the directory
            assert zf.read(info) == (src / info.filename).read_bytes()
    # ZIP64 extra field (header id 0x0001) in the first local file header
    raw = out.read_bytes()
    name_len, extra_len = struct.unpack("<HH", raw[26:30])
    assert struct.unpack("<H", raw[30 + name_len: 32 + name_len])[0] == 0x0001
    assert extra_len >= 20


def test_read_ozx_on_both_drivers(tmp_path, driver) -> None:
    out = ozx.pack(_store(tmp_path / "img.zarr"), tmp_path / "img.ozx")
    g = uz.open_group(out, "r", driver=driver)
    assert sorted(g.keys()) == ["0", "1", "labels"]
    np.testing.assert_array_equal(g["0"][:], DATA)
    np.testing.assert_array_equal(g["0"][5:21, 7:30], DATA[5:21, 7:30])
    np.testing.assert_array_equal(g["labels/seg/0"][:], DATA % 3)
    assert errors(validate_hierarchy(g)) == []
    uz.validate_ome(g)


def test_ozx_is_read_only(tmp_path, driver) -> None:
    out = ozx.pack(_store(tmp_path / "img.zarr"), tmp_path / "img.ozx")
    before = out.read_bytes()
    for mode in ("r+", "a", "w", "w-"):
        with pytest.raises(ReadOnlyError, match="unizarr copy"):
            uz.open_group(out, mode, driver=driver)
    with pytest.raises(FileNotFoundError):
        uz.open_group(tmp_path / "missing.ozx", "r", driver=driver)
    assert out.read_bytes() == before


def test_open_a_node_inside_an_ozx(tmp_path, driver, zarr_version) -> None:
    """``open_array("x.ozx/0")`` reads what ``open_group("x.ozx")["0"]`` reads (it raised
    FileNotFoundError: neither engine opens a path through a zip file); writing modes
    are refused as for the archive, a missing member names the archive, and the
    archive is never changed."""
    src = tmp_path / "in.ome.zarr"
    g = uz.open_group(src, "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=DATA, chunks=(8, 8))
    g.create_group("labels").create_group("seg").create_array("0", data=(DATA % 3).astype("u1"))
    uz.write_ome_metadata(g, "yx")
    out = tmp_path / "x.ozx"
    uz.copy(str(src), str(out), driver=driver)  # to Zarr v3 (a .ozx holds v3 only)
    before = tree_hashes(tmp_path)
    arr = uz.open_array(f"{out}/0", "r", driver=driver)
    assert isinstance(arr, uz.ZarrArray)
    np.testing.assert_array_equal(arr[...], uz.open_group(out, "r", driver=driver)["0"][...])
    np.testing.assert_array_equal(arr[3:9, 40:], DATA[3:9, 40:])
    seg = uz.open_array(out / "labels" / "seg" / "0", "r", driver=driver)
    np.testing.assert_array_equal(seg[...], DATA % 3)
    assert sorted(uz.open_group(f"{out}/labels", "r", driver=driver).keys()) == ["seg"]
    with pytest.raises(FileNotFoundError, match=r"x\.ozx/labels is a Zarr group, not an array"):
        uz.open_array(f"{out}/labels", "r", driver=driver)
    with pytest.raises(FileNotFoundError, match=r"no 'nope' in .*x\.ozx"):
        uz.open_array(f"{out}/nope", "r", driver=driver)
    for mode in ("r+", "a", "w", "w-"):
        with pytest.raises(ReadOnlyError, match=r"inside a zipped OME-Zarr.*unizarr copy"):
            uz.open_array(f"{out}/0", mode, driver=driver, shape=(2,), dtype="u1")
    assert tree_hashes(tmp_path) == before
    info = ok(_cli("info", f"{out}/0", "--json"))
    assert json.loads(info.stdout)["shape"] == list(DATA.shape)


def test_unpack_round_trip_and_refusals(tmp_path) -> None:
    src = _store(tmp_path / "img.zarr")
    out = ozx.pack(src, tmp_path / "img.ozx")
    back = ozx.unpack(out, tmp_path / "back.zarr")
    assert tree_hashes(back) == tree_hashes(src)
    # nothing is overwritten without asking, and a refused call leaves no trace
    before = tree_hashes(tmp_path)
    with pytest.raises(FileExistsError):
        ozx.pack(src, out)
    with pytest.raises(FileExistsError):
        ozx.unpack(out, back)
    with pytest.raises(ValueError, match="inside"):
        ozx.pack(src, src / "x.ozx")
    with pytest.raises(ValueError, match=".ozx"):
        ozx.pack(src, tmp_path / "x.zip")
    assert tree_hashes(tmp_path) == before


def test_unpack_refuses_escaping_and_damaged_archives(tmp_path) -> None:
    evil = tmp_path / "evil.ozx"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("zarr.json", "{}")
        zf.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        ozx.unpack(evil, tmp_path / "out.zarr")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out.zarr").exists()

    good = ozx.pack(_store(tmp_path / "img.zarr"), tmp_path / "img.ozx")
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        offset = zf.getinfo("0/c/0/0").header_offset
    # data starts after the local header (its extra field differs from the central one)
    name_len, extra_len = struct.unpack("<HH", raw[offset + 26: offset + 30])
    start = offset + 30 + name_len + extra_len
    raw[start + 10] ^= 0xFF  # one flipped byte inside a shard
    bad = tmp_path / "bad.ozx"
    bad.write_bytes(bytes(raw))
    before = tree_hashes(tmp_path)
    with pytest.raises(CorruptDataError, match="bad.ozx"):
        ozx.unpack(bad, tmp_path / "bad.zarr")
    assert tree_hashes(tmp_path) == before


def test_cli_copy_packs_and_unpacks(tmp_path) -> None:
    src = _store(tmp_path / "img.zarr")
    ok(_cli("copy", str(src), str(tmp_path / "img.ozx"), "--quiet"))
    assert ozx.entries(tmp_path / "img.ozx")[0] == "zarr.json"
    ok(_cli("validate", str(tmp_path / "img.ozx")))
    ok(_cli("copy", str(tmp_path / "img.ozx"), str(tmp_path / "back.zarr"), "--quiet"))
    assert tree_hashes(tmp_path / "back.zarr") == tree_hashes(src)
    # a converting copy goes through a directory and is then packed
    ok(_cli("copy", str(src), str(tmp_path / "rechunked.ozx"), "--chunk", "16", "--quiet"))
    g = uz.open_group(tmp_path / "rechunked.ozx", "r")
    assert g["0"].chunks == (16, 16)
    np.testing.assert_array_equal(g["0"][:], DATA)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # refusals: exit 2, one line, nothing changed
    before = tree_hashes(tmp_path)
    user_error(_cli("copy", str(src), str(tmp_path / "img.ozx")), "already exists")
    user_error(_cli("copy", str(src), str(tmp_path / "v2.ozx"), "--zarr-version", "2"),
               "zarr v3")
    assert tree_hashes(tmp_path) == before
    ok(_cli("copy", str(src), str(tmp_path / "img.ozx"), "--overwrite", "--quiet"))
