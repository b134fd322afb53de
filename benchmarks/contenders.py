"""Registry of contenders and the context each one runs in.

A contender is a plain function ``run(ctx: RunContext) -> None`` living in
one of the small modules next to this one (:mod:`benchmarks.limits`,
:mod:`benchmarks.raw`, :mod:`benchmarks.tspyramid`, :mod:`benchmarks.peers`,
:mod:`benchmarks.uz`, :mod:`benchmarks.reads`). The registry names it as a
``"module:function"`` string so that listing contenders imports nothing
heavy, and the worker imports only the libraries of the contender it runs
(a fair memory baseline).

The worker times the whole ``run`` call; an optional ``setup`` runs before it,
untimed. ``ctx.phase(name)`` records sub-timings (e.g. the level-0 write
inside a pipeline).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .layouts import LAYOUTS, NO_LAYOUT, Layout
from .measure import fsync_tree

ALL_LAYOUTS = tuple(LAYOUTS)


class Unavailable(Exception):
    """The contender cannot run here (e.g. the unizarr API does not exist yet)."""


@dataclass
class RunContext:
    """Everything one contender run needs.

    Attributes
    ----------
    volume : numpy.ndarray
        Level-0 data: in memory, or a read-only ``np.memmap`` when out-of-core.
    layout : Layout or None
        Target layout (``None`` for layout-independent rows).
    out : Path
        Output directory or file; does not exist yet, removed after the run.
    fsync : bool
        Whether the run must end with its output durable on disk.
    out_of_core : bool
        True when ``volume`` is a memmap bigger than the memory budget.
    source : Path or None
        Existing store to read (random-read rows).
    reads : int
        Number of random reads (random-read rows).
    seed : int
        Seed of the random read offsets.
    warmup : bool
        True for the untimed warm-up call on small data.
    phases : dict
        Sub-timings in seconds, filled by :meth:`phase`.
    info : dict
        Free-form facts reported with the result (versions, paths).
    state : dict
        Scratch space shared by ``setup`` and ``run``.
    """

    volume: np.ndarray
    layout: Layout | None
    out: Path
    fsync: bool = False
    out_of_core: bool = False
    source: Path | None = None
    reads: int = 0
    seed: int = 0
    warmup: bool = False
    phases: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the wall time of the enclosed block as ``phases[name]``."""
        t0 = time.perf_counter()
        yield
        self.phases[name] = time.perf_counter() - t0

    def durable(self) -> None:
        """Fsync the output when the run is in ``--fsync`` mode.

        For writers that never fsync on their own; TensorStore contenders
        instead set ``file_io_sync`` from :attr:`fsync`.
        """
        if self.fsync and self.out.exists():
            fsync_tree(self.out)


@dataclass(frozen=True)
class Contender:
    """One row of the result table.

    Attributes
    ----------
    name : str
        Row name (used by ``--only``).
    group : str
        ``"limit"``, ``"raw"``, ``"pipeline"`` or ``"reads"``.
    run : str
        ``"module:function"`` of the timed function.
    description : str
        One line for ``--list`` and the README.
    layouts : tuple of str
        Layouts it runs on (``("-",)`` for layout-independent rows).
    setup : str or None
        ``"module:function"`` run untimed before ``run``.
    big : bool
        Also runs in the ``--big`` out-of-core workload.
    input_mode : str
        How the worker opens the input: ``"load"`` (into memory) or ``"mmap"``
        (read rows only check a few boxes against it, so it must not count
        against their memory).
    fsync_variant : bool
        A row that exists only to show TensorStore's default fsync cost; it is
        dropped in ``--fsync`` mode where it would duplicate its twin.
    """

    name: str
    group: str
    run: str
    description: str
    layouts: tuple[str, ...] = ALL_LAYOUTS
    setup: str | None = None
    big: bool = False
    input_mode: str = "load"
    fsync_variant: bool = False


def resolve(ref: str) -> Callable[[RunContext], None]:
    """Import ``"module:function"`` relative to this package."""
    module, _, func = ref.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), func)


_LIMIT = (NO_LAYOUT,)
READS_LAYOUT = "v3"

CONTENDERS: list[Contender] = [
    Contender(
        "limit.memcpy",
        "limit",
        "limits:memcpy",
        "copy the volume into a pre-faulted buffer",
        _LIMIT,
        setup="limits:memcpy_setup",
    ),
    Contender(
        "limit.blosc",
        "limit",
        "limits:blosc",
        "Blosc lz4-5 shuffle every 128³ chunk, one thread per core",
        _LIMIT,
    ),
    Contender(
        "limit.tofile+fsync",
        "limit",
        "limits:tofile_fsync",
        "ndarray.tofile of the raw volume + fsync",
        _LIMIT,
    ),
    Contender(
        "limit.blosc+write",
        "limit",
        "limits:blosc_write",
        "compress every chunk on all cores and write them to one file (+fsync only with --fsync)",
        _LIMIT,
    ),
    Contender(
        "ts.raw",
        "raw",
        "raw:ts_raw",
        "TensorStore write of level 0, file_io_sync off (on with --fsync)",
        big=True,
    ),
    Contender(
        "ts.raw.fsync",
        "raw",
        "raw:ts_raw_fsync",
        "TensorStore write of level 0 with its default file_io_sync (fsync) on",
        fsync_variant=True,
    ),
    Contender("zarr.raw", "raw", "raw:zarr_raw", "zarr-python 3 write of level 0"),
    Contender(
        "ts.pyramid",
        "pipeline",
        "tspyramid:ts_pyramid",
        "hand-rolled: TensorStore level 0 + 3 levels via the downsample driver (mean) + OME JSON",
        big=True,
    ),
    Contender(
        "ts.pyramid.mmap",
        "pipeline",
        "tspyramid:ts_pyramid",
        "the same hand-rolled pyramid from the read-only memmap the straightforward rows get"
        " (out of core every row reads a memmap: there it is ts.pyramid)",
        input_mode="mmap",
    ),
    Contender(
        "ngff-zarr",
        "pipeline",
        "peers:ngff_zarr_pipeline",
        "ngff-zarr to_multiscales(ITKWASM_BIN_SHRINK) + to_ngff_zarr",
        big=True,
    ),
    Contender(
        "ome-zarr",
        "pipeline",
        "peers:ome_zarr_pipeline",
        "ome-zarr-py write_image(method=LOCAL_MEAN)",
        big=True,
    ),
    Contender(
        "uz.ts",
        "pipeline",
        "uz:pipeline_ts",
        "unizarr, driver='tensorstore': create_array + generate_pyramid(source=, write_base=True)"
        " + write_ome_metadata",
        big=True,
    ),
    Contender(
        "uz.ts.l0",
        "raw",
        "uz:level0_ts",
        "unizarr, driver='tensorstore': level 0 only, create_array(data=volume)",
        big=True,
    ),
    Contender(
        "uz.zarr.l0",
        "raw",
        "uz:level0_zarr",
        "unizarr, driver='zarr-python': level 0 only, create_array(data=volume)",
        big=True,
    ),
    Contender(
        "uz.zarr",
        "pipeline",
        "uz:pipeline_zarr",
        "unizarr, driver='zarr-python': same calls",
        big=True,
    ),
    Contender(
        "uz.ts.api",
        "pipeline",
        "uz:api_ts",
        "unizarr, driver='tensorstore', the straightforward way: create_array(data=memmap)"
        " + generate_pyramid(levels=3, method='mean') + write_ome_metadata",
        big=True,
        input_mode="mmap",
    ),
    Contender(
        "uz.zarr.api",
        "pipeline",
        "uz:api_zarr",
        "unizarr, driver='zarr-python': same straightforward calls",
        big=True,
        input_mode="mmap",
    ),
    Contender(
        "ts.reads",
        "reads",
        "reads:ts_reads",
        "TensorStore (default context) random 32³ reads",
        (READS_LAYOUT,),
        input_mode="mmap",
    ),
    Contender(
        "ts.reads.cached",
        "reads",
        "reads:ts_reads_cached",
        "TensorStore with a 256 MiB cache_pool, random 32³ reads (reference for caching wrappers)",
        (READS_LAYOUT,),
        input_mode="mmap",
    ),
    Contender(
        "zarr.reads",
        "reads",
        "reads:zarr_reads",
        "zarr-python random 32³ reads",
        (READS_LAYOUT,),
        input_mode="mmap",
    ),
    Contender(
        "uz.ts.reads",
        "reads",
        "uz:reads_ts",
        "unizarr open_array(driver='tensorstore') random 32³ reads",
        (READS_LAYOUT,),
        input_mode="mmap",
    ),
    Contender(
        "uz.zarr.reads",
        "reads",
        "uz:reads_zarr",
        "unizarr open_array(driver='zarr-python') random 32³ reads",
        (READS_LAYOUT,),
        input_mode="mmap",
    ),
]

# Not a table row: writes the shared store the random-read rows read.
PREPARE_READS = Contender(
    "prepare.reads",
    "prepare",
    "reads:prepare_store",
    "write the v3 store read by the reads rows",
    (READS_LAYOUT,),
)

REGISTRY: dict[str, Contender] = {c.name: c for c in [*CONTENDERS, PREPARE_READS]}
