"""One verified pass over a gzip file, into an anonymous temporary file.

A gzip stream can only be read from its start: a reader that fetches regions in the
order a pyramid builder asks for them re-decompresses the stream for every region
(nibabel does, and so does ``indexed_gzip`` after its index is evicted) - minutes
for a 1 GiB ``.nii.gz``. Here the stream is decompressed once, from start to end, into
a temporary file that is then memory-mapped: every later read is a plain file read, in
any order, from any thread. The pass checks the gzip trailer (CRC-32 and length) of
every member, so a damaged payload is refused *before* anything is written from it.

Inflating uses ISA-L (the ``isal`` package, about twice as fast as zlib) when it is
installed, zlib otherwise (``UNIZARR_INFLATE=zlib`` forces zlib); both check the
trailers. Inflating and writing the temporary file overlap: a thread inflates while
this one writes, with a few MiB in flight.

The temporary file is unlinked as soon as it is created, so nothing is left behind,
even after a crash. It lives in ``$UNIZARR_TMPDIR`` (or the system temporary
directory): pick a disk with room for the uncompressed volume.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import zlib
from types import ModuleType
from typing import BinaryIO

from ..errors import CorruptDataError

#: Compressed bytes read per step: large enough that the per-call overhead vanishes,
#: small enough to keep the working set a few MiB.
_STEP = 4 << 20
#: Uncompressed bytes per inflate call (a run of zeros inflates ~1000x: bounded), and
#: inflated pieces waiting for the writer: at most _MAX_OUT * (_QUEUE + 2) in memory.
_MAX_OUT = 16 << 20
_QUEUE = 4


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
    if expected is not None:
        free = shutil.disk_usage(where).free
        if free < expected:
            raise OSError(
                f"decompressing {path} needs {expected / 2**30:.2f} GiB in {where}, which "
                f"has {free / 2**30:.2f} GiB free; set UNIZARR_TMPDIR to a larger disk"
            )
    out = tempfile.TemporaryFile(dir=where)  # unlinked at once on POSIX
    try:
        total = _spill(path, out)
        if expected is not None and total < expected:
            raise CorruptDataError(
                f"{path} is truncated: its gzip stream holds {total} bytes, the header "
                f"announces {expected}; the file is incomplete - copy it again"
            )
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


_END = object()


def _spill(path: str, out: BinaryIO) -> int:
    """Inflate ``path`` in a thread while this one writes the pieces to ``out``."""
    pieces: queue.Queue[object] = queue.Queue(maxsize=_QUEUE)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for piece in _inflate(path):
                while not stop.is_set():
                    try:
                        pieces.put(piece, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the writer, raised there
            failure.append(exc)
        finally:
            while True:  # the end marker must get through, even to a full queue
                try:
                    pieces.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    if stop.is_set():
                        break

    thread = threading.Thread(target=produce, name="unizarr-inflate", daemon=True)
    thread.start()
    total = 0
    try:
        while True:
            piece = pieces.get()
            if piece is _END:
                break
            out.write(piece)  # type: ignore[arg-type]
            total += len(piece)  # type: ignore[arg-type]
    finally:
        stop.set()
        while thread.is_alive():  # free a producer blocked on a full queue
            try:
                pieces.get_nowait()
            except queue.Empty:
                pass
            thread.join(0.05)
    if failure:
        raise failure[0]
    return total


def _inflate(path: str):  # type: ignore[no-untyped-def]
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
