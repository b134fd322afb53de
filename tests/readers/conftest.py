"""Helpers of the reader tests: run ``unizarr convert`` in this process (a subprocess per
case would cost seconds each) and read what it wrote with plain zarr-python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from unizarr.cli import main


@pytest.fixture
def convert(capsys: pytest.CaptureFixture[str]):
    """``convert(input, output, *options)`` -> (exit code, stdout, stderr)."""

    def run(*args: object) -> tuple[int, str, str]:
        code = main(["convert", *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def ome_of(path: Path) -> dict[str, Any]:
    """The OME metadata of an output (0.4 top level or 0.5 under "ome")."""
    attrs = zarr.open_group(str(path), mode="r").attrs.asdict()
    return attrs.get("ome", attrs)


def level0(path: Path) -> np.ndarray:
    return zarr.open_array(str(path / "0"), mode="r")[...]


def scale_units(path: Path) -> tuple[list[float], dict[str, str | None]]:
    ms = ome_of(path)["multiscales"][0]
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    units = {a["name"]: a.get("unit") for a in ms["axes"]}
    return scale, units


def layout_args(driver: str, zarr_version: int) -> list[str]:
    args = ["--driver", driver, "--zarr-version", str(zarr_version), "--chunk", "16"]
    if zarr_version == 3:
        args += ["--shard", "32"]
    return args


__all__ = ["json", "layout_args", "level0", "ome_of", "scale_units"]


def whole_slice_decodes(stack) -> list[str]:
    """Record every whole-slice decode of a slice ``stack`` (its cache path): the list
    fills as the stack decodes."""
    calls: list[str] = []
    real = stack._plane.__func__

    def counting(self, path):
        calls.append(path)
        return real(self, path)

    stack._plane = counting.__get__(stack)
    return calls
