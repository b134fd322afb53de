"""The ``unizarr`` command: ``convert``, ``info``, ``validate``, ``copy``, ``preview``,
``serve``, ``view``, ``demo``.

Thin by design: each command parses its options (:mod:`unizarr.cli_options`), calls the
library (``uz.convert``, ``uz.copy``, ``describe``, ``validate_store``, ...) and renders
the result (:mod:`unizarr.cli_render`). Progress goes to stderr
(:mod:`unizarr.cli_progress`: bars on a terminal, periodic log lines otherwise),
results to stdout. ``serve``/``view`` and ``demo`` live in :mod:`unizarr.cli_serve` and
:mod:`unizarr.cli_demo`.

Exit codes: 0 success; 1 ``validate`` found problems (or stdout was closed early, as by
``| head``); 2 a user error (missing input, unreadable format, existing output, bad
option value); 3 an unexpected internal error; 130 interrupted (Ctrl-C; ``serve`` and
``view`` exit 0 on Ctrl-C, their normal end). Errors are one
line on stderr (``error: ...``); ``--debug`` (anywhere on the command line) adds the
Python traceback.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from cyclopts import App, Parameter
from cyclopts.exceptions import CycloptsError
from rich.markup import escape

import unizarr as uz

from .cli_demo import demo
from .cli_options import (
    Flag,
    Layout,
    PyramidOptions,
    ReadOptions,
    make_config,
    parse_bytes,
    parse_floats,
    parse_json_object,
)
from .cli_progress import Reporter
from .cli_render import copy_summary, print_convert_summary, print_findings, stdout_console
from .cli_serve import serve, view
from .convert import (
    MemoryBudgetWarning,
)
from .convert import (
    convert_labels as library_convert_labels,
)
from .errors import UnizarrError
from .io.preview import render_preview
from .io.report import describe, render_tree, validate_store
from .ome import level_paths
from .readers.library_log import library_messages

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

app = App(
    name="unizarr",
    help=(
        "Convert images to OME-Zarr (Zarr v2/v3, sharded) and inspect Zarr stores, "
        "through zarr-python or TensorStore.\n\n"
        "Add --debug anywhere to see Python tracebacks of errors."
    ),
    version=uz.__version__,
)


# -- errors ------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = " ".join(str(msg).split())  # one line, whatever the exception text held
    return msg or type(exc).__name__



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
        Reporter(quiet, "convert") as reporter,
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
            print_convert_summary(f"{input} series {i}" if res.series else input, one)
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
    with Reporter(quiet, "convert") as reporter, reporter.task("labels", None, unit="blocks") as update:
        group = library_convert_labels(
            input, image, name, lut=lut, method=method, driver=driver,
            max_memory=budget, overwrite=overwrite,
            progress=lambda done, total: update(completed=done, total=total),
        )
    if not quiet:
        stdout_console().print(
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
        stdout_console().print(render_tree(desc))
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
        print_findings(path, findings, ok)
    return 0 if ok else EXIT_INVALID



# -- copy ----------------------------------------------------------------------------------
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
    options = dict(
        driver=layout.driver, zarr_version=layout.zarr_version, ome_version=ome_version,
        max_memory=parse_bytes(max_memory),
        src_storage_options=parse_json_object(src_storage_options, "--src-storage-options"),
        dst_storage_options=parse_json_object(dst_storage_options, "--dst-storage-options"),
        overwrite=overwrite, **layout.copy_options(),
    )
    with Reporter(quiet, "copy") as reporter, reporter.task("copy", None) as update:
        res = uz.copy(src, dst, **options,
                      progress=lambda done, total: update(completed=done, total=total))
    if not quiet:
        stdout_console().print(copy_summary(res), markup=False)
    return 0



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
    stdout_console().print(f"wrote {output} ({image.width}×{image.height})", markup=False)
    return 0


# serve, view and demo live in modules of their own (they start servers, or run a
# whole walkthrough); registered here so that ``unizarr --help`` lists them in order.
app.command(serve)
app.command(view)
app.command(demo)


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


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A :class:`MemoryBudgetWarning` as one ``warning: ...`` line (Python's own form
    adds the file, line and source line); other warnings as Python shows them."""
    if issubclass(category, MemoryBudgetWarning):
        print(f"warning: {message}", file=sys.stderr, flush=True)
    else:
        _PYTHON_SHOWWARNING(message, category, *args, **kwargs)


_PYTHON_SHOWWARNING = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``unizarr`` command; returns the exit code (see the module docstring)."""
    warnings.showwarning = _show_warning
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
