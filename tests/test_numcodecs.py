"""The numcodecs codec pzfcodec.numcodecs.PZF and Zarr v2 arrays that use it."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pzfcodec
from pzfcodec.simulate import camera_frames
import common as nc
from common import ADAPTERS, CONTRACT, require_module

numcodecs = require_module("numcodecs")

from pzfcodec.chunks import frame_shape  # noqa: E402
from pzfcodec.numcodecs import PZF  # noqa: E402

LOSSLESS_DTYPES = ["u1", "<u2", "<f4", "i1", "<i2", "<i4", "<u4", "<i8", "<f8", "<c8",
                   ">u2", ">f4", "?", "<M8[ms]"]
SHAPES = [(37,), (13, 9), (5, 6, 7), (2, 3, 4, 5), (2, 1, 3, 4, 2)]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    if dtype.kind == "f" or dtype.kind == "c":
        return (rng.normal(100, 30, n) * 1.5).astype(dtype).reshape(shape)
    if dtype.kind == "b":
        return (rng.random(n) < 0.3).reshape(shape)
    raw = rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", LOSSLESS_DTYPES)
def test_numcodecs_round_trip_checks(dtype, order):
    for shape in SHAPES:
        arr = np.asarray(sample(dtype, shape), order=order)
        for codec in (PZF(), PZF(compression="chunked", threads=2, chunk_size=64),
                      PZF(compression="raw")):
            nc.check_encode_decode(arr, codec)


@pytest.mark.parametrize("dtype", ["u1", "<u2", "<f4"])
def test_array_round_trip_keeps_dtype(dtype):
    arr = sample(dtype, (3, 40, 50))
    nc.check_encode_decode_array(arr, PZF())
    dec = PZF().decode(PZF().encode(arr))
    assert dec.dtype == arr.dtype and dec.ndim == 1


@pytest.mark.parametrize("shape", SHAPES + [(), (4, 0, 3)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_chunks_are_pzf_blobs_with_documented_shape(shape, order):
    arr = np.asarray(sample("<u2", shape), order=order)
    blob = PZF().encode(arr)
    header = pzfcodec.read_header(blob)
    assert header.version == 3 and header.dtype == np.uint16
    fortran = arr.ndim > 1 and not arr.flags.c_contiguous
    assert header.dim_order == ("F" if fortran else "C")
    assert tuple(header.shape) == frame_shape(shape, header.dim_order)
    frame = pzfcodec.decompress(blob)
    np.testing.assert_array_equal(frame.reshape(-1, order="A"), arr.reshape(-1, order="A"))


def test_frame_shape_mapping():
    assert frame_shape((7,)) == (7, 1, 1)
    assert frame_shape((7, 8)) == (7, 8, 1)
    assert frame_shape((7, 8, 9)) == (7, 8, 9)
    assert frame_shape((2, 3, 7, 8, 9)) == (42, 8, 9)
    assert frame_shape((2, 3, 7, 8, 9), "F") == (2, 3, 504)
    assert frame_shape((7, 8), "F") == (7, 8, 1)
    assert frame_shape(()) == (1, 1, 1)


def test_other_dtypes_are_coded_as_bytes():
    arr = sample("<i4", (6, 5))
    header = pzfcodec.read_header(PZF().encode(arr))
    assert header.dtype == np.uint8 and tuple(header.shape) == (6, 5, 4)
    header = pzfcodec.read_header(PZF().encode(np.asfortranarray(arr)))
    assert header.dim_order == "F" and tuple(header.shape) == (24, 5, 1)


def test_non_contiguous_input():
    arr = sample("<u2", (20, 30))[::2, ::3]
    dec = PZF().decode(PZF().encode(arr))
    np.testing.assert_array_equal(dec.reshape(arr.shape), arr)


@pytest.mark.parametrize("codec", [PZF(), PZF(offset=100, scale=0.7),
                                   PZF(compression="chunked", threads=4, chunk_size=4096),
                                   PZF(offset=0, scale=2.5, compression="raw"),
                                   PZF.from_camera(100, 0.5, 0.5)])
def test_config_round_trip(codec):
    nc.check_config(codec)
    config = codec.get_config()
    assert config["id"] == "pzf"
    assert numcodecs.get_codec(json.loads(json.dumps(config))).get_config() == config
    assert eval(repr(codec), {"PZF": PZF}) == codec


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
def test_codec_contract(check):
    check(ADAPTERS["numcodecs"]())


def test_config_does_not_store_threads():
    config = PZF(compression="chunked", threads=4).get_config()
    assert config == {"id": "pzf", "offset": None, "scale": None, "compression": "chunked",
                      "chunk_size": None}
    # configurations written by earlier versions, with threads, still open
    old = numcodecs.get_codec(dict(config, threads=4))
    assert old == PZF(compression="chunked") and old.threads == 1


def test_from_camera_uses_camera_quantization():
    codec = PZF.from_camera(100, 0.5, step_sigma=0.5)
    q = pzfcodec.camera_quantization(100, 0.5, 0.5)
    assert (codec.offset, codec.scale) == (q.offset, q.scale)


def test_object_arrays_are_refused():
    nc.check_err_encode_object_buffer(PZF())
    nc.check_err_decode_object_buffer(PZF())


@pytest.mark.parametrize("kwargs", [dict(offset=100), dict(scale=1), dict(offset=0, scale=0),
                                    dict(offset=0, scale=-1), dict(offset=0, scale=float("nan")),
                                    dict(offset=float("inf"), scale=1), dict(compression="zstd"),
                                    dict(threads=0), dict(threads=2), dict(threads=1.5),
                                    dict(compression="chunked", threads=257),
                                    dict(chunk_size=1000),
                                    dict(compression="chunked", chunk_size=0)])
def test_bad_options(kwargs):
    with pytest.raises(pzfcodec.BadArgumentError):
        PZF(**kwargs)


@pytest.mark.parametrize("dtype", ["u1", "<u2", "<f4"])
@pytest.mark.parametrize("compression", [dict(compression="huffman"), dict(compression="raw"),
                                         dict(compression="chunked", chunk_size=1000, threads=2)])
def test_quantised_round_trip(dtype, compression):
    frames = camera_frames(2, (64, 48), seed=3).astype(dtype)
    codec = PZF(offset=100, scale=0.7, **compression)
    blob = codec.encode(frames)
    header = pzfcodec.read_header(blob)
    assert header.quantization is not None
    expected = pzfcodec.dequantize(pzfcodec.quantize(frames, 100, 0.7), 100, 0.7, frames.dtype)
    dec = codec.decode(blob)
    assert dec.dtype == frames.dtype
    np.testing.assert_array_equal(dec.reshape(frames.shape), expected.reshape(frames.shape))
    out = np.empty_like(frames)
    assert codec.decode(blob, out=out) is out
    np.testing.assert_array_equal(out, expected.reshape(frames.shape))
    if compression["compression"] != "raw":
        assert len(blob) < frames.nbytes / 2


def test_quantisation_refuses_other_dtypes():
    with pytest.raises(pzfcodec.BadArgumentError, match="uint16"):
        PZF(offset=0, scale=1).encode(np.zeros((4, 4), np.int32))


def test_decode_out_must_have_the_decoded_size():
    arr = sample("<u2", (10, 10))
    blob = PZF().encode(arr)
    with pytest.raises(pzfcodec.BadArgumentError, match="bytes"):
        PZF().decode(blob, out=np.empty(99, np.uint16))
    out = bytearray(arr.nbytes)
    PZF().decode(blob, out=out)
    assert bytes(out) == arr.tobytes()


def test_corrupt_blob_raises():
    blob = bytearray(PZF().encode(sample("<u2", (64, 64))))
    with pytest.raises(pzfcodec.PZFError):
        PZF().decode(bytes(blob[: len(blob) // 2]))
    blob[0:2] = b"XX"
    with pytest.raises(pzfcodec.CorruptDataError):
        PZF().decode(bytes(blob))


def run_fresh(code, *args):
    """Run ``code`` in a new interpreter (nothing of pzfcodec imported beforehand)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_codec_found_through_entry_point_in_new_process():
    out = run_fresh("""
        import sys, numcodecs
        codec = numcodecs.get_codec({"id": "pzf", "offset": 100.0, "scale": 0.5})
        print(type(codec).__module__, codec.scale)
    """)
    assert out.split() == ["pzfcodec.numcodecs", "0.5"]


@pytest.mark.parametrize("order", ["C", "F"])
def test_zarr_v2_store_read_in_new_process(tmp_path, order):
    zarr = require_module("zarr")
    data = camera_frames(5, (40, 30), seed=1)
    path = tmp_path / "v2.zarr"
    z = zarr.create_array(path, shape=data.shape, chunks=(2, 16, 30), dtype=data.dtype,
                          zarr_format=2, order=order, compressors=PZF(), filters=None)
    z[:] = data
    meta = json.loads((path / ".zarray").read_text())
    assert meta["compressor"] == PZF().get_config()
    blob = (path / "0.0.0").read_bytes()
    chunk = pzfcodec.decompress(blob)
    np.testing.assert_array_equal(chunk.reshape(-1, order="A"),
                                  data[:2, :16].reshape(-1, order=order))
    expected = tmp_path / "expected.npy"
    np.save(expected, data)
    run_fresh("""
        import sys
        import numpy as np, zarr
        assert "pzfcodec" not in sys.modules
        z = zarr.open_array(sys.argv[1], mode="r")
        np.testing.assert_array_equal(z[:], np.load(sys.argv[2]))
        np.testing.assert_array_equal(z[1:4, 20:], np.load(sys.argv[2])[1:4, 20:])
        assert type(z.metadata.compressor).__module__ == "pzfcodec.numcodecs"
    """, path, expected)


def test_zarr_v2_quantised(tmp_path):
    zarr = require_module("zarr")
    data = camera_frames(3, (64, 64), seed=2)
    codec = PZF.from_camera(100, 0.5, 1.0)
    z = zarr.create_array(tmp_path / "q.zarr", shape=data.shape, chunks=(1, 64, 64),
                          dtype=data.dtype, zarr_format=2, compressors=codec, filters=None)
    z[:] = data
    expected = pzfcodec.dequantize(pzfcodec.quantize(data, codec.offset, codec.scale),
                                   codec.offset, codec.scale, data.dtype)
    np.testing.assert_array_equal(z[:], expected.reshape(data.shape))
