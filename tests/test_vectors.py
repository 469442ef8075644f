"""Golden vectors written by PYME and pymecompress decode bit for bit."""
import numpy as np
import pytest

import pzfcodec
from common import assert_bits_equal, load_vector, vector_cases


def _pyme_float32_value(q: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """PYME's de-quantisation before the cast: float32 arithmetic."""
    return (q.astype(np.float32) * np.float32(scale)) ** 2 + np.float32(offset)


@pytest.mark.parametrize("case", vector_cases("pzf"), ids=lambda c: c["name"])
def test_pzf_vector_decodes(case):
    blob = load_vector(case, "blob")
    expected = load_vector(case, "expected")
    data, header = pzfcodec.PZFFormat.loads(blob)
    params = case["params"]
    if params["quantization"] and np.dtype(params["dtype"]).kind == "u":
        # PYME wraps values beyond the type's range; pzfcodec saturates
        info = np.iinfo(expected.dtype)
        hdr = pzfcodec.read_header(blob)
        assert hdr.compression == "huffman"
        q = np.frombuffer(pzfcodec.huffman_decompress(
            blob[hdr.data_offset:], data.size), np.uint8)  # the stored symbols
        q = q.reshape(data.shape, order=hdr.dim_order)
        v = _pyme_float32_value(q, hdr.quantization.offset, hdr.quantization.scale)
        wrapped = v > info.max
        np.testing.assert_array_equal(data[wrapped], info.max)
        expected = np.where(wrapped, info.max, expected).astype(expected.dtype)
    assert_bits_equal(np.asarray(data), expected)
    for key, value in case["header"].items():
        got = header[key][0]
        got = got.decode() if isinstance(got, bytes) else got
        assert got == value, key


@pytest.mark.parametrize("case", vector_cases("pzf"), ids=lambda c: c["name"])
def test_header_matches_manifest(case):
    h = pzfcodec.read_header(load_vector(case, "blob"))
    ref = case["header"]
    assert h.version == ref["Version"]
    assert h.shape == (ref["Width"], ref["Height"], ref["Depth"])
    assert (h.sequence_id, h.frame_num, h.timestamp) == (
        ref["SequenceID"], ref["FrameNum"], ref["FrameTimestamp"])
    assert h.dtype == np.dtype(case["expected_dtype"])
    assert h.dim_order == (ref["DimOrder"] or "C")


@pytest.mark.parametrize("case", vector_cases("huffman"), ids=lambda c: c["name"])
def test_huffman_vector_decodes(case):
    stream = load_vector(case, "blob")
    out = pzfcodec.huffman_decompress(stream, case["params"]["original_length"])
    assert_bits_equal(np.frombuffer(out, np.uint8), load_vector(case, "expected"))


@pytest.mark.parametrize("case", [c for c in vector_cases("pzf") if c["lossless"]],
                         ids=lambda c: c["name"])
def test_reencode_lossless_cases(case):
    """pzfcodec's own blob of each lossless input decodes to the input."""
    arr = load_vector(case, "input")
    comp = {0: "raw", 1: "huffman", 2: "chunked"}[case["params"]["compression"]]
    blob = pzfcodec.compress(arr, comp)
    out = pzfcodec.decompress(blob)
    assert_bits_equal(out.reshape(arr.shape, order="A"), arr)
    assert pzfcodec.read_header(blob).dim_order == ("F" if arr.flags.f_contiguous else "C")
