"""unizarr.axes: the one axis convention, consistent across its questions."""

from __future__ import annotations

import pytest

from unizarr import axes


@pytest.mark.parametrize("ndim", [3, 4, 5])
@pytest.mark.parametrize("no_time", [False, True])
def test_names_spatial_axes_and_leading_axes_agree(ndim: int, no_time: bool) -> None:
    if ndim == 5 and no_time:
        with pytest.raises(ValueError):
            axes.default_axes(ndim, no_time)
        with pytest.raises(ValueError):
            axes.nonspatial_axes(ndim, no_time)
        return
    names = axes.default_axes(ndim, no_time)
    lead = axes.nonspatial_axes(ndim, no_time)
    assert names[: len(lead)] == lead
    spatial = axes.spatial_axes(ndim)
    assert tuple(names[i] for i in spatial) == axes.SPATIAL_AXES
    assert all(axes.AXIS_TYPES[n] == "space" for n in axes.SPATIAL_AXES)
    assert set(names) <= set(axes.CANONICAL_AXES)
    # order follows the canonical one
    assert list(names) == sorted(names, key=axes.CANONICAL_AXES.index)


def test_no_pyramid_axis_names_the_spatial_axes() -> None:
    assert axes.pyramid_axes(5) == (2, 3, 4)
    assert axes.pyramid_axes(5, "z") == (3, 4)
    assert axes.pyramid_axes(4, "x") == (1, 2)
    assert axes.pyramid_axes(3, 0) == (1, 2)
    with pytest.raises(ValueError, match="not one of the 2 spatial axes"):
        axes.pyramid_axes(2, "z")
