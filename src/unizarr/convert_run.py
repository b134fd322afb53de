"""The run record of a conversion and the checks of ``resume``: what an existing
output was converted from and with which options, and whether it may be finished."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from typing import Any

from .api import open_group
from .config import ZarrConfig
from .core import ZarrArray, ZarrGroup
from .layout import resolve_array_spec
from .output_guard import LOCK_NAME, list_store, output_exists
from .pyramid import same_layout
from .readers.volume import Volume
from .readers.worker_input import InputRef


@dataclass(frozen=True)
class PyramidSettings:
    """How a conversion downsamples (the pyramid arguments of :func:`unizarr.convert`;
    the number of levels is the config's ``levels``)."""

    method: str = "mean"
    no_pyramid_axis: str | None = None
    sampling: str = "anisotropic"
    factors: str | None = None


#: Written in the output's root group when ``convert`` starts and kept afterwards (with
#: ``"state": "complete"`` once the OME metadata is written): the input and options the
#: store is made of. ``--resume`` requires it and requires it to match.
CONVERT_RECORD = ".unizarr-convert-run.json"


def _convert_record(
    vol: Volume, cfg: ZarrConfig, pyramid: PyramidSettings, ome_version: str,
    input_ref: InputRef | None,
) -> dict[str, Any]:
    """What makes two conversions produce the same store (JSON-normalised)."""
    layout_keys = ("zarr_version", "chunk", "chunk_channels", "chunk_time", "shard",
                   "shard_channels", "shard_time", "dimension_separator", "order",
                   "compressor", "compressor_opt", "no_time", "levels")
    record = {
        "input": _input_fingerprint(input_ref),
        "shape": list(vol.shape),
        "dtype": str(vol.dtype),
        "axes": list(vol.axes),
        **{k: getattr(cfg, k) for k in layout_keys},
        "method": pyramid.method,
        "no_pyramid_axis": pyramid.no_pyramid_axis,
        "ome_version": ome_version,
        "space_scale": list(vol.space_scale),
        "space_unit": vol.space_unit,
        "time_scale": vol.time_scale,
        "time_unit": vol.time_unit,
        "name": vol.name,
        "nifti": vol.nifti_header is not None,
    }
    return json.loads(json.dumps(record, default=str))


def _check_record(output: str, root: ZarrGroup, record: dict[str, Any]) -> str:
    """The state (``"running"`` or ``"complete"``) of the run that made ``root``, when it
    converted the same input with the same options.

    Raises
    ------
    ValueError
        No readable run record (the store was not written by ``unizarr convert``), or
        one of another input or other options.
    """
    raw = root._get_hidden(CONVERT_RECORD)
    try:
        before = json.loads(raw) if raw is not None else None
    except ValueError:
        before = None
    if not isinstance(before, dict) or not isinstance(before.get("run"), dict):
        raise ValueError(
            f"--resume: {output} has no unizarr run record (it was not written by "
            "`unizarr convert`, or that run died before it started writing); nothing "
            "was changed: convert to another OUTPUT, or replace it with --overwrite"
        )
    diffs = [
        f"{k} {before['run'].get(k)!r} != {record[k]!r}"
        for k in record if before["run"].get(k) != record[k]
    ]
    if diffs:
        raise ValueError(
            f"--resume: {output} was converted from another input or with other options "
            f"({'; '.join(diffs)[:400]}); nothing was changed: resume with the same "
            "command line, or replace it with --overwrite"
        )
    return str(before.get("state", "running"))


def _set_record(root: ZarrGroup, record: dict[str, Any], state: str) -> None:
    root._set_hidden(CONVERT_RECORD, json.dumps({"state": state, "run": record}).encode())



def _input_fingerprint(ref: InputRef | None) -> str | None:
    """Path, size and modification time of a local input file; for a directory (a TIFF
    folder, a Zarr store) a digest of the names, sizes and modification times of
    every file below it; the URL alone for a remote input: ``--resume`` refuses to
    finish a conversion of another input."""
    if ref is None:
        return None
    path = ref.path
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except (OSError, ValueError):
        return path  # a URL or a glob
    if stat.S_ISDIR(st.st_mode):
        digest = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(real):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".unizarr-"):
                    continue
                try:
                    fst = os.stat(os.path.join(dirpath, name))
                except OSError:
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), real)
                digest.update(f"{rel}\0{fst.st_size}\0{fst.st_mtime_ns}\n".encode())
        return f"{real} (directory, contents {digest.hexdigest()[:16]})"
    if not stat.S_ISREG(st.st_mode):
        return real
    return f"{real} ({st.st_size} bytes, modified {st.st_mtime_ns} ns)"


def _open_for_resume(
    output: str, cfg: ZarrConfig, vol: Volume, storage_options: dict[str, Any] | None,
    record: dict[str, Any],
) -> tuple[ZarrGroup | None, str]:
    """The existing output to finish and the state of the run that wrote it, checked
    against this run's record and the requested layout (``(None, "")`` when there is
    no output yet: then the conversion starts afresh). Nothing is written.

    Raises
    ------
    ValueError
        No matching run record (see :func:`_check_record`), or the output's Zarr
        format or level 0's layout (shape, dtype, chunks, shards, codecs, fill value,
        order, separator) is not the requested one.
    """
    try:
        root = open_group(output, "r+", driver=cfg.driver, storage_options=storage_options)
    except FileNotFoundError:
        if output_exists(output, storage_options) and [
            k for k in list_store(output, storage_options) if k != LOCK_NAME
        ]:
            raise ValueError(
                f"--resume: {output} exists but is not a Zarr group written by "
                "`unizarr convert`; nothing was changed: choose another OUTPUT"
            ) from None
        return None, ""
    if root.zarr_version != cfg.zarr_version:
        raise ValueError(
            f"--resume: {output} is Zarr v{root.zarr_version}, not the requested "
            f"v{cfg.zarr_version}; convert with --overwrite instead"
        )
    if "0" not in root:
        # interrupted before level 0 was created
        return root, _check_record(output, root, record)
    base = root["0"]
    if not isinstance(base, ZarrArray):
        raise ValueError(f"--resume: {output}/0 is a group, not an array; convert with --overwrite")
    expected = resolve_array_spec(
        vol.shape, vol.dtype, zarr_version=cfg.zarr_version, config=cfg
    )
    if not same_layout(base.spec, expected):
        have, want = base.spec, expected
        diffs = [
            f"{name} {getattr(have, name)!r} != {getattr(want, name)!r}"
            for name in ("shape", "dtype", "chunks", "shards", "compressor", "fill_value",
                         "order", "dimension_separator")
            if getattr(have, name) != getattr(want, name)
        ] or ["metadata differs"]
        raise ValueError(
            f"--resume: {output} does not have the requested layout ({'; '.join(diffs)}); "
            "convert with --overwrite instead"
        )
    return root, _check_record(output, root, record)
