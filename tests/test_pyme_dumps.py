"""``pzfcodec.PZFFormat.dumps`` against PYME's own ``PYME.IO.PZFFormat.dumps``.

PYME accepts floats and numpy scalars for its header numbers and stores the
integer part; the drop-in must accept the same calls and write the same
bytes.
"""
import numpy as np
import pytest

import pzfcodec
from pzfcodec import PZFFormat
from common import require_module

HEADERS = [
    dict(frameTimestamp=1234.75),
    dict(frameTimestamp=np.float64(7.9), frameNum=np.int64(5), sequenceID=np.uint32(3)),
    dict(frameTimestamp=np.float32(2.5), frameNum=np.uint16(65535), sequenceID=np.int64(-7)),
    dict(frameTimestamp=np.array(1.7e9 + 0.25), frameNum=np.array(12)),
    dict(frameTimestamp=-0.5, sequenceID=1.9, frameNum=True),
    dict(frameTimestamp=np.uint64(2**64 - 1), frameNum=2**32 - 1, sequenceID=-2**63),
    dict(),
]


@pytest.fixture(scope="module")
def pyme_pzf():
    require_module("pymecompress")
    return require_module("PYME.IO.PZFFormat")


@pytest.mark.parametrize("kw", HEADERS, ids=range(len(HEADERS)))
@pytest.mark.parametrize("order", ["C", "F"])
def test_raw_blobs_equal_pyme_byte_for_byte(pyme_pzf, kw, order):
    frame = np.asarray(np.random.default_rng(1).integers(0, 4000, (17, 9)), dtype=np.uint16, order=order)
    ours = PZFFormat.dumps(frame, **kw)               # default compression: raw, as PYME
    theirs = pyme_pzf.dumps(frame, **kw)
    assert ours == theirs
    assert pyme_pzf.load_header(ours)["FrameTimestamp"][0] == pzfcodec.read_header(ours).timestamp


@pytest.mark.parametrize("kw", HEADERS[:5], ids=range(5))
def test_huffman_headers_equal_pyme(pyme_pzf, kw):
    frame = np.random.default_rng(2).poisson(150, (32, 24)).astype(np.uint16)
    args = dict(kw, compression=np.int64(PZFFormat.DATA_COMP_HUFFCODE),
                quantization=np.int32(PZFFormat.DATA_QUANT_SQRT),
                quantizationOffset=np.float32(100), quantizationScale=np.float64(0.5))
    ours = PZFFormat.dumps(frame, **args)
    theirs = pyme_pzf.dumps(frame, **args)
    assert ours[:64] == theirs[:64]
    # each reads the other's blob to the same pixels
    np.testing.assert_array_equal(pyme_pzf.loads(ours)[0], PZFFormat.loads(theirs)[0])
    np.testing.assert_array_equal(PZFFormat.loads(ours)[0], PZFFormat.loads(theirs)[0])


@pytest.mark.parametrize("kw", [dict(frameTimestamp=-1.5), dict(frameNum=-1), dict(frameTimestamp=1e30),
                                dict(frameTimestamp=float("nan")), dict(frameNum=2**32),
                                dict(frameTimestamp=float("inf"))])
def test_values_pyme_refuses_raise_bad_argument(pyme_pzf, kw):
    frame = np.zeros((4, 4), np.uint16)
    with pytest.raises((ValueError, OverflowError, TypeError)):
        pyme_pzf.dumps(frame, **kw)
    with pytest.raises(pzfcodec.BadArgumentError):
        PZFFormat.dumps(frame, **kw)


def test_text_is_not_a_number():
    # numpy would parse "3" when PYME assigns it to the header; a drop-in asks for a number
    with pytest.raises(pzfcodec.BadArgumentError, match="sequenceID must be a number"):
        PZFFormat.dumps(np.zeros((4, 4), np.uint16), sequenceID="3")
