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

import json
import math
import os
import re
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

from .convert import (
    DEFAULT_MAX_MEMORY,
    ConvertResult,
    PyramidSettings,
    convert_volume,
    resolve_ome_version,
)
from .convert import (
    convert_labels as library_convert_labels,
)
from .errors import UnizarrError
from .io import open_input
from .io.blockwise import copy_blocks
from .io.preview import render_preview
from .io.report import describe, human_bytes, render_tree, validate_store
from .io.tree_copy import copy_tree, plan_copy
from .io.volume import aligned_chunks
from .io.zarr import is_zarr_dir, open_zarr
from .layout import parse_json_object as _json_object
from .ome import level_paths
from .output_guard import check_replaceable, output_exists
from .outputs import Interrupted, _is_local, _local_path, check_output, write_output
from .readers.library_log import library_messages
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

def _print_convert_summary(src: str, res: ConvertResult) -> None:
    con = _stdout_console()
    ratio = res.nbytes / res.nbytes_stored if res.nbytes_stored else float("nan")
    shapes = " → ".join("×".join(map(str, s)) for s in res.shapes)
    extra = " + NIfTI-Zarr header" if res.nifti else ""
    con.print(
        f"converted {escape(src)} ({escape(res.input_format)}) → {escape(res.output)}\n"
        f"  {len(res.shapes)} level(s) {shapes} ({', '.join(res.axes)}) {res.dtype}, "
        f"OME-NGFF {res.ome_version}{extra}\n"
        f"  {human_bytes(res.nbytes)} logical, {human_bytes(res.nbytes_stored)} stored "
        f"({ratio:.2f}×) in {res.seconds:.2f} s"
    )
    if res.resumed == "verified":
        con.print("  (--resume: the conversion had completed with this input and these "
                  "options; its blocks were checked, nothing else to do)", markup=False)
    con.print(escape(_voxel_size_line(res)))


def _voxel_size_line(res: ConvertResult) -> str:
    """The voxel size and unit written, and a warning when the input gave no unit
    (then the sizes are unizarr's placeholders, not physical ones)."""
    names = [a for a in res.axes if a in ("z", "y", "x")]
    sizes = " × ".join(f"{s:g}" for s in res.space_scale)
    if res.space_unit:
        return f"  voxel size ({', '.join(names)}): {sizes} {res.space_unit}"
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
    with (
        library_messages() as notes,  # the input libraries' log lines: to the summary
        Reporter(quiet) as reporter,
        reporter.task("level 0 + pyramid", None, unit="blocks") as update,
    ):
        res = uz.convert(
            input, output, config=cfg, method=pyramid.method,
            no_pyramid_axis=pyramid.no_pyramid_axis, sampling=pyramid.sampling,
            factors=pyramid.factors, ome_version=ome_version,
            voxel_size=parse_floats(voxel_size, "--voxel-size"), unit=unit, name=name,
            max_memory=parse_bytes(max_memory),
            storage_options=parse_json_object(storage_options, "--storage-options"),
            overwrite=overwrite, resume=resume, scheduler=scheduler, reader=reader,
            series=series, pattern=pattern, channel_names=channel_names,
            channel_colors=channel_colors, contrast=contrast,
            progress=lambda done, total: update(completed=done, total=total),
        )
    if not quiet:
        for i, one in enumerate(res.series or [res]):
            _print_convert_summary(f"{input} series {i}" if res.series else input, one)
        for note in notes:
            print(f"  note from {note}")
    return 0


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
    if image is None:
        raise ValueError("--lut needs --label-of IMAGE (and --name NAME)")
    if output is not None:
        raise ValueError(f"--label-of writes into {image}/labels/NAME; drop OUTPUT ({output})")
    if not name:
        raise ValueError("--label-of needs --name NAME (the label image's name)")
    budget = parse_bytes(max_memory)
    # mean (the image default) would invent label values: labels default to mode.
    method = "mode" if pyramid.method == "mean" else pyramid.method
    with Reporter(quiet) as reporter, reporter.task("labels", None, unit="blocks") as update:
        group = library_convert_labels(
            input, image, name, lut=lut, method=method, driver=driver,
            max_memory=budget, overwrite=overwrite,
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
    from .serve import serve as start
    from .serve import viewer_links

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

    from .view import remote_source_url, store_images, viewer_state
    from .view import view as start

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
    with (
        open_input(sample) as vol,
        Reporter(quiet) as reporter,
        reporter.task("level 0 + pyramid", None, unit="blocks") as update,
    ):
        res = convert_volume(vol, output, cfg, pyramid=PyramidSettings(), ome_version=ome,
                             max_memory=DEFAULT_MAX_MEMORY,
                             progress=lambda done, total: update(completed=done, total=total))
    _print_convert_summary(str(sample.name), res)
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
