"""The Zarr metadata documents of a layout, both ways.

:func:`metadata_document` turns an :class:`~unizarr.layout.ArraySpec` into the canonical
document (``zarr.json`` for v3, ``.zarray`` for v2) both drivers create arrays from, and
:func:`spec_from_metadata` reads a stored document back into a spec. "Metadata" here is
the Zarr array document only (OME attributes live in :mod:`unizarr.ome`, the NIfTI header
in :mod:`unizarr.nifti`). Pure functions: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .layout import (
    BLOSC_SHUFFLES,
    COMPRESSOR_DEFAULTS,
    COMPRESSORS,
    ArraySpec,
    CodecSpec,
    blosc_shuffle,
    normalize_compressor,
    normalize_dtype,
    normalize_fill_value,
    normalize_order,
    normalize_separator,
)


def fill_value_json(value: Any, dtype: np.dtype) -> Any:
    """Encode a fill value as Zarr metadata does (NaN/Infinity as strings, complex as pairs)."""
    dtype = np.dtype(dtype)

    def real(x: float) -> Any:
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return float(x)

    if dtype.kind == "b":
        return bool(value)
    if dtype.kind in "iu":
        return int(value)
    if dtype.kind == "f":
        return real(float(value))
    if dtype.kind == "c":
        c = complex(value)
        return [real(c.real), real(c.imag)]
    raise ValueError(f"unsupported dtype {dtype}")


def fill_value_from_json(value: Any, dtype: np.dtype) -> Any:
    """Decode a metadata fill value (inverse of :func:`fill_value_json`)."""
    dtype = np.dtype(dtype)
    if value is None:
        return None
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    if dtype.kind == "c":
        if isinstance(value, (list, tuple)):
            re, im = (float(special[v]) if isinstance(v, str) and v in special else float(v)
                      for v in value)
            return dtype.type(complex(re, im))
        return dtype.type(value)
    if isinstance(value, str):
        if value in special:
            return dtype.type(special[value])
        if value.startswith("0x"):  # v3 hex-encoded float bit pattern
            return np.array(int(value, 16), dtype=f"<u{dtype.itemsize}").view(dtype)[()]
    return dtype.type(value)


def v2_compressor_json(codec: CodecSpec) -> dict[str, Any] | None:
    """The ``.zarray`` ``compressor`` entry (numcodecs config) of a codec."""
    o = codec.options
    if codec.name == "none":
        return None
    if codec.name == "blosc":
        return {
            "id": "blosc",
            "cname": o["cname"],
            "clevel": o["clevel"],
            "shuffle": BLOSC_SHUFFLES.index(o["shuffle"]),
            "blocksize": o["blocksize"],
        }
    return {"id": codec.name, "level": o["level"]}


def v3_compressor_json(codec: CodecSpec, dtype: np.dtype) -> list[dict[str, Any]]:
    """The bytes-to-bytes codec list of a codec in Zarr v3 form."""
    o = codec.options
    if codec.name == "none":
        return []
    if codec.name == "blosc":
        conf = {
            "typesize": np.dtype(dtype).itemsize,
            "cname": o["cname"],
            "clevel": o["clevel"],
            "shuffle": o["shuffle"],
            "blocksize": o["blocksize"],
        }
        return [{"name": "blosc", "configuration": conf}]
    if codec.name == "zstd":
        return [{"name": "zstd", "configuration": {"level": o["level"], "checksum": False}}]
    if codec.name == "gzip":
        return [{"name": "gzip", "configuration": {"level": o["level"]}}]
    raise ValueError(f"{codec.name} is not a Zarr v3 codec")


def _bytes_codec(dtype: np.dtype) -> dict[str, Any]:
    if np.dtype(dtype).itemsize == 1:
        return {"name": "bytes", "configuration": {}}
    return {"name": "bytes", "configuration": {"endian": "little"}}


def v3_codecs_json(spec: ArraySpec) -> list[dict[str, Any]]:
    """The complete v3 codec chain of a spec, sharding included."""
    inner: list[dict[str, Any]] = []
    if spec.order == "F" and len(spec.shape) > 1:
        inner.append(
            {"name": "transpose", "configuration": {"order": list(range(len(spec.shape)))[::-1]}}
        )
    inner.append(_bytes_codec(spec.dtype))
    inner += v3_compressor_json(spec.compressor, spec.dtype)
    if spec.shards is None:
        return inner
    sharding = {
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": list(spec.chunks),
            "codecs": inner,
            "index_codecs": [
                {"name": "bytes", "configuration": {"endian": "little"}},
                {"name": "crc32c"},
            ],
            "index_location": "end",
        },
    }
    return [sharding]


def v3_data_type(dtype: np.dtype) -> str:
    """The Zarr v3 ``data_type`` name of a numpy dtype."""
    dt = np.dtype(dtype)
    return "bool" if dt.kind == "b" else dt.name


def metadata_document(spec: ArraySpec) -> dict[str, Any]:
    """The canonical metadata document of a spec.

    For v3 this is the whole ``zarr.json``; for v2 the ``.zarray`` content (attributes
    live in ``.zattrs``, so they are not part of it).
    """
    if spec.zarr_version == 2:
        return {
            "zarr_format": 2,
            "shape": list(spec.shape),
            "chunks": list(spec.chunks),
            "dtype": spec.dtype.str,
            "compressor": v2_compressor_json(spec.compressor),
            "fill_value": fill_value_json(spec.fill_value, spec.dtype),
            "order": spec.order,
            "filters": None,
            "dimension_separator": spec.dimension_separator,
        }
    doc: dict[str, Any] = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(spec.shape),
        "data_type": v3_data_type(spec.dtype),
        "chunk_grid": {
            "name": "regular",
            "configuration": {"chunk_shape": list(spec.shards or spec.chunks)},
        },
        "chunk_key_encoding": {
            "name": "default",
            "configuration": {"separator": spec.dimension_separator},
        },
        "fill_value": fill_value_json(spec.fill_value, spec.dtype),
        "codecs": v3_codecs_json(spec),
        "attributes": dict(spec.attributes or {}),
    }
    if spec.dimension_names is not None:
        doc["dimension_names"] = list(spec.dimension_names)
    return doc


def _codec_from_v2(compressor: Mapping[str, Any] | None, itemsize: int | None = None) -> CodecSpec:
    if compressor is None:
        return CodecSpec("none", {})
    cid = compressor.get("id")
    if cid == "blosc":
        opts = {k: compressor.get(k, d) for k, d in (("cname", "lz4"), ("clevel", 5), ("blocksize", 0))}
        # -1 (AUTOSHUFFLE, TensorStore's default) depends on the item size
        opts["shuffle"] = blosc_shuffle(compressor.get("shuffle", 1), itemsize)
        return CodecSpec("blosc", opts)
    if cid in ("zstd", "zlib", "gzip"):
        return CodecSpec(cid, {"level": compressor.get("level", COMPRESSOR_DEFAULTS[cid]["level"])})
    raise ValueError(f"compressor {cid!r} is not one unizarr writes; pass compressor= explicitly")


def _codec_from_v3(codecs: Sequence[Mapping[str, Any]]) -> CodecSpec:
    found = [c for c in codecs if c.get("name") not in ("bytes", "transpose", "crc32c")]
    if not found:
        return CodecSpec("none", {})
    if len(found) > 1:
        raise ValueError(f"codec chain {found} is not one unizarr writes; pass compressor=")
    name, conf = found[0]["name"], found[0].get("configuration", {}) or {}
    if name == "blosc":
        opts = {k: conf.get(k, d) for k, d in (("cname", "lz4"), ("clevel", 5), ("blocksize", 0))}
        opts["shuffle"] = blosc_shuffle(conf.get("shuffle", "shuffle"), None)
        return CodecSpec("blosc", opts)
    if name in ("zstd", "gzip"):
        return CodecSpec(name, {"level": conf.get("level", COMPRESSOR_DEFAULTS[name]["level"])})
    raise ValueError(f"codec {name!r} is not one unizarr writes; pass compressor= explicitly")


def spec_from_metadata(doc: Mapping[str, Any], attributes: Mapping[str, Any] | None = None) -> ArraySpec:
    """Read an :class:`ArraySpec` back from a ``zarr.json`` or ``.zarray`` document.

    Used to reproduce an existing array's layout (``create_array_from_base``, copies)
    whichever engine or tool wrote it.
    """
    from .errors import MetadataError

    try:
        version = int(doc["zarr_format"])
        shape = tuple(int(s) for s in doc["shape"])
        if version == 2:
            dtype = np.dtype(doc["dtype"])
            chunks = tuple(int(c) for c in doc["chunks"])
            shards = None
            codec = _foreign_ok(_codec_from_v2, doc.get("compressor"), dtype.itemsize)
            order = doc.get("order", "C")
            sep = doc.get("dimension_separator") or "."
            dim_names = None
        else:
            dtype = np.dtype(doc["data_type"])
            grid = tuple(int(c) for c in doc["chunk_grid"]["configuration"]["chunk_shape"])
            codecs = list(doc["codecs"])
            order = "C"
            shards = None
            chunks = grid
            if codecs and codecs[0].get("name") == "sharding_indexed":
                conf = codecs[0]["configuration"]
                shards, chunks = grid, tuple(int(c) for c in conf["chunk_shape"])
                codecs = list(conf["codecs"])
            for c in codecs:
                if c.get("name") == "transpose":
                    perm = list(c.get("configuration", {}).get("order", []))
                    order = "F" if perm == list(range(len(shape)))[::-1] and len(shape) > 1 else "C"
            codec = _foreign_ok(_codec_from_v3, codecs)
            cke = doc.get("chunk_key_encoding", {}) or {}
            sep = (cke.get("configuration") or {}).get("separator")
            sep = sep or ("." if cke.get("name") == "v2" else "/")
            dim_names = tuple(doc["dimension_names"]) if doc.get("dimension_names") else None
        if version not in (2, 3) or any(n < 0 for n in shape):
            raise ValueError(f"zarr_format {version} / shape {shape}")
        for block in (chunks, shards or chunks):
            if len(block) != len(shape) or any(c < 1 for c in block):
                raise ValueError(f"chunk shape {block} does not fit shape {shape}")
        dtype = normalize_dtype(dtype)
        return ArraySpec(
            shape=shape,
            dtype=dtype,
            zarr_version=version,
            chunks=chunks,
            shards=shards,
            compressor=codec,
            fill_value=normalize_fill_value(fill_value_from_json(doc.get("fill_value"), dtype), dtype),
            order=normalize_order(order),
            dimension_separator=normalize_separator(sep),
            attributes=dict(attributes) if attributes else None,
            dimension_names=dim_names,
        )
    except Exception as exc:  # any malformed field: one clear error, never a crash
        raise MetadataError(f"not a valid Zarr array metadata document ({type(exc).__name__}: {exc})") from exc


def _foreign_ok(parse: Any, *args: Any) -> CodecSpec:
    """Parse a codec; one unizarr does not write (e.g. a numcodecs filter chain written by
    another tool) is kept as ``CodecSpec("foreign", ...)``: such arrays open and read
    normally, and only reproducing their layout (``create_array_from_base``, copies) asks
    for an explicit ``compressor=``."""
    try:
        return parse(*args)
    except ValueError:
        return CodecSpec("foreign", {"metadata": args[0]})


def codec_from_object(obj: Any) -> CodecSpec | None:
    """Translate a zarr-python/numcodecs compressor argument into a :class:`CodecSpec`.

    Accepts ``None`` or ``[]`` (uncompressed), ``"auto"`` (returns ``None``: use the
    config's compressor), a name, a Zarr v3 codec dict or object, a numcodecs config
    dict or object, or a one-element list of those.
    """
    if obj is None:
        return CodecSpec("none", {})
    if isinstance(obj, str):
        return None if obj == "auto" else normalize_compressor(obj)
    if isinstance(obj, (list, tuple)):
        if not obj:
            return CodecSpec("none", {})
        if len(obj) > 1:
            raise ValueError("unizarr writes one compressor per array; got several")
        return codec_from_object(obj[0])
    if not isinstance(obj, Mapping):
        if hasattr(obj, "get_config"):  # numcodecs codec
            obj = obj.get_config()
        elif hasattr(obj, "to_dict"):  # zarr v3 codec
            obj = obj.to_dict()
        else:
            raise ValueError(f"cannot use {obj!r} as a compressor")
    if "id" in obj:
        return _codec_from_v2(obj)
    name = obj.get("name")
    if name in ("blosc", "zstd", "gzip"):
        return _codec_from_v3([obj])
    raise ValueError(f"compressor {obj!r} is not one unizarr writes ({COMPRESSORS})")


