"""One verified pass over a gzip file, into an anonymous temporary file.

A gzip stream can only be read from its start: a reader that fetches regions in the
order a pyramid builder asks for them re-decompresses the stream for every region
(nibabel does, and so does ``indexed_gzip`` after its index is evicted) - minutes
for a 1 GiB ``.nii.gz``. Here the stream is decompressed once, from start to end, into
a temporary file that is then memory-mapped: every later read is a plain file read, in
any order, from any thread. The pass checks the gzip trailer (CRC-32 and length) of
every member, so a damaged payload is refused *before* anything is written from it.

Inflating uses ISA-L (the ``isal`` package, 1.6-1.8x the speed of zlib here) when it
is installed, zlib otherwise (``UNIZARR_INFLATE=zlib`` forces zlib); both check the
trailers.

The temporary file is unlinked as soon as it is created, so nothing is left behind,
even after a crash. It lives in ``$UNIZARR_TMPDIR`` (or the system temporary
directory): pick a disk with room for the uncompressed volume.

On a cluster (``unizarr convert --scheduler``), the workers reopen the input by path
and would each decompress it again. Inside :func:`shared_spills` the spill is instead
published, once verified, under a name derived from the input's path, size, inode and
modification time (``unizarr-spill-<key>.raw`` in the spill directory); a worker that
finds it there maps it instead of decompressing, and the process that published it
deletes it when it closes the input. Workers on other machines find it only when the
spill directory is a shared file system with the same path (set ``UNIZARR_TMPDIR``);
otherwise each decompresses its own copy, verified, as before. A process killed
while holding a published spill leaves that file behind: delete it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any, BinaryIO

from ..errors import CorruptDataError

#: Compressed bytes read per step: large enough that the per-call overhead vanishes,
#: small enough to keep the working set a few MiB.
_STEP = 4 << 20
#: Uncompressed bytes per inflate call (a run of zeros inflates ~1000x: bounded).
_MAX_OUT = 16 << 20


#: Whether spills made now are published for cluster workers (see shared_spills).
_SHARE: ContextVar[bool] = ContextVar("unizarr_share_spills", default=False)
#: What this process did: full decompressions, and spills found published by another.
COUNTS = {"inflated": 0, "shared": 0}


@contextmanager
def shared_spills(enabled: bool = True) -> Iterator[None]:
    """Inputs opened in this block publish their verified spill for other processes
    (the workers of a cluster) to map instead of decompressing again."""
    token = _SHARE.set(enabled)
    try:
        yield
    finally:
        _SHARE.reset(token)


def shared_name(path: str) -> str:
    """Where the published spill of the gzip file ``path`` is: the name changes with
    the file's path, size, inode and modification time, so a rewritten input is never
    served from an old spill."""
    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_ino}|{st.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return os.path.join(spill_dir(), f"unizarr-spill-{digest}.raw")


class _Published:
    """A published spill file: deleted (by name) when the publisher closes it."""

    def __init__(self, f: BinaryIO, name: str) -> None:
        self._f = f
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._f, attr)

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass

    def __enter__(self) -> _Published:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def spill_dir() -> str:
    """Where decompressed inputs are spilled: ``$UNIZARR_TMPDIR`` or the temp dir."""
    return os.environ.get("UNIZARR_TMPDIR") or tempfile.gettempdir()


def inflater() -> ModuleType:
    """The zlib-compatible module that inflates: ``isal.isal_zlib`` when installed
    (and not ``UNIZARR_INFLATE=zlib``), else :mod:`zlib`."""
    if os.environ.get("UNIZARR_INFLATE", "").lower() != "zlib":
        try:
            from isal import isal_zlib

            return isal_zlib
        except ImportError:  # no wheel for this platform: zlib is correct, just slower
            pass
    return zlib


def decompress_verified(path: str, expected: int | None = None) -> BinaryIO:
    """Decompress the gzip file ``path`` into an unlinked temporary file, verified.

    Parameters
    ----------
    path : str
        A gzip file (one or more members, as ``gzip`` and ``pigz`` write them).
    expected : int, optional
        Bytes the uncompressed stream must hold at least (e.g. header + voxels):
        checked before spilling against the free space, and after against the result.

    Returns
    -------
    file object
        The open temporary file (read/write, positioned at 0); close it to free the space.

    Raises
    ------
    CorruptDataError
        Damaged deflate data, a CRC-32 or length mismatch in a trailer, a stream that
        ends early, or fewer than ``expected`` bytes.
    OSError
        Not enough free space in the spill directory, or the file cannot be read.
    """
    where = spill_dir()
    found = _published(path, expected)
    if found is not None:
        return found
    if _SHARE.get():
        return _publish(path, expected, where)
    _check_room(path, expected, where)
    out = tempfile.TemporaryFile(dir=where)  # unlinked at once on POSIX
    try:
        _check_total(path, _spill(path, out), expected)
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


def _check_room(path: str, expected: int | None, where: str) -> None:
    if expected is None:
        return
    free = shutil.disk_usage(where).free
    if free < expected:
        raise OSError(
            f"decompressing {path} needs {expected / 2**30:.2f} GiB in {where}, which "
            f"has {free / 2**30:.2f} GiB free; set UNIZARR_TMPDIR to a larger disk"
        )


def _check_total(path: str, total: int, expected: int | None) -> None:
    if expected is not None and total < expected:
        raise CorruptDataError(
            f"{path} is truncated: its gzip stream holds {total} bytes, the header "
            f"announces {expected}; the file is incomplete - copy it again"
        )


def _published(path: str, expected: int | None) -> BinaryIO | None:
    """The spill another process published for ``path`` (verified there), if any."""
    try:
        name = shared_name(path)
        f = open(name, "rb")
    except OSError:
        return None
    if expected is not None and os.fstat(f.fileno()).st_size < expected:
        f.close()  # not ours to judge: decompress and verify our own copy
        return None
    COUNTS["shared"] += 1
    return f


def _publish(path: str, expected: int | None, where: str) -> BinaryIO:
    """Spill ``path`` under a temporary name, verify, then rename it to its shared name
    (a reader never sees a partial file); deleted when the returned file is closed."""
    name = shared_name(path)
    _check_room(path, expected, where)
    partial = f"{name}.{os.getpid()}.partial"
    out = open(partial, "w+b")
    try:
        _check_total(path, _spill(path, out), expected)
        out.flush()
        os.replace(partial, name)
        out.seek(0)
        return _Published(out, name)  # type: ignore[return-value]
    except BaseException:
        out.close()
        try:
            os.unlink(partial)
        except FileNotFoundError:
            pass
        raise


def _spill(path: str, out: BinaryIO) -> int:
    """Inflate ``path`` into ``out``; bytes written. (A writer thread overlapping the
    writes with inflating was measured: no gain, the page-cache write is cheap.)"""
    COUNTS["inflated"] += 1
    total = 0
    for piece in _inflate(path):
        out.write(piece)
        total += len(piece)
    return total


def _inflate(path: str) -> Iterator[bytes]:
    """Yield the uncompressed bytes of every gzip member of ``path``, each member's
    CRC-32 and length checked by the inflater; raise CorruptDataError on damage."""
    mod = inflater()
    total = 0
    with open(path, "rb") as f:
        d = mod.decompressobj(zlib.MAX_WBITS | 16)  # gzip framing: checks CRC and size
        pending = b""
        while True:
            data = pending or f.read(_STEP)
            pending = b""
            if not data:
                break
            while data:
                try:
                    # Bounded output per call: a run of zeros inflates ~1000x.
                    chunk = d.decompress(data, _MAX_OUT)
                except mod.error as exc:
                    raise CorruptDataError(
                        f"{path} is a damaged gzip file ({exc} after {total} uncompressed "
                        "bytes); the file is corrupt - copy it again"
                    ) from None
                if chunk:
                    yield chunk
                total += len(chunk)
                data = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data or f.read(_STEP)
                # Another member may follow (pigz, concatenated files); zero padding
                # after the last member is tolerated, as gzip(1) does.
                while rest and not rest.strip(b"\x00"):
                    rest = f.read(_STEP)
                if not rest:
                    return
                d = mod.decompressobj(zlib.MAX_WBITS | 16)
                pending = rest
    raise CorruptDataError(
        f"{path} is truncated: its gzip stream ends after {total} uncompressed bytes "
        "without its trailer; the file is incomplete - copy it again"
    )
