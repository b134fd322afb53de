"""The TensorStore driver's own surface: the seed's constructors and classmethods,
wrapping TensorStores opened elsewhere, the shared context."""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path

import numpy as np
import pytest

ts = pytest.importorskip("tensorstore")

import unizarr as uz
from unizarr.drivers.tensorstore import ZarrTSArray, ZarrTSGroup, context


def test_classes_are_exported_and_registered() -> None:
    assert uz.ZarrTSArray is ZarrTSArray and uz.ZarrTSGroup is ZarrTSGroup
    assert "tensorstore" in uz.drivers()
    assert uz.get_driver("tensorstore") == (ZarrTSArray, ZarrTSGroup)
    assert uz.get_driver("ts") == (ZarrTSArray, ZarrTSGroup)


def test_one_context_per_process() -> None:
    from unizarr.drivers.tensorstore import CONTEXT_SPEC

    assert context() is context()
    limit = context().spec.to_json()["cache_pool"].get("total_bytes_limit", 0)  # 0: omitted
    assert limit == CONTEXT_SPEC["cache_pool"]["total_bytes_limit"]


def test_group_constructor_opens_or_creates(tmp_path: Path) -> None:
    url = str(tmp_path / "g.zarr")
    g = ZarrTSGroup(url)  # seed: ZarrTSGroup(store_path), mode "a"
    assert g.zarr_version == 3 and g.keys() == [] and g.mode == "a"
    g.create_array("a", (4,), "u1")
    again = ZarrTSGroup(url)
    assert again.keys() == ["a"]
    v2 = ZarrTSGroup(str(tmp_path / "g2.zarr"), zarr_version=2)
    assert v2.zarr_version == 2 and (tmp_path / "g2.zarr" / ".zgroup").is_file()


def test_seed_classmethods(tmp_path: Path) -> None:
    g = ZarrTSGroup.open(str(tmp_path / "g.zarr"), mode="w", zarr_version=2)
    assert isinstance(g, ZarrTSGroup) and g.zarr_version == 2
    a = ZarrTSArray.open(str(tmp_path / "a.zarr"), mode="w", zarr_version=3, shape=(3, 4), dtype="f4")
    assert isinstance(a, ZarrTSArray) and a.shape == (3, 4)
    assert isinstance(ZarrTSArray.open(str(tmp_path / "a.zarr"), mode="r"), ZarrTSArray)
    with pytest.raises(FileNotFoundError):
        ZarrTSArray.open(str(tmp_path / "missing.zarr"), mode="r")
    cfg = uz.ZarrConfig(zarr_version=2, chunk=(8,), overwrite=True)
    root = ZarrTSGroup.from_config(str(tmp_path / "cfg.zarr"), cfg)
    assert isinstance(root, ZarrTSGroup) and root.zarr_version == 2
    assert root.create_array("0", (20, 20), "u2", zarr_config=cfg).chunks == (8, 8)
    with pytest.raises(FileExistsError):
        ZarrTSGroup.from_config(str(tmp_path / "cfg.zarr"), uz.ZarrConfig(zarr_version=2))


def test_metadata_and_native(tmp_path: Path) -> None:
    g = ZarrTSGroup.open(str(tmp_path / "g.zarr"), mode="w")
    g.attrs["k"] = "v"
    assert g.metadata.zarr_format == 3 and g.metadata["attributes"] == {"k": "v"}
    a = g.create_array("a", (6, 5), "int16", chunks=(2,), shards=(4,))
    assert isinstance(a.native, ts.TensorStore)
    assert a.native.dtype == ts.int16 and tuple(a.native.shape) == (6, 5)
    assert tuple(a.native.chunk_layout.write_chunk.shape) == (4, 4)


@pytest.mark.parametrize("version", (2, 3))
def test_wrap_a_tensorstore_opened_elsewhere(tmp_path: Path, version: int) -> None:
    path = tmp_path / "x.zarr"
    spec = {"driver": "zarr3" if version == 3 else "zarr", "kvstore": f"file://{path}/"}
    t = ts.open(spec, create=True, dtype=ts.float32, shape=[6, 4]).result()
    t[...].write(np.arange(24, dtype="f4").reshape(6, 4)).result()
    a = ZarrTSArray(t)
    assert a.zarr_version == version and a.mode == "r+" and a.url == str(path)
    np.testing.assert_array_equal(a[::2, 1], [1, 9, 17])
    a[0, 0] = -1
    a.attrs["wrapped"] = True
    assert t[0, 0].read().result() == -1
    assert uz.open_array(str(path), "r", driver="tensorstore").attrs["wrapped"] is True
    clone = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(clone[...], a[...])
    ro = ZarrTSArray(ts.open(spec, read=True).result())
    assert ro.mode == "r"
    with pytest.raises(uz.ReadOnlyError):
        ro[0, 0] = 3


def test_wrap_keeps_the_wrapped_in_memory_store() -> None:
    """A memory TensorStore opened with its own context keeps addressing that data."""
    t = ts.open(
        {"driver": "zarr3", "kvstore": f"memory://{uuid.uuid4().hex}/arr/"},
        create=True, dtype=ts.uint8, shape=[5],
    ).result()
    t[...].write(np.arange(5, dtype="u1")).result()
    a = ZarrTSArray(t)
    assert a[...].tolist() == [0, 1, 2, 3, 4]
    a.attrs["x"] = 1
    assert a.attrs["x"] == 1


def test_wrap_refuses_other_drivers() -> None:
    t = ts.open({"driver": "n5", "kvstore": "memory://n5/"}, create=True, dtype=ts.uint8, shape=[3]).result()
    with pytest.raises(TypeError):
        ZarrTSArray(t)


def test_float16_bool_complex_round_trip_in_memory() -> None:
    g = uz.open_group(f"memory://{uuid.uuid4().hex}", "w", driver="tensorstore")
    for dtype, fill in (("float16", 0.5), ("bool", True), ("complex128", 1j), ("uint64", 2**64 - 1)):
        a = g.create_array(dtype, (5, 3), dtype, chunks=(2,), fill_value=fill)
        np.testing.assert_array_equal(a[...], np.full((5, 3), fill, dtype))
        a[1:3] = np.zeros((2, 3), dtype)
        assert a[...].dtype == np.dtype(dtype) and a[...].flags.c_contiguous
        assert a[1, 1] == 0 and a[4, 2] == np.asarray(fill, dtype)


@pytest.mark.parametrize("driver", ("zarr-python", "tensorstore"))
def test_path_below_a_file_is_the_same_os_error(driver: str, tmp_path: Path) -> None:
    (tmp_path / "afile").write_bytes(b"x")
    # refused before either engine touches the path (see output_guard.refuse_file_in_the_way)
    with pytest.raises(FileExistsError, match="afile"):
        uz.open_group(str(tmp_path / "afile" / "g.zarr"), "w", driver=driver)
    with pytest.raises(FileNotFoundError):
        uz.open_group(str(tmp_path / "afile" / "g.zarr"), "r", driver=driver)


class _Failed:
    def __init__(self, message: str) -> None:
        self.message = message

    def result(self) -> None:
        raise ValueError(self.message)


@pytest.mark.parametrize(
    "message,expected",
    [
        (
            "FAILED_PRECONDITION: Failed to open directory: \"/x\": Not a directory "
            "[os_error_code='20']",
            NotADirectoryError,
        ),
        ("PERMISSION_DENIED: Failed to open \"/x\" [os_error_code='13']", PermissionError),
        ("PERMISSION_DENIED: HTTP response code: 403", PermissionError),
        ("NOT_FOUND: bucket does not exist", FileNotFoundError),
        ("INVALID_ARGUMENT: bad spec", ValueError),
    ],
)
def test_tensorstore_failures_become_builtin_errors(message: str, expected: type) -> None:
    from unizarr.drivers.tensorstore import _wait

    with pytest.raises(expected) as info:
        _wait(_Failed(message))
    assert message in str(info.value)


@pytest.mark.parametrize("driver", ("zarr-python", "tensorstore"))
def test_tensorstore_reserved_lock_suffix_is_refused_on_both_drivers(driver: str, tmp_path: Path) -> None:
    g = uz.open_group(str(tmp_path / "g.zarr"), "w", driver=driver)
    for name in ("x.__lock", "a/b.__lock", "c.__lock/d"):
        with pytest.raises(ValueError, match="__lock"):
            g.create_group(name)
    assert g.keys() == []


def test_metadata_writes_are_durable_chunk_writes_are_not_fsynced(tmp_path: Path) -> None:
    """Metadata: fsync + rename (the KV adapter); chunks: rename only, as zarr-python."""
    a = uz.open_array(str(tmp_path / "a.zarr"), "w", driver="tensorstore", shape=(4,), dtype="u1")
    assert "'file_io_sync': True" in repr(a._ref.kv.kvstore)
    assert "'file_io_sync': False" in repr(a.native.kvstore)
