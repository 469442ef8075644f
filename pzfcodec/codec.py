"""Compress and decompress PZF frames: the numpy-facing API of the C core.

A PZF blob is one frame (a 2-D or 3-D uint8, uint16 or float32 array) with a
64-byte header; see the README for the format.  All heavy work runs in C
with the GIL released, so threads calling these functions run in parallel.
"""
from __future__ import annotations

import math
import operator
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from .errors import BadArgumentError

__all__ = [
    "Quantization", "FrameHeader", "camera_quantization", "compress", "decompress",
    "read_header", "quantize", "dequantize", "huffman_compress", "huffman_decompress",
    "compress_stack", "decompress_stack", "DEFAULT_MAX_DECODED_SIZE",
]

#: Default refusal limit (bytes) for the decoded size a header may claim.
DEFAULT_MAX_DECODED_SIZE: int = int(_core.DEFAULT_MAX_DECODED)

_FORMATS = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
#: Payload codings, in the order of the header's DataCompression codes (the
#: one list of compression names; :mod:`pzfcodec.options` exports it too);
#: "context" blobs are pzfcodec's own: PYME cannot read them.
COMPRESSIONS = ("raw", "huffman", "chunked", "context")
#: Most threads the C core runs one call on.
MAX_THREADS = 256
BufferLike = Union[bytes, bytearray, memoryview, np.ndarray]


@dataclass(frozen=True)
class Quantization:
    """Square-root quantisation: ``q = round(sqrt(x - offset) / scale)``.

    Parameters
    ----------
    offset : float
        Value (ADU) subtracted before the square root, usually the camera's
        dark level; values at or below it become symbol 0.
    scale : float
        Step in units of sqrt(ADU), from 2**-40 to 2**40.  Use
        :func:`camera_quantization` to derive it from camera parameters.

    Raises
    ------
    BadArgumentError
        A value is not a number, the offset is not finite, or the scale is
        out of range.
    """

    offset: float
    scale: float

    def __post_init__(self):
        try:
            object.__setattr__(self, "offset", float(self.offset))
            object.__setattr__(self, "scale", float(self.scale))
        except (TypeError, ValueError):
            raise BadArgumentError(
                f"quantization offset and scale must be numbers, got {self.offset!r} and "
                f"{self.scale!r}") from None
        # the header stores float32: check the values as they will be stored
        with np.errstate(over="ignore"):  # too large for float32: inf, refused below
            offset32, scale32 = np.float32(self.offset), np.float32(self.scale)
        if not np.isfinite(offset32):
            raise BadArgumentError(
                f"quantization offset must be a finite float32, got {self.offset!r}")
        if not (2.0 ** -40 <= scale32 <= 2.0 ** 40):
            raise BadArgumentError(
                "quantization scale must be between 2**-40 and 2**40 (sqrt(ADU) per step), "
                f"got {self.scale!r}")


def camera_quantization(ad_offset: float, electrons_per_adu: float,
                        step_sigma: float = 1.0) -> Quantization:
    """Quantisation whose step is ``step_sigma`` photon-noise standard deviations.

    Poisson noise in the square-root domain has a standard deviation of
    about ``0.5 / sqrt(electrons_per_adu)``, whatever the signal, so a
    scale of ``step_sigma * 0.5 / sqrt(electrons_per_adu)`` keeps the step
    at ``step_sigma`` sigmas for every pixel above the offset.

    Parameters
    ----------
    ad_offset : float
        Camera dark level in ADU (PYME metadata ``Camera.ADOffset``).
    electrons_per_adu : float
        Conversion gain (PYME ``Camera.ElectronsPerCount``), > 0.
    step_sigma : float, optional
        Quantisation step in units of the noise sigma (default 1.0; 0.5 is
        near-lossless in practice).

    Returns
    -------
    Quantization
    """
    if not (electrons_per_adu > 0 and math.isfinite(electrons_per_adu)):
        raise BadArgumentError(f"electrons_per_adu must be > 0, got {electrons_per_adu!r}")
    if not (step_sigma > 0 and math.isfinite(step_sigma)):
        raise BadArgumentError(f"step_sigma must be > 0, got {step_sigma!r}")
    return Quantization(ad_offset, step_sigma * 0.5 / math.sqrt(electrons_per_adu))


@dataclass(frozen=True)
class FrameHeader:
    """The header of a PZF blob.

    Attributes
    ----------
    version : int
        Format version (1, 2 or 3).
    dtype : numpy.dtype
        Element type of the decoded array.
    compression : str
        ``"raw"``, ``"huffman"``, ``"chunked"`` or ``"context"``.
    quantization : Quantization or None
        Square-root quantisation parameters, None when lossless.
    dim_order : str
        ``"C"`` or ``"F"``: memory order of the decoded array.
    sequence_id, frame_num, timestamp : int
        Acquisition identifier, frame number and timestamp.
    shape : tuple of int
        ``(width, height, depth)`` as stored.
    data_offset : int
        Byte offset of the payload.
    decoded_size : int
        Bytes of the decoded array.
    """

    version: int
    dtype: np.dtype
    compression: str
    quantization: Optional[Quantization]
    dim_order: str
    sequence_id: int
    frame_num: int
    shape: Tuple[int, int, int]
    timestamp: int
    data_offset: int
    decoded_size: int

    @property
    def array_shape(self) -> Tuple[int, ...]:
        """Shape :func:`decompress` returns: 2-D when depth is 1, else 3-D."""
        w, h, d = self.shape
        return (w, h) if d == 1 else (w, h, d)


def _flat_bytes(buf: BufferLike) -> np.ndarray:
    """A zero-copy flat uint8 view of a contiguous buffer."""
    if isinstance(buf, np.ndarray):
        if not (buf.flags.c_contiguous or buf.flags.f_contiguous):
            raise BadArgumentError("buffer must be contiguous; use numpy.ascontiguousarray")
        return buf.ravel(order="K").view(np.uint8) if buf.size else np.empty(0, np.uint8)
    try:
        mv = memoryview(buf)
    except TypeError:
        raise BadArgumentError(
            f"expected bytes or a buffer, got {type(buf).__name__}") from None
    if not mv.contiguous:
        raise BadArgumentError("buffer must be contiguous")
    if mv.ndim > 1 and not mv.c_contiguous:
        # Fortran order: memoryview casts only C-ordered views; numpy reads the same bytes
        try:
            return _flat_bytes(np.asarray(mv))
        except (TypeError, ValueError) as exc:
            raise BadArgumentError(f"cannot read a {mv.format!r} buffer as bytes ({exc})") from None
    return np.frombuffer(mv.cast("B") if mv.ndim else mv, dtype=np.uint8)


_SIZE_MAX = 2 * sys.maxsize + 1


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` as an int from ``lo`` to ``hi``, else BadArgumentError."""
    try:
        v = operator.index(value)
    except TypeError:
        raise BadArgumentError(f"{name} must be an integer, got {value!r}") from None
    if not lo <= v <= hi:
        raise BadArgumentError(f"{name} must be from {lo} to {hi}, got {v}")
    return v


def _max_size(max_decoded_size: Optional[int]) -> int:
    if max_decoded_size is None:
        return DEFAULT_MAX_DECODED_SIZE
    return _integer("max_decoded_size", max_decoded_size, 0, 2**64 - 1)


def _threads(threads: Optional[int]) -> int:
    """Threads for the C core: 0/None = all CPUs, at most :data:`MAX_THREADS`."""
    t = 0 if threads is None else _integer("threads (0 = all CPUs)", threads, 0, 2**31 - 1)
    return min(t or os.cpu_count() or 1, MAX_THREADS)


def as_quantization(q) -> Optional[Quantization]:
    """None, a Quantization, or an ``(offset, scale)`` pair, as a Quantization."""
    if q is None or isinstance(q, Quantization):
        return q
    try:
        offset, scale = q
    except (TypeError, ValueError):
        raise BadArgumentError(
            "quantization must be None, a Quantization or an (offset, scale) pair") from None
    return Quantization(offset, scale)


def compress(frame: np.ndarray, compression: str = "huffman",
             quantization: Union[Quantization, Tuple[float, float], None] = None, *,
             sequence_id: int = 0, frame_num: int = 0, timestamp: int = 0,
             threads: int = 1, chunk_size: Optional[int] = None,
             dim_order: Optional[str] = None) -> bytes:
    """Compress one frame into a PZF v3 blob.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D ``(width, height)`` or 3-D ``(width, height, depth)`` array of
        uint8, uint16 or float32.  C- or Fortran-contiguous input is read in
        place (the header records its order, as PYME does); other layouts
        are copied to C order first.
    compression : {"huffman", "raw", "chunked", "context"}
        ``"chunked"`` splits the data into independently coded chunks,
        coded on ``threads`` threads; the output does not depend on the
        number of threads.  ``"context"`` is pzfcodec's own context-modelled
        rANS coding (docs/format-context.md): much smaller on camera frames,
        unbiased de-quantisation, bands coded on ``threads`` threads; PYME
        cannot read it.  Where PZF Huffman would be no larger (or for
        lossless float32), a Huffman blob is written instead.
    quantization : Quantization or (offset, scale), optional
        Square-root quantisation (lossy, error below half a step in the
        square-root domain).  None (default) is lossless.
    sequence_id, frame_num, timestamp : int, optional
        Stored in the header (int64, uint32, uint64).
    threads : int, optional
        Threads for chunked and context modes (0 = all CPUs).
    chunk_size : int, optional
        Bytes of the coded stream per chunk in chunked mode: one per pixel
        when quantised, else the pixels' bytes (default 128 KiB); values per
        band in context mode (default 262144, rounded down to whole lines).
    dim_order : {"C", "F"}, optional
        Memory order to store; the frame is copied if it is not contiguous
        in that order.  Default: PYME's rule ("F" for Fortran-contiguous
        frames, also those contiguous both ways; else "C").

    Returns
    -------
    bytes
        The blob.

    Raises
    ------
    BadArgumentError
        Unsupported dtype, dimensionality or option.
    """
    arr = np.asarray(frame)
    if arr.dtype.newbyteorder("=") not in _FORMATS:
        raise BadArgumentError(
            f"PZF stores uint8, uint16 or float32 frames, got {arr.dtype}; convert with "
            "frame.astype(...) first")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.aligned:
        arr = arr.copy()
    if arr.ndim not in (2, 3):
        raise BadArgumentError(
            f"PZF frames are 2-D or 3-D, got {arr.ndim}-D; reshape the array first")
    if any(s > 0xFFFFFFFF for s in arr.shape):
        raise BadArgumentError("each dimension must be < 2**32")
    if compression not in COMPRESSIONS:
        raise BadArgumentError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    q = as_quantization(quantization)
    if dim_order not in (None, "C", "F"):
        raise BadArgumentError(f"dim_order must be 'C', 'F' or None, got {dim_order!r}")
    order = dim_order or ("F" if arr.flags.f_contiguous else "C")
    arr = np.asfortranarray(arr) if order == "F" else np.ascontiguousarray(arr)
    shape = tuple(arr.shape) + (1,) * (3 - arr.ndim)
    return _core.compress(
        _flat_bytes(arr), _FORMATS.index(arr.dtype), shape, order,
        COMPRESSIONS.index(compression), 1 if q else 0,
        q.offset if q else 0.0, q.scale if q else 1.0,
        _integer("sequence_id", sequence_id, -2**63, 2**63 - 1),
        _integer("frame_num", frame_num, 0, 2**32 - 1),
        _integer("timestamp", timestamp, 0, 2**64 - 1), _threads(threads),
        0 if chunk_size is None else _integer("chunk_size", chunk_size, 1, _SIZE_MAX))


def read_header(blob: BufferLike, *, max_decoded_size: Optional[int] = None) -> FrameHeader:
    """Read and validate a blob's header without decoding the payload.

    Parameters
    ----------
    blob : bytes-like
        The blob (bytes, bytearray, memoryview or contiguous numpy array);
        only its header is read.
    max_decoded_size : int, optional
        Refuse headers claiming more decoded bytes than this (default
        :data:`DEFAULT_MAX_DECODED_SIZE`).

    Returns
    -------
    FrameHeader
        The header's fields, with ``decoded_size`` the bytes of the decoded
        array.  Quantisation parameters are taken as stored.

    Raises
    ------
    BadArgumentError
        ``blob`` is not a contiguous buffer, or ``max_decoded_size`` is not
        an integer from 0 to 2**64 - 1.
    CorruptDataError
        Not a PZF blob, or inconsistent header.
    UnsupportedFormatError
        Unknown version, data format or compression.
    DataTooLargeError
        The header claims more than ``max_decoded_size`` bytes (default
        :data:`DEFAULT_MAX_DECODED_SIZE`).
    """
    h = _core.read_header(_flat_bytes(blob), _max_size(max_decoded_size))
    quant = None
    if h["quantization"]:  # taken as stored, even values compress() would refuse
        quant = Quantization.__new__(Quantization)
        object.__setattr__(quant, "offset", float(h["quant_offset"]))
        object.__setattr__(quant, "scale", float(h["quant_scale"]))
    return FrameHeader(
        version=h["version"], dtype=_FORMATS[h["data_format"]],
        compression=COMPRESSIONS[h["compression"]], quantization=quant,
        dim_order=h["dim_order"], sequence_id=h["sequence_id"], frame_num=h["frame_num"],
        shape=tuple(h["shape"]), timestamp=h["timestamp"], data_offset=h["data_offset"],
        decoded_size=h["decoded_size"])


def decompress(blob: BufferLike, out: Optional[np.ndarray] = None, *, threads: int = 1,
               max_decoded_size: Optional[int] = None) -> np.ndarray:
    """Decode a PZF blob (any version PYME wrote, or pzfcodec's v3).

    Parameters
    ----------
    blob : bytes-like
        The blob.
    out : numpy.ndarray, optional
        Destination with the blob's dtype and element count, aligned and
        contiguous in the blob's memory order (``read_header(blob).dim_order``);
        decoded in place and returned.
    threads : int, optional
        Threads for chunked and context blobs (0 = all CPUs).
    max_decoded_size : int, optional
        Refuse blobs claiming more decoded bytes than this (default
        :data:`DEFAULT_MAX_DECODED_SIZE`), before allocating anything.

    Returns
    -------
    numpy.ndarray
        ``(width, height)`` when the depth is 1, else ``(width, height,
        depth)``, in the blob's memory order.  De-quantised values follow
        PYME's float32 formula bit for bit, except that values beyond the
        output type's range saturate (PYME wraps them); context blobs
        store the mean pixel value of every symbol and reconstruct that
        (rounded to the nearest integer for integer types).

    Raises
    ------
    CorruptDataError, UnsupportedFormatError, DataTooLargeError
        Bad blob; nothing is returned and ``out`` may be partly written.
    """
    src = _flat_bytes(blob)
    header = read_header(src, max_decoded_size=max_decoded_size)
    if out is None:
        out = np.empty(header.array_shape, dtype=header.dtype, order=header.dim_order)
    else:
        if not isinstance(out, np.ndarray):
            raise BadArgumentError(f"out must be a numpy array, got {type(out).__name__}")
        contiguous = out.flags.f_contiguous if header.dim_order == "F" else out.flags.c_contiguous
        wrong = [what for what, bad in (
            (f"dtype {out.dtype}", out.dtype != header.dtype),
            (f"{out.size} elements", out.size * out.itemsize != header.decoded_size),
            (f"not {header.dim_order}-contiguous", not contiguous),
            ("read-only", not out.flags.writeable),
            ("not aligned", not out.flags.aligned)) if bad]
        if wrong:
            raise BadArgumentError(
                f"out must be a writeable, aligned {header.dtype} array of "
                f"{int(np.prod(header.array_shape))} elements, {header.dim_order}-contiguous "
                f"(numpy.empty({header.array_shape}, '{header.dtype}', order='{header.dim_order}') "
                f"gives one); got {', '.join(wrong)}")
    _core.decompress_into(src, _flat_bytes(out), _max_size(max_decoded_size), _threads(threads))
    return out


def _format_of(dtype) -> int:
    dt = np.dtype(dtype)
    if dt not in _FORMATS:
        raise BadArgumentError(f"dtype must be uint8, uint16 or float32, got {dt}")
    return _FORMATS.index(dt)


def quantize(x: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """Square-root quantise values to uint8 symbols.

    ``q = round(sqrt(x - offset) / scale)`` computed exactly (ties round
    up), 0 for ``x <= offset`` and NaN, saturated at 255.

    Parameters
    ----------
    x : numpy.ndarray
        uint8, uint16 or float32 values (either byte order).
    offset, scale : float
        As in :class:`Quantization`.

    Returns
    -------
    numpy.ndarray
        uint8 symbols of ``x``'s shape.

    Raises
    ------
    BadArgumentError
        Another dtype, or bad quantisation parameters.
    """
    q = Quantization(offset, scale)
    arr = np.asarray(x)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr = np.require(arr, requirements="CA")  # contiguous and aligned for C
    out = np.empty(arr.shape, dtype=np.uint8)
    _core.quantize(_flat_bytes(arr), _format_of(arr.dtype), q.offset, q.scale, _flat_bytes(out))
    return out


def dequantize(q: np.ndarray, offset: float, scale: float, dtype=np.uint16) -> np.ndarray:
    """Inverse of :func:`quantize` as PYME computes it.

    ``(float32(q) * float32(scale))**2 + float32(offset)`` in float32, then
    truncated toward zero to ``dtype``, saturating at its range.

    Parameters
    ----------
    q : numpy.ndarray
        Symbols: uint8, or integers from 0 to 255.
    offset, scale : float
        As in :class:`Quantization`; any finite values (as a blob's header
        may hold) are accepted.
    dtype : numpy dtype, optional
        uint8, uint16 (default) or float32.

    Returns
    -------
    numpy.ndarray
        Values of ``dtype`` and ``q``'s shape.

    Raises
    ------
    BadArgumentError
        Symbols that are not integers from 0 to 255, another dtype, or an
        offset or scale that is not a finite number.
    """
    try:  # any finite pair a blob's header may carry, unlike quantize()
        offset, scale = float(offset), float(scale)
    except (TypeError, ValueError):
        raise BadArgumentError(f"offset and scale must be numbers, got {offset!r}, {scale!r}") from None
    if not (math.isfinite(offset) and math.isfinite(scale)):
        raise BadArgumentError(f"offset and scale must be finite, got {offset}, {scale}")
    sym = np.asarray(q)
    if sym.dtype != np.uint8:
        if sym.dtype.kind not in "iu" or (sym.size and (sym.min() < 0 or sym.max() > 255)):
            raise BadArgumentError(
                f"symbols must be integers from 0 to 255 (uint8); got {sym.dtype} values")
    sym = np.ascontiguousarray(sym, dtype=np.uint8)
    out = np.empty(sym.shape, dtype=np.dtype(dtype))
    _core.dequantize(_flat_bytes(sym), offset, scale, _format_of(dtype), _flat_bytes(out))
    return out


def huffman_compress(buf: BufferLike) -> bytes:
    """Huffman-code bytes into a stream PYME/pymecompress decodes (BCL layout).

    Parameters
    ----------
    buf : bytes-like
        The bytes to code (bytes, bytearray, memoryview or contiguous numpy
        array, taken as its raw bytes).

    Returns
    -------
    bytes
        The stream.  It does not record its length: keep ``len(buf)`` to
        decode it with :func:`huffman_decompress`.

    Raises
    ------
    BadArgumentError
        ``buf`` is not a contiguous buffer.
    """
    return _core.huffman_compress(_flat_bytes(buf))


def huffman_decompress(buf: BufferLike, nbytes: int) -> bytes:
    """Decode a BCL-layout Huffman stream into ``nbytes`` bytes.

    The stream does not record its length, so ``nbytes`` must be known.

    Parameters
    ----------
    buf : bytes-like
        The stream, as :func:`huffman_compress` (or PYME) writes it.
    nbytes : int
        Number of bytes to decode, from 0 to ``sys.maxsize``.

    Returns
    -------
    bytes
        Exactly ``nbytes`` decoded bytes.

    Raises
    ------
    BadArgumentError
        ``buf`` is not a contiguous buffer, or ``nbytes`` is not an integer
        in range.
    CorruptDataError
        A bad tree, or a stream that ends too early.
    """
    return _core.huffman_decompress(_flat_bytes(buf), _integer("nbytes", nbytes, 0, sys.maxsize))


def compress_stack(frames: Iterable[np.ndarray], compression: str = "huffman",
                   quantization: Union[Quantization, Tuple[float, float], None] = None, *,
                   sequence_id: int = 0, first_frame: int = 0,
                   threads: int = 0) -> list:
    """Compress many frames in parallel, one blob per frame.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        A 3-D array ``(n, width, height)`` is taken as n 2-D frames.
    compression, quantization
        As for :func:`compress`.
    sequence_id : int
        Stored in every header.
    first_frame : int
        Frame number of the first frame; the others follow.
    threads : int
        Worker threads (0 = all CPUs).

    Returns
    -------
    list of bytes
    """
    q = as_quantization(quantization)
    with ThreadPoolExecutor(_threads(threads)) as pool:
        return list(pool.map(
            lambda item: compress(item[1], compression, q, sequence_id=sequence_id,
                                  frame_num=first_frame + item[0]),
            enumerate(frames)))


def decompress_stack(blobs: Sequence[BufferLike], *, threads: int = 0,
                     max_decoded_size: Optional[int] = None) -> np.ndarray:
    """Decode many blobs of one shape and dtype in parallel into one array.

    Parameters
    ----------
    blobs : sequence of bytes-like
        At least one blob; all must decode to the same shape and dtype
        (their memory orders may differ).
    threads : int, optional
        Worker threads (0 = all CPUs); each blob is decoded on one thread.
    max_decoded_size : int, optional
        Refuse blobs claiming more decoded bytes than this (default
        :data:`DEFAULT_MAX_DECODED_SIZE`), as for :func:`decompress`.

    Returns
    -------
    numpy.ndarray
        C-ordered array of shape ``(len(blobs),) + frame shape``, where the
        frame shape is that :func:`decompress` returns.

    Raises
    ------
    BadArgumentError
        ``blobs`` is empty, or a blob's shape or dtype differs from the
        first blob's.
    CorruptDataError, UnsupportedFormatError, DataTooLargeError
        A bad blob; nothing is returned.
    """
    if len(blobs) == 0:
        raise BadArgumentError("decompress_stack needs at least one blob")
    first = read_header(blobs[0], max_decoded_size=max_decoded_size)
    out = np.empty((len(blobs),) + first.array_shape, dtype=first.dtype)

    def decode(i: int) -> None:
        h = read_header(blobs[i], max_decoded_size=max_decoded_size)
        if h.array_shape != first.array_shape or h.dtype != first.dtype:
            raise BadArgumentError(
                f"blob {i} is {h.dtype} {h.array_shape}, blob 0 is "
                f"{first.dtype} {first.array_shape}; decode them separately")
        if h.dim_order == "C":  # straight into the stack
            decompress(blobs[i], out=out[i], max_decoded_size=max_decoded_size)
        else:
            out[i] = decompress(blobs[i], max_decoded_size=max_decoded_size)

    with ThreadPoolExecutor(_threads(threads)) as pool:
        list(pool.map(decode, range(len(blobs))))
    return out
