"""One name per concept: the canonical keyword names and the aliases accepted for them.

unizarr's own names are ``method`` (pyramid reduction), ``chunks``, ``shards``,
``spatial_ndim`` and ``zarr_version``. Names other tools taught their users stay
accepted: linc-convert's ``generate_pyramid(ndim=, mode=)`` and its ``ZarrConfig`` fields
``chunk`` / ``shard``, and zarr-python's ``zarr_format``. An alias means exactly its
canonical name; giving both with different values is a :class:`TypeError` naming both
(never a silent pick). ``docs/vocabulary.md`` lists where each name is accepted.

This module imports nothing from unizarr, so any layer may call it at its entry points.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

#: ``generate_pyramid``: alias -> canonical.
PYRAMID_ALIASES: Mapping[str, str] = {"mode": "method", "ndim": "spatial_ndim"}
#: ``create_array`` / ``open_array`` layout keywords: alias -> canonical.
ARRAY_ALIASES: Mapping[str, str] = {"chunk": "chunks", "shard": "shards"}
#: ``open_group`` / ``open_array``: alias -> canonical.
OPEN_ALIASES: Mapping[str, str] = {"zarr_format": "zarr_version"}
#: :class:`~unizarr.ZarrConfig` keeps linc-convert's field names ``chunk`` / ``shard``
#: (converters read and set them); the library's names are accepted as keywords.
CONFIG_ALIASES: Mapping[str, str] = {
    "chunks": "chunk",
    "shards": "shard",
    "zarr_format": "zarr_version",
}

P = ParamSpec("P")
R = TypeVar("R")


def _same(a: Any, b: Any) -> bool:
    """Whether two keyword values mean the same (``(64,)`` and ``[64]`` do)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = tuple(a), tuple(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays: ambiguous truth value
        return a is b


def conflict(where: str, canonical: str, value: Any, alias: str, alias_value: Any) -> TypeError:
    """The error for a canonical keyword and its alias given with different values."""
    return TypeError(
        f"{where}() got {canonical}={value!r} and its alias {alias}={alias_value!r}; "
        f"pass only {canonical}="
    )


def merge(where: str, canonical: str, value: Any, alias: str, alias_value: Any,
          unset: Any = None) -> Any:
    """The value of ``canonical`` when it and ``alias`` are both keyword parameters
    (``unset`` marks one not given).

    Raises
    ------
    TypeError
        Both were given, with different values.
    """
    if alias_value is unset:
        return value
    if value is not unset and not _same(value, alias_value):
        raise conflict(where, canonical, value, alias, alias_value)
    return alias_value


def resolve(where: str, kwargs: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """``kwargs`` with every alias renamed to its canonical name.

    Raises
    ------
    TypeError
        An alias and its canonical name were both given, with different values.
    """
    out = dict(kwargs)
    for alias, canonical in aliases.items():
        if alias in out:
            value = out.pop(alias)
            if canonical in out and not _same(out[canonical], value):
                raise conflict(where, canonical, out[canonical], alias, value)
            out[canonical] = value
    return out


def accepts_aliases(aliases: Mapping[str, str]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function so its keyword arguments may use ``aliases`` (alias ->
    canonical). The wrapper keeps the function's name, docstring and signature."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            renamed: dict[str, Any] = resolve(fn.__name__, kwargs, aliases)
            return fn(*args, **renamed)

        return wrapper

    return decorate
