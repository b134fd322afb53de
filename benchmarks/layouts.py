"""Storage layouts of the workload and their spelling in each library.

One :class:`Layout` per column of the result table. The helpers translate it
into a TensorStore spec, zarr-python ``create_array`` keyword arguments and an
OME-NGFF ``multiscales`` document, so every contender writes the same bytes:
chunks 128³ (clamped to the array shape), Blosc lz4 clevel 5 byte-shuffle,
``/``-separated chunk keys, C order, fill value 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHUNK = 128
SHARD = 256
CNAME = "lz4"
CLEVEL = 5
AXES = ("z", "y", "x")


@dataclass(frozen=True)
class Layout:
    """One on-disk layout.

    Attributes
    ----------
    name : str
        Short key used on the command line and in the table.
    zarr_version : int
        2 or 3.
    ome_version : str
        OME-NGFF version written by the pipeline contenders.
    shard : int or None
        Shard edge (v3 only) or ``None`` for unsharded arrays.
    """

    name: str
    zarr_version: int
    ome_version: str
    shard: int | None = None


LAYOUTS: dict[str, Layout] = {
    "v2": Layout("v2", 2, "0.4"),
    "v3": Layout("v3", 3, "0.5"),
    "v3s": Layout("v3s", 3, "0.5", SHARD),
}
# Layout-independent rows (physical limits) are keyed by this placeholder.
NO_LAYOUT = "-"


def chunk_shape(shape: tuple[int, ...], edge: int = CHUNK) -> list[int]:
    """Chunk (or shard) shape clamped to the array, as peers do for small levels."""
    return [min(edge, s) for s in shape]


def _blosc_v3() -> dict[str, Any]:
    return {
        "name": "blosc",
        "configuration": {
            "cname": CNAME,
            "clevel": CLEVEL,
            "shuffle": "shuffle",
            "typesize": 2,
            "blocksize": 0,
        },
    }


def ts_spec(
    layout: Layout, path: str, shape: tuple[int, ...], dtype: str = "uint16"
) -> dict[str, Any]:
    """TensorStore spec creating ``path`` with this layout.

    Parameters
    ----------
    layout : Layout
        Target layout.
    path : str
        Directory of the array.
    shape : tuple of int
        Array shape.
    dtype : str
        NumPy dtype name.

    Returns
    -------
    dict
        A ``zarr`` (v2) or ``zarr3`` driver spec.
    """
    chunks = chunk_shape(shape)
    kvstore = {"driver": "file", "path": path}
    if layout.zarr_version == 2:
        import numpy as np

        return {
            "driver": "zarr",
            "kvstore": kvstore,
            "metadata": {
                "shape": list(shape),
                "chunks": chunks,
                "dtype": np.dtype(dtype).newbyteorder("<").str,
                "order": "C",
                # OME 0.4 requires "/"; zarr-python's v2 default would be ".".
                "dimension_separator": "/",
                "compressor": {
                    "id": "blosc",
                    "cname": CNAME,
                    "clevel": CLEVEL,
                    "shuffle": 1,
                    "blocksize": 0,
                },
                "fill_value": 0,
            },
        }
    inner = [{"name": "bytes", "configuration": {"endian": "little"}}, _blosc_v3()]
    if layout.shard is None:
        codecs, grid = inner, chunks
    else:
        grid = chunk_shape(shape, layout.shard)
        codecs = [
            {
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": chunks,
                    "codecs": inner,
                    # zarr-python's default index codecs, so stored bytes match.
                    "index_codecs": [
                        {"name": "bytes", "configuration": {"endian": "little"}},
                        {"name": "crc32c"},
                    ],
                    "index_location": "end",
                },
            }
        ]
    return {
        "driver": "zarr3",
        "kvstore": kvstore,
        "metadata": {
            "shape": list(shape),
            "data_type": dtype,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "codecs": codecs,
            "fill_value": 0,
            "dimension_names": list(AXES),
        },
    }


def zarr_python_kwargs(layout: Layout, shape: tuple[int, ...]) -> dict[str, Any]:
    """Keyword arguments for ``zarr.create_array`` giving this layout."""
    import numcodecs
    import zarr

    kwargs: dict[str, Any] = {"shape": shape, "chunks": tuple(chunk_shape(shape)), "fill_value": 0}
    if layout.zarr_version == 2:
        kwargs.update(
            zarr_format=2,
            compressors=numcodecs.Blosc(CNAME, CLEVEL, numcodecs.Blosc.SHUFFLE),
            chunk_key_encoding={"name": "v2", "separator": "/"},
        )
    else:
        kwargs.update(
            zarr_format=3,
            compressors=zarr.codecs.BloscCodec(cname=CNAME, clevel=CLEVEL, shuffle="shuffle"),
            dimension_names=list(AXES),
        )
        if layout.shard is not None:
            kwargs["shards"] = tuple(chunk_shape(shape, layout.shard))
    return kwargs


def blosc_codec_for(layout: Layout) -> Any:
    """The compressor object peers expect: numcodecs for v2, zarr codec for v3."""
    import numcodecs
    import zarr

    if layout.zarr_version == 2:
        return numcodecs.Blosc(CNAME, CLEVEL, numcodecs.Blosc.SHUFFLE)
    return zarr.codecs.BloscCodec(cname=CNAME, clevel=CLEVEL, shuffle="shuffle")


def ome_multiscales(layout: Layout, levels: int, paths: list[str] | None = None) -> dict[str, Any]:
    """OME-NGFF ``multiscales`` entry for a 2x pyramid of ``levels + 1`` arrays.

    Each level k has scale 2**k and translation (2**k - 1) / 2 (pixel centres of
    a mean pyramid), the same metadata ngff-zarr and ome-zarr-py write.
    """
    paths = paths or [str(k) for k in range(levels + 1)]
    datasets = []
    for k, path in enumerate(paths):
        factor = float(2**k)
        datasets.append(
            {
                "path": path,
                "coordinateTransformations": [
                    {"type": "scale", "scale": [factor] * 3},
                    {"type": "translation", "translation": [(factor - 1) / 2] * 3},
                ],
            }
        )
    entry: dict[str, Any] = {
        "axes": [{"name": a, "type": "space"} for a in AXES],
        "datasets": datasets,
        "name": "image",
        "type": "mean",
    }
    if layout.ome_version == "0.4":
        entry["version"] = "0.4"
    return entry
