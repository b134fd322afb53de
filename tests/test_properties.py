"""Property-based tests (hypothesis): indexing vs numpy, member names, attributes."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
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
