"""One array-creation path: every keyword ``ZarrGroup.create_array`` accepts means the
same through ``open_array`` (modes that create), down to the bytes on disk.

The two entry points once resolved keywords separately and drifted
(``open_array(..., dimension_names=...)`` and ``open_array(..., compressors=...)``
raised ``TypeError``); these tests create the same array both ways and compare every
file of the two arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest

import unizarr as uz
from tests.helpers import snapshot

DATA = np.arange(6 * 10 * 12, dtype="int16").reshape(6, 10, 12)

#: Creation keywords, by what they exercise. ``None`` values are left out of the call.
CASES: dict[str, dict[str, Any]] = {
    "shape-dtype": dict(shape=(6, 10, 12), dtype="uint16"),
    "int-shape": dict(shape=40, dtype="float32", chunks=(16,)),
    "chunks-fill-order": dict(shape=(6, 10, 12), dtype="f4", chunks=(3, 5, 4),
                              fill_value=1.5, order="F"),
    "dimension-names": dict(shape=(6, 10, 12), dtype="u1", dimension_names=("z", "y", "x")),
    "compressors-numcodecs": dict(shape=(6, 10, 12), dtype="i4",
                                  compressors=numcodecs.Zstd(level=3)),
    "compressors-v3-dict": dict(shape=(6, 10, 12), dtype="i4",
                                compressors=[{"name": "gzip", "configuration": {"level": 4}}]),
    "compressor-name-opt": dict(shape=(6, 10, 12), dtype="i2", compressor="blosc",
                                compressor_opt={"clevel": 7, "shuffle": "bitshuffle"}),
    "no-compression": dict(shape=(6, 10, 12), dtype="i2", compressors=None),
    "chunk-key-encoding": dict(shape=(6, 10, 12), dtype="u2", chunks=(2, 5, 6),
                               chunk_key_encoding={"name": "v2", "separator": "."}),
    "separator": dict(shape=(6, 10, 12), dtype="u2", dimension_separator="/"),
    "attributes": dict(shape=(4, 4), dtype="u1", attributes={"a": 1, "b": [1, 2]}),
    "zarr-python-neutral": dict(shape=(4, 4), dtype="u1", filters=None, serializer="auto",
                                config={"order": "C"}),
    "zarr-config": dict(shape=(6, 10, 12), dtype="u2",
                        zarr_config=uz.ZarrConfig(chunk=(4,), compressor="zstd",
                                                  compressor_opt={"level": 9})),
    "config-and-override": dict(shape=(6, 10, 12), dtype="u2", chunks=(2, 2, 2),
                                zarr_config=uz.ZarrConfig(chunk=(4,))),
    "data-only": dict(data=DATA),
    "data-list": dict(data=[[1, 2, 3], [4, 5, 6]]),
    "data-and-dtype": dict(data=DATA, dtype="float64", chunks=(4, 4, 4)),
    "dask-data": dict(data="dask", chunks=(4, 4, 4)),
    "shards": dict(shape=(8, 16, 16), dtype="u2", chunks=(4, 4, 4), shards=(8, 8, 8)),
}


def _kwargs(case: str) -> dict[str, Any]:
    kw = dict(CASES[case])
    if isinstance(kw.get("data"), str):  # made here: dask is imported only when present
        da = pytest.importorskip("dask.array")
        kw["data"] = da.from_array(DATA, chunks=(3, 5, 5))
    return kw


def _via_open_array(path: Path, driver: str, zarr_version: int, kw: dict[str, Any]) -> Any:
    return uz.open_array(path, "w-", driver=driver, zarr_version=zarr_version, **kw)


def _via_create_array(path: Path, driver: str, zarr_version: int, kw: dict[str, Any]) -> Any:
    group = uz.open_group(path, "w-", driver=driver, zarr_version=zarr_version)
    return group.create_array("a", **kw)


def _outcome(make: Any, path: Path, *args: Any) -> Any:
    """The created array, or the type and message of the refusal."""
    try:
        return make(path, *args)
    except (TypeError, ValueError) as exc:
        return type(exc)


@pytest.mark.parametrize("case", sorted(CASES))
def test_open_array_and_create_array_write_the_same_files(
    tmp_path: Path, driver: str, zarr_version: int, case: str
) -> None:
    """The same keywords give the same array: every file (metadata, attributes, chunks)
    byte-identical, or the same refusal through both."""
    one = _outcome(_via_open_array, tmp_path / "one.zarr", driver, zarr_version, _kwargs(case))
    two = _outcome(_via_create_array, tmp_path / "two.zarr", driver, zarr_version, _kwargs(case))
    if isinstance(one, type) or isinstance(two, type):
        assert one is two, (one, two)
        # Only Zarr v2 refuses one of these cases (it has no shards).
        assert (case, zarr_version, one) == ("shards", 2, ValueError)
        return
    files_one = snapshot(tmp_path / "one.zarr")
    files_two = {
        name[len("a/"):]: data for name, data in snapshot(tmp_path / "two.zarr").items()
        if name.startswith("a/")
    }
    assert files_one == files_two
    assert files_one  # the array's metadata at least
    # and the two read back the same
    assert one.spec == two.spec
    np.testing.assert_array_equal(one[...], two[...])


def test_open_array_accepts_the_keywords_that_drifted(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    """``dimension_names`` and ``compressors`` reach the stored metadata through
    ``open_array`` (they once raised ``TypeError`` there)."""
    a = uz.open_array(
        tmp_path / "a.zarr", "w", driver=driver, zarr_version=zarr_version,
        shape=(4, 6), dtype="u2", dimension_names=("y", "x"),
        compressors=numcodecs.Zstd(level=5),
    )
    reopened = uz.open_array(tmp_path / "a.zarr", "r", driver=driver)
    assert reopened.compressor.name == "zstd"
    assert reopened.compressor.options.get("level") == 5
    # Zarr v2 has no dimension_names field: dropped there, as by create_array
    assert reopened.dimension_names == (("y", "x") if zarr_version == 3 else None)
    assert a.spec == reopened.spec


def test_unknown_keyword_is_refused_by_both_before_any_write(
    tmp_path: Path, driver: str, zarr_version: int
) -> None:
    """A keyword neither path knows raises ``TypeError`` naming it, and nothing is
    written (the store stays absent; the group keeps only its own metadata)."""
    with pytest.raises(TypeError, match=r"open_array got unexpected keyword arguments \['bogus'\]"):
        uz.open_array(tmp_path / "one.zarr", "w", driver=driver, zarr_version=zarr_version,
                      shape=(4,), dtype="u1", bogus=1)
    assert snapshot(tmp_path / "one.zarr") == {}
    g = uz.open_group(tmp_path / "two.zarr", "w", driver=driver, zarr_version=zarr_version)
    before = snapshot(tmp_path / "two.zarr")
    with pytest.raises(TypeError, match=r"create_array got unexpected keyword arguments \['bogus'\]"):
        g.create_array("a", (4,), "u1", bogus=1)
    assert snapshot(tmp_path / "two.zarr") == before
