"""The built-in drivers, one module each (``zarr_python``, ``tensorstore``, ``zarrs``).

A driver is a (:class:`~unizarr.ZarrArray`, :class:`~unizarr.ZarrGroup`) subclass pair
registered by name; the registry itself is :mod:`unizarr.registry` (re-exported here for
code written against earlier releases).
"""

from __future__ import annotations

from ..registry import DEFAULT_DRIVER, drivers, get_driver, register_driver

__all__ = ["DEFAULT_DRIVER", "drivers", "get_driver", "register_driver"]
