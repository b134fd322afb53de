"""Small helpers for tests."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(root: str | os.PathLike) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: compare before/after to prove that a
    refused operation changed nothing on disk."""
    root = Path(root)
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
