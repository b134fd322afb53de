"""Benchmark harness for unizarr: ``python -m benchmarks.compare``.

Every contender (physical limits, raw TensorStore / zarr-python writes, peer
pyramid libraries, a hand-rolled TensorStore pyramid and unizarr itself) runs
in its own subprocess (:mod:`benchmarks.worker`) so that peak memory is per
contender; :mod:`benchmarks.compare` interleaves them and prints the table and
the target ratios. Nothing here is a pass/fail test: timings never go into the
test suite.
"""
