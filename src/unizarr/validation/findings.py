"""Findings of the OME-NGFF judge and the :class:`Judge` that collects them for one node.

A broken MUST is an ``"error"``, a broken SHOULD a ``"warning"``; each names the node
path and the field (``multiscales[0].axes[1].unit``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One broken rule: ``severity`` is ``"error"`` (MUST) or ``"warning"`` (SHOULD)."""

    severity: str
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path or '/'}: {self.field}" if self.field else (self.path or "/")
        return f"{self.severity}: {where}: {self.message}"


def errors(findings: list[Finding]) -> list[Finding]:
    """The findings that make a document invalid."""
    return [f for f in findings if f.severity == "error"]


def kind_of(value: Any) -> str:
    """A JSON value's type as the messages name it (``"an array"``, ``"null"``, ...)."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def join(field: str, key: str) -> str:
    """The field path of ``key`` inside ``field`` (``""`` is the document itself)."""
    return f"{field}.{key}" if field else key


class Judge:
    """Collects findings for one node; ``field`` paths are built by the callers."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []

    def error(self, field: str, message: str) -> None:
        self.findings.append(Finding("error", self.path, field, message))

    def warn(self, field: str, message: str) -> None:
        self.findings.append(Finding("warning", self.path, field, message))

    # -- JSON type helpers: each reports and returns whether the value has the type
    def is_list(self, value: Any, field: str, min_items: int = 0) -> bool:
        if not isinstance(value, list):
            self.error(field, f"must be an array, got {kind_of(value)}")
            return False
        if len(value) < min_items:
            self.error(field, f"must have at least {min_items} item(s), got {len(value)}")
            return False
        return True

    def is_dict(self, value: Any, field: str) -> bool:
        if not isinstance(value, Mapping):
            self.error(field, f"must be an object, got {kind_of(value)}")
            return False
        return True

    def is_str(self, value: Any, field: str) -> bool:
        if not isinstance(value, str):
            self.error(field, f"must be a string, got {kind_of(value)}")
            return False
        return True

    def is_int(self, value: Any, field: str, minimum: int | None = None) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(field, f"must be an integer, got {kind_of(value)}")
            return False
        if minimum is not None and value < minimum:
            self.error(field, f"must be >= {minimum}, got {value}")
            return False
        return True

    def is_number(self, value: Any, field: str) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(field, f"must be a number, got {kind_of(value)}")
            return False
        return True

    def numbers(self, value: Any, field: str, length: int | None = None) -> bool:
        if not self.is_list(value, field, 1):
            return False
        if not all(self.is_number(v, f"{field}[{i}]") for i, v in enumerate(value)):
            return False
        if length is not None and len(value) != length:
            self.error(field, f"must have {length} values (one per axis), got {len(value)}")
            return False
        return True

    def objects(self, items: list[Any], field: str) -> Iterator[tuple[str, Any]]:
        """The items of the array ``items`` that are objects, each with its field path
        (``field[i]``); every other item is reported as it comes."""
        for i, item in enumerate(items):
            f = f"{field}[{i}]"
            if self.is_dict(item, f):
                yield f, item

    def strings(self, value: Any, field: str, min_items: int = 0) -> None:
        """An array of strings (``labels``, bioformats2raw ``series``)."""
        if self.is_list(value, field, min_items):
            for i, item in enumerate(value):
                self.is_str(item, f"{field}[{i}]")

    def required(self, obj: Mapping[str, Any], key: str, field: str) -> bool:
        if key not in obj:
            self.error(join(field, key), "is required but missing")
            return False
        return True

    def required_list(self, obj: Mapping[str, Any], key: str, field: str,
                      min_items: int = 1) -> bool:
        """``obj[key]`` exists and is an array of at least ``min_items`` items."""
        return self.required(obj, key, field) and self.is_list(
            obj[key], join(field, key), min_items
        )

    def one_of_value_or_path(self, t: Mapping[str, Any], kind: str, param: str,
                             field: str) -> bool:
        """A transformation carries its values inline (``param``) or in an array
        (``path``), exactly one of the two; returns whether they are inline."""
        if (param in t) == ("path" in t):
            self.error(field, f"a {kind} needs exactly one of {param!r} or 'path'")
            return False
        return param in t

    def unique_paths(self, paths: list[str], field: str) -> None:
        if len(set(paths)) != len(paths):
            self.error(field, "dataset paths must be unique")

    def version_hint(self, obj: Mapping[str, Any], field: str, what: str, version: str) -> None:
        """0.4 objects SHOULD carry their own ``version`` (0.5+ keep it under ``ome``)."""
        if version == "0.4" and "version" not in obj:
            self.warn(join(field, "version"), f"0.4 {what} SHOULD carry 'version'")
