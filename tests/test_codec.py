"""compress/decompress: round trips, headers, options and argument errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pzfcodec
from pzfcodec import PZFFormat
from pzfcodec.simulate import CAMERA, camera_frames

DTYPES = [np.uint8, np.uint16, np.float32]
COMPRESSIONS = ["raw", "huffman", "chunked"]


def _layouts(arr: np.ndarray):
    """C order, Fortran order and a strided view of the same values."""
    yield np.ascontiguousarray(arr)
    yield np.asfortranarray(arr)
    big = np.zeros(tuple(2 * s for s in arr.shape), arr.dtype)
    view = big[tuple(slice(None, None, 2) for _ in arr.shape)]
    view[...] = arr
    yield view


def _assert_equal_bits(a: np.ndarray, b: np.ndarray):
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype == np.float32:
        a, b = a.view(np.uint32), b.view(np.uint32)
    np.testing.assert_array_equal(a, b)


arrays = st.sampled_from(DTYPES).flatmap(lambda dt: hnp.arrays(
    dt, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=24),
    elements=(st.floats(width=32, allow_nan=True) if dt == np.float32 else None)))


@settings(max_examples=150, deadline=None)
@given(arrays, st.sampled_from(COMPRESSIONS), st.integers(1, 3), st.integers(1, 64))
def test_lossless_roundtrip(arr, compression, threads, chunk):
    for layout in _layouts(arr):
        blob = pzfcodec.compress(layout, compression, threads=threads, chunk_size=chunk)
        out = pzfcodec.decompress(blob, threads=threads)
        # depth 1 comes back 2-D (the header cannot tell (w, h) from (w, h, 1))
        _assert_equal_bits(out.reshape(arr.shape), np.ascontiguousarray(arr))
        assert out.flags.f_contiguous if layout.flags.f_contiguous else out.flags.c_contiguous


@settings(max_examples=150, deadline=None)
@given(arrays, st.sampled_from(COMPRESSIONS),
       st.floats(-50, 1000, width=32), st.floats(0.0625, 20, width=32))
def test_quantised_roundtrip(arr, compression, offset, scale):
    """Decoded = PYME's de-quantisation of our exact symbols; symbols are
    within half a step of the input in the square-root domain."""
    blob = pzfcodec.compress(arr, compression, (offset, scale), chunk_size=7)
    out = pzfcodec.decompress(blob).reshape(arr.shape)
    q = pzfcodec.quantize(arr, offset, scale)
    _assert_equal_bits(out, pzfcodec.dequantize(q, offset, scale, arr.dtype))
    x = arr.astype(np.float64)
    ok = np.isfinite(x) & (q < 255)
    root = np.sqrt(np.maximum(x - np.float64(np.float32(offset)), 0))
    err = np.abs(root - q * np.float64(np.float32(scale)))[ok]
    assert np.all(err <= np.float64(np.float32(scale)) / 2 * (1 + 1e-9))


def test_header_fields_roundtrip():
    frame = np.arange(6 * 5 * 4, dtype=np.uint16).reshape(6, 5, 4)
    blob = pzfcodec.compress(frame, "huffman", pzfcodec.Quantization(90.0, 0.75),
                             sequence_id=-123456789012, frame_num=2**32 - 1,
                             timestamp=2**64 - 1)
    h = pzfcodec.read_header(blob)
    assert (h.version, h.dtype, h.compression, h.dim_order) == (3, np.uint16, "huffman", "C")
    assert h.quantization == pzfcodec.Quantization(90.0, 0.75)
    assert (h.sequence_id, h.frame_num, h.timestamp) == (-123456789012, 2**32 - 1, 2**64 - 1)
    assert h.shape == (6, 5, 4) and h.array_shape == (6, 5, 4)
    assert h.data_offset == 64 and h.decoded_size == frame.nbytes
    assert blob[:2] == b"BD" and blob[6:7] == b"C"


def test_pyme_dim_order_rule():
    """Like PYME: 'F' when Fortran-contiguous (also when both), else 'C'."""
    assert pzfcodec.read_header(pzfcodec.compress(np.zeros((1, 7), np.uint16))).dim_order == "F"
    assert pzfcodec.read_header(pzfcodec.compress(np.zeros((3, 7), np.uint16))).dim_order == "C"
    f = np.asfortranarray(np.zeros((3, 7), np.uint16))
    assert pzfcodec.read_header(pzfcodec.compress(f)).dim_order == "F"


def test_chunked_output_independent_of_threads():
    frame = camera_frames(1, (256, 200), seed=1)[0]
    q = pzfcodec.camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu)
    blobs = {pzfcodec.compress(frame, "chunked", q, threads=t, chunk_size=5000)
             for t in (1, 2, 3, 8)}
    assert len(blobs) == 1
    blob = blobs.pop()
    assert int.from_bytes(blob[64:66], "little") == math.ceil(frame.size / 5000)
    for t in (1, 2, 0):
        np.testing.assert_array_equal(pzfcodec.decompress(blob, threads=t),
                                      pzfcodec.decompress(blob))


def test_decompress_into_out():
    frame = camera_frames(1, (40, 30), seed=2)[0]
    blob = pzfcodec.compress(frame)
    out = np.empty_like(frame)
    assert pzfcodec.decompress(blob, out=out) is out
    np.testing.assert_array_equal(out, frame)
    flat = np.empty(frame.size, frame.dtype)
    pzfcodec.decompress(blob, out=flat)
    np.testing.assert_array_equal(flat.reshape(frame.shape), frame)
    unaligned = np.frombuffer(bytearray(frame.nbytes + 1), np.uint16, frame.size, offset=1)
    read_only = np.empty_like(frame)
    read_only.flags.writeable = False
    for bad, why in ((np.empty(frame.shape, np.float32), "dtype float32"),
                     (np.empty(frame.size + 1, np.uint16), f"{frame.size + 1} elements"),
                     (np.empty(frame.shape, np.uint16, order="F"), "not C-contiguous"),
                     (unaligned, "not aligned"), (read_only, "read-only")):
        with pytest.raises(pzfcodec.BadArgumentError, match=why):
            pzfcodec.decompress(blob, out=bad)


@pytest.mark.parametrize("chunk_size", [2**20, 2**32 - 1, 2**40, 2**64 - 1])
def test_chunk_size_beyond_the_frame(chunk_size):
    """One chunk holding the whole frame, however large the size asked for."""
    frame = camera_frames(1, (40, 30), seed=2)[0]
    blob = pzfcodec.compress(frame, "chunked", chunk_size=chunk_size)
    assert int.from_bytes(blob[64:66], "little") == 1
    np.testing.assert_array_equal(pzfcodec.decompress(blob), frame)


def test_camera_quantization():
    q = pzfcodec.camera_quantization(100, 0.5, step_sigma=1.0)
    assert q.offset == 100 and q.scale == pytest.approx(0.5 / math.sqrt(0.5))
    assert pzfcodec.camera_quantization(100, 2.0, 0.5).scale == pytest.approx(0.25 / math.sqrt(2))
    for args in ((100, 0), (100, -1), (100, 1, 0), (float("nan"), 1)):
        with pytest.raises(pzfcodec.BadArgumentError):
            pzfcodec.camera_quantization(*args)


@pytest.mark.parametrize("call, match", [
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.int32)), "uint8, uint16 or float32"),
    (lambda: pzfcodec.compress(np.zeros(4, np.uint16)), "2-D or 3-D"),
    (lambda: pzfcodec.compress(np.zeros((2, 2, 2, 2), np.uint16)), "2-D or 3-D"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), "zip"), "compression"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), quantization=(0, 0)), "scale"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), quantization=5), "quantization"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), frame_num=-1), "frame_num"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), threads=-2), "threads"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), chunk_size=0), "chunk_size"),
    (lambda: pzfcodec.decompress("not bytes"), "buffer"),
    (lambda: pzfcodec.huffman_decompress(b"", -1), "nbytes"),
    (lambda: pzfcodec.huffman_decompress(b"", 2.5), "nbytes must be an integer"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), quantization=("a", "b")), "numbers"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), sequence_id=None), "sequence_id"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), sequence_id=1.7), "sequence_id"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), timestamp="5"), "timestamp"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), threads=2**40), "threads"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), chunk_size=2**70), "chunk_size"),
    (lambda: pzfcodec.compress(np.zeros((4, 4), np.uint16), chunk_size=2.5), "chunk_size"),
    (lambda: pzfcodec.decompress(pzfcodec.compress(np.zeros((4, 4), np.uint16)),
                                 max_decoded_size=2**64), "max_decoded_size"),
    (lambda: pzfcodec.decompress(pzfcodec.compress(np.zeros((4, 4), np.uint16)),
                                 out=bytearray(32)), "numpy array"),
    (lambda: pzfcodec.dequantize(np.array([300]), 100, 1.0), "0 to 255"),
    (lambda: pzfcodec.dequantize(np.array([-1]), 100, 1.0), "0 to 255"),
    (lambda: pzfcodec.dequantize(np.array([1.7]), 100, 1.0), "0 to 255"),
    (lambda: pzfcodec.dequantize(np.zeros(2, np.uint8), 100, float("nan")), "finite"),
])
def test_bad_arguments(call, match):
    with pytest.raises(pzfcodec.BadArgumentError, match=match):
        call()


def test_big_endian_input_is_converted():
    frame = np.arange(12, dtype=">u2").reshape(3, 4)
    np.testing.assert_array_equal(pzfcodec.decompress(pzfcodec.compress(frame)), frame)


def test_pzfformat_dropin():
    frame = camera_frames(1, (32, 24), seed=4)[0]
    blob = PZFFormat.dumps(frame, sequenceID=5, frameNum=9, frameTimestamp=77,
                           compression=PZFFormat.DATA_COMP_HUFFCODE,
                           quantization=PZFFormat.DATA_QUANT_SQRT, quantizationOffset=100,
                           quantizationScale=0.5)
    data, header = PZFFormat.loads(blob)
    assert data.shape == (32, 24, 1) and data.dtype == np.uint16
    assert header.dtype == np.dtype(PZFFormat.header_dtype_v3) and header.shape == (1,)
    assert (header["SequenceID"][0], header["FrameNum"][0], header["FrameTimestamp"][0]) == (5, 9, 77)
    assert header["DataQuantization"][0] == PZFFormat.DATA_QUANT_SQRT
    assert PZFFormat.load_header(blob)["Width"][0] == 32
    for bad in (b"BD", b"x" * 64, blob[:40]):
        with pytest.raises(pzfcodec.CorruptDataError):
            PZFFormat.load_header(bad)
    raw = PZFFormat.dumps(frame, compression=PZFFormat.DATA_COMP_RAW)
    np.testing.assert_array_equal(PZFFormat.loads(raw)[0][..., 0], frame)
    # raw + quantised stores symbols (PYME's own writer gets this wrong)
    rq = PZFFormat.dumps(frame, compression=PZFFormat.DATA_COMP_RAW,
                         quantization=PZFFormat.DATA_QUANT_SQRT, quantizationOffset=100,
                         quantizationScale=0.5)
    assert len(rq) == 64 + frame.size
    np.testing.assert_array_equal(PZFFormat.loads(rq)[0], data)


def test_stack_api():
    frames = camera_frames(5, (48, 32), seed=5)
    blobs = pzfcodec.compress_stack(frames, quantization=(100, 0.7), sequence_id=3,
                                    first_frame=10, threads=2)
    assert [pzfcodec.read_header(b).frame_num for b in blobs] == list(range(10, 15))
    out = pzfcodec.decompress_stack(blobs, threads=2)
    assert out.shape == frames.shape
    for f, b in zip(out, blobs):
        np.testing.assert_array_equal(f, pzfcodec.decompress(b))
    with pytest.raises(pzfcodec.BadArgumentError):
        pzfcodec.decompress_stack([blobs[0], pzfcodec.compress(frames[0][:10])])


def test_empty_frames():
    for comp in COMPRESSIONS:
        out = pzfcodec.decompress(pzfcodec.compress(np.zeros((0, 5), np.uint16), comp))
        assert out.shape == (0, 5)


def test_gil_released_threads_scale_correctly():
    """Many threads at once give the same results as one (no shared state)."""
    from concurrent.futures import ThreadPoolExecutor
    frames = camera_frames(8, (64, 64), seed=6)
    ref = [pzfcodec.compress(f, "chunked", (100, 0.7), chunk_size=999) for f in frames]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda f: pzfcodec.compress(f, "chunked", (100, 0.7),
                                                        chunk_size=999, threads=2), frames))
    assert got == ref


def test_dim_order_keyword():
    frame = np.arange(12, dtype=np.uint16).reshape(3, 4)
    for order in ("C", "F"):
        blob = pzfcodec.compress(frame, dim_order=order)
        assert pzfcodec.read_header(blob).dim_order == order
        np.testing.assert_array_equal(pzfcodec.decompress(blob), frame)
    column = np.zeros((5, 1), np.uint16)  # contiguous both ways: PYME says 'F'
    assert pzfcodec.read_header(pzfcodec.compress(column, dim_order="C")).dim_order == "C"
    with pytest.raises(pzfcodec.BadArgumentError, match="dim_order"):
        pzfcodec.compress(frame, dim_order="X")


def _chunks(stream_bytes: int) -> int:
    """Chunks of the default size in a stream of that many bytes."""
    return -(-stream_bytes // pzfcodec._core.DEFAULT_CHUNK_SIZE)


def test_sampled_plans_large_frames():
    """Large quantised frames are planned from a sample of their pixels: the
    stream stays within 0.5% of an exact plan, and a frame built to fool the
    sample (every 8th pixel dark, the others bright) is still coded right."""
    q = pzfcodec.Quantization(100.0, 0.7)
    frame = camera_frames(1, (1024, 1024), seed=9)[0]
    sampled = pzfcodec.compress(frame, quantization=q)
    symbols = pzfcodec.quantize(frame, q.offset, q.scale)
    exact = pzfcodec.huffman_compress(symbols)  # the same symbols, counted exactly
    assert len(sampled) - 64 <= len(exact) * 1.005
    expected = pzfcodec.dequantize(symbols, q.offset, q.scale)
    np.testing.assert_array_equal(pzfcodec.decompress(sampled), expected)
    rng = np.random.default_rng(10)
    tricky = rng.integers(20000, 65536, (1024, 1024)).astype(np.uint16)
    tricky.reshape(-1)[::8] = 100
    for comp in ("huffman", "chunked"):
        blob = pzfcodec.compress(tricky, comp, q)
        want = pzfcodec.dequantize(pzfcodec.quantize(tricky, q.offset, q.scale), q.offset, q.scale)
        np.testing.assert_array_equal(pzfcodec.decompress(blob), want)
        assert len(blob) <= 64 + 2 + _chunks(tricky.size) * (8 + 321) + tricky.size


def test_sampled_plans_lossless():
    """Large lossless streams are planned from a sample too (within 0.5% of an
    exact count); inputs built against the sample still round-trip."""
    frame = camera_frames(1, (1024, 1024), seed=11)[0]
    blob = pzfcodec.compress(frame)
    assert len(blob) - 64 <= len(pzfcodec.huffman_compress(frame.tobytes())) * 1.005
    np.testing.assert_array_equal(pzfcodec.decompress(blob), frame)
    rng = np.random.default_rng(12)
    uniform = rng.integers(0, 256, 1 << 20, dtype=np.uint8)
    sparse = uniform.copy()
    sparse[::7] = 0                        # the sample sees only zeros: counted exactly
    fooled = uniform.copy()
    fooled[::7] = 0
    fooled[7 * rng.integers(0, len(fooled) // 7, 300)] = rng.integers(1, 256, 300, dtype=np.uint8)
    for data in (sparse, fooled):          # fooled: the sampled code overflows, recounted
        arr = data.reshape(1024, 1024)
        for comp in ("huffman", "chunked"):
            blob = pzfcodec.compress(arr, comp)
            np.testing.assert_array_equal(pzfcodec.decompress(blob), arr)
            assert len(blob) <= 64 + 2 + _chunks(arr.size) * (8 + 321) + arr.size


def test_destination_too_small_is_a_bad_argument():
    """PZF_ERR_DST_SIZE from the C core is a BadArgumentError that says how
    large the destination must be."""
    from pzfcodec import _core
    blob = pzfcodec.compress(np.arange(64, dtype=np.uint16).reshape(8, 8))
    with pytest.raises(pzfcodec.BadArgumentError, match="at least the decoded size"):
        _core.decompress_into(blob, bytearray(100), 1 << 20, 1)


def test_default_chunks_let_one_frame_use_16_threads():
    """A quantised 2048x2048 frame gets at least 32 chunks by default, and its
    blob and decoded frame are the same on any number of threads."""
    q = pzfcodec.Quantization(100.0, 0.7)
    rng = np.random.default_rng(5)
    frame = (100 + rng.poisson(30, (2048, 2048))).astype(np.uint16)
    blob = pzfcodec.compress(frame, "chunked", q)
    assert int.from_bytes(blob[64:66], "little") >= 32
    out = pzfcodec.decompress(blob)
    for threads in (2, 5, 16):
        assert pzfcodec.compress(frame, "chunked", q, threads=threads) == blob
        np.testing.assert_array_equal(pzfcodec.decompress(blob, threads=threads), out)


def test_concurrent_callers_share_the_thread_pool():
    """Python threads coding and decoding chunked frames at once, each on
    several of the core's pooled threads, get the one-thread results."""
    from concurrent.futures import ThreadPoolExecutor
    q = pzfcodec.Quantization(100.0, 0.7)
    frames = camera_frames(6, (256, 192), seed=4)
    want = [pzfcodec.compress(f, "chunked", q, chunk_size=4096) for f in frames]

    def work(i):
        blob = pzfcodec.compress(frames[i], "chunked", q, threads=2 + i, chunk_size=4096)
        return blob, pzfcodec.decompress(blob, threads=7 - i)

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(work, range(6)))
    for (blob, out), ref in zip(got, want):
        assert blob == ref
        np.testing.assert_array_equal(out, pzfcodec.decompress(ref))
