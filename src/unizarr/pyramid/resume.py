"""Resuming a pyramid build: its run record, and what of an interrupted build is kept.

A build records what it was asked to do in the group (:data:`RUN_RECORD`) before it
writes anything (:func:`start_run`) and marks the record complete at the end
(:func:`finish_run`). ``resume`` refuses a group without a record, or with one of
other options, before anything is written; otherwise a level of the same layout is
kept (:func:`same_layout`) and only its write blocks that are not stored whole
(:func:`finished_blocks`) are computed again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import documents
from ..blocks import block_region, copy_missing
from ..core import ZarrArray, ZarrGroup
from ..errors import StoreUnavailableError
from ..layout import ArraySpec
from ..reduction import Reducer


def same_layout(a: ArraySpec, b: ArraySpec) -> bool:
    """Whether two array specs store the same bytes for the same data: everything but
    attributes and dimension names (which OME metadata adds at the end)."""

    def doc(spec: ArraySpec) -> dict[str, Any]:
        d = documents.metadata_document(spec)
        d.pop("attributes", None)
        d.pop("dimension_names", None)
        return d

    return doc(a) == doc(b)


def finished_blocks(target: ZarrArray, workers: int) -> set[tuple[int, ...]]:
    """The stored write blocks of ``target`` that decode.

    Stored objects are normally written atomically (temp file + rename, one PUT), but
    zarr-python's ``zarrs`` pipeline writes local files in place: a crash can leave
    one truncated (even empty) per block in flight. Reading each stored block back
    once finds those; they are deleted (an edge block is rewritten by merging into
    the stored one, which must then not be torn) and count as missing.
    """
    wb = target.write_block

    def decodes(b: tuple[int, ...]) -> bool:
        region = block_region(b, wb, target.shape)
        try:
            if not block_intact(target, b):
                # Empty, or a shard whose index does not fit it: zarr-python may read
                # such a shard as the fill value without an error.
                raise ValueError("torn block")
            target[region]
        except StoreUnavailableError:
            raise  # the store, not the block: do not rewrite everything
        except Exception:  # noqa: BLE001 - any decoding failure means "not finished"
            target.delete_block(b)
            return False
        return True

    target.remove_partial_writes()  # temporary files of writes the crash interrupted
    blocks = sorted(target.stored_blocks())
    with ThreadPoolExecutor(workers, thread_name_prefix="unizarr-resume") as pool:
        return {b for b, ok in zip(blocks, pool.map(decodes, blocks)) if ok}


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, the checksum of sharding indexes."""
    try:
        import google_crc32c

        return int(google_crc32c.value(data))
    except ImportError:
        from crc32c import crc32c  # zarr-python's own dependency in some versions

        return int(crc32c(data))


def block_intact(target: ZarrArray, index: Sequence[int]) -> bool:
    """Whether the stored object of a write block can be whole: not empty, and for a
    shard, an index (checksum verified when it has one) whose chunks lie inside it.
    A crash of a non-atomic writer leaves empty or truncated objects."""
    raw = target.block_bytes(index)
    if not raw:
        return False
    if target.shards is None:
        return True  # decoding the chunk tells the rest
    codecs = target.metadata.get("codecs") or []
    sharding = next((c for c in codecs if isinstance(c, dict)
                     and c.get("name") == "sharding_indexed"), None)
    if sharding is None:
        return True
    conf = sharding.get("configuration") or {}
    n = math.prod(s // c for s, c in zip(target.shards, target.chunks))
    index_codecs = [c.get("name") if isinstance(c, dict) else c
                    for c in conf.get("index_codecs") or ["bytes", "crc32c"]]
    crc = "crc32c" in index_codecs
    size = 16 * n + (4 if crc else 0)
    if len(raw) < size:
        return False
    at_end = conf.get("index_location", "end") == "end"
    index_bytes = raw[len(raw) - size:] if at_end else raw[:size]
    if crc and _crc32c(index_bytes[:-4]) != int.from_bytes(index_bytes[-4:], "little"):
        return False
    entries = np.frombuffer(index_bytes[:16 * n], "<u8").reshape(n, 2)
    empty = np.iinfo(np.uint64).max
    used = ~((entries[:, 0] == empty) & (entries[:, 1] == empty))
    lo, hi = (0, len(raw) - size) if at_end else (size, len(raw))
    start, nbytes = entries[used, 0], entries[used, 1]
    return bool(np.all(start >= lo) and np.all(start <= hi) and np.all(nbytes <= hi - start))


#: Written in the group when a pyramid build starts and kept when it ends (with
#: ``"complete": true``): what the build was asked to do, so that ``resume`` refuses to
#: finish it differently, or to "finish" a group no build of ours ever started.
#: (The leading dot keeps it out of the group's members.)
RUN_RECORD = ".unizarr-pyramid-run.json"


def run_options(
    shapes: Sequence[tuple[int, ...]],
    axes: Sequence[int],
    method: str | Reducer,
    write_base: bool,
    source_id: str | None,
) -> dict[str, Any]:
    """The record of a build: what decides its bytes (level shapes, axes, method,
    ``write_base`` and where the data comes from)."""
    name = method if isinstance(method, str) else (
        f"{getattr(method, '__module__', '?')}.{getattr(method, '__qualname__', repr(method))}"
    )
    return {
        "shapes": [list(s) for s in shapes],
        "axes": list(axes),
        "method": name,
        "write_base": bool(write_base),
        "source": source_id,
    }


def start_run(group: ZarrGroup, options: dict[str, Any], resume: bool) -> None:
    """Record ``options`` as the build in progress; with ``resume``, first check that the
    group holds the record of a build (interrupted or complete) with the same ones.

    Raises
    ------
    ValueError
        Resuming where no build of ours ever started (no record: the levels there are
        not ours to keep), or a build that was started with other levels, axes,
        method, ``write_base`` or source: finishing it so would mix two pyramids.
        Nothing is written then.
    """
    if resume:
        raw = group._get_hidden(RUN_RECORD)
        try:
            before = json.loads(raw) if raw is not None else None
        except ValueError:
            before = None
        if not isinstance(before, dict):
            raise ValueError(
                f"resume: {group.url} holds no record of a pyramid build "
                f"({RUN_RECORD} is {'unreadable' if raw is not None else 'missing'}), so its "
                "levels cannot be trusted as ours; nothing was changed: build without resume"
            )
        # Once a build completed, level 0 is whole: whether it came from ``source`` or
        # from the store no longer matters.
        ignore = {"complete", "write_base"} if before.get("complete") else {"complete"}
        keys = [k for k in options if k not in ignore]
        if any(before.get(k) != options[k] for k in keys):
            diff = ", ".join(
                f"{k}={before.get(k)!r} (now {options[k]!r})"
                for k in keys if before.get(k) != options[k]
            )
            raise ValueError(
                f"the pyramid build in {group.url} was started with {diff}; "
                "resume it with the same arguments (the same command line), or start over "
                "without resume"
            )
    group._set_hidden(RUN_RECORD, json.dumps(options).encode())


def finish_run(group: ZarrGroup, options: dict[str, Any]) -> None:
    """Mark the build complete; the record stays, so that a later ``resume`` can tell
    this pyramid from a foreign one (and verify it rather than refuse)."""
    # Whether level 0 was written from ``source`` no longer matters once it is whole
    # (and must not make two identical pyramids differ in their record).
    done = {k: v for k, v in options.items() if k != "write_base"}
    group._set_hidden(RUN_RECORD, json.dumps({**done, "complete": True}).encode())


__all__ = [
    "RUN_RECORD",
    "block_intact",
    "copy_missing",
    "finish_run",
    "finished_blocks",
    "run_options",
    "same_layout",
    "start_run",
]
