"""Protocol overhead of each driver on an S3 API server (moto's, on 127.0.0.1).

Writes and reads a 256³ uint16 array through each driver, unsharded and sharded, and
counts the HTTP requests the server saw. It measures request patterns and local
protocol cost, not the internet.

    python -m benchmarks.remote_s3 [--size 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import math
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
if (SRC / "unizarr").exists():
    sys.path.insert(0, str(SRC))

import unizarr as uz  # noqa: E402


class _RequestCounter(logging.Handler):
    """Counts the requests werkzeug (moto's server) logs, by HTTP method."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        for method in ("GET", "PUT", "POST", "HEAD", "DELETE"):
            if f'"{method} ' in msg:
                if method == "GET" and "list-type=2" in msg:
                    method = "LIST"
                with self._lock:
                    self.counts[method] += 1
                return

    def take(self) -> Counter[str]:
        with self._lock:
            out, self.counts = self.counts, Counter()
        return out


def _server() -> tuple[object, str, _RequestCounter]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    counter = _RequestCounter()
    log = logging.getLogger("werkzeug")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.handlers = [counter]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}", counter


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--shard", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import boto3

    server, endpoint, counter = _server()
    so = {"endpoint_url": endpoint, "key": "bench", "secret": "bench", "timeout": 30}
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                 aws_secret_access_key="bench", region_name="us-east-1").create_bucket(Bucket=bucket)
    n = args.size
    rng = np.random.default_rng(0)
    data = (rng.random((n // 8,) * 3) * 2000).astype("u2").repeat(8, 0).repeat(8, 1).repeat(8, 2)
    data += rng.integers(0, 8, data.shape, dtype="u2")
    mb = data.nbytes / 1e6
    nchunks = math.ceil(n / args.chunk) ** 3
    rows = []
    for sharded in (False, True):
        for driver in uz.drivers():
            w_times, r_times, w_req, r_req = [], [], Counter(), Counter()
            for rep in range(args.repeats):
                url = f"s3://{bucket}/{driver}-{int(sharded)}-{rep}.zarr"
                counter.take()
                t = time.perf_counter()
                g = uz.open_group(url, "w", driver=driver, storage_options=so)
                g.create_array("0", data.shape, data=data, chunks=(args.chunk,),
                               shards=(args.shard,) if sharded else None)
                w_times.append(time.perf_counter() - t)
                w_req = counter.take()
                t = time.perf_counter()
                back = uz.open_array(url + "/0", "r", driver=driver, storage_options=so)[...]
                r_times.append(time.perf_counter() - t)
                r_req = counter.take()
                if not np.array_equal(back, data):
                    raise SystemExit(f"{driver}: data read back differs")
            rows.append((driver, "v3 sharded" if sharded else "v3", statistics.median(w_times),
                         statistics.median(r_times), w_req, r_req))
    server.stop()

    print(f"{n}³ uint16 ({mb:.1f} MB), chunks {args.chunk}³ ({nchunks} chunks), "
          f"shards {args.shard}³, moto S3 server on 127.0.0.1, median of {args.repeats}")
    print(f"{'driver':12s} {'layout':10s} {'write s':>8s} {'MB/s':>7s} {'read s':>8s} {'MB/s':>7s} "
          f"{'write req':>9s} {'req/chunk':>9s} {'read req':>8s}  write / read requests by method")
    for driver, layout, w, r, wq, rq in rows:
        print(f"{driver:12s} {layout:10s} {w:8.3f} {mb / w:7.1f} {r:8.3f} {mb / r:7.1f} "
              f"{sum(wq.values()):9d} {sum(wq.values()) / nchunks:9.2f} {sum(rq.values()):8d}  "
              f"{dict(sorted(wq.items()))} / {dict(sorted(rq.items()))}")
    by = {(d, lay): (w, r) for d, lay, w, r, *_ in rows}
    for layout in ("v3", "v3 sharded"):
        if ("tensorstore", layout) in by and ("zarr-python", layout) in by:
            (tw, tr), (zw, zr) = by[("tensorstore", layout)], by[("zarr-python", layout)]
            print(f"{layout}: tensorstore/zarr-python time ratio: write {tw / zw:.2f}, read {tr / zr:.2f}")


if __name__ == "__main__":
    main()
