"""unizarr.validation: the OME-NGFF specification's own test documents, stores written by
unizarr, ome-zarr-py and ngff-zarr, and the ``unizarr validate`` command."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import unizarr as uz
from tests.helpers import ok
from unizarr.errors import MetadataError
from unizarr.io.report import validate_store
from unizarr.validation import errors, ome_version, validate_attributes, validate_hierarchy

SPEC = Path(__file__).parent / "data" / "ngff-spec"

#: Documents labelled valid whose content breaks a MUST of the specification text; the
#: later version of the same document (where one exists) was corrected upstream.
SPEC_DOCUMENT_DEFECTS = {
    # scale has 2 values for 3 axes ("MUST be the same as the length of axes")
    "0.4/image_suite valid/mismatch_axes_units.json",
    # well path is column/row while the MUST is row/column (fixed in the 0.5 suite)
    "0.4/plate_suite plate/minimal_no_acquisitions",
    "0.4/plate_suite plate/minimal_acquisitions",
    "0.4/plate_suite plate/non_alphanumeric_row",
    "0.4/strict_plate_suite plate/strict_no_acquisitions",
    "0.4/strict_plate_suite plate/strict_acquisitions",
    "0.6/spec/valid/plate/minimal_acquisitions.json",
    "0.6/spec/valid/plate/minimal_no_acquisitions.json",
    "0.6/spec/valid/plate/non_alphanumeric_row.json",
    "0.6/strict/valid/plate/strict_acquisitions.json",
    "0.6/strict/valid/plate/strict_no_acquisitions.json",
    # the multiscale transformation reads from "intrinsic", a system it never declares
    "0.6/strict/valid/image/image_omero.json",
    # dataset "1" declares input {"path": "s1"} (a transformation's input MUST be its path)
    "0.6/strict/valid/image/multiscales_example.json",
}


def spec_documents():
    """(name, strict, valid, attributes) of every copied specification document."""
    for version in ("0.4", "0.5"):
        for suite_file in sorted((SPEC / version).glob("*.json")):
            suite = json.loads(suite_file.read_text())
            strict = suite_file.name.startswith("strict_")
            for case in suite["tests"]:
                label = case.get("formerly") or case.get("description")
                yield f"{version}/{suite_file.stem} {label}", strict, case["valid"], case["data"]
    for doc in sorted((SPEC / "0.6").rglob("*.json")):
        rel = doc.relative_to(SPEC / "0.6")
        data = json.loads(doc.read_text())
        data.pop("_conformance", None)
        yield f"0.6/{rel.as_posix()}", rel.parts[0] == "strict", rel.parts[1] == "valid", data


def judged_valid(findings, strict: bool) -> bool:
    bad = {"error", "warning"} if strict else {"error"}
    return not any(f.severity in bad for f in findings)


def test_spec_documents_confusion_matrix() -> None:
    matrix: Counter = Counter()
    per_version: Counter = Counter()
    misjudged = set()
    for name, strict, valid, data in spec_documents():
        judged = judged_valid(validate_attributes(data), strict)
        matrix[(valid, judged)] += 1
        per_version[(name[:3], valid == judged)] += 1
        if judged != valid:
            misjudged.add(name)
    print(f"\nspec documents: {sum(matrix.values())}; valid judged valid "
          f"{matrix[(True, True)]}, invalid judged invalid {matrix[(False, False)]}, "
          f"valid judged invalid {matrix[(True, False)]}, invalid judged valid "
          f"{matrix[(False, True)]}; per version {dict(per_version)}")
    # every invalid document is caught; the only disagreements are the defective documents
    assert matrix[(False, True)] == 0
    assert misjudged == SPEC_DOCUMENT_DEFECTS
    assert dict(matrix) == {(True, True): 56, (False, False): 208, (True, False): 13}
    assert sum(per_version[(v, True)] + per_version[(v, False)] for v in ("0.4", "0.5", "0.6")) == 277


def test_every_invalid_0_5_document_names_the_field() -> None:
    for name, strict, valid, data in spec_documents():
        if valid or not name.startswith("0.5"):
            continue
        findings = validate_attributes(data, path="img")
        for f in findings:
            assert f.path == "img"
            assert str(f).startswith(f"{f.severity}: img: ")
        assert any(f.field for f in findings if f.severity == ("warning" if strict else "error"))


def test_unknown_unit_is_a_warning_naming_the_field() -> None:
    doc = {"ome": {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space", "unit": "parsecs"},
                 {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0]}]}]}]}}
    (finding,) = validate_attributes(doc, "a/b")
    assert (finding.severity, finding.path, finding.field) == (
        "warning", "a/b", "ome.multiscales[0].axes[0].unit")
    assert "parsecs" in finding.message
    assert ome_version(doc) == "0.5"
    assert ome_version({"ome": {"version": "0.6rc0"}}) == "0.6"
    assert ome_version({"zarr": 1}) is None


# -- stores --------------------------------------------------------------------------------
def _image(root, name: str, zarr_version: int, shape=(8, 10)) -> uz.ZarrGroup:
    g = root.create_group(name) if name else root
    g.create_array("0", data=np.arange(np.prod(shape), dtype="uint16").reshape(shape))
    g.create_array("1", data=np.zeros(tuple(max(1, n // 2) for n in shape), "uint16"))
    uz.write_ome_metadata(g, "zyx"[-len(shape):], ome_version="0.5" if zarr_version == 3 else "0.4")
    return g


def _ome(g, key: str, value) -> None:
    attrs = g.attrs.asdict()
    if g.zarr_version == 3:
        attrs.setdefault("ome", {"version": "0.5"})[key] = value
    else:
        attrs[key] = value if key in ("labels",) else {"version": "0.4", **value}
    g.attrs.put(attrs)


def test_store_with_labels_plate_and_wells(tmp_path, driver, zarr_version) -> None:
    root = uz.open_group(tmp_path / "plate.zarr", "w", driver=driver, zarr_version=zarr_version)
    _ome(root, "plate", {"name": "p", "columns": [{"name": "1"}], "rows": [{"name": "A"}],
                         "wells": [{"path": "A/1", "rowIndex": 0, "columnIndex": 0}]})
    well = root.create_group("A").create_group("1")
    _ome(well, "well", {"images": [{"path": "0"}]})
    img = _image(well, "0", zarr_version)
    labels = img.create_group("labels")
    _ome(labels, "labels", ["cells"])
    seg = _image(labels, "cells", zarr_version)
    _ome(seg, "image-label", {"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}]})
    assert errors(validate_hierarchy(root)) == []
    assert validate_store(root)[0]["severity"] == "ok"

    # break one node at each level: every finding names where it is
    _ome(seg, "image-label", {"colors": [{"label-value": 1, "rgba": [255, 0, 0]}]})
    labels_attrs = labels.attrs.asdict()
    (labels_attrs["ome"] if zarr_version == 3 else labels_attrs)["labels"] = ["cells", "nuclei"]
    labels.attrs.put(labels_attrs)
    _ome(well, "well", {"images": [{"path": "0"}, {"path": "1"}]})
    del img["1"]
    found = {(f.path, f.field) for f in errors(validate_hierarchy(root))}
    prefix = "ome." if zarr_version == 3 else ""
    assert found == {
        ("A/1/0/labels/cells", f"{prefix}image-label.colors[0].rgba"),
        ("A/1/0/labels", f"{prefix}labels"),  # 'nuclei' is listed but absent
        ("A/1", f"{prefix}well.images"),  # field '1' is listed but absent
        ("A/1/0", f"{prefix}multiscales[0].datasets[1].path"),
    }, found


def test_bioformats2raw_collection(tmp_path, driver) -> None:
    root = uz.open_group(tmp_path / "bf.zarr", "w", driver=driver, zarr_version=3)
    root.attrs.put({"ome": {"version": "0.5", "bioformats2raw.layout": 3}})
    _image(root, "0", 3)
    _image(root, "1", 3, shape=(4, 4, 4))
    assert errors(validate_hierarchy(root)) == []
    attrs = root.attrs.asdict()
    attrs["ome"]["bioformats2raw.layout"] = 2
    root.attrs.put(attrs)
    (bad,) = errors(validate_hierarchy(root))
    assert bad.field == "ome.bioformats2raw.layout"


def test_0_6_image_on_disk(tmp_path, driver) -> None:
    g = uz.open_group(tmp_path / "six.zarr", "w", driver=driver, zarr_version=3)
    g.create_array("s0", data=np.zeros((4, 6), "uint8"))
    axes = [{"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"}]
    ds = {"path": "s0", "coordinateTransformations": [
        {"type": "scale", "scale": [2.0, 2.0], "input": {"path": "s0"},
         "output": {"name": "physical"}}]}
    g.attrs.put({"ome": {"version": "0.6", "multiscales": [
        {"coordinateSystems": [{"name": "physical", "axes": axes}], "datasets": [ds]}]}})
    assert errors(validate_hierarchy(g)) == []
    uz.validate_ome(g)  # 0.6 is accepted (rules, then ome-zarr-models' 0.6 models if present)
    g.create_array("s1", data=np.zeros((4, 6, 2), "uint8"))
    g.attrs.put({"ome": {"version": "0.6", "multiscales": [
        {"coordinateSystems": [{"name": "physical", "axes": axes}],
         "datasets": [ds, {**ds, "path": "s1"}]}]}})
    with pytest.raises(MetadataError, match=r"datasets\[1\]"):
        uz.validate_ome(g)


def test_ome_zarr_py_stores_are_valid(tmp_path) -> None:
    pytest.importorskip("ome_zarr")
    import zarr
    from ome_zarr.writer import write_image, write_labels, write_plate_metadata, write_well_metadata

    warnings.simplefilter("ignore")
    data = np.random.default_rng(0).integers(0, 255, (2, 16, 32, 32), dtype="uint8")
    results, warned = {}, {}
    for fmt_name in ("0.4", "0.5"):
        from ome_zarr.format import FormatV04, FormatV05

        fmt = FormatV04() if fmt_name == "0.4" else FormatV05()
        path = tmp_path / f"img{fmt_name}.zarr"
        grp = zarr.open_group(str(path), mode="w", zarr_format=2 if fmt_name == "0.4" else 3)
        write_image(data, grp, axes="czyx", fmt=fmt)
        write_labels(data[0].astype("uint16"), grp, name="seg", axes="zyx", fmt=fmt)
        plate = tmp_path / f"plate{fmt_name}.zarr"
        pgrp = zarr.open_group(str(plate), mode="w", zarr_format=2 if fmt_name == "0.4" else 3)
        write_plate_metadata(pgrp, ["A"], ["1"], ["A/1"], fmt=fmt, name="plate")
        wgrp = pgrp.require_group("A").require_group("1")
        write_well_metadata(wgrp, ["0"], fmt=fmt)
        write_image(data, wgrp.require_group("0"), axes="czyx", fmt=fmt)
        for store in (path, plate):
            node = uz.open_group(store, "r")
            findings = validate_hierarchy(node)
            results[store.name] = [str(f) for f in errors(findings)]
            warned[store.name] = sorted((f.path, f.field) for f in findings
                                        if f.severity == "warning")
            assert validate_store(node)[-2]["severity"] in ("ok", "warning")
    print("\nome-zarr-py stores:", results, warned)
    assert results == {name: [] for name in results}
    # SHOULDs ome-zarr-py leaves out: label colors; in 0.5 the labels/ group's version
    assert warned == {
        "img0.4.zarr": [("labels/seg", "image-label.colors")],
        "plate0.4.zarr": [],
        "img0.5.zarr": [("labels", "ome.version"), ("labels/seg", "ome.image-label.colors")],
        "plate0.5.zarr": [],
    }, warned


def test_ngff_zarr_stores_are_valid(tmp_path) -> None:
    ngff_zarr = pytest.importorskip("ngff_zarr")
    warnings.simplefilter("ignore")
    data = np.random.default_rng(1).integers(0, 255, (16, 32, 32), dtype="uint8")
    image = ngff_zarr.to_ngff_image(data, dims=["z", "y", "x"], scale={"z": 2.0, "y": 1.0, "x": 1.0},
                                    axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"})
    multiscales = ngff_zarr.to_multiscales(image, scale_factors=[2])
    results = {}
    for version in ("0.4", "0.5", "0.6"):
        store = tmp_path / f"ngff{version}.zarr"
        ngff_zarr.to_ngff_zarr(str(store), multiscales, version=version)
        node = uz.open_group(store, "r")
        results[version] = [str(f) for f in errors(validate_hierarchy(node))]
        assert validate_store(node)[-2]["severity"] == "ok", validate_store(node)
    print("\nngff-zarr stores:", results)
    assert results == {"0.4": [], "0.5": [], "0.6": []}


def test_cli_validate_exit_codes(tmp_path) -> None:
    root = uz.open_group(tmp_path / "img.zarr", "w", zarr_version=3)
    _image(root, "", 3)
    attrs = root.attrs.asdict()
    attrs["ome"]["multiscales"][0]["axes"][0]["unit"] = "microns"
    root.attrs.put(attrs)
    cmd = [sys.executable, "-m", "unizarr.cli", "validate", "--json", str(tmp_path / "img.zarr")]
    out = json.loads(ok(subprocess.run(cmd, capture_output=True, text=True)).stdout)
    assert out["valid"] is True
    assert any(f["severity"] == "warning" and "ome.multiscales[0].axes[0].unit" in f["message"]
               for f in out["findings"])
    attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"] = []
    root.attrs.put(attrs)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["valid"] is False
    assert any("datasets[0].coordinateTransformations" in f["message"]
               for f in out["findings"] if f["severity"] == "error")


@pytest.mark.parametrize("ome", ["auto", "0.5", "0.6"])
def test_what_niizarr_writes_is_valid(tmp_path, ome) -> None:
    """nifti-zarr rc8 writes 0.4/0.5 and refuses 0.6; rc9 writes 0.6 by default and
    refuses 0.4: whatever the installed version writes is judged valid, without warnings."""
    import inspect
    import typing

    niizarr = pytest.importorskip("niizarr")
    nib = pytest.importorskip("nibabel")
    allowed = typing.get_args(inspect.signature(niizarr.nii2zarr).parameters["ome_version"].annotation)
    if ome not in allowed:
        # niizarr's exception for a version it does not write is not part of its API
        with pytest.raises(Exception):  # noqa: B017
            niizarr.nii2zarr(nib.Nifti1Image(np.zeros((4, 4, 4), "f4"), np.eye(4)),
                             str(tmp_path / "no.zarr"), ome_version=ome)
        return
    affine = np.array([[0.0, -0.8, 0.1, 12.0], [0.9, 0.0, 0.0, -4.0],
                       [0.0, 0.05, 2.0, 7.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(np.random.default_rng(2).random((18, 20, 12)).astype("f4"), affine)
    out = tmp_path / "n.nii.zarr"
    niizarr.nii2zarr(img, str(out), chunk=8, ome_version=ome)
    g = uz.open_group(out, "r")
    written = ome_version(g.attrs.asdict())
    assert written == ("0.6" if ome == "auto" and "0.6" in allowed else
                       "0.5" if ome == "auto" else ome)
    assert validate_hierarchy(g) == []
    assert {f["severity"] for f in validate_store(g)} == {"ok"}
    uz.validate_ome(g)
