"""Drop-in replacement for PYME's ``PYME.IO.PZFFormat`` module.

Same names, signatures and return shapes, so PYME code can use
``from pzfcodec import PZFFormat``.  Differences, all in the user's favour:
the quantiser is exact (PYME's depends on the CPU), raw + quantised blobs
hold quantised symbols (PYME's own reader cannot read its raw + quantised
output), chunked Huffman works, de-quantised values saturate instead of
wrapping around, and corrupt or truncated blobs raise
:class:`pzfcodec.CorruptDataError` instead of returning garbage.
"""
import math
import numbers

import numpy as np

from .codec import Quantization, _flat_bytes, compress, decompress, read_header
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


def _header_integer(name, value):
    """A header number as PYME stores it: integers as they are, other real
    numbers (float, numpy float, 0-d array) truncated toward zero."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, numbers.Integral):
        return value
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise BadArgumentError(f"{name} must be a finite number, got {value!r}")
        return int(value)  # toward zero, as PYME stores it
    raise BadArgumentError(f"{name} must be a number, got {value!r}")


def dumps(data, sequenceID=0, frameNum=0, frameTimestamp=0, compression=DATA_COMP_RAW,
          quantization=DATA_QUANT_NONE, quantizationOffset=0, quantizationScale=1):
    """Compress an array into a PZF v3 blob, with PYME's argument names.

    Parameters
    ----------
    data : array_like
        uint8, uint16 or float32 frame: 2-D ``[w, h]`` or 3-D ``[w, h, d]``
        (a 1-D array is stored as ``[n, 1]``).  The header records its
        memory order, as :func:`pzfcodec.compress` does by default.
    sequenceID : int, optional
        Acquisition identifier stored in the header (int64).
    frameNum : int, optional
        Frame number stored in the header (uint32).
    frameTimestamp : int or float, optional
        Timestamp stored in the header (uint64).  As in PYME, each of these
        three may be any real number (Python or numpy scalar, 0-d array);
        a fractional value is stored truncated toward zero
        (``frameTimestamp=1234.75`` stores 1234).
    compression : int, optional
        ``DATA_COMP_RAW`` (default, as in PYME), ``DATA_COMP_HUFFCODE`` or
        ``DATA_COMP_HUFFCODE_CHUNKS``.
    quantization : int, optional
        ``DATA_QUANT_NONE`` (default, lossless) or ``DATA_QUANT_SQRT``.
    quantizationOffset, quantizationScale : float, optional
        Offset (ADU) and step (sqrt(ADU)) of the square-root quantisation
        (see :class:`pzfcodec.Quantization`); used with ``DATA_QUANT_SQRT``
        only.

    Returns
    -------
    bytes
        The blob.

    Raises
    ------
    pzfcodec.BadArgumentError
        Unknown compression or quantization code, a non-finite offset or a
        scale out of range, or an unsupported dtype, dimensionality or
        header value (not a number, not finite, or out of the field's range).
    """
    if compression == 3:
        raise BadArgumentError(
            "compression 3 (context) is pzfcodec's own coding, which PYME cannot read; "
            "PZFFormat.dumps writes what PYME reads: use DATA_COMP_RAW or DATA_COMP_HUFFCODE "
            "(pzfcodec.compress(frame, 'context') writes context blobs)")
    if compression not in _COMPRESSION_NAMES:
        raise BadArgumentError(f"unknown compression {compression!r}; use DATA_COMP_*")
    if quantization not in (DATA_QUANT_NONE, DATA_QUANT_SQRT):
        raise BadArgumentError(f"unknown quantization {quantization!r}; use DATA_QUANT_*")
    q = (Quantization(quantizationOffset, quantizationScale)
         if quantization == DATA_QUANT_SQRT else None)
    data = np.asarray(data)
    if data.ndim == 1:
        data = data.reshape(data.shape[0], 1)
    return compress(data, _COMPRESSION_NAMES[compression], q,
                    sequence_id=_header_integer("sequenceID", sequenceID),
                    frame_num=_header_integer("frameNum", frameNum),
                    timestamp=_header_integer("frameTimestamp", frameTimestamp))


def load_header(datastring):
    """The header as a one-element structured array (PYME's ``header_dtype``,
    or ``header_dtype_v3`` for version 3).

    Raises :class:`pzfcodec.CorruptDataError` or
    :class:`pzfcodec.UnsupportedFormatError` when ``datastring`` does not
    start with a valid PZF header.
    """
    read_header(datastring, max_decoded_size=2**64 - 1)  # validates; any size
    buf = _flat_bytes(datastring)
    header = np.frombuffer(buf[:HEADER_LENGTH], header_dtype)
    if header["Version"][0] >= 3:
        header = np.frombuffer(buf[:HEADER_LENGTH_V3], header_dtype_v3)
    return header


def loads(datastring):
    """Decode a blob; returns ``(data, header)`` with data shaped [w, h, d].

    Parameters
    ----------
    datastring : bytes-like
        The blob (any version PYME wrote, or v3).

    Returns
    -------
    data : numpy.ndarray
        The decoded frame, always 3-D ``[w, h, d]`` (``d`` is 1 for a 2-D
        frame), in the blob's memory order.  De-quantised values saturate
        instead of wrapping (see :func:`pzfcodec.decompress`).
    header : numpy.ndarray
        One-element structured array, as :func:`load_header` returns.

    Raises
    ------
    pzfcodec.CorruptDataError, pzfcodec.UnsupportedFormatError
        ``datastring`` is not a valid PZF blob.
    pzfcodec.DataTooLargeError
        The header claims more than :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE`
        decoded bytes.
    """
    data = decompress(datastring)
    if data.ndim == 2:
        data = data.reshape(data.shape + (1,), order="A")
    return data, load_header(datastring)
