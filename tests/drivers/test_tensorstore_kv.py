"""Unit tests of the TensorStore key-value adapter (:class:`TensorStoreKV`).

Run on the two kvstores that need no server: ``file`` (listing/sizing through the file
system) and ``memory`` (listing/sizing through ``tensorstore.KvStore.list``), so both
code paths of every primitive are covered.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest

pytest.importorskip("tensorstore")

import unizarr as uz
from tests.helpers import snapshot
from unizarr.drivers.tensorstore import TensorStoreKV, ZarrTSGroup
from unizarr.paths import parse_url


def _kv(url: str, read_only: bool = False) -> TensorStoreKV:
    return ZarrTSGroup._make_kv(parse_url(url), {}, read_only)  # type: ignore[return-value]


@pytest.fixture(params=["file", "memory"])
def root_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return str(tmp_path / "root")
    return f"memory://kvtest-{uuid.uuid4().hex}/root"


@pytest.fixture
def kv(root_url: str) -> TensorStoreKV:
    return _kv(root_url)


def _populate(kv: TensorStoreKV) -> None:
    """A tree whose top level has string-prefix siblings of ``a``: the key ``ab`` and
    the directories ``abc``, ``a.b``, ``a-b``, ``a0``."""
    for key in ("zarr.json", "ab", "abc/x", "a.b/x", "a-b/x", "a0/x", "b/c/d/e", "b/f"):
        kv.set(key, key.encode())
    kv.set("a/zarr.json", b"{}")
    kv.set("a/c/0/0", b"00")
    kv.set("a/c/1/0", b"10")


def _all_keys(kv: TensorStoreKV) -> set[str]:
    return {k.decode() for k in kv.kvstore.list().result()}


def test_missing_key_is_none_and_creates_nothing(tmp_path: Path) -> None:
    kv = _kv(str(tmp_path / "nothing"))
    assert kv.get("zarr.json") is None
    assert kv.list_dir("") == [] and kv.size_prefix("") == 0
    assert not (tmp_path / "nothing").exists()


def test_set_get_round_trip(kv: TensorStoreKV) -> None:
    kv.set("x/y/z.json", b"hello")
    assert kv.get("x/y/z.json") == b"hello"
    kv.set("x/y/z.json", b"bye")
    assert kv.get("x/y/z.json") == b"bye"


def test_list_dir_names_direct_children(kv: TensorStoreKV) -> None:
    _populate(kv)
    assert sorted(kv.list_dir("")) == ["a", "a-b", "a.b", "a0", "ab", "abc", "b", "zarr.json"]
    assert sorted(kv.list_dir("a")) == ["c", "zarr.json"]
    assert sorted(kv.list_dir("a/c")) == ["0", "1"]
    assert sorted(kv.list_dir("b")) == ["c", "f"]
    assert kv.list_dir("b/c") == ["d"]
    assert kv.list_dir("nope") == []
    assert kv.list_dir("zarr.json") == []  # a key has no children


def test_list_dir_ignores_tensorstore_lock_files(tmp_path: Path) -> None:
    kv = _kv(str(tmp_path / "root"))
    kv.set("g/zarr.json", b"{}")
    (tmp_path / "root" / "g" / "x.__lock").write_bytes(b"")  # an interrupted write
    assert kv.list_dir("g") == ["zarr.json"]


def test_delete_prefix_spares_string_prefix_siblings(kv: TensorStoreKV) -> None:
    _populate(kv)
    before = _all_keys(kv)
    kv.delete_prefix("a")
    assert _all_keys(kv) == {k for k in before if not k.startswith("a/")}
    for sibling in ("ab", "abc/x", "a.b/x", "a-b/x", "a0/x"):
        assert kv.get(sibling) == sibling.encode()
    assert "a" not in kv.list_dir("")


def test_delete_prefix_of_a_single_key(kv: TensorStoreKV) -> None:
    _populate(kv)
    kv.delete_prefix("ab")
    assert kv.get("ab") is None
    assert kv.get("abc/x") == b"abc/x" and kv.get("a/zarr.json") == b"{}"
    kv.delete_prefix("zarr.json")
    assert kv.get("zarr.json") is None
    kv.delete_prefix("missing/thing")  # nothing to delete is not an error


def test_delete_prefix_of_a_key_that_is_also_a_directory() -> None:
    # Possible on object stores (and memory), not on a file system.
    kv = _kv(f"memory://kvtest-{uuid.uuid4().hex}")
    for key in ("ab", "ab/x", "abc"):
        kv.set(key, b"1")
    kv.delete_prefix("ab")
    assert _all_keys(kv) == {"abc"}


def test_delete_prefix_nested(kv: TensorStoreKV) -> None:
    _populate(kv)
    kv.delete_prefix("b/c")
    assert kv.get("b/f") == b"b/f" and kv.list_dir("b") == ["f"]


def test_delete_everything_stays_inside_the_root(tmp_path: Path) -> None:
    outside = {
        "root2/zarr.json": b"x",       # string-prefix sibling of the root directory
        "root.bak/zarr.json": b"y",
        "rootfile": b"z",
    }
    for rel, data in outside.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    kv = _kv(str(tmp_path / "root"))
    _populate(kv)
    kv.delete_prefix("")
    assert kv.list_dir("") == [] and _all_keys(kv) == set()
    assert not (tmp_path / "root").exists()  # no empty directory tree left behind
    for rel, data in outside.items():
        assert (tmp_path / rel).read_bytes() == data


def test_delete_everything_in_memory_stays_inside_the_root() -> None:
    tag = uuid.uuid4().hex
    kv, sibling = _kv(f"memory://{tag}/root"), _kv(f"memory://{tag}/root2")
    _populate(kv)
    sibling.set("zarr.json", b"keep")
    kv.delete_prefix("")
    assert _all_keys(kv) == set()
    assert sibling.get("zarr.json") == b"keep"


def test_delete_prefix_removes_empty_directories(tmp_path: Path) -> None:
    kv = _kv(str(tmp_path / "root"))
    _populate(kv)
    kv.delete_prefix("a")
    assert not (tmp_path / "root" / "a").exists()
    assert (tmp_path / "root" / "abc" / "x").exists() and (tmp_path / "root" / "ab").is_file()


def test_size_prefix(kv: TensorStoreKV) -> None:
    _populate(kv)
    assert kv.size_prefix("a") == len(b"{}") + 2 + 2
    assert kv.size_prefix("b") == len(b"b/c/d/e") + len(b"b/f")
    assert kv.size_prefix("zarr.json") == len(b"zarr.json")
    assert kv.size_prefix("missing") == 0
    total = sum(len(kv.get(k)) for k in _all_keys(kv))
    assert kv.size_prefix("") == total


def test_memory_urls_share_data_across_handles() -> None:
    url = f"memory://kvtest-{uuid.uuid4().hex}"
    _kv(url).set("k", b"v")
    assert _kv(url).get("k") == b"v"
    assert _kv(url + "/other").get("k") is None
    g = uz.open_group(url + "/g", "w", driver="tensorstore")
    g.create_array("a", (3,), "i4")[...] = 4
    assert uz.open_array(url + "/g/a", "r", driver="tensorstore")[...].tolist() == [4, 4, 4]


def test_read_only_kv_refuses_writes(tmp_path: Path) -> None:
    _kv(str(tmp_path / "root")).set("a/zarr.json", b"{}")
    ro = _kv(str(tmp_path / "root"), read_only=True)
    before = snapshot(tmp_path)
    with pytest.raises(uz.ReadOnlyError):
        ro.set("a/zarr.json", b"[]")
    with pytest.raises(uz.ReadOnlyError):
        ro.delete_prefix("a")
    with pytest.raises(uz.ReadOnlyError):
        ro.delete_prefix("")
    assert snapshot(tmp_path) == before
    assert ro.get("a/zarr.json") == b"{}"


def test_read_only_array_is_read_only_in_tensorstore_too(tmp_path: Path) -> None:
    url = str(tmp_path / "a.zarr")
    uz.open_array(url, "w", driver="tensorstore", shape=(4,), dtype="i4")[...] = 1
    a = uz.open_array(url, "r", driver="tensorstore")
    assert a.native.writable is False and a.native.readable is True
    before = snapshot(tmp_path)
    with pytest.raises(uz.ReadOnlyError):
        a[0] = 2
    with pytest.raises(ValueError):  # the engine itself refuses, below unizarr's check
        a._write((slice(0, 1, 1),), a.dtype.type(2).reshape(1))
    assert snapshot(tmp_path) == before


def test_writes_replace_the_file_atomically(tmp_path: Path) -> None:
    """A rewrite renames a new file onto the key (new inode); readers racing with
    writers only ever see a complete value; no temporary file is left behind."""
    kv = _kv(str(tmp_path / "root"))
    small, large = b"a" * 10_000, b"b" * 1_000_000
    kv.set("g/zarr.json", small)
    path = tmp_path / "root" / "g" / "zarr.json"
    inode = os.stat(path).st_ino
    kv.set("g/zarr.json", large)
    assert os.stat(path).st_ino != inode

    seen: set[int] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                value = kv.get("g/zarr.json")
                if value not in (small, large):
                    raise AssertionError(f"torn value of {len(value or b'')} bytes")
                seen.add(len(value))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(40):
        kv.set("g/zarr.json", small if i % 2 else large)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert os.listdir(tmp_path / "root" / "g") == ["zarr.json"]
