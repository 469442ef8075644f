"""TIFF and OME-TIFF files written by PYME's own exporters, read side by side
with PYME's TIFF data source and image loader (run in a child process).  PYME's older multi-page writer
(``saveTiffStack.saveTiffMultipage``) fails with current Pillow, so the
fixtures come from its OME-TIFF exporter, with and without metadata."""
from __future__ import annotations

import numpy as np
import pytest

import pzfcodec
from pzfcodec.pyme.ome import read_ome_metadata
from common import require_module
from pyme_peer import run_pyme

PYME_SIDE = """
from PYME.IO import dataExporter, MetaDataHandler, image
from PYME.IO.DataSources import TiffDataSource
stack = np.load("stack.npy")                               # (x, y, z) as PYME holds data
md = MetaDataHandler.NestedClassMDHandler()
md["voxelsize.x"] = 0.08; md["voxelsize.y"] = 0.09; md["voxelsize.z"] = 0.25
md["Camera.ADOffset"] = 100.0; md["Sample.Notes"] = "beads"
dataExporter.ExportData(stack, md, filename=os.path.abspath("pyme_ome.tif"))   # OMETiffExporter
dataExporter.OMETiffExporter().Export(stack, os.path.abspath("pyme_bare.tif"), slice(None), slice(None),
                                      slice(None))
out = {}
for name in ("pyme_ome.tif", "pyme_bare.tif", "other_ome.tif"):
    ds = TiffDataSource.DataSource(name, None)
    frames = np.stack([ds.getSlice(i) for i in range(ds.getNumSlices())])
    np.save(name + ".pyme.npy", frames)
    im = image.ImageStack(filename=os.path.abspath(name))
    out[name] = {"shape": list(ds.shape), "md": {k: im.mdh[k] for k in im.mdh.getEntryNames()}}
emit(out)
"""


@pytest.fixture(scope="module")
def pyme_tiffs(tmp_path_factory):
    tifffile = require_module("tifffile")
    d = tmp_path_factory.mktemp("pyme_tif")
    stack = np.random.default_rng(7).integers(0, 4000, (9, 5, 4)).astype(np.uint16)  # x=9, y=5, z=4
    np.save(d / "stack.npy", stack)
    # an OME-TIFF from another program: sizes in the OME-XML only, in nm
    tifffile.imwrite(d / "other_ome.tif", stack.transpose(2, 0, 1), ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 65.0, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 0.07,
        "PhysicalSizeZ": 0.2, "PhysicalSizeZUnit": "\u00b5m", "TimeIncrement": 0.05,
        "Channel": {"Name": ["GFP"]}})
    return d, stack, run_pyme(PYME_SIDE, d)


@pytest.mark.parametrize("name", ["pyme_ome.tif", "pyme_bare.tif", "other_ome.tif"])
def test_frames_equal_pyme_tiff_data_source(pyme_tiffs, name):
    d, stack, pyme = pyme_tiffs
    theirs = np.load(d / (name + ".pyme.npy"))
    with pzfcodec.open(d / name) as s:
        assert s.shape == theirs.shape == (4, 9, 5)  # (frames, x, y): pages as stored
        assert pyme[name]["shape"][:3] == [9, 5, 4]
        for i in range(len(s)):
            np.testing.assert_array_equal(s[i], theirs[i])
            np.testing.assert_array_equal(s[i], stack[:, :, i].astype(s.dtype))
        # no dimension metadata: PYME takes the pages as z slices
        assert s.sizes == {"z": 4, "t": 1, "c": 1}
        assert s.frame_index(z=3) == 3


@pytest.mark.parametrize("name", ["pyme_ome.tif", "other_ome.tif"])
def test_ome_metadata_equals_pyme(pyme_tiffs, name):
    d, _, pyme = pyme_tiffs
    theirs = pyme[name]["md"]
    with pzfcodec.open(d / name) as s:
        assert s.kind == "OME-TIFF"
        ours = s.metadata
    keys = {"voxelsize.x", "voxelsize.y", "voxelsize.z"}
    if name == "pyme_ome.tif":      # PYME's embedded metadata tree
        keys |= {"Camera.ADOffset", "Sample.Notes"}
    else:                           # the OME <Pixels> element
        keys |= {"voxelsize.units", "Camera.CycleTime", "ChannelNames", "OME.SizeX", "OME.SizeY", "OME.SizeZ", "OME.SizeT",
                 "OME.SizeC", "OME.DimensionOrder"}
        assert ours["voxelsize.x"] == pytest.approx(0.065)
    for key in sorted(keys):
        assert key in ours, key
        assert ours[key] == pytest.approx(theirs[key]) if isinstance(ours[key], float) else ours[key] == theirs[key], key


def test_sidecar_wins_over_ome_xml(pyme_tiffs, tmp_path):
    d, _, _ = pyme_tiffs
    (tmp_path / "a.tif").write_bytes((d / "other_ome.tif").read_bytes())
    (tmp_path / "a.json").write_text('{"voxelsize.x": 0.5}')
    with pzfcodec.open(tmp_path / "a.tif") as s:
        assert s.kind == "TIFF + a.json" and s.metadata["voxelsize.x"] == 0.5


def test_convert_carries_pyme_orientation(pyme_tiffs, tmp_path):
    import pzfcodec.convert

    d, stack, _ = pyme_tiffs
    pzfcodec.convert.convert(str(d / "pyme_ome.tif"), str(tmp_path / "out.h5"), to="pyme")
    with pzfcodec.open(tmp_path / "out.h5") as s:
        assert s.shape == (4, 9, 5)
        np.testing.assert_array_equal(s[2], stack[:, :, 2])
        assert s.metadata["voxelsize.x"] == pytest.approx(0.08)
        # PYME saw z slices; the copy says so
        assert (s.metadata["DimOrder"], s.metadata["SizeZ"], s.metadata["SizeT"]) == ("XYZTC", 4, 1)


@pytest.mark.parametrize("xml", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><OME/>',
    "<OME><Image><Pixels",
    '<OME><StructuredAnnotations><MetaData><a class="float" value="x"/></MetaData></StructuredAnnotations></OME>',
])
def test_hostile_ome_xml_is_a_clean_error(xml):
    with pytest.raises(pzfcodec.CorruptDataError):
        read_ome_metadata(xml)
