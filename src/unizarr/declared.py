"""Members a group's own metadata names: traversal without directory listings.

Object stores without list permission and most static HTTP servers refuse to list a
"directory" (403), yet an OME-Zarr names its members in its documents: the multiscales
``datasets`` paths, the ``labels`` list of a ``labels`` group, a plate's rows and wells,
a well's images, the ``bioformats2raw.layout`` series, and the NIfTI-Zarr ``nifti``
array. :func:`declared_members` lists those names; :meth:`unizarr.ZarrGroup.keys` falls
back to them (keeping only names whose metadata exists) when the listing fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: How many ``bioformats2raw.layout`` series are probed ("0", "1", ...) at most.
MAX_SERIES = 64


def _first_segment(path: Any) -> str | None:
    if not isinstance(path, str):
        return None
    head = path.strip("/").split("/", 1)[0]
    return head or None


def declared_members(attrs: Mapping[str, Any]) -> list[str]:
    """Candidate member names (first path segments) named by a group's attributes.

    Candidates may not exist: callers check each one's metadata.
    """
    nested = attrs.get("ome")
    ome: Mapping[str, Any] = nested if isinstance(nested, Mapping) else attrs
    names: list[str] = []

    def add(value: Any) -> None:
        seg = _first_segment(value)
        if seg is not None and seg not in names:
            names.append(seg)

    for ms in ome.get("multiscales") or []:
        if isinstance(ms, Mapping):
            for ds in ms.get("datasets") or []:
                if isinstance(ds, Mapping):
                    add(ds.get("path"))
    if ome.get("multiscales"):
        add("labels")  # an image's label images live in its "labels" group
        add("nifti")  # the NIfTI-Zarr header array
    for label in ome.get("labels") or []:
        add(label)
    plate = ome.get("plate")
    if isinstance(plate, Mapping):
        for row in plate.get("rows") or []:
            if isinstance(row, Mapping):
                add(row.get("name"))
        for well in plate.get("wells") or []:
            if isinstance(well, Mapping):
                add(well.get("path"))
    well = ome.get("well")
    if isinstance(well, Mapping):
        for image in well.get("images") or []:
            if isinstance(image, Mapping):
                add(image.get("path"))
    if ome.get("bioformats2raw.layout") is not None or attrs.get("bioformats2raw.layout") is not None:
        add("OME")
        names.extend(str(i) for i in range(MAX_SERIES) if str(i) not in names)
    return names
