"""Property-based tests (hypothesis): indexing vs numpy, member names, attributes."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import unizarr as uz
from unizarr.paths import validate_member_name

SHAPE = (6, 5, 4)
EXAMPLES = 150


def _basic_index(n: int):
    ints = st.integers(-n, n - 1)
    bounds = st.one_of(st.none(), st.integers(-n - 3, n + 3))
    steps = st.one_of(st.none(), st.integers(-n - 1, n + 1).filter(lambda s: s != 0))
    return st.one_of(ints, st.builds(slice, bounds, bounds, steps))


@st.composite
def keys(draw):
    k = draw(st.integers(0, len(SHAPE)))
    parts = [draw(_basic_index(SHAPE[i])) for i in range(k)]
    if draw(st.booleans()):
        pos = draw(st.integers(0, k))
        # entries after '...' index the trailing axes: redraw them for those axes
        tail = [draw(_basic_index(SHAPE[len(SHAPE) - (k - i)])) for i in range(pos, k)]
        parts = parts[:pos] + [Ellipsis] + tail
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return tuple(parts)


@pytest.fixture(scope="module", params=[(d, v) for d in uz.drivers() for v in (2, 3)],
                ids=lambda p: f"{p[0]}-v{p[1]}")
def stored(request):
    driver, version = request.param
    tmp = tempfile.mkdtemp()
    ref = np.arange(np.prod(SHAPE), dtype="i4").reshape(SHAPE)
    g = uz.open_group(f"{tmp}/p.zarr", "w", driver=driver, zarr_version=version)
    a = g.create_array("a", SHAPE, "i4", chunks=(4, 2, 3), data=ref)
    return a, ref


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys())
def test_reads_equal_numpy(stored, key):
    a, ref = stored
    expected = ref[key]
    got = a[key]
    assert np.shape(got) == np.shape(expected)
    assert type(got) is type(expected)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys(), value=st.integers(-1000, 1000))
def test_writes_equal_numpy(stored, key, value):
    a, ref = stored
    a[key] = value
    ref[key] = value
    np.testing.assert_array_equal(a[...], ref)


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=0, max_size=40))
def test_member_names_never_escape(name):
    try:
        norm = validate_member_name(name)
    except ValueError:
        return
    segs = norm.split("/")
    assert all(s not in ("", ".", "..") for s in segs)
    assert not norm.startswith("/") and "\\" not in norm and "\x00" not in norm


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=15,
)


@settings(max_examples=60, deadline=None)
@given(doc=st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5))
def test_attribute_documents_round_trip(doc):
    tmp = tempfile.mkdtemp()
    g = uz.open_group(f"{tmp}/a.zarr", "w")
    g.attrs.update(doc)
    assert json.loads(json.dumps(dict(uz.open_group(f"{tmp}/a.zarr", "r").attrs))) == json.loads(json.dumps(doc))


# Names built from the characters that matter: separators, dots, backslash, NUL, drive
# letters, non-ASCII (multi-byte in UTF-8), and long runs (file-name limits).
_name_chars = st.sampled_from(list("ab/.\\:\x00 ~é漢🙂-_C"))
member_names = st.one_of(
    st.text(_name_chars, max_size=12),
    st.text(min_size=0, max_size=12),
    st.builds(lambda c, n, tail: c * n + tail, _name_chars, st.integers(60, 300),
              st.text(_name_chars, max_size=4)),
)


@pytest.mark.parametrize("zarr_version", [2, 3])
@pytest.mark.parametrize("driver", ["tensorstore", "zarr-python"])
def test_created_members_stay_inside_or_are_refused(driver, zarr_version, tmp_path):
    import os

    root = tmp_path / "g.zarr"
    g = uz.open_group(str(root), "w", driver=driver, zarr_version=zarr_version)
    outside_before = sorted(os.listdir(tmp_path))

    @settings(max_examples=120, deadline=None)
    @given(name=member_names)
    def check(name):
        before = sorted(str(p) for p in root.rglob("*"))
        try:
            sub = g.require_group(name)
        except ValueError:
            # refused: nothing written anywhere
            event("refused")
            assert sorted(str(p) for p in root.rglob("*")) == before
            return
        real = os.path.realpath(root / validate_member_name(name))
        assert real.startswith(os.path.realpath(root) + os.sep)
        assert os.path.isdir(real)
        assert name.strip("/") in g or validate_member_name(name) in g
        assert sub.attrs.asdict() == {}
        event("created")

    check()
    assert sorted(os.listdir(tmp_path)) == outside_before  # nothing beside the store


@settings(max_examples=150, deadline=None)
@given(
    # mostly plausible values, some hostile ones
    chunk=st.one_of(st.sampled_from([16, 32, 64, (16,), (32, 16, 8), [64, 64, 64]]),
                    st.integers(-2, 300), st.lists(st.integers(-1, 80), min_size=1, max_size=4),
                    st.text(max_size=4), st.none()),
    shard=st.one_of(st.none(), st.none(), st.just("auto"), st.sampled_from([64, (64,), 128]),
                    st.integers(-1, 300), st.lists(st.integers(0, 160), min_size=1, max_size=4)),
    compressor=st.sampled_from(["blosc", "zstd", "gzip", "none", "blosc", "zlib", "lz4", "", 3]),
    zarr_version=st.sampled_from([3, 2, 3, 4, "3"]),
    levels=st.one_of(st.integers(-1, 5), st.integers(-3, 8), st.text(max_size=2)),
    driver=st.sampled_from(["tensorstore", "zarr-python"]),
)
def test_config_values_build_or_refuse_clearly(chunk, shard, compressor, zarr_version, levels,
                                               driver):
    """Any combination of config values either creates an array with that layout or is
    refused with TypeError/ValueError before anything is written."""
    tmp = tempfile.mkdtemp()
    out = f"{tmp}/c.zarr"
    try:
        cfg = uz.ZarrConfig(chunk=chunk, shard=shard, compressor=compressor,
                            zarr_version=zarr_version, levels=levels, driver=driver)
        g = uz.from_config(out, cfg)
        a = g.create_array("0", (70, 50, 30), "u2", zarr_config=cfg)
    except (TypeError, ValueError):
        import os

        assert not os.path.exists(out) or not any(
            f for _, _, files in os.walk(out) for f in files if not f.startswith(("zarr.json", ".z"))
        )
        event("refused")
        return
    event("created")
    a[...] = 7
    assert (uz.open_array(f"{out}/0", "r", driver=driver)[...] == 7).all()
