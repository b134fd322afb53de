"""Entry points: ``open_group``, ``open_array``, ``from_config``."""

from __future__ import annotations

from typing import Any

from .aliases import merge
from .config import ZarrConfig
from .core import ZarrArray, ZarrGroup, open_node
from .types import ConfigLike, StorageOptions, ZarrVersion


def open_group(
    url: Any,
    mode: str = "a",
    *,
    driver: str | None = None,
    zarr_version: ZarrVersion | None = None,
    storage_options: StorageOptions | None = None,
    zarr_format: ZarrVersion | None = None,
) -> ZarrGroup:
    """Open or create the group at ``url``.

    Parameters
    ----------
    url : str or os.PathLike
        Local path, ``file://``, ``memory://``, ``s3://``, ``gs://`` or ``http(s)://``.
    mode : {"r", "r+", "a", "w", "w-"}
        ``r`` read-only, must exist; ``r+`` read/write, must exist; ``a`` read/write,
        create if missing; ``w`` create, deleting what exists (only an empty location
        or a Zarr node with nothing foreign in it; anything else, e.g. a bucket root
        with objects or a non-Zarr folder, raises ``FileExistsError``, see
        ``docs/safety.md``); ``w-`` create, fail if it exists.
    driver : {"zarr-python", "tensorstore"}, optional
        Engine; default ``"zarr-python"``.
    zarr_version : {2, 3}, optional
        Detected when the group exists (an explicit mismatch raises
        :class:`~unizarr.ZarrVersionError`); 3 when creating. ``zarr_format`` (zarr-python's
        name) is accepted as an alias.
    storage_options : dict, optional
        Credentials / endpoint for remote stores; the same for both drivers.

    Examples
    --------
    >>> g = open_group("out.zarr", mode="w")          # doctest: +SKIP
    >>> g.create_array("0", (64, 64), "uint16")      # doctest: +SKIP
    """
    zarr_version = merge("open_group", "zarr_version", zarr_version, "zarr_format", zarr_format)
    return open_node(  # type: ignore[return-value]
        url, mode, "group", driver=driver, zarr_version=zarr_version,
        storage_options=dict(storage_options) if storage_options is not None else None,
    )


def open_array(
    url: Any,
    mode: str = "a",
    *,
    driver: str | None = None,
    zarr_version: ZarrVersion | None = None,
    storage_options: StorageOptions | None = None,
    zarr_format: ZarrVersion | None = None,
    **create_kwargs: Any,
) -> ZarrArray:
    """Open or create the array at ``url`` (arguments as :func:`open_group`).

    Creating an array (modes ``a``, ``w``, ``w-`` on a missing node) needs ``shape`` and
    ``dtype`` (or ``data``) among ``create_kwargs``, which take every keyword of
    :meth:`ZarrGroup.create_array` (layout keywords with ``chunk``/``shard`` as aliases of
    ``chunks``/``shards``, ``zarr_config``, ``attributes``, ``dimension_names``,
    zarr-python's ``compressors=`` / ``chunk_key_encoding=``): both resolve them in one
    place, so the same keywords write the same files.
    """
    zarr_version = merge("open_array", "zarr_version", zarr_version, "zarr_format", zarr_format)
    # chunk=/shard= are resolved with the other creation keywords, in one place
    # (unizarr.creation.new_array_spec), when the array is created.
    return open_node(  # type: ignore[return-value]
        url, mode, "array", driver=driver, zarr_version=zarr_version,
        storage_options=dict(storage_options) if storage_options is not None else None,
        create_kwargs=create_kwargs,
    )


def from_config(
    out: Any,
    config: ConfigLike,
    *,
    driver: str | None = None,
    storage_options: StorageOptions | None = None,
) -> ZarrGroup:
    """Create the root group ``out`` as ``config`` says.

    ``config`` is any object with :class:`ZarrConfig`'s field names (read by name, never
    by type). The group is created with mode ``"w"`` when ``config.overwrite`` is true,
    else ``"w-"``, with ``config.zarr_version`` and ``config.driver`` (``driver`` wins).
    """
    cfg = ZarrConfig.from_object(config)
    return open_group(
        out,
        mode="w" if cfg.overwrite else "w-",
        driver=driver or cfg.driver,
        zarr_version=cfg.zarr_version,
        storage_options=storage_options,
    )
