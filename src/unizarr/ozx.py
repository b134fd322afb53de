"""Zipped OME-Zarr (``.ozx``, OME-NGFF RFC-9): pack a store directory, unpack an archive.

RFC-9 asks for the root ``zarr.json`` as the first entry, the other metadata files right
after it in breadth-first order, then the data; no ZIP-level compression (Zarr codecs
already compress); ZIP64; and an archive comment
``{"ome": {"version": ..., "zipFile": {"centralDirectory": {"jsonFirst": true}}}}``.
Neither engine can write a zip in that order, so stores are written as directories and
packed here; reading goes through zarr-python's ``ZipStore`` or TensorStore's ``zip``
kvstore (see :func:`is_ozx`).

Both operations write next to the destination under a temporary name and rename it into
place last: an interrupted pack or unpack leaves no partial ``.ozx`` or directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

#: Metadata file names of Zarr v3 and v2 (all packed first, breadth-first).
METADATA_NAMES = ("zarr.json", ".zgroup", ".zarray", ".zattrs", ".zmetadata")
_COPY_BLOCK = 1 << 22


def is_ozx(path: str | os.PathLike[str]) -> bool:
    """Whether a local path names a zipped OME-Zarr (by its ``.ozx`` suffix)."""
    return str(path).lower().rstrip("/").endswith(".ozx")


def _entry_order(root: Path) -> list[str]:
    """Archive names of every file under ``root``: metadata breadth-first (the root
    ``zarr.json`` first), then everything else in path order."""
    files = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
    )
    meta = [f for f in files if PurePosixPath(f).name in METADATA_NAMES]
    rank = {n: i for i, n in enumerate(METADATA_NAMES)}
    meta.sort(key=lambda f: (f.count("/"), PurePosixPath(f).parent.as_posix(),
                             rank[PurePosixPath(f).name]))
    rest = [f for f in files if PurePosixPath(f).name not in METADATA_NAMES]
    return meta + rest


def archive_comment(root: Path) -> bytes:
    """The RFC-9 archive comment: the OME version of the root group and ``jsonFirst``."""
    version = None
    meta = root / "zarr.json"
    if meta.is_file():
        attrs = json.loads(meta.read_text()).get("attributes") or {}
        ome = attrs.get("ome")
        if isinstance(ome, dict):
            version = ome.get("version")
    doc = {"ome": {"version": str(version or "0.5"),
                   "zipFile": {"centralDirectory": {"jsonFirst": True}}}}
    return json.dumps(doc).encode()


def _check_destination(dst: Path, overwrite: bool) -> None:
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists; pass overwrite=True (--overwrite) to replace it")


def _swap_into_place(tmp: Path, dst: Path) -> None:
    """Rename ``tmp`` to ``dst``; an existing ``dst`` is removed only after ``tmp`` is
    complete, and put back if the rename fails."""
    if not dst.exists():
        os.replace(tmp, dst)
        return
    old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
    os.replace(dst, old)
    try:
        os.replace(tmp, dst)
    except BaseException:
        os.replace(old, dst)
        raise
    if old.is_dir():
        shutil.rmtree(old)
    else:
        old.unlink()


def pack(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
         overwrite: bool = False) -> Path:
    """Zip the store directory ``src`` into the ``.ozx`` file ``dst`` per RFC-9.

    Raises
    ------
    FileNotFoundError
        ``src`` is not a directory holding a root ``zarr.json`` (RFC-9 is for Zarr v3,
        OME-NGFF 0.5 and later).
    FileExistsError
        ``dst`` exists and ``overwrite`` is false.
    ValueError
        ``dst`` does not end in ``.ozx``, or lies inside ``src``.
    """
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not (src / "zarr.json").is_file():
        raise FileNotFoundError(
            f"{src} has no root zarr.json; .ozx holds Zarr v3 stores (convert with "
            "--zarr-version 3 first)"
        )
    if not is_ozx(dst):
        raise ValueError(f"{dst.name}: zipped OME-Zarr files end in .ozx")
    if dst == src or src in dst.parents:
        raise ValueError(f"{dst} lies inside the store {src}; write it elsewhere")
    _check_destination(dst, overwrite)
    names = _entry_order(src)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in names:
                path = src / name
                info = zipfile.ZipInfo.from_file(path, name)
                info.compress_type = zipfile.ZIP_STORED
                # ZIP64 extra fields on every entry, whatever its size (RFC-9 item 1)
                with open(path, "rb") as fin, zf.open(info, "w", force_zip64=True) as fout:
                    shutil.copyfileobj(fin, fout, _COPY_BLOCK)
            zf.comment = archive_comment(src)
        _swap_into_place(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst


def _safe_names(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    """Every member, refusing names that would land outside the destination."""
    members = []
    for info in zf.infolist():
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
            raise ValueError(f"{archive}: member {info.filename!r} points outside the archive "
                             "root; refusing to unpack")
        members.append(info)
    return members


def unpack(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
           overwrite: bool = False) -> Path:
    """Extract the ``.ozx`` file ``src`` into the directory ``dst``.

    Raises
    ------
    FileNotFoundError
        ``src`` is missing or has no root ``zarr.json``.
    FileExistsError
        ``dst`` exists and ``overwrite`` is false.
    CorruptDataError
        ``src`` is not a readable zip archive or a member fails its CRC check.
    """
    from .errors import CorruptDataError

    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.is_file():
        raise FileNotFoundError(f"{src} does not exist")
    _check_destination(dst, overwrite)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent))
    try:
        try:
            with zipfile.ZipFile(src) as zf:
                members = _safe_names(zf, src)
                if "zarr.json" not in {m.filename for m in members}:
                    raise FileNotFoundError(
                        f"{src} has no zarr.json at the archive root (RFC-9 requires the "
                        "OME-Zarr root at the zip root)"
                    )
                for info in members:
                    if info.is_dir():
                        continue
                    out = tmp.joinpath(*PurePosixPath(info.filename).parts)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as fin, open(out, "wb") as fout:
                        shutil.copyfileobj(fin, fout, _COPY_BLOCK)
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            raise CorruptDataError(f"{src} is not a readable zip archive ({exc})") from exc
        _swap_into_place(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def entries(path: str | os.PathLike[str]) -> list[str]:
    """The archive's member names in central-directory order."""
    with zipfile.ZipFile(path) as zf:
        return [i.filename for i in zf.infolist()]


__all__ = ["METADATA_NAMES", "archive_comment", "entries", "is_ozx", "pack", "unpack"]
