"""The README's Python code runs as written, and the docs' install instructions are
ones that work while unizarr is not on a package index.

The ``python`` blocks run in order in one fresh interpreter (a reader following the
README top to bottom: later blocks use names of earlier ones), in an empty directory
holding the one input they name, ``brain.nii.gz`` (a small real NIfTI written here). A
block whose first line is ``# readme-test: skip (why)`` is not run; only blocks that
need a cloud bucket or a cluster may say so.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SKIP = re.compile(r"^# readme-test: skip \((.+)\)$")
#: What a skipped block may need: nothing else justifies not running it.
ALLOWED_REASONS = ("S3", "cluster", "SLURM")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, source) of every fenced ``python`` block."""
    blocks = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        blocks.append((text[: m.start()].count("\n") + 2, m.group(1)))
    return blocks


def test_readme_python_blocks_run(tmp_path: Path) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 6
    run, skipped = [], []
    for line, source in blocks:
        m = SKIP.match(source.splitlines()[0])
        if m:
            skipped.append((line, m[1]))
        else:
            run.append((line, source))
    # the list of blocks that are not run stays tiny, each for a stated reason
    assert len(skipped) <= 3, skipped
    assert all(any(r in why for r in ALLOWED_REASONS) for _, why in skipped), skipped
    data = np.random.default_rng(0).integers(0, 3000, (144, 160, 128)).astype("int16")
    image = nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.2, 1.0]))
    image.header.set_xyzt_units("mm")
    nib.save(image, tmp_path / "brain.nii.gz")
    script = "\n".join(
        f"print('README block at line {line}', flush=True)\n"
        f"exec(compile({source!r}, 'README.md:{line}', 'exec'))"
        for line, source in run
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    # what the blocks say they do, on disk
    assert (tmp_path / "out.zarr" / "0").is_dir() and (tmp_path / "other.zarr").is_dir()
    assert (tmp_path / "brain.ome.zarr" / "nifti").is_dir()
    assert "blocks" in proc.stdout  # the progress callback of the convert example


INSTALL = re.compile(r"pip install\s+(['\"]?)(unizarr[^\s'\"`]*)(?:\1)?([^`\n]*)")


def test_install_instructions_do_not_name_an_unpublished_package() -> None:
    """``pip install unizarr`` (or ``unizarr[extra]``) fails while unizarr is not on an
    index: the docs install from a checkout (``-e .``) or a git URL instead."""
    docs = [README, *sorted((ROOT / "docs").glob("*.md"))]
    bad = []
    for path in docs:
        for n, text in enumerate(path.read_text().splitlines(), 1):
            for m in INSTALL.finditer(text):
                if "@ git+" not in m[0]:
                    bad.append(f"{path.name}:{n}: {m[0].strip()}")
    assert not bad, bad
    readme = README.read_text()
    assert "pip install -e ." in readme and "make venv" in readme
