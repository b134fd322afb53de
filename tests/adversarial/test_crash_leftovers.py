"""Crash leftovers: an empty or truncated chunk/shard (what a killed in-place writer
leaves) at any level is rewritten by ``--resume``; the result equals an uninterrupted
run in data and in the set of stored files.

Damage is done to a finished store, and to one whose run record says "running" (an
interrupted run), at every level at once; on both drivers, Zarr v2 and v3 sharded and
unsharded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.cli import levels_of, make_npy, run_cli
from tests.helpers import ok
from unizarr.convert import CONVERT_RECORD

LAYOUTS = {
    "v2": ["--zarr-version", "2", "--chunk", "8"],
    "v3": ["--zarr-version", "3", "--chunk", "8"],
    "v3-sharded": ["--zarr-version", "3", "--chunk", "4", "--shard", "8"],
}


def block_files(store: Path) -> dict[str, list[Path]]:
    """The stored blocks (chunk or shard files) of every level, largest first."""
    out = {}
    for level in sorted(p for p in store.iterdir() if p.name.isdigit()):
        files = [p for p in level.rglob("*") if p.is_file()
                 and p.name not in ("zarr.json", ".zarray", ".zattrs")]
        out[level.name] = sorted(files, key=lambda p: -p.stat().st_size)
    return out


def file_set(store: Path) -> set[str]:
    return {str(p.relative_to(store)) for p in store.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", ["empty", "truncated"])
@pytest.mark.parametrize("state", ["complete", "interrupted"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_resume_rewrites_torn_blocks_at_every_level(
    tmp_path, driver, layout, damage, state
) -> None:
    npy = tmp_path / "v.npy"
    make_npy(npy, 4, (24, 40, 40))
    opts = [*LAYOUTS[layout], "--driver", driver, "--quiet"]
    ref = tmp_path / "ref.zarr"
    ok(run_cli("convert", npy, ref, *opts))
    out = tmp_path / "out.zarr"
    shutil.copytree(ref, out)
    if state == "interrupted":
        rec = json.loads((out / CONVERT_RECORD).read_text())
        rec["state"] = "running"
        (out / CONVERT_RECORD).write_text(json.dumps(rec))
    blocks = block_files(out)
    assert len(blocks) >= 3
    for files in blocks.values():
        torn = files[0]  # the largest: a truncation cuts real data
        raw = torn.read_bytes()
        torn.write_bytes(b"" if damage == "empty" else raw[: max(1, len(raw) // 3)])
    ok(run_cli("convert", npy, out, *opts, "--resume"))
    for got, want in zip(levels_of(out, driver), levels_of(ref, driver), strict=True):
        np.testing.assert_array_equal(got, want)
    assert file_set(out) == file_set(ref)
    for files in block_files(out).values():
        assert all(p.stat().st_size for p in files)


@pytest.mark.parametrize("layout", ["v2", "v3-sharded"])
def test_api_resume_rewrites_an_empty_block(tmp_path, driver, layout) -> None:
    """``generate_pyramid(resume=True)`` on a complete build with a 0-byte block."""
    x = np.random.default_rng(2).integers(1, 500, (24, 24, 24)).astype("u2")
    version = 2 if layout == "v2" else 3
    kw = {"shards": (8, 8, 8)} if layout == "v3-sharded" else {}
    g = uz.open_group(tmp_path / "g.zarr", "w", driver=driver, zarr_version=version)
    g.create_array("0", data=x, chunks=(4, 4, 4) if kw else (8, 8, 8), **kw)
    uz.generate_pyramid(g)
    want = g["1"][...]
    level1 = block_files(tmp_path / "g.zarr")["1"]
    level1[0].write_bytes(b"")
    uz.generate_pyramid(g, resume=True)
    np.testing.assert_array_equal(g["1"][...], want)
    assert level1[0].stat().st_size > 0
