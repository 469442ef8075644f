"""PZF as a numcodecs codec (Zarr v2 arrays, numcodecs pipelines, Dask).

``PZF`` is registered under the codec id ``"pzf"`` through the
``numcodecs.codecs`` entry point, so an array written with it opens in any
process where pzfcodec is installed, without importing pzfcodec first::

    import zarr, pzfcodec.numcodecs
    z = zarr.create_array("frames.zarr", shape=(1000, 2048, 2048), chunks=(1, 2048, 2048),
                          dtype="uint16", zarr_format=2,
                          compressors=pzfcodec.numcodecs.PZF(offset=100, scale=0.7))

Every encoded chunk is a complete PZF v3 blob, so ``pzfcodec.decompress``
reads a stored chunk directly.

Chunk layout
------------
A chunk of any number of dimensions maps to the blob's ``(Width, Height,
Depth)`` as follows (dimensions ``d0 .. dn-1`` in C order):

====== ===================================
1-D    ``(d0, 1, 1)``
2-D    ``(d0, d1, 1)``
3-D    ``(d0, d1, d2)``
N-D    ``(d0 * ... * dn-3, dn-2, dn-1)``
====== ===================================

This is the mapping of the HDF5 filter.  A Fortran-ordered chunk is stored
with DimOrder ``'F'`` and more than three dimensions collapse into the last
one instead, so its bytes are never reordered.  uint8, little-endian uint16
and float32 chunks are stored with their own data format; any other
fixed-size type is coded losslessly as its bytes: data format uint8, with
Depth (Width for a Fortran-ordered chunk) multiplied by the element size.
Square-root quantisation accepts uint8, uint16 and float32 only.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ensure_ndarray
from numcodecs.registry import register_codec

from .codec import compress, decompress, read_header
from .errors import BadArgumentError, CorruptDataError, DataTooLargeError
from .options import check_options

__all__ = ["PZF", "encode_chunk", "decode_chunk", "frame_shape"]

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


def encode_chunk(buf: Any, *, offset: Optional[float] = None, scale: Optional[float] = None,
                 compression: str = "huffman", threads: int = 1,
                 chunk_size: Optional[int] = None) -> bytes:
    """Encode one chunk (any buffer or array) as a PZF v3 blob.

    Parameters
    ----------
    buf : array_like or buffer
        The chunk.  Buffers without a dtype (bytes, bytearray...) are uint8.
    offset, scale : float, optional
        Square-root quantisation parameters (``scale=None``: lossless).
    compression : {'huffman', 'chunked', 'raw'}
        Payload coding; 'chunked' codes ``chunk_size``-byte pieces on
        ``threads`` threads.
    threads : int
        Threads used by chunked coding.
    chunk_size : int, optional
        Stream bytes per piece in chunked mode (default 128 KiB).

    Returns
    -------
    bytes
        The PZF blob; its shape follows :func:`frame_shape`.
    """
    arr = ensure_ndarray(buf)
    if arr.dtype.hasobject:
        raise TypeError("PZF cannot encode object arrays")
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr)
    fortran = arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous
    order = "F" if fortran else "C"
    shape = frame_shape(arr.shape, order)
    frame = arr.reshape(shape, order=order)
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
        Destination of exactly the decoded size in bytes, of any dtype and
        shape (its memory receives the decoded bytes in the blob's order).
    threads : int
        Threads used for chunked blobs.
    nbytes : int, optional
        Expected decoded size; a blob that claims another size is refused
        (before anything is decoded) with :class:`~pzfcodec.CorruptDataError`.

    Returns
    -------
    numpy.ndarray or the object passed as ``out``
        Without ``out``, a flat array of the blob's data type in memory order.
    """
    blob = ensure_contiguous_ndarray(buf)
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
    dst = ensure_contiguous_ndarray(out)
    if dst.nbytes != header.decoded_size:
        raise BadArgumentError(
            f"out= holds {dst.nbytes} bytes but the chunk decodes to {header.decoded_size} bytes")
    view = dst.view(np.uint8).view(header.dtype).reshape(header.array_shape,
                                                         order=header.dim_order)
    decompress(blob, out=view, threads=threads, max_decoded_size=dst.nbytes)
    return out


class PZF(Codec):
    """numcodecs codec storing each chunk as a PZF v3 blob.

    Parameters
    ----------
    offset, scale : float, optional
        Square-root quantisation ``q = round(sqrt(x - offset) / scale)``:
        offset in ADU, step in sqrt(ADU).  Give both for lossy storage of
        uint8, uint16 or float32 data, or neither (default) for lossless
        storage.  :meth:`from_camera` derives them from camera parameters.
    compression : {'huffman', 'chunked', 'raw'}
        Payload coding; 'chunked' Huffman-codes pieces on ``threads`` threads.
    threads : int
        Threads for chunked coding and decoding of one chunk (1 to 256;
        more than 1 needs ``compression='chunked'``).
    chunk_size : int, optional
        Stream bytes per piece in chunked mode (default 128 KiB).

    Notes
    -----
    :meth:`decode` returns a flat array of the stored data type (uint8 for
    types coded as bytes); reshape it with the chunk shape, as Zarr does.
    """

    codec_id = "pzf"

    def __init__(self, offset: Optional[float] = None, scale: Optional[float] = None, *,
                 compression: str = "huffman", threads: int = 1,
                 chunk_size: Optional[int] = None):
        self.__dict__.update(check_options(offset, scale, compression, threads, chunk_size))

    @classmethod
    def from_camera(cls, ad_offset: float, electrons_per_adu: float, step_sigma: float = 1.0,
                    **kwargs: Any) -> "PZF":
        """Quantised codec whose step is ``step_sigma`` photon-noise standard deviations.

        See :func:`pzfcodec.camera_quantization`; other keyword arguments go
        to the constructor.
        """
        from . import camera_quantization

        q = camera_quantization(ad_offset, electrons_per_adu, step_sigma)
        return cls(offset=q.offset, scale=q.scale, **kwargs)

    def encode(self, buf: Any) -> bytes:
        """Encode ``buf`` (array or buffer) as one PZF v3 blob.

        Parameters
        ----------
        buf : array_like or buffer
            The chunk, of any shape (mapped by :func:`frame_shape`).
            Buffers without a dtype (bytes, bytearray...) are uint8; types
            other than uint8, uint16 and float32 (little-endian) are coded
            losslessly as their bytes.

        Returns
        -------
        bytes
            The PZF blob, coded with this codec's options.

        Raises
        ------
        pzfcodec.BadArgumentError
            The codec quantises and ``buf`` is not uint8, little-endian
            uint16 or float32, or a blob dimension would reach 2**32.
        TypeError
            ``buf`` is an object array.
        """
        return encode_chunk(buf, **self._options())

    def decode(self, buf: Any, out: Any = None) -> Any:
        """Decode a blob, into ``out`` when given (it must have the decoded size).

        Parameters
        ----------
        buf : buffer
            The blob (any PZF blob, not only those of this codec).
        out : writable buffer, optional
            Contiguous destination of exactly the decoded size in bytes, of
            any dtype and shape; its memory receives the decoded bytes in
            the blob's order.

        Returns
        -------
        numpy.ndarray or the object passed as ``out``
            Without ``out``, a flat array of the blob's data type (uint8 for
            types coded as bytes) in memory order.

        Raises
        ------
        pzfcodec.CorruptDataError, pzfcodec.UnsupportedFormatError
            ``buf`` is not a valid PZF blob.
        pzfcodec.DataTooLargeError
            The header claims more than
            :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE` decoded bytes.
        pzfcodec.BadArgumentError
            ``out`` does not hold exactly the decoded size.
        """
        return decode_chunk(buf, out, threads=self.threads)

    def _options(self) -> dict:
        return {k: getattr(self, k) for k in ("offset", "scale", "compression", "threads",
                                              "chunk_size")}


register_codec(PZF)
