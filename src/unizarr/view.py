"""``unizarr view``: a store in the Neuroglancer client bundled with the ``neuroglancer``
package, served offline from one local server.

:func:`viewer_state` turns a store's OME-NGFF / NIfTI-Zarr metadata into a Neuroglancer
state: one image layer per multiscale image, its dimensions and units from the OME axes
and level-0 scales (a NIfTI-Zarr image: from the header's affine, as a source transform
to RAS world millimetres), a channel axis as Neuroglancer's channel dimension, a contrast
window from percentiles of the smallest pyramid level, and each ``labels/*`` image as a
segmentation layer. :func:`view` serves the store with :func:`unizarr.serve.start_server`
and the client with Neuroglancer's own Python server (the bundled client is built to
talk to it), both on loopback: nothing comes from the internet.

What the bundled client cannot read (:func:`unsupported_reason`) - data types other
than (u)int8/16/32, uint64 and float32 (float64, int64, bool, complex) - gets a warning
and the way out: the same Python server streams that image as a ``LocalVolume`` (cast
to float32) while the others stay zarr sources on the store's server.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .core import ZarrArray, ZarrGroup
from .errors import UnizarrError
from .ome import find_multiscale
from .paths import parse_url
from .serve import Mount, ServeHandle, start_server, store_source

#: Data types the bundled client's zarr source decodes.
NG_DTYPES = frozenset({"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "float32"})
#: OME-NGFF versions the bundled client's zarr source reads (0.4 on Zarr v2, 0.5 on v3).
NG_OME_VERSIONS = ("0.4", "0.5")
#: Metres per OME unit (Neuroglancer states use SI base units).
_METRES = {
    "angstrom": 1e-10, "picometer": 1e-12, "nanometer": 1e-9, "micrometer": 1e-6,
    "millimeter": 1e-3, "centimeter": 1e-2, "decimeter": 1e-1, "meter": 1.0,
    "kilometer": 1e3, "inch": 0.0254, "foot": 0.3048,
}
_SECONDS = {"nanosecond": 1e-9, "microsecond": 1e-6, "millisecond": 1e-3, "second": 1.0,
            "minute": 60.0, "hour": 3600.0}
#: Values sampled at most for a contrast window (the smallest level usually has fewer).
WINDOW_SAMPLES = 4_000_000


class ViewerUnavailableError(UnizarrError, ImportError):
    """The ``neuroglancer`` package (``pip install unizarr[view]``) is missing."""


def client_dir() -> Path:
    """The built Neuroglancer web client shipped inside the ``neuroglancer`` package."""
    try:
        import neuroglancer
    except ImportError:
        raise ViewerUnavailableError(
            "unizarr view needs the neuroglancer package: pip install 'unizarr[view]'"
        ) from None
    static = Path(neuroglancer.__file__).parent / "static" / "client"
    if not (static / "index.html").is_file():
        raise ViewerUnavailableError(
            f"the neuroglancer package has no built client in {static}; reinstall it "
            "from a wheel (pip install --force-reinstall neuroglancer)"
        )
    return static


# -- what is in the store -----------------------------------------------------------------
@dataclass
class Image:
    """One multiscale image of a store, as Neuroglancer will show it."""

    path: str
    name: str
    kind: str  # "image" or "segmentation"
    ome_version: str
    zarr_version: int
    axes: list[dict[str, Any]]
    scale: list[float]
    translation: list[float]
    shape: list[int]
    dtype: str
    window: tuple[float, float] | None = None
    nifti_affine: list[list[float]] | None = None
    nifti_unit: str | None = None
    problems: list[str] = field(default_factory=list)


def _transforms(ts: Any, kind: str, ndim: int) -> list[float] | None:
    for t in ts or ():
        if isinstance(t, Mapping) and t.get("type") == kind and kind in t:
            v = [float(x) for x in t[kind]]
            if len(v) == ndim:
                return v
    return None


def _kind(name: str) -> str:
    """The OME axis type a name without one implies."""
    return {"t": "time", "time": "time", "c": "channel", "channel": "channel"}.get(
        name.lower(), "space")


def _axes(ms: Mapping[str, Any], base: ZarrArray) -> tuple[list[dict[str, Any]], str | None]:
    """The image's axes, and a note when they are not the OME metadata's.

    Without OME axes for every dimension, the array's own names say which axis is
    time and which channels (Zarr v3 ``dimension_names``, or v2's xarray
    ``_ARRAY_DIMENSIONS``); only an array naming none gets NGFF's order ``tczyx``
    cut to its rank (a 4-D one is then read as ``czyx``, and the note says so).
    """
    ndim = base.ndim
    axes = []
    for i, ax in enumerate(ms.get("axes") or []):
        ax = ax if isinstance(ax, Mapping) else {"name": str(ax)}
        name = str(ax.get("name", f"d{i}"))
        axes.append({"name": name, "type": ax.get("type") or _kind(name), "unit": ax.get("unit")})
    if len(axes) == ndim:
        return axes, None
    names = _dimension_names(base)
    if names is not None:
        note = f"no OME axes for its {ndim} dimensions; using the array's dimension names"
    else:
        names = list("tczyx"[-ndim:]) if ndim <= 5 else [f"d{i}" for i in range(ndim)]
        note = (f"no OME axes for its {ndim} dimensions, nor dimension names; "
                f"assumed {''.join(names) if ndim <= 5 else ', '.join(names)}")
    return [{"name": n, "type": _kind(n), "unit": None} for n in names], note


def _dimension_names(base: ZarrArray) -> list[str] | None:
    """The array's names for all its dimensions, distinct, or ``None``."""
    names: Any = base.dimension_names
    if names is None:
        try:
            names = base.attrs.asdict().get("_ARRAY_DIMENSIONS")
        except Exception:  # noqa: BLE001 - unreadable attributes: no names
            names = None
    if (not isinstance(names, (list, tuple)) or len(names) != base.ndim
            or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names)):
        return None
    return [str(n) for n in names]


def contrast_window(arr: ZarrArray, percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[float, float]:
    """(low, high) intensity percentiles of ``arr`` (a small pyramid level), subsampled
    evenly when it holds more than :data:`WINDOW_SAMPLES` values."""
    step = max(1, math.ceil((arr.size / WINDOW_SAMPLES) ** (1 / max(1, arr.ndim))))
    data = np.asarray(arr[tuple(slice(None, None, step) for _ in arr.shape)])
    if np.iscomplexobj(data):
        data = np.abs(data)
    values = data[np.isfinite(data)] if data.dtype.kind == "f" else data.ravel()
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, list(percentiles)))
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def unsupported_reason(image: Image) -> str | None:
    """Why the bundled client cannot show ``image`` (``None``: it can)."""
    if image.dtype not in NG_DTYPES:
        return f"data type {image.dtype} (it reads {', '.join(sorted(NG_DTYPES))})"
    if image.ome_version not in NG_OME_VERSIONS:
        return f"OME-NGFF {image.ome_version} (it reads {' and '.join(NG_OME_VERSIONS)})"
    return None


def _image(group: ZarrGroup, path: str, kind: str) -> Image | None:
    found = find_multiscale(group.attrs.asdict())
    if found is None:
        return None
    version, ms = found
    datasets = ms.get("datasets") or []
    if not datasets:
        return None
    base = group.get(str(datasets[0].get("path")))
    if not isinstance(base, ZarrArray):
        return None
    ndim = base.ndim
    overall_s = _transforms(ms.get("coordinateTransformations"), "scale", ndim) or [1.0] * ndim
    overall_t = _transforms(ms.get("coordinateTransformations"), "translation", ndim) or [0.0] * ndim
    ds0 = datasets[0].get("coordinateTransformations")
    scale = [a * b for a, b in zip(_transforms(ds0, "scale", ndim) or [1.0] * ndim, overall_s)]
    trans = [a * s + b for a, s, b in zip(_transforms(ds0, "translation", ndim) or [0.0] * ndim,
                                         overall_s, overall_t)]
    name = ms.get("name") or (path.rsplit("/", 1)[-1] if path else "image")
    axes, axes_note = _axes(ms, base)
    img = Image(
        path=path, name=str(name), kind=kind, ome_version=version,
        zarr_version=group.zarr_version, axes=axes, scale=scale,
        translation=trans, shape=list(base.shape), dtype=str(base.dtype),
    )
    if axes_note is not None:
        img.problems.append(axes_note)
    if kind == "image":
        low = group.get(str(datasets[-1].get("path")))
        if isinstance(low, ZarrArray):
            img.window = contrast_window(low)
    if kind == "image" and "nifti" in group:
        try:
            from .nifti import read_nifti_header

            header = read_nifti_header(group)
            img.nifti_affine = [[float(v) for v in row] for row in header.get_best_affine()]
            img.nifti_unit = header.get_xyzt_units()[0]
        except Exception as exc:  # a broken header: show the OME geometry, say why
            img.problems.append(f"NIfTI header unreadable ({exc}); using the OME scales")
    return img


def find_images(root: ZarrGroup, max_depth: int = 3) -> list[Image]:
    """Every multiscale image below ``root`` (itself included) and its label images,
    found through the metadata (works where directory listings are refused)."""
    out: list[Image] = []

    def visit(group: ZarrGroup, path: str, depth: int) -> None:
        img = _image(group, path, "image")
        if img is not None:
            out.append(img)
            labels = group.get("labels")
            if isinstance(labels, ZarrGroup):
                attrs = labels.attrs.asdict()
                names = (attrs.get("ome") or attrs).get("labels") or []
                for name in names:
                    sub = labels.get(str(name))
                    if isinstance(sub, ZarrGroup):
                        lab = _image(sub, f"{path}/labels/{name}".lstrip("/"), "segmentation")
                        if lab is not None:
                            out.append(lab)
            return
        if depth >= max_depth:
            return
        for child in group.keys():
            node = group[child]
            if isinstance(node, ZarrGroup):
                visit(node, f"{path}/{child}".lstrip("/"), depth + 1)

    visit(root, "", 0)
    return out


# -- the Neuroglancer state ------------------------------------------------------------------
def _unit(axis: Mapping[str, Any], fallback: str | None = None) -> tuple[float, str]:
    """(factor to SI, SI unit) of an OME axis; dimensionless axes are ``(1, "")``."""
    unit = str(axis.get("unit") or fallback or "")
    if axis["type"] == "space":
        return _METRES.get(unit, 1e-6 if not unit else 1.0), "m"
    if axis["type"] == "time":
        return _SECONDS.get(unit, 1.0), "s"
    return 1.0, ""


def ng_dim_name(axis: Mapping[str, Any]) -> str:
    """The dimension name the bundled client gives an OME axis (channel axes become
    local channel dimensions, suffixed with ``'``)."""
    return f"{axis['name']}'" if axis["type"] == "channel" else str(axis["name"])


def _layer(image: Image, source_url: str) -> dict[str, Any]:
    scheme = "zarr3" if image.zarr_version == 3 else "zarr2"
    source: dict[str, Any] = {"url": f"{scheme}://{source_url}"}
    if image.nifti_affine is not None:
        source["transform"] = _nifti_transform(image)
    layer: dict[str, Any] = {"type": image.kind, "name": image.name, "source": source}
    if image.kind == "image" and image.window is not None:
        lo, hi = image.window
        layer["shader"] = (
            "#uicontrol invlerp normalized\nvoid main() {\n  emitGrayscale(normalized());\n}\n"
        )
        layer["shaderControls"] = {"normalized": {"range": [lo, hi]}}
    return layer


def _nifti_transform(image: Image) -> dict[str, Any]:
    """Source transform from the OME grid (level-0 voxels) to NIfTI RAS world.

    The header affine maps voxel (i, j, k) = (x, y, z) indices to world millimetres; the
    Zarr axes are (..., z, y, x). Output dimensions ``x``, ``y``, ``z`` are the world's
    R, A, S axes. The OME translation is undone first, so the matrix acts on voxel
    indices exactly as the affine does.
    """
    names = [ng_dim_name(a) for a in image.axes]
    spatial = {a["name"] for a in image.axes if a["type"] == "space"}
    if spatial != {"x", "y", "z"} or image.nifti_affine is None:
        return {}
    # NIfTI's xyzt space units as nibabel names them
    factor = {"mm": 1e-3, "micron": 1e-6, "meter": 1.0}.get(image.nifti_unit or "mm", 1e-3)
    A = image.nifti_affine
    ijk = {"x": 0, "y": 1, "z": 2}
    rank = len(image.axes)
    matrix = []
    out_dims: dict[str, Any] = {}
    for r, axis in enumerate(image.axes):  # time / channel axes pass through
        if axis["type"] != "space":
            row = [0.0] * (rank + 1)
            row[r] = 1.0
            f, u = _unit(axis)
            out_dims[names[r]] = [image.scale[r] * f, u] if u else [1, ""]
            matrix.append(row)
    for world, out_name in enumerate(("x", "y", "z")):  # world R, A, S
        row = [0.0] * (rank + 1)
        offset = A[world][3]
        for c, col_axis in enumerate(image.axes):
            if col_axis["type"] == "space":
                row[c] = A[world][ijk[col_axis["name"]]]
                if image.scale[c]:
                    # neuroglancer's input coordinate is index + translation / scale
                    offset -= row[c] * image.translation[c] / image.scale[c]
        row[rank] = offset
        out_dims[out_name] = [factor, "m"]
        matrix.append(row)
    return {"outputDimensions": out_dims, "matrix": matrix}


def viewer_state(images: list[Image], base_url: str, layout: str = "4panel") -> dict[str, Any]:
    """The Neuroglancer state showing ``images`` of the store at ``base_url``.

    ``base_url`` is what the client fetches: the local server's store URL, or a remote
    ``s3://``/``gs://``/``https://`` URL for a state that a hosted Neuroglancer opens.
    """
    base = base_url if base_url.endswith("/") else base_url + "/"
    layers = [_layer(img, base + (img.path + "/" if img.path else "")) for img in images]
    state: dict[str, Any] = {"layers": layers, "layout": layout}
    first = next((i for i in images if i.kind == "image"), None)
    if first is not None:
        if first.nifti_affine is not None:
            dims = _nifti_transform(first).get("outputDimensions")
        else:
            dims = {}
            for axis, s in zip(first.axes, first.scale):
                if axis["type"] == "channel":
                    continue
                f, unit = _unit(axis)
                dims[ng_dim_name(axis)] = [s * f, unit]
        if dims:
            # x, y, z first: Neuroglancer's first panel shows the first two dimensions
            order = {"x": 0, "y": 1, "z": 2}
            state["dimensions"] = dict(sorted(dims.items(), key=lambda kv: order.get(kv[0], 3)))
        state["selectedLayer"] = {"layer": first.name, "visible": False}
    return state


# -- the command's library half -----------------------------------------------------------------
class ViewHandle:
    """A running viewer: ``url`` to open, ``state`` shown, ``stop()`` (or ``with``).

    Attributes
    ----------
    url : str
        The page showing the store (Neuroglancer's Python server, loopback).
    state : dict
        The Neuroglancer state the page opens with (zarr sources on ``server``).
    images : list of Image
        What is shown.
    warnings : list of str
        What the bundled client could not read and how it is shown instead.
    server : ServeHandle
        The local server of the store.
    viewer : neuroglancer.Viewer
        The Python side of the page (``viewer.state``, ``viewer.txn()``).
    """

    def __init__(self, url: str, state: dict[str, Any], images: list[Image],
                 server: ServeHandle, notes: list[str], viewer: Any) -> None:
        self.url = url
        self.state = state
        self.images = images
        self.server = server
        self.warnings = notes
        self.viewer = viewer

    def stop(self) -> None:
        """Stop the store server and Neuroglancer's server (idempotent)."""
        self.server.stop()
        if self.viewer is not None:
            import neuroglancer

            neuroglancer.stop()
            self.viewer = None

    def __enter__(self) -> ViewHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ViewHandle {self.url}>"


def remote_source_url(store: str | os.PathLike) -> str | None:
    """The URL a hosted Neuroglancer fetches a remote store from (``None`` if local)."""
    loc = parse_url(store)
    if loc.scheme in ("s3", "gs", "gcs", "http", "https"):
        return ("gs" if loc.scheme == "gcs" else loc.scheme) + "://" + loc.path
    return None


def store_images(
    store: str | os.PathLike,
    *,
    storage_options: dict[str, Any] | None = None,
    driver: str | None = None,
) -> tuple[ZarrGroup, list[Image]]:
    """The store opened read-only and its multiscale images.

    Raises
    ------
    ValueError
        The store holds no OME-NGFF multiscale image.
    """
    from .api import open_group

    root = open_group(store, "r", driver=driver, storage_options=storage_options)
    images = find_images(root)
    if not images:
        raise ValueError(
            f"{store} holds no OME-NGFF multiscale image; view shows OME-Zarr groups "
            "(convert the data with `unizarr convert` first)"
        )
    return root, images


def view(
    store: str | os.PathLike,
    *,
    port: int = 0,
    bind: str = "127.0.0.1",
    storage_options: dict[str, Any] | None = None,
    driver: str | None = None,
    open_browser: bool = False,
) -> ViewHandle:
    """Serve ``store`` and show it in the bundled Neuroglancer client; return a handle.

    Two loopback servers run in this process: :func:`unizarr.serve.start_server` serves
    the store (CORS, byte ranges; a remote store is proxied), and Neuroglancer's Python
    server serves its built client and the viewer state. Nothing is fetched from the
    internet.

    Parameters
    ----------
    store
        OME-Zarr group (local directory or remote URL).
    port
        Port of the viewer page (0: a free one); the store's server takes a free port.
    bind
        Address both servers listen on (loopback by default).
    storage_options
        Credentials/endpoint of a remote store.
    driver
        Engine that reads the metadata and the contrast window.
    open_browser
        Open ``handle.url`` in the default web browser.

    Raises
    ------
    ViewerUnavailableError
        ``neuroglancer`` is not installed.
    ValueError
        The store holds no OME-NGFF multiscale image.
    """
    client_dir()
    import neuroglancer

    root, images = store_images(store, storage_options=storage_options, driver=driver)
    source = store_source(store, storage_options)
    server = start_server([Mount((), source)], bind=bind)
    try:
        shown = [i for i in images if unsupported_reason(i) is None]
        python_side = [i for i in images if unsupported_reason(i) is not None]
        notes = [f"{img.path or '/'}: {p}" for img in images for p in img.problems]
        notes += [
            f"{img.path or '/'}: the bundled Neuroglancer client cannot read "
            f"{unsupported_reason(img)}; it is streamed from Python instead "
            "(neuroglancer LocalVolume, as float32)"
            for img in python_side
        ]
        state = viewer_state(shown, server.url)
        neuroglancer.set_server_bind_address(bind, port)
        viewer = neuroglancer.Viewer()
        viewer.set_state(state)
        if python_side:
            with viewer.txn() as s:
                for img in python_side:
                    s.layers[img.name] = _local_layer(root, img)
                if "dimensions" not in state:
                    s.dimensions = _local_dimensions(python_side[0])
        url = viewer.get_viewer_url()
    except BaseException:
        server.stop()
        raise
    for note in notes:
        warnings.warn(note, stacklevel=2)
    handle = ViewHandle(url, state, images, server, notes, viewer)
    if open_browser:
        import webbrowser

        webbrowser.open(handle.url)
    return handle


def _local_dimensions(img: Image) -> Any:
    import neuroglancer

    names, units, scales = [], [], []
    for axis, s_ in zip(img.axes, img.scale):
        f, u = _unit(axis)
        names.append(ng_dim_name(axis))
        units.append(u)
        scales.append(s_ * f if u else 1)
    return neuroglancer.CoordinateSpace(names=names, units=units, scales=scales)


def _local_layer(root: ZarrGroup, img: Image) -> Any:
    """A layer streaming ``img``'s level 0 from Python (Neuroglancer ``LocalVolume``)."""
    import neuroglancer

    node = root[img.path] if img.path else root
    found = find_multiscale(node.attrs.asdict())
    if not isinstance(node, ZarrGroup) or found is None:
        raise UnizarrError(f"{root.url}/{img.path} is no OME-NGFF image; it cannot be shown")
    base = node[str(found[1]["datasets"][0]["path"])]
    if not isinstance(base, ZarrArray):
        raise UnizarrError(f"level 0 of {root.url}/{img.path} is not an array; it cannot be shown")
    layer_cls = (neuroglancer.SegmentationLayer if img.kind == "segmentation"
                 else neuroglancer.ImageLayer)
    volume = neuroglancer.LocalVolume(data=_AsFloat32(base), dimensions=_local_dimensions(img),
                                      volume_type=img.kind)
    layer = layer_cls(source=volume)
    if img.kind == "image" and img.window is not None:
        layer.shader = "#uicontrol invlerp normalized\nvoid main() { emitGrayscale(normalized()); }\n"
        layer.shader_controls = {"normalized": {"range": list(img.window)}}
    return layer


class _AsFloat32:
    """Blocks of ``arr`` read on demand and cast to float32 (the volume is never loaded
    whole: ``LocalVolume`` slices it chunk by chunk)."""

    def __init__(self, arr: ZarrArray) -> None:
        self.arr = arr
        self.shape = tuple(arr.shape)
        self.dtype = np.dtype("float32")
        self.ndim = arr.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        data = np.asarray(self.arr[key])
        if np.iscomplexobj(data):
            data = np.abs(data)
        return data.astype(np.float32)
