"""Chunks of arrays as PZF blobs: the mapping every chunk adapter shares.

The HDF5 filter, the numcodecs and Zarr codecs and the Dask writers store
each chunk of an array as one complete PZF v3 blob.  A chunk of any number
of dimensions maps to the blob's ``(Width, Height, Depth)`` as follows
(dimensions ``d0 .. dn-1`` in C order):

====== ===================================
1-D    ``(d0, 1, 1)``
2-D    ``(d0, d1, 1)``
3-D    ``(d0, d1, d2)``
N-D    ``(d0 * ... * dn-3, dn-2, dn-1)``
====== ===================================

A Fortran-ordered chunk is stored with DimOrder ``'F'`` and more than three
dimensions collapse into the last one instead, so its bytes are never
reordered.  uint8, little-endian uint16 and float32 chunks are stored with
their own data format; any other fixed-size type is coded losslessly as its
bytes: data format uint8, with Depth (Width for a Fortran-ordered chunk)
multiplied by the element size.  Square-root quantisation accepts uint8,
uint16 and float32 only.

Needs only numpy: buffers are taken through the buffer protocol.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np

from .codec import compress, decompress, read_header
from .errors import BadArgumentError, CorruptDataError, DataTooLargeError

__all__ = ["TYPED", "frame_shape", "encode_chunk", "decode_chunk"]

#: Data types stored with their own PZF data format; others are coded as bytes.
TYPED = (np.dtype(np.uint8), np.dtype("<u2"), np.dtype("<f4"))


def frame_shape(shape: Tuple[int, ...], order: str = "C") -> Tuple[int, int, int]:
    """Map a chunk shape to a PZF blob's ``(Width, Height, Depth)``.

    Parameters
    ----------
    shape : tuple of int
        Chunk shape, any number of dimensions (0-D counts as ``(1,)``).
    order : {'C', 'F'}
        Memory order of the chunk.

    Returns
    -------
    (int, int, int)
        Missing dimensions are 1: ``(d0, 1, 1)``, ``(d0, d1, 1)``,
        ``(d0, d1, d2)``.  More than three dimensions collapse into the
        slowest-varying one: ``(d0 * ... * dn-3, dn-2, dn-1)`` in C order,
        ``(d0, d1, d2 * ... * dn-1)`` in Fortran order.
    """
    shape = tuple(int(n) for n in shape) or (1,)
    if len(shape) > 3:
        shape = ((math.prod(shape[:-2]),) + shape[-2:] if order == "C"
                 else shape[:2] + (math.prod(shape[2:]),))
    return shape + (1,) * (3 - len(shape))


def as_array(buf: Any) -> np.ndarray:
    """An array over ``buf``'s memory: arrays as they are, other buffers by their format."""
    if isinstance(buf, np.ndarray):
        return buf
    try:
        view = memoryview(buf)
    except TypeError:
        return np.asarray(buf)
    return np.asarray(view if view.format not in ("c", "b") else view.cast("B"))


def _flat(buf: Any, what: str) -> np.ndarray:
    """A flat view of a contiguous buffer."""
    arr = as_array(buf)
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        raise BadArgumentError(f"{what} must be a contiguous buffer")
    return arr.reshape(-1, order="A")


def encode_chunk(buf: Any, *, offset: Optional[float] = None, scale: Optional[float] = None,
                 compression: str = "huffman", threads: int = 1,
                 chunk_size: Optional[int] = None) -> bytes:
    """Encode one chunk (any buffer or array) as a PZF v3 blob.

    Parameters
    ----------
    buf : array_like or buffer
        The chunk.  Buffers without a dtype (bytes, bytearray...) are uint8.
    offset, scale, compression, threads, chunk_size
        The options (see :class:`pzfcodec.options.Options`, whose
        ``kwargs()`` they are; validated by the coder).

    Returns
    -------
    bytes
        The PZF blob; its shape follows :func:`frame_shape`.

    Raises
    ------
    pzfcodec.BadArgumentError
        Quantisation of a type other than uint8, little-endian uint16 and
        float32, or a blob dimension that would reach 2**32.
    TypeError
        An object array.
    """
    arr = as_array(buf)
    if arr.dtype.hasobject:
        raise TypeError("PZF cannot encode object arrays")
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr)
    fortran = arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous
    order = "F" if fortran else "C"
    frame = arr.reshape(frame_shape(arr.shape, order), order=order)
    if arr.dtype not in TYPED:
        if scale is not None:
            raise BadArgumentError(
                f"square-root quantisation supports uint8, little-endian uint16 and float32 "
                f"chunks; got {arr.dtype}. Use lossless mode (no scale) or convert the data")
        # Code the bytes: the fastest-varying axis grows by the element size.
        frame = frame.T.view(np.uint8).T if fortran else frame.view(np.uint8)
    return compress(frame, compression, None if scale is None else (offset, scale),
                    threads=threads, chunk_size=chunk_size, dim_order=order)


def decode_chunk(buf: Any, out: Any = None, *, threads: int = 1,
                 nbytes: Optional[int] = None) -> Any:
    """Decode a PZF blob.

    Parameters
    ----------
    buf : buffer
        The blob.
    out : writable buffer, optional
        Contiguous destination of exactly the decoded size in bytes, of any
        dtype and shape (its memory receives the decoded bytes in the blob's
        order).
    threads : int
        Threads used for chunked blobs.
    nbytes : int, optional
        Expected decoded size; a blob that claims another size is refused
        (before anything is decoded) with :class:`~pzfcodec.CorruptDataError`.

    Returns
    -------
    numpy.ndarray or the object passed as ``out``
        Without ``out``, a flat array of the blob's data type in memory order.

    Raises
    ------
    pzfcodec.CorruptDataError, pzfcodec.UnsupportedFormatError
        ``buf`` is not a valid PZF blob (or not one of ``nbytes``).
    pzfcodec.DataTooLargeError
        The header claims more than
        :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE` decoded bytes.
    pzfcodec.BadArgumentError
        ``out`` does not hold exactly the decoded size.
    """
    blob = _flat(buf, "the blob")
    mismatch = (f"the stored chunk's PZF header does not describe a chunk of {nbytes} bytes: "
                f"the chunk is corrupt or belongs to another array")
    try:
        header = read_header(blob, max_decoded_size=nbytes)
    except DataTooLargeError as exc:
        if nbytes is None:
            raise
        raise CorruptDataError(mismatch) from exc
    if nbytes is not None and header.decoded_size != nbytes:
        raise CorruptDataError(mismatch)
    if out is None:
        return decompress(blob, threads=threads, max_decoded_size=nbytes).reshape(-1, order="A")
    dst = _flat(out, "out=")
    if dst.dtype.hasobject:
        raise TypeError("PZF cannot decode into an object array")
    if dst.nbytes != header.decoded_size:
        raise BadArgumentError(
            f"out= holds {dst.nbytes} bytes but the chunk decodes to {header.decoded_size} bytes")
    view = dst.view(np.uint8).view(header.dtype).reshape(header.array_shape,
                                                         order=header.dim_order)
    decompress(blob, out=view, threads=threads, max_decoded_size=dst.nbytes)
    return out
