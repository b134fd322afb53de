"""Convert an image (NIfTI, TIFF, .npy, Zarr, ... any registered reader) to an OME-Zarr
with a multiscale pyramid: :func:`convert`, the library behind ``unizarr convert``.

Order matters for interrupted runs: level 0, then the NIfTI header, then the pyramid,
and the OME multiscales metadata last - a store without it never claims to be a
complete image. The run record (:mod:`unizarr.convert_run`) lets ``resume`` finish an
interrupted conversion of the same input with the same options. Nothing here prints:
progress goes to the caller's ``progress(done, total)`` callback.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from .aliases import CONFIG_ALIASES, resolve
from .api import from_config, open_group
from .blocks import aligned_chunks
from .channels import check_color, parse_windows, write_omero
from .config import ZarrConfig
from .convert_run import (
    CONVERT_RECORD,
    PyramidSettings,
    _convert_record,
    _input_fingerprint,
    _open_for_resume,
    _set_record,
)
from .core import ZarrArray, ZarrGroup
from .layout import resolve_array_spec, shard_bytes_for_budget, shard_write_bytes
from .nifti import ome_affine, read_nifti_header, write_nifti_header
from .ome import SPACE_UNITS, write_ome_metadata
from .outputs import Interrupted, check_output, write_output
from .pyramid import RUN_RECORD, generate_pyramid, parse_factors, pyramid_axes
from .readers import fit_to_budget, open_input
from .readers.gzip_spill import shared_spills
from .readers.volume import Volume, normalize_unit
from .readers.worker_input import InputRef, input_on_workers

__all__ = ["CONVERT_RECORD", "ConvertResult", "MemoryBudgetWarning", "PyramidSettings",
           "convert", "convert_labels", "convert_volume", "scheduler_client",
           "DEFAULT_MAX_MEMORY"]

#: Working-set budget of a conversion when ``max_memory`` is not given.
DEFAULT_MAX_MEMORY = 512 * 2**20

Progress = Callable[[int, int], None]


class MemoryBudgetWarning(UserWarning):
    """The requested layout cannot be written within ``max_memory`` (one shard is
    the floor of a write): the conversion goes on, above the budget."""


@dataclass
class ConvertResult:
    """What :func:`convert_volume` wrote."""

    output: str
    shapes: list[tuple[int, ...]]
    dtype: np.dtype
    axes: tuple[str, ...]
    nbytes: int
    nbytes_stored: int
    seconds: float
    ome_version: str
    nifti: bool
    #: With ``resume``: ``"finished"`` (an interrupted run was completed) or
    #: ``"verified"`` (the run had completed; its blocks were checked, torn ones rewritten).
    resumed: str = ""
    #: What the input said (after the ``voxel_size``/``unit``/``name`` overrides).
    input_format: str = ""
    space_scale: tuple[float, ...] = ()
    space_unit: str | None = None
    #: ``series="all"``: one result per series (this one describes the first).
    series: list[ConvertResult] = field(default_factory=list)
    #: With ``resume``, per level (empty lists without ``resume``): the write blocks
    #: (shards, or chunks) an earlier run had stored and this run kept, and their
    #: logical bytes (a block found torn is rewritten, yet counted here); the blocks
    #: this run stored that were not there before; and the level's write blocks (the
    #: rest hold only the fill value, which is never stored).
    reused_blocks: list[int] = field(default_factory=list)
    reused_bytes: list[int] = field(default_factory=list)
    written_blocks: list[int] = field(default_factory=list)
    level_blocks: list[int] = field(default_factory=list)



class _RegionSource:
    """A :class:`~unizarr.io.Volume` seen as the array-like ``generate_pyramid(source=)``
    reads regions from."""

    def __init__(self, vol: Volume) -> None:
        self._vol = vol
        self.shape = tuple(vol.shape)
        self.dtype = np.dtype(vol.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self._vol.read_region(region))


def convert_volume(
    vol: Volume,
    output: str,
    cfg: ZarrConfig,
    *,
    pyramid: PyramidSettings,
    ome_version: str,
    max_memory: int,
    progress: Progress | None = None,
    storage_options: dict[str, Any] | None = None,
    resume: bool = False,
    client: Any = None,
    input_ref: InputRef | None = None,
    omero: dict[str, Any] | None = None,
) -> ConvertResult:
    """Write ``vol`` (a :class:`unizarr.io.Volume`) as an OME-Zarr at ``output``.

    Order matters for interrupted runs: level 0, then the NIfTI header, then the
    pyramid, and the OME multiscales metadata last - a store without it never claims
    to be a complete image.

    With ``resume``, an existing ``output`` left by an interrupted conversion of the
    same input with the same options is finished: only the blocks it does not hold
    yet are written (see ``docs/resume.md``). A missing output is converted afresh.

    With a ``dask.distributed`` ``client``, the workers read the input (reopened from
    ``input_ref``), write level 0 and build the pyramid; this process writes the
    metadata (NIfTI header first, OME multiscales last, as above).

    Raises
    ------
    ValueError
        ``resume`` and the existing output's layout is not the requested one.
    """
    start = time.perf_counter()
    fit_to_budget(vol, max_memory)  # reader caches share the budget
    cfg = replace(cfg, no_time=vol.axes[:1] == ("c",) and vol.ndim == 4)
    # Before the record: a resume with the same budget resolves the same shard.
    cfg = shard_within_budget(cfg, vol.shape, vol.dtype, max_memory)
    record = _convert_record(vol, cfg, pyramid, ome_version, input_ref)
    root, state = None, ""
    if resume:
        root, state = _open_for_resume(output, cfg, vol, storage_options, record)
    if root is None:
        root = from_config(output, cfg, storage_options=storage_options)
    try:
        # Before any data: a resume needs this record to match (kept when complete).
        _set_record(root, record, "running")
        if resume and "0" in root:
            base = cast(ZarrArray, root["0"])  # checked by _open_for_resume
        else:
            base = root.create_array("0", vol.shape, vol.dtype, zarr_config=cfg)
        if vol.nifti_header is not None:
            write_nifti_header(root, vol.nifti_header)
        # The pyramid's own record exists once its build started; before that,
        # nothing of any level is there to keep.
        keep = resume and root._get_hidden(RUN_RECORD) is not None
        stored_before = _stored_blocks(root) if keep else {}
        # One pass over the input writes level 0 and computes every pyramid level from
        # the blocks while they are in memory: level 0 is never read back.
        # ``progress(done, total)`` counts the blocks of that pass.
        shapes = generate_pyramid(
            root,
            cfg.levels,
            method=pyramid.method,
            no_pyramid_axis=pyramid.no_pyramid_axis,
            **_sampling_kwargs(vol, pyramid),
            max_memory=max_memory,
            source=_level0_source(vol, base, max_memory, client, input_ref),
            write_base=True,
            progress=progress,
            resume=keep,
            client=client if client is not None else False,
            source_id=_input_fingerprint(input_ref),
        )
        write_ome_metadata(
            root,
            list(vol.axes),
            space_scale=list(vol.space_scale),
            time_scale=vol.time_scale,
            # None when the input does not say: NGFF allows no unit, and an invented
            # one would be a false claim.
            space_unit=vol.space_unit,
            time_unit=vol.time_unit if "t" in vol.axes else None,
            name=vol.name,
            multiscales_type=pyramid.method,
            # Each level averages 2x2x2 windows of the previous one: a window of size 2
            # (nifti-zarr's numeric form), not a corner-aligned resampling.
            pyramid_aligns=2,
            ome_version=ome_version,
            **_affine_kwargs(vol, ome_version),
        )
        if omero is None and vol.channel_names:
            # the input's own channel names; colours and windows chosen as for --channel-names
            omero = {"names": list(vol.channel_names)}
        if omero is not None:
            write_omero(root, **omero)
        _set_record(root, record, "complete")
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {output} is incomplete (no OME multiscales metadata was "
            "written): run the same command with --resume to finish it"
        ) from None
    levels = [cast(ZarrArray, root[str(i)]) for i in range(len(shapes))]
    reuse = _reuse(levels, stored_before if resume else None)
    return ConvertResult(
        output=output,
        shapes=[tuple(s) for s in shapes],
        dtype=base.dtype,
        axes=tuple(vol.axes),
        nbytes=sum(a.nbytes for a in levels),
        nbytes_stored=sum(a.nbytes_stored for a in levels),
        seconds=time.perf_counter() - start,
        ome_version=ome_version,
        nifti=vol.nifti_header is not None,
        resumed={"running": "finished", "complete": "verified"}.get(state, ""),
        reused_blocks=reuse[0], reused_bytes=reuse[1], written_blocks=reuse[2],
        level_blocks=reuse[3],
        input_format=vol.format,
        space_scale=tuple(vol.space_scale),
        space_unit=vol.space_unit,
    )


def _mib(nbytes: int) -> str:
    return f"{round(nbytes / 2**20, 1):g} MiB"


def shard_within_budget(
    cfg: ZarrConfig, shape: Sequence[int], dtype: Any, max_memory: int
) -> ZarrConfig:
    """``cfg`` with ``shard="auto"`` resolved for ``max_memory``, and a
    :class:`MemoryBudgetWarning` when the shard written cannot fit that budget.

    Rule: writing a shard takes about :data:`~unizarr.layout.SHARD_WRITE_UNIT` (5)
    times its uncompressed size per concurrent writer (the decoded shard, the engine's
    copy and encode buffers, the level-1 tile and its write). ``"auto"`` grows the
    shard (see :func:`~unizarr.layout.auto_shard`) only while two writers fit: at most
    ``max_memory / 10`` (256 MiB -> 16 MiB, 128x256x256 uint16). An explicit shard is
    kept (it is the user's layout; the pyramid then runs fewer writers), with a
    warning when even one writer exceeds ``max_memory``; one chunk is the floor of
    ``"auto"``, warned about likewise.
    """
    if cfg.shard is None or cfg.zarr_version == 2 or len(shape) == 0:
        return cfg
    spec = resolve_array_spec(
        shape, dtype, zarr_version=cfg.zarr_version, config=cfg,
        max_shard_bytes=shard_bytes_for_budget(max_memory),
    )
    if spec.shards is None:
        return cfg
    nbytes = math.prod(spec.shards) * spec.dtype.itemsize
    need = shard_write_bytes(nbytes)
    if need > max_memory:
        shown = "x".join(map(str, spec.shards))
        if cfg.shard == "auto":
            fix = f"pass a smaller --chunk or --max-memory {math.ceil(need / 2**20)}M"
            what = f"one chunk ({shown}, {_mib(nbytes)}) is the smallest shard"
        else:
            fitting = resolve_array_spec(
                shape, dtype, zarr_version=cfg.zarr_version,
                config=replace(cfg, shard="auto"),
                max_shard_bytes=shard_bytes_for_budget(max_memory),
            ).shards or ()
            fix = (f"pass --shard auto (here {'x'.join(map(str, fitting))}) or "
                   f"--max-memory {math.ceil(need / 2**20)}M")
            what = f"shard {shown} is {_mib(nbytes)} uncompressed"
        warnings.warn(
            f"{what}: writing it takes about {_mib(need)}, above --max-memory "
            f"{_mib(max_memory)}; memory will exceed the budget: {fix}",
            MemoryBudgetWarning, stacklevel=2,
        )
    if cfg.shard == "auto":
        return replace(cfg, shard=spec.shards)
    return cfg


def _stored_blocks(root: ZarrGroup) -> dict[str, set[tuple[int, ...]]]:
    """The stored write blocks of each level array of ``root`` (before a resume)."""
    return {name: node.stored_blocks() for name, node in root.arrays() if name.isdigit()}


def _reuse(levels: list[ZarrArray], before: dict[str, set[tuple[int, ...]]] | None
           ) -> tuple[list[int], list[int], list[int], list[int]]:
    """:class:`ConvertResult`'s ``reused_blocks``, ``reused_bytes``, ``written_blocks``
    and ``level_blocks``: each level's stored blocks ``before`` this run against those
    stored now (``before`` is ``None``: not a resume, all empty)."""
    if before is None:
        return [], [], [], []
    reused, nbytes, written, grid = [], [], [], []
    for i, arr in enumerate(levels):
        wb = arr.write_block
        kept = before.get(str(i), set())
        reused.append(len(kept))
        nbytes.append(sum(
            math.prod(min(w, n - b * w) for b, w, n in zip(idx, wb, arr.shape)) for idx in kept
        ) * arr.dtype.itemsize)
        written.append(len(arr.stored_blocks() - kept))
        grid.append(math.prod(-(-n // w) for n, w in zip(arr.shape, wb)))
    return reused, nbytes, written, grid


def _omero_options(
    vol: Volume, names: str | None, colors: str | None, contrast: str | None
) -> dict[str, Any] | None:
    """``write_omero`` arguments from the channel options, checked against the input's
    channel count before anything is written (``None``: no channel option given)."""
    if names is None and colors is None and contrast is None:
        return None
    n = vol.shape[vol.axes.index("c")] if "c" in vol.axes else 1
    out: dict[str, Any] = {}
    for option, text, key in (("--channel-names", names, "names"),
                              ("--channel-colors", colors, "colors")):
        if text is None:
            continue
        values = [v.strip() for v in text.split(",")]
        if len(values) != n:
            raise ValueError(f"{option} has {len(values)} values for {n} channel(s)")
        out[key] = values
    for c in out.get("colors", []):
        check_color(c)
    if contrast is not None:
        out["windows"] = parse_windows(contrast, n)
    return out


def _sampling_kwargs(vol: Volume, pyramid: PyramidSettings) -> dict[str, Any]:
    """``generate_pyramid``'s sampling arguments: the voxel size of each downsampled
    axis for anisotropic sampling (isotropic when a downsampled axis has none, e.g.
    the channel axis of a 3-D (c, y, x) input)."""
    kwargs: dict[str, Any] = {"factors": pyramid.factors}
    if pyramid.factors is not None or pyramid.sampling == "isotropic":
        return kwargs
    axes = pyramid_axes(len(vol.axes), pyramid.no_pyramid_axis)
    space = [i for i, a in enumerate(vol.axes) if a in ("z", "y", "x")]
    if any(a not in space for a in axes):
        return kwargs
    sizes = [vol.space_scale[space.index(a)] for a in axes]
    return {**kwargs, "sampling": "anisotropic", "voxel_size": sizes}


def _affine_kwargs(vol: Volume, ome_version: str) -> dict[str, Any]:
    """The world affine of a NIfTI input for OME 0.6 (``{}`` otherwise: 0.4/0.5 have
    no place for it, and the NIfTI-Zarr header keeps it in any case)."""
    if ome_version != "0.6" or vol.nifti_header is None:
        return {}
    found = ome_affine(vol.nifti_header, vol.axes, vol.space_scale)
    if found is None:
        return {}
    return {"affine": found[0], "affine_system": found[1]}


def _level0_source(
    vol: Volume, base: ZarrArray, max_memory: int, client: Any, ref: InputRef | None
) -> Any:
    """What level 0 is read from: the volume itself, or on a cluster a dask array
    whose tasks open the input on their worker, in chunks of whole write blocks of
    about a third of the budget (each worker thread holds the chunk, its cast and its
    encoded copy)."""
    if client is None:
        return _RegionSource(vol)
    if ref is None:
        raise TypeError("reading the input on a cluster needs its InputRef")
    chunks = aligned_chunks(vol.shape, base.write_block, vol.dtype.itemsize, max_memory // 3)
    return input_on_workers(ref, vol, chunks)


@contextmanager
def scheduler_client(scheduler: str | None) -> Iterator[Any]:
    """A ``dask.distributed`` client of the running scheduler ``scheduler`` (an address
    such as ``tcp://host:8786``, or the path of a scheduler file, ``*.json``), closed
    on exit; ``None`` yields ``None``.

    Raises
    ------
    ValueError
        ``distributed`` is not installed.
    FileNotFoundError
        A scheduler file that does not exist.
    OSError
        The scheduler cannot be reached.
    """
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(
            "--scheduler needs the 'distributed' package (pip install distributed)"
        ) from None
    if scheduler.endswith(".json") or os.path.isfile(scheduler):
        if not os.path.isfile(scheduler):
            # Client would wait for the file to appear until its timeout.
            raise FileNotFoundError(f"no scheduler file {scheduler}")
        kwargs: dict[str, Any] = {"scheduler_file": scheduler}
    else:
        kwargs = {"address": scheduler}
    try:
        client = Client(**kwargs, timeout=20)
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the dask scheduler {scheduler}: {' '.join(str(exc).split()) or type(exc).__name__}") from None
    with client:
        yield client



def _apply_overrides(
    vol: Volume, scale: list[float] | None, space_unit: str | None, name: str | None
) -> None:
    """--voxel-size, --unit and --name over what the input says."""
    if scale is not None:
        nspace = len(vol.space_scale)
        if len(scale) not in (1, nspace):
            raise ValueError(f"--voxel-size needs 1 or {nspace} values, got {len(scale)}")
        vol.space_scale = tuple(scale * nspace if len(scale) == 1 else scale)
    if space_unit is not None:
        vol.space_unit = space_unit
    if name is not None:
        vol.name = name


def _verified_series_count(
    input: str, cfg: ZarrConfig, reader: str | None, storage_options: dict[str, Any] | None
) -> int:
    """How many series INPUT holds, each opened (and so verified) before anything is
    written or replaced."""
    from .readers import count_series

    n = count_series(input, reader)
    for i in range(n):
        with open_input(input, reader=reader, series=i, driver=cfg.driver,
                        storage_options=storage_options, no_time=cfg.no_time):
            pass
    return n


def _convert_all_series(
    input: str, output: str, cfg: ZarrConfig, n: int, *, reader: str | None,
    pyramid: PyramidSettings, ome_version: str, max_memory: int,
    overrides: tuple[Any, Any, Any], storage_options: dict[str, Any] | None,
    resume: bool, client: Any, progress: Progress | None,
) -> ConvertResult:
    """``series="all"``: every image of INPUT as ``OUTPUT/<i>``, in the bioformats2raw
    layout (``bioformats2raw.layout`` on the root, the series list on ``OUTPUT/OME``).

    The ``n`` series were verified by :func:`_verified_series_count`; the root's
    attributes, which say "this is a complete collection", are written last.
    """
    if resume and _exists(output, storage_options):
        root = open_group(output, "r+", driver=cfg.driver, storage_options=storage_options)
    else:
        root = from_config(output, cfg, storage_options=storage_options)
    sub_cfg = replace(cfg, overwrite=False)
    names = [str(i) for i in range(n)]
    results = []
    for i in range(n):
        ref = InputRef.of(input, driver=cfg.driver, storage_options=storage_options,
                          no_time=cfg.no_time, reader=reader, series=i)
        target = f"{output.rstrip('/')}/{i}"
        with open_input(input, reader=reader, series=i, driver=cfg.driver,
                        storage_options=storage_options, no_time=cfg.no_time) as vol:
            _apply_overrides(vol, *overrides)
            results.append(convert_volume(
                vol, target, sub_cfg, pyramid=pyramid, ome_version=ome_version,
                max_memory=max_memory, progress=progress,
                storage_options=storage_options, resume=resume, client=client,
                input_ref=ref,
            ))
    ome_group = root.require_group("OME")
    if ome_version == "0.4":
        ome_group.attrs.put({"series": names})
        root.attrs.put({**root.attrs.asdict(), "bioformats2raw.layout": 3})
    else:
        ome_group.attrs.put({"ome": {"version": ome_version, "series": names}})
        root.attrs.put({**root.attrs.asdict(),
                        "ome": {"version": ome_version, "bioformats2raw.layout": 3}})
    return replace(results[0], series=results)


def _all_series_on(scheduler: str | None, client: Any, *args: Any, **kwargs: Any
                   ) -> ConvertResult:
    """:func:`_convert_all_series` on ``client`` or on a client of ``scheduler``."""
    with scheduler_client(scheduler) as connected:
        return _convert_all_series(
            *args, client=client if client is not None else connected, **kwargs
        )


def _exists(output: str, storage_options: dict[str, Any] | None) -> bool:
    try:
        open_group(output, "r", storage_options=storage_options)
    except FileNotFoundError:
        return False
    return True


def resolve_ome_version(requested: str, zarr_version: int) -> str:
    """``auto`` is 0.5 on Zarr v3 and 0.4 on v2 (NGFF 0.5 is defined for v3 only)."""
    if requested == "auto":
        return "0.5" if zarr_version == 3 else "0.4"
    if requested in ("0.5", "0.6") and zarr_version == 2:
        raise ValueError(
            f"--ome-version {requested} needs --zarr-version 3 (use 0.4 for Zarr v2)"
        )
    return requested


def _joined(values: str | Sequence[str] | None) -> str | None:
    """A channel option given as a list: the CLI's comma-separated text."""
    return values if values is None or isinstance(values, str) else ",".join(values)


def convert(
    input: str,
    output: str,
    *,
    config: ZarrConfig | None = None,
    levels: int | None = None,
    method: str = "mean",
    no_pyramid_axis: str | None = None,
    sampling: str = "anisotropic",
    factors: str | None = None,
    ome_version: str = "auto",
    voxel_size: float | Sequence[float] | None = None,
    unit: str | None = None,
    name: str | None = None,
    max_memory: int | None = None,
    storage_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    reader: str | None = None,
    series: int | str | None = None,
    pattern: str | None = None,
    channel_names: str | Sequence[str] | None = None,
    channel_colors: str | Sequence[str] | None = None,
    contrast: str | None = None,
    progress: Progress | None = None,
    **layout: Any,
) -> ConvertResult:
    """Convert an image (NIfTI, TIFF, .npy, Zarr, ... any registered reader) to an
    OME-Zarr with a multiscale pyramid, as ``unizarr convert`` does.

    The input is read lazily and written block by block: memory stays bounded by
    ``max_memory`` whatever the volume size. Everything is checked before the first
    write; an existing ``output`` is replaced only with ``overwrite`` (a local one is
    built beside it and swapped in last).

    Parameters
    ----------
    input : str
        Image file, folder or glob of slices, or Zarr group/array (local path or URL).
    output : str
        Output OME-Zarr (local path or URL).
    config : ZarrConfig, optional
        Layout of the output (chunks, shards, codecs, Zarr version, driver, levels).
    **layout
        :class:`~unizarr.ZarrConfig` fields over ``config`` (e.g. ``zarr_version=2``,
        ``chunk=64``, ``driver="tensorstore"``).
    levels : int, optional
        Pyramid levels after level 0 (``-1``: until one chunk; ``0``: none).
        [default: the config's]
    method : {"mean", "median", "mode", "min", "max", "nearest"}
        Downsampling method (``mode``/``nearest`` for label images).
    no_pyramid_axis : {"x", "y", "z"}, optional
        Spatial axis never downsampled.
    sampling : {"anisotropic", "isotropic"}
        Halve an axis only while its voxels are finer than about half the coarsest,
        or every axis.
    factors : str, optional
        Forced factors, e.g. ``"1,2,2"`` or ``"1,2,2;2,2,2"`` (z,y,x order).
    ome_version : {"auto", "0.4", "0.5", "0.6"}
        ``auto``: 0.5 on Zarr v3, 0.4 on v2. ``config.ome_version`` is not consulted
        (its default, 0.4, cannot be told from a choice): choose here.
    voxel_size : float or sequence of float, optional
        Voxel size over the input's: one value or one per spatial axis (z,y,x).
    unit : str, optional
        Spatial unit over the input's (``"micrometer"``, ``"mm"``, ...).
    name : str, optional
        Image name in the OME metadata. [default: the input's]
    max_memory : int, optional
        Working-memory budget in bytes. [default: 512 MiB]
    storage_options : dict, optional
        Credentials/endpoint of remote input and output.
    overwrite : bool
        Replace ``output`` if it exists (only a Zarr store holding only Zarr objects).
    resume : bool
        Finish an interrupted conversion of the same input with the same options.
    client : distributed.Client, optional
        Run level 0 and the pyramid on this ``dask.distributed`` cluster (its workers
        must see ``input`` and ``output`` at the same paths or URLs).
    scheduler : str, optional
        Instead of ``client``: the address or scheduler file of a running dask
        scheduler, connected to for this conversion only.
    reader, series, pattern : optional
        Reader name (skip detection); image of a multi-image file (an int, or
        ``"all"`` for a bioformats2raw collection); slice file-name pattern.
    channel_names, channel_colors : str or sequence of str, optional
        Channel labels and RRGGBB colours (OME "omero" metadata).
    contrast : str, optional
        Contrast window ``"START,END"`` for every channel or one per channel
        separated by ``;`` (``auto`` measures it).
    progress : callable, optional
        ``progress(done, total)``: blocks of the level-0 + pyramid pass written.

    Returns
    -------
    ConvertResult
        Levels, dtype, axes, sizes and time; ``resumed`` after ``resume``.

    Raises
    ------
    FileExistsError
        ``output`` exists and neither ``overwrite`` nor ``resume`` is given.
    ValueError
        A bad option, or a ``resume`` of another input or other options.
    UnizarrError
        The input cannot be read.
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    layout = resolve("convert", layout, CONFIG_ALIASES)  # chunks= -> the config's chunk=
    cfg = replace(config or ZarrConfig(), **layout) if layout else (config or ZarrConfig())
    given: dict[str, Any] = {} if levels is None else {"levels": levels}
    cfg = replace(cfg, overwrite=overwrite, **given)
    pyramid = PyramidSettings(method=method, no_pyramid_axis=no_pyramid_axis,
                              sampling=sampling, factors=factors)
    ome = resolve_ome_version(ome_version, cfg.zarr_version)
    budget = max_memory or DEFAULT_MAX_MEMORY
    scale = None
    if voxel_size is not None:
        if isinstance(voxel_size, (int, float, np.number)):
            scale = [float(voxel_size)]
        else:
            scale = [float(v) for v in voxel_size]
    space_unit = normalize_unit(unit) if unit is not None else None
    if unit is not None and space_unit not in SPACE_UNITS:
        raise ValueError(
            f"--unit {unit!r} is not a length unit (e.g. micrometer, millimeter, um, mm)"
        )
    # resume accepts an existing output only with a matching run record (checked in
    # convert_volume before anything is written).
    check_output(output, overwrite, [input], storage_options, resume=resume)
    if series == "all":
        n = _verified_series_count(input, cfg, reader, storage_options)
        res: ConvertResult = write_output(
            output, overwrite, storage_options,
            lambda path: _all_series_on(
                scheduler, client, input, path, replace(cfg, overwrite=False), n,
                reader=reader, pyramid=pyramid, ome_version=ome, max_memory=budget,
                overrides=(scale, space_unit, name), storage_options=storage_options,
                resume=resume, progress=progress,
            ),
        )
        return res
    picks: dict[str, Any] = dict(reader=reader, series=series, pattern=pattern)
    ref = InputRef.of(input, driver=cfg.driver, storage_options=storage_options,
                      no_time=cfg.no_time, **picks)
    with (
        # on a cluster, a .nii.gz is decompressed once here and mapped by the workers
        shared_spills(scheduler is not None or client is not None),
        open_input(input, driver=cfg.driver, storage_options=storage_options,
                   no_time=cfg.no_time, **picks) as vol,
        scheduler_client(scheduler) as connected,
    ):
        client = client if client is not None else connected
        _apply_overrides(vol, scale, space_unit, name)
        omero = _omero_options(vol, _joined(channel_names), _joined(channel_colors), contrast)
        if factors is not None:  # checked before anything is written
            parse_factors(factors, len(pyramid_axes(vol.ndim, no_pyramid_axis)))
        res = write_output(
            output, overwrite, storage_options,
            lambda path: convert_volume(
                # write_output has cleared or set aside the previous store
                vol, path, replace(cfg, overwrite=False), pyramid=pyramid,
                ome_version=ome, max_memory=budget, progress=progress,
                storage_options=storage_options, resume=resume, client=client,
                input_ref=ref, omero=omero,
            ),
        )
    res.output = output
    return res


def convert_labels(
    input: str,
    image: str,
    name: str,
    *,
    lut: str | None = None,
    method: str = "mode",
    driver: str | None = None,
    max_memory: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ZarrGroup:
    """Write ``input`` (an integer segmentation on the image's voxel grid) as the label
    image ``labels/<name>`` of the OME-Zarr ``image``: same levels as the image,
    downsampled by ``method`` (``mode``, ``nearest``, ``min`` or ``max``).

    Parameters
    ----------
    lut : str, optional
        BIDS-style TSV lookup table (index, name[, color, ...]).

    Returns
    -------
    ZarrGroup
        The label image's group.

    Raises
    ------
    ValueError
        A NIfTI segmentation whose affine is not the image's, or a bad table.
    """
    from .labels import read_lut, write_labels

    if lut is not None:
        read_lut(lut)  # a bad table is refused before anything else is opened
    budget = max_memory or DEFAULT_MAX_MEMORY
    root = open_group(image, "r+", driver=driver)
    with open_input(input, driver=driver) as vol:
        scale = None
        if vol.nifti_header is not None:
            scale = list(vol.space_scale)
            image_header = read_nifti_header(root) if "nifti" in root else None
            if image_header is not None and not np.allclose(
                image_header.get_best_affine(), vol.nifti_header.get_best_affine(), atol=1e-4
            ):
                raise ValueError(
                    f"{input} is not on the voxel grid of {image} (their NIfTI affines "
                    "differ); resample the segmentation onto the image first"
                )
        group: ZarrGroup = write_labels(
            root, name, _RegionSource(vol), lut=lut, method=method,
            space_scale=scale, overwrite=overwrite, max_memory=budget,
            progress=progress,
        )
    return group
