"""The PYME-native writer: files read back by these readers and by PyTables, as PYME lays them out."""
import datetime

import h5py
import numpy as np
import pytest

import pzfcodec
import pzfcodec.simulate
from pzfcodec.pyme import make_events, open_h5, write_h5, write_h5_filtered
import pyme_fixtures as fx
from common import require_module

# PyTables (when installed) warns of names like "Camera.ADOffset"; matched by message so
# that the filter does not need PyTables
pytestmark = pytest.mark.filterwarnings("ignore:object name is not a valid Python identifier")

EVENTS = make_events(*zip(*fx.EVENTS))


def camera_frames(n=6, shape=(64, 48)):
    return pzfcodec.simulate.camera_frames(n, shape, seed=4)


def attr_signature(obj):
    """{name: (type class, cset, strpad, dataspace, value)} of an HDF5 object's attributes."""
    out = {}
    for name in obj.attrs:
        aid = obj.attrs.get_id(name)
        tid = aid.get_type()
        is_str = tid.get_class() == h5py.h5t.STRING
        value = obj.attrs[name]
        out[name] = (tid.get_class(), tid.get_cset() if is_str else tid.get_size(),
                     tid.get_strpad() if is_str else None, aid.get_space().get_simple_extent_type(),
                     repr(value))
    return out


def test_layout_matches_pytables(tmp_path):
    """Every node and attribute PyTables (PYME's writer) creates, with the same HDF5 types."""
    frames = camera_frames(3)
    ours, ref = tmp_path / "ours.h5", tmp_path / "pytables.h5"
    md = {k: v for k, v in fx.METADATA.items() if k != "Positioning.StageXY"}
    write_h5(ours, frames, md, EVENTS)
    fx.write_pzf_h5(ref, [pzfcodec.compress(f, frame_num=i) for i, f in enumerate(frames)], md=md)
    with h5py.File(ours, "r") as a, h5py.File(ref, "r") as b:
        names_a, names_b = [], []
        a.visit(names_a.append)
        b.visit(names_b.append)
        assert sorted(names_a) == sorted(names_b)
        for name in [""] + names_b:
            oa, ob = (a[name] if name else a), (b[name] if name else b)
            assert type(oa) is type(ob), name
            sig_a, sig_b = attr_signature(oa), attr_signature(ob)
            sig_a.pop("FLAVOR", None)  # PYME's files carry FLAVOR='numpy' on these tables
            assert sig_a == sig_b, name
            if isinstance(ob, h5py.Dataset):
                assert oa.dtype == ob.dtype and oa.maxshape == ob.maxshape, name
                if oa.dtype.kind != "O":
                    np.testing.assert_array_equal(oa[()], ob[()])
        assert h5py.check_vlen_dtype(a["PZFImageData"].dtype) == np.uint8
        assert a["PZFImageIndex"].attrs["FLAVOR"] == b"numpy"
        for i in range(3):
            assert a["PZFImageData"][i].tobytes() == b["PZFImageData"][i].tobytes()


@pytest.mark.parametrize("compression", ["huffman", "raw", "chunked"])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.float32])
def test_round_trip_lossless(tmp_path, compression, dtype):
    frames = camera_frames().astype(dtype)
    path = tmp_path / "out.h5"
    assert write_h5(path, frames, fx.METADATA, EVENTS, compression=compression) == len(frames)
    with open_h5(path) as s:
        assert s.kind == "PZFImageData" and s.dtype == dtype
        np.testing.assert_array_equal(np.asarray(s), frames)
        for key, value in fx.METADATA.items():
            got = s.metadata[key]
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(got, value)
            else:
                assert got == value, key
        assert s.events.tolist() == EVENTS.tolist()


def test_quantised(tmp_path):
    frames = camera_frames()
    q = pzfcodec.camera_quantization(100.0, 0.5, 1.0)
    path = tmp_path / "q.h5"
    write_h5(path, frames, compression="huffman", quantization=q, threads=2)
    with open_h5(path) as s:
        expected = pzfcodec.dequantize(pzfcodec.quantize(frames, q.offset, q.scale), q.offset, q.scale, np.uint16)
        np.testing.assert_array_equal(np.asarray(s), expected)
        assert s.metadata["DimOrder"] == "XYCZT" and s.metadata["SizeT"] == -1
        assert "sqrt" in s.storage


def test_pytables_reads_it(tmp_path):
    tables = require_module("tables")
    frames = camera_frames(4)
    path = tmp_path / "out.h5"
    write_h5(path, frames, fx.METADATA, EVENTS)
    with tables.open_file(str(path)) as f:
        assert f.root.PZFImageData.nrows == 4
        blob = f.root.PZFImageData[2]
        np.testing.assert_array_equal(pzfcodec.decompress(blob), frames[2])
        index = f.root.PZFImageIndex.read()
        assert index["FrameNum"].tolist() == index["Position"].tolist() == [0, 1, 2, 3]
        attrs = f.root.MetaData.Camera._v_attrs
        assert attrs["ADOffset"] == 100.0 and attrs["Name"] == "Zyla" and attrs["ROI"] == [0, 0, 64, 48]
        assert f.root.MetaData.Splitter._v_attrs["Flip"] is np.True_ or f.root.MetaData.Splitter._v_attrs["Flip"]
        assert f.root.MetaData.Analysis._v_attrs["Params"] == {"threshold": 1.5, "fit": "LatGaussFitFR"}
        assert f.root.MetaData.Sample._v_attrs["Empty"] == ""
        assert f.root.Events.nrows == 3 and f.root.Events[0]["EventName"] == b"StartAq"


def test_pymecompress_decodes_blobs(tmp_path):
    """PYME's own decoder (pymecompress) expands every stored frame."""
    bcl = require_module("pymecompress.bcl")
    frames = camera_frames(2)
    path = tmp_path / "out.h5"
    write_h5(path, frames)
    with h5py.File(path, "r") as f:
        for i in range(2):
            blob = f["PZFImageData"][i]
            out = bcl.HuffmanDecompress(np.ascontiguousarray(blob[64:]), frames[i].nbytes)
            np.testing.assert_array_equal(np.frombuffer(out, np.uint16).reshape(frames[i].shape), frames[i])


def test_write_from_series_and_filtered(tmp_path):
    frames = camera_frames(5)
    src = tmp_path / "src.h5"
    fx.write_image_h5(src, frames)
    dst = tmp_path / "filtered.h5"
    with open_h5(src) as s:
        write_h5_filtered(dst, s, s.metadata, s.events)
    with open_h5(dst) as s:
        assert s.kind == "ImageData" and "pzf" in s.storage
        np.testing.assert_array_equal(np.asarray(s), frames)
        assert s.metadata["Camera.Name"] == "Zyla" and len(s.events) == 3
    with h5py.File(dst, "r") as f:
        ds = f["ImageData"]
        assert ds.chunks == (1, 64, 48) and ds.attrs["CLASS"] == b"EARRAY" and ds.attrs["DimOrder"] == b"XYCZT"


def test_bad_input(tmp_path):
    with pytest.raises(pzfcodec.BadArgumentError):
        write_h5(tmp_path / "x.h5", np.zeros((0, 4, 4), np.uint16))
    with pytest.raises(pzfcodec.BadArgumentError):
        write_h5(tmp_path / "x.h5", np.zeros((4, 4), np.uint16))
    with pytest.raises(pzfcodec.BadArgumentError, match="metadata key"):
        write_h5(tmp_path / "x.h5", np.zeros((1, 4, 4), np.uint16), {"Camera..X": 1})


@pytest.mark.parametrize("value", [datetime.date(2020, 1, 1), range(3),
                                   "x\0y", b"x\0y"], ids=repr)
def test_metadata_that_would_not_read_back_refused(tmp_path, value):
    with pytest.raises(pzfcodec.BadArgumentError, match="v"):
        write_h5(tmp_path / "a.h5", np.zeros((1, 4, 4), np.uint16), {"X.v": value})


@pytest.mark.parametrize("value", [2**70, -2**63, [1, "a", (2.5, None)], {"k": [1, 2]}, ["a\0"], 1 + 2j, {1, 2}],
                         ids=repr)
def test_metadata_values_read_back(tmp_path, value):
    write_h5(tmp_path / "a.h5", np.zeros((1, 4, 4), np.uint16), {"X.v": value})
    with open_h5(tmp_path / "a.h5") as s:
        assert s.metadata["X.v"] == value
