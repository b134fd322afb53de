"""Crash safety and ``resume``: a conversion killed at any moment (SIGKILL of the whole
process) leaves a store that never claims to be complete, and ``--resume`` /
``generate_pyramid(resume=True)`` finish it into the same result as an uninterrupted run.

The crash is real: a small wrapper runs the ``unizarr`` command with
``ZarrArray.__setitem__`` patched to SIGKILL the process at its N-th write (other worker
threads may be mid-write at that moment, as in a real crash), or just before the OME
metadata is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.helpers import ok, user_error
from unizarr.pyramid import RUN_RECORD

DRIVERS = ("zarr-python", "tensorstore")
LAYOUTS = {
    "v2": ["--zarr-version", "2", "--chunk", "16"],
    "v3-sharded": ["--zarr-version", "3", "--chunk", "8", "--shard", "16"],
}
SHAPE = (48, 128, 160)

#: Runs ``unizarr`` with a crash hook: UZ_KILL_AT=N kills the process at its N-th array
#: write, -1 just before the OME metadata, 0 never (then it reports how many writes
#: the conversion made).
HOOK = r"""
import os, signal, sys, threading
import unizarr, unizarr.cli, unizarr.core as core

kill_at = int(os.environ["UZ_KILL_AT"])
lock = threading.Lock()
count = [0]
write = core.ZarrArray.__setitem__

def setitem(self, key, value):
    with lock:
        count[0] += 1
        n = count[0]
    if n == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    write(self, key, value)

core.ZarrArray.__setitem__ = setitem
if kill_at == -1:
    sys.modules["unizarr.convert"].write_ome_metadata = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
rc = unizarr.cli.main(sys.argv[1:])
if rc == 0:
    print("WRITES", count[0], file=sys.stderr)
sys.exit(rc)
"""


def convert(*args: object, kill_at: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, UZ_KILL_AT=str(kill_at))
    return subprocess.run(
        [sys.executable, "-c", HOOK, "convert", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )




def volume() -> np.ndarray:
    vol = np.random.default_rng(7).integers(0, 1000, SHAPE).astype(np.uint16)
    vol[:16, :32, :32] = 0  # whole blocks equal to the fill value: never stored
    return vol


def files(root: Path) -> dict[str, str]:
    """Every stored object under ``root`` with the digest of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def block_stamps(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every stored chunk/shard that decodes: a rewritten object
    changes them. A block torn by the crash (zarr-python's ``zarrs`` pipeline writes
    files in place) does not decode and must be rewritten."""
    stamps = {}
    group = uz.open_group(root, "r")
    for name, arr in group.arrays():
        prefix = "c/" if arr.zarr_version == 3 else ""
        for b in arr.stored_blocks():
            try:
                arr[tuple(slice(i * w, (i + 1) * w) for i, w in zip(b, arr.write_block))]
            except uz.CorruptDataError:
                continue
            p = root / name / (prefix + "/".join(map(str, b)))
            stamps[str(p.relative_to(root))] = (p.stat().st_ino, p.stat().st_mtime_ns)
    return stamps


def claims_complete(root: Path) -> bool:
    """Whether the root metadata holds OME multiscales (the completeness claim)."""
    for name in ("zarr.json", ".zattrs"):
        if (root / name).exists():
            text = (root / name).read_text()
            if "multiscales" in text:
                return True
    return False


def assert_same(out: Path, ref: Path, *, bytes_equal: bool) -> None:
    """Same levels, data, array metadata and OME metadata (and stored objects)."""
    a, b = uz.open_group(out, "r"), uz.open_group(ref, "r")
    assert a.keys() == b.keys()
    assert a.attrs.asdict() == b.attrs.asdict()
    for name in b:
        np.testing.assert_array_equal(a[name][...], b[name][...], err_msg=name)
        assert a[name].metadata == b[name].metadata, name
    fa, fb = files(out), files(ref)
    assert fa.keys() == fb.keys()
    if bytes_equal:
        assert fa == fb


@pytest.fixture(scope="module")
def npy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "vol.npy"
    np.save(path, volume())
    return path


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_sigkill_then_resume_matches_uninterrupted(
    npy: Path, tmp_path: Path, driver: str, layout: str
) -> None:
    opts = [*LAYOUTS[layout], "--driver", driver, "--max-memory", "1M", "--quiet"]
    ref = tmp_path / "ref.zarr"
    proc = ok(convert(npy, ref, *opts))
    writes = int(proc.stderr.split("WRITES")[-1])
    assert writes > 8
    # zarr-python orders a shard's inner chunks as their encoding finishes: two
    # uninterrupted runs already differ in bytes there, not in data.
    bytes_equal = not (driver == "zarr-python" and layout == "v3-sharded")
    # Before any data, early in level 0, midway (level 0 tail / level 2), among the
    # last writes (the top pyramid levels), and just before the OME metadata.
    for kill_at in (1, 3, writes // 2, writes - 1, -1):
        out = tmp_path / f"out{kill_at}.zarr"
        crashed = convert(npy, out, *opts, kill_at=kill_at)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        assert not claims_complete(out), kill_at
        kept = block_stamps(out)
        ok(convert(npy, out, *opts, "--resume"))
        # The blocks the crashed run finished were not written again.
        after = block_stamps(out)
        assert {k: after.get(k) for k in kept} == kept, kill_at
        assert_same(out, ref, bytes_equal=bytes_equal)
        shutil.rmtree(out)


def test_resume_twice_and_on_complete_output_is_a_noop(npy: Path, tmp_path: Path) -> None:
    opts = [*LAYOUTS["v3-sharded"], "--quiet"]
    ref = tmp_path / "ref.zarr"
    ok(convert(npy, ref, *opts))
    out = tmp_path / "out.zarr"
    assert convert(npy, out, *opts, kill_at=5).returncode == -signal.SIGKILL
    # Killed again while resuming: resuming still converges.
    assert convert(npy, out, *opts, "--resume", kill_at=2).returncode == -signal.SIGKILL
    ok(convert(npy, out, *opts, "--resume"))
    assert_same(out, ref, bytes_equal=False)
    before, stamps = files(out), block_stamps(out)
    ok(convert(npy, out, *opts, "--resume"))
    # Only the all-fill tiles (never stored) are computed again; no block is rewritten.
    assert block_stamps(out) == stamps
    assert files(out) == before


def test_resume_of_missing_output_converts_afresh(npy: Path, tmp_path: Path) -> None:
    ref, out = tmp_path / "ref.zarr", tmp_path / "out.zarr"
    ok(convert(npy, ref, "--quiet"))
    ok(convert(npy, out, "--quiet", "--resume"))
    assert_same(out, ref, bytes_equal=False)


def test_resume_refuses_other_layout(npy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    assert convert(npy, out, "--chunk", "16", kill_at=3).returncode == -signal.SIGKILL
    user_error(convert(npy, out, "--chunk", "32", "--resume"), "layout")
    user_error(convert(npy, out, "--chunk", "16", "--zarr-version", "2", "--resume"), "v2")
    user_error(convert(npy, out, "--chunk", "16", "--compressor", "zstd", "--resume"), "layout")
    user_error(convert(npy, out, "--resume", "--overwrite"), "exclude")
    # same layout, other pyramid: finishing it would mix two pyramids
    before = files(out)
    user_error(convert(npy, out, "--chunk", "16", "--method", "max", "--resume"), "method")
    user_error(convert(npy, out, "--chunk", "16", "--levels", "1", "--resume"), "levels")
    assert files(out) == before
    # same shape and options, another input (here: the same file rewritten)
    other = tmp_path / "other.npy"
    shutil.copy(npy, other)
    user_error(convert(other, out, "--chunk", "16", "--resume"), "input")
    assert files(out) == before
    assert not claims_complete(out)
    ok(convert(npy, out, "--chunk", "16", "--resume"))
    assert claims_complete(out)
    # the records stay, marked complete: a later --resume verifies instead of refusing
    assert json.loads((out / RUN_RECORD).read_text())["complete"] is True


# -- the API --------------------------------------------------------------------------------
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("version,shards,sep", [(2, None, "."), (3, (16, 32, 32), "/"), (3, None, ".")])
def test_generate_pyramid_resume_rewrites_only_missing_blocks(
    tmp_path: Path, driver: str, version: int, shards: tuple | None, sep: str
) -> None:
    vol = volume()
    ref = uz.open_group(tmp_path / "ref", "w", driver=driver, zarr_version=version)
    ref.create_array("0", vol.shape, vol.dtype, chunks=(8, 16, 16), shards=shards,
                     dimension_separator=sep)
    shapes = uz.generate_pyramid(ref, source=vol, write_base=True, max_memory=2**20, workers=3)
    assert len(shapes) > 2
    shutil.copytree(tmp_path / "ref", tmp_path / "out")
    out = uz.open_group(tmp_path / "out", "r+", driver=driver)
    stored = {name: out[name].stored_blocks() for name in out}
    # Drop every other stored block of every level (as a crash would leave them), and
    # tear the last one (an edge block: the engine merges into it when rewriting) as an
    # in-place writer killed mid-write would.
    removed = 0
    for name, blocks in stored.items():
        arr = out[name]
        order = sorted(blocks)
        for i, b in enumerate(order):
            key = sep.join(map(str, b))
            path = tmp_path / "out" / name / (f"c{sep}{key}" if version == 3 else key)
            if i % 2:
                path.unlink()
                removed += 1
            elif i == len(order) - 1 and i:
                path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        assert arr.stored_blocks() == {b for i, b in enumerate(order) if not i % 2}
    assert removed > 4
    uz.generate_pyramid(out, source=vol, write_base=True, max_memory=2**20, workers=3,
                        resume=True)
    for name in ref:
        np.testing.assert_array_equal(out[name][...], ref[name][...])
        assert out[name].stored_blocks() == stored[name]
    # Without source: level 0 is complete, the upper levels are rebuilt from it.
    shutil.rmtree(tmp_path / "out" / "2")
    uz.generate_pyramid(out, max_memory=2**20, resume=True)
    np.testing.assert_array_equal(out["2"][...], ref["2"][...])


def test_stored_blocks_of_0d_and_empty_arrays(tmp_path: Path) -> None:
    g = uz.open_group(tmp_path / "g", "w")
    a = g.create_array("a", (), "u1")
    assert a.stored_blocks() == set()
    a[...] = 3
    assert a.stored_blocks() == {()}
    b = g.create_array("b", (10, 12), "u1", chunks=(4, 4))
    assert b.stored_blocks() == set()
    b[4:8, 8:12] = 1
    assert b.stored_blocks() == {(1, 2)}
    assert json.loads((tmp_path / "g" / "b" / "zarr.json").read_text())["shape"] == [10, 12]


def test_nifti_input_resumes_with_its_header(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    data = volume().transpose(2, 1, 0)  # NIfTI (x, y, z)
    img = nib.Nifti1Image(data, np.diag([0.5, 0.6, 0.7, 1.0]))
    src = tmp_path / "vol.nii.gz"
    nib.save(img, src)
    opts = [*LAYOUTS["v3-sharded"], "--driver", "tensorstore", "--max-memory", "1M", "--quiet"]
    ref, out = tmp_path / "ref.zarr", tmp_path / "out.zarr"
    ok(convert(src, ref, *opts))
    assert convert(src, out, *opts, kill_at=4).returncode == -signal.SIGKILL
    assert not claims_complete(out)
    ok(convert(src, out, *opts, "--resume"))
    assert_same(out, ref, bytes_equal=True)


FAIL_AFTER = [0]


def flaky_max(blocks, axis):
    """``np.max`` that fails once ``FAIL_AFTER`` calls are used up (0: never)."""
    if FAIL_AFTER[0]:
        FAIL_AFTER[0] -= 1
        if not FAIL_AFTER[0]:
            raise RuntimeError("interrupted")
    return np.max(blocks, axis=axis)


@pytest.mark.parametrize("zarr_version", [2, 3])
@pytest.mark.parametrize("driver", DRIVERS)
def test_resume_refuses_other_pyramid_options_and_changes_nothing(
    tmp_path: Path, driver, zarr_version
) -> None:
    x = np.random.default_rng(3).integers(0, 900, (64, 64, 64)).astype(np.uint16)
    ref = uz.open_group(str(tmp_path / "ref.zarr"), "w", driver=driver, zarr_version=zarr_version)
    ref.create_array("0", data=x, chunks=(16,))
    uz.generate_pyramid(ref, method=flaky_max)
    # kept, marked complete (a later resume verifies it), never a member
    assert json.loads((tmp_path / "ref.zarr" / RUN_RECORD).read_text())["complete"] is True
    assert RUN_RECORD not in ref.keys()

    g = uz.open_group(str(tmp_path / "g.zarr"), "w", driver=driver, zarr_version=zarr_version)
    g.create_array("0", data=x, chunks=(16,))
    FAIL_AFTER[0] = 2
    with pytest.raises(RuntimeError, match="interrupted"):
        uz.generate_pyramid(g, method=flaky_max, workers=1)
    before = files(tmp_path / "g.zarr")
    assert RUN_RECORD in before
    with pytest.raises(ValueError, match="method=.*flaky_max.*now 'mean'"):
        uz.generate_pyramid(g, method="mean", resume=True)
    with pytest.raises(ValueError, match="shapes="):
        uz.generate_pyramid(g, levels=1, method=flaky_max, resume=True)
    with pytest.raises(ValueError, match="axes="):
        uz.generate_pyramid(g, method=flaky_max, no_pyramid_axis="z", resume=True)
    assert files(tmp_path / "g.zarr") == before  # refused before any write
    uz.generate_pyramid(g, method=flaky_max, resume=True)
    assert json.loads((tmp_path / "g.zarr" / RUN_RECORD).read_text())["complete"] is True
    for level in ref.keys():
        np.testing.assert_array_equal(g[level][...], ref[level][...])


RESUME_LINE = re.compile(
    r"--resume: reused (\d+) blocks \((.+?)\) stored by the earlier run, wrote (\d+), "
    r"of (\d+) blocks(?: \((\d+) hold only the fill value: not stored\))?; "
    r"reused/written/all per level (.*)$", re.MULTILINE,
)


def level_blocks(root: Path) -> dict[str, set[tuple[int, ...]]]:
    group = uz.open_group(root, "r")
    return {name: arr.stored_blocks() for name, arr in group.arrays() if name.isdigit()}


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_resume_summary_says_what_was_reused(
    npy: Path, tmp_path: Path, driver: str, layout: str
) -> None:
    """The summary after --resume counts the blocks the killed run had stored (kept,
    not rewritten) and those the resume wrote, level by level."""
    opts = [*LAYOUTS[layout], "--driver", driver, "--max-memory", "1M"]
    ref = tmp_path / "ref.zarr"
    writes = int(ok(convert(npy, ref, *opts, "--quiet")).stderr.split("WRITES")[-1])
    out = tmp_path / "out.zarr"
    assert convert(npy, out, *opts, kill_at=writes // 2).returncode == -signal.SIGKILL
    before = level_blocks(out)
    stamps = block_stamps(out)
    proc = ok(convert(npy, out, *opts, "--resume"))
    m = RESUME_LINE.search(proc.stdout)
    assert m, proc.stdout
    reused, wrote, total = int(m[1]), int(m[3]), int(m[4])
    after, full = level_blocks(out), level_blocks(ref)
    # every stored block of the crashed run decodes (atomic writes): all were kept
    assert reused == sum(map(len, before.values())) == len(stamps) > 0
    assert {k: v for k, v in block_stamps(out).items() if k in stamps} == stamps
    assert wrote == sum(len(after[k] - before.get(k, set())) for k in after) > 0
    assert reused + wrote == sum(map(len, full.values()))  # the stored blocks of a full run
    grid = [math.prod(-(-n // w) for n, w in zip(arr.shape, arr.write_block))
            for name, arr in uz.open_group(ref, "r").arrays()]
    assert total == sum(grid) and len(grid) == len(after)
    assert int(m[5] or 0) == total - reused - wrote  # the all-zero corner of volume()
    per_level = dict(part.split(": ") for part in m[6].split(", "))
    for name in after:
        k, w, _ = map(int, per_level[name].split("/"))
        assert (k, w) == (len(before.get(name, set())), len(after[name] - before.get(name, set())))
    # Resuming the now complete output: everything stored is reused, nothing written.
    proc = ok(convert(npy, out, *opts, "--resume"))
    m = RESUME_LINE.search(proc.stdout)
    assert m and int(m[1]) == reused + wrote and int(m[3]) == 0, proc.stdout


def test_convert_result_counts_reuse(tmp_path: Path, driver: str, zarr_version: int) -> None:
    """``uz.convert(resume=True)``: ConvertResult's reuse fields per level (empty lists
    without resume; a resume of a complete output reuses every stored block)."""
    src = tmp_path / "v.npy"
    np.save(src, volume()[:, :64, :64])
    out = str(tmp_path / "o.zarr")
    cfg = uz.ZarrConfig(driver=driver, zarr_version=zarr_version, chunk=(16,))
    fresh = uz.convert(str(src), out, config=cfg)
    assert fresh.reused_blocks == fresh.written_blocks == fresh.level_blocks == []
    stored = [len(b) for b in level_blocks(Path(out)).values()]
    again = uz.convert(str(src), out, config=cfg, resume=True)
    assert again.resumed == "verified"
    assert again.reused_blocks == stored and again.written_blocks == [0] * len(stored)
    assert again.reused_bytes[0] == sum(
        math.prod(min(16, n - i * 16) for i, n in zip(b, (48, 64, 64)))
        for b in level_blocks(Path(out))["0"]
    ) * 2
    assert again.level_blocks[0] == 3 * 4 * 4
