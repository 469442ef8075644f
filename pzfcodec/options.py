"""Options shared by the chunk codecs: the HDF5 filter, numcodecs and Zarr."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .codec import Quantization
from .errors import BadArgumentError

__all__ = ["COMPRESSIONS", "MAX_THREADS", "check_options"]

#: Payload codings, in the order of the header's DataCompression codes.
COMPRESSIONS = ("raw", "huffman", "chunked")
#: Most threads one chunk may be coded on (the HDF5 plugin's limit).
MAX_THREADS = 256


def check_options(offset: Optional[float], scale: Optional[float], compression: str,
                  threads: int, chunk_size: Optional[int]) -> dict:
    """Validate and normalise the options of :class:`pzfcodec.PZF` and its
    numcodecs and Zarr twins.

    Returns
    -------
    dict
        ``offset``, ``scale`` (floats or None), ``compression``, ``threads``
        and ``chunk_size``, JSON-serialisable.
    """
    if (offset is None) != (scale is None):
        raise BadArgumentError(
            "give both offset and scale for square-root quantisation, or neither for lossless")
    if scale is not None:
        q = Quantization(offset, scale)  # numbers, in the float32 range
        offset, scale = q.offset, q.scale
    if compression not in COMPRESSIONS:
        raise BadArgumentError(
            f"compression must be one of {', '.join(map(repr, COMPRESSIONS))}; got {compression!r}")
    if not _is_int(threads) or not 1 <= threads <= MAX_THREADS:
        raise BadArgumentError(f"threads must be an integer in 1..{MAX_THREADS}; got {threads!r}")
    if threads > 1 and compression != "chunked":
        raise BadArgumentError("threads > 1 needs compression='chunked'")
    if chunk_size is not None:
        if compression != "chunked":
            raise BadArgumentError("chunk_size applies only to compression='chunked'")
        if not _is_int(chunk_size) or not 1 <= chunk_size < 2**32:
            raise BadArgumentError(
                f"chunk_size must be an integer in 1..{2**32 - 1} bytes; got {chunk_size!r}")
        chunk_size = int(chunk_size)
    return dict(offset=offset, scale=scale, compression=compression, threads=int(threads),
                chunk_size=chunk_size)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
