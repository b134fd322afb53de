"""The key-value contract every driver's store adapter keeps (:class:`unizarr.kvstore.KVStore`).

Groups, attributes, listing and deletion are implemented once above the drivers on
these primitives, so a driver whose adapter passes here gets them right. Run on a local
directory, where the file system is the independent oracle (as zarr-python's
``StoreTests`` reads and writes behind the store's back), and on ``memory://``.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest

import unizarr as uz
from unizarr.kvstore import KVStore
from unizarr.paths import parse_url

from .base import DriverSuite, snapshot

#: A tree whose top level has string-prefix siblings of ``a``: the key ``ab`` and the
#: directories ``abc``, ``a.b``, ``a-b``, ``a0`` (a deletion of ``a`` must spare them).
TREE = {
    "zarr.json": b"zarr.json", "ab": b"ab", "abc/x": b"abc/x", "a.b/x": b"a.b/x",
    "a-b/x": b"a-b/x", "a0/x": b"a0/x", "b/c/d/e": b"b/c/d/e", "b/f": b"b/f",
    "a/zarr.json": b"{}", "a/c/0/0": b"00", "a/c/1/0": b"10",
}


def all_keys(kv: KVStore, prefix: str = "") -> dict[str, bytes]:
    """Every key below ``prefix`` with its value, found through ``list_dir`` and ``get``
    only (the contract's own view of the store)."""
    out: dict[str, bytes] = {}
    for name in kv.list_dir(prefix):
        key = f"{prefix}/{name}" if prefix else name
        value = kv.get(key)
        if value is not None:
            out[key] = value
        out.update(all_keys(kv, key))
    return out


def files_under(root: Path) -> dict[str, bytes]:
    """The file system's view: every file below ``root`` with its bytes."""
    return {k.replace(os.sep, "/"): v for k, v in snapshot(root).items()}


class KVStoreTests(DriverSuite):
    """The driver's ``_make_kv`` adapter: get/set/delete/list/size with exact prefixes."""

    def make_kv(self, url: str, read_only: bool = False) -> KVStore:
        """The driver's key-value adapter for ``url`` (override for a driver whose group
        class builds it differently)."""
        _, group_cls = uz.get_driver(self.driver)
        return group_cls._make_kv(parse_url(url), {}, read_only)

    @pytest.fixture(params=["file", "memory"])
    def kv_url(self, request: pytest.FixtureRequest, driver: str, tmp_path: Path) -> str:
        if request.param == "file":
            return str(tmp_path / "root")
        return f"memory://kvtest-{uuid.uuid4().hex}/root"

    @pytest.fixture
    def kv(self, kv_url: str) -> KVStore:
        return self.make_kv(kv_url)

    @staticmethod
    def populate(kv: KVStore) -> None:
        for key, value in TREE.items():
            kv.set(key, value)

    # -- get / set ------------------------------------------------------------------------
    def test_missing_key_is_none_and_creates_nothing(self, driver: str, tmp_path: Path) -> None:
        kv = self.make_kv(str(tmp_path / "nothing"))
        assert kv.get("zarr.json") is None
        assert kv.get("a/b/c") is None
        assert kv.list_dir("") == [] and kv.size_prefix("") == 0
        assert not (tmp_path / "nothing").exists()

    @pytest.mark.parametrize(
        "key", ["zarr.json", "x/y/z.json", "a/c/0/0", "é/ü.json", "with space/k", "a.b/.zattrs"]
    )
    def test_set_get_round_trip(self, kv: KVStore, key: str) -> None:
        kv.set(key, b"hello")
        assert kv.get(key) == b"hello" and type(kv.get(key)) is bytes
        kv.set(key, b"bye")
        assert kv.get(key) == b"bye"
        kv.set(key, b"")
        assert kv.get(key) == b""

    def test_large_and_binary_values(self, kv: KVStore) -> None:
        value = bytes(range(256)) * (3 * 2**20 // 256)  # 3 MiB, every byte value
        kv.set("big", value)
        assert kv.get("big") == value

    def test_set_writes_the_file_and_get_reads_it(self, driver: str, tmp_path: Path) -> None:
        root = tmp_path / "root"
        kv = self.make_kv(str(root))
        kv.set("a/b/zarr.json", b'{"x": 1}')
        assert (root / "a" / "b" / "zarr.json").read_bytes() == b'{"x": 1}'
        (root / "other").mkdir()
        (root / "other" / "k").write_bytes(b"written behind its back")
        assert kv.get("other/k") == b"written behind its back"
        assert files_under(root) == {"a/b/zarr.json": b'{"x": 1}', "other/k": b"written behind its back"}

    # -- listing ---------------------------------------------------------------------------
    def test_list_dir_names_direct_children(self, kv: KVStore) -> None:
        self.populate(kv)
        assert sorted(kv.list_dir("")) == ["a", "a-b", "a.b", "a0", "ab", "abc", "b", "zarr.json"]
        assert sorted(kv.list_dir("a")) == ["c", "zarr.json"]
        assert sorted(kv.list_dir("a/c")) == ["0", "1"]
        assert sorted(kv.list_dir("b")) == ["c", "f"]
        assert kv.list_dir("b/c") == ["d"]
        assert kv.list_dir("nope") == []
        assert kv.list_dir("zarr.json") == []  # a key has no children
        assert all_keys(kv) == TREE

    # -- deletion --------------------------------------------------------------------------
    def test_delete_prefix_spares_string_prefix_siblings(self, kv: KVStore) -> None:
        self.populate(kv)
        kv.delete_prefix("a")
        assert all_keys(kv) == {k: v for k, v in TREE.items() if not k.startswith("a/")}
        assert "a" not in kv.list_dir("")

    def test_delete_prefix_of_a_single_key(self, kv: KVStore) -> None:
        self.populate(kv)
        kv.delete_prefix("ab")
        assert kv.get("ab") is None
        assert kv.get("abc/x") == b"abc/x" and kv.get("a/zarr.json") == b"{}"
        kv.delete_prefix("zarr.json")
        assert kv.get("zarr.json") is None
        before = all_keys(kv)
        kv.delete_prefix("missing/thing")  # nothing to delete is not an error
        assert all_keys(kv) == before

    def test_delete_prefix_nested(self, kv: KVStore) -> None:
        self.populate(kv)
        kv.delete_prefix("b/c")
        assert kv.get("b/f") == b"b/f" and kv.list_dir("b") == ["f"]

    def test_delete_everything_stays_inside_the_root(self, driver: str, tmp_path: Path) -> None:
        outside = {
            "root2/zarr.json": b"x",  # string-prefix sibling of the root directory
            "root.bak/zarr.json": b"y",
            "rootfile": b"z",
        }
        for rel, data in outside.items():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_bytes(data)
        kv = self.make_kv(str(tmp_path / "root"))
        self.populate(kv)
        kv.delete_prefix("")
        assert kv.list_dir("") == [] and all_keys(kv) == {}
        assert not (tmp_path / "root").exists()  # no empty directory tree left behind
        for rel, data in outside.items():
            assert (tmp_path / rel).read_bytes() == data

    def test_delete_everything_in_memory_stays_inside_the_root(self, driver: str) -> None:
        tag = uuid.uuid4().hex
        kv, sibling = self.make_kv(f"memory://{tag}/root"), self.make_kv(f"memory://{tag}/root2")
        self.populate(kv)
        sibling.set("zarr.json", b"keep")
        kv.delete_prefix("")
        assert all_keys(kv) == {}
        assert sibling.get("zarr.json") == b"keep"

    def test_delete_prefix_removes_empty_directories(self, driver: str, tmp_path: Path) -> None:
        root = tmp_path / "root"
        kv = self.make_kv(str(root))
        self.populate(kv)
        kv.delete_prefix("a")
        assert not (root / "a").exists()
        assert (root / "abc" / "x").exists() and (root / "ab").is_file()
        assert files_under(root) == {k: v for k, v in TREE.items() if not k.startswith("a/")}

    # -- sizes -----------------------------------------------------------------------------
    def test_size_prefix(self, kv: KVStore) -> None:
        self.populate(kv)
        assert kv.size_prefix("a") == len(b"{}") + 2 + 2
        assert kv.size_prefix("b") == len(b"b/c/d/e") + len(b"b/f")
        assert kv.size_prefix("missing") == 0
        assert kv.size_prefix("") == sum(len(v) for v in TREE.values())

    # -- read-only and memory sharing -----------------------------------------------------
    def test_read_only_kv_refuses_writes(self, driver: str, tmp_path: Path) -> None:
        self.make_kv(str(tmp_path / "root")).set("a/zarr.json", b"{}")
        ro = self.make_kv(str(tmp_path / "root"), read_only=True)
        before = snapshot(tmp_path)
        for attempt in (
            lambda: ro.set("a/zarr.json", b"[]"),
            lambda: ro.set("new", b"x"),
            lambda: ro.delete_prefix("a"),
            lambda: ro.delete_prefix(""),
        ):
            with pytest.raises(uz.ReadOnlyError):
                attempt()
        assert snapshot(tmp_path) == before
        assert ro.get("a/zarr.json") == b"{}"

    def test_memory_urls_share_data_across_handles(self, driver: str) -> None:
        url = f"memory://kvtest-{uuid.uuid4().hex}"
        self.make_kv(url).set("k", b"v")
        assert self.make_kv(url).get("k") == b"v"
        assert self.make_kv(url + "/other").get("k") is None

    # -- atomicity -------------------------------------------------------------------------
    def test_writes_replace_the_value_atomically(self, driver: str, tmp_path: Path) -> None:
        """Readers racing with writers only ever see a complete value; no temporary
        file is left behind."""
        root = tmp_path / "root"
        kv = self.make_kv(str(root))
        small, large = b"a" * 10_000, b"b" * 1_000_000
        kv.set("g/zarr.json", small)
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
            except BaseException as exc:  # reported below, in the test's thread
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
        assert seen  # the readers did read
        assert os.listdir(root / "g") == ["zarr.json"]
        assert kv.get("g/zarr.json") == small

    def test_concurrent_writers_of_distinct_keys(self, kv: KVStore) -> None:
        def write(i: int) -> None:
            for j in range(10):
                kv.set(f"t{i}/k{j}", f"{i}-{j}".encode())

        threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all_keys(kv) == {f"t{i}/k{j}": f"{i}-{j}".encode() for i in range(6) for j in range(10)}
