"""Creating and opening nodes: the mode table applied to a store, and the one
resolution of array-creation keywords shared by :func:`unizarr.open_array` and
:meth:`unizarr.ZarrGroup.create_array`.

The node classes come from the driver registry, so nothing here imports the node
model (:mod:`unizarr.core` imports this module).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import documents, layout
from . import metadata as md
from .aliases import ARRAY_ALIASES, merge
from .dask_io import is_dask, write_data
from .errors import (
    CorruptDataError,
    MetadataError,
    ReadOnlyError,
    ZarrVersionError,
    translate_engine_error,
)
from .layout import ArraySpec
from .modes import Action, check_mode, is_writable, plan_open
from .noderef import NodeRef
from .output_guard import check_node_replaceable, refuse_file_in_the_way
from .paths import Location, parse_url
from .registry import get_driver
from .safety import FOLLOW_SYMLINKS_OPTION, overlap

if TYPE_CHECKING:
    from .core import ZarrArray, ZarrGroup, ZarrNode


def new_array_spec(
    zarr_version: int,
    caller: str,
    shape: Sequence[int] | int | None = None,
    dtype: Any = None,
    *,
    data: Any = None,
    zarr_config: Any = None,
    chunks: Any = None,
    shards: Any = None,
    fill_value: Any = None,
    compressor: Any = None,
    compressor_opt: Any = None,
    dimension_separator: Any = None,
    order: Any = None,
    attributes: Mapping[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    **zarr_kwargs: Any,
) -> tuple[ArraySpec, Any]:
    """The layout of a new array from the creation keywords, and its data as an array.

    The one resolution behind :meth:`ZarrGroup.create_array <unizarr.ZarrGroup.create_array>`
    and :func:`unizarr.open_array` (modes that create), so a keyword means the same
    through both. ``caller`` names the entry point in errors.

    Raises
    ------
    TypeError
        No shape and no data, or a keyword no creation path knows.
    ValueError
        An invalid layout.
    """
    # linc-convert's ZarrConfig names (chunk=, shard=) mean chunks=, shards=: the one
    # place either entry point resolves them (ARRAY_ALIASES is the table).
    layout_kw = {"chunks": chunks, "shards": shards}
    for alias, canonical in ARRAY_ALIASES.items():
        layout_kw[canonical] = merge(caller, canonical, layout_kw[canonical], alias,
                                     zarr_kwargs.pop(alias, None))
    chunks, shards = layout_kw["chunks"], layout_kw["shards"]
    compressor, compressor_opt, dimension_separator = _zarr_python_kwargs(
        zarr_kwargs, compressor, compressor_opt, dimension_separator, caller
    )
    if data is not None and not is_dask(data) and not hasattr(data, "shape"):
        data = np.asarray(data)
    if shape is None:
        if data is None:
            raise TypeError(f"{caller} needs a shape (or data)")
        shape = data.shape
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if dtype is None:
        dtype = data.dtype if data is not None else np.float64
    spec = layout.resolve_array_spec(
        shape,
        dtype,
        zarr_version=zarr_version,
        config=zarr_config,
        chunks=chunks,
        shards=shards,
        fill_value=fill_value,
        compressor=compressor,
        compressor_opt=compressor_opt,
        dimension_separator=dimension_separator,
        order=order,
        attributes=md.to_json_value(dict(attributes), "attribute") if attributes else None,
        dimension_names=dimension_names,
    )
    return spec, data


def check_data(data: Any, spec: ArraySpec, target: Location) -> None:
    """Check that ``data`` can fill a new array ``spec`` at ``target`` — called before an
    existing node there is removed, so a mistake never costs the old data.

    Raises
    ------
    ValueError
        ``data`` does not broadcast to the shape, cannot be cast to the dtype, or is
        (part of) the node the new array replaces.
    """
    shape = tuple(spec.shape)
    try:
        if np.broadcast_shapes(tuple(data.shape), shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"data of shape {tuple(data.shape)} does not fit the array shape {shape}"
        ) from None
    if isinstance(getattr(data, "_ref", None), NodeRef) and overlap(data._ref.location, target) is not None:
        raise ValueError(
            f"data {data.url} is the array that {target.url} would replace (or lies inside "
            "it); write it to another name first"
        )
    if isinstance(data, np.ndarray) and data.size:
        try:  # one element is enough to find data numpy cannot cast ("abc" -> int)
            np.asarray(data[(0,) * data.ndim]).astype(spec.dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"data of dtype {data.dtype} cannot be stored as {spec.dtype}: {exc}"
            ) from None

def _zarr_python_kwargs(
    kwargs: dict[str, Any], compressor: Any, compressor_opt: Any, separator: Any,
    caller: str = "create_array",
) -> tuple[Any, Any, Any]:
    """Accept the zarr-python keywords nifti-zarr and others pass to ``create_array``."""
    kwargs = dict(kwargs)
    if "compressors" in kwargs:
        comps = kwargs.pop("compressors")
        if compressor is None:
            compressor = documents.codec_from_object(comps)
    if "compressor" in kwargs:  # zarr v2-style single codec object
        comp = kwargs.pop("compressor")
        if compressor is None:
            compressor = documents.codec_from_object(comp)
    cke = kwargs.pop("chunk_key_encoding", None)
    if cke is not None and separator is None:
        if isinstance(cke, Mapping):
            separator = (cke.get("configuration") or {}).get("separator", cke.get("separator"))
            if separator is None:
                separator = "." if cke.get("name") == "v2" else "/"
        else:
            separator = getattr(cke, "separator", None)
    kwargs.pop("config", None)  # zarr-python's runtime config (memory order): not stored
    for name, neutral in (("filters", (None, "auto", [], ())), ("serializer", ("auto",))):
        if name in kwargs and kwargs[name] in neutral:
            kwargs.pop(name)
    if kwargs:
        raise TypeError(f"{caller} got unexpected keyword arguments {sorted(kwargs)}")
    return compressor, compressor_opt, separator


def open_node(
    url: Any,
    mode: str,
    kind: str,
    *,
    driver: str | None,
    zarr_version: int | None,
    storage_options: dict[str, Any] | None,
    create_kwargs: dict[str, Any] | None = None,
) -> ZarrNode:
    """Open or create the node at ``url`` as the mode table says (see :mod:`unizarr.api`)."""
    mode = check_mode(mode)
    array_cls, group_cls = get_driver(driver)
    if zarr_version is not None:
        zarr_version = layout.normalize_zarr_version(zarr_version)
    location = parse_url(url)
    inside = _inside_ozx(location)
    if inside is not None:
        return _open_in_ozx(location, *inside, mode, kind, driver, zarr_version, storage_options)
    if location.is_local and location.path.lower().endswith(".ozx"):
        if is_writable(mode):
            raise ReadOnlyError(
                f"{location.url} is a zipped OME-Zarr (.ozx), read-only; write a directory "
                "store and pack it with `unizarr copy store.zarr out.ozx`"
            )
        if not os.path.isfile(location.path):
            raise FileNotFoundError(f"{location.url} does not exist")
    else:
        refuse_file_in_the_way(location, mode)  # a .ozx is the one file that is a store
    storage_options = dict(storage_options or {})
    read_only = not is_writable(mode) or location.read_only_scheme
    kv = group_cls._make_kv(location, storage_options, read_only)
    kv.follow_links = bool(storage_options.get(FOLLOW_SYMLINKS_OPTION))
    ref = NodeRef(group_cls.driver_name, location, "", kv, mode, storage_options)
    if read_only or mode == "r+":  # never creates: no lock needed
        return _open_or_create(ref, mode, kind, array_cls, group_cls, zarr_version, create_kwargs)
    # Detection, validation and creation happen under one lock, so two processes opening
    # a missing store with mode "a" agree on one node (and one Zarr version).
    data, node = None, None
    with kv.lock(""):
        node, data = _open_or_create(
            ref, mode, kind, array_cls, group_cls, zarr_version, create_kwargs, defer_data=True
        )
    if data is not None:
        write_data(node, data)
    return node


def _a(kind: str) -> str:
    """``"an array"`` / ``"a group"``."""
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _inside_ozx(location: Location) -> tuple[str, str] | None:
    """``(archive, member)`` when the local ``location`` names a node inside a zipped
    OME-Zarr (``x.ozx/0``: an existing ``.ozx`` file, then a path below it), else
    ``None``. Neither engine opens a path through a zip file, so the archive is opened
    and the member found in it, as ``open_group("x.ozx")["0"]`` does."""
    if not location.is_local or location.path.lower().endswith(".ozx"):
        return None
    head, parts = location.path, []
    while True:
        head, tail = os.path.split(head)
        if not tail:
            return None
        parts.append(tail)
        if head.lower().endswith(".ozx") and os.path.isfile(head):
            return head, "/".join(reversed(parts))


def _open_in_ozx(
    location: Location, archive: str, member: str, mode: str, kind: str, driver: str | None,
    zarr_version: int | None, storage_options: dict[str, Any] | None,
) -> ZarrNode:
    """The node ``member`` of the ``.ozx`` ``archive`` (see :func:`_inside_ozx`)."""
    if is_writable(mode):
        raise ReadOnlyError(
            f"{location.url} is inside a zipped OME-Zarr (.ozx), read-only; open it with "
            f"mode='r', or unpack it with `unizarr copy {archive} store.zarr` to write"
        )
    root = open_node(archive, mode, "group", driver=driver, zarr_version=zarr_version,
                     storage_options=storage_options)
    try:
        node = root[member]  # type: ignore[index]
    except KeyError:
        raise FileNotFoundError(f"no Zarr node at {location.url} (no {member!r} in "
                                f"{archive})") from None
    array_cls, _ = get_driver(driver)
    have = "array" if isinstance(node, array_cls) else "group"
    if have != kind:
        raise FileNotFoundError(f"{location.url} is a Zarr {have}, not {_a(kind)}")
    return node


def _open_or_create(
    ref: NodeRef,
    mode: str,
    kind: str,
    array_cls: type[ZarrArray],
    group_cls: type[ZarrGroup],
    zarr_version: int | None,
    create_kwargs: dict[str, Any] | None,
    defer_data: bool = False,
) -> Any:
    location, kv = ref.root, ref.kv
    try:
        info = md.detect_node(kv, "")
    except PermissionError as exc:
        if isinstance(exc, ReadOnlyError):
            raise
        raise PermissionError(
            f"access to {location.url} was denied ({exc}); check the credentials in "
            "storage_options (key/secret, profile, anon) or the environment"
        ) from exc
    if info is not None and zarr_version is not None and info.zarr_version != zarr_version:
        if mode in ("r", "r+", "a"):  # w replaces the node; for w- existence wins
            raise ZarrVersionError(
                f"{location.url} holds Zarr v{info.zarr_version} metadata, not "
                f"v{zarr_version}; open it with zarr_version={info.zarr_version} (or None), "
                "or use mode='w' to replace it"
            )
    if info is not None and info.kind != kind and mode != "w":
        if mode in ("r", "r+"):
            raise FileNotFoundError(f"{location.url} is a Zarr {info.kind}, not {_a(kind)}")
        raise FileExistsError(
            f"{location.url} is a Zarr {info.kind}; use mode='w' to replace it with a {kind}"
        )
    if location.read_only_scheme and mode in ("w", "w-"):
        raise ReadOnlyError(f"{location.url} is served over HTTP and is read-only; use mode='r'")
    action = plan_open(mode, info is not None, location.url)
    if mode == "w":  # replaces only an empty location or a Zarr node (docs/safety.md)
        check_node_replaceable(kv, location)
    if action is Action.OPEN:
        cls = array_cls if kind == "array" else group_cls
        if location.read_only_scheme:
            ref.mode = "r"  # r+/a on HTTP open for reading; any write raises ReadOnlyError
        node = cls._from_ref(ref, info)  # type: ignore[arg-type]  # OPEN: it exists
        return (node, None) if defer_data else node
    if location.read_only_scheme:
        raise ReadOnlyError(f"{location.url} is served over HTTP and is read-only")
    version = zarr_version or 3
    if kind == "array":
        kw = dict(create_kwargs or {})
        if kw.get("shape") is None and kw.get("data") is None:
            raise FileNotFoundError(
                f"no array at {location.url}; pass shape= and dtype= to create one"
            )
        # The same resolution as ZarrGroup.create_array: every creation keyword means
        # the same through both. Everything (layout, data shape and dtype, aliasing) is
        # validated before the old node is removed.
        spec, data = new_array_spec(version, "open_array", **kw)
        if data is not None:
            check_data(data, spec, location)
        if action is Action.REPLACE:
            kv.delete_prefix("")
        new_info = array_cls._create_native(ref, spec)
        arr = array_cls._from_ref(ref, new_info)
        if defer_data:
            return arr, data
        if data is not None:
            write_data(arr, data)
        return arr
    if create_kwargs:
        raise TypeError(f"open_group got unexpected keyword arguments {sorted(create_kwargs)}")
    if action is Action.REPLACE:
        kv.delete_prefix("")
    md.write_group(kv, "", version)
    grp = group_cls._from_ref(ref, md.NodeInfo("group", version, md.group_document(version)))
    return (grp, None) if defer_data else grp


def spec_of(document: Mapping[str, Any], where: str) -> ArraySpec:
    """The layout of an existing array from its metadata ``document`` (stored at
    ``where``); a document that does not describe a valid array raises
    :class:`~unizarr.MetadataError` naming the file and the fix."""
    try:
        return documents.spec_from_metadata(document, None)  # attributes are read live, never cached
    except MetadataError as exc:
        if where in str(exc):
            raise
        raise MetadataError(
            f"{where}: {exc}; rewrite the array or fix the document"
        ) from exc
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise MetadataError(
            f"{where}: invalid array metadata ({exc}); rewrite the array or fix the "
            "document"
        ) from exc


def open_engine(
    open_native: Callable[[], Any],
    where: str,
    translate: Callable[[BaseException, str], BaseException] = translate_engine_error,
) -> Any:
    """``open_native()``, the engine opening an existing array, with the engines'
    refusals of the metadata at ``where`` reported as :class:`~unizarr.MetadataError`
    (and their store errors translated as everywhere, by the driver's ``translate``:
    see :meth:`unizarr.ZarrNode._translate_engine_error`)."""
    try:
        return open_native()
    except (MetadataError, OSError):
        raise
    except Exception as exc:
        mapped = translate(exc, where)
        if not isinstance(mapped, (CorruptDataError, MetadataError)) and mapped is not exc:
            raise mapped from exc
        if isinstance(exc, (ValueError, TypeError, KeyError, RuntimeError, NotImplementedError)):
            raise MetadataError(
                f"{where}: the engine refused the array metadata ({exc}); rewrite the "
                "array or fix the document"
            ) from exc
        raise
