"""What ``convert``/``copy`` may replace, how a local replacement is swapped in, and
the write lock of an output store.

Rules (``docs/safety.md``, "Convert, overwrite and resume"):

* ``--overwrite`` replaces only a store unizarr recognises as Zarr (``zarr.json``,
  ``.zgroup`` or ``.zarray`` at its root) holding nothing but Zarr objects: never a
  bucket root, never a prefix or folder with foreign (non-Zarr) objects, never the
  input, a store containing the input or a store inside it (compared by device and
  inode locally, by bucket/prefix remotely).
* A local replacement is built in a hidden sibling directory and swapped in at the
  end (one atomic ``renameat2(RENAME_EXCHANGE)`` where the kernel offers it), so a
  failed or interrupted run leaves the previous output as it was.
* One writer per output: ``.unizarr-lock`` (pid, host, time), created exclusively in
  the store root while ``convert`` writes; a lock whose process is gone (same host)
  is stale and taken over.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import glob
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import metadata as md
from .errors import MetadataError
from .kvstore import KVStore
from .paths import Location, join_key, parse_url

#: Files that make a directory (or prefix) a Zarr node.
NODE_FILES = frozenset({"zarr.json", ".zgroup", ".zarray"})
#: Other files of a Zarr node.
META_FILES = NODE_FILES | {".zattrs", ".zmetadata"}
#: Prefix of unizarr's own hidden documents (run records, the lock).
OWN_PREFIX = ".unizarr-"
LOCK_NAME = ".unizarr-lock"


# -- listing ------------------------------------------------------------------------------
def _local_keys(root: str) -> list[str]:
    """Every file (and symlink) below ``root``, relative, ``/``-separated; never follows
    symlinks."""
    keys = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = os.path.relpath(dirpath, root)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            keys.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return keys


def _remote_fs(loc: Location, options: dict[str, Any] | None) -> tuple[Any, str]:
    import fsspec

    from .storage import fsspec_target

    url, kw = fsspec_target(loc, options)
    protocol, _, path = url.partition("://")
    return fsspec.filesystem(protocol, **kw), path.rstrip("/")


def list_store(url: str, options: dict[str, Any] | None = None) -> list[str]:
    """Keys (relative paths) of every object stored at or below ``url``."""
    loc = parse_url(url)
    if loc.is_local:
        if os.path.isdir(loc.path) and not os.path.islink(loc.path):
            return _local_keys(loc.path)
        return [""] if os.path.lexists(loc.path) else []
    fs, root = _remote_fs(loc, options)
    try:
        found = fs.find(root, withdirs=False)
    except FileNotFoundError:
        return []
    # only keys below "root/": a sibling "root.bak/..." shares the string prefix
    return [f[len(root) + 1:] for f in found if f.startswith(root + "/")]


def _reader(url: str, options: dict[str, Any] | None) -> Callable[[str], bytes | None]:
    loc = parse_url(url)
    if loc.is_local:
        def read(key: str) -> bytes | None:
            try:
                with open(os.path.join(loc.path, key), "rb") as f:
                    return f.read()
            except OSError:
                return None
        return read
    fs, root = _remote_fs(loc, options)

    def read_remote(key: str) -> bytes | None:
        try:
            return fs.cat_file(f"{root}/{key}")
        except (OSError, FileNotFoundError):
            return None
    return read_remote


def foreign_keys(keys: Iterable[str], read: Callable[[str], bytes | None]) -> list[str]:
    """The keys that are not part of a Zarr hierarchy: anything but metadata and
    unizarr's hidden documents in a node's directory, and anything outside the
    directories of arrays (whose chunks, shards and engine temporaries are theirs).

    ``read(key)`` returns a stored document (used to tell v3 arrays from groups).
    """
    keys = sorted(keys)
    by_dir: dict[str, list[str]] = {}
    for k in keys:
        d, _, name = k.rpartition("/")
        by_dir.setdefault(d, []).append(name)
    arrays: set[str] = set()
    for d, names in by_dir.items():
        if ".zarray" in names:
            arrays.add(d)
        elif "zarr.json" in names:
            raw = read(f"{d}/zarr.json" if d else "zarr.json")
            try:
                doc = json.loads(raw) if raw is not None else None
            except ValueError:
                doc = None
            if isinstance(doc, dict) and doc.get("node_type") == "array":
                arrays.add(d)
    foreign = []
    for k in keys:
        d, _, name = k.rpartition("/")
        node_dir = any(n in NODE_FILES for n in by_dir.get(d, ()))
        if node_dir and (name in META_FILES or name.startswith(OWN_PREFIX)):
            continue
        parts = k.split("/")[:-1]
        if any("/".join(parts[:i]) in arrays for i in range(len(parts) + 1)):
            continue  # a chunk/shard (or an engine's temporary) of an array
        foreign.append(k)
    return foreign


# -- identity -------------------------------------------------------------------------------
def _ids_up(path: str) -> list[tuple[int, int]]:
    """(device, inode) of ``path`` (when it exists) and of every existing ancestor."""
    ids = []
    p = os.path.realpath(path)
    while True:
        try:
            st = os.stat(p)
            ids.append((st.st_dev, st.st_ino))
        except OSError:
            pass
        parent = os.path.dirname(p)
        if parent == p:
            return ids
        p = parent


def _input_paths(inp: str) -> list[str]:
    if os.path.lexists(inp) or not glob.has_magic(inp):
        return [inp]
    return glob.glob(inp) or [inp]


def _same_or_nested_remote(a: Location, b: Location) -> bool:
    if a.scheme != b.scheme:
        return False
    pa, pb = a.path.strip("/") + "/", b.path.strip("/") + "/"
    return pa.startswith(pb) or pb.startswith(pa)


def check_not_input(output: str, inputs: Sequence[str]) -> None:
    """Refuse an output that is an input, contains one or lies inside one.

    Local paths are compared by device and inode (so symlinks, bind mounts and
    ``a/../b`` spellings do not hide the overlap); URLs by bucket and prefix.

    Raises
    ------
    ValueError
        The output and an input overlap.
    """
    out = parse_url(output)
    for inp in inputs:
        src = parse_url(inp)
        if out.is_local != src.is_local:
            continue
        if not out.is_local:
            clash = _same_or_nested_remote(out, src)
        else:
            out_up = _ids_up(out.path)
            out_id = out_up[0] if os.path.exists(out.path) else None
            clash = False
            for path in _input_paths(src.path):
                up = _ids_up(path)
                if not up:
                    continue
                in_id = up[0] if os.path.exists(path) else None
                if (in_id is not None and in_id in out_up) or (out_id is not None and out_id in up):
                    clash = True
        if clash:
            raise ValueError(
                f"the output {output} must not be, contain or lie inside the input {inp}; "
                "choose another output"
            )


def is_bucket_root(loc: Location) -> bool:
    """``s3://bucket`` or ``gs://bucket``: a whole bucket, never replaced."""
    return loc.scheme in ("s3", "gs") and "/" not in loc.path.strip("/")


def _node_keys(kv: KVStore, prefix: str, found: list[str], foreign: list[int]) -> None:
    """Append to ``found`` the keys at and below ``prefix`` that :func:`foreign_keys`
    needs to judge them: an array's directory is not listed (its chunks, shards and
    engine temporaries are its own; only its metadata key is reported), every other
    directory is. Stops once :data:`_SHOWN` + 1 objects are certainly foreign (a
    bucket with millions of objects is refused without listing all of them)."""
    try:
        info = md.detect_node(kv, prefix)
    except MetadataError:
        info = None  # an unreadable document: the directory counts as foreign
    if info is not None and info.kind == "array":
        found.append(join_key(prefix, "zarr.json" if info.zarr_version == 3 else ".zarray"))
        return
    for name in sorted(kv.list_dir(prefix)):
        if foreign[0] > _SHOWN:
            return
        key = join_key(prefix, name)
        own = info is not None and (name in META_FILES or name.startswith(OWN_PREFIX))
        if kv.local_root is not None:
            # a symlink is an object of its own, never followed (as ``_local_keys``):
            # replacing would remove the link the user made
            path = os.path.join(kv.local_root, *key.split("/"))
            is_dir = os.path.isdir(path) and not os.path.islink(path)
        else:  # fsspec lists a key as itself; object stores have no empty "directories"
            is_dir = not own and kv.list_dir(key) not in ([], [name])
        if is_dir:
            _node_keys(kv, key, found, foreign)  # (an empty local directory holds nothing)
            continue
        found.append(key)
        if not own and not (prefix == "" and name.startswith(OWN_PREFIX)):
            foreign[0] += 1


_SHOWN = 3


def check_not_a_file(loc: Location) -> None:
    """Refuse mode ``"w"`` on a local path that exists and is not a directory (checked
    before any engine touches the path: zarr-python would try to create it).

    Raises
    ------
    FileExistsError
        ``loc`` is a file (or another non-directory).
    """
    if loc.is_local and os.path.lexists(loc.path) and not os.path.isdir(loc.path):
        raise FileExistsError(
            f"{loc.url} exists and is not a directory; mode 'w' replaces only Zarr stores: "
            "remove it yourself or choose another path"
        )


def refuse_file_in_the_way(loc: Location, mode: str) -> None:
    """Refuse a local path that is, or lies below, an existing file before anything
    touches it: each engine fails its own way there (zarr-python ``EEXIST`` while
    creating its directory, TensorStore ``ENOTDIR``), and ``w`` would replace it (see
    :func:`check_not_a_file`). Mode ``r``/``r+`` finds no node there
    (``FileNotFoundError``); the others cannot create one (``FileExistsError``).

    Raises
    ------
    FileNotFoundError, FileExistsError
        One line naming the path, the file, and the fix.
    """
    if not loc.is_local:
        return
    if mode == "w":
        check_not_a_file(loc)
    path = loc.path
    while not os.path.lexists(path):  # the nearest existing ancestor
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent
    if os.path.isdir(path):
        return
    subject = "it" if path == loc.path else path
    if mode in ("r", "r+"):
        raise FileNotFoundError(
            f"no Zarr node at {loc.url}: {subject} is a file, not a Zarr store; "
            "pass the path of a Zarr store directory (or of a .ozx archive)"
        )
    raise FileExistsError(
        f"{loc.url}: {subject} is a file, not a Zarr store, so no store can be created "
        "there: choose another path, or remove the file yourself"
    )


def check_node_replaceable(kv: KVStore, loc: Location) -> None:
    """Refuse to replace the store root of ``kv`` (at ``loc``) with mode ``"w"`` unless
    it holds nothing, or a Zarr node whose objects are all Zarr's (the rule of
    :func:`check_replaceable`, read through the driver's own store, so it holds for
    ``memory://`` and for both engines alike). Nothing is changed either way.

    unizarr's own documents (``.unizarr-*``, e.g. the write lock of a running
    ``convert``) do not count as content.

    Raises
    ------
    FileExistsError
        A bucket root holding objects, a file, a non-Zarr folder or prefix, or a Zarr
        node with foreign objects in it.
    """
    url = loc.url
    check_not_a_file(loc)
    names = [n for n in kv.list_dir("") if not n.startswith(OWN_PREFIX)]
    if not names:
        return  # nothing stored: nothing to lose
    if is_bucket_root(loc):
        raise FileExistsError(
            f"{url} is a bucket root holding objects; mode 'w' never replaces a whole "
            "bucket: write to a prefix (s3://bucket/name.zarr) or empty it yourself"
        )
    keys: list[str] = []
    foreign_count = [0]
    _node_keys(kv, "", keys, foreign_count)
    foreign = foreign_keys(keys, kv.get)
    if not foreign:
        return
    if not any(k in NODE_FILES for k in keys):
        raise FileExistsError(
            f"{url} is not a Zarr store (no zarr.json/.zgroup/.zarray at its root) and "
            "holds other objects; mode 'w' replaces only Zarr stores: remove it yourself "
            f"or choose a sub-path (e.g. {url}/name.zarr)"
        )
    shown = ", ".join(foreign[:_SHOWN]) + (" ..." if len(foreign) > _SHOWN else "")
    raise FileExistsError(
        f"{url} holds objects that are not Zarr data ({shown}); mode 'w' would delete "
        "them: move them away yourself or choose another path"
    )


def check_replaceable(output: str, options: dict[str, Any] | None = None) -> None:
    """Refuse to replace ``output`` unless it is a Zarr store with nothing foreign in it
    (and not a bucket root). Nothing is changed either way.

    Raises
    ------
    FileExistsError
        ``output`` is a file, a bucket root, not a Zarr store, or holds foreign objects.
    """
    loc = parse_url(output)
    if is_bucket_root(loc):
        raise FileExistsError(
            f"{output} is a bucket root; --overwrite never replaces a whole bucket: "
            "write to a prefix (s3://bucket/name.zarr)"
        )
    if loc.is_local and os.path.lexists(loc.path) and (
        os.path.islink(loc.path) or not os.path.isdir(loc.path)
    ):
        raise FileExistsError(f"{output} exists and is not a Zarr store directory; remove it first")
    keys = list_store(output, options)
    if not keys:
        return  # nothing stored: nothing to lose
    names = {k for k in keys if "/" not in k}
    if not names & NODE_FILES:
        raise FileExistsError(
            f"{output} is not a Zarr store (no zarr.json/.zgroup/.zarray at its root) and "
            f"holds {len(keys)} object(s); --overwrite replaces only Zarr stores: remove it first"
        )
    foreign = foreign_keys(keys, _reader(output, options))
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise FileExistsError(
            f"{output} holds {len(foreign)} object(s) that are not Zarr data ({shown}); "
            "--overwrite would delete them: move them away first"
        )


def output_exists(output: str, options: dict[str, Any] | None = None) -> bool:
    loc = parse_url(output)
    if loc.is_local:
        return os.path.lexists(loc.path)
    return bool(list_store(output, options))


# -- local build-aside and swap ---------------------------------------------------------------
def sibling_path(output: str, tag: str) -> str:
    """A hidden, unique sibling of a local ``output`` (same directory, same file system)."""
    path = os.path.abspath(parse_url(output).path.rstrip("/"))
    parent, name = os.path.split(path)
    return os.path.join(parent, f".{name}.unizarr-{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


_RENAME_EXCHANGE = 2


def _exchange(a: str, b: str) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); ``False`` when unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM):
        return False  # file system or kernel without RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), a)


def swap_in(new: str, output: str) -> None:
    """Replace the local store ``output`` by the finished store ``new`` (its sibling),
    then delete the previous one."""
    out = parse_url(output).path
    if not os.path.lexists(out):
        os.rename(new, out)
        return
    if _exchange(new, out):
        shutil.rmtree(new)  # now the previous store
        return
    old = sibling_path(output, "old")
    os.rename(out, old)
    os.rename(new, out)
    shutil.rmtree(old)


# -- the write lock ---------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_text() -> bytes:
    return json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
         "token": uuid.uuid4().hex}
    ).encode()


def _held_by(raw: bytes | None) -> str:
    try:
        info = json.loads(raw or b"")
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["time"])))
        return f"process {info['pid']} on {info['host']} since {when}"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _stale(raw: bytes | None) -> bool:
    """A lock of a process of this host that no longer runs."""
    try:
        info = json.loads(raw or b"")
        return info["host"] == socket.gethostname() and not _alive(int(info["pid"]))
    except (ValueError, KeyError, TypeError):
        return False


class LockedError(FileExistsError):
    """The output is being written by another unizarr process."""


def _refuse(output: str, key: str, raw: bytes | None) -> LockedError:
    return LockedError(
        f"{output} is being written by {_held_by(raw)} (lock {key}); wait for it to finish, "
        "or delete the lock if no unizarr process writes there any more"
    )


@contextmanager
def write_lock(output: str, options: dict[str, Any] | None = None) -> Iterator[None]:
    """Hold ``.unizarr-lock`` in the root of ``output`` while the block runs.

    Locally the lock is created with ``O_CREAT | O_EXCL`` (the directory is created
    first when needed): of two processes exactly one gets it. A lock left by a killed
    process of this host is stale: it is renamed away (atomic, so only one taker
    wins) and retaken. On object stores there is no create-if-absent here: the lock
    is read, written, and read back to check that it is ours (best effort; see
    ``docs/resume.md``).

    Raises
    ------
    LockedError
        Another live process holds the lock.
    """
    loc = parse_url(output)
    if loc.is_local:
        refuse_file_in_the_way(loc, "a")  # makedirs would fail with a bare errno
        os.makedirs(loc.path, exist_ok=True)
        key = os.path.join(loc.path, LOCK_NAME)
        text = _lock_text()
        for _attempt in range(2):
            try:
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    with open(key, "rb") as f:
                        raw = f.read()
                except FileNotFoundError:
                    continue
                if not _stale(raw):
                    raise _refuse(output, key, raw) from None
                try:
                    os.rename(key, key + f".stale-{uuid.uuid4().hex[:8]}")
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(text)
            break
        else:
            raise _refuse(output, key, None)
        for name in os.listdir(loc.path):  # taken-over stale locks
            if name.startswith(LOCK_NAME + ".stale-"):
                os.unlink(os.path.join(loc.path, name))
        try:
            yield
        finally:
            try:
                with open(key, "rb") as f:
                    mine = f.read() == text
                if mine:
                    os.unlink(key)
            except FileNotFoundError:
                pass  # the store was swapped or removed
        return
    fs, root = _remote_fs(loc, options)
    key = f"{root}/{LOCK_NAME}"
    try:
        held: bytes | None = fs.cat_file(key)
    except FileNotFoundError:
        held = None
    if held is not None and not _stale(held):
        raise _refuse(output, output.rstrip("/") + "/" + LOCK_NAME, held)
    text = _lock_text()
    fs.pipe_file(key, text)
    fs.invalidate_cache()
    if fs.cat_file(key) != text:
        raise _refuse(output, output.rstrip("/") + "/" + LOCK_NAME, fs.cat_file(key))
    try:
        yield
    finally:
        try:
            if fs.cat_file(key) == text:
                fs.rm_file(key)
        except FileNotFoundError:
            pass
