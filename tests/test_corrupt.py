"""Damaged, hostile and oversized blobs raise the library's errors, never crash."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pzfcodec
from common import load_vector, vector_cases
from pzfcodec.simulate import camera_frames


def _blobs():
    frame = camera_frames(1, (40, 36), seed=8)[0]
    out = [load_vector(c, "blob") for c in vector_cases("pzf")]
    for comp in ("raw", "huffman", "chunked"):
        for q in (None, (100.0, 0.6)):
            out.append(pzfcodec.compress(frame, comp, q, chunk_size=300))
            out.append(pzfcodec.compress(frame.astype(np.float32), comp, q, chunk_size=300))
    return out


BLOBS = _blobs()


def _decode(blob: bytes) -> None:
    """Decode; only pzfcodec's own errors may escape.  (The size limit keeps
    random headers from legitimately decoding gigabytes of a constant.)"""
    try:
        pzfcodec.decompress(blob, threads=2, max_decoded_size=1 << 24)
    except pzfcodec.PZFError:
        pass


@pytest.mark.parametrize("blob", BLOBS, ids=range(len(BLOBS)))
def test_every_truncation(blob):
    for k in range(len(blob)):
        cut = blob[:k]
        if k < 64 or pzfcodec.read_header(blob).compression == "raw":
            with pytest.raises(pzfcodec.PZFError):
                pzfcodec.decompress(cut)
        else:
            _decode(cut)  # a Huffman stream may survive losing its padding byte


@pytest.mark.parametrize("blob", BLOBS, ids=range(len(BLOBS)))
def test_bit_flips(blob):
    rng = np.random.default_rng(len(blob))
    for _ in range(200):
        b = bytearray(blob)
        for pos in rng.integers(0, len(b), size=int(rng.integers(1, 4))):
            b[pos] ^= 1 << int(rng.integers(0, 8))
        _decode(bytes(b))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data):
    _decode(data)
    _decode(b"BD\x03" + data)


def _header(version=3, fmt=1, comp=1, quant=0, order=b"C", w=4, h=4, d=1, offset=64):
    head = b"BD" + bytes([version, fmt, comp, quant]) + order + b"\0"
    head += struct.pack("<qIIIIQff", 0, 0, w, h, d, 0, 0.0, 0.0)
    if version >= 3:
        head += struct.pack("<I", offset) + b"\0" * 12
    return head


@pytest.mark.parametrize("blob, error", [
    (b"", pzfcodec.CorruptDataError),
    (b"XY" + _header()[2:], pzfcodec.CorruptDataError),
    (_header(version=4), pzfcodec.UnsupportedFormatError),
    (_header(fmt=3), pzfcodec.UnsupportedFormatError),
    (_header(comp=4), pzfcodec.UnsupportedFormatError),
    (_header(quant=2), pzfcodec.UnsupportedFormatError),
    (_header(order=b"X"), pzfcodec.CorruptDataError),
    (_header(offset=10), pzfcodec.CorruptDataError),
    (_header(offset=1000), pzfcodec.CorruptDataError),
    (_header(comp=0) + b"\0" * 31, pzfcodec.CorruptDataError),   # raw payload too short
    (_header(comp=0) + b"\0" * 33, pzfcodec.CorruptDataError),   # ... or too long
    (_header(comp=2), pzfcodec.CorruptDataError),                # no chunk count
    (_header(comp=2) + struct.pack("<HII", 1, 5, 32), pzfcodec.CorruptDataError),
    (_header(comp=2) + struct.pack("<HII", 1, 0, 31), pzfcodec.CorruptDataError),
])
def test_bad_headers(blob, error):
    with pytest.raises(error):
        pzfcodec.decompress(blob)


@pytest.mark.parametrize("dims", [(65535, 65535, 65535), (2**32 - 1,) * 3, (70000, 70000, 1)])
def test_oversized_header_refused_before_allocation(dims):
    """A 2 KB blob claiming terabytes raises at once; nothing is allocated."""
    blob = _header(w=dims[0], h=dims[1], d=dims[2]) + b"\xff" * 2000
    with pytest.raises(pzfcodec.DataTooLargeError):
        pzfcodec.read_header(blob)
    with pytest.raises(pzfcodec.DataTooLargeError):
        pzfcodec.decompress(blob)


def test_size_limit_is_configurable():
    frame = np.zeros((100, 100), np.uint16)
    blob = pzfcodec.compress(frame)
    with pytest.raises(pzfcodec.DataTooLargeError):
        pzfcodec.decompress(blob, max_decoded_size=frame.nbytes - 1)
    assert pzfcodec.decompress(blob, max_decoded_size=frame.nbytes).shape == (100, 100)
    assert pzfcodec.DEFAULT_MAX_DECODED_SIZE == 4 << 30


def test_constant_frame_claiming_huge_size_needs_the_limit():
    """A single-symbol stream decodes any length from 2 bytes, so only the
    size limit stands between a tiny blob and a huge allocation."""
    blob = _header(fmt=0, w=1 << 20, h=1 << 13) + pzfcodec.huffman_compress(b"\x07")
    with pytest.raises(pzfcodec.DataTooLargeError):
        pzfcodec.decompress(blob, max_decoded_size=1 << 30)
