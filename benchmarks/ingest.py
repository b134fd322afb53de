"""Ingest rows: real input files -> OME-Zarr, unizarr against the tools users pick today.

Rows (issue #16):

(a) ``slices``: a folder of N uint16 TIFF slices of E x E -> OME-Zarr v3, sharded, with
    a pyramid; unizarr with 512^3 shards and with ``--shard auto`` (the shard the
    budget picks: 256^3 at 512M, the layout that fits ``--max-memory``). Peers: stack-to-chunk, ngff-zarr's CLI, EuBI-Bridge (when installed), and
    a plain tifffile + TensorStore script (level 0 only: the floor of any converter).
(b) ``niigz``: an S^3 uint16 ``.nii.gz`` -> OME-Zarr; the same volume as plain ``.nii``
    is unizarr's own baseline (target: ``.nii.gz`` <= 2x ``.nii``). Peers: nifti-zarr's
    ``nii2zarr``, ngff-zarr's CLI.

Each run is its own subprocess; wall time and peak RSS come from ``os.wait4`` (the
child's own rusage). A peer that is not installed is listed as skipped with the reason.

Usage (one command on an idle machine; the peers that pin their own zarr/tensorstore
get their own venvs under --setup-peers, made with pip on the first run, reused after)::

    python -m benchmarks.ingest --setup-peers ~/.cache/uz-peers --json ingest.json
    python -m benchmarks.ingest --slices 32 --edge 256 --size 128 --repeats 1   # smoke
    python -m benchmarks.ingest --only 'niigz:*'

It ends with the two targets of the issue, per driver: (a) unizarr / fastest peer on
the slice folder (target <= 0.5) with unizarr's peak RSS (target <= 512 MiB), and
(b) ``.nii.gz`` / ``.nii`` convert time (target <= 2).
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PY = sys.executable
BIN = Path(PY).parent
#: Level-0 layout of every row: 128^3 chunks in 512^3 shards (Zarr v3).
CHUNK, SHARD = 128, 512


def _volume(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Smooth structure plus noise (compresses like a real scan: ~2-3x with gzip)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    base = (1000 + 800 * np.sin(z / 17.0) * np.cos(y / 23.0) + 4 * x).astype(np.float32)
    return (base + rng.normal(0, 40, size=shape)).clip(0, 65535).astype(np.uint16)


#: Peers installed into their own venvs by --setup-peers: name -> (pip arguments, the
#: executable the row runs, relative to the venv).
PEER_VENVS = {
    "stack-to-chunk": (["stack-to-chunk", "tifffile", "dask"], "bin/python"),
    "eubi-bridge-lite": (["eubi-bridge-lite"], "bin/eubi"),
}


def setup_peers(root: Path) -> dict[str, str]:
    """Make (or reuse) one venv per peer under ``root``; name -> executable path. A
    peer whose install fails is reported and left out (its rows say why)."""
    found: dict[str, str] = {}
    for name, (packages, exe) in PEER_VENVS.items():
        venv = root / name
        target = venv / exe
        if not target.exists():
            print(f"setting up {name} in {venv} ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                                   "--quiet", *packages], capture_output=True, text=True)
            if proc.returncode != 0 or not target.exists():
                last = (proc.stderr.strip().splitlines() or ["no executable"])[-1]
                print(f"  {name} not installable: {last}", file=sys.stderr)
                continue
        found[name] = str(target)
    return found


def prepare(work: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Write the inputs once (tifffile, nibabel), reused across runs; only those of
    the selected rows (``--only``)."""
    import nibabel as nib
    import tifffile

    paths: dict[str, Path] = {}
    want = set(args.inputs.split(","))
    folder = work / f"slices-{args.slices}x{args.edge}"
    if "slices" in want and not folder.exists():
        tmp = folder.with_suffix(".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for z in range(args.slices):
            plane = _volume((1, args.edge, args.edge), seed=z)[0]
            tifffile.imwrite(tmp / f"slice_z{z}.tif", plane)  # unpadded: natural order
        tmp.rename(folder)
    paths["slices"] = folder
    nii = work / f"vol{args.size}.nii"
    if "niigz" not in want:
        return paths
    if not nii.exists():
        img = nib.Nifti1Image(_volume((args.size,) * 3), np.diag([0.5, 0.5, 0.5, 1]))
        nib.save(img, nii)
    paths["nii"] = nii
    niigz = work / f"vol{args.size}.nii.gz"
    if not niigz.exists():
        with open(nii, "rb") as src, gzip.open(niigz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 16 << 20)
    paths["niigz"] = niigz
    return paths


def _uz(driver: str, src: Path, out: Path, mem: str, shard: str = str(SHARD)) -> list[str]:
    return [PY, "-m", "unizarr.cli", "convert", str(src), str(out), "--quiet",
            "--driver", driver, "--zarr-version", "3", "--chunk", str(CHUNK),
            "--shard", shard, "--max-memory", mem]


def _plain_script(src: Path, out: Path) -> list[str]:
    code = f"""
import glob, re, numpy as np, tensorstore as ts, tifffile
files = sorted(glob.glob({str(src / '*.tif')!r}), key=lambda f: int(re.findall(r'(\\d+)', f)[-1]))
first = tifffile.imread(files[0])
shape = (len(files),) + first.shape
spec = {{"driver": "zarr3", "kvstore": {{"driver": "file", "path": {str(out / '0')!r}}},
        "metadata": {{"shape": shape, "data_type": "uint16",
          "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": [{SHARD}] * 3}}}},
          "codecs": [{{"name": "sharding_indexed", "configuration": {{
             "chunk_shape": [{CHUNK}] * 3, "codecs": [{{"name": "bytes"}},
             {{"name": "blosc", "configuration": {{"cname": "zstd", "clevel": 5, "shuffle": "shuffle"}}}}]}}}}]}},
        "create": True, "delete_existing": True}}
arr = ts.open(spec).result()
step = {SHARD}
for z0 in range(0, shape[0], step):
    slab = np.stack([tifffile.imread(f) for f in files[z0:z0 + step]])
    arr[z0:z0 + len(slab)].write(slab).result()
"""
    return [PY, "-c", code]


def _stack_to_chunk(src: Path, out: Path, python: str | None) -> list[str] | str:
    # stack-to-chunk pins exact zarr/tensorstore versions: it gets its own venv
    # (--stack-to-chunk-python), never the project's.
    if python is None:
        return "no --stack-to-chunk-python (a venv with stack-to-chunk: it pins zarr/tensorstore)"
    code = f"""
import glob, re, dask.array as da, numpy as np, tifffile, stack_to_chunk as s2c
from pathlib import Path
files = sorted(glob.glob({str(src / '*.tif')!r}), key=lambda f: int(re.findall(r'(\\d+)', f)[-1]))
first = tifffile.imread(files[0])
lazy = [da.from_delayed(__import__('dask').delayed(tifffile.imread)(f), first.shape, first.dtype) for f in files]
# stack-to-chunk takes (x, y, z) with one slice per chunk along z
arr = da.stack(lazy, axis=-1).transpose(1, 0, 2).rechunk((-1, -1, 1))
from pydantic_zarr.v3 import ArraySpec, NamedConfig
spec = ArraySpec.from_array(arr, chunk_grid=NamedConfig(name="regular", configuration={{"chunk_shape": [{CHUNK}] * 3}}),
    codecs=(NamedConfig(name="bytes"), NamedConfig(name="blosc", configuration={{"cname": "zstd", "clevel": 5, "shuffle": "shuffle", "typesize": 2, "blocksize": 0}})))
group = s2c.MultiScaleGroup(Path({str(out)!r}), name="bench", voxel_size=(1, 1, 1), spatial_unit="micrometer", array_spec=spec)
group.add_full_res_data(arr, n_processes=2)
level = 0
while min(s // 2 ** (level + 1) for s in arr.shape) >= {CHUNK}:
    level += 1
    group.add_downsample_level(level, n_processes=2)
"""
    return [python, "-c", code]


def _ngff_zarr(src: Path, out: Path) -> list[str] | str:
    exe = BIN / "ngff-zarr"
    if not exe.exists():
        return "not installed (pip install ngff-zarr[cli])"
    inputs = sorted(src.glob("*.tif")) if src.is_dir() else [src]
    return [str(exe), "-q", "-i", *map(str, inputs), "-o", str(out), "--ome-zarr-version", "0.5",
            "-c", str(CHUNK), "--chunks-per-shard", str(SHARD // CHUNK)]


def _eubi(src: Path, out: Path, exe: str | None) -> list[str] | str:
    # eubi-bridge-lite (no Java) also pins its own stack: its own venv, --eubi PATH.
    exe = exe or shutil.which("eubi")
    if exe is None:
        return "no --eubi (the eubi executable of a venv with eubi-bridge-lite)"
    # --zarr_format 3: sharded v3 like the other rows (its default is v2)
    return [exe, "to_zarr", str(src), "--output_path", str(out), "--z_tag", "slice_z",
            "--concatenation_axes", "z", "--zarr_format", "3"]


def _nii2zarr(src: Path, out: Path) -> list[str] | str:
    exe = BIN / "nii2zarr"
    if not exe.exists():
        return "not installed (pip install nifti-zarr)"
    return [str(exe), str(src), str(out), "--chunk", str(CHUNK), "--zarr-version", "3"]


def jobs(paths: dict[str, Path], mem: str, args: argparse.Namespace) -> dict[str, Any]:
    """name -> (input, command builder)."""
    s, gz, nii = paths["slices"], paths["niigz"], paths["nii"]
    return {
        "slices:uz.zarr-python": lambda o: _uz("zarr-python", s, o, mem),
        "slices:uz.tensorstore": lambda o: _uz("tensorstore", s, o, mem),
        # the shard the budget picks (256^3 at 512M): what fits --max-memory
        "slices:uz.zarr-python(auto)": lambda o: _uz("zarr-python", s, o, mem, "auto"),
        "slices:uz.tensorstore(auto)": lambda o: _uz("tensorstore", s, o, mem, "auto"),
        "slices:tifffile+tensorstore(L0)": lambda o: _plain_script(s, o),
        "slices:stack-to-chunk": lambda o: _stack_to_chunk(s, o, args.stack_to_chunk_python),
        "slices:ngff-zarr": lambda o: _ngff_zarr(s, o),
        "slices:eubi-bridge": lambda o: _eubi(s, o, args.eubi),
        "niigz:uz.zarr-python": lambda o: _uz("zarr-python", gz, o, mem),
        "niigz:uz.tensorstore": lambda o: _uz("tensorstore", gz, o, mem),
        "niigz:uz.zarr-python(.nii)": lambda o: _uz("zarr-python", nii, o, mem),
        "niigz:uz.tensorstore(.nii)": lambda o: _uz("tensorstore", nii, o, mem),
        "niigz:nii2zarr": lambda o: _nii2zarr(gz, o),
        "niigz:ngff-zarr": lambda o: _ngff_zarr(gz, o),
    }


def run_one(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            return {"error": f"timeout after {timeout:.0f} s"}
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return {"error": f"exit {code}: {err.splitlines()[-1] if err else ''}"[:200]}
    return {"seconds": seconds, "rss_mib": usage.ru_maxrss / 1024}


def largest_array(out: Path) -> tuple[int, ...]:
    """Shape of the largest array stored under ``out`` (any Zarr version, any nesting):
    a row whose output does not hold the whole input is not comparable."""
    best: tuple[int, ...] = ()
    for doc in [*out.rglob("zarr.json"), *out.rglob(".zarray")]:
        try:
            meta = json.loads(doc.read_text())
        except (OSError, ValueError):
            continue
        shape = tuple(meta.get("shape") or ())
        if meta.get("node_type", "array") == "array" and shape:
            if int(np.prod(shape)) > int(np.prod(best or (0,))):
                best = shape
    return best


def target_ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """(a) unizarr / fastest full-pyramid peer on the slice folder, (b) .nii.gz / .nii,
    per driver, from the rows' medians (rows missing -> ratio missing)."""
    ratios: dict[str, float] = {}
    peers = {n: r["median_s"] for n, r in results.items()
             if n.startswith("slices:") and "uz." not in n and "(L0)" not in n
             and "median_s" in r}
    for drv in ("zarr-python", "tensorstore"):
        gz, plain = results.get(f"niigz:uz.{drv}", {}), results.get(f"niigz:uz.{drv}(.nii)", {})
        if "median_s" in gz and "median_s" in plain:
            ratios[f"niigz/nii {drv}"] = gz["median_s"] / plain["median_s"]
        for tag in ("", "(auto)"):
            mine = results.get(f"slices:uz.{drv}{tag}", {})
            if peers and "median_s" in mine:
                ratios[f"slices uz.{drv}{tag}/fastest peer"] = mine["median_s"] / min(peers.values())
    return ratios


def describe_targets(ratios: dict[str, float], results: dict[str, dict[str, Any]]) -> list[str]:
    """One line per target and driver, with the verdict."""
    lines = []
    peers = {n: r["median_s"] for n, r in results.items()
             if n.startswith("slices:") and "uz." not in n and "(L0)" not in n
             and "median_s" in r}
    fastest = min(peers, key=peers.__getitem__) if peers else None
    for drv in ("zarr-python", "tensorstore"):
        for tag, shard in (("", f"--shard {SHARD}"), ("(auto)", "--shard auto")):
            key = f"slices uz.{drv}{tag}/fastest peer"
            rss = results.get(f"slices:uz.{drv}{tag}", {}).get("peak_rss_mib")
            if key in ratios:
                ok = ratios[key] <= 0.5 and rss is not None and rss <= 512
                lines.append(f"(a) {drv} {shard}: {ratios[key]:.2f}x the fastest peer "
                             f"({fastest}), peak {rss:.0f} MiB  [target <= 0.5x at <= 512 "
                             f"MiB: {'met' if ok else 'NOT met'}]")
            else:
                lines.append(f"(a) {drv} {shard}: no ratio (a unizarr or every peer row "
                             "is missing)")
        key = f"niigz/nii {drv}"
        if key in ratios:
            lines.append(f"(b) {drv}: .nii.gz = {ratios[key]:.2f}x .nii  [target <= 2x: "
                         f"{'met' if ratios[key] <= 2 else 'NOT met'}]")
        else:
            lines.append(f"(b) {drv}: no ratio (rows missing)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slices", type=int, default=512, help="slices in row (a) (default 512)")
    p.add_argument("--edge", type=int, default=1024, help="slice edge in row (a) (default 1024)")
    p.add_argument("--size", type=int, default=512, help="volume edge in row (b) (default 512)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-memory", default="512M")
    p.add_argument("--only", default="*", help="comma-separated globs of row names")
    p.add_argument("--work", type=Path, help="where inputs and outputs go (default: a temp dir)")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", type=Path)
    p.add_argument("--stack-to-chunk-python", help="python of a venv with stack-to-chunk")
    p.add_argument("--eubi", help="eubi executable of a venv with eubi-bridge-lite")
    p.add_argument("--setup-peers", type=Path, metavar="DIR",
                   help="install stack-to-chunk and eubi-bridge-lite into venvs under DIR "
                        "(once) and run them")
    p.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--inputs", default="slices,niigz", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="uz-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.prepare_only:
        prepare(work, args)
        return 0
    if args.setup_peers is not None:
        peers = setup_peers(args.setup_peers.expanduser().resolve())
        args.stack_to_chunk_python = args.stack_to_chunk_python or peers.get("stack-to-chunk")
        args.eubi = args.eubi or peers.get("eubi-bridge-lite")
    paths = {"slices": work / f"slices-{args.slices}x{args.edge}",
             "nii": work / f"vol{args.size}.nii", "niigz": work / f"vol{args.size}.nii.gz"}
    table = jobs(paths, args.max_memory, args)
    names = [n for n in table if any(fnmatch.fnmatch(n, pat) for pat in args.only.split(","))]
    inputs = sorted({n.split(":")[0] for n in names})
    # Inputs are made in a child: a child forked from a parent that once held the
    # whole volume would report the parent's peak RSS as its own (Linux keeps maxrss
    # across fork and exec).
    subprocess.run([PY, "-m", "benchmarks.ingest", "--prepare-only", "--work", str(work),
                    "--slices", str(args.slices), "--edge", str(args.edge),
                    "--size", str(args.size), "--inputs", ",".join(inputs)], check=True)
    results: dict[str, dict[str, Any]] = {}
    for rep in range(args.repeats):
        for name in names:
            out = work / "out.zarr"
            shutil.rmtree(out, ignore_errors=True)
            cmd = table[name](out)
            if isinstance(cmd, str):
                results[name] = {"skipped": cmd}
                continue
            os.sync()
            res = run_one(cmd, args.timeout)
            want = args.slices * args.edge**2 if name.startswith("slices:") else args.size**3
            got = largest_array(out) if out.exists() else ()
            if "error" not in res and int(np.prod(got or (0,))) != want:
                # e.g. ngff-zarr's CLI given many 2-D files converts only the first
                res = {"error": f"output is not the input: largest array {got}, "
                                f"{want} voxels expected"}
            row = results.setdefault(name, {"runs": []})
            if "error" in res:
                row["error"] = res["error"]
            else:
                row["runs"].append(res)
            print(f"[{rep + 1}/{args.repeats}] {name}: {res}", file=sys.stderr, flush=True)
    shutil.rmtree(work / "out.zarr", ignore_errors=True)
    print(f"{'row':38} {'median s':>9} {'peak RSS MiB':>13}")
    for name in names:
        row = results.get(name, {})
        if "skipped" in row or "error" in row:
            print(f"{name:38} {'-':>9} {'-':>13}  {row.get('skipped') or row.get('error')}")
            continue
        secs = statistics.median(r["seconds"] for r in row["runs"])
        rss = max(r["rss_mib"] for r in row["runs"])
        row.update(median_s=secs, peak_rss_mib=rss)
        print(f"{name:38} {secs:9.2f} {rss:13.0f}")
    ratios = target_ratios(results)
    print("\ntargets (issue #16), per driver:")
    for line in describe_targets(ratios, results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"rows": results, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
