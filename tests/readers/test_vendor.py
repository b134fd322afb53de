"""Vendor formats: CZI written with Zeiss' libCZI (pylibCZIrw) and read through czifile;
LIF written here byte by byte after Leica's published layout and read through liffile;
ND2 and every missing extra checked through real imports in a subprocess."""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

import unizarr as uz
from tests.adversarial.conftest import tree_hashes
from unizarr.errors import CorruptDataError, UnizarrError
from unizarr.readers import vendor


# -- writers ---------------------------------------------------------------------------------
def write_czi(path, data: np.ndarray, *, scenes=1, names=None, scale=(2e-6, 3e-7, 2e-7),
              compression=None) -> None:
    """``data`` is (scene, t, c, z, y, x); scale is (z, y, x) in metres."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True, compression_options=compression) as w:
        for s in range(scenes):
            for t in range(data.shape[1]):
                for c in range(data.shape[2]):
                    for z in range(data.shape[3]):
                        w.write(data=data[s, t, c, z], plane={"T": t, "C": c, "Z": z},
                                scene=s, location=(500 * s, 40 * s))
        w.write_metadata(
            document_name="test",
            channel_names=dict(enumerate(names)) if names else None,
            scale_x=scale[2], scale_y=scale[1], scale_z=scale[0],
        )


def write_lif(path, images) -> None:
    """``images``: (name, data (t, z, c, y, x), voxel (z, y, x) in m, LUT names, dt s).

    Layout as LAS X writes it: a 0x70/0x2A block holding the UTF-16 XML header, then one
    0x70/0x2A/0x2A memory block per image, channels interleaved between Y and Z."""
    elems, blocks = [], [("MemBlock_0", b"")]
    for k, (name, data, voxel, luts, dt) in enumerate(images):
        nt, nz, nc, ny, nx = data.shape
        it = data.dtype.itemsize
        chans = "".join(
            f'<ChannelDescription DataType="0" ChannelTag="0" Resolution="{it * 8}" '
            f'NameOfMeasuredQuantity="" Min="0" Max="{2 ** (8 * it) - 1}" Unit="" '
            f'LUTName="{lut}" IsLUTInverted="0" BytesInc="{c * nx * ny * it}" BitInc="0"/>'
            for c, lut in enumerate(luts))
        dims = [(1, nx, voxel[2], "m", it), (2, ny, voxel[1], "m", nx * it),
                (3, nz, voxel[0], "m", nc * nx * ny * it), (4, nt, dt, "s", nz * nc * nx * ny * it)]
        desc = "".join(
            f'<DimensionDescription DimID="{i}" NumberOfElements="{n}" Origin="0" '
            f'Length="{v * (n - 1)!r}" Unit="{u}" BitInc="0" BytesInc="{b}"/>'
            for i, n, v, u, b in dims if n > 1 or i < 3)
        mid = f"MemBlock_{k + 1}"
        raw = np.ascontiguousarray(data).tobytes()
        elems.append(
            f'<Element Name="{name}" Visibility="1" CopyOption="1" UniqueID="u{k}"><Data>'
            f'<Image TextDescription=""><ImageDescription><Channels>{chans}</Channels>'
            f'<Dimensions>{desc}</Dimensions></ImageDescription></Image></Data>'
            f'<Memory Size="{len(raw)}" MemoryBlockID="{mid}"/><Children/></Element>')
        blocks.append((mid, raw))
    xml = ('<LMSDataContainerHeader Version="2"><Element Name="project" Visibility="1" '
           'CopyOption="1" UniqueID="root"><Data><Experiment Path="x.lif"/></Data>'
           '<Memory Size="0" MemoryBlockID="MemBlock_0"/>'
           f'<Children>{"".join(elems)}</Children></Element></LMSDataContainerHeader>')
    xb = xml.encode("utf-16-le")
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IIBI", 0x70, len(xb) + 5, 0x2A, len(xml)) + xb)
        for mid, raw in blocks:
            fh.write(struct.pack("<IIBQBI", 0x70, 0, 0x2A, len(raw), 0x2A, len(mid)))
            fh.write(mid.encode("utf-16-le") + raw)


@pytest.fixture
def czi_data() -> np.ndarray:
    return np.random.default_rng(11).integers(0, 65535, size=(2, 2, 3, 4, 9, 13), dtype=np.uint16)


@pytest.fixture
def lif_data() -> np.ndarray:
    return np.random.default_rng(12).integers(0, 4095, size=(3, 4, 2, 10, 7), dtype=np.uint16)


# -- detection --------------------------------------------------------------------------------
def test_sniff_by_content(tmp_path, czi_data, lif_data):
    write_czi(tmp_path / "a.czi", czi_data[:1])
    write_lif(tmp_path / "a.lif", [("S1", lif_data, (1e-6, 1e-6, 1e-6), ["Green", "Red"], 1.0)])
    (tmp_path / "renamed.bin").write_bytes((tmp_path / "a.czi").read_bytes())
    (tmp_path / "a.nd2").write_bytes(b"\xda\xce\xbe\x0a" + b"\0" * 60)
    (tmp_path / "fake.czi").write_bytes(b"not a czi file at all")
    assert vendor.detect(str(tmp_path / "a.czi")) == "CZI"
    assert vendor.detect(str(tmp_path / "renamed.bin")) == "CZI"
    assert vendor.detect(str(tmp_path / "a.lif")) == "LIF"
    assert vendor.detect(str(tmp_path / "a.nd2")) == "ND2"
    assert all(vendor.sniff(str(tmp_path / n)) for n in ("a.czi", "a.lif", "a.nd2", "renamed.bin"))
    assert not vendor.sniff(str(tmp_path / "fake.czi"))
    assert not vendor.sniff(str(tmp_path / "missing.czi"))
    assert not vendor.sniff(str(tmp_path))
    with pytest.raises(ValueError, match="not a CZI, ND2 or LIF"):
        vendor.open_volume(str(tmp_path / "fake.czi"))


# -- CZI ------------------------------------------------------------------------------------------
def test_czi_channels_z_time_voxel_size(tmp_path, czi_data):
    write_czi(tmp_path / "a.czi", czi_data[:1], names=["DAPI", "GFP", "Cy5"])
    vol = vendor.open_volume(str(tmp_path / "a.czi"))
    assert vol.axes == ("t", "c", "z", "y", "x") and vol.dtype == np.uint16
    np.testing.assert_array_equal(vol.read(), czi_data[0])
    assert vol.space_scale == (2.0, 0.3, 0.2) and vol.space_unit == "micrometer"
    assert vol.channel_names == ("DAPI", "GFP", "Cy5")
    assert vol.format == "CZI" and vol.name == "a"
    np.testing.assert_array_equal(
        vol.read_region((slice(1, 2), slice(0, 2), slice(1, 3), slice(2, 9), slice(5, 13))),
        czi_data[0, 1:2, 0:2, 1:3, 2:9, 5:13])
    clone = pickle.loads(pickle.dumps(vol.source))
    np.testing.assert_array_equal(clone[0, 2, 3], czi_data[0, 0, 2, 3])
    vol.close()


def test_czi_scenes_are_series(tmp_path, czi_data):
    path = tmp_path / "s.czi"
    write_czi(path, czi_data, scenes=2)
    before = tree_hashes(tmp_path)
    with pytest.raises(ValueError) as err:
        vendor.open_volume(str(path))
    assert "2 scenes" in str(err.value) and "series=N" in str(err.value)
    assert "\n" not in str(err.value)
    assert tree_hashes(tmp_path) == before
    for s in range(2):   # each scene in its own frame, not on the shared stage grid
        vol = vendor.open_volume(str(path), series=s)
        np.testing.assert_array_equal(vol.read(), czi_data[s])
    with pytest.raises(ValueError, match="not one of the 2 scenes"):
        vendor.open_volume(str(path), series=2)


def test_czi_2d_single_channel(tmp_path, czi_data):
    write_czi(tmp_path / "p.czi", czi_data[:1, :1, :1, :1])
    vol = vendor.open_volume(str(tmp_path / "p.czi"))
    assert vol.axes == ("y", "x")
    np.testing.assert_array_equal(vol.read(), czi_data[0, 0, 0, 0])


def test_czi_damaged_subblock_raises(tmp_path, czi_data):
    path = tmp_path / "a.czi"
    write_czi(path, czi_data[:1], compression="zstd1:ExplicitLevel=1")
    vol = vendor.open_volume(str(path))
    raw = bytearray(path.read_bytes())
    # scramble the middle of the file, where the compressed subblocks are
    mid = len(raw) // 2
    raw[mid: mid + 400] = bytes(range(256)) + bytes(144)
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match="a.czi"):
        vol.read()


# -- LIF ------------------------------------------------------------------------------------------
def test_lif_images_are_series(tmp_path, lif_data):
    path = tmp_path / "a.lif"
    write_lif(path, [
        ("Series001", lif_data, (2e-6, 4e-7, 2.5e-7), ["Green", "Red"], 1.5),
        ("Overview", lif_data[:1, :1, :1], (1e-6, 1e-6, 1e-6), ["Gray"], 0),
    ])
    with pytest.raises(ValueError, match=r"2 images \(0: 'Series001', 1: 'Overview'\)"):
        vendor.open_volume(str(path))
    vol = vendor.open_volume(str(path), series=0)
    assert vol.axes == ("t", "c", "z", "y", "x")
    np.testing.assert_array_equal(vol.read(), lif_data.transpose(0, 2, 1, 3, 4))
    assert vol.space_scale == (2.0, 0.4, 0.25) and vol.space_unit == "micrometer"
    assert vol.channel_names == ("Green", "Red") and vol.name == "Series001"
    assert vol.time_scale == 1.5 and vol.time_unit == "second"
    np.testing.assert_array_equal(
        vol.read_region((slice(2, 3), slice(1, 2), slice(0, 4), slice(3, 8), slice(0, 7))),
        lif_data[2:3, 0:4, 1:2, 3:8, :].transpose(0, 2, 1, 3, 4))
    small = vendor.open_volume(str(path), series=1)
    assert small.axes == ("y", "x")
    np.testing.assert_array_equal(small.read(), lif_data[0, 0, 0])
    clone = pickle.loads(pickle.dumps(vol.source))
    np.testing.assert_array_equal(clone[1, 0, 2], lif_data[1, 2, 0])


def test_lif_truncated_memory_block(tmp_path, lif_data):
    path = tmp_path / "a.lif"
    write_lif(path, [("S", lif_data, (1e-6, 1e-6, 1e-6), ["Green", "Red"], 1.0)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ValueError, match="a.lif"):
        vendor.open_volume(str(path)).read()


# -- ND2 ------------------------------------------------------------------------------------------
def test_nd2_damaged_file_is_one_line(tmp_path):
    path = tmp_path / "bad.nd2"
    path.write_bytes(b"\xda\xce\xbe\x0a" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="cannot read .*bad.nd2 as ND2") as err:
        vendor.open_volume(str(path))
    assert "\n" not in str(err.value)


# -- missing extras, for real: the package hidden from the import system -----------------------
@pytest.mark.parametrize("fmt,module", [("CZI", "czifile"), ("ND2", "nd2"), ("LIF", "liffile")])
def test_missing_extra_names_the_install(tmp_path, fmt, module, czi_data, lif_data):
    files = {"CZI": b"ZISRAWFILE" + b"\0" * 100, "ND2": b"\xda\xce\xbe\x0a" + b"\0" * 100}
    path = tmp_path / f"x.{fmt.lower()}"
    if fmt == "LIF":
        write_lif(path, [("S", lif_data, (1e-6, 1e-6, 1e-6), ["Green", "Red"], 1.0)])
    else:
        path.write_bytes(files[fmt])
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "from unizarr.readers import vendor\n"
        "from unizarr.errors import UnizarrError\n"
        f"assert vendor.sniff({str(path)!r})\n"
        "try:\n"
        f"    vendor.open_volume({str(path)!r})\n"
        "except ImportError as exc:\n"
        "    assert isinstance(exc, UnizarrError)\n"
        "    print(exc)\n"
        "    sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert "\n" not in line
    assert f"({fmt})" in line and repr(module) in line
    assert 'pip install "unizarr[vendor]"' in line
    assert issubclass(vendor.MissingExtraError, UnizarrError)


def test_write_through_open_group(tmp_path, czi_data, driver, zarr_version):
    write_czi(tmp_path / "a.czi", czi_data[:1], names=["DAPI", "GFP", "Cy5"])
    vol = vendor.open_volume(str(tmp_path / "a.czi"))
    g = uz.open_group(str(tmp_path / "out.zarr"), mode="w", driver=driver,
                      zarr_version=zarr_version)
    g.create_array("0", data=vol.to_dask((1, 1, 2, 8, 8)), chunks=(1, 1, 2, 8, 8))
    back = uz.open_group(str(tmp_path / "out.zarr"), mode="r", driver=driver)["0"][...]
    np.testing.assert_array_equal(back, czi_data[0])
