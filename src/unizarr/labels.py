"""OME-NGFF labels: a segmentation stored as ``labels/NAME`` beside its image.

The label image has the image's grid: the same shape (a channel axis, if the image has
one, is 1 long), the same number of levels built by the same halvings (``mode`` by
default, so no label value is invented) and the image's transforms. Its
``image-label`` metadata holds colours and properties read from a BIDS-style lookup
table (a TSV with ``index`` and ``name`` columns, optionally ``color`` as
``#RRGGBB[AA]`` and any others, kept as properties).

Everything is checked before the first write; the ``labels`` group lists the new label
image only once it is complete.
"""

from __future__ import annotations

import copy
import csv
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .core import ZarrArray, ZarrGroup
from .errors import MetadataError
from .ome import find_multiscale, level_paths, set_dimension_names
from .pyramid import next_level_shape, pyramid_axes

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def read_lut(path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``image-label`` colours and properties from a BIDS-style TSV lookup table.

    Columns: ``index`` (the label value, an integer) and ``name`` are required;
    ``color`` (``#RRGGBB`` or ``#RRGGBBAA``) becomes the label's ``rgba``; every other
    column is a property (numbers kept as numbers, ``n/a`` and empty cells left out).

    Returns
    -------
    colors, properties : list of dict
        ``[{"label-value": 1, "rgba": [255, 0, 0, 255]}, ...]`` and
        ``[{"label-value": 1, "name": "cortex", ...}, ...]``.

    Raises
    ------
    ValueError
        A missing column, a bad or repeated index, or a bad colour (naming the file
        and the line).
    """
    path = os.fspath(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path} is empty; a lookup table needs 'index' and 'name' columns")
    head = [h.strip() for h in rows[0]]
    missing = [c for c in ("index", "name") if c not in head]
    if missing:
        raise ValueError(
            f"{path} has no {' or '.join(repr(c) for c in missing)} column (found {head}); "
            "write a tab-separated table with a header line 'index<TAB>name[<TAB>color]'"
        )
    colors: list[dict[str, Any]] = []
    props: list[dict[str, Any]] = []
    seen: set[int] = set()
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(head):
            raise ValueError(f"{path} line {line}: {len(row)} fields, the header has {len(head)}")
        cells = dict(zip(head, (c.strip() for c in row)))
        try:
            value = int(cells["index"])
        except ValueError:
            raise ValueError(f"{path} line {line}: index {cells['index']!r} is not an integer") from None
        if value in seen:
            raise ValueError(f"{path} line {line}: index {value} is listed twice")
        seen.add(value)
        prop: dict[str, Any] = {"label-value": value}
        for key, text in cells.items():
            if key == "index" or text in ("", "n/a"):
                continue
            if key == "color":
                m = _HEX.match(text)
                if not m:
                    raise ValueError(
                        f"{path} line {line}: color {text!r} is not #RRGGBB or #RRGGBBAA"
                    )
                rgb = [int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4)]
                alpha = int(m.group(2), 16) if m.group(2) else 255
                colors.append({"label-value": value, "rgba": rgb + [alpha]})
                continue
            prop[key] = _number(text)
        props.append(prop)
    return colors, props


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _image_levels(image: ZarrGroup) -> tuple[str, dict[str, Any], list[ZarrArray]]:
    """The image's OME version, raw multiscale document and level arrays."""
    found = find_multiscale(image.attrs.asdict())
    if found is None:
        raise MetadataError(
            f"{image.url} is not an OME-Zarr image (no multiscales metadata); labels go "
            "beside an image: convert the image first"
        )
    version, ms = found
    paths = [d["path"] for d in ms["datasets"]]
    if paths != level_paths(image)[: len(paths)]:
        raise MetadataError(f"{image.url}: levels {paths} are not the arrays 0, 1, 2, ...")
    raw = ms.get("0.6", ms)
    return version, raw, [image[p] for p in paths]  # type: ignore[misc]


def _level_factors(shapes: list[tuple[int, ...]], axes: tuple[int, ...], url: str) -> list[tuple[int, ...]]:
    """Per level, the factor (1 or 2) of each of ``axes`` that made the image's level
    from the one before (the image must be a pyramid of 2x halvings, as unizarr's)."""
    out = []
    for j in range(1, len(shapes)):
        prev, cur = shapes[j - 1], shapes[j]
        step = tuple(a for a in range(len(cur)) if cur[a] != prev[a])
        if any(a not in axes for a in step) or next_level_shape(prev, step) != cur:
            raise ValueError(
                f"{url}: level {j} {cur} is not a 2x halving of level {j - 1} {prev} along "
                "its spatial axes; labels can only follow such pyramids"
            )
        # An axis the image halved at size 1 stays 1: a factor of 1 there is the same.
        out.append(tuple(2 if a in step else 1 for a in axes))
    return out


def write_labels(
    image: ZarrGroup,
    name: str,
    data: Any,
    *,
    lut: str | os.PathLike | None = None,
    colors: Sequence[Mapping[str, Any]] | None = None,
    properties: Sequence[Mapping[str, Any]] | None = None,
    method: str = "mode",
    space_scale: Sequence[float] | None = None,
    overwrite: bool = False,
    max_memory: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ZarrGroup:
    """Write ``data`` as the label image ``labels/NAME`` of ``image``.

    Parameters
    ----------
    image : ZarrGroup
        An OME-Zarr image (0.4, 0.5 or 0.6), opened writable.
    name : str
        Label image name (letters, digits, ``_``, ``-``, ``.``).
    data : array-like
        Integer labels (anything with ``shape``, ``dtype`` and region indexing), of the
        image's level-0 shape; an image channel axis may be missing or 1 long.
    lut : path, optional
        BIDS-style TSV lookup table (see :func:`read_lut`) for colours and properties.
    colors, properties : sequence of dict, optional
        ``image-label`` entries given directly (they win over ``lut``'s).
    method : str
        Downsampling of the label levels (``mode``; ``nearest`` also keeps values).
    space_scale : sequence of float, optional
        The labels' voxel size (z, y, x) when known (e.g. from a NIfTI header): it must
        be the image's level-0 voxel size.
    overwrite : bool
        Replace an existing ``labels/NAME``.
    max_memory, progress
        As for :func:`unizarr.generate_pyramid`.

    Returns
    -------
    ZarrGroup
        The label image group.

    Raises
    ------
    ValueError
        A bad name, a non-integer dtype, a shape or voxel size that is not the image's,
        a bad lookup table, or an image pyramid that is not made of 2x halvings.
    MetadataError
        ``image`` is not an OME-Zarr image.
    FileExistsError
        ``labels/NAME`` exists and ``overwrite`` is false.
    """
    from .pyramid import generate_pyramid  # the public entry point, as users call it

    if not isinstance(image, ZarrGroup):
        raise TypeError(f"write_labels needs a unizarr ZarrGroup, got {type(image).__name__}")
    image._check_writable()
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"label name {name!r}: use letters, digits, '_', '-' or '.'")
    if method not in ("mode", "nearest", "min", "max"):
        raise ValueError(f"method {method!r} would invent label values; use mode or nearest")
    dtype = np.dtype(getattr(data, "dtype", None) or np.asarray(data).dtype)
    if dtype.kind not in "iu":
        raise ValueError(
            f"labels must have an integer dtype, got {dtype}; cast the segmentation to "
            "an integer type (e.g. uint16) first"
        )
    version, ms, levels = _image_levels(image)
    seen_ms = find_multiscale(image.attrs.asdict())[1]  # type: ignore[index]
    axes = [a["name"] for a in seen_ms["axes"]]
    shape0 = tuple(levels[0].shape)
    want = tuple(1 if a == "c" else n for a, n in zip(axes, shape0))
    shape = tuple(int(n) for n in data.shape)
    if "c" in axes and len(shape) == len(want) - 1:
        shape = want[: axes.index("c")] + (1,) + shape[axes.index("c"):]
        data = _AddAxis(data, axes.index("c"))
    if shape != want:
        raise ValueError(
            f"labels of shape {tuple(data.shape)} do not fit {image.url} (level 0 "
            f"{shape0}, axes {axes}); the segmentation must be on the image's voxel grid"
        )
    if space_scale is not None:
        t0 = seen_ms["datasets"][0]["coordinateTransformations"]
        scale0 = next(t["scale"] for t in t0 if t["type"] == "scale")
        img_space = [s for s, a in zip(scale0, seen_ms["axes"]) if a.get("type") == "space"]
        if not np.allclose(img_space, list(space_scale), rtol=1e-4):
            raise ValueError(
                f"labels voxel size {list(space_scale)} is not the image's {img_space}; "
                "resample the segmentation onto the image grid first"
            )
    spatial = tuple(i for i, a in enumerate(seen_ms["axes"]) if a.get("type") == "space")
    factors = _level_factors([tuple(a.shape) for a in levels], spatial, image.url)
    if spatial != pyramid_axes(len(axes), None, len(spatial)):
        raise ValueError(f"{image.url}: the space axes {axes} are not the last axes")
    lut_colors, lut_props = read_lut(lut) if lut is not None else ([], [])
    colors = list(colors) if colors is not None else lut_colors
    properties = list(properties) if properties is not None else lut_props
    exists = "labels" in image and name in image["labels"]  # type: ignore[operator]
    if exists and not overwrite:
        raise FileExistsError(
            f"{image.url}/labels/{name} exists; choose another --name or overwrite it"
        )

    # -- checks done: write ------------------------------------------------------------------
    labels = image.create_group("labels")
    group = labels.create_group(name, overwrite=exists)
    base = levels[0]
    # The image's chunks (and shards), so label and image blocks line up; a channel
    # axis is 1 long here.
    layout: dict[str, Any] = {
        "chunks": tuple(1 if a == "c" else c for a, c in zip(axes, base.chunks))
    }
    if base.spec.shards:
        layout["shards"] = tuple(1 if a == "c" else s for a, s in zip(axes, base.spec.shards))
    group.create_array("0", shape, dtype, **layout)
    generate_pyramid(
        group, len(levels) - 1, method=method, source=data, write_base=True,
        spatial_ndim=len(spatial), factors=factors if factors else None,
        max_memory=max_memory, progress=progress, client=False,
    )
    _write_label_metadata(image, labels, group, name, version, ms, axes, colors, properties)
    return group


class _AddAxis:
    """``data`` seen with a 1-long axis inserted at ``axis`` (a missing channel axis)."""

    def __init__(self, data: Any, axis: int) -> None:
        self._data, self._axis = data, axis
        shape = list(data.shape)
        shape.insert(axis, 1)
        self.shape, self.dtype, self.ndim = tuple(shape), data.dtype, len(shape)

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        inner = region[: self._axis] + region[self._axis + 1:]
        return np.expand_dims(np.asarray(self._data[inner]), self._axis)


def _write_label_metadata(
    image: ZarrGroup,
    labels: ZarrGroup,
    group: ZarrGroup,
    name: str,
    version: str,
    ms: Mapping[str, Any],
    axes: list[str],
    colors: Sequence[Mapping[str, Any]],
    properties: Sequence[Mapping[str, Any]],
) -> None:
    label_ms = copy.deepcopy(dict(ms))
    label_ms["name"] = name
    label_ms.pop("type", None)
    label_ms.pop("version", None)
    image_label: dict[str, Any] = {"source": {"image": "../../"}}
    if colors:
        image_label["colors"] = [dict(c) for c in colors]
    if properties:
        image_label["properties"] = [dict(p) for p in properties]
    for j in range(len(ms["datasets"])):
        set_dimension_names(group[str(j)], axes)  # type: ignore[arg-type]
    attrs = group.attrs.asdict()
    if version == "0.4":
        attrs["multiscales"] = [{"version": "0.4", **label_ms}]
        attrs["image-label"] = {"version": "0.4", **image_label}
    else:
        attrs["ome"] = {"version": version, "multiscales": [label_ms], "image-label": image_label}
    group.attrs.put(attrs)
    # Listed last: a label image that is not complete is never announced.
    top = labels.attrs.asdict()
    if version == "0.4":
        names = [n for n in top.get("labels", []) if n != name]
        top["labels"] = names + [name]
    else:
        ome = dict(top.get("ome") or {})
        names = [n for n in ome.get("labels", []) if n != name]
        ome.update({"version": version, "labels": names + [name]})
        top["ome"] = ome
    labels.attrs.put(top)


__all__ = ["read_lut", "write_labels"]
