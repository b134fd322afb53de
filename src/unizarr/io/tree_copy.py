"""``unizarr copy``: any Zarr tree to any Zarr, optionally with another layout.

A copy is planned first - every destination array's layout is resolved, so a bad option
fails before anything is written - and then executed: groups, then arrays (data written
in destination-block-aligned pieces), then the group attributes, deepest first and the
root last. OME-NGFF metadata therefore only appears once all data is in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import layout
from ..core import ZarrArray, ZarrGroup, ZarrNode
from ..ome import find_multiscale, set_dimension_names
from ..validation import ome_version as node_version
from .ome_convert import convert_ome_attrs

#: Layout keywords of ``create_array`` set from the command line's options.
_OPTION_KWARGS = {
    "chunk": "chunks",
    "shard": "shards",
    "compressor": "compressor",
    "compressor_opt": "compressor_opt",
    "dimension_separator": "dimension_separator",
    "order": "order",
}


@dataclass
class ArrayCopy:
    """One array to copy: where it goes and with which ``create_array`` keywords."""

    name: str
    source: ZarrArray
    kwargs: dict[str, Any]

    @property
    def nbytes(self) -> int:
        return self.source.nbytes


@dataclass
class CopyPlan:
    """Everything :func:`copy_tree` will write, resolved and checked."""

    source: ZarrNode
    zarr_version: int
    config: Any
    groups: list[tuple[str, ZarrGroup]] = field(default_factory=list)
    arrays: list[ArrayCopy] = field(default_factory=list)
    #: Each group's destination attributes, OME metadata already converted.
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)


def _restyled(name: str, arr: ZarrArray) -> bool:
    """Whether layout options apply: image arrays, not the NIfTI header bytes or other
    0-/1-D arrays, which keep their own small layout."""
    return arr.ndim >= 2 and name.rsplit("/", 1)[-1] != "nifti"


def array_kwargs(
    name: str, arr: ZarrArray, zarr_version: int, config: Any, given: set[str]
) -> dict[str, Any]:
    """``create_array`` keywords: the source's layout, with given options over it."""
    spec = arr.spec
    kw: dict[str, Any] = dict(
        chunks=spec.chunks,
        shards=layout.shards_on(zarr_version, spec.shards),
        compressor=spec.compressor,
        fill_value=spec.fill_value,
        order=spec.order,
        dimension_separator=spec.dimension_separator,
    )
    if config is not None and _restyled(name, arr):
        for option in given:
            kw[_OPTION_KWARGS[option]] = getattr(config, option)
        if "compressor" in given or "compressor_opt" in given:
            kw["compressor"] = config.compressor
            kw["compressor_opt"] = config.compressor_opt
    kw["attributes"] = arr.attrs.asdict() or None
    return kw


def plan_copy(source: ZarrNode, zarr_version: int, config: Any, given: set[str],
              ome_version: str | None = None) -> CopyPlan:
    """Walk ``source``, resolve every destination array's layout and convert every OME
    node's metadata to ``ome_version`` (``None``: keep it, but 0.5/0.6 become 0.4 on a
    Zarr v2 destination, where they are not defined).

    Raises
    ------
    ValueError
        A layout that cannot be written (e.g. a kept shard that is not a whole number
        of the new chunks, zlib on Zarr v3) or metadata the target version cannot hold
        (a 0.6 rotation copied to 0.4): nothing has been written yet.
    """
    plan = CopyPlan(source, zarr_version, config)

    def visit(node: ZarrNode, name: str) -> None:
        if isinstance(node, ZarrArray):
            kw = array_kwargs(name, node, zarr_version, config, given)
            use_config = config if _restyled(name, node) else None
            spec_kw = {k: v for k, v in kw.items() if k != "attributes"}
            try:
                layout.resolve_array_spec(
                    node.shape, node.dtype, zarr_version=zarr_version, config=use_config,
                    **spec_kw,
                )
            except ValueError as exc:
                where = f"array {name!r}" if name else "the array"
                raise ValueError(f"{where}: {exc}") from None
            plan.arrays.append(ArrayCopy(name, node, kw))
        elif isinstance(node, ZarrGroup):
            plan.groups.append((name, node))
            attrs = node.attrs.asdict()
            have = node_version(attrs)
            version = ome_version
            if version is None and have in ("0.5", "0.6") and zarr_version == 2:
                version = "0.4"  # 0.5 and later are defined on Zarr v3 only
            if version is not None and have is not None:
                try:
                    attrs = convert_ome_attrs(attrs, version)
                except ValueError as exc:
                    raise ValueError(f"group {name or '/'!r}: {exc}") from None
            plan.attrs[name] = attrs
            for child in node.keys():
                visit(node[child], f"{name}/{child}" if name else child)

    visit(source, "")
    return plan


def _dimension_names(plan: CopyPlan, item: ArrayCopy) -> list[str] | None:
    """Zarr v3 ``dimension_names`` of a copied array: the source's, or for an OME level
    copied from Zarr v2 the multiscales axis names (NGFF 0.5 requires them)."""
    if plan.zarr_version != 3:
        return None
    if item.source.spec.dimension_names:
        return [str(n) for n in item.source.spec.dimension_names]
    parent, _, leaf = item.name.rpartition("/")
    group = dict(plan.groups).get(parent)
    found = find_multiscale(group.attrs.asdict()) if group is not None else None
    if found is None:
        return None
    version, ms = found
    if not any(str(ds.get("path")) == leaf for ds in ms.get("datasets") or ()):
        return None
    names = [a.get("name") if isinstance(a, dict) else a for a in ms.get("axes") or ()]
    return [str(n) for n in names] if len(names) == item.source.ndim else None


def copy_tree(
    plan: CopyPlan,
    dst: str,
    *,
    driver: str | None,
    overwrite: bool,
    ome_version: str | None,
    storage_options: dict[str, Any] | None,
    write: Callable[[ZarrArray, ZarrArray], None],
) -> list[ZarrArray]:
    """Execute ``plan`` into ``dst``; ``write(source, target)`` copies each array's data.

    ``ome_version`` converts OME-NGFF metadata to that version (``None``: keep it, but
    0.5 becomes 0.4 on a Zarr v2 destination, where 0.5 is not defined).
    """
    from ..api import open_array, open_group

    mode = "w" if overwrite else "w-"
    opts: dict[str, Any] = {"driver": driver, "zarr_version": plan.zarr_version,
                            "storage_options": storage_options}
    written: list[ZarrArray] = []

    def fill(item: ArrayCopy, target: ZarrArray) -> None:
        if target.size:
            write(item.source, target)
        written.append(target)

    if isinstance(plan.source, ZarrArray):
        item = plan.arrays[0]
        use_config = plan.config if _restyled("", item.source) else None
        target = open_array(dst, mode, shape=item.source.shape, dtype=item.source.dtype,
                            zarr_config=use_config, **item.kwargs, **opts)
        fill(item, target)
        return written

    root = open_group(dst, mode, **opts)
    for name, _ in plan.groups:
        if name:
            root.create_group(name)
    for item in plan.arrays:
        use_config = plan.config if _restyled(item.name, item.source) else None
        target = root.create_array(item.name, item.source.shape, item.source.dtype,
                                   zarr_config=use_config, overwrite=True, **item.kwargs)
        names = _dimension_names(plan, item)
        if names is not None:
            set_dimension_names(target, names)
            reopened = root[item.name]  # reopen: an engine may cache the old metadata
            if not isinstance(reopened, ZarrArray):
                raise RuntimeError(f"{item.name} is no longer an array in {dst}")
            target = reopened
        fill(item, target)
    # Attributes last, deepest groups first and the root at the very end: an
    # interrupted copy has data but no OME metadata claiming a complete image.
    for name, _ in sorted(plan.groups, key=lambda g: -g[0].count("/") - bool(g[0])):
        attrs = plan.attrs[name]
        if ome_version is not None and node_version(attrs) not in (None, ome_version):
            attrs = convert_ome_attrs(attrs, ome_version)
        if attrs:
            (root[name] if name else root).attrs.put(attrs)
    return written
