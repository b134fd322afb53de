"""DICOM reader: series written with pydicom (oblique, shuffled names, rescaled), read
back through ``unizarr.readers.dicom`` and compared voxel by voxel, with the geometry
checked against the construction and against nibabel's independent DICOM wrapper."""

from __future__ import annotations

import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid  # noqa: E402

import unizarr as uz  # noqa: E402
from tests.adversarial.conftest import tree_hashes  # noqa: E402
from unizarr.errors import CorruptDataError  # noqa: E402
from unizarr.readers import dicom  # noqa: E402

# An oblique orientation: rotations of 20° about z then 30° about x, as direction
# cosines of the image rows and columns.
_A, _B = np.deg2rad(20), np.deg2rad(30)
_RZ = np.array([[np.cos(_A), -np.sin(_A), 0], [np.sin(_A), np.cos(_A), 0], [0, 0, 1]])
_RX = np.array([[1, 0, 0], [0, np.cos(_B), -np.sin(_B)], [0, np.sin(_B), np.cos(_B)]])
ROT = _RZ @ _RX
ROW, COL = ROT[:, 0], ROT[:, 1]
NORMAL = np.cross(ROW, COL)
ORIGIN = np.array([-101.5, 87.25, -33.0])
SPACING = (0.8, 0.6)   # PixelSpacing: row spacing (y), column spacing (x)
DZ = 2.5


def _ds(v: float) -> str:
    return f"{v:.10g}"[:16]


def _dataset(path: Path, **kw) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.StudyInstanceUID = kw.get("study", "1.2.3.4")
    ds.SeriesInstanceUID = kw.get("series", "1.2.3.4.1")
    ds.SeriesNumber = kw.get("number", 1)
    ds.SeriesDescription = kw.get("description", "T1 oblique")
    return ds


def _pixels(ds: FileDataset, pixels: np.ndarray, bits_stored: int) -> None:
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()


def write_slice(path: Path, pixels: np.ndarray, position: np.ndarray, *, slope=None,
                inter=None, bits_stored=None, orientation=None, spacing=SPACING,
                instance=1, **kw) -> None:
    ds = _dataset(path, **kw)
    orient = np.concatenate([ROW, COL]) if orientation is None else orientation
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = [_ds(v) for v in orient]
    ds.PixelSpacing = [_ds(v) for v in spacing]
    ds.SliceThickness = _ds(DZ)
    ds.InstanceNumber = instance
    if slope is not None:
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(inter)
    _pixels(ds, pixels, bits_stored or pixels.dtype.itemsize * 8)
    ds.save_as(str(path), enforce_file_format=True)


def write_series(folder: Path, data: np.ndarray, *, shuffle=True, slopes=None, **kw) -> list[Path]:
    """One file per slice of ``data`` (z, y, x), slice k at ORIGIN + k*DZ*NORMAL, under
    random file names whose order is unrelated to the position."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    names = [f"IM{rng.randrange(10**6):06d}_{k}.dcm" for k in range(len(data))]
    if shuffle:
        rng.shuffle(names)
    paths = []
    for k, name in enumerate(names):
        slope, inter = (slopes[k] if slopes else (kw.get("slope"), kw.get("inter")))
        extra = {key: v for key, v in kw.items() if key not in ("slope", "inter")}
        write_slice(folder / name, data[k], ORIGIN + k * DZ * NORMAL, slope=slope,
                    inter=inter, instance=len(data) - k, **extra)
        paths.append(folder / name)
    return paths


def expected_affine(origin=ORIGIN, dz=DZ) -> np.ndarray:
    lps = np.eye(4)
    lps[:3, 0] = ROW * SPACING[1]
    lps[:3, 1] = COL * SPACING[0]
    lps[:3, 2] = NORMAL * dz
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


@pytest.fixture
def raw() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4096, size=(6, 10, 12), dtype=np.uint16)


# -- sniffing --------------------------------------------------------------------------
def test_sniff_file_folder_and_others(tmp_path, raw):
    paths = write_series(tmp_path / "s", raw)
    (tmp_path / "s" / "notes.json").write_text("{}")
    assert dicom.sniff(str(paths[0]))
    assert dicom.sniff(str(tmp_path / "s"))
    tiff = tmp_path / "a.tif"
    import tifffile

    tifffile.imwrite(tiff, raw)
    assert not dicom.sniff(str(tiff))
    assert not dicom.sniff(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert not dicom.sniff(str(tmp_path / "empty"))
    assert not dicom.sniff(str(tmp_path / "s" / "notes.json"))


# -- series ----------------------------------------------------------------------------
def test_oblique_shuffled_series_rescaled_to_int16(tmp_path, raw):
    folder = tmp_path / "ct"
    write_series(folder, raw, slope=1, inter=-1024, bits_stored=12)
    vol = dicom.open_volume(str(folder))
    assert vol.axes == ("z", "y", "x") and vol.shape == raw.shape
    # integer rescale of a 12-bit range -> int16 (documented rule), values exact
    assert vol.dtype == np.int16
    np.testing.assert_array_equal(vol.read(), raw.astype(np.int32) - 1024)
    np.testing.assert_allclose(vol.space_scale, (DZ, SPACING[0], SPACING[1]), atol=1e-6)
    assert vol.space_unit == "millimeter"
    np.testing.assert_allclose(vol.affine, expected_affine(), atol=1e-6)
    assert vol.name == "T1 oblique" and vol.format == "DICOM"
    # the NIfTI header carried to NIfTI-Zarr: NIfTI order (x, y, z), same affine
    hdr = vol.nifti_header
    assert hdr.get_data_shape() == raw.shape[::-1] and hdr.get_data_dtype() == np.int16
    np.testing.assert_allclose(hdr.get_sform(), expected_affine(), atol=1e-5)
    np.testing.assert_allclose(hdr.get_qform(), expected_affine(), atol=1e-5)
    np.testing.assert_allclose(hdr.get_zooms(), (SPACING[1], SPACING[0], DZ), atol=1e-5)


def test_affine_agrees_with_nibabel_dicom_wrapper(tmp_path, raw):
    """nibabel's wrapper maps (row, column, slice) to LPS; ours maps (column, row,
    slice) to RAS: the same matrix with two columns swapped and two rows negated."""
    with pytest.warns(UserWarning, match="experimental"):
        from nibabel.nicom import dicomwrappers

    paths = write_series(tmp_path / "s", raw, shuffle=False)
    vol = dicom.open_volume(str(tmp_path / "s"))
    w = dicomwrappers.wrapper_from_file(str(paths[0]))
    nib_lps = w.affine  # slice zoom from SliceThickness (= DZ here)
    ours_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ vol.affine
    np.testing.assert_allclose(ours_lps[:, [1, 0, 3]], nib_lps[:, [0, 1, 3]], atol=1e-5)
    # nibabel's slice axis is (column x row), the reverse of the normal along which our
    # slices ascend: same line, opposite sign, same spacing
    np.testing.assert_allclose(ours_lps[:, 2], -nib_lps[:, 2], atol=1e-5)
    # and each slice's voxel (0, 0) lands on its ImagePositionPatient
    for k, p in enumerate(paths):
        ipp = np.array([float(v) for v in pydicom.dcmread(str(p)).ImagePositionPatient])
        np.testing.assert_allclose((ours_lps @ [0, 0, k, 1])[:3], ipp, atol=1e-5)


def test_identity_rescale_keeps_stored_type(tmp_path, raw):
    write_series(tmp_path / "s", raw)
    vol = dicom.open_volume(str(tmp_path / "s"))
    assert vol.dtype == np.uint16
    np.testing.assert_array_equal(vol.read(), raw)


def test_fractional_and_per_slice_rescale_gives_float32(tmp_path, raw):
    slopes = [(0.5 + k / 8, 10.25 - k) for k in range(len(raw))]
    write_series(tmp_path / "s", raw, slopes=slopes)
    vol = dicom.open_volume(str(tmp_path / "s"))
    assert vol.dtype == np.float32
    want = np.stack([raw[k] * s + i for k, (s, i) in enumerate(slopes)]).astype(np.float32)
    np.testing.assert_allclose(vol.read(), want, rtol=1e-6)


def test_signed_stored_values(tmp_path):
    data = np.random.default_rng(1).integers(-2000, 2000, size=(3, 5, 7), dtype=np.int16)
    write_series(tmp_path / "s", data, slope=2, inter=100)
    vol = dicom.open_volume(str(tmp_path / "s"))
    assert vol.dtype == np.int32      # 16-bit signed range * 2 + 100 exceeds int16
    np.testing.assert_array_equal(vol.read(), data.astype(np.int32) * 2 + 100)


def test_output_dtype_rule():
    u16 = np.dtype("uint16")
    assert dicom.output_dtype(u16, 0, 65535, [(1.0, 0.0)]) == u16
    assert dicom.output_dtype(u16, 0, 4095, [(1.0, -1024.0)]) == np.int16
    assert dicom.output_dtype(u16, 0, 65535, [(1.0, -1024.0)]) == np.int32
    assert dicom.output_dtype(np.dtype("uint8"), 0, 255, [(1.0, 0.0), (1.0, 10.0)]) == np.uint16
    assert dicom.output_dtype(u16, 0, 4095, [(1.0, 0.0), (0.25, 0.0)]) == np.float32


def test_sidecar_files_are_ignored(tmp_path, raw):
    write_series(tmp_path / "s", raw)
    (tmp_path / "s" / "series.json").write_text('{"note": 1}')
    (tmp_path / "s" / "DICOMDIR").write_bytes(b"\0" * 200)
    vol = dicom.open_volume(str(tmp_path / "s"))
    np.testing.assert_array_equal(vol.read(), raw)


# -- choosing among series -------------------------------------------------------------
def test_mixed_series_is_one_line_listing_each(tmp_path, raw):
    folder = tmp_path / "mixed"
    write_series(folder, raw, series="1.2.3.4.1", number=3, description="T1")
    loc = raw[:2, :, :]
    for k in range(2):
        write_slice(folder / f"loc{k}.dcm", loc[k], ORIGIN + k * 7 * NORMAL,
                    series="1.2.3.4.9", number=1, description="localizer")
    before = tree_hashes(folder)
    with pytest.raises(ValueError) as err:
        dicom.open_volume(str(folder))
    msg = str(err.value)
    assert "\n" not in msg
    assert "1.2.3.4.1" in msg and "'T1'" in msg and "(6 files)" in msg
    assert "1.2.3.4.9" in msg and "'localizer'" in msg and "(2 files)" in msg
    assert "series=" in msg
    assert tree_hashes(folder) == before
    # choose by UID or by SeriesNumber
    np.testing.assert_array_equal(dicom.open_volume(str(folder), series="1.2.3.4.1").read(), raw)
    vol = dicom.open_volume(str(folder), series=1)
    np.testing.assert_array_equal(vol.read(), loc)
    np.testing.assert_allclose(vol.space_scale[0], 7, atol=1e-6)
    with pytest.raises(ValueError, match="'7'.*1.2.3.4.1"):
        dicom.open_volume(str(folder), series=7)


# -- refused stacks ----------------------------------------------------------------------
def test_missing_slice_is_uneven_spacing(tmp_path, raw):
    paths = write_series(tmp_path / "s", raw, shuffle=False)
    paths[3].unlink()
    with pytest.raises(ValueError, match="unevenly spaced") as err:
        dicom.open_volume(str(tmp_path / "s"))
    assert paths[2].name in str(err.value) and paths[4].name in str(err.value)


def test_two_slices_at_one_position(tmp_path, raw):
    paths = write_series(tmp_path / "s", raw, shuffle=False)
    write_slice(tmp_path / "s" / "echo2.dcm", raw[2], ORIGIN + 2 * DZ * NORMAL)
    with pytest.raises(ValueError, match="same position") as err:
        dicom.open_volume(str(tmp_path / "s"))
    assert "echo2.dcm" in str(err.value) and paths[2].name in str(err.value)


def test_mismatched_slice_names_the_file_and_what_differs(tmp_path, raw):
    write_series(tmp_path / "s", raw, shuffle=False)
    write_slice(tmp_path / "s" / "odd.dcm", np.zeros((10, 14), np.uint16),
                ORIGIN + 6 * DZ * NORMAL)
    with pytest.raises(ValueError, match=r"odd\.dcm.*Columns 14 instead of 12"):
        dicom.open_volume(str(tmp_path / "s"))


def test_other_orientation_is_refused(tmp_path, raw):
    write_series(tmp_path / "s", raw[:3], shuffle=False)
    write_slice(tmp_path / "s" / "tilted.dcm", raw[3], ORIGIN + 3 * DZ * NORMAL,
                orientation=np.array([1, 0, 0, 0, 1, 0.0]))
    with pytest.raises(ValueError, match=r"tilted\.dcm.*ImageOrientationPatient"):
        dicom.open_volume(str(tmp_path / "s"))


def test_gantry_tilt_is_refused(tmp_path, raw):
    folder = tmp_path / "s"
    folder.mkdir()
    for k in range(4):   # each slice shifted along the rows: a sheared stack
        write_slice(folder / f"{k}.dcm", raw[k], ORIGIN + k * DZ * NORMAL + k * 1.5 * COL)
    with pytest.raises(ValueError, match="off the slice normal"):
        dicom.open_volume(str(folder))


def test_no_dicom_in_folder(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="holds no DICOM file"):
        dicom.open_volume(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        dicom.open_volume(str(tmp_path / "nope"))


# -- laziness and damage -------------------------------------------------------------------
def test_reads_only_the_slices_a_region_covers_and_damage_raises(tmp_path, raw):
    paths = write_series(tmp_path / "s", raw, shuffle=False)
    vol = dicom.open_volume(str(tmp_path / "s"))
    # truncate the pixel data of slice 4 after opening: headers were fine
    data = paths[4].read_bytes()
    paths[4].write_bytes(data[: len(data) - 50])
    np.testing.assert_array_equal(
        vol.read_region((slice(0, 3), slice(2, 8), slice(1, 11))), raw[0:3, 2:8, 1:11]
    )
    with pytest.raises(CorruptDataError, match=paths[4].name):
        vol.read_region((slice(3, 6), slice(None), slice(None)))


def test_unparsable_file_is_named(tmp_path, raw):
    paths = write_series(tmp_path / "s", raw, shuffle=False)
    paths[1].write_bytes(paths[1].read_bytes()[:200])   # preamble + DICM + a torn header
    with pytest.raises((CorruptDataError, ValueError), match=paths[1].name):
        dicom.open_volume(str(tmp_path / "s"))


def test_source_pickles_for_worker_processes(tmp_path, raw):
    write_series(tmp_path / "s", raw)
    vol = dicom.open_volume(str(tmp_path / "s"))
    clone = pickle.loads(pickle.dumps(vol.source))
    np.testing.assert_array_equal(clone[1:4, :, 2], raw[1:4, :, 2])


# -- multi-frame files ---------------------------------------------------------------------
def test_enhanced_multiframe_frames_ordered_by_position(tmp_path, raw):
    path = tmp_path / "enhanced.dcm"
    ds = _dataset(path)
    order = [3, 0, 5, 1, 4, 2]   # frame i holds slice order[i]
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = [_ds(v) for v in np.concatenate([ROW, COL])]
    pm = Dataset()
    pm.PixelSpacing = [_ds(v) for v in SPACING]
    pm.SliceThickness = _ds(DZ)
    shared.PlaneOrientationSequence = Sequence([po])
    shared.PixelMeasuresSequence = Sequence([pm])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for k in order:
        g = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [_ds(v) for v in ORIGIN + k * DZ * NORMAL]
        g.PlanePositionSequence = Sequence([pp])
        pv = Dataset()
        pv.RescaleSlope, pv.RescaleIntercept = "1", str(-k)
        g.PixelValueTransformationSequence = Sequence([pv])
        frames.append(g)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.NumberOfFrames = len(order)
    _pixels(ds, raw[order], 12)
    ds.save_as(str(path), enforce_file_format=True)

    vol = dicom.open_volume(str(path))
    want = raw.astype(np.int32) - np.arange(len(raw))[:, None, None]
    assert vol.dtype == np.int16
    np.testing.assert_array_equal(vol.read(), want)
    np.testing.assert_allclose(vol.affine, expected_affine(), atol=1e-6)
    np.testing.assert_array_equal(vol.read_region((slice(2, 3), slice(0, 4), slice(0, 4))),
                                  want[2:3, :4, :4])


def test_pydicom_shipped_ct_small(tmp_path):
    from pydicom.data import get_testdata_file

    src = get_testdata_file("CT_small.dcm", download=False)
    if src is None:
        pytest.fail("pydicom ships CT_small.dcm in its wheel; it is missing here")
    path = shutil.copy(src, tmp_path / "ct.dcm")
    ds = pydicom.dcmread(path)
    assert dicom.sniff(str(path))
    vol = dicom.open_volume(str(path))
    want = ds.pixel_array.astype(np.int64) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    assert vol.shape == (1,) + ds.pixel_array.shape
    np.testing.assert_array_equal(vol.read()[0], want)
    np.testing.assert_allclose(vol.space_scale[1:], [float(v) for v in ds.PixelSpacing])
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(vol.affine[:3, 3], ipp * [-1, -1, 1], atol=1e-6)
    # one slice: its thickness is the z voxel size
    assert vol.space_scale[0] == pytest.approx(float(ds.SliceThickness))
    np.testing.assert_allclose(np.linalg.norm(vol.affine[:3, 2]), float(ds.SliceThickness))


# -- through a Zarr group on each engine ---------------------------------------------------
def test_write_through_open_group(tmp_path, raw, driver, zarr_version):
    """DICOM -> OME-Zarr level 0 + NIfTI-Zarr header on each engine, read back by
    nifti-zarr's own reader as a NIfTI image with the DICOM geometry."""
    import niizarr

    write_series(tmp_path / "s", raw, slope=1, inter=-1024, bits_stored=12)
    vol = dicom.open_volume(str(tmp_path / "s"))
    g = uz.open_group(str(tmp_path / "out.zarr"), mode="w", driver=driver,
                      zarr_version=zarr_version)
    # through dask, block by block (threads read slices concurrently)
    g.create_array("0", data=vol.to_dask((2, 5, 6)), chunks=(2, 5, 6))
    uz.write_ome_metadata(g, vol.axes, space_scale=vol.space_scale,
                          space_unit=vol.space_unit, name=vol.name)
    uz.write_nifti_header(g, vol.nifti_header)
    back = uz.open_group(str(tmp_path / "out.zarr"), mode="r", driver=driver)["0"][...]
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, raw.astype(np.int32) - 1024)
    img = niizarr.zarr2nii(str(tmp_path / "out.zarr"))
    np.testing.assert_array_equal(np.asarray(img.dataobj), (raw.astype(np.int32) - 1024).T)
    np.testing.assert_allclose(img.header.get_best_affine(), expected_affine(), atol=1e-5)


def test_bits_above_high_bit_are_not_pixel_data(tmp_path, raw):
    """12 bits stored: the standard leaves bits above HighBit to other uses (old overlay
    planes), so they are masked off, as pydicom and every viewer do, and the output
    stays int16."""
    bad = raw.copy()
    bad[2, 3, 4] = 0xF000 | 1234
    write_series(tmp_path / "s", bad, shuffle=False, slope=1, inter=-1024, bits_stored=12)
    vol = dicom.open_volume(str(tmp_path / "s"))
    assert vol.dtype == np.int16
    got = vol.read()
    want = raw.astype(np.int32) - 1024
    want[2, 3, 4] = 1234 - 1024
    np.testing.assert_array_equal(got, want)


def test_classic_multiframe_frames_a_fixed_step_apart(tmp_path, raw):
    path = tmp_path / "classic.dcm"
    ds = _dataset(path)
    ds.ImagePositionPatient = [_ds(v) for v in ORIGIN]
    ds.ImageOrientationPatient = [_ds(v) for v in np.concatenate([ROW, COL])]
    ds.PixelSpacing = [_ds(v) for v in SPACING]
    ds.SpacingBetweenSlices = _ds(DZ)
    ds.NumberOfFrames = len(raw)
    _pixels(ds, raw, 16)
    ds.save_as(str(path), enforce_file_format=True)
    vol = dicom.open_volume(str(path))
    np.testing.assert_array_equal(vol.read(), raw)
    np.testing.assert_allclose(vol.affine, expected_affine(), atol=1e-6)
    np.testing.assert_allclose(vol.space_scale, (DZ,) + SPACING, atol=1e-6)


@pytest.mark.parametrize("name,cut,match", [
    ("SC_rgb_small_odd.dcm", 0, "greyscale"),
    ("MR_small_RLE.dcm", 3000, r"compressed \(RLE Lossless\).*install a decoder"),
])
def test_shipped_files_unizarr_cannot_read(tmp_path, name, cut, match):
    """Colour is refused up front; compressed pixels that do not decode (here cut short)
    are damaged data whose message also names the decoders to install."""
    from pydicom.data import get_testdata_file

    src = get_testdata_file(name, download=False)
    if src is None:
        pytest.fail(f"pydicom ships {name} in its wheel; it is missing here")
    path = tmp_path / name
    data = open(src, "rb").read()
    path.write_bytes(data[: len(data) - cut] if cut else data)
    with pytest.raises(ValueError, match=match) as err:
        dicom.open_volume(str(path)).read()
    assert "\n" not in str(err.value) and name in str(err.value)


def test_shipped_compressed_files_decode(tmp_path):
    """RLE and JPEG 2000 through pydicom's bundled decoders, checked against pydicom."""
    from pydicom.data import get_testdata_file

    for name in ("MR_small_RLE.dcm", "JPEG2000.dcm"):
        src = get_testdata_file(name, download=False)
        if src is None:
            pytest.fail(f"pydicom ships {name} in its wheel; it is missing here")
        path = shutil.copy(src, tmp_path / name)
        ds = pydicom.dcmread(path)
        want = ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1)) + float(
            getattr(ds, "RescaleIntercept", 0))
        got = dicom.open_volume(str(path)).read()[0]
        np.testing.assert_array_equal(got, want)
