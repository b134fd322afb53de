"""``uz.copy``: the library behind ``unizarr copy``, called from Python (no CLI)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes


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
