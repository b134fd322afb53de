"""unizarr.blocks: the write-block grid and block-by-block copies, on real arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.helpers import snapshot
from unizarr import blocks


def test_grid_maths() -> None:
    assert blocks.grid_shape((10, 7), (4, 7)) == (3, 1)
    assert blocks.grid_shape((0, 5), (4, 2)) == (0, 3)
    region = (slice(4, 12), slice(0, 7))
    assert list(blocks.blocks_of(region, (4, 7))) == [(1, 0), (2, 0)]
    assert blocks.block_ranges((slice(3, 9),), (4,)) == [range(0, 3)]
    # the edge block is clipped at the array's end
    assert blocks.block_region((2, 0), (4, 7), (10, 7)) == (slice(8, 10), slice(0, 7))
    assert blocks.within(region, (4, 7), {(0, 0), (2, 0), (5, 5)}) == {(2, 0)}


def test_block_keys() -> None:
    assert blocks.block_key((0, 1), "c", "/") == "c/0/1"
    assert blocks.block_key((0, 1), "", ".") == "0.1"
    assert blocks.block_key((), "c", "/") == "c"
    assert blocks.block_key((), "", ".") == "0"
    assert blocks.key_encoding({}, "/") == ("c", "/")
    v2_style = {"chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}}}
    assert blocks.key_encoding(v2_style, "/") == ("", ".")


def _array(tmp_path: Path, driver: str, zarr_version: int, name: str = "a.zarr") -> uz.ZarrArray:
    shards = {"shards": (4, 6)} if zarr_version == 3 else {}
    return uz.open_array(tmp_path / name, "w", driver=driver, zarr_version=zarr_version,
                         shape=(10, 12), dtype="u2", chunks=(2, 3), **shards)


def test_stored_blocks_follow_the_writes(tmp_path: Path, driver: str, zarr_version: int) -> None:
    a = _array(tmp_path, driver, zarr_version)
    assert a.stored_blocks() == set()
    a[0:1, 0:1] = 5  # one element: its whole write block is stored
    a[9, 11] = 7  # the last (edge) block
    wb = a.write_block
    last = tuple(n // b if n % b else n // b - 1 for n, b in zip(a.shape, wb))
    assert a.stored_blocks() == {(0, 0), last}
    # every stored block is where block_key says
    for index in a.stored_blocks():
        assert a.block_bytes(index) is not None


def test_copy_missing_copies_only_the_missing_blocks(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    """A resumed copy leaves the finished blocks' files untouched and fills the rest."""
    data = np.arange(120, dtype="u2").reshape(10, 12)
    dst = _array(tmp_path, driver, zarr_version)
    first = blocks.block_region((0, 0), dst.write_block, dst.shape)
    dst[first] = 9  # differs from the source: a rewrite of this block would show
    done = dst.stored_blocks()
    assert done == {(0, 0)}
    key = dst.block_key((0, 0))
    before = snapshot(tmp_path / "a.zarr")[key]
    blocks.copy_missing(data, dst, done, workers=2)
    assert snapshot(tmp_path / "a.zarr")[key] == before
    expected = data.copy()
    expected[first] = 9
    np.testing.assert_array_equal(dst[...], expected)
    assert dst.stored_blocks() == set(np.ndindex(*blocks.grid_shape(dst.shape, dst.write_block)))


def test_write_missing_skips_done_blocks(tmp_path: Path, driver: str, zarr_version: int) -> None:
    dst = _array(tmp_path, driver, zarr_version)
    data = np.full(dst.shape, 3, dtype="u2")
    wb = dst.write_block
    region = tuple(slice(0, 2 * b) for b in wb)  # 2x2 blocks, block-aligned
    blocks.write_missing(dst, region, data[region], {(0, 0)})
    assert dst.stored_blocks() == {(0, 1), (1, 0), (1, 1)}
    expected = np.zeros(dst.shape, dtype="u2")
    expected[region] = 3
    expected[blocks.block_region((0, 0), wb, dst.shape)] = 0
    np.testing.assert_array_equal(dst[...], expected)


def test_copy_data_copies_everything(tmp_path: Path, driver: str, zarr_version: int) -> None:
    src = _array(tmp_path, driver, zarr_version, "src.zarr")
    src[...] = np.arange(120, dtype="u2").reshape(10, 12)
    dst = _array(tmp_path, driver, zarr_version, "dst.zarr")
    blocks.copy_data(src, dst)
    np.testing.assert_array_equal(dst[...], src[...])


def test_copy_data_reports_progress_per_write_block(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    """copy_data is copy_blocks on the destination's write blocks: progress in bytes,
    one call per block, adding up to the array."""
    src = np.arange(120, dtype="u2").reshape(10, 12)
    dst = _array(tmp_path, driver, zarr_version, "dst.zarr")
    seen: list[int] = []
    blocks.copy_data(src, dst, workers=2, progress=seen.append)
    np.testing.assert_array_equal(dst[...], src)
    assert sum(seen) == src.nbytes
    assert len(seen) == len(list(blocks.regions(dst.shape, dst.write_block)))


def test_copy_blocks_stops_at_the_first_error(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    """A read that fails: the error reaches the caller, no region starts after it, and
    the blocks written before it are whole blocks of the source."""
    src = np.arange(120, dtype="u2").reshape(10, 12)
    dst = _array(tmp_path, driver, zarr_version, "dst.zarr")
    wb = dst.write_block
    calls: list[tuple[slice, ...]] = []

    def read(region: tuple[slice, ...]) -> np.ndarray:
        calls.append(region)
        if len(calls) == 2:
            raise OSError("disk gone")
        return src[region]

    with pytest.raises(OSError, match="disk gone"):
        blocks.copy_blocks(read, dst, wb, workers=1)
    assert len(calls) == 2  # nothing read after the failing region
    assert dst.stored_blocks() == {(0, 0)}
    np.testing.assert_array_equal(dst[blocks.block_region((0, 0), wb, dst.shape)],
                                  src[blocks.block_region((0, 0), wb, dst.shape)])


@pytest.mark.parametrize("version", [2, 3])
def test_refuse_v2_shards(version: int) -> None:
    if version == 2:
        with pytest.raises(ValueError, match=r"--shard needs --zarr-version 3 \(Zarr v2 has no sharding\)"):
            uz.layout.refuse_v2_shards(version, (4,), "--shard", "--zarr-version 3")
    else:
        uz.layout.refuse_v2_shards(version, (4,), "--shard", "--zarr-version 3")
    uz.layout.refuse_v2_shards(version, None, "--shard", "--zarr-version 3")
    assert uz.layout.shards_on(version, (4,)) == ((4,) if version == 3 else None)
