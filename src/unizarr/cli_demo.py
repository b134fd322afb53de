"""``unizarr demo``: convert a real MRI volume that ships with nibabel to OME-Zarr,
show it, validate it, check its voxels with every driver and preview it (no network)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from cyclopts import Parameter

import unizarr as uz

from .cli_options import Driver, Flag, Layout, make_config
from .cli_progress import Reporter
from .cli_render import print_convert_summary, print_findings, stdout_console
from .io.preview import render_preview
from .io.report import describe, render_tree, validate_store
from .output_guard import check_replaceable, output_exists
from .outputs import _is_local
from .readers.zarr_store import is_zarr_dir

#: Sample volume of ``unizarr demo``: a real T1-weighted MRI slab that nibabel ships.
DEMO_SAMPLE = "anatomical.nii"
#: Exit code when the demo's output is not valid or its voxels differ.
EXIT_INVALID = 1


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
    con = stdout_console()
    con.print(f"sample: {sample} (nibabel test data, no network)", markup=False)
    with (
        Reporter(quiet, "demo") as reporter,
        reporter.task("level 0 + pyramid", None, unit="blocks") as update,
    ):
        res = uz.convert(str(sample), output, config=cfg, overwrite=True,
                         progress=lambda done, total: update(completed=done, total=total))
    print_convert_summary(str(sample.name), res)
    con.print()
    root = uz.open_group(output, "r", driver=driver)
    con.print(render_tree(describe(root, label=output)))
    con.print()
    findings = validate_store(root)
    ok = not any(f["severity"] == "error" for f in findings)
    print_findings(output, findings, ok)
    image_file: Any = nib.load(sample)  # nibabel's stubs lack ``dataobj``
    expected = np.asarray(image_file.dataobj.get_unscaled()).transpose(2, 1, 0)
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
