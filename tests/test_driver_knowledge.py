"""Engine knowledge lives in each driver: its error translation
(``_translate_engine_error``) and its temporary files (``TEMP_SUFFIXES``).

A driver that declares nothing (``MinimalArray`` below, on the node model's defaults)
still reports an undecodable chunk as :class:`~unizarr.CorruptDataError`; TensorStore
and zarr-python map their own connection failures to
:class:`~unizarr.StoreUnavailableError`; and cleaning up after a crash removes the
temporary files of every driver, whichever driver cleans up.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from unizarr.core import ZarrArray, ZarrGroup
from unizarr.drivers.zarr_python import ZarrPythonGroup
from unizarr.errors import translate_engine_error
from unizarr.registry import temp_suffixes
from unizarr.testing import ErrorTests
from unizarr.testing.errors import block_files

MINIMAL = "minimal-engine-knowledge"


class MinimalArray(ZarrArray):
    """The three array primitives, nothing else: zarr-python does the I/O, but no
    engine knowledge of the zarr-python driver is inherited (``ZarrArray`` is the
    base, so ``_translate_engine_error`` is the generic default)."""

    TEMP_SUFFIXES = (".minimal-tmp",)
    # Skip unizarr's own check of stored blocks before a read, so that the engine's
    # decoding failure is what reaches the hook.
    _engine_detects_damaged_blocks = True

    def _open_native(self) -> Any:
        kv: Any = self._ref.kv
        return zarr.open_array(
            store=kv.store_path(self._ref.path),
            mode="r" if kv.read_only else "r+",
            zarr_format=self._zarr_version,  # type: ignore[arg-type]
        )

    def _read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self._native[region])

    def _write(self, region: tuple[slice, ...], value: np.ndarray) -> None:
        self._native[region] = value


class MinimalGroup(ZarrGroup):
    """A group on zarr-python's key-value store (the generic hook too)."""

    @classmethod
    def _make_kv(cls, location: Any, storage_options: dict[str, Any], read_only: bool) -> Any:
        return ZarrPythonGroup._make_kv(location, storage_options, read_only)


@pytest.fixture(scope="module")
def minimal() -> str:
    uz.register_driver(MINIMAL, MinimalArray, MinimalGroup)  # a no-op when repeated
    return MINIMAL


# -- errors ----------------------------------------------------------------------------
def test_the_minimal_driver_keeps_the_generic_hook(minimal: str) -> None:
    array_cls, group_cls = uz.get_driver(minimal)
    assert array_cls._translate_engine_error is ZarrArray._translate_engine_error
    assert group_cls._translate_engine_error is ZarrGroup._translate_engine_error


class TestADriverWithoutTheHookReportsUndecodableData(ErrorTests):
    """The shipped damaged-data cases (:class:`unizarr.testing.ErrorTests`, the suite a
    third-party driver runs) on the driver that declares nothing: the node model's
    default translation alone makes undecodable chunks a ``CorruptDataError``."""

    driver = MINIMAL

    @pytest.fixture(autouse=True)
    def _registered(self, minimal: str) -> None:
        """Register the driver before each case (collection only knows its name)."""


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tensorstore_maps_its_connection_failure() -> None:
    # The status/message shapes TensorStore's Python API raises (a real unreachable
    # server, with retries bounded by storage options, is tests/test_remote_failures.py;
    # an unconfigured TensorStore retries for minutes).
    from unizarr.drivers.tensorstore import ZarrTSArray, ZarrTSGroup

    url = "http://127.0.0.1:9/a.zarr/"
    for exc in (
        ValueError("UNAVAILABLE: CURL error Couldn't connect to server: Failed to connect"),
        ValueError("DEADLINE_EXCEEDED: reading http://127.0.0.1:9/a.zarr/zarr.json"),
    ):
        for cls in (ZarrTSArray, ZarrTSGroup):
            mapped = cls._translate_engine_error(exc, url)
            assert isinstance(mapped, uz.StoreUnavailableError), exc
            assert url in str(mapped)
    # a failed status that is not about reaching the store stays a decoding failure
    bad = ValueError("DATA_LOSS: Error decoding chunk")
    assert isinstance(ZarrTSArray._translate_engine_error(bad, url), uz.CorruptDataError)


def test_zarr_python_maps_its_connection_failure() -> None:
    import fsspec

    from unizarr.drivers.zarr_python import ZarrPythonArray

    url = f"http://127.0.0.1:{_closed_port()}/a.zarr/zarr.json"
    with pytest.raises(Exception) as info:  # aiohttp's ClientConnectorError
        fsspec.filesystem("http").cat(url)
    for cls in (ZarrPythonArray, ZarrPythonGroup):
        mapped = cls._translate_engine_error(info.value, url)
        assert isinstance(mapped, uz.StoreUnavailableError), repr(info.value)
    undecodable = RuntimeError("error during blosc decompression: -1")
    assert isinstance(ZarrPythonArray._translate_engine_error(undecodable, url),
                      uz.CorruptDataError)


def test_the_generic_translation_names_no_engine() -> None:
    import zlib

    for exc in (RuntimeError("x"), ValueError("x"), EOFError("x"), zlib.error("x")):
        assert isinstance(translate_engine_error(exc, "a.zarr"), uz.CorruptDataError)
    for exc in (uz.MetadataError("x"), FileNotFoundError("x"), KeyError("x")):
        assert translate_engine_error(exc, "a.zarr") is exc


# -- temporary files -------------------------------------------------------------------
def test_every_driver_declares_its_temporary_files(minimal: str) -> None:
    assert {".partial", ".__lock", ".minimal-tmp"} <= set(temp_suffixes())
    from unizarr.drivers.tensorstore import ZarrTSArray
    from unizarr.drivers.zarr_python import ZarrPythonArray

    assert ZarrPythonArray.TEMP_SUFFIXES == (".partial",)
    assert ZarrTSArray.TEMP_SUFFIXES == (".__lock",)
    if "zarrs" in uz.drivers():  # the accel extra: zarr-python's store, its suffixes
        assert uz.get_driver("zarrs")[0].TEMP_SUFFIXES == (".partial",)


def test_a_clean_up_removes_the_leftovers_of_every_driver(
    minimal: str, driver: str, zarr_version: int, tmp_path: Path
) -> None:
    p = tmp_path / "a.zarr"
    data = np.arange(64, dtype="u1").reshape(8, 8)
    arr = uz.open_array(p, "w", driver=driver, zarr_version=zarr_version, shape=(8, 8),
                        dtype="u1", chunks=(4, 4), data=data)
    block_dir = block_files(p)[0].parent
    before = tree_hashes(p)
    leftovers = [
        block_dir / "0.1a2b.partial",       # zarr-python
        block_dir / "1.__lock",             # TensorStore
        p / "0.minimal-tmp",                # a driver registered at run time
    ]
    for f in leftovers:
        f.write_bytes(b"half a block")
    keep = block_dir / "notes.partial.txt"  # only the name's ending counts
    keep.write_bytes(b"not a leftover")
    assert arr.remove_partial_writes() == len(leftovers)
    assert not any(os.path.exists(f) for f in leftovers)
    keep.unlink()
    assert tree_hashes(p) == before
    np.testing.assert_array_equal(uz.open_array(p, "r", driver=driver)[...], data)
