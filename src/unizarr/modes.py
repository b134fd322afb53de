"""The r / r+ / a / w / w- table as code, shared by every driver."""

from __future__ import annotations

from enum import Enum

MODES = ("r", "r+", "a", "w", "w-")


class Action(Enum):
    """What opening a node in a given mode does."""

    OPEN = "open"
    CREATE = "create"
    REPLACE = "replace"


def check_mode(mode: object) -> str:
    """Return ``mode`` if it is one of :data:`MODES`, else raise ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return str(mode)


def is_writable(mode: str) -> bool:
    """Every mode but ``"r"`` allows writes."""
    return mode != "r"


def plan_open(mode: str, exists: bool, what: str) -> Action:
    """Decide what opening does, or raise as the mode table says.

    Raises
    ------
    FileNotFoundError
        ``r``/``r+`` and the node does not exist.
    FileExistsError
        ``w-`` and the node exists.
    """
    check_mode(mode)
    if mode in ("r", "r+"):
        if not exists:
            raise FileNotFoundError(f"no Zarr node at {what} (mode {mode!r} needs one)")
        return Action.OPEN
    if mode == "a":
        return Action.OPEN if exists else Action.CREATE
    if mode == "w":
        return Action.REPLACE if exists else Action.CREATE
    if exists:
        raise FileExistsError(f"{what} already exists (mode 'w-'); use mode='w' to replace it")
    return Action.CREATE


def child_mode(mode: str) -> str:
    """Mode of handles derived from a parent (members, pickled copies): never re-deletes."""
    return "r" if mode == "r" else "r+"
