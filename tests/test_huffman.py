"""The Huffman coder against the real peer (pymecompress) and hand-built trees."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pzfcodec
from common import require_module
from pzfcodec.simulate import camera_frames


@pytest.fixture(scope="module")
def bcl():
    return require_module("pymecompress.bcl")


def _inputs(seed: int, n: int) -> dict:
    rng = np.random.default_rng(seed)
    frame = camera_frames(1, (64, 64), seed=seed)[0]
    return {
        "uniform": rng.integers(0, 256, n, dtype=np.uint8),
        "geometric": np.minimum(rng.geometric(0.3, n), 255).astype(np.uint8),
        "zipf": np.minimum(rng.zipf(1.3, n), 255).astype(np.uint8),
        "two": rng.integers(0, 2, n, dtype=np.uint8),
        "constant": np.full(n, 7, np.uint8),
        "camera_u16_bytes": frame.view(np.uint8).ravel()[:n],
        "camera_quantised": pzfcodec.quantize(frame, 100, 0.7).ravel()[:n],
    }


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [1, 2, 7, 100, 4099, 70000])
def test_pymecompress_decodes_ours(bcl, seed, n):
    for name, data in _inputs(seed, n).items():
        stream = pzfcodec.huffman_compress(data)
        out = np.asarray(bcl.HuffmanDecompress(np.frombuffer(stream, np.uint8).copy(),
                                               data.size))
        np.testing.assert_array_equal(out, data, err_msg=name)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [1, 2, 7, 100, 4099, 70000])
@pytest.mark.parametrize("encoder", ["HuffmanCompress", "HuffmanCompressOrig"])
def test_we_decode_pymecompress(bcl, seed, n, encoder):
    for name, data in _inputs(seed, n).items():
        stream = bytes(getattr(bcl, encoder)(data.copy()))
        assert pzfcodec.huffman_decompress(stream, data.size) == data.tobytes(), name


@pytest.mark.parametrize("seed", range(3))
def test_size_within_one_percent_of_pymecompress(bcl, seed):
    """Length-limited codes cost < 1% against the peer's unlimited ones."""
    for name, data in _inputs(seed, 200000).items():
        ours = len(pzfcodec.huffman_compress(data))
        theirs = len(bytes(bcl.HuffmanCompressOrig(data.copy())))
        assert ours <= theirs * 1.01 + 2, (name, ours, theirs)


def _fibonacci_data(levels: int, seed: int) -> np.ndarray:
    """Symbol k appears fib(k) times: the Huffman tree becomes a chain."""
    counts = [1, 1]
    while len(counts) < levels:
        counts.append(counts[-1] + counts[-2])
    data = np.repeat(np.arange(levels, dtype=np.uint8), counts)
    np.random.default_rng(seed).shuffle(data)
    return data


def test_deep_peer_trees_decode(bcl):
    """pymecompress's unlimited encoder builds >25-bit codes; we decode them."""
    data = _fibonacci_data(30, 0)  # codes up to 29 bits
    stream = bytes(bcl.HuffmanCompressOrig(data.copy()))
    assert pzfcodec.huffman_decompress(stream, data.size) == data.tobytes()
    # and our length-limited stream of the same data is read by the peer
    ours = pzfcodec.huffman_compress(data)
    out = np.asarray(bcl.HuffmanDecompress(np.frombuffer(ours, np.uint8).copy(), data.size))
    np.testing.assert_array_equal(out, data)


class BitWriter:
    """Reference MSB-first bit writer for hand-built streams."""

    def __init__(self):
        self.bits = []

    def put(self, value: int, nbits: int):
        self.bits += [(value >> (nbits - 1 - i)) & 1 for i in range(nbits)]

    def tobytes(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return np.packbits(np.array(bits, np.uint8)).tobytes()


def _chain_stream(message: list) -> bytes:
    """A 256-leaf chain tree (depth 255, codes 1^k 0) and message codes."""
    w = BitWriter()
    for sym in range(255):
        w.put(0, 1)          # internal node
        w.put(0x100 | sym, 9)  # branch 0: leaf
    w.put(0x100 | 255, 9)    # last branch 1: leaf
    for sym in message:
        if sym == 255:
            w.put((1 << 255) - 1, 255)
        else:
            w.put(((1 << sym) - 1) << 1, sym + 1)
    return w.tobytes()


def test_deepest_possible_tree(bcl):
    """Depth 255 (the maximum for 256 leaves): every code decodes."""
    message = [255, 0, 254, 1, 128, 255, 3, 200] * 50
    stream = _chain_stream(message)
    assert pzfcodec.huffman_decompress(stream, len(message)) == bytes(message)
    peer = np.asarray(bcl.HuffmanDecompress(np.frombuffer(stream, np.uint8).copy(),
                                            len(message)))
    np.testing.assert_array_equal(peer, message)


def test_single_symbol_with_and_without_zero_bits():
    w = BitWriter()
    w.put(0x100 | 42, 9)
    bare = w.tobytes()
    w.put(0, 1000)  # PYME writes one 0 bit per symbol
    padded = w.tobytes()
    for stream in (bare, padded):
        assert pzfcodec.huffman_decompress(stream, 1000) == bytes([42]) * 1000


def test_empty():
    assert pzfcodec.huffman_compress(b"") == b""
    assert pzfcodec.huffman_decompress(b"", 0) == b""


@pytest.mark.parametrize("stream, n", [
    (b"", 5),                      # nothing to read
    (b"\x00", 5),                  # a tree that runs past the input
    (_chain_stream([255] * 4)[:-40], 4),  # codes that run out
])
def test_truncated_streams_raise(stream, n):
    with pytest.raises(pzfcodec.CorruptDataError):
        pzfcodec.huffman_decompress(stream, n)


def test_too_many_leaves_raise():
    w = BitWriter()
    for _ in range(300):  # a chain with 301 leaves
        w.put(0, 1)
        w.put(0x100, 9)
    w.put(0x100, 9)
    with pytest.raises(pzfcodec.CorruptDataError):
        pzfcodec.huffman_decompress(w.tobytes() + b"\x00" * 8, 3)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=5000))
def test_roundtrip_any_bytes(data):
    assert pzfcodec.huffman_decompress(pzfcodec.huffman_compress(data), len(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 5000))
def test_random_streams_never_crash(stream, n):
    try:
        out = pzfcodec.huffman_decompress(stream, n)
        assert len(out) == n
    except pzfcodec.CorruptDataError:
        pass
