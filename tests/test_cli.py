"""The ``unizarr`` command, driven as a user drives it: a real subprocess.

Each command's happy path and each error path of the issue: converted data equal to the
input voxel for voxel (oracles: nibabel, numpy, plain zarr-python), valid OME-NGFF and
NIfTI-Zarr, PNGs of the expected size, one-line errors with exit code 2 and no traceback,
interrupted runs that leave no OME metadata claiming completeness.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

import unizarr as uz
from tests.helpers import ok, snapshot, user_error

SHAPE = (40, 50, 60)  # (z, y, x) of every small input
ZOOMS = (0.5, 0.6, 0.7)  # NIfTI pixdim (x, y, z)
DRIVERS = ("zarr-python", "tensorstore")


def run(*args: object, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m unizarr.cli ARGS`` with stderr not a terminal (so no progress bars)."""
    return subprocess.run(
        [sys.executable, "-m", "unizarr.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
    )




def volume(shape: tuple[int, ...] = SHAPE, dtype: str = "uint16") -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    return rng.integers(0, 4000, shape).astype(dtype)


def level0(path: Path, key: str = "0") -> np.ndarray:
    """Level 0 read with plain zarr-python (the oracle)."""
    return np.asarray(zarr.open_array(str(path / key), mode="r")[...])


def multiscales(path: Path) -> tuple[str, dict]:
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    if "ome" in attrs:
        return attrs["ome"]["version"], attrs["ome"]["multiscales"][0]
    return attrs["multiscales"][0]["version"], attrs["multiscales"][0]


# -- inputs (built once per module) --------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    data = volume()
    # NIfTI stores (x, y, z): the same voxels reversed, big-endian like many scanners.
    nii = nib.Nifti1Image(data.transpose(2, 1, 0).astype(">i2"), np.diag([*ZOOMS, 1.0]))
    nii.header.set_zooms(ZOOMS)
    nii.header.set_xyzt_units("mm", "sec")
    nib.save(nii, root / "brain.nii.gz")
    np.save(root / "vol.npy", data)
    np.save(root / "cells.npy", volume((3, 10, 20, 30)))
    tifffile.imwrite(root / "stack.tif", data)
    (root / "slices").mkdir()
    for i, plane in enumerate(data):
        tifffile.imwrite(root / "slices" / f"img_{i}.tif", plane)
    (root / "garbage.nii").write_bytes(b"\x00not nifti" * 40)
    (root / "notes.xyz").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def converted(inputs: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """brain.nii.gz converted with default options (zarr-python, Zarr v3)."""
    out = tmp_path_factory.mktemp("conv") / "brain.ome.zarr"
    ok(run("convert", inputs / "brain.nii.gz", out, "--chunk", "16", "--shard", "32"))
    return out


# -- basics ----------------------------------------------------------------------------------
def test_help_version_and_console_script() -> None:
    proc = ok(run("--help"))
    for command in ("convert", "info", "validate", "copy", "preview", "demo"):
        assert command in proc.stdout
    assert ok(run("--version")).stdout.strip() == uz.__version__
    script = Path(sys.executable).parent / "unizarr"
    if script.exists():  # the installed console script is the same program
        proc = subprocess.run([str(script), "convert", "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "--compressor-opt" in proc.stdout


# -- convert ---------------------------------------------------------------------------------
@pytest.mark.parametrize("zarr_version", [2, 3], ids=lambda v: f"v{v}")
@pytest.mark.parametrize("driver", DRIVERS)
def test_convert_nifti(inputs: Path, tmp_path: Path, driver: str, zarr_version: int) -> None:
    out = tmp_path / "brain.ome.zarr"
    shard = ["--shard", "32"] if zarr_version == 3 else []
    proc = ok(run("convert", inputs / "brain.nii.gz", out, "--driver", driver,
                  "--zarr-version", zarr_version, "--chunk", "16", *shard))
    assert "NIfTI-Zarr header" in proc.stdout
    assert proc.stderr == ""  # stderr is not a terminal: no progress bar

    # voxel for voxel: zarr[k, j, i] == nifti[i, j, k]
    raw = np.asarray(nib.load(inputs / "brain.nii.gz").dataobj.get_unscaled())
    np.testing.assert_array_equal(level0(out), raw.transpose(2, 1, 0))
    np.testing.assert_array_equal(level0(out), volume())
    meta = zarr.open_array(str(out / "0"), mode="r").metadata
    if zarr_version == 3:
        assert meta.chunk_grid.chunk_shape == (32, 32, 32)  # the shard
    else:
        assert meta.chunks == (16, 16, 16)

    version, ms = multiscales(out)
    assert version == ("0.5" if zarr_version == 3 else "0.4")
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    assert {a["unit"] for a in ms["axes"]} == {"millimeter"}
    scale0 = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale0 == pytest.approx(ZOOMS[::-1])  # pixdim (x, y, z) -> (z, y, x)
    assert [d["path"] for d in ms["datasets"]] == ["0", "1", "2"]
    assert zarr.open_array(str(out / "1"), mode="r").shape == (20, 25, 30)

    header = uz.read_nifti_header(uz.open_group(out, "r"))
    assert header.get_data_shape() == (60, 50, 40)
    assert header.get_zooms() == pytest.approx(ZOOMS)
    ok(run("validate", out))


@pytest.mark.parametrize("source", ["vol.npy", "stack.tif", "slices", "slices/img_*.tif"])
def test_convert_npy_and_tiff(inputs: Path, tmp_path: Path, source: str) -> None:
    out = tmp_path / "out.zarr"
    ok(run("convert", inputs / source, out, "--chunk", "32", "--levels", "1",
           "--voxel-size", "2,1,1", "--unit", "um"))
    np.testing.assert_array_equal(level0(out), volume())
    _, ms = multiscales(out)
    assert len(ms["datasets"]) == 2  # --levels 1
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.0, 1.0, 1.0]
    assert ms["axes"][0]["unit"] == "micrometer"
    assert not (out / "nifti").exists()


def test_convert_zarr_changes_version_driver_and_layout(converted: Path, tmp_path: Path) -> None:
    out = tmp_path / "v2.zarr"
    ok(run("convert", converted, out, "--zarr-version", "2", "--driver", "tensorstore",
           "--chunk", "8,16,16", "--compressor", "zstd", "--levels", "0", "--quiet"))
    np.testing.assert_array_equal(level0(out), volume())
    arr = zarr.open_array(str(out / "0"), mode="r")
    assert arr.metadata.zarr_format == 2 and arr.metadata.chunks == (8, 16, 16)
    version, ms = multiscales(out)
    assert version == "0.4" and len(ms["datasets"]) == 1
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == pytest.approx(ZOOMS[::-1])
    assert (out / "nifti").exists()  # the NIfTI header travels with the image
    ok(run("validate", out))


def test_convert_4d_channels_and_quiet(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "cells.zarr"
    proc = ok(run("convert", inputs / "cells.npy", out, "--no-time", "--chunk", "8", "--quiet"))
    assert proc.stdout == "" and proc.stderr == ""
    _, ms = multiscales(out)
    assert [a["name"] for a in ms["axes"]] == ["c", "z", "y", "x"]
    assert zarr.open_array(str(out / "0"), mode="r").chunks == (3, 8, 8, 8)  # channels whole
    assert zarr.open_array(str(out / "1"), mode="r").shape == (3, 5, 10, 15)  # c kept
    np.testing.assert_array_equal(level0(out), volume((3, 10, 20, 30)))


def test_convert_overwrite(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.zarr"
    ok(run("convert", inputs / "vol.npy", out, "--levels", "0", "--quiet"))
    before = snapshot(out)
    user_error(run("convert", inputs / "stack.tif", out), "already exists; pass --overwrite")
    assert snapshot(out) == before  # refused: nothing touched
    ok(run("convert", inputs / "cells.npy", out, "--overwrite", "--quiet"))
    assert zarr.open_array(str(out / "0"), mode="r").shape == (3, 10, 20, 30)


def _run_on_terminal(*args: object) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; returns (rc, stdout, terminal text)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "unizarr.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    received = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        received.append(data)
    os.close(master)
    stdout = proc.stdout.read().decode()
    proc.wait(timeout=120)
    return proc.returncode, stdout, b"".join(received).decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bars_on_a_terminal_only(inputs: Path, tmp_path: Path) -> None:
    rc, stdout, terminal = _run_on_terminal("convert", inputs / "vol.npy", tmp_path / "a.zarr")
    assert rc == 0 and "converted" in stdout
    assert "level 0 + pyramid" in terminal and "blocks" in terminal
    rc, stdout, terminal = _run_on_terminal("convert", inputs / "vol.npy", tmp_path / "b.zarr", "--quiet")
    assert rc == 0 and stdout == "" and terminal.strip() == ""


# -- info / validate -------------------------------------------------------------------------
def test_info_tree_and_json(converted: Path) -> None:
    text = ok(run("info", converted)).stdout
    assert "Zarr v3 group" in text and "OME-NGFF 0.5" in text and "NIfTI-1 header" in text
    assert "40×50×60 int16  chunks 16×16×16  shards 32×32×32  blosc(lz4, clevel=5, shuffle)" in text
    assert "total:" in text

    desc = json.loads(ok(run("info", converted, "--json", "--driver", "tensorstore")).stdout)
    assert desc["zarr_version"] == 3 and desc["ome"]["version"] == "0.5"
    level = {m["name"]: m for m in desc["members"]}["0"]
    assert level["shape"] == list(SHAPE) and level["dtype"] == "int16"
    assert level["chunks"] == [16, 16, 16] and level["shards"] == [32, 32, 32]
    assert level["compressor"]["name"] == "blosc"
    assert level["nbytes"] == math.prod(SHAPE) * 2
    assert level["compression_ratio"] == pytest.approx(level["nbytes"] / level["nbytes_stored"], rel=1e-3)
    assert desc["nifti"]["dim"] == [60, 50, 40] and desc["nifti"]["units"]["space"] == "mm"
    assert [lv["scale"] for lv in desc["ome"]["levels"]][0] == pytest.approx(ZOOMS[::-1])


def test_info_of_an_array(converted: Path) -> None:
    assert "Zarr v3 array" in ok(run("info", converted / "0")).stdout


def test_validate_reports_problems(converted: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zarr"
    shutil.copytree(converted, bad)
    g = uz.open_group(bad, "r+")
    attrs = g.attrs.asdict()
    attrs["ome"]["multiscales"][0]["axes"][0]["unit"] = "parsec-ish"  # a SHOULD: warning
    attrs["ome"]["multiscales"][0]["datasets"][1]["path"] = "missing"  # a MUST: error
    g.attrs.put(attrs)
    header = uz.read_nifti_header(g)
    header.set_data_shape((60, 50, 41))
    uz.write_nifti_header(g, header)

    proc = run("validate", bad)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("! OME-NGFF") and "axes[0].unit" in ln and "parsec-ish" in ln
               for ln in lines), proc.stdout
    assert any(ln.startswith("✗ OME-NGFF") and "datasets[1].path" in ln and "missing" in ln
               for ln in lines), proc.stdout
    assert "do not match level 0" in proc.stdout
    assert proc.stdout.strip().endswith("invalid")
    report = json.loads(run("validate", bad, "--json").stdout)
    assert report["valid"] is False
    assert {f["check"] for f in report["findings"] if f["severity"] == "error"} == {"OME-NGFF", "NIfTI-Zarr"}

    plain = tmp_path / "plain.zarr"
    uz.open_group(plain, "w")["0"] = np.zeros((4, 4))
    proc = run("validate", plain)
    assert proc.returncode == 1 and "no multiscales metadata" in proc.stdout


# -- copy ------------------------------------------------------------------------------------
def test_copy_between_versions_and_layouts(converted: Path, tmp_path: Path) -> None:
    v2 = tmp_path / "v2.zarr"
    proc = ok(run("copy", converted, v2, "--zarr-version", "2"))
    assert "4 array(s)" in proc.stdout
    assert multiscales(v2)[0] == "0.4"  # 0.5 is not defined on Zarr v2
    assert zarr.open_array(str(v2 / "0"), mode="r").metadata.chunks == (16, 16, 16)  # shards dropped
    ok(run("validate", v2))

    v3 = tmp_path / "v3.zarr"
    ok(run("copy", v2, v3, "--driver", "tensorstore", "--zarr-version", "3", "--ome-version", "0.5",
           "--chunk", "8", "--shard", "16", "--compressor", "zstd"))
    arr = zarr.open_array(str(v3 / "0"), mode="r")
    assert arr.shards == (16, 16, 16) and arr.chunks == (8, 8, 8)
    assert zarr.open_array(str(v3 / "nifti"), mode="r").chunks == (348,)  # header kept as is
    ok(run("validate", v3))
    for level in ("0", "1", "2"):
        np.testing.assert_array_equal(level0(v3, level), level0(converted, level))

    user_error(run("copy", converted, v3), "already exists")
    user_error(run("copy", converted, tmp_path / "x.zarr", "--chunk", "10"), "not a whole number of chunks")
    assert not (tmp_path / "x.zarr").exists()  # planned and refused before writing


def test_copy_array_and_remote(converted: Path, tmp_path: Path, s3_bucket) -> None:
    bucket, options = s3_bucket
    url = f"s3://{bucket}/copy/brain.zarr"
    ok(run("copy", converted, url, "--dst-storage-options", json.dumps(options)))
    back = tmp_path / "back.zarr"
    ok(run("copy", url, back, "--src-storage-options", json.dumps(options), "--driver", "tensorstore"))
    np.testing.assert_array_equal(level0(back), volume())
    ok(run("validate", back))
    single = tmp_path / "single.zarr"
    ok(run("copy", converted / "1", single, "--zarr-version", "2", "--compressor", "zlib"))
    np.testing.assert_array_equal(np.asarray(zarr.open_array(str(single), mode="r")), level0(converted, "1"))


# -- preview ---------------------------------------------------------------------------------
def test_preview_png(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "iso.zarr"
    ok(run("convert", inputs / "vol.npy", out, "--chunk", "32", "--quiet"))
    z, y, x = SHAPE
    png = tmp_path / "p.png"
    ok(run("preview", out, "-o", png))
    with Image.open(png) as img:
        img.verify()
    with Image.open(png) as img:
        assert img.format == "PNG" and img.mode == "L"
        assert img.size == (x + x + y, max(y, z))  # axial | coronal | sagittal
        assert np.asarray(img).std() > 0  # contrast-stretched, not a flat image
    ok(run("preview", out, "--output", png, "--level", "1", "--zoom", "2", "--percentiles", "5,95"))
    with Image.open(png) as img:
        assert img.size == (2 * (30 + 30 + 25), 2 * max(25, 20))
    user_error(run("preview", out, "-o", png, "--level", "9"), "--level 9 does not exist")
    user_error(run("preview", out, "-o", png, "--percentiles", "90,10"), "--percentiles")


# -- demo ------------------------------------------------------------------------------------
def test_demo(tmp_path: Path) -> None:
    proc = ok(run("demo", cwd=tmp_path))
    out = proc.stdout
    assert "anatomical.nii" in out and "no network" in out
    assert "OME-NGFF 0.5" in out and "NIfTI-1 header" in out  # the info tree
    assert "unizarr-demo.ome.zarr: valid" in out
    # the drivers a fresh process has (other tests may register aliases in this one)
    for driver in ("zarr-python", "tensorstore", "zarrs"):
        assert f"✓ level 0 read with {driver} equals the NIfTI voxels" in out
    with Image.open(tmp_path / "unizarr-demo-preview.png") as img:
        assert img.size == (4 * (33 + 33 + 41), 4 * 41)
    ok(run("demo", "unizarr-demo.ome.zarr", "--preview", "p.png", "--zarr-version", "2", cwd=tmp_path))
    assert (tmp_path / "p.png").exists()  # a second run replaces the demo store
    (tmp_path / "precious").mkdir()
    user_error(run("demo", "precious", cwd=tmp_path), "is not a Zarr store")


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["convert", "{in}/missing.nii", "{out}"], "no such file or directory"),
        (["convert", "{in}/garbage.nii", "{out}"], "cannot read"),
        (["convert", "{in}/notes.xyz", "{out}"], "unsupported input format"),
        (["convert", "{in}/vol.npy", "{out}", "--zarr-version", "4"], "--zarr-version"),
        (["convert", "{in}/vol.npy", "{out}", "--chunk", "abc"], "--chunk takes positive ints"),
        (["convert", "{in}/vol.npy", "{out}", "--shard", "32", "--zarr-version", "2"], "--shard needs"),
        (["convert", "{in}/vol.npy", "{out}", "--compressor", "lzma"], "--compressor"),
        (["convert", "{in}/vol.npy", "{out}", "--compressor-opt", "{bad json"], "not valid JSON"),
        (["convert", "{in}/vol.npy", "{out}", "--compressor-opt", '{"clevel": 12}'], "clevel"),
        (["convert", "{in}/vol.npy", "{out}", "--max-memory", "lots"], "--max-memory"),
        (["convert", "{in}/vol.npy", "{out}", "--ome-version", "0.5", "--zarr-version", "2"], "0.5 needs"),
        (["convert", "{in}/vol.npy", "{out}", "--unit", "parsecs"], "--unit"),
        (["convert", "{in}/vol.npy", "{out}", "--voxel-size", "1,2"], "--voxel-size needs 1 or 3"),
        (["convert", "{in}/vol.npy", "{out}", "--method", "gaussian"], "--method"),
        (["convert", "{in}/vol.npy", "{in}"], "must not be"),
        (["convert", "{in}/vol.npy"], "requires an argument"),
        (["info", "{in}/nothing.zarr"], "no Zarr group or array"),
        (["validate", "{in}/nothing.zarr"], "no Zarr group or array"),
        (["preview", "{in}/nothing.zarr"], "no Zarr group or array"),
        (["frobnicate"], "unknown command"),
    ],
)
def test_user_errors_are_one_line(inputs: Path, tmp_path: Path, args: list[str], match: str) -> None:
    argv = [a.replace("{in}", str(inputs)).replace("{out}", str(tmp_path / "out.zarr")) for a in args]
    user_error(run(*argv), match)
    assert not (tmp_path / "out.zarr").exists()


def test_debug_shows_the_traceback(inputs: Path, tmp_path: Path) -> None:
    proc = run("convert", inputs / "missing.nii", tmp_path / "o.zarr", "--debug")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and proc.stderr.rstrip().splitlines()[-1].startswith("error: ")


def _patched_run(patch: str, *args: object) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter after ``patch`` (Python source) has run."""
    code = f"import sys, unizarr as uz, unizarr.cli as cli\n{patch}\nsys.exit(cli.main({[str(a) for a in args]!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_interrupt_leaves_no_complete_metadata(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "int.zarr"
    patch = (
        "def boom(*a, **k):\n    raise KeyboardInterrupt\n"
        "sys.modules['unizarr.convert'].generate_pyramid = boom"  # Ctrl-C as the one pass (level 0 + pyramid) starts
    )
    proc = _patched_run(patch, "convert", inputs / "vol.npy", out)
    assert proc.returncode == 130
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and "interrupted" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "0").exists()  # level 0 was created (its data comes in the same pass)
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    assert "ome" not in attrs and "multiscales" not in attrs  # but it claims nothing


def test_internal_errors_are_one_line_too(inputs: Path, tmp_path: Path) -> None:
    patch = "def boom(*a, **k):\n    raise RuntimeError('disk on fire')\nsys.modules['unizarr.convert'].generate_pyramid = boom"
    proc = _patched_run(patch, "convert", inputs / "vol.npy", tmp_path / "x.zarr")
    assert proc.returncode == 3
    assert proc.stderr.strip() == (
        "error: internal error (RuntimeError: disk on fire); rerun with --debug for the traceback"
    )


def test_ctrl_c_during_a_real_conversion(tmp_path: Path) -> None:
    """SIGINT while level 0 is being written: exit 130 at once, one line, no OME metadata."""
    big = tmp_path / "big.npy"
    np.save(big, np.random.default_rng(0).integers(0, 4000, (192, 192, 192), dtype="uint16"))
    out = tmp_path / "big.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "unizarr.cli", "convert", str(big), str(out), "--chunk", "16",
         "--compressor", "gzip", "--compressor-opt", '{"level": 9}'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not (out / "0" / "zarr.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    if proc.poll() is not None:
        pytest.skip("the conversion finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.splitlines() == [
        f"error: interrupted; {out} is incomplete (no OME multiscales metadata was written): "
        "run the same command with --resume to finish it"
    ]
    attrs = json.loads((out / "zarr.json").read_text()).get("attributes", {})
    assert "ome" not in attrs and "multiscales" not in attrs


def test_module_entry_point_runs_outside_the_repo(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH="")
    proc = subprocess.run([sys.executable, "-m", "unizarr.cli", "info", "--help"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "--json" in proc.stdout
