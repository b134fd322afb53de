"""Write a sample volume through every driver and both Zarr versions, then read it back.

Run with ``make demo``. No network; output under ./out/demo (replaced on each run).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

import unizarr as uz


def sample_volume(shape: tuple[int, int, int] = (96, 128, 160)) -> np.ndarray:
    """Smooth blobs plus a little noise, as uint16 (compresses like real microscopy)."""
    rng = np.random.default_rng(0)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n, dtype="f4") for n in shape), indexing="ij")
    vol = np.zeros(shape, "f4")
    for _ in range(6):
        c = rng.uniform(-0.7, 0.7, 3)
        vol += np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / 0.08)
    vol = vol / vol.max() * 4000 + rng.normal(0, 20, shape)
    return np.clip(vol, 0, 65535).astype("u2")


def main() -> None:
    out = Path("out/demo")
    shutil.rmtree(out, ignore_errors=True)
    vol = sample_volume()
    print(f"sample volume {vol.shape} {vol.dtype}, {vol.nbytes / 2**20:.1f} MiB")
    for driver in uz.drivers():
        for version in (2, 3):
            cfg = uz.ZarrConfig(
                zarr_version=version, chunk=(32,), shard=(64,) if version == 3 else None,
                driver=driver, overwrite=True,
            )
            path = out / f"{driver}-v{version}.zarr"
            t0 = time.perf_counter()
            g = uz.from_config(path, cfg)
            a = g.create_array("0", vol.shape, vol.dtype, zarr_config=cfg, data=vol)
            g.attrs["description"] = "unizarr demo volume"
            elapsed = time.perf_counter() - t0
            back = uz.open_array(path / "0", "r", driver=driver)
            same = bool(np.array_equal(back[...], vol))
            print(
                f"{driver:12s} v{version}: chunks={a.chunks} shards={a.shards} "
                f"codec={a.compressor.name}{dict(a.compressor.options)} "
                f"stored={a.nbytes_stored / 2**20:.1f} MiB "
                f"(ratio {a.nbytes / a.nbytes_stored:.2f}) in {elapsed:.2f}s, read back equal: {same}"
            )
            if not same:
                raise SystemExit("demo failed: data read back differs")
    print("group attributes:", json.dumps(dict(uz.open_group(out / "zarr-python-v3.zarr", "r").attrs)))


if __name__ == "__main__":
    main()
