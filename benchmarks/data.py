"""Deterministic benchmark volume, generated once and cached as ``.npy``.

The volume is smooth blobs plus low uniform noise, uint16: a random coarse
grid (one node per 32 voxels) is upsampled with separable Gaussian
interpolation weights (three small matrix products, so 512³ takes ~2 s and
1024³ ~15 s), clipped, scaled, and offset; then uniform noise in [0, 7) is
added. That noise level makes Blosc lz4 clevel 5 byte-shuffle compress 128³
chunks ≈1.8x, like real microscopy background.

Generation is done in fixed 64-plane slabs written into an ``.npy`` memmap, so
the 1024³ (2 GiB) volume never needs to fit in memory and every slab's noise
comes from its own seeded generator (the result does not depend on how it is
generated or read).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

GENERATOR_VERSION = 1  # bump when the recipe changes, so caches regenerate
SLAB = 64
NOISE = 7
BLOB_SCALE = 2000.0
BACKGROUND = 200.0


def _interp_matrix(n_out: int, n_in: int, sigma: float = 0.7) -> np.ndarray:
    """Row-normalised Gaussian weights from ``n_in`` grid nodes to ``n_out`` samples."""
    x = (np.arange(n_out) + 0.5) / n_out * n_in - 0.5
    w = np.exp(-0.5 * ((x[:, None] - np.arange(n_in)[None, :]) / sigma) ** 2)
    w /= w.sum(axis=1, keepdims=True)
    return w.astype(np.float32)


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Write an ``n``³ uint16 volume to ``path`` (``.npy``).

    Parameters
    ----------
    path : Path
        Destination ``.npy`` file (overwritten).
    n : int
        Edge length; a multiple of 64.
    seed : int
        Seed of every random draw.
    """
    coarse = max(4, n // 32)
    rng = np.random.default_rng(seed)
    grid = rng.standard_normal((coarse,) * 3).astype(np.float32)
    a = _interp_matrix(n, coarse)
    # Upsample x then y on the coarse z planes; z is done per slab below.
    t = np.einsum("zyx,Xx->zyX", grid, a)
    t = np.einsum("zyX,Yy->zYX", t, a).reshape(coarse, -1)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(n, n, n))
    for z0 in range(0, n, SLAB):
        z1 = min(n, z0 + SLAB)
        smooth = (a[z0:z1] @ t).reshape(z1 - z0, n, n)
        np.clip(smooth, 0, None, out=smooth)
        slab = (smooth * BLOB_SCALE + BACKGROUND).astype(np.uint16)
        noise_rng = np.random.default_rng([seed, z0])
        slab += noise_rng.integers(0, NOISE, size=slab.shape, dtype=np.uint16)
        out[z0:z1] = slab
    out.flush()
    del out


def ensure_volume(cache_dir: Path, n: int, seed: int = 0) -> Path:
    """Path of the cached ``n``³ volume, generating it on first use.

    The file is written under a temporary name and renamed, so an interrupted
    generation never leaves a truncated cache behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"blobs_{n}_seed{seed}_v{GENERATOR_VERSION}.npy"
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        generate(tmp, n, seed)
        os.replace(tmp, path)
    return path


def load_volume(path: Path, mmap: bool) -> np.ndarray:
    """Load the volume fully into memory, or as a read-only memmap (out-of-core)."""
    if mmap:
        return np.load(path, mmap_mode="r")
    return np.load(path)
