"""What the ``unizarr`` command prints on stdout: the summaries of ``convert`` and
``copy`` and the findings of ``validate`` (rendered from the library's results)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

from .convert import ConvertResult
from .copy import CopyResult
from .io.report import human_bytes


def stdout_console() -> Console:
    """The console of results (stdout)."""
    # Piped output keeps whole lines (rich would crop trees at 80 columns).
    width = None if sys.stdout.isatty() else 1000
    return Console(soft_wrap=True, highlight=False, width=width)


def print_convert_summary(src: str, res: ConvertResult) -> None:
    """What ``convert`` wrote: levels, sizes, time, reuse after ``--resume``, voxel size."""
    con = stdout_console()
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
    if res.level_blocks:
        con.print(resume_line(res), markup=False)
    con.print(escape(_voxel_size_line(res)))


def resume_line(res: ConvertResult) -> str:
    """After ``--resume``: the write blocks (and bytes) kept from the earlier run versus
    those this run wrote, in total and per level."""
    total, kept, wrote = sum(res.level_blocks), sum(res.reused_blocks), sum(res.written_blocks)
    per_level = ", ".join(
        f"{i}: {k}/{w}/{n}"
        for i, (k, w, n) in enumerate(zip(res.reused_blocks, res.written_blocks, res.level_blocks))
    )
    fill = total - kept - wrote
    return (f"  --resume: reused {kept} blocks ({human_bytes(sum(res.reused_bytes))}) stored "
            f"by the earlier run, wrote {wrote}, of {total} blocks"
            f"{f' ({fill} hold only the fill value: not stored)' if fill else ''}; "
            f"reused/written/all per level {per_level}")


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


def print_findings(path: str, findings: list[dict[str, str]], ok: bool) -> None:
    """``validate``'s findings, one line each, then the verdict."""
    con = stdout_console()
    marks = {"ok": "[green]✓[/]", "warning": "[yellow]![/]", "error": "[red]✗[/]"}
    for f in findings:
        con.print(f"{marks[f['severity']]} {escape(f['check'])}: {escape(f['message'])}")
    verdict = "[green]valid[/]" if ok else "[red]invalid[/]"
    con.print(f"{escape(path)}: {verdict}")


def copy_summary(res: CopyResult) -> str:
    """The one line ``copy`` prints (a .ozx pack or unpack says so)."""
    took = f"in {res.seconds:.2f} s"
    if res.ozx == "packed":
        return (f"copied {res.src} → packed into {res.dst} ({res.ozx_entries} entries, "
                f"RFC-9 order) {took}")
    if res.ozx == "unpacked":
        return f"copied {res.src} → unpacked into {res.dst} {took}"
    return (f"copied {res.src} → {res.dst}: {res.arrays} array(s), {res.groups} group(s), "
            f"{human_bytes(res.nbytes)} logical, {human_bytes(res.nbytes_stored)} stored "
            f"(Zarr v{res.zarr_version}) {took}")
