"""Drop-in replacement for PYME's ``PYME.IO.PZFFormat`` module.

Same names, signatures and return shapes, so PYME code can use
``from pzfcodec import PZFFormat``.  Differences, all in the user's favour:
the quantiser is exact (PYME's depends on the CPU), raw + quantised blobs
hold quantised symbols (PYME's own reader cannot read its raw + quantised
output), chunked Huffman works, de-quantised values saturate instead of
wrapping around, and corrupt or truncated blobs raise
:class:`pzfcodec.CorruptDataError` instead of returning garbage.
"""
import numpy as np

from .codec import Quantization, compress, decompress, read_header
from .errors import BadArgumentError

__all__ = ["dumps", "loads", "load_header", "header_dtype", "header_dtype_v3",
           "HEADER_LENGTH", "HEADER_LENGTH_V3", "FORMAT_VERSION"]

FORMAT_VERSION = 3

DATA_FMT_UINT8 = 0
DATA_FMT_UINT16 = 1
DATA_FMT_FLOAT32 = 2
DATA_FMTS = ["u1", "u2", "f4"]
DATA_FMTS_SIZES = [1, 2, 4]

DATA_COMP_RAW = 0
DATA_COMP_HUFFCODE = 1
DATA_COMP_HUFFCODE_CHUNKS = 2

DATA_QUANT_NONE = 0
DATA_QUANT_SQRT = 1

header_dtype = [("ID", "S2"), ("Version", "u1"), ("DataFormat", "u1"),
                ("DataCompression", "u1"), ("DataQuantization", "u1"), ("DimOrder", "S1"),
                ("RESERVED0", "S1"), ("SequenceID", "i8"), ("FrameNum", "u4"),
                ("Width", "u4"), ("Height", "u4"), ("Depth", "u4"), ("FrameTimestamp", "u8"),
                ("QuantOffset", "f4"), ("QuantScale", "f4")]
header_dtype_v3 = header_dtype + [("DataOffset", "u4"), ("RESERVED1", "S12")]
HEADER_LENGTH = np.dtype(header_dtype).itemsize
HEADER_LENGTH_V3 = np.dtype(header_dtype_v3).itemsize

_COMPRESSION_NAMES = {DATA_COMP_RAW: "raw", DATA_COMP_HUFFCODE: "huffman",
                      DATA_COMP_HUFFCODE_CHUNKS: "chunked"}


def dumps(data, sequenceID=0, frameNum=0, frameTimestamp=0, compression=DATA_COMP_HUFFCODE,
          quantization=DATA_QUANT_NONE, quantizationOffset=0, quantizationScale=1):
    """Compress an array into a PZF v3 blob, with PYME's argument names."""
    if compression not in _COMPRESSION_NAMES:
        raise BadArgumentError(f"unknown compression {compression!r}; use DATA_COMP_*")
    if quantization not in (DATA_QUANT_NONE, DATA_QUANT_SQRT):
        raise BadArgumentError(f"unknown quantization {quantization!r}; use DATA_QUANT_*")
    q = (Quantization(float(quantizationOffset), float(quantizationScale))
         if quantization == DATA_QUANT_SQRT else None)
    data = np.asarray(data)
    if data.ndim == 1:
        data = data.reshape(data.shape[0], 1)
    return compress(data, _COMPRESSION_NAMES[compression], q, sequence_id=sequenceID,
                    frame_num=frameNum, timestamp=frameTimestamp)


def load_header(datastring):
    """The header as a one-element structured array (PYME's ``header_dtype``,
    or ``header_dtype_v3`` for version 3).

    Raises :class:`pzfcodec.CorruptDataError` or
    :class:`pzfcodec.UnsupportedFormatError` when ``datastring`` does not
    start with a valid PZF header.
    """
    read_header(datastring, max_decoded_size=2**64 - 1)  # validates; any size
    buf = memoryview(datastring).cast("B")
    header = np.frombuffer(buf[:HEADER_LENGTH], header_dtype)
    if header["Version"][0] >= 3:
        header = np.frombuffer(buf[:HEADER_LENGTH_V3], header_dtype_v3)
    return header


def loads(datastring):
    """Decode a blob; returns ``(data, header)`` with data shaped [w, h, d]."""
    data = decompress(datastring)
    if data.ndim == 2:
        data = data.reshape(data.shape + (1,), order="A")
    return data, load_header(datastring)
