"""The adversarial suite: each case tries what a careless or unlucky user would, and
asserts the state of the disk (file hashes) as well as the error.

Fixtures ``driver`` and ``zarr_version`` (root conftest) parametrise every behaviour case
over driver x Zarr version.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest


def tree_hashes(root: str | os.PathLike) -> dict[str, str]:
    """sha256 of every file under ``root`` (symlinks recorded by target, never followed),
    keyed by relative path; empty directories recorded as ``"<dir>"``."""
    root = Path(root)
    out: dict[str, str] = {}
    if not root.exists() and not root.is_symlink():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        rel = base.relative_to(root)
        if not dirnames and not filenames and base != root:
            out[str(rel)] = "<dir>"
        for name in dirnames + filenames:
            p = base / name
            key = str(rel / name) if str(rel) != "." else name
            if p.is_symlink():
                out[key] = "-> " + os.readlink(p)
            elif p.is_file():
                out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def hashes():
    """``hashes(path)`` -> the tree's file hashes (see :func:`tree_hashes`)."""
    return tree_hashes
