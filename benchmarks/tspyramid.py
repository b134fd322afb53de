"""Hand-rolled TensorStore pyramid: the "careful user" reference.

Level 0 is written from the input; level 1 is TensorStore's ``downsample``
driver (method ``mean``) over the *input* array (referenced, not copied, so
level 0 is not read back from disk); levels 2 and 3 downsample the previous
stored level. OME metadata is written as plain JSON. Out of core, level 0 is
written in shard-thick z slabs so only one slab's encoded chunks are in
flight.
"""

from __future__ import annotations

import json
from pathlib import Path

from .contenders import RunContext
from .layouts import SHARD, Layout, ome_multiscales
from .raw import ts_context, ts_write_level

LEVELS = 3


def write_ome_group(
    root: Path, layout: Layout, levels: int, paths: list[str] | None = None
) -> None:
    """Write the root group metadata with an OME ``multiscales`` entry.

    Parameters
    ----------
    root : Path
        Group directory (already holding the level arrays).
    layout : Layout
        Decides v2 ``.zgroup``/``.zattrs`` (OME 0.4) or v3 ``zarr.json`` (OME 0.5).
    levels : int
        Number of downsampled levels below level 0.
    paths : list of str, optional
        Dataset paths, ``"0"``..``str(levels)`` by default.
    """
    ms = ome_multiscales(layout, levels, paths)
    root.mkdir(parents=True, exist_ok=True)
    if layout.zarr_version == 2:
        (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
        (root / ".zattrs").write_text(json.dumps({"multiscales": [ms]}, indent=2))
    else:
        doc = {
            "zarr_format": 3,
            "node_type": "group",
            "attributes": {"ome": {"version": layout.ome_version, "multiscales": [ms]}},
        }
        (root / "zarr.json").write_text(json.dumps(doc, indent=2))


def _write_level0_slabs(layout: Layout, path: str, volume, context) -> object:  # noqa: ANN001
    """Create level 0 and fill it slab by slab from a memmap (bounded memory)."""
    import tensorstore as ts

    from .layouts import ts_spec

    dst = ts.open(
        ts_spec(layout, path, tuple(volume.shape), str(volume.dtype)),
        create=True,
        delete_existing=True,
        context=context,
    ).result()
    step = layout.shard or SHARD  # whole shards per write: no read-modify-write
    for z0 in range(0, volume.shape[0], step):
        z1 = min(volume.shape[0], z0 + step)
        dst[z0:z1].write(ts.array(volume[z0:z1], copy=False)).result()
    return dst


def ts_pyramid(ctx: RunContext) -> None:
    """Level 0 + ``LEVELS`` 2x mean levels + OME metadata, all through TensorStore."""
    import tensorstore as ts

    assert ctx.layout is not None
    layout, root = ctx.layout, ctx.out
    context = ts_context(ctx.fsync)
    with ctx.phase("level0"):
        if ctx.out_of_core:
            _write_level0_slabs(layout, str(root / "0"), ctx.volume, context)
        else:
            ts_write_level(layout, str(root / "0"), ctx.volume, context)
    # copy=False: the downsample view reads the caller's array (or memmap) in place.
    prev = ts.array(ctx.volume, copy=False)
    for level in range(1, LEVELS + 1):
        view = ts.downsample(prev, [2, 2, 2], method="mean")
        prev = ts_write_level(layout, str(root / str(level)), view, context)
    write_ome_group(root, layout, LEVELS)
    ctx.durable()
