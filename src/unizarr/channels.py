"""Channel rendering metadata (OME-NGFF ``omero``): names, colours, contrast windows.

Windows not given are measured on a low pyramid level (the coarsest one with at least
:data:`MIN_VOXELS` voxels per channel), so a whole-brain volume is never read for them:
``start``/``end`` are the 0.1 and 99.9 percentiles of each channel there, ``min``/``max``
its range. The document goes where the image's multiscales are: ``attrs["omero"]`` for
0.4, ``attrs["ome"]["omero"]`` for 0.5 and 0.6.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .core import ZarrGroup
from .errors import MetadataError
from .ome import find_multiscale, level_array

#: Voxels per channel a level needs to be used for the automatic windows.
MIN_VOXELS = 32**3
#: Colours of channels 1, 2, 3, ... when none are given (one channel: white).
DEFAULT_COLORS = ("FF0000", "00FF00", "0000FF", "FF00FF", "00FFFF", "FFFF00")
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def check_color(value: str) -> str:
    """``value`` as upper-case RRGGBB (a leading ``#`` allowed)."""
    m = _HEX.match(str(value).strip())
    if not m:
        raise ValueError(f"channel colour {value!r} is not RRGGBB hex (e.g. FF0000 or #00ff00)")
    return m.group(1).upper()


def parse_windows(text: str, nchannels: int) -> list[tuple[float, float] | None]:
    """``"0,1000"`` (every channel) or ``"0,1000;50,800"`` (one per channel, ``auto``
    to measure one) as (start, end) pairs, ``None`` for ``auto``.

    Raises
    ------
    ValueError
        A window that is not two numbers with start < end, or a wrong count.
    """
    parts = [p.strip() for p in text.split(";")]
    if len(parts) == 1:
        parts = parts * nchannels
    if len(parts) != nchannels:
        raise ValueError(f"--contrast has {len(parts)} windows for {nchannels} channels")
    out: list[tuple[float, float] | None] = []
    for p in parts:
        if p.lower() == "auto":
            out.append(None)
            continue
        try:
            lo, hi = (float(v) for v in p.split(","))
        except ValueError:
            raise ValueError(f"--contrast window {p!r}: use START,END (e.g. 0,1000) or auto") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"--contrast window {p!r}: START must be below END")
        out.append((lo, hi))
    return out


def measure_windows(group: ZarrGroup) -> list[dict[str, float]]:
    """Per channel ``{"min", "max", "start", "end"}`` measured on a low level."""
    found = find_multiscale(group.attrs.asdict())
    if found is None:
        raise MetadataError(f"{group.url} has no OME-NGFF multiscales; write them first")
    _, ms = found
    axes = [a["name"] for a in ms["axes"]]
    paths = [d["path"] for d in ms["datasets"]]
    c = axes.index("c") if "c" in axes else None
    chosen = paths[0]
    for p in reversed(paths):
        arr = level_array(group, p)
        per_channel = arr.size // (arr.shape[c] if c is not None else 1)
        if per_channel >= MIN_VOXELS:
            chosen = p
            break
    data = np.asarray(level_array(group, chosen)[...])
    channels = np.moveaxis(data, c, 0) if c is not None else data[None]
    out = []
    for ch in channels:
        v = ch[np.isfinite(ch)] if ch.dtype.kind == "f" else ch.ravel()
        if v.size == 0:
            out.append({"min": 0.0, "max": 1.0, "start": 0.0, "end": 1.0})
            continue
        lo, hi = np.percentile(v, [0.1, 99.9])
        vmin, vmax = float(v.min()), float(v.max())
        if hi <= lo:  # a flat channel: show its range, or one unit around it
            lo, hi = vmin, vmax if vmax > vmin else vmin + 1
        out.append({"min": vmin, "max": vmax, "start": float(lo), "end": float(hi)})
    return out


def write_omero(
    group: ZarrGroup,
    *,
    names: Sequence[str] | None = None,
    colors: Sequence[str] | None = None,
    windows: Sequence[tuple[float, float] | None] | None = None,
) -> dict[str, Any]:
    """Write the ``omero`` channel metadata of an OME-Zarr image.

    Parameters
    ----------
    group : ZarrGroup
        An image with multiscales metadata (0.4, 0.5 or 0.6).
    names : sequence of str, optional
        One label per channel (default ``"channel 0"``, ... or the image name).
    colors : sequence of str, optional
        One ``RRGGBB`` colour per channel.
    windows : sequence of (start, end) or None, optional
        Contrast window per channel; ``None`` entries (and no ``windows``) are measured
        on a low pyramid level (see :func:`measure_windows`).

    Returns
    -------
    dict
        The ``omero`` document written.

    Raises
    ------
    ValueError
        Counts that are not the number of channels, or bad colours.
    MetadataError
        ``group`` is not an OME-Zarr image.
    """
    group._check_writable()
    found = find_multiscale(group.attrs.asdict())
    if found is None:
        raise MetadataError(f"{group.url} has no OME-NGFF multiscales; write them first")
    version, ms = found
    axes = [a["name"] for a in ms["axes"]]
    n = level_array(group, ms["datasets"][0]["path"]).shape[axes.index("c")] if "c" in axes else 1
    for what, values in (("names", names), ("colors", colors), ("windows", windows)):
        if values is not None and len(values) != n:
            raise ValueError(f"{len(values)} channel {what} given for {n} channel(s)")
    cols = [check_color(c) for c in colors] if colors is not None else (
        ["FFFFFF"] if n == 1 else [DEFAULT_COLORS[i % len(DEFAULT_COLORS)] for i in range(n)]
    )
    labels = [str(v) for v in names] if names is not None else (
        [ms.get("name") or "channel 0"] if n == 1 else [f"channel {i}" for i in range(n)]
    )
    wins = list(windows) if windows is not None else [None] * n
    measured = measure_windows(group) if any(w is None for w in wins) else None
    channels = []
    for i in range(n):
        if wins[i] is None:
            window = measured[i]  # type: ignore[index]
        else:
            start, end = wins[i]  # type: ignore[misc]
            base = measured[i] if measured is not None else {}
            window = {"min": min(base.get("min", start), start), "max": max(base.get("max", end), end),
                      "start": float(start), "end": float(end)}
        channels.append({
            "label": labels[i], "color": cols[i], "active": True, "coefficient": 1.0,
            "family": "linear", "inverted": False, "window": window,
        })
    omero = {"channels": channels, "rdefs": {"model": "greyscale" if n == 1 else "color"}}
    attrs = group.attrs.asdict()
    if version == "0.4":
        attrs["omero"] = omero
    else:
        ome = dict(attrs.get("ome") or {})
        ome["omero"] = omero
        attrs["ome"] = ome
    group.attrs.put(attrs)
    return omero


__all__ = ["DEFAULT_COLORS", "MIN_VOXELS", "check_color", "measure_windows", "parse_windows", "write_omero"]
