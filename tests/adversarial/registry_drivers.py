"""Driver classes for tests/adversarial/test_registry.py, importable by path (as a
spawned worker imports them) but registered only at run time, by the tests: the case of
a driver registered in a script rather than declared by an entry point."""

from __future__ import annotations

from typing import Any

import numpy as np

from unizarr.drivers.tensorstore import ZarrTSArray, ZarrTSGroup
from unizarr.drivers.zarr_python import ZarrPythonArray, ZarrPythonGroup


class RuntimeZarrPythonArray(ZarrPythonArray):
    pass


class RuntimeZarrPythonGroup(ZarrPythonGroup):
    pass


class RuntimeTSArray(ZarrTSArray):
    pass


class RuntimeTSGroup(ZarrTSGroup):
    pass


#: engine -> the runtime driver's (array class, group class)
RUNTIME = {
    "zarr-python": (RuntimeZarrPythonArray, RuntimeZarrPythonGroup),
    "tensorstore": (RuntimeTSArray, RuntimeTSGroup),
}


# -- run in spawned workers ------------------------------------------------------------------
def write_block(args: tuple[Any, int, int, int]) -> str:
    arr, start, stop, value = args
    arr[start:stop] = value
    return arr.url


def driver_of(node: Any) -> tuple[str, str, str]:
    """What the worker reopened: driver name and the node's class by import path."""
    return node.driver_name, type(node).__module__, type(node).__qualname__


def total(arr: Any) -> int:
    return int(np.asarray(arr[...]).sum())
