"""``uz.copy``: the library behind ``unizarr copy``, called from Python (no CLI)."""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from tests.helpers import ok


def _image(path: Path, driver: str, zarr_version: int) -> np.ndarray:
    data = np.random.default_rng(5).integers(0, 500, (20, 40, 48)).astype("uint16")
    root = uz.open_group(str(path), "w", driver=driver, zarr_version=zarr_version)
    arr = root.create_array("0", data.shape, data.dtype, chunks=(10, 20, 24))
    arr[...] = data
    root.generate_pyramid(levels=1)
    root.write_ome_metadata(["z", "y", "x"], space_scale=[2.0, 1.0, 1.0],
                            space_unit="micrometer")
    return data


def test_copy_with_a_new_layout(tmp_path: Path, driver: str, zarr_version: int) -> None:
    src, dst = tmp_path / "src.zarr", tmp_path / "dst.zarr"
    data = _image(src, driver, zarr_version)
    before = tree_hashes(src)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            seen.append((done, total))

    res = uz.copy(str(src), str(dst), driver=driver, chunk=(8,), compressor="zstd",
                  progress=progress)
    assert isinstance(res, uz.CopyResult)
    assert (res.arrays, res.groups, res.zarr_version) == (2, 1, zarr_version)
    assert res.nbytes == data.nbytes + data[::2, ::2, ::2].nbytes and res.nbytes_stored > 0
    out = uz.open_group(str(dst), "r", driver=driver)
    np.testing.assert_array_equal(out["0"][...], data)
    assert out["0"].chunks == (8, 8, 8)
    assert out.attrs.asdict() == uz.open_group(str(src), "r").attrs.asdict()
    assert max(seen) == (res.nbytes, res.nbytes)  # progress in bytes, up to the total
    assert tree_hashes(src) == before  # the source is only read


def test_copy_keeps_the_layout_unless_given(tmp_path: Path, driver: str, zarr_version: int) -> None:
    src, dst = tmp_path / "src.zarr", tmp_path / "dst.zarr"
    _image(src, driver, zarr_version)
    uz.copy(str(src), str(dst))
    a, b = uz.open_group(str(src), "r"), uz.open_group(str(dst), "r")
    for name in ("0", "1"):
        assert a[name].spec == b[name].spec


def test_copy_shard_none_unshards(tmp_path: Path, driver: str) -> None:
    src, mid, dst = (tmp_path / n for n in ("src.zarr", "mid.zarr", "dst.zarr"))
    data = _image(src, driver, 3)
    uz.copy(str(src), str(mid), driver=driver, chunk=(10, 20, 24), shard=(20, 40, 48))
    assert uz.open_array(str(mid / "0"), "r").shards == (20, 40, 48)
    uz.copy(str(mid), str(dst), driver=driver, shard=None)
    arr = uz.open_array(str(dst / "0"), "r")
    assert arr.shards is None and arr.chunks == (10, 20, 24)
    np.testing.assert_array_equal(arr[...], data)


def test_copy_refuses_before_writing(tmp_path: Path, driver: str, zarr_version: int) -> None:
    src, dst = tmp_path / "src.zarr", tmp_path / "dst.zarr"
    _image(src, driver, zarr_version)
    uz.copy(str(src), str(dst), driver=driver)
    before = tree_hashes(dst)
    with pytest.raises(FileExistsError, match="overwrite"):
        uz.copy(str(src), str(dst), driver=driver, chunk=(4,))
    with pytest.raises(ValueError, match="whole number of chunks"):
        uz.copy(str(src), str(dst), driver=driver, chunk=(7,), shard=(10, 20, 24),
                zarr_version=3, overwrite=True)
    with pytest.raises(TypeError, match="chunks_shape"):
        uz.copy(str(src), str(dst), chunks_shape=(4,), overwrite=True)
    assert tree_hashes(dst) == before
    res = uz.copy(str(src), str(dst), driver=driver, chunk=(4,), overwrite=True)
    assert uz.open_array(str(dst / "0"), "r").chunks == (4, 4, 4) and res.arrays == 2


def test_copy_to_v2_and_to_ozx(tmp_path: Path, driver: str) -> None:
    src = tmp_path / "src.zarr"
    data = _image(src, driver, 3)
    res = uz.copy(str(src), str(tmp_path / "v2.zarr"), driver=driver, zarr_version=2)
    assert res.zarr_version == 2
    assert uz.open_group(str(tmp_path / "v2.zarr"), "r").zarr_version == 2
    packed = uz.copy(str(src), str(tmp_path / "img.ozx"))
    assert packed.ozx == "packed" and packed.ozx_entries > 0
    np.testing.assert_array_equal(uz.open_group(str(tmp_path / "img.ozx"), "r")["0"][...], data)


def test_copy_refuses_shards_on_v2(tmp_path: Path, driver: str, zarr_version: int) -> None:
    """The one v2-shard rule (layout.refuse_v2_shards): refused before anything is
    written, the source untouched."""
    src, dst = tmp_path / "src.zarr", tmp_path / "dst.zarr"
    _image(src, driver, zarr_version)
    before = tree_hashes(src)
    with pytest.raises(ValueError, match=r"a shard shape needs Zarr v3 .*Zarr v2 has no sharding"):
        uz.copy(str(src), str(dst), driver=driver, zarr_version=2, shard=(20, 40, 48))
    assert not dst.exists()
    assert tree_hashes(src) == before


# -- --shard auto within --max-memory -------------------------------------------------------
def _zarr_volume(path: Path, n: int, driver: str, zarr_version: int) -> np.ndarray:
    """An n^3 uint16 image (ramps plus a little noise) in 64^3 chunks, no shards."""
    ramp = np.arange(n, dtype=np.uint16)
    data = (ramp[:, None, None] + ramp[None, :, None] // 2 + ramp[None, None, :] // 4)
    data = data + np.random.default_rng(0).integers(0, 8, data.shape, dtype=np.uint16)
    arr = uz.open_array(str(path), "w", shape=data.shape, dtype=data.dtype, chunks=(64,) * 3,
                        driver=driver, zarr_version=zarr_version)
    arr[...] = data
    return data


def test_copy_shard_auto_gives_way_to_max_memory(tmp_path: Path, driver: str,
                                                  zarr_version: int) -> None:
    """``unizarr copy --shard auto --max-memory 64M`` of a 320^3 uint16 array (62.5 MiB,
    64^3 chunks): the shard is chosen by convert's rule (at most a tenth of the budget:
    128^3, 4 MiB) and the copy's memory above the interpreter's stays within the budget
    (measured 51 MiB zarr-python, 31 MiB TensorStore). Before, ``auto`` ignored the
    budget: one 320^3 shard, 117-160 MiB above the interpreter."""
    from tests.test_convert_memory import MiB, run_measured

    src = tmp_path / "src.zarr"
    data = _zarr_volume(src, 320, driver, zarr_version)
    before = tree_hashes(src)
    tiny = tmp_path / "tiny.zarr"
    _zarr_volume(tiny, 64, driver, zarr_version)
    args = ("--driver", driver, "--zarr-version", 3, "--shard", "auto", "--max-memory", "64M",
            "--quiet")
    proc, base = run_measured("copy", tiny, tmp_path / "tiny-out.zarr", *args)
    ok(proc)
    out = tmp_path / "out.zarr"
    proc, peak = run_measured("copy", src, out, *args)
    ok(proc)
    assert proc.stderr == ""  # the chosen shard fits: no warning
    print(f"\n{driver} v{zarr_version}: peak anon {peak / MiB:.0f} MiB, "
          f"baseline {base / MiB:.0f} MiB")
    assert peak - base <= 64 * MiB, (peak / MiB, base / MiB)
    arr = uz.open_array(str(out), "r", driver=driver)
    assert (arr.zarr_version, arr.chunks, arr.shards) == (3, (64, 64, 64), (128, 128, 128))
    doc = json.loads((out / "zarr.json").read_text())  # as stored, for any reader
    assert doc["chunk_grid"]["configuration"]["chunk_shape"] == [128, 128, 128]
    (codec,) = [c for c in doc["codecs"] if c["name"] == "sharding_indexed"]
    assert codec["configuration"]["chunk_shape"] == [64, 64, 64]
    np.testing.assert_array_equal(arr[...], data)
    assert tree_hashes(src) == before


def test_copy_shard_auto_budget_per_array_and_warning(tmp_path: Path, driver: str) -> None:
    """``uz.copy(..., shard="auto", max_memory=...)``: each image array gets the shard of
    its own shape (a pyramid level smaller than the budget's shard is one shard); a
    chunk too big for the budget is the shard, with convert's one-line warning."""
    from unizarr.convert import MemoryBudgetWarning

    src = tmp_path / "src.zarr"
    data = _image(src, driver, 3)  # 20x40x48 + 10x20x24, chunks 10x20x24
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fitting shard warns about nothing
        # shards of at most 250_000 / 10 bytes: 20x20x24 (19200 B) for level 0, whose
        # shard without a budget is the whole 20x40x48 array
        uz.copy(str(src), str(tmp_path / "a.zarr"), driver=driver, chunk=(10, 10, 12),
                shard="auto", max_memory=250_000)
    out = uz.open_group(str(tmp_path / "a.zarr"), "r", driver=driver)
    assert out["0"].shards == (20, 20, 24)
    assert out["1"].shards == (10, 20, 24)  # the whole (chunk-rounded) 10x20x24 level
    np.testing.assert_array_equal(out["0"][...], data)
    dst = tmp_path / "b.zarr"
    with pytest.warns(MemoryBudgetWarning, match=r"one chunk \(10x20x24.*--max-memory"):
        uz.copy(str(src), str(dst), driver=driver, shard="auto", max_memory=20_000)
    arr = uz.open_array(str(dst / "0"), "r", driver=driver)
    assert arr.shards == (10, 20, 24)
    np.testing.assert_array_equal(arr[...], data)
