"""Reading PYME image series (.h5): /ImageData and /PZFImageData layouts, metadata, events."""
import h5py
import numpy as np
import pytest

import pzfcodec
from pzfcodec.pyme import EVENTS_DTYPE, H5Series, open_h5
from pzfcodec.pyme._hdf import set_str_attr
from pzfcodec.simulate import camera_frames
import pyme_fixtures as fx
from common import require_module

# PyTables (when installed) warns of names like "Camera.ADOffset"; matched by message so
# that the filter does not need PyTables
pytestmark = pytest.mark.filterwarnings("ignore:object name is not a valid Python identifier")


def frames_of(dtype, n=7, shape=(64, 48), seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return rng.normal(200, 30, (n,) + shape).astype(np.float32)
    hi = 255 if dtype == np.uint8 else 4000
    return rng.integers(90, hi, (n,) + shape).astype(dtype)


def check_metadata(md):
    """Every value type of the spec comes back as PYME returns it."""
    assert set(md) == set(fx.METADATA)
    for key, value in fx.METADATA.items():
        got = md[key]
        if isinstance(value, bool):
            assert type(got) is np.bool_ and bool(got) is value, key
        elif isinstance(value, str):
            assert type(got) is str and got == value, key
        elif isinstance(value, int):
            assert type(got) is np.int64 and got == value, key
        elif isinstance(value, float):
            assert type(got) is np.float64 and got == value, key
        elif isinstance(value, np.ndarray):
            assert isinstance(got, np.ndarray) and got.dtype == value.dtype, key
            np.testing.assert_array_equal(got, value)
        else:
            assert type(got) is type(value) and got == value, key


def check_events(events):
    assert events.dtype == EVENTS_DTYPE
    assert [tuple(e) for e in events.tolist()] == [(n, d, t) for n, d, t in fx.EVENTS]


@pytest.mark.parametrize("complib, complevel", [("zlib", 6), ("zlib", 1), ("zlib", 0),
                                                ("blosc", 6), ("blosc:zstd", 4)])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.float32])
def test_image_data(tmp_path, complib, complevel, dtype):
    if complib.startswith("blosc"):
        require_module("hdf5plugin")
    frames = frames_of(dtype)
    path = tmp_path / "series.h5"
    fx.write_image_h5(path, frames, complib=complib, complevel=complevel)
    with open_h5(path) as s:
        assert s.kind == "ImageData"
        assert len(s) == 7 and s.shape == (7, 64, 48) and s.dtype == dtype
        np.testing.assert_array_equal(s[0], frames[0])
        np.testing.assert_array_equal(s[-1], frames[-1])
        np.testing.assert_array_equal(s[2:6:3], frames[2:6:3])
        np.testing.assert_array_equal(s[::-2], frames[::-2])
        np.testing.assert_array_equal(s[[4, 1]], frames[[4, 1]])
        np.testing.assert_array_equal(s[3, 10:20, 5], frames[3, 10:20, 5])
        np.testing.assert_array_equal(np.asarray(s), frames)
        np.testing.assert_array_equal(np.stack(list(s)), frames)
        check_metadata(s.metadata)
        check_events(s.events)
        with pytest.raises(IndexError):
            s[7]
        with pytest.raises(IndexError):
            s[-8]
        mask = np.arange(7) % 3 == 0
        np.testing.assert_array_equal(s[mask], frames[mask])
        with pytest.raises(IndexError, match="boolean"):
            s[mask[:2]]


def test_pzf_frames_out_of_order_mixed_coding(tmp_path):
    frames = frames_of(np.uint16, n=6)
    codings = [dict(compression="raw"), dict(compression="huffman", order="F"),
               dict(compression="huffman", quant=(100.0, 0.5)), dict(compression="raw", order="F"),
               dict(compression="huffman"), dict(compression="huffman", order="F", quant=(90.0, 1.0))]
    blobs = [fx.pzf_blob(frames[i], frame_num=i, **codings[i]) for i in range(6)]
    expected = np.stack([fx.dequantized(frames[i], c["quant"]) if "quant" in c else frames[i]
                         for i, c in enumerate(codings)])
    path = tmp_path / "pzf.h5"
    fx.write_pzf_h5(path, blobs, order=[3, 1, 5, 0, 2, 4])
    with pzfcodec.open(path) as s:
        assert isinstance(s, H5Series) and s.kind == "PZFImageData"
        assert s.shape == (6, 64, 48) and s.dtype == np.uint16
        for i in range(6):
            np.testing.assert_array_equal(s[i], expected[i])
        np.testing.assert_array_equal(np.asarray(s), expected)
        np.testing.assert_array_equal(s[-2:], expected[-2:])
        check_metadata(s.metadata)
        check_events(s.events)
        assert "PZF" in s.storage


def test_pzf_without_events(tmp_path):
    frames = frames_of(np.uint8, n=2)
    path = tmp_path / "pzf.h5"
    fx.write_pzf_h5(path, [fx.pzf_blob(f, frame_num=i) for i, f in enumerate(frames)], events=[])
    with open_h5(path) as s:
        assert s.events.dtype == EVENTS_DTYPE and len(s.events) == 0
        np.testing.assert_array_equal(np.asarray(s), frames)


def test_image_data_empty_events_table(tmp_path):
    path = tmp_path / "s.h5"
    fx.write_image_h5(path, frames_of(np.uint16, n=2), events=[])
    with open_h5(path) as s:
        assert len(s.events) == 0 and s.events.dtype == EVENTS_DTYPE


def _pzf_file(tmp_path, n=5):
    frames = frames_of(np.uint16, n=n)
    blobs = [fx.pzf_blob(f, frame_num=i, compression="huffman") for i, f in enumerate(frames)]
    path = tmp_path / "pzf.h5"
    return frames, blobs, path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "header-only", "bad-magic", "huge-claim"])
def test_corrupt_frame_raises_only_when_read(tmp_path, damage):
    frames, blobs, path = _pzf_file(tmp_path)
    b = blobs[2]
    blobs[2] = {"truncated": b[: len(b) // 3], "garbage": b[:64] + bytes(range(256)) * 4,
                "header-only": b[:64], "bad-magic": b"XX" + b[2:],
                "huge-claim": b[:20] + (65535).to_bytes(4, "little") * 2 + b[28:]}[damage]
    fx.write_pzf_h5(path, blobs, order=[4, 2, 0, 1, 3])
    with open_h5(path) as s:
        for i in (0, 1, 3, 4):
            np.testing.assert_array_equal(s[i], frames[i])
        with pytest.raises(pzfcodec.PZFError, match="frame 2"):
            s[2]
        with pytest.raises(pzfcodec.PZFError):
            np.asarray(s)


def test_corrupt_first_frame_other_frames_readable(tmp_path):
    frames, blobs, path = _pzf_file(tmp_path)
    blobs[0] = b"garbage"
    fx.write_pzf_h5(path, blobs)
    with open_h5(path) as s:
        assert s.shape == (5, 64, 48)
        np.testing.assert_array_equal(s[1:], frames[1:])
        with pytest.raises(pzfcodec.CorruptDataError):
            s[0]


@pytest.mark.parametrize("position", [5, 1000, -1, -5])
def test_index_rows_outside_data(tmp_path, position):
    frames, blobs, path = _pzf_file(tmp_path)
    rows = np.empty(5, dtype=fx.PZF_INDEX_DTYPE)
    rows["FrameNum"] = rows["Position"] = np.arange(5)
    rows["Position"][3] = position
    fx.write_pzf_h5(path, blobs, index_rows=rows)
    with open_h5(path) as s:
        with pytest.raises(pzfcodec.CorruptDataError, match="outside"):
            s[3]  # a negative position must not wrap around to another frame
        np.testing.assert_array_equal(s[4], frames[4])


def test_index_missing_and_duplicate_frames(tmp_path):
    frames, blobs, path = _pzf_file(tmp_path)
    rows = np.empty(5, dtype=fx.PZF_INDEX_DTYPE)
    rows["FrameNum"] = [0, 1, 1, 3, 4]
    rows["Position"] = np.arange(5)
    fx.write_pzf_h5(path, blobs, index_rows=rows)
    with open_h5(path) as s:
        with pytest.raises(pzfcodec.CorruptDataError, match="missing"):
            s[2]
        with pytest.raises(pzfcodec.CorruptDataError, match="more than once"):
            s[1]
        np.testing.assert_array_equal(s[3], frames[3])


def test_truncated_file(tmp_path):
    frames = frames_of(np.uint16, n=20, shape=(128, 128))
    path = tmp_path / "s.h5"
    fx.write_image_h5(path, frames, complevel=0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(pzfcodec.CorruptDataError, match="truncated"):
        with open_h5(path) as s:
            np.asarray(s)


def test_not_a_series(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(pzfcodec.UnsupportedFormatError, match="not an HDF5"):
        open_h5(path)
    path = tmp_path / "r.h5r"
    fx.write_h5r(path, {"FitResults": fx.fit_results(5)})
    with pytest.raises(pzfcodec.UnsupportedFormatError, match="open_h5r"):
        open_h5(path)
    with pytest.raises(FileNotFoundError):
        open_h5(tmp_path / "missing.h5")


def test_malicious_metadata_pickle(tmp_path):
    frames = frames_of(np.uint16, n=2)
    path = tmp_path / "s.h5"
    fx.write_image_h5(path, frames)
    # an ASCII attribute ending in '.' is a pickle to PyTables: store a hostile one
    with h5py.File(path, "a") as f:
        set_str_attr(f["MetaData/Camera"], "Evil", fx.malicious_pickles()["eval-protocol0"], utf8=False)
    with open_h5(path) as s:
        np.testing.assert_array_equal(s[1], frames[1])  # frames stay readable
        with pytest.raises(pzfcodec.UnsafePickleError, match="Camera.Evil"):
            s.metadata


def test_ascii_text_that_is_not_a_pickle(tmp_path):
    path = tmp_path / "s.h5"
    fx.write_image_h5(path, frames_of(np.uint8, n=1))
    with h5py.File(path, "a") as f:
        set_str_attr(f["MetaData"], "OldNote", b"Written by an old version.", utf8=False)
    with open_h5(path) as s:
        assert s.metadata["OldNote"] == "Written by an old version."
        assert s.metadata["Sample.Notes"] == "Beads on a coverslip. Ends with a dot."


@pytest.mark.parametrize("order, sizes, strides", [
    ("XYCZT", dict(SizeZ=4, SizeT=2, SizeC=2), dict(z=2, t=8, c=1)),
    ("XYZTC", dict(SizeZ=4, SizeT=2, SizeC=2), dict(z=1, t=4, c=8)),
    ("XYCZT", dict(SizeZ=4, SizeT=-1, SizeC=2), dict(z=2, t=8, c=1)),
    ("XYTCZ", dict(SizeZ=-1, SizeT=2, SizeC=2), dict(z=4, t=1, c=2)),
])
def test_frame_index(tmp_path, order, sizes, strides):
    md = dict(fx.METADATA, DimOrder=order, **sizes)
    path = tmp_path / "s.h5"
    fx.write_image_h5(path, frames_of(np.uint8, n=16, shape=(4, 4)), md=md)
    with open_h5(path) as s:
        assert s.frame_index() == 0
        for axis, stride in strides.items():
            assert s.frame_index(**{axis: 1}) == stride, axis
        given = {a: sizes[f"Size{a.upper()}"] for a in "ztc"}
        known = np.prod([n for n in given.values() if n > 0])
        resolved = {a: n if n > 0 else 16 // known for a, n in given.items()}
        assert s.sizes == resolved
        with pytest.raises(IndexError):
            s.frame_index(z=resolved["z"])


def test_frame_index_defaults_without_metadata(tmp_path):
    md = {"Camera.ADOffset": 100.0}
    path = tmp_path / "s.h5"
    fx.write_image_h5(path, frames_of(np.uint8, n=5, shape=(4, 4)), md=md)
    with open_h5(path) as s:
        assert s.sizes == {"z": 5, "t": 1, "c": 1}  # frames are z, as in PYME
        assert s.frame_index(z=3) == 3


def test_closed_series(tmp_path):
    path = tmp_path / "s.h5"
    fx.write_image_h5(path, frames_of(np.uint8, n=2))
    s = open_h5(path)
    s.close()
    for read in (lambda: s[0], lambda: s.metadata, lambda: s.events):
        with pytest.raises(ValueError, match="closed"):
            read()


def test_open_pzf_file(tmp_path):
    """A .pzf frame file (PYME's single-frame format) opens by extension and by content."""
    frame = camera_frames(1, (24, 16), seed=21)[0]
    blob = pzfcodec.compress(frame, frame_num=5)
    for name in ("frame.pzf", "frame.bin"):
        path = tmp_path / name
        path.write_bytes(blob)
        np.testing.assert_array_equal(pzfcodec.open(path), frame)
        np.testing.assert_array_equal(pzfcodec.pyme.load_pzf(path), frame)
