"""TIFF stacks with PYME metadata sidecars, through the common series interface."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from pzfcodec.errors import CorruptDataError, UnsupportedFormatError
from pzfcodec.pyme.series import EVENTS_DTYPE
from pzfcodec.pyme.sidecar import MetadataWarning
from pzfcodec.pyme.tif import open_tif
from common import require_module


@pytest.fixture
def tifffile():
    return require_module("tifffile")


def stack(dtype, n=5, h=6, w=7, seed=0):
    """``n`` pages of ``h`` rows x ``w`` columns (as tifffile/ImageJ see them)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100, 10, (n, h, w)).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, (n, h, w), endpoint=True).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("kw", [{}, {"compression": "zlib"}, {"imagej": True}], ids=["plain", "zlib", "imagej"])
def test_series_interface(tmp_path, tifffile, dtype, kw):
    if kw.get("imagej") and dtype == np.float32:
        kw = dict(kw, photometric="minisblack")
    pages = stack(dtype)
    path = tmp_path / "series.tif"
    tifffile.imwrite(path, pages, **kw)
    (tmp_path / "series.json").write_text(json.dumps({"Camera.ADOffset": 100.0, "SizeT": 5}))
    with open_tif(path) as s:
        assert len(s) == 5
        assert s.shape == (5, 6, 7)  # (frames, x, y): pages as stored, x = rows (as PYME)
        assert s.dtype == np.dtype(dtype)
        assert s.metadata_path == tmp_path / "series.json"
        assert s.metadata["Camera.ADOffset"] == 100.0
        assert s.events.dtype == EVENTS_DTYPE and s.events.size == 0
        np.testing.assert_array_equal(s[3], pages[3])
        np.testing.assert_array_equal(s[-1], pages[-1])
        np.testing.assert_array_equal(s[1:4], pages[1:4])
        np.testing.assert_array_equal(np.asarray(s), pages)
        assert [f.shape for f in s] == [(6, 7)] * 5
        with pytest.raises(IndexError):
            s[5]


def test_frames_are_read_lazily(tmp_path, tifffile, monkeypatch):
    pages = stack(np.uint16, n=8)
    tifffile.imwrite(tmp_path / "lazy.tif", pages, compression="zlib")
    read = []
    for cls in (tifffile.TiffPage, tifffile.TiffFrame):
        original = cls.asarray

        def counting(self, *args, _original=original, **kwargs):
            read.append(self.index)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "asarray", counting)
    with open_tif(tmp_path / "lazy.tif") as s:
        assert read == []
        np.testing.assert_array_equal(s[6], pages[6])
        assert set(read) == {6}


@pytest.mark.parametrize("suffix", [".json", ".md", ".xml"])
def test_metadata_from_each_sidecar(tmp_path, tifffile, suffix):
    tifffile.imwrite(tmp_path / "cells.tif", stack(np.uint16))
    text = {
        ".json": '{"Camera.ADOffset": 251.0, "voxelsize.x": 0.1}',
        ".md": "#PYME Simple Metadata v1\nmd['Camera.ADOffset'] = 251.0\nmd['voxelsize.x'] = 0.1\n",
        ".xml": '<PYMEImageData><MetaData><Camera><ADOffset class="float" value="251.0"/></Camera>'
        '<voxelsize><x class="float" value="0.1"/></voxelsize></MetaData></PYMEImageData>',
    }[suffix]
    (tmp_path / f"cells{suffix}").write_text(text)
    with open_tif(tmp_path / "cells.tif") as s:
        assert s.metadata_path == tmp_path / f"cells{suffix}"
        assert s.metadata == {"Camera.ADOffset": 251.0, "voxelsize.x": 0.1}


def test_no_sidecar_and_explicit_sidecar(tmp_path, tifffile):
    tifffile.imwrite(tmp_path / "a.tif", stack(np.uint16))
    (tmp_path / "elsewhere.json").write_text('{"Camera.ADOffset": 7.0}')
    with open_tif(tmp_path / "a.tif") as s:
        assert s.metadata_path is None and s.metadata == {}
        assert s.sizes == {"z": 5, "t": 1, "c": 1}  # no dimensions: frames are z, as PYME
    with open_tif(tmp_path / "a.tif", metadata_path=tmp_path / "elsewhere.json") as s:
        assert s.metadata == {"Camera.ADOffset": 7.0}


def test_frame_index_follows_sidecar_dimensions(tmp_path, tifffile):
    pages = stack(np.uint16, n=16)
    tifffile.imwrite(tmp_path / "zt.tif", pages)
    (tmp_path / "zt.json").write_text('{"DimOrder": "XYCZT", "SizeC": 2, "SizeZ": 4, "SizeT": 2}')
    with open_tif(tmp_path / "zt.tif") as s:
        assert s.frame_index(z=3, t=1, c=1) == 1 + 2 * 3 + 8 * 1
        np.testing.assert_array_equal(s[s.frame_index(z=3, t=1, c=1)], pages[15])


def test_imagej_hyperstack_dimensions(tmp_path, tifffile):
    data = stack(np.uint16, n=2 * 3 * 4).reshape(2, 3, 4, 6, 7)  # T, Z, C, Y, X
    tifffile.imwrite(tmp_path / "hyper.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    with open_tif(tmp_path / "hyper.tif") as s:
        assert len(s) == 24
        assert s.metadata == {"DimOrder": "XYCZT", "SizeC": 4, "SizeZ": 3, "SizeT": 2}
        np.testing.assert_array_equal(s[s.frame_index(z=2, t=1, c=3)], data[1, 2, 3])
    # the sidecar wins over the TIFF's own axes
    (tmp_path / "hyper.json").write_text('{"SizeT": 1, "SizeZ": 6}')
    with open_tif(tmp_path / "hyper.tif") as s:
        assert (s.metadata["SizeT"], s.metadata["SizeZ"], s.metadata["SizeC"]) == (1, 6, 4)


def test_pages_written_one_by_one(tmp_path, tifffile):
    pages = stack(np.uint16, n=4)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as writer:
        for page in pages:
            writer.write(page, contiguous=False)
    with open_tif(tmp_path / "pages.tif") as s:
        assert s.shape == (4, 6, 7)
        np.testing.assert_array_equal(np.asarray(s), pages)


def test_single_image(tmp_path, tifffile):
    image = stack(np.uint16, n=1)[0]
    tifffile.imwrite(tmp_path / "one.tif", image)
    with open_tif(tmp_path / "one.tif") as s:
        assert s.shape == (1, 6, 7)
        np.testing.assert_array_equal(s[0], image)


def test_samples_are_colour_channels(tmp_path, tifffile):
    rgb = stack(np.uint8, n=2 * 4 * 3).reshape(2, 4, 6, 7, 3)  # T, Z, Y, X, S
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, imagej=True, photometric="rgb", metadata={"axes": "TZYXS"})
    with open_tif(tmp_path / "rgb.tif") as s:
        assert s.shape == (24, 6, 7)
        assert s.metadata == {"DimOrder": "XYCZT", "SizeC": 3, "SizeZ": 4, "SizeT": 2}
        np.testing.assert_array_equal(s[s.frame_index(z=3, t=1, c=2)], rgb[1, 3, :, :, 2])
    planar = stack(np.uint16, n=3)  # how tifffile has stored 3-page stacks by default
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    with open_tif(tmp_path / "planar.tif") as s:
        assert s.shape == (3, 6, 7) and s.metadata["SizeC"] == 3
        np.testing.assert_array_equal(np.asarray(s), planar)


def test_rejects_volumes_and_non_tiff(tmp_path, tifffile):
    tifffile.imwrite(tmp_path / "vol.tif", np.zeros((5, 16, 16), np.uint16), volumetric=True, tile=(1, 16, 16),
                     photometric="minisblack")
    with pytest.raises(UnsupportedFormatError, match="vol.tif"):
        open_tif(tmp_path / "vol.tif")
    (tmp_path / "fake.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(CorruptDataError, match="fake.tif"):
        open_tif(tmp_path / "fake.tif")


def test_bad_sidecar_raises_on_metadata(tmp_path, tifffile):
    tifffile.imwrite(tmp_path / "s.tif", stack(np.uint16))
    (tmp_path / "s.json").write_text("{not json")
    with open_tif(tmp_path / "s.tif") as s:
        np.testing.assert_array_equal(s[0].shape, (6, 7))
        with pytest.raises(CorruptDataError, match=r"s\.json: line 1"):
            s.metadata


def test_pzfcodec_open_dispatches(tmp_path, tifffile):
    import pzfcodec

    pages = stack(np.uint16)
    for name in ("a.tif", "b.tiff"):
        tifffile.imwrite(tmp_path / name, pages)
        with pzfcodec.open(tmp_path / name) as s:
            np.testing.assert_array_equal(s[2], pages[2])
    (tmp_path / "a.json").write_text('{"Camera.ADOffset": 1.0}')
    (tmp_path / "a.md").write_text("md['Camera.ADOffset'] = 2.0\n")
    (tmp_path / "a.xml").write_text(
        '<PYMEImageData><MetaData><Camera><ADOffset class="float" value="3.0"/></Camera>'
        "</MetaData></PYMEImageData>"
    )
    for suffix, value in ((".json", 1.0), (".md", 2.0), (".xml", 3.0)):
        assert pzfcodec.open(tmp_path / f"a{suffix}") == {"Camera.ADOffset": value}


# ---- command line ------------------------------------------------------------

SIDECARS = {
    ".json": '{"Camera.ADOffset": 100.0, "Camera.ElectronsPerCount": 0.5, "Sample.Notes": "beads"}',
    ".md": "#PYME Simple Metadata v1\nimport os\nmd['Camera.ADOffset'] = 100.0\n"
    "md['Camera.ElectronsPerCount'] = 0.5\nmd['Sample.Notes'] = u'beads'\nprint('hi')\n",
    ".xml": '<?xml version="1.0"?>\n<PYMEImageData><MetaData><Camera>'
    '<ADOffset class="float" value="100.0"/><ElectronsPerCount class="float" value="0.5"/></Camera>'
    '<Sample><Notes class="unicode" value="beads"/></Sample></MetaData></PYMEImageData>',
}


def cli(*argv: str) -> int:
    from pzfcodec.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        return main([str(a) for a in argv])


def camera_tif(tmp_path, suffix):
    from pzfcodec.simulate import camera_frames

    frames = camera_frames(6, shape=(64, 48), seed=3)  # (n, x, y)
    tifffile = require_module("tifffile")
    tifffile.imwrite(tmp_path / "cam.tif", frames)
    (tmp_path / f"cam{suffix}").write_text(SIDECARS[suffix])
    return tmp_path / "cam.tif", frames


@pytest.mark.parametrize("suffix", sorted(SIDECARS))
def test_cli_info(tmp_path, capsys, suffix):
    tif, _ = camera_tif(tmp_path, suffix)
    assert cli("info", tif) == 0
    out = capsys.readouterr().out
    assert f"TIFF + cam{suffix}" in out and "(6, 64, 48) (frames, x, y)" in out
    assert "Camera.ADOffset = 100.0" in out and "Sample.Notes = beads" in out
    assert cli("info", tmp_path / f"cam{suffix}") == 0
    out = capsys.readouterr().out
    assert "Camera.ElectronsPerCount = 0.5" in out and "Sample.Notes = beads" in out


@pytest.mark.parametrize("suffix", sorted(SIDECARS))
def test_cli_convert_uses_sidecar_camera(tmp_path, capsys, suffix):
    import pzfcodec

    tif, frames = camera_tif(tmp_path, suffix)
    out_path = tmp_path / "cam.h5"
    assert cli("convert", tif, out_path, "--step", "1", "--quiet") == 0
    expected_q = pzfcodec.camera_quantization(100.0, 0.5, 1.0)
    with pzfcodec.open(out_path) as s:
        assert s.shape == frames.shape
        assert s.metadata["Sample.Notes"] == "beads"
        decoded = s[:]
    expected = pzfcodec.dequantize(
        pzfcodec.quantize(frames, expected_q.offset, expected_q.scale),
        expected_q.offset, expected_q.scale, frames.dtype)
    np.testing.assert_array_equal(decoded, expected)


def test_cli_convert_lossless_and_errors(tmp_path, capsys):
    tif, frames = camera_tif(tmp_path, ".md")
    assert cli("convert", tif, tmp_path / "lossless.h5", "--quiet") == 0
    import pzfcodec

    with pzfcodec.open(tmp_path / "lossless.h5") as s:
        np.testing.assert_array_equal(s[:], frames)
    (tmp_path / "cam.md").write_text("md['a'] = pickle.loads('''cos\nsystem\n(S'true'\ntR.''')\n")
    assert cli("convert", tif, tmp_path / "bad.h5", "--step", "1", "--quiet") == 1
    assert "os.system" in capsys.readouterr().err
    assert not (tmp_path / "bad.h5").exists()
