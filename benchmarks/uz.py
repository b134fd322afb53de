"""unizarr rows, through its public API only.

unizarr is imported from the working tree (``<repo>/src``) when it is there,
so the harness measures the checked-out code without an install. While the
API is still being written, a missing module or name, or a
``NotImplementedError`` raised by it, makes the row ``n/a (unizarr not
available: ...)`` instead of an error; anything else that fails inside an
existing API call is reported as an error, so bugs are not hidden.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from types import ModuleType

import numpy as np

from .contenders import RunContext, Unavailable
from .layouts import AXES, CHUNK, CLEVEL, CNAME
from .reads import EDGE, level0_path, run_reads

LEVELS = 3
PIPELINE_API = ("ZarrConfig", "from_config", "generate_pyramid", "write_ome_metadata")
READ_API = ("open_array",)
DRIVERS = {"ts": "tensorstore", "zarr": "zarr-python"}


def import_unizarr(api: tuple[str, ...]) -> ModuleType:
    """Import unizarr (working tree first) and check that the names in ``api`` exist.

    Raises
    ------
    Unavailable
        If the package or one of the names is missing.
    """
    src = Path(__file__).resolve().parents[1] / "src"
    if (src / "unizarr" / "__init__.py").exists() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    try:
        import unizarr
    except ImportError as exc:
        raise Unavailable(f"import failed: {exc}") from exc
    missing = [name for name in api if not hasattr(unizarr, name)]
    if missing:
        raise Unavailable(f"missing {', '.join(missing)}")
    return unizarr


def _describe(uz: ModuleType) -> str:
    return f"{getattr(uz, '__version__', '?')} at {Path(uz.__file__).parent}"


def _group(ctx: RunContext, driver: str) -> tuple[ModuleType, object, object]:
    """unizarr, the output root group and its config, as a converter would make them."""
    uz = import_unizarr(PIPELINE_API)
    layout = ctx.layout
    if layout is None:
        raise Unavailable("no layout")
    ctx.info["unizarr"] = _describe(uz)
    try:
        cfg = uz.ZarrConfig(
            zarr_version=layout.zarr_version,
            chunk=(CHUNK,),
            shard=(layout.shard,) if layout.shard else None,
            compressor="blosc",
            compressor_opt={"cname": CNAME, "clevel": CLEVEL, "shuffle": "shuffle"},
            ome_version=layout.ome_version,
            overwrite=True,
            driver=driver,
        )
        group = uz.from_config(str(ctx.out), cfg)
    except AttributeError as exc:
        raise Unavailable(str(exc)) from exc
    return uz, group, cfg


def _pipeline(ctx: RunContext, driver: str) -> None:
    """The main job the recommended way: level 0 and every pyramid level computed in one
    pass over the input (level 0 is never decompressed again), then OME metadata."""
    uz, group, cfg = _group(ctx, driver)
    layout = ctx.layout
    group.create_array("0", ctx.volume.shape, ctx.volume.dtype, zarr_config=cfg)
    uz.generate_pyramid(group, levels=LEVELS, method="mean", source=ctx.volume, write_base=True)
    uz.write_ome_metadata(group, list(AXES), ome_version=layout.ome_version)
    ctx.durable()


def _api_pipeline(ctx: RunContext, driver: str) -> None:
    """The main job the straightforward way, as converters write it: level 0 from the
    array (``create_array(data=volume)``), then ``generate_pyramid`` and the OME
    metadata, no ``source=``. The input is a read-only memmap (``np.load(path,
    mmap_mode="r")``), which unizarr may reuse for level 1 instead of reading level 0
    back, and reduce to level 1 while level 0 is written; ``info["level0_reuse"]`` and
    ``info["level1_ahead"]`` say whether it did."""
    uz, group, cfg = _group(ctx, driver)
    layout = ctx.layout
    volume = ctx.volume
    if ctx.warmup and not isinstance(volume, np.memmap):
        # The warm-up volume is made in memory: give it the timed run's input form so
        # the same code path (reuse included) is warmed.
        npy = ctx.out.with_name(ctx.out.name + ".npy")
        np.save(npy, volume)
        volume = np.load(npy, mmap_mode="r")
    with ctx.phase("level0"):
        group.create_array("0", volume.shape, volume.dtype, zarr_config=cfg, data=volume)
    uz.generate_pyramid(group, levels=LEVELS, method="mean")
    uz.write_ome_metadata(group, list(AXES), ome_version=layout.ome_version)
    ctx.durable()
    try:
        from unizarr import level0_reuse

        stats = level0_reuse.stats()
        ctx.info["level0_reuse"] = stats["last"]
        ctx.info["level1_ahead"] = stats.get("level1", "not available")
    except ImportError:  # an older unizarr: it always read level 0 back
        ctx.info["level0_reuse"] = "not available"


def _level0(ctx: RunContext, driver: str) -> None:
    """Level 0 only (an array at the output root, like the raw rows), through
    ``open_array(..., data=volume)``: compared with the raw engines."""
    uz = import_unizarr(PIPELINE_API + READ_API)
    layout = ctx.layout
    if layout is None:
        raise Unavailable("no layout")
    ctx.info["unizarr"] = _describe(uz)
    uz.open_array(
        str(ctx.out), "w", driver=driver, zarr_version=layout.zarr_version,
        shape=ctx.volume.shape, dtype=ctx.volume.dtype, chunks=(CHUNK,),
        shards=(layout.shard,) if layout.shard else None, compressor="blosc",
        compressor_opt={"cname": CNAME, "clevel": CLEVEL, "shuffle": "shuffle"},
        data=ctx.volume,
    )
    ctx.durable()


def _not_implemented_is_unavailable(func, ctx: RunContext, driver: str) -> None:  # noqa: ANN001
    """Run ``func``; a ``NotImplementedError`` from unizarr means "not written yet"."""
    try:
        func(ctx, driver)
    except NotImplementedError as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
        raise Unavailable(f"NotImplementedError in {where} {exc}".rstrip()) from exc


def pipeline_ts(ctx: RunContext) -> None:
    """Full pipeline on the TensorStore driver."""
    _not_implemented_is_unavailable(_pipeline, ctx, DRIVERS["ts"])


def pipeline_zarr(ctx: RunContext) -> None:
    """Full pipeline on the zarr-python driver."""
    _not_implemented_is_unavailable(_pipeline, ctx, DRIVERS["zarr"])


def api_ts(ctx: RunContext) -> None:
    """Straightforward pipeline (create_array(data=) then generate_pyramid) on TensorStore."""
    _not_implemented_is_unavailable(_api_pipeline, ctx, DRIVERS["ts"])


def api_zarr(ctx: RunContext) -> None:
    """Straightforward pipeline on zarr-python."""
    _not_implemented_is_unavailable(_api_pipeline, ctx, DRIVERS["zarr"])


def level0_ts(ctx: RunContext) -> None:
    """Level-0 write on the TensorStore driver."""
    _not_implemented_is_unavailable(_level0, ctx, DRIVERS["ts"])


def level0_zarr(ctx: RunContext) -> None:
    """Level-0 write on the zarr-python driver."""
    _not_implemented_is_unavailable(_level0, ctx, DRIVERS["zarr"])


def _reads(ctx: RunContext, driver: str) -> None:
    uz = import_unizarr(READ_API)
    ctx.info["unizarr"] = _describe(uz)
    arr = uz.open_array(level0_path(ctx), mode="r", driver=driver)
    ctx.state["shape"] = tuple(arr.shape)
    run_reads(ctx, lambda z, y, x: np.asarray(arr[z : z + EDGE, y : y + EDGE, x : x + EDGE]))


def reads_ts(ctx: RunContext) -> None:
    """Random reads through ``uz.open_array(driver="tensorstore")``."""
    _not_implemented_is_unavailable(_reads, ctx, DRIVERS["ts"])


def reads_zarr(ctx: RunContext) -> None:
    """Random reads through ``uz.open_array(driver="zarr-python")``."""
    _not_implemented_is_unavailable(_reads, ctx, DRIVERS["zarr"])
