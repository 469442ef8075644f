"""Writers of image series in PYME's HDF5 layouts (h5py only).

* :func:`write_h5` writes ``/PZFImageData`` + ``/PZFImageIndex`` exactly as
  PYME's own PZF writer lays them out, so PYME opens the file with no extra
  software.
* :func:`write_h5_filtered` writes PYME's ``/ImageData`` layout compressed
  with the PZF HDF5 filter (chunk = one frame): any HDF5 program with the
  pzfcodec filter plugin reads it.

Both copy metadata into ``/MetaData`` and events into ``/Events`` with the
types PyTables uses.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Tuple, Union

import h5py
import numpy as np

from ..atomic import TEMP_PREFIX
from ..codec import MAX_THREADS, as_quantization, compress_stack
from ..errors import BadArgumentError
from ..hdf5 import PZF
from ._hdf import set_str_attr, tag_group, tag_table, write_events, write_metadata
from .h5 import PathLike

__all__ = ["write_h5", "write_h5_filtered"]

Frames = Union[np.ndarray, Sequence[np.ndarray]]
Progress = Optional[Callable[[int, int], None]]
#: ``fill(frames, dataset, progress)`` writes the frames into the dataset
Fill = Callable[[Any, h5py.Dataset, Progress], Any]
_INDEX_DTYPE = np.dtype([("FrameNum", "<i4"), ("Position", "<i4")])
_BATCH_BYTES = 64 << 20


def frame_info(frames: Frames) -> Tuple[int, Tuple[int, ...], np.dtype]:
    """``(count, frame shape, dtype)`` of a non-empty numeric ``(frames, x, y)``
    stack; the dtype in native byte order, as the writers store it."""
    n = len(frames)
    if n == 0:
        raise BadArgumentError("there are no frames to write")
    shape = getattr(frames, "shape", None)
    dtype = getattr(frames, "dtype", None)
    if shape is None or dtype is None:
        first = np.asarray(frames[0])
        shape, dtype = (n,) + first.shape, first.dtype
    dtype = np.dtype(dtype)
    if len(shape) != 3:
        raise BadArgumentError(f"frames must be a (frames, x, y) stack, got shape {tuple(shape)}")
    if 0 in shape[1:]:
        raise BadArgumentError(f"frames of shape {tuple(shape[1:])} hold no pixels")
    if dtype.kind not in "buif":
        raise BadArgumentError(f"frames must hold numbers (integers or floats), got {dtype}")
    return n, tuple(int(s) for s in shape[1:]), dtype.newbyteorder("=")


def frame_batches(frames: Frames, n: int, frame_shape: Tuple[int, ...], dtype: np.dtype):
    """``(first index, array)`` of consecutive frames, about 64 MiB at a time,
    converted to ``dtype``."""
    step = max(1, min(n, _BATCH_BYTES // max(int(np.prod(frame_shape)) * dtype.itemsize, 1)))
    for k0 in range(0, n, step):
        k1 = min(n, k0 + step)
        yield k0, np.asarray(frames[k0:k1], dtype=dtype)


def series_metadata(metadata: Optional[Mapping[str, Any]]) -> dict:
    md = dict(metadata or {})
    md.setdefault("DimOrder", "XYCZT")
    md.setdefault("SizeC", 1)
    md.setdefault("SizeZ", 1)
    md.setdefault("SizeT", -1)
    return md


def series_sequence_id(metadata: Mapping[str, Any], sequence_id: Optional[int] = None) -> int:
    """The SequenceID of a series' frame headers: ``sequence_id`` when given,
    else the metadata's ``imageID`` (as PYME does), else 0."""
    if sequence_id is not None:
        return sequence_id
    try:
        return int(metadata.get("imageID", 0))
    except (TypeError, ValueError):
        return 0


#: disk space set aside while writing, given back to HDF5 on a write error
_RESERVE_BYTES = 8 << 20


@contextlib.contextmanager
def _reserve(folder: str) -> Iterator[Callable[[], None]]:
    """Set aside disk space in ``folder`` (a hidden file, removed on exit);
    yields a function that gives it back early.  Nothing is set aside where
    the file system cannot allocate ahead (or lacks the space)."""
    path = os.path.join(folder, f"{TEMP_PREFIX}reserve-{secrets.token_hex(8)}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        yield lambda: None
        return
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fallocate(fd, 0, _RESERVE_BYTES)
    finally:
        os.close(fd)

    def release() -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)

    try:
        yield release
    finally:
        release()


@contextlib.contextmanager
def _new_file(path: PathLike) -> Iterator[h5py.File]:
    """A new HDF5 file, closed in a defined order on every path.

    HDF5 cannot close a file whose metadata it cannot write: on a full disk
    the close fails and HDF5 crashes later, when the interpreter releases
    the objects.  So a few MiB are set aside beside the file while it is
    written; on any error they are given back before the file is closed,
    and on success the file is flushed (a full disk is reported there,
    while the file is consistent) before it is closed.
    """
    path = os.fspath(path)
    with _reserve(os.path.dirname(os.path.abspath(path))) as give_back:
        f = h5py.File(path, "w")  # superblock 0, as PyTables writes
        try:
            tag_group(f, root=True)
            yield f
            f.flush()
        except BaseException:
            give_back()
            with contextlib.suppress(Exception):
                f.close()
            raise
        f.close()


def write_h5(path: PathLike, frames: Frames, metadata: Optional[Mapping[str, Any]] = None,
             events: Optional[np.ndarray] = None, *, compression: str = "huffman",
             quantization: Any = None, threads: int = 1, sequence_id: Optional[int] = None,
             progress: Progress = None) -> int:
    """Write a series as a PYME ``.h5`` with ``/PZFImageData`` + ``/PZFImageIndex``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten).
    frames : array or sequence of arrays
        ``(frames, x, y)`` uint8, uint16 or float32 stack, or anything
        sliceable that yields one (e.g. an open :class:`Series`).
    metadata : mapping, optional
        Flat ``{'Camera.ADOffset': 100.0, ...}`` metadata.  ``DimOrder``,
        ``SizeC``, ``SizeZ`` and ``SizeT`` get PYME's defaults when absent.
    events : numpy.ndarray, optional
        Events (fields EventName, EventDescr, Time).
    compression : {"huffman", "raw", "chunked"}
        PZF coding of each frame ("chunked" is not readable by PYME;
        "context" is refused, since PYME cannot read it).
    quantization : Quantization or (offset, scale), optional
        Square-root quantisation (lossy); None is lossless.
    threads : int
        Threads coding frames in parallel (0 = all CPUs).
    sequence_id : int, optional
        Stored in every frame header (default: metadata ``imageID`` or 0).
    progress : callable, optional
        Called as ``progress(frames_done, frames_total)``.

    Returns
    -------
    int
        Number of frames written.
    """
    if compression == "context":
        raise BadArgumentError(
            "compression='context' cannot go into a PYME-native file: PYME cannot read "
            "context-coded PZF frames; use 'huffman', or write an HDF5 dataset with the PZF "
            "filter (write_h5_filtered, convert --to hdf5)")
    n, frame_shape, dtype = frame_info(frames)
    md = series_metadata(metadata)
    sequence_id = series_sequence_id(md, sequence_id)
    with _new_file(path) as f:
        data = f.create_dataset("PZFImageData", shape=(n,), maxshape=(None,), chunks=(min(n, 65536),),
                                dtype=h5py.vlen_dtype(np.uint8))
        set_str_attr(data, "CLASS", b"VLARRAY")
        set_str_attr(data, "PSEUDOATOM", b"vlstring")
        set_str_attr(data, "TITLE", b"")
        set_str_attr(data, "VERSION", b"1.4")
        for k0, batch in frame_batches(frames, n, frame_shape, dtype):
            blobs = compress_stack(batch, compression, quantization, sequence_id=sequence_id,
                                   first_frame=k0, threads=threads)
            for j, blob in enumerate(blobs):  # one by one: h5py makes equal-length rows 2-D
                data[k0 + j] = np.frombuffer(blob, dtype=np.uint8)
            if progress is not None:
                progress(k0 + len(blobs), n)
        rows = np.empty(n, dtype=_INDEX_DTYPE)
        rows["FrameNum"] = rows["Position"] = np.arange(n)
        index = f.create_dataset("PZFImageIndex", data=rows, maxshape=(None,), chunks=(8192,),
                                 shuffle=True, compression="gzip", compression_opts=5)
        tag_table(index)
        write_metadata(f, md)
        write_events(f, events)
    return n


def write_h5_filtered(path: PathLike, frames: Frames, metadata: Optional[Mapping[str, Any]] = None,
                      events: Optional[np.ndarray] = None, *, compression: str = "huffman",
                      quantization: Any = None, threads: int = 1, progress: Progress = None,
                      fill: Optional[Fill] = None) -> int:
    """Write a series as PYME's ``/ImageData`` layout with the PZF HDF5 filter.

    One chunk per frame.  Parameters as for :func:`write_h5`; lossy
    quantisation applies to uint8, uint16 and float32 frames.  ``fill``,
    when given, writes the frames into the new dataset instead of h5py
    (called as ``fill(frames, dataset, progress)``): for instance
    :func:`pzfcodec.dask.write_hdf5`, which compresses them on a Dask
    cluster.

    Returns
    -------
    int
        Number of frames written.
    """
    n, frame_shape, dtype = frame_info(frames)
    md = series_metadata(metadata)
    # the filter runs threads only within a chunk, in chunked and context modes
    # (0 = all CPUs)
    threads = max(1, min(MAX_THREADS, threads or os.cpu_count() or 1)) \
        if compression in ("chunked", "context") else 1
    q = as_quantization(quantization)
    if q is not None and dtype not in (np.uint8, np.uint16, np.float32):
        raise BadArgumentError(
            f"quantisation needs uint8, uint16 or float32 frames, got {dtype}; convert "
            "losslessly, or convert the frames to one of these types first")
    offset, scale = (q.offset, q.scale) if q else (None, None)
    opts = PZF(offset, scale, compression=compression, threads=threads)
    with _new_file(path) as f:
        ds = f.create_dataset("ImageData", shape=(n,) + frame_shape, maxshape=(None,) + frame_shape,
                              chunks=(1,) + frame_shape, dtype=dtype, compression=opts)
        set_str_attr(ds, "CLASS", b"EARRAY", utf8=False)
        ds.attrs.create("EXTDIM", np.int32(0))
        set_str_attr(ds, "TITLE", b"", utf8=False)
        set_str_attr(ds, "VERSION", b"1.1", utf8=False)
        set_str_attr(ds, "DimOrder", str(md["DimOrder"]))
        for key in ("SizeC", "SizeZ", "SizeT"):
            ds.attrs.create(key, np.int64(md[key]))
        (fill or _fill)(frames, ds, progress)
        write_metadata(f, md)
        write_events(f, events)
    return n


def _fill(frames: Frames, ds: h5py.Dataset, progress: Progress) -> None:
    """Write frames into a dataset batch by batch, through h5py (and its filters)."""
    n = ds.shape[0]
    for k0, batch in frame_batches(frames, n, tuple(ds.shape[1:]), ds.dtype):
        ds[k0:k0 + len(batch)] = batch
        if progress is not None:
            progress(k0 + len(batch), n)
