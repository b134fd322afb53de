"""The driver registry: a driver is a (ZarrArray, ZarrGroup) subclass pair."""

from __future__ import annotations

from ..core import ZarrArray, ZarrGroup
from ..errors import UnsupportedDriverError

DEFAULT_DRIVER = "zarr-python"
_REGISTRY: dict[str, tuple[type[ZarrArray], type[ZarrGroup]]] = {}
#: Built-in drivers, imported on first use so that importing unizarr stays cheap.
_BUILTIN = {
    "zarr-python": "unizarr.drivers.zarr_python",
    "tensorstore": "unizarr.drivers.tensorstore",
}
_ALIASES = {"zarr": "zarr-python", "zarr_python": "zarr-python", "ts": "tensorstore"}


def register_driver(name: str, array_cls: type[ZarrArray], group_cls: type[ZarrGroup]) -> None:
    """Register a driver under ``name`` (replacing any driver of that name)."""
    if not (isinstance(array_cls, type) and issubclass(array_cls, ZarrArray)):
        raise TypeError(f"{array_cls!r} is not a ZarrArray subclass")
    if not (isinstance(group_cls, type) and issubclass(group_cls, ZarrGroup)):
        raise TypeError(f"{group_cls!r} is not a ZarrGroup subclass")
    array_cls.driver_name = name
    group_cls.driver_name = name
    group_cls._array_cls = array_cls
    _REGISTRY[name] = (array_cls, group_cls)


def _load_builtin(name: str) -> None:
    import importlib

    importlib.import_module(_BUILTIN[name])


def drivers() -> list[str]:
    """Names of the available drivers."""
    for name in _BUILTIN:
        if name not in _REGISTRY:
            try:
                _load_builtin(name)
            except ImportError:
                continue
    return sorted(_REGISTRY)


def get_driver(name: str | None) -> tuple[type[ZarrArray], type[ZarrGroup]]:
    """The (array class, group class) of driver ``name`` (``None``: the default).

    Raises
    ------
    UnsupportedDriverError
        No driver of that name.
    """
    if name is None:
        name = DEFAULT_DRIVER
    if not isinstance(name, str):
        raise UnsupportedDriverError(f"driver must be a string, got {name!r}")
    name = _ALIASES.get(name, name)
    if name not in _REGISTRY and name in _BUILTIN:
        _load_builtin(name)
    if name not in _REGISTRY:
        raise UnsupportedDriverError(
            f"unknown driver {name!r}; available drivers: {', '.join(drivers())}"
        )
    return _REGISTRY[name]
