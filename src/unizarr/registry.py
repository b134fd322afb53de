"""The driver registry: names -> (ZarrArray, ZarrGroup) subclass pairs, loaded lazily.

A driver is declared by packaging alone, in the ``unizarr.drivers`` entry-point group
(the built-in ``zarr-python``, ``tensorstore`` and ``zarrs`` drivers are declared this
way in unizarr's own ``pyproject.toml``)::

    [project.entry-points."unizarr.drivers"]
    mydriver = "mypackage.unizarr_driver"

The entry point names the module (or an object in it); importing it must call
``unizarr.register_driver("mydriver", MyArray, MyGroup)``. Nothing is imported until a
driver is asked for by name (or :func:`drivers` lists them), so ``import unizarr`` does
not import any engine.

A driver keeps one name. Registering its classes under a second name adds an alias;
handles keep the first name, and pickle as that name *plus* their classes by import
path, so a fresh process (a spawn pool, a dask worker) reopens the same driver even when
it was registered at run time rather than by entry point.

This module sits below the node model (:mod:`unizarr.core`): it imports nothing of
unizarr but the errors, and checks driver classes by their base classes' names.
"""

from __future__ import annotations

import importlib
import re
import threading
import warnings
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .errors import UnsupportedDriverError

if TYPE_CHECKING:
    from .core import ZarrArray, ZarrGroup

    DriverPair = tuple[type[ZarrArray], type[ZarrGroup]]
else:
    DriverPair = tuple

#: The entry-point group drivers are declared in.
ENTRY_POINT_GROUP = "unizarr.drivers"
DEFAULT_DRIVER = "zarr-python"

#: Built-in drivers, used only when unizarr runs from a source tree without installed
#: metadata (``PYTHONPATH=src``); an installed unizarr finds them as entry points.
_SOURCE_TREE_DRIVERS = {
    "zarr-python": "unizarr.drivers.zarr_python",
    "tensorstore": "unizarr.drivers.tensorstore",
    "zarrs": "unizarr.drivers.zarrs",
}
#: Other spellings of the built-in names.
_BUILTIN_ALIASES = {"zarr": "zarr-python", "zarr_python": "zarr-python", "ts": "tensorstore"}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")
_ARRAY_BASE = "unizarr.core.ZarrArray"
_GROUP_BASE = "unizarr.core.ZarrGroup"

_REGISTRY: dict[str, DriverPair] = {}
_ALIASES: dict[str, str] = dict(_BUILTIN_ALIASES)
# Guards registration only. Never held while a driver module is imported: that import
# takes Python's module lock and then calls register_driver, so holding this lock
# around it could deadlock against a thread importing the same module directly.
_LOCK = threading.Lock()
_declared_cache: dict[str, Any] | None = None
#: Declared drivers that failed to load, with the error (not retried: an import that
#: failed once fails again, and listing drivers should not search the path each time).
_FAILED: dict[str, UnsupportedDriverError] = {}


def _declared() -> dict[str, Any]:
    """Declared drivers: name -> entry point (or module name for a source tree)."""
    global _declared_cache
    if _declared_cache is None:
        found: dict[str, Any] = dict(_SOURCE_TREE_DRIVERS)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            found[ep.name] = ep
        _declared_cache = found
    return _declared_cache


def _base_named(cls: Any, qualified: str) -> bool:
    """Whether ``cls`` is a class with ``qualified`` among its bases (checked by name so
    that the registry needs no import of the node model above it)."""
    return isinstance(cls, type) and any(
        f"{c.__module__}.{c.__qualname__}" == qualified for c in cls.__mro__
    )


def register_driver(name: str, array_cls: type[ZarrArray], group_cls: type[ZarrGroup]) -> None:
    """Register the driver ``name``: a :class:`~unizarr.ZarrArray` and a
    :class:`~unizarr.ZarrGroup` subclass.

    Registering the same classes again under another name adds an alias of their
    driver (handles keep the driver's first name); registering the same pair under
    the same name again does nothing.

    Raises
    ------
    TypeError
        The classes are not a ZarrArray / ZarrGroup subclass pair.
    ValueError
        ``name`` is not a plain name (letters, digits, ``_ . + -``), is already taken by
        other classes, or the classes already belong to another pair.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"driver name {name!r} must be letters, digits, '_', '.', '+' or '-' "
            "(':' is reserved for import paths)"
        )
    if not _base_named(array_cls, _ARRAY_BASE):
        raise TypeError(f"{array_cls!r} is not a ZarrArray subclass")
    if not _base_named(group_cls, _GROUP_BASE):
        raise TypeError(f"{group_cls!r} is not a ZarrGroup subclass")
    with _LOCK:
        pair = (array_cls, group_cls)
        # ``driver_name`` is inherited by subclasses: only a class's own one can say that
        # it is registered already (a subclass of a driver's class is a new driver).
        owners = {
            owner for cls in pair
            if (owner := cls.__dict__.get("driver_name")) and cls in _REGISTRY.get(owner, ())
        }
        if owners and (len(owners) > 1 or _REGISTRY[next(iter(owners))] != pair):
            raise ValueError(
                f"{array_cls.__qualname__} / {group_cls.__qualname__} mix classes of the "
                f"drivers {', '.join(sorted(owners))}; subclass them to make a new driver"
            )
        if owners:  # the pair is a driver already: ``name`` becomes an alias of it
            first = next(iter(owners))
            if name != first:
                _claim(name, pair)
                _ALIASES[name] = first
            return
        _claim(name, pair)
        array_cls.driver_name = name
        group_cls.driver_name = name
        group_cls._array_cls = array_cls
        _REGISTRY[name] = pair
        _ALIASES.pop(name, None)  # an explicit driver wins over a built-in spelling


def _claim(name: str, pair: DriverPair) -> None:
    """Refuse ``name`` when it already means other classes."""
    taken = _REGISTRY.get(_ALIASES.get(name, name))
    if taken is not None and taken != pair:
        raise ValueError(
            f"driver name {name!r} is already registered for {taken[0].__qualname__} / "
            f"{taken[1].__qualname__}; choose another name"
        )


def _load(name: str) -> None:
    """Import the declaration of driver ``name`` (which registers it).

    Raises
    ------
    UnsupportedDriverError
        The declaration does not load or does not register ``name``.
    """
    if name in _FAILED:
        raise _FAILED[name]
    target = _declared()[name]
    try:
        if isinstance(target, str):
            importlib.import_module(target)
        else:
            target.load()
    except Exception as exc:
        where = target if isinstance(target, str) else target.value
        hint = " (pip install 'unizarr[accel]')" if name == "zarrs" else ""
        error = UnsupportedDriverError(
            f"driver {name!r} ({where}) cannot be loaded: {type(exc).__name__}: {exc}{hint}"
        )
        error.__cause__ = exc
        _FAILED[name] = error
        raise error from exc
    if name not in _REGISTRY and name not in _ALIASES:
        _FAILED[name] = UnsupportedDriverError(
            f"entry point {name!r} of group {ENTRY_POINT_GROUP!r} loaded but did not call "
            f"unizarr.register_driver({name!r}, ...)"
        )
        raise _FAILED[name]


def drivers() -> list[str]:
    """Names of the drivers that load here, sorted (aliases not included).

    A declared driver whose module fails to import (its engine is not installed) is
    left out; any other failure of a third-party driver is reported as a warning.
    """
    names, failures = _load_all()
    for exc in failures:
        warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
    return names


def _load_all() -> tuple[list[str], list[UnsupportedDriverError]]:
    """Load every declared driver: the names that load, and the failures that are not
    a missing import."""
    failures = []
    for name in _declared():
        if name in _REGISTRY:
            continue
        try:
            _load(name)
        except UnsupportedDriverError as exc:
            if not isinstance(exc.__cause__, ImportError):
                failures.append(exc)
    return sorted(_REGISTRY), failures


def temp_suffixes() -> tuple[str, ...]:
    """Name endings of the temporary files of every driver that loads here (the union of
    their array classes' ``TEMP_SUFFIXES``), sorted.

    Loads every declared driver (importing its engine): a store written by one driver
    may be resumed with another, so cleaning up after a crash removes the leftovers of
    all of them. A driver whose module fails to load adds nothing.
    """
    _load_all()
    with _LOCK:
        pairs = list(_REGISTRY.values())
    found = {s for array_cls, _ in pairs for s in getattr(array_cls, "TEMP_SUFFIXES", ())}
    return tuple(sorted(found))


def get_driver(name: str | None) -> DriverPair:
    """The (array class, group class) of driver ``name`` (``None``: the default).

    ``name`` is a registered or declared driver name, an alias, or the import path of
    a driver's group class (``"package.module:GroupClass"``).

    Raises
    ------
    UnsupportedDriverError
        No driver of that name (the message lists the available ones).
    """
    if name is None:
        name = DEFAULT_DRIVER
    if not isinstance(name, str):
        raise UnsupportedDriverError(f"driver must be a string, got {name!r}")
    if ":" in name:
        return _REGISTRY[_by_import_path(name)]
    name = _ALIASES.get(name, name)
    if name not in _REGISTRY and name in _declared():
        _load(name)
        name = _ALIASES.get(name, name)
    pair = _REGISTRY.get(name)
    if pair is None:
        raise UnsupportedDriverError(
            f"unknown driver {name!r}; available drivers: {', '.join(_load_all()[0])}"
        )
    return pair


def _by_import_path(path: str) -> str:
    """The driver whose group class is at ``path`` (``module:QualName``)."""
    module, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UnsupportedDriverError(f"driver {path!r} cannot be imported: {exc}") from exc
    for driver, (_, group_cls) in list(_REGISTRY.items()):
        if group_cls is obj:
            return driver
    raise UnsupportedDriverError(
        f"{path!r} is not the group class of a registered driver; its module must call "
        "unizarr.register_driver when imported"
    )


# -- pickling: how a handle names its driver for another process ---------------------------
def driver_token(name: str) -> tuple[str, type, type]:
    """What a handle of driver ``name`` pickles as: the name and both classes (pickled by
    import path, so a process that never registered the driver can)."""
    array_cls, group_cls = get_driver(name)
    return (group_cls.driver_name, array_cls, group_cls)


def driver_from_token(token: str | tuple[str, type, type]) -> str:
    """The driver name a pickled handle reopens with, registering the driver's classes
    in this process first when only their import brought them here.

    Raises
    ------
    UnsupportedDriverError
        The name means other classes in this process.
    """
    if isinstance(token, str):
        return token
    name, array_cls, group_cls = token
    if name not in _REGISTRY and name in _declared():
        try:
            _load(name)
        except UnsupportedDriverError:
            pass  # the classes themselves are here: they are registered below
    if name not in _REGISTRY:
        try:
            register_driver(name, array_cls, group_cls)
        except ValueError:
            pass  # registered by another thread meanwhile: checked below
    current = _REGISTRY.get(name)
    if current != (array_cls, group_cls):
        held = "nothing" if current is None else f"{current[1].__module__}.{current[1].__qualname__}"
        raise UnsupportedDriverError(
            f"a handle of driver {name!r} ({group_cls.__module__}.{group_cls.__qualname__}) "
            f"reached a process where {name!r} is {held}"
        )
    return name
