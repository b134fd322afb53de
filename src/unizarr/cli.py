"""The ``unizarr`` command: ``convert``, ``info``, ``validate``, ``copy``, ``preview``,
``serve``, ``view``, ``demo``.

Thin by design: each command parses its options into a :class:`~unizarr.ZarrConfig`,
calls the library (:mod:`unizarr.io` readers, ``create_array``, ``generate_pyramid``,
``write_ome_metadata``, ``write_nifti_header``) and reports. Progress goes to stderr
(only when it is a terminal), results to stdout.

Exit codes: 0 success; 1 ``validate`` found problems (or stdout was closed early, as by
``| head``); 2 a user error (missing input, unreadable format, existing output, bad
option value); 3 an unexpected internal error; 130 interrupted (Ctrl-C; ``serve`` and
``view`` exit 0 on Ctrl-C, their normal end). Errors are one
line on stderr (``error: ...``); ``--debug`` (anywhere on the command line) adds the
Python traceback.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import stat
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from cyclopts import App, Parameter
from cyclopts.exceptions import CycloptsError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

import unizarr as uz

from .channels import check_color, parse_windows, write_omero
from .errors import UnizarrError
from .io import normalize_unit, open_input
from .io.blockwise import copy_blocks
from .io.preview import render_preview
from .io.report import describe, human_bytes, render_tree, validate_store
from .io.tree_copy import copy_tree, plan_copy
from .io.volume import Volume, aligned_chunks
from .io.worker_input import InputRef, input_on_workers
from .io.zarr import is_zarr_dir, open_zarr
from .output_guard import (
    LOCK_NAME,
    check_not_input,
    list_store,
    check_replaceable,
    output_exists,
    sibling_path,
    swap_in,
    write_lock,
)
from .paths import parse_url
from .layout import parse_json_object as _json_object
from .layout import resolve_array_spec
from .nifti import ome_affine
from .ome import SPACE_UNITS, level_paths
from .pyramid import RUN_RECORD, parse_factors, pyramid_axes, same_layout
from .threads import usable_cpus

#: Exceptions that mean "the user asked for something that cannot be done": reported as
#: one line with exit code 2. OSError covers FileNotFoundError, FileExistsError,
#: PermissionError, IsADirectoryError, a full disk, ...
USER_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, TypeError, KeyError, IndexError, UnizarrError,
)
EXIT_INVALID = 1
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130

#: Working-set budget of a conversion when ``--max-memory`` is not given.
DEFAULT_MAX_MEMORY = 512 * 2**20
#: Sample volume of ``unizarr demo``: a real T1-weighted MRI slab that nibabel ships.
DEMO_SAMPLE = "anatomical.nii"

Compressor = Literal["blosc", "zstd", "zlib", "gzip", "none"]
Method = Literal["mean", "median", "mode", "min", "max", "nearest"]


def _registered_driver(type_: Any, value: Any) -> None:
    """``--driver`` takes any driver registered here (built-in or by entry point), or an
    alias; an unknown name is refused while parsing, with the available ones listed."""
    if value is not None:
        uz.get_driver(value)


Driver = Annotated[str, Parameter(validator=_registered_driver)]
Flag = Parameter(negative="")  # a switch with no --no-... twin

app = App(
    name="unizarr",
    help=(
        "Convert images to OME-Zarr (Zarr v2/v3, sharded) and inspect Zarr stores, "
        "through zarr-python or TensorStore.\n\n"
        "Add --debug anywhere to see Python tracebacks of errors."
    ),
    version=uz.__version__,
)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a write, with what the user needs to know about the output."""


# -- option groups ------------------------------------------------------------------------
@Parameter(name="*")
@dataclass
class Layout:
    """How arrays are stored: the fields of :class:`unizarr.ZarrConfig` (unset: its
    default for ``convert``, the source's layout for ``copy``)."""

    driver: Driver | None = None
    "Engine that writes (and reads) the data. [default: zarr-python]"
    zarr_version: Literal[2, 3] | None = None
    "Zarr format of the output. [default: 3 for convert, the source's for copy]"
    chunk: str | None = None
    (
        "Chunk shape: one int for every spatial axis, or one per axis, comma-separated "
        "(e.g. 64 or 32,64,64). [default: 128 for convert, the source's for copy]"
    )
    shard: str | None = None
    (
        "Shard shape (Zarr v3): ints like --chunk, 'auto' (0.5-1 GiB shards) or 'none'. "
        "[default: none for convert, the source's for copy]"
    )
    compressor: Compressor | None = None
    "Chunk compressor. [default: blosc for convert, the source's for copy]"
    compressor_opt: str | None = None
    'Compressor options as JSON, e.g. \'{"cname": "zstd", "clevel": 5}\' or \'{"level": 9}\'.'
    dimension_separator: Literal["/", "."] | None = None
    "Separator of chunk keys. [default: / for convert, the source's for copy]"
    order: Literal["C", "F"] | None = None
    "Memory order of stored chunks. [default: C for convert, the source's for copy]"
    chunk_channels: bool = False
    "Chunk the channel axis by 1 instead of keeping all channels in each chunk."
    chunk_time: bool = True
    "Chunk the time axis by 1 (--no-chunk-time: whole time axis per chunk)."
    shard_channels: bool = False
    "Split shards along the channel axis."
    shard_time: bool = False
    "Split shards along the time axis."
    no_time: Annotated[bool, Flag] = False
    "A 4-D input without axis names (.npy, plain Zarr) is (c, z, y, x), not (t, z, y, x)."

    def given(self) -> set[str]:
        """Names of the layout options set on the command line."""
        keys = ("chunk", "shard", "compressor", "compressor_opt", "dimension_separator", "order")
        return {k for k in keys if getattr(self, k) is not None}


@Parameter(name="*")
@dataclass
class PyramidOptions:
    """How the multiscale pyramid is built."""

    levels: int = -1
    "Pyramid levels to add after level 0 (-1: until a level fits in one chunk; 0: none)."
    method: Method = "mean"
    "Downsampling method (mode/nearest for label images)."
    no_pyramid_axis: Literal["x", "y", "z"] | None = None
    "Spatial axis never downsampled (thick slices)."
    sampling: Literal["isotropic", "anisotropic"] = "anisotropic"
    (
        "anisotropic: halve an axis only while its voxels are finer than about half the "
        "coarsest (0.5x0.5x4 um light sheet: x,y first); isotropic: halve every axis."
    )
    factors: str | None = None
    (
        "Force the factor (1 or 2) of each downsampled axis, z,y,x order: 1,2,2 for "
        "every level, or 1,2,2;2,2,2 level by level (the last repeated)."
    )


@Parameter(name="*")
@dataclass
class ReadOptions:
    """How a command that only reads opens its Zarr store."""

    driver: Driver | None = None
    "Engine used to read. [default: zarr-python]"
    storage_options: str | None = None
    "JSON credentials/endpoint for a remote store."

    def open(self, path: str) -> uz.ZarrNode:
        """``path`` opened read-only (a group, or an array)."""
        options = parse_json_object(self.storage_options, "--storage-options")
        return open_zarr(path, "r", driver=self.driver, storage_options=options)


# -- small parsers (errors are ValueErrors naming the option) ---------------------------
def parse_shape(text: str | None, option: str) -> tuple[int, ...] | None:
    """``"64"`` -> ``(64,)``; ``"32,64,64"`` -> ``(32, 64, 64)``; ``None`` stays ``None``."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[,\sx]+", text.strip()) if p]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if not values or any(v < 1 and v != -1 for v in values):
        raise ValueError(
            f"{option} takes positive ints separated by commas (e.g. 64 or 32,64,64), "
            f"got {text!r}"
        )
    return values


def parse_shard(text: str | None) -> tuple[int, ...] | str | None:
    """``--shard``: ints, ``"auto"`` or ``"none"``."""
    if text is None or text.strip().lower() == "none":
        return None
    if text.strip().lower() == "auto":
        return "auto"
    return parse_shape(text, "--shard")


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """``"0.5"`` or ``"2,0.5,0.5"`` -> floats (all positive)."""
    if text is None:
        return None
    try:
        values = tuple(float(p) for p in re.split(r"[,\s]+", text.strip()) if p)
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{option} takes positive numbers separated by commas, got {text!r}")
    return values


_BYTE_UNITS = {
    "": 1, "b": 1,
    "k": 2**10, "kib": 2**10, "kb": 10**3,
    "m": 2**20, "mib": 2**20, "mb": 10**6,
    "g": 2**30, "gib": 2**30, "gb": 10**9,
    "t": 2**40, "tib": 2**40, "tb": 10**12,
}


def parse_bytes(text: str | None) -> int | None:
    """``--max-memory``: ``"512M"``, ``"2GiB"``, ``"1.5G"``, ``"4GB"`` or plain bytes.

    ``K``/``M``/``G``/``T`` and ``KiB``... are powers of 1024; ``KB``/``MB``/``GB`` of
    1000.
    """
    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _BYTE_UNITS or float(m.group(1)) * _BYTE_UNITS[unit] < 1:
        raise ValueError(f"--max-memory takes a size like 512M, 2GiB or 4GB, got {text!r}")
    return int(float(m.group(1)) * _BYTE_UNITS[unit])


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """An option's JSON object (``None`` when the option was not given)."""
    return None if text is None else _json_object(text, option)


def make_config(layout: Layout, *, levels: int = -1, overwrite: bool = False) -> uz.ZarrConfig:
    """The :class:`~unizarr.ZarrConfig` of ``convert``: given options over its defaults."""
    values: dict[str, Any] = dict(
        chunk_channels=layout.chunk_channels,
        chunk_time=layout.chunk_time,
        shard_channels=layout.shard_channels,
        shard_time=layout.shard_time,
        no_time=layout.no_time,
        levels=levels,
        overwrite=overwrite,
    )
    if layout.driver is not None:
        values["driver"] = layout.driver
    if layout.zarr_version is not None:
        values["zarr_version"] = layout.zarr_version
    if layout.chunk is not None:
        values["chunk"] = parse_shape(layout.chunk, "--chunk")
    if layout.shard is not None:
        values["shard"] = parse_shard(layout.shard)
    if layout.compressor is not None:
        values["compressor"] = layout.compressor
    if layout.compressor_opt is not None:
        values["compressor_opt"] = parse_json_object(layout.compressor_opt, "--compressor-opt")
    if layout.dimension_separator is not None:
        values["dimension_separator"] = layout.dimension_separator
    if layout.order is not None:
        values["order"] = layout.order
    cfg = uz.ZarrConfig(**values)
    if cfg.shard is not None and cfg.zarr_version == 2:
        raise ValueError("--shard needs --zarr-version 3 (Zarr v2 has no sharding)")
    if cfg.compressor == "zlib" and cfg.zarr_version == 3:
        raise ValueError("zlib is not a Zarr v3 codec; use --compressor gzip or --zarr-version 2")
    return cfg


def resolve_ome_version(requested: str, zarr_version: int) -> str:
    """``auto`` is 0.5 on Zarr v3 and 0.4 on v2 (NGFF 0.5 is defined for v3 only)."""
    if requested == "auto":
        return "0.5" if zarr_version == 3 else "0.4"
    if requested in ("0.5", "0.6") and zarr_version == 2:
        raise ValueError(
            f"--ome-version {requested} needs --zarr-version 3 (use 0.4 for Zarr v2)"
        )
    return requested


def workers_for(block_bytes: int, max_memory: int) -> int:
    """Threads that fit ``max_memory`` when each holds about three copies of a block
    (source read, cast, compressed)."""
    return max(1, min(usable_cpus(), max_memory // max(1, 3 * block_bytes)))


# -- reporting -----------------------------------------------------------------------------
def _stdout_console() -> Console:
    # Piped output keeps whole lines (rich would crop trees at 80 columns).
    width = None if sys.stdout.isatty() else 1000
    return Console(soft_wrap=True, highlight=False, width=width)


class _AmountColumn(ProgressColumn):
    """Bytes written (or blocks, for the pyramid)."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "B")
        total = task.total or 0
        if unit == "B":
            return Text(f"{human_bytes(task.completed)}/{human_bytes(total)}")
        return Text(f"{int(task.completed)}/{int(total)} {unit}")


class _SpeedColumn(ProgressColumn):
    """Throughput: MiB/s for bytes, blocks/s otherwise."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("")
        if task.fields.get("unit", "B") == "B":
            return Text(f"{human_bytes(speed)}/s")
        return Text(f"{speed:.1f} {task.fields['unit']}/s")


class Reporter:
    """Progress bars on stderr when it is a terminal and ``--quiet`` is not given."""

    def __init__(self, quiet: bool = False) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._progress: Progress | None = None

    def __enter__(self) -> Reporter:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                TaskProgressColumn(),
                _AmountColumn(),
                _SpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def task(
        self, description: str, total: float | None, unit: str = "B"
    ) -> Iterator[Callable[..., None]]:
        """Yield ``update(advance=..., completed=..., total=...)`` for one bar."""
        progress = self._progress
        if progress is None:
            yield lambda **kw: None
            return
        task_id = progress.add_task(description, total=total, unit=unit)
        yield lambda **kw: progress.update(task_id, **kw)
        # Reached only on success: a finished bar shows 100 % even when the work was
        # smaller than announced (e.g. a pyramid with no level to build).
        progress.update(task_id, total=progress.tasks[task_id].total or 1,
                        completed=progress.tasks[task_id].total or 1)


def write_level(
    read: Callable[[tuple[slice, ...]], Any],
    array: uz.ZarrArray,
    update: Callable[..., None],
    max_memory: int,
) -> None:
    """Copy ``read(region)`` into ``array`` in write-block-aligned regions sized to the
    memory budget, on as many threads as that budget allows."""
    itemsize = array.dtype.itemsize
    per_task = max(1, max_memory // (3 * workers_for(1, max_memory)))
    chunks = aligned_chunks(array.shape, array.write_block, itemsize, per_task)
    workers = workers_for(math.prod(chunks) * itemsize, max_memory)
    copy_blocks(read, array, chunks, workers=workers, progress=lambda n: update(advance=n))


def _one_line(exc: BaseException) -> str:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = " ".join(str(msg).split())  # one line, whatever the exception text held
    return msg or type(exc).__name__


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


def check_output(
    output: str,
    overwrite: bool,
    inputs: Sequence[str] = (),
    storage_options: dict[str, Any] | None = None,
    *,
    resume: bool = False,
) -> None:
    """Refuse, before anything is written: an output that is, contains or lies inside an
    input; an existing output without ``--overwrite``/``--resume``; and, with
    ``--overwrite``, anything but a Zarr store holding only Zarr objects (never a
    bucket root or a folder/prefix with foreign files). See
    :mod:`unizarr.output_guard`. With ``resume`` the run record decides
    (:func:`convert_volume`)."""
    check_not_input(output, inputs)
    if not output_exists(output, storage_options) or resume:
        return
    if not overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it")
    check_replaceable(output, storage_options)


def _clear_remote(output: str, storage_options: dict[str, Any] | None) -> None:
    """Delete the (checked) Zarr objects of a remote output, keeping our lock: object
    stores have no rename, so a remote ``--overwrite`` replaces in place."""
    from .output_guard import LOCK_NAME, _remote_fs, list_store

    check_replaceable(output, storage_options)  # again, under the lock
    fs, root = _remote_fs(parse_url(output), storage_options)
    keys = [f"{root}/{k}" for k in list_store(output, storage_options) if k != LOCK_NAME]
    if keys:
        fs.rm(keys)
    fs.invalidate_cache()


def _discard(path: str) -> None:
    """Remove a half-built replacement now, and again at exit: writer threads still
    finishing a block when the error (or Ctrl-C) came may recreate files in it until
    the interpreter joins them, which happens before ``atexit`` handlers run."""
    import atexit

    shutil.rmtree(path, ignore_errors=True)
    atexit.register(shutil.rmtree, path, True)


def write_output(
    output: str,
    overwrite: bool,
    storage_options: dict[str, Any] | None,
    build: Callable[[str], Any],
) -> Any:
    """Run ``build(path)`` under the output's write lock and return its result.

    A local ``--overwrite`` of an existing store builds into a hidden sibling and swaps
    it in only when ``build`` returned: an error or Ctrl-C leaves the previous output
    as it was. A remote one deletes the previous (checked) store first: object stores
    have no rename.
    """
    local = _is_local(output)
    if overwrite and local and os.path.lexists(_local_path(output)):
        with write_lock(output):  # held on the previous store until it is replaced
            tmp = sibling_path(output, "new")
            try:
                result = build(tmp)
            except Interrupted:
                _discard(tmp)
                raise Interrupted(
                    f"interrupted; {output} was left as it was (the replacement being "
                    "built beside it was removed): run the same command again"
                ) from None
            except BaseException:
                _discard(tmp)
                raise
            swap_in(tmp, output)
        return result
    with write_lock(output, storage_options):
        if overwrite and not local:
            _clear_remote(output, storage_options)
        return build(output)


# -- convert ---------------------------------------------------------------------------------
@dataclass
class ConvertResult:
    """What :func:`convert_volume` wrote."""

    output: str
    shapes: list[tuple[int, ...]]
    dtype: np.dtype
    axes: tuple[str, ...]
    nbytes: int
    nbytes_stored: int
    seconds: float
    ome_version: str
    nifti: bool
    #: With ``resume``: ``"finished"`` (an interrupted run was completed) or
    #: ``"verified"`` (the run had completed; its blocks were checked, torn ones rewritten).
    resumed: str = ""


#: Written in the output's root group when ``convert`` starts and kept afterwards (with
#: ``"state": "complete"`` once the OME metadata is written): the input and options the
#: store is made of. ``--resume`` requires it and requires it to match.
CONVERT_RECORD = ".unizarr-convert-run.json"


def _convert_record(
    vol: Volume, cfg: uz.ZarrConfig, pyramid: PyramidOptions, ome_version: str,
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


def _check_record(output: str, root: uz.ZarrGroup, record: dict[str, Any]) -> str:
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


def _set_record(root: uz.ZarrGroup, record: dict[str, Any], state: str) -> None:
    root._set_hidden(CONVERT_RECORD, json.dumps({"state": state, "run": record}).encode())


class _RegionSource:
    """A :class:`~unizarr.io.Volume` seen as the array-like ``generate_pyramid(source=)``
    reads regions from."""

    def __init__(self, vol: Volume) -> None:
        self._vol = vol
        self.shape = tuple(vol.shape)
        self.dtype = np.dtype(vol.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self._vol.read_region(region))


def convert_volume(
    vol: Volume,
    output: str,
    cfg: uz.ZarrConfig,
    *,
    pyramid: PyramidOptions,
    ome_version: str,
    max_memory: int,
    reporter: Reporter,
    storage_options: dict[str, Any] | None = None,
    resume: bool = False,
    client: Any = None,
    input_ref: InputRef | None = None,
    omero: dict[str, Any] | None = None,
) -> ConvertResult:
    """Write ``vol`` (a :class:`unizarr.io.Volume`) as an OME-Zarr at ``output``.

    Order matters for interrupted runs: level 0, then the NIfTI header, then the
    pyramid, and the OME multiscales metadata last - a store without it never claims
    to be a complete image.

    With ``resume``, an existing ``output`` left by an interrupted conversion of the
    same input with the same options is finished: only the blocks it does not hold
    yet are written (see ``docs/resume.md``). A missing output is converted afresh.

    With a ``dask.distributed`` ``client``, the workers read the input (reopened from
    ``input_ref``), write level 0 and build the pyramid; this process writes the
    metadata (NIfTI header first, OME multiscales last, as above).

    Raises
    ------
    ValueError
        ``resume`` and the existing output's layout is not the requested one.
    """
    start = time.perf_counter()
    cfg = replace(cfg, no_time=vol.axes[:1] == ("c",) and vol.ndim == 4)
    record = _convert_record(vol, cfg, pyramid, ome_version, input_ref)
    root, state = None, ""
    if resume:
        root, state = _open_for_resume(output, cfg, vol, storage_options, record)
    if root is None:
        root = uz.from_config(output, cfg, storage_options=storage_options)
    try:
        # Before any data: a resume needs this record to match (kept when complete).
        _set_record(root, record, "running")
        if resume and "0" in root:
            base = root["0"]  # checked by _open_for_resume
        else:
            base = root.create_array("0", vol.shape, vol.dtype, zarr_config=cfg)
        if vol.nifti_header is not None:
            uz.write_nifti_header(root, vol.nifti_header)
        # One pass over the input writes level 0 and computes every pyramid level from
        # the blocks while they are in memory: level 0 is never read back.
        with reporter.task("level 0 + pyramid", None, unit="blocks") as update:
            shapes = uz.generate_pyramid(
                root,
                cfg.levels,
                method=pyramid.method,
                no_pyramid_axis=pyramid.no_pyramid_axis,
                **_sampling_kwargs(vol, pyramid),
                max_memory=max_memory,
                source=_level0_source(vol, base, max_memory, client, input_ref),
                write_base=True,
                progress=lambda done, total: update(completed=done, total=total),
                # The pyramid's own record exists once its build started; before
                # that, nothing of levels 1.. is there to keep.
                resume=resume and root._get_hidden(RUN_RECORD) is not None,
                client=client if client is not None else False,
                source_id=_input_fingerprint(input_ref),
            )
        uz.write_ome_metadata(
            root,
            list(vol.axes),
            space_scale=list(vol.space_scale),
            time_scale=vol.time_scale,
            # None when the input does not say: NGFF allows no unit, and an invented
            # one would be a false claim.
            space_unit=vol.space_unit,
            time_unit=vol.time_unit if "t" in vol.axes else None,
            name=vol.name,
            multiscales_type=pyramid.method,
            # Each level averages 2x2x2 windows of the previous one: a window of size 2
            # (nifti-zarr's numeric form), not a corner-aligned resampling.
            pyramid_aligns=2,
            ome_version=ome_version,
            **_affine_kwargs(vol, ome_version),
        )
        if omero is None and vol.channel_names:
            # the input's own channel names; colours and windows chosen as for --channel-names
            omero = {"names": list(vol.channel_names)}
        if omero is not None:
            write_omero(root, **omero)
        _set_record(root, record, "complete")
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {output} is incomplete (no OME multiscales metadata was "
            "written): run the same command with --resume to finish it"
        ) from None
    levels = [root[str(i)] for i in range(len(shapes))]
    return ConvertResult(
        output=output,
        shapes=[tuple(s) for s in shapes],
        dtype=base.dtype,
        axes=tuple(vol.axes),
        nbytes=sum(a.nbytes for a in levels),
        nbytes_stored=sum(a.nbytes_stored for a in levels),
        seconds=time.perf_counter() - start,
        ome_version=ome_version,
        nifti=vol.nifti_header is not None,
        resumed={"running": "finished", "complete": "verified"}.get(state, ""),
    )


def _omero_options(
    vol: Volume, names: str | None, colors: str | None, contrast: str | None
) -> dict[str, Any] | None:
    """``write_omero`` arguments from the channel options, checked against the input's
    channel count before anything is written (``None``: no channel option given)."""
    if names is None and colors is None and contrast is None:
        return None
    n = vol.shape[vol.axes.index("c")] if "c" in vol.axes else 1
    out: dict[str, Any] = {}
    for option, text, key in (("--channel-names", names, "names"),
                              ("--channel-colors", colors, "colors")):
        if text is None:
            continue
        values = [v.strip() for v in text.split(",")]
        if len(values) != n:
            raise ValueError(f"{option} has {len(values)} values for {n} channel(s)")
        out[key] = values
    for c in out.get("colors", []):
        check_color(c)
    if contrast is not None:
        out["windows"] = parse_windows(contrast, n)
    return out


def _sampling_kwargs(vol: Volume, pyramid: PyramidOptions) -> dict[str, Any]:
    """``generate_pyramid``'s sampling arguments: the voxel size of each downsampled
    axis for anisotropic sampling (isotropic when a downsampled axis has none, e.g.
    the channel axis of a 3-D (c, y, x) input)."""
    kwargs: dict[str, Any] = {"factors": pyramid.factors}
    if pyramid.factors is not None or pyramid.sampling == "isotropic":
        return kwargs
    axes = pyramid_axes(len(vol.axes), pyramid.no_pyramid_axis)
    space = [i for i, a in enumerate(vol.axes) if a in ("z", "y", "x")]
    if any(a not in space for a in axes):
        return kwargs
    sizes = [vol.space_scale[space.index(a)] for a in axes]
    return {**kwargs, "sampling": "anisotropic", "voxel_size": sizes}


def _affine_kwargs(vol: Volume, ome_version: str) -> dict[str, Any]:
    """The world affine of a NIfTI input for OME 0.6 (``{}`` otherwise: 0.4/0.5 have
    no place for it, and the NIfTI-Zarr header keeps it in any case)."""
    if ome_version != "0.6" or vol.nifti_header is None:
        return {}
    found = ome_affine(vol.nifti_header, vol.axes, vol.space_scale)
    if found is None:
        return {}
    return {"affine": found[0], "affine_system": found[1]}


def _level0_source(
    vol: Volume, base: uz.ZarrArray, max_memory: int, client: Any, ref: InputRef | None
) -> Any:
    """What level 0 is read from: the volume itself, or on a cluster a dask array
    whose tasks open the input on their worker, in chunks of whole write blocks of
    about a third of the budget (each worker thread holds the chunk, its cast and its
    encoded copy)."""
    if client is None:
        return _RegionSource(vol)
    if ref is None:
        raise TypeError("reading the input on a cluster needs its InputRef")
    chunks = aligned_chunks(vol.shape, base.write_block, vol.dtype.itemsize, max_memory // 3)
    return input_on_workers(ref, vol, chunks)


@contextmanager
def scheduler_client(scheduler: str | None) -> Iterator[Any]:
    """A ``dask.distributed`` client of the running scheduler ``scheduler`` (an address
    such as ``tcp://host:8786``, or the path of a scheduler file, ``*.json``), closed
    on exit; ``None`` yields ``None``.

    Raises
    ------
    ValueError
        ``distributed`` is not installed.
    FileNotFoundError
        A scheduler file that does not exist.
    OSError
        The scheduler cannot be reached.
    """
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(
            "--scheduler needs the 'distributed' package (pip install distributed)"
        ) from None
    if scheduler.endswith(".json") or os.path.isfile(scheduler):
        if not os.path.isfile(scheduler):
            # Client would wait for the file to appear until its timeout.
            raise FileNotFoundError(f"no scheduler file {scheduler}")
        kwargs: dict[str, Any] = {"scheduler_file": scheduler}
    else:
        kwargs = {"address": scheduler}
    try:
        client = Client(**kwargs, timeout=20)
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the dask scheduler {scheduler}: {_one_line(exc)}") from None
    with client:
        yield client


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
    output: str, cfg: uz.ZarrConfig, vol: Volume, storage_options: dict[str, Any] | None,
    record: dict[str, Any],
) -> tuple[uz.ZarrGroup | None, str]:
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
        root = uz.open_group(output, "r+", driver=cfg.driver, storage_options=storage_options)
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
    if not isinstance(base, uz.ZarrArray):
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


def _print_convert_summary(src: str, vol: Volume, res: ConvertResult) -> None:
    con = _stdout_console()
    ratio = res.nbytes / res.nbytes_stored if res.nbytes_stored else float("nan")
    shapes = " → ".join("×".join(map(str, s)) for s in res.shapes)
    extra = " + NIfTI-Zarr header" if res.nifti else ""
    con.print(
        f"converted {escape(src)} ({escape(vol.format)}) → {escape(res.output)}\n"
        f"  {len(res.shapes)} level(s) {shapes} ({', '.join(res.axes)}) {res.dtype}, "
        f"OME-NGFF {res.ome_version}{extra}\n"
        f"  {human_bytes(res.nbytes)} logical, {human_bytes(res.nbytes_stored)} stored "
        f"({ratio:.2f}×) in {res.seconds:.2f} s"
    )
    if res.resumed == "verified":
        con.print("  (--resume: the conversion had completed with this input and these "
                  "options; its blocks were checked, nothing else to do)", markup=False)
    con.print(escape(_voxel_size_line(vol)))


def _voxel_size_line(vol: Volume) -> str:
    """The voxel size and unit written, and a warning when the input gave no unit
    (then the sizes are unizarr's placeholders, not physical ones)."""
    names = [a for a in vol.axes if a in ("z", "y", "x")]
    sizes = " × ".join(f"{s:g}" for s in vol.space_scale)
    if vol.space_unit:
        return f"  voxel size ({', '.join(names)}): {sizes} {vol.space_unit}"
    return (
        f"  voxel size ({', '.join(names)}): {sizes} (no unit) - warning: the input "
        "states no physical voxel size; give it with --voxel-size and --unit"
    )


@app.command
def convert(
    input: str,
    output: str | None = None,
    /,
    *,
    layout: Layout = Layout(),
    pyramid: PyramidOptions = PyramidOptions(),
    ome_version: Literal["auto", "0.4", "0.5", "0.6"] = "auto",
    voxel_size: str | None = None,
    unit: str | None = None,
    name: str | None = None,
    max_memory: str | None = None,
    storage_options: str | None = None,
    overwrite: Annotated[bool, Flag] = False,
    resume: Annotated[bool, Flag] = False,
    quiet: Annotated[bool, Flag] = False,
    scheduler: str | None = None,
    reader: str | None = None,
    series: str | None = None,
    pattern: str | None = None,
    label_of: str | None = None,
    lut: str | None = None,
    channel_names: str | None = None,
    channel_colors: str | None = None,
    contrast: str | None = None,
) -> int:
    """Convert a NIfTI, TIFF, .npy or Zarr image to an OME-Zarr with a pyramid.

    The input is read lazily and written block by block, so memory stays bounded by
    --max-memory, whatever the volume size. NIfTI axes (x, y, z, t, c) are stored as
    Zarr (t, c, z, y, x) as nifti-zarr does, with the header kept as NIfTI-Zarr.

    Parameters
    ----------
    input
        .nii/.nii.gz file, TIFF file, directory or glob of 2-D TIFFs, .npy file, or Zarr
        group/array (local or URL).
    output
        Output OME-Zarr (local path or URL).
    ome_version
        OME-NGFF version (auto: 0.5 for Zarr v3, 0.4 for v2). 0.6 (opt-in, Zarr v3)
        writes RFC-5 coordinate systems, and a NIfTI input's sform/qform as an affine
        to its world system ("scanner", "mni_152", ...).
    voxel_size
        Voxel size, overriding the input's: one value, or one per spatial axis in z,y,x order.
    unit
        Spatial unit, overriding the input's (e.g. micrometer, millimeter, um, mm).
    name
        Image name in the OME metadata. [default: the input's name]
    max_memory
        Working-memory budget, e.g. 512M or 4GiB (one shard is the floor). [default: 512M]
    storage_options
        JSON credentials/endpoint for remote input/output, e.g. '{"anon": true}'.
    overwrite
        Replace OUTPUT if it exists.
    resume
        Finish an interrupted conversion of the same input with the same options:
        keep the blocks OUTPUT already holds and write the rest (refused when OUTPUT's
        layout differs). A missing OUTPUT is converted afresh.
    quiet
        No progress bar and no summary.
    scheduler
        Run on a dask.distributed cluster: the address of its scheduler (e.g.
        tcp://127.0.0.1:8786) or its scheduler file (JSON). The workers read INPUT,
        write level 0 and build the pyramid (they must see INPUT and OUTPUT at the
        same paths or URLs); --max-memory is then the budget of each worker thread.
    reader
        Read INPUT with this reader (nifti, tiff, slices, npy, zarr, dicom, ...)
        instead of detecting its format from its content.
    series
        Image of a multi-image file (e.g. an OME-TIFF with several series) to convert:
        its number, or 'all' for one image per series in a bioformats2raw-style
        collection. Required when the file holds several images.
    pattern
        How slice file names map to axes, for a folder or glob of slices: a template
        such as '{name}_c{c}_z{z}.tif' or a regex with groups (?P<z>...), (?P<c>...),
        (?P<t>...). Gaps and duplicates are refused.
    label_of
        Write INPUT (an integer segmentation on the image's voxel grid) as the label
        image labels/NAME of this OME-Zarr image (give --name, no OUTPUT): same levels
        as the image, downsampled by mode (or --method nearest/min/max).
    lut
        With --label-of: BIDS-style TSV lookup table (index, name[, color, ...]) for the
        label colours and properties.
    channel_names
        Channel labels, comma-separated (written as OME "omero" metadata).
    channel_colors
        Channel colours as RRGGBB hex, comma-separated (e.g. 0000FF,00FF00).
    contrast
        Contrast window START,END for every channel, or one per channel separated by
        ';' (auto: measured on a low pyramid level, 0.1-99.9 percentiles). Any of
        the three channel options writes "omero"; unset windows are measured.
    """
    if label_of is not None or lut is not None:
        return convert_labels(input, output, label_of, name, lut, pyramid, layout.driver,
                              max_memory, overwrite, quiet)
    if output is None:
        raise ValueError(
            "convert requires an argument OUTPUT (or --label-of IMAGE --name NAME for labels)"
        )
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    cfg = make_config(layout, levels=pyramid.levels, overwrite=overwrite)
    ome = resolve_ome_version(ome_version, cfg.zarr_version)
    budget = parse_bytes(max_memory) or DEFAULT_MAX_MEMORY
    scale = parse_floats(voxel_size, "--voxel-size")
    space_unit = normalize_unit(unit) if unit is not None else None
    if unit is not None and space_unit not in SPACE_UNITS:
        raise ValueError(
            f"--unit {unit!r} is not a length unit (e.g. micrometer, millimeter, um, mm)"
        )
    options = parse_json_object(storage_options, "--storage-options")
    # --resume accepts an existing output only with a matching run record (checked in
    # convert_volume before anything is written).
    check_output(output, overwrite, [input], options, resume=resume)
    if series == "all":
        n = _verified_series_count(input, cfg, reader, options)
        return write_output(
            output, overwrite, options,
            lambda path: _convert_all_series(
                input, path, replace(cfg, overwrite=False), n, reader=reader,
                pyramid=pyramid, ome_version=ome, max_memory=budget,
                overrides=(scale, space_unit, name), storage_options=options,
                resume=resume, quiet=quiet, scheduler=scheduler,
            ),
        )
    picks = dict(reader=reader, series=series, pattern=pattern)
    ref = InputRef.of(input, driver=cfg.driver, storage_options=options, no_time=cfg.no_time,
                      **picks)
    with (
        open_input(input, driver=cfg.driver, storage_options=options, no_time=cfg.no_time,
                   **picks) as vol,
        scheduler_client(scheduler) as client,
    ):
        _apply_overrides(vol, scale, space_unit, name)
        omero = _omero_options(vol, channel_names, channel_colors, contrast)
        if pyramid.factors is not None:  # checked before anything is written
            parse_factors(pyramid.factors, len(pyramid_axes(vol.ndim, pyramid.no_pyramid_axis)))
        with Reporter(quiet) as reporter:
            res = write_output(
                output, overwrite, options,
                lambda path: convert_volume(
                    # write_output has cleared or set aside the previous store
                    vol, path, replace(cfg, overwrite=False), pyramid=pyramid, ome_version=ome, max_memory=budget,
                    reporter=reporter, storage_options=options, resume=resume,
                    client=client, input_ref=ref, omero=omero,
                ),
            )
            res.output = output
        if not quiet:
            _print_convert_summary(input, vol, res)
    return 0


def _apply_overrides(
    vol: Volume, scale: list[float] | None, space_unit: str | None, name: str | None
) -> None:
    """--voxel-size, --unit and --name over what the input says."""
    if scale is not None:
        nspace = len(vol.space_scale)
        if len(scale) not in (1, nspace):
            raise ValueError(f"--voxel-size needs 1 or {nspace} values, got {len(scale)}")
        vol.space_scale = scale * nspace if len(scale) == 1 else scale
    if space_unit is not None:
        vol.space_unit = space_unit
    if name is not None:
        vol.name = name


def _verified_series_count(
    input: str, cfg: uz.ZarrConfig, reader: str | None, storage_options: dict[str, Any] | None
) -> int:
    """How many series INPUT holds, each opened (and so verified) before anything is
    written or replaced."""
    from .readers import count_series

    n = count_series(input, reader)
    for i in range(n):
        with open_input(input, reader=reader, series=i, driver=cfg.driver,
                        storage_options=storage_options, no_time=cfg.no_time):
            pass
    return n


def _convert_all_series(
    input: str, output: str, cfg: uz.ZarrConfig, n: int, *, reader: str | None,
    pyramid: PyramidOptions, ome_version: str, max_memory: int,
    overrides: tuple[Any, Any, Any], storage_options: dict[str, Any] | None,
    resume: bool, quiet: bool, scheduler: str | None,
) -> int:
    """``--series all``: every image of INPUT as ``OUTPUT/<i>``, in the bioformats2raw
    layout (``bioformats2raw.layout`` on the root, the series list on ``OUTPUT/OME``).

    The ``n`` series were verified by :func:`_verified_series_count`; the root's
    attributes, which say "this is a complete collection", are written last.
    """
    if resume and _exists(output, storage_options):
        root = uz.open_group(output, "r+", driver=cfg.driver, storage_options=storage_options)
    else:
        root = uz.from_config(output, cfg, storage_options=storage_options)
    sub_cfg = replace(cfg, overwrite=False)
    names = [str(i) for i in range(n)]
    with scheduler_client(scheduler) as client:
        for i in range(n):
            ref = InputRef.of(input, driver=cfg.driver, storage_options=storage_options,
                              no_time=cfg.no_time, reader=reader, series=i)
            target = f"{output.rstrip('/')}/{i}"
            with open_input(input, reader=reader, series=i, driver=cfg.driver,
                            storage_options=storage_options, no_time=cfg.no_time) as vol:
                _apply_overrides(vol, *overrides)
                with Reporter(quiet) as reporter:
                    res = convert_volume(
                        vol, target, sub_cfg, pyramid=pyramid, ome_version=ome_version,
                        max_memory=max_memory, reporter=reporter,
                        storage_options=storage_options, resume=resume, client=client,
                        input_ref=ref,
                    )
                if not quiet:
                    _print_convert_summary(f"{input} series {i}", vol, res)
    ome_group = root.require_group("OME")
    if ome_version == "0.4":
        ome_group.attrs.put({"series": names})
        root.attrs.put({**root.attrs.asdict(), "bioformats2raw.layout": 3})
    else:
        ome_group.attrs.put({"ome": {"version": ome_version, "series": names}})
        root.attrs.put({**root.attrs.asdict(),
                        "ome": {"version": ome_version, "bioformats2raw.layout": 3}})
    return 0


def _exists(output: str, storage_options: dict[str, Any] | None) -> bool:
    try:
        uz.open_group(output, "r", storage_options=storage_options)
    except FileNotFoundError:
        return False
    return True


def convert_labels(
    input: str,
    output: str | None,
    image: str | None,
    name: str | None,
    lut: str | None,
    pyramid: PyramidOptions,
    driver: str | None,
    max_memory: str | None,
    overwrite: bool,
    quiet: bool,
) -> int:
    """``convert SEG --label-of IMAGE --name NAME [--lut T]``: see :func:`convert`."""
    from .labels import read_lut, write_labels

    if image is None:
        raise ValueError("--lut needs --label-of IMAGE (and --name NAME)")
    if output is not None:
        raise ValueError(f"--label-of writes into {image}/labels/NAME; drop OUTPUT ({output})")
    if not name:
        raise ValueError("--label-of needs --name NAME (the label image's name)")
    if lut is not None:
        read_lut(lut)  # a bad table is refused before anything else is opened
    budget = parse_bytes(max_memory) or DEFAULT_MAX_MEMORY
    # mean (the image default) would invent label values: labels default to mode.
    method = "mode" if pyramid.method == "mean" else pyramid.method
    root = uz.open_group(image, "r+", driver=driver)
    with open_input(input, driver=driver) as vol:
        scale = None
        if vol.nifti_header is not None:
            scale = list(vol.space_scale)
            image_header = uz.read_nifti_header(root) if "nifti" in root else None
            if image_header is not None and not np.allclose(
                image_header.get_best_affine(), vol.nifti_header.get_best_affine(), atol=1e-4
            ):
                raise ValueError(
                    f"{input} is not on the voxel grid of {image} (their NIfTI affines "
                    "differ); resample the segmentation onto the image first"
                )
        with Reporter(quiet) as reporter:
            with reporter.task("labels", None, unit="blocks") as update:
                group = write_labels(
                    root, name, _RegionSource(vol), lut=lut, method=method,
                    space_scale=scale, overwrite=overwrite, max_memory=budget,
                    progress=lambda done, total: update(completed=done, total=total),
                )
    if not quiet:
        _stdout_console().print(
            f"labels {escape(input)} → {escape(group.url)} "
            f"({len(level_paths(group))} level(s), {method})"
        )
    return 0


# -- info / validate ----------------------------------------------------------------------
@app.command
def info(
    path: str,
    /,
    *,
    json_output: Annotated[bool, Parameter(name="--json", negative="")] = False,
    read: ReadOptions = ReadOptions(),
) -> int:
    """Show a Zarr store: tree, shapes, dtypes, chunks, shards, codecs, sizes, OME / NIfTI.

    Parameters
    ----------
    path
        Zarr group or array (local path or URL).
    json_output
        Print JSON for scripts instead of the tree.
    """
    node = read.open(path)
    desc = describe(node, label=path)
    if json_output:
        print(json.dumps(desc, indent=2))
    else:
        _stdout_console().print(render_tree(desc))
    return 0


@app.command
def validate(
    path: str,
    /,
    *,
    json_output: Annotated[bool, Parameter(name="--json", negative="")] = False,
    read: ReadOptions = ReadOptions(),
) -> int:
    """Check OME-NGFF metadata and the NIfTI-Zarr header; exit 1 when invalid.

    Parameters
    ----------
    path
        OME-Zarr group (local path or URL).
    json_output
        Print the findings as JSON.
    """
    node = read.open(path)
    findings = validate_store(node)
    ok = not any(f["severity"] == "error" for f in findings)
    if json_output:
        print(json.dumps({"path": path, "valid": ok, "findings": findings}, indent=2))
    else:
        _print_findings(path, findings, ok)
    return 0 if ok else EXIT_INVALID


def _print_findings(path: str, findings: list[dict[str, str]], ok: bool) -> None:
    con = _stdout_console()
    marks = {"ok": "[green]✓[/]", "warning": "[yellow]![/]", "error": "[red]✗[/]"}
    for f in findings:
        con.print(f"{marks[f['severity']]} {escape(f['check'])}: {escape(f['message'])}")
    verdict = "[green]valid[/]" if ok else "[red]invalid[/]"
    con.print(f"{escape(path)}: {verdict}")


# -- copy ----------------------------------------------------------------------------------
def _copy_ozx(src: str, dst: str, layout: Layout, ome_version: str, overwrite: bool,
              quiet: bool, remote: bool, copy_dir: Callable[[str], int]) -> bool:
    """``copy`` to or from a zipped OME-Zarr (``.ozx``, RFC-9); ``False`` when neither
    end is one. A plain copy of a local store is packed (or unpacked) byte for byte;
    otherwise the copy is written to a hidden directory beside DST, then packed."""
    from . import ozx

    to_zip, from_zip = ozx.is_ozx(dst), ozx.is_ozx(src)
    if not (to_zip or from_zip):
        return False
    start = time.perf_counter()
    plain = not layout.given() and ome_version == "keep" and not remote
    if to_zip:
        if not _is_local(dst):
            raise ValueError(f"{dst}: .ozx files are written on local disk; copy there first")
        if layout.zarr_version == 2:
            raise ValueError("a .ozx holds a Zarr v3 store (RFC-9); drop --zarr-version 2")
        out = Path(_local_path(dst))
        if out.exists() and not overwrite:
            raise FileExistsError(f"{dst} already exists; pass --overwrite to replace it")
        if out.exists() and not (out.is_file() and "zarr.json" in ozx.entries(out)):
            raise FileExistsError(f"{dst} exists and is not a .ozx archive; remove it first")
        local_src = _is_local(src) and Path(_local_path(src)).is_dir()
        if plain and local_src and (Path(_local_path(src)) / "zarr.json").is_file():
            ozx.pack(_local_path(src), out, overwrite=overwrite)
        else:
            import shutil
            import tempfile

            work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".d", dir=out.parent))
            try:
                copy_dir(str(work / "store.zarr"))
                ozx.pack(work / "store.zarr", out, overwrite=overwrite)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        what = f"packed into {dst} ({len(ozx.entries(out))} entries, RFC-9 order)"
    else:
        if not (plain and _is_local(dst)):
            return False  # read through the zip store like any other source
        check_output(dst, overwrite, [src])
        ozx.unpack(_local_path(src), _local_path(dst), overwrite=overwrite)
        what = f"unpacked into {dst}"
    if not quiet:
        _stdout_console().print(
            f"copied {src} → {what} in {time.perf_counter() - start:.2f} s", markup=False
        )
    return True


@app.command
def copy(
    src: str,
    dst: str,
    /,
    *,
    layout: Layout = Layout(),
    ome_version: Literal["keep", "0.4", "0.5", "0.6"] = "keep",
    max_memory: str | None = None,
    src_storage_options: str | None = None,
    dst_storage_options: str | None = None,
    overwrite: Annotated[bool, Flag] = False,
    quiet: Annotated[bool, Flag] = False,
) -> int:
    """Copy any Zarr (group tree or array) to any Zarr, optionally changing its layout.

    Layout options that are given apply to every image array (2-D or more; the NIfTI
    header array keeps its own); the rest keeps the source's layout. Converting to Zarr v2
    drops shards and moves OME-NGFF 0.5 metadata to 0.4; every OME node copied (images,
    labels, plates, wells) is converted. Group attributes are written last, so an
    interrupted copy never carries complete OME metadata. A DST ending in .ozx is a
    zipped OME-Zarr (RFC-9): the store is packed into it; a SRC ending in .ozx is read
    (or, for a plain copy to a local directory, unpacked).

    Parameters
    ----------
    src
        Source Zarr group or array (local path or URL).
    dst
        Destination (local path or URL).
    ome_version
        OME-NGFF version of the copy's metadata (keep: as the source, 0.4 on Zarr v2).
    max_memory
        Working-memory budget, e.g. 512M or 4GiB (one shard is the floor). [default: 512M]
    src_storage_options
        JSON credentials/endpoint for a remote SRC.
    dst_storage_options
        JSON credentials/endpoint for a remote DST.
    overwrite
        Replace DST if it exists.
    quiet
        No progress bar and no summary.
    """
    budget = parse_bytes(max_memory) or DEFAULT_MAX_MEMORY
    src_opts = parse_json_object(src_storage_options, "--src-storage-options")
    dst_opts = parse_json_object(dst_storage_options, "--dst-storage-options")
    # .ozx at either end: pack / unpack (a converting copy goes through a directory)
    if _copy_ozx(
        src, dst, layout, ome_version, overwrite, quiet, bool(src_opts or dst_opts),
        lambda work: copy(
            src, work, layout=replace(layout, zarr_version=layout.zarr_version or 3),
            ome_version=ome_version, max_memory=max_memory,
            src_storage_options=src_storage_options, quiet=True,
        ),
    ):
        return 0
    check_output(dst, overwrite, [src], dst_opts)
    start = time.perf_counter()
    source = open_zarr(src, "r", driver=layout.driver, storage_options=src_opts)
    version = layout.zarr_version or source.zarr_version
    layout = replace(layout, zarr_version=version)
    cfg = make_config(layout, overwrite=overwrite) if layout.given() else None
    if ome_version in ("0.5", "0.6") and version == 2:
        raise ValueError(f"--ome-version {ome_version} needs a Zarr v3 destination "
                         "(--zarr-version 3)")
    plan = plan_copy(source, version, cfg, given=layout.given(),
                     ome_version=None if ome_version == "keep" else ome_version)
    with Reporter(quiet) as reporter:
        total = sum(item.nbytes for item in plan.arrays)
        with reporter.task("copy", total) as update:
            try:
                stored = write_output(dst, overwrite, dst_opts, lambda path: _stored(copy_tree(
                    plan, path,
                    driver=layout.driver,
                    overwrite=False,  # write_output cleared or set aside the previous DST
                    ome_version=None if ome_version == "keep" else ome_version,
                    storage_options=dst_opts,
                    write=lambda source_array, target: write_level(
                        source_array.__getitem__, target, update, budget
                    ),
                )))
            except Interrupted:
                raise
            except KeyboardInterrupt:
                raise Interrupted(
                    f"interrupted; {dst} is incomplete (its group attributes were not "
                    "written): copy again with --overwrite"
                ) from None
    if not quiet:
        _stdout_console().print(
            f"copied {src} → {dst}: {len(plan.arrays)} array(s), {len(plan.groups)} group(s), "
            f"{human_bytes(total)} logical, {human_bytes(stored)} stored "
            f"(Zarr v{version}) in {time.perf_counter() - start:.2f} s",
            markup=False,
        )
    return 0


def _stored(arrays: list[uz.ZarrArray]) -> int:
    """Stored bytes of the copied arrays (measured before a local swap moves them)."""
    return sum(a.nbytes_stored for a in arrays)


# -- preview -----------------------------------------------------------------------------
@app.command
def preview(
    path: str,
    /,
    *,
    output: Annotated[str, Parameter(name=["--output", "-o"])] = "preview.png",
    level: int = 0,
    time_index: Annotated[int, Parameter(name="--time")] = 0,
    channel: int = 0,
    percentiles: str = "1,99.5",
    zoom: int = 1,
    read: ReadOptions = ReadOptions(),
) -> int:
    """Write a PNG of the orthogonal mid-slices of an OME-Zarr level.

    Panels, left to right: axial (z mid: y by x), coronal (y mid: z by x), sagittal
    (x mid: z by y); anisotropic voxels are stretched to their physical aspect. NIfTI
    images are shown with anterior/superior up; other images with row 0 at the top.

    Parameters
    ----------
    path
        OME-Zarr group or Zarr array (local path or URL).
    output
        PNG file to write.
    level
        Pyramid level (0 is full resolution).
    time_index
        Time point of a 4-/5-D image.
    channel
        Channel of an image with channels.
    percentiles
        Low,high intensity percentiles mapped to black and white.
    zoom
        Integer magnification of the PNG.
    """
    try:
        low_high = tuple(float(p) for p in percentiles.split(","))
    except ValueError:
        low_high = ()
    if len(low_high) != 2 or not 0 <= low_high[0] < low_high[1] <= 100:
        raise ValueError(
            f"--percentiles takes LOW,HIGH with 0 <= LOW < HIGH <= 100, got {percentiles!r}"
        )
    if zoom < 1:
        raise ValueError(f"--zoom must be a positive int, got {zoom}")
    node = read.open(path)
    image = render_preview(node, level=level, time=time_index, channel=channel,
                           percentiles=low_high, zoom=zoom)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    image.save(output, format="PNG")
    _stdout_console().print(f"wrote {output} ({image.width}×{image.height})", markup=False)
    return 0


# -- serve / view ---------------------------------------------------------------------------
def _catch_ctrl_c() -> None:
    """Make Ctrl-C (SIGINT) and SIGTERM raise ``KeyboardInterrupt`` here, even when a
    shell started us with SIGINT ignored (background jobs)."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def _run_until_ctrl_c(stop: Callable[[], None], announce: Callable[[], None]) -> int:
    """``announce()`` then block until Ctrl-C, then ``stop()``: stopping a server is the
    normal end of ``serve``/``view``, so it exits 0 after printing ``stopped``."""
    try:
        announce()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()
        print("stopped", file=sys.stderr, flush=True)
        return 0


def _bind_warning(bind: str) -> None:
    from .serve import is_loopback

    if not is_loopback(bind):
        print(f"warning: listening on {bind}, not only loopback: other machines can read "
              "the store", file=sys.stderr)


@app.command
def serve(
    store: str,
    /,
    *,
    port: int = 0,
    bind: str = "127.0.0.1",
    read: ReadOptions = ReadOptions(),
    verbose: Annotated[bool, Flag] = False,
) -> int:
    """Serve a Zarr store over HTTP for web viewers (CORS, byte ranges) until Ctrl-C.

    Prints the store's URL and links that open it in Neuroglancer, the OME-NGFF
    validator and vizarr. Never serves a file outside the store. A remote store (s3://,
    gs://, http(s)://) is proxied through unizarr's storage layer. Ctrl-C stops the
    server and exits 0.

    Parameters
    ----------
    store
        Zarr store: a local directory or a URL.
    port
        TCP port (0: any free port).
    bind
        Address to listen on; anything but loopback exposes the store to the network.
    verbose
        Log every request on stderr.
    """
    from .serve import serve as start, viewer_links

    options = parse_json_object(read.storage_options, "--storage-options")
    node = open_zarr(store, "r", driver=read.driver, storage_options=options)
    name = re.sub(r"(\.ome)?\.zarr/?$", "", store.rstrip("/")).rsplit("/", 1)[-1] or "image"
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if verbose else None
    _catch_ctrl_c()
    handle = start(store, port=port, bind=bind, storage_options=options, log=log)

    def announce() -> None:
        _bind_warning(bind)
        print(f"serving {store} at {handle.url} (Ctrl-C to stop)", flush=True)
        for viewer, url in viewer_links(handle.url, name, node.zarr_version).items():
            print(f"{viewer}: {url}", flush=True)
        print(f"offline: unizarr view {store}", flush=True)

    return _run_until_ctrl_c(handle.stop, announce)


@app.command
def view(
    store: str,
    /,
    *,
    no_browser: Annotated[bool, Flag] = False,
    port: int = 0,
    bind: str = "127.0.0.1",
    print_state: Annotated[bool, Flag] = False,
    read: ReadOptions = ReadOptions(),
) -> int:
    """Show an OME-Zarr in the Neuroglancer client bundled with `unizarr[view]`, offline.

    One image layer per multiscale image (dimensions and units from the OME axes;
    NIfTI-Zarr: the header's affine), channels as a channel dimension, a contrast
    window from the smallest level, labels as segmentation layers. Runs until Ctrl-C
    (exit 0). Images the bundled client cannot read are streamed from Python, with a
    warning.

    Parameters
    ----------
    store
        OME-Zarr group: a local directory or a URL.
    no_browser
        Only print the URL; do not open a browser.
    port
        Port of the viewer page (0: any free port).
    bind
        Address to listen on; anything but loopback exposes the store to the network.
    print_state
        Print the Neuroglancer state JSON and exit (no server). A remote store's sources
        are its own s3:// / gs:// / https:// URL (a hosted Neuroglancer opens the same
        view); a local store's point at `unizarr serve STORE --port PORT` (8000 when
        --port is 0).
    """
    import warnings

    from .view import remote_source_url, store_images, view as start, viewer_state

    options = parse_json_object(read.storage_options, "--storage-options")
    if print_state:
        _, images = store_images(store, storage_options=options, driver=read.driver)
        base = remote_source_url(store) or f"http://127.0.0.1:{port or 8000}/"
        print(json.dumps(viewer_state(images, base), indent=2))
        return 0
    _catch_ctrl_c()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handle = start(store, port=port, bind=bind, storage_options=options,
                       driver=read.driver, open_browser=not no_browser)

    def announce() -> None:
        _bind_warning(bind)
        for note in handle.warnings:
            print(f"warning: {note}", file=sys.stderr, flush=True)
        print(f"store: {handle.server.url}", flush=True)
        print(f"viewer: {handle.url} (Ctrl-C to stop)", flush=True)

    return _run_until_ctrl_c(handle.stop, announce)


# -- demo -------------------------------------------------------------------------------------
def demo_sample() -> Path:
    """The sample NIfTI of ``unizarr demo``, shipped inside nibabel's test data."""
    import nibabel

    sample = Path(nibabel.__file__).parent / "tests" / "data" / DEMO_SAMPLE
    if not sample.is_file():
        raise FileNotFoundError(
            f"nibabel's sample volume {sample} is missing (is nibabel installed with its "
            "test data?)"
        )
    return sample


@app.command
def demo(
    output: str = "unizarr-demo.ome.zarr",
    /,
    *,
    preview_png: Annotated[str | None, Parameter(name="--preview")] = None,
    driver: Driver = "zarr-python",
    zarr_version: Literal[2, 3] = 3,
    quiet: Annotated[bool, Flag] = False,
) -> int:
    """Convert a real MRI volume shipped with nibabel to OME-Zarr, show it, preview it.

    No network. Replaces OUTPUT when it is a Zarr store (refuses anything else), prints
    `unizarr info`, validates the result, checks the voxels against nibabel with every
    driver, and writes a preview PNG.

    Parameters
    ----------
    output
        Where to write the OME-Zarr.
    preview_png
        Preview PNG path. [default: OUTPUT's name with -preview.png]
    driver
        Engine that writes the OME-Zarr.
    zarr_version
        Zarr format of the output.
    quiet
        No progress bar.
    """
    import nibabel as nib

    sample = demo_sample()
    if _is_local(output) and os.path.lexists(output) and not is_zarr_dir(output):
        raise FileExistsError(f"{output} exists and is not a Zarr store; choose another OUTPUT")
    if output_exists(output):
        check_replaceable(output)  # and nothing foreign in it
    layout = Layout(driver=driver, zarr_version=zarr_version, chunk="16",
                    shard="32" if zarr_version == 3 else None)
    cfg = make_config(layout, overwrite=True)
    ome = resolve_ome_version("auto", zarr_version)
    con = _stdout_console()
    con.print(f"sample: {sample} (nibabel test data, no network)", markup=False)
    with open_input(sample) as vol, Reporter(quiet) as reporter:
        res = convert_volume(vol, output, cfg, pyramid=PyramidOptions(), ome_version=ome,
                             max_memory=DEFAULT_MAX_MEMORY, reporter=reporter)
    _print_convert_summary(str(sample.name), vol, res)
    con.print()
    root = uz.open_group(output, "r", driver=driver)
    con.print(render_tree(describe(root, label=output)))
    con.print()
    findings = validate_store(root)
    ok = not any(f["severity"] == "error" for f in findings)
    _print_findings(output, findings, ok)
    expected = np.asarray(nib.load(sample).dataobj.get_unscaled()).transpose(2, 1, 0)
    for name in uz.drivers():
        got = uz.open_array(os.path.join(output, "0") if _is_local(output) else f"{output}/0",
                            "r", driver=name)[...]
        same = got.shape == expected.shape and bool(np.array_equal(got, expected))
        con.print(f"{'✓' if same else '✗'} level 0 read with {name} equals the NIfTI voxels"
                  f"{'' if same else ' - MISMATCH'}", markup=False)
        ok = ok and same
    png = preview_png or re.sub(r"(\.ome)?\.zarr/?$", "", output.rstrip("/")) + "-preview.png"
    image = render_preview(root, zoom=4)
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    image.save(png, format="PNG")
    con.print(f"preview: {png} ({image.width}×{image.height})", markup=False)
    return 0 if ok else EXIT_INVALID


# -- entry point ---------------------------------------------------------------------------
def _quiet_teardown() -> None:
    """After an error has been reported, silence the engines' teardown noise.

    A failed or interrupted read leaves zarr-python's sibling I/O tasks pending in its
    event loop; when the interpreter closes that loop, asyncio logs "Task was destroyed
    but it is pending!", and Python prints "Exception ignored in ..." and "coroutine
    ... was never awaited" for each one - pages of text after the one line that matters.
    """
    import logging
    import warnings

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    sys.unraisablehook = lambda unraisable: None
    warnings.simplefilter("ignore")  # "coroutine ... was never awaited" at shutdown


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``unizarr`` command; returns the exit code (see the module docstring)."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in tokens
    tokens = [t for t in tokens if t != "--debug"]
    try:
        command, bound, _ = app.parse_args(tokens, print_error=False, exit_on_error=False)
    except CycloptsError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        result = command(*bound.args, **bound.kwargs)
    except BrokenPipeError:
        # stdout closed early (`unizarr info x | head`): not worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1  # what Python itself exits with on EPIPE
    except KeyboardInterrupt as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {_one_line(exc) if str(exc) else 'interrupted'}", file=sys.stderr)
        _quiet_teardown()
        return EXIT_INTERRUPTED
    except USER_ERRORS as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        _quiet_teardown()
        return EXIT_USER_ERROR
    except Exception as exc:  # a bug: still one line, the traceback on request
        if debug:
            traceback.print_exc()
        print(
            f"error: internal error ({type(exc).__name__}: {_one_line(exc)}); "
            "rerun with --debug for the traceback",
            file=sys.stderr,
        )
        _quiet_teardown()
        return EXIT_INTERNAL_ERROR
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
