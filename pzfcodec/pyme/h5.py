"""Reader of PYME image series stored as HDF5 (``.h5``).

Two layouts exist (both written by PYME through PyTables):

* ``/ImageData``: a 3-D dataset ``(frames, x, y)``, uncompressed, zlib (+
  shuffle) or blosc (needs ``hdf5plugin``), or PZF-filtered as written by
  ``pzfcodec convert``;
* ``/PZFImageData`` + ``/PZFImageIndex``: one PZF blob per frame in a
  variable-length array, found through the index table (storage order need
  not be frame order; every frame has its own compression, quantisation and
  memory order).

Both carry PYME metadata in ``/MetaData`` and optionally ``/Events``.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple, Union

import h5py
import numpy as np

from .. import hdf5
from ..budget import BudgetLike, ReadBudget
from ..codec import decompress, read_header
from ..errors import CorruptDataError, DataTooLargeError, FileLockedError, PZFError, UnsupportedFormatError
from ._hdf import (check_pzf_dataset, check_stored, filter_names, opened, read_events,
                   read_metadata, read_rows)
from .series import Series

__all__ = ["H5Series", "open_h5", "open_hdf5_file"]

PathLike = Union[str, "os.PathLike[str]"]
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_PZF_INDEX_DTYPE = np.dtype([("FrameNum", "<i4"), ("Position", "<i4")])
#: rows of /PZFImageData that open() tries for a frame with a valid header
_HEADER_SCAN_ROWS = 64


def open_hdf5_file(path: PathLike) -> h5py.File:
    """Open an HDF5 file read-only, turning h5py's errors into pzfcodec's."""
    path = os.fspath(path)
    with open(path, "rb") as fh:  # FileNotFoundError / PermissionError pass through
        head = fh.read(8)
    if head != _HDF5_SIGNATURE:
        raise UnsupportedFormatError(f"{path} is not an HDF5 file (it does not start with the HDF5 signature)")
    try:
        return h5py.File(path, "r")
    except RuntimeError as exc:  # h5py's error for some damaged superblocks
        raise CorruptDataError(f"cannot open {path}: the HDF5 file is damaged ({exc})") from None
    except OSError as exc:
        try:  # being written in SWMR mode, or its SWMR writer crashed
            return h5py.File(path, "r", swmr=True)
        except (OSError, RuntimeError):
            pass
        if isinstance(exc, BlockingIOError) or "unable to lock file" in str(exc):
            raise FileLockedError(
                f"cannot open {path}: another program (e.g. a PYME acquisition or data server still "
                "writing) holds the HDF5 file open for writing and has locked it. Wait until it "
                "closes the file, or read it anyway, perhaps incomplete, with the environment "
                "variable HDF5_USE_FILE_LOCKING=FALSE (or h5py.File(path, 'r', locking=False))") from None
        raise CorruptDataError(f"cannot open {path}: the HDF5 file is truncated or damaged ({exc})") from None


def _make_filters_available(ds: h5py.Dataset) -> None:
    """Load the filter plugins a dataset needs (blosc & co via hdf5plugin, PZF)."""
    plist = ds.id.get_create_plist()
    ids = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if all(h5py.h5z.filter_avail(fid) for fid in ids):
        return
    try:
        import hdf5plugin  # noqa: F401  (registers blosc, zstd, lz4, ...)
    except ImportError:
        pass
    hdf5.register()  # the PZF filter


class H5Series(Series):
    """An image series in a PYME ``.h5`` file; see :func:`open_h5`.

    Attributes
    ----------
    path : str
        The file.
    kind : str
        ``'ImageData'`` or ``'PZFImageData'``.
    """

    def __init__(self, path: PathLike, *, max_decoded_size: BudgetLike = None) -> None:
        self.path = os.fspath(path)
        self._limits = ReadBudget.of(max_decoded_size)
        self._open()

    def _open(self) -> None:
        self._file: Optional[h5py.File] = open_hdf5_file(self.path)
        try:
            if "PZFImageData" in self._file:
                self._init_pzf()
            elif "ImageData" in self._file:
                self._init_image()
            else:
                raise UnsupportedFormatError(
                    f"{self.path} holds no image series (neither /ImageData nor /PZFImageData); "
                    "localisation results (.h5r) open with pzfcodec.pyme.open_h5r")
        except BaseException:
            self.close()
            raise

    # -- layouts -------------------------------------------------------------
    def _init_image(self) -> None:
        ds = self._file["ImageData"]
        if not isinstance(ds, h5py.Dataset) or ds.ndim < 3:
            raise UnsupportedFormatError(f"{self.path}: /ImageData must be a dataset of shape (frames, x, y)")
        _make_filters_available(ds)
        check_pzf_dataset(ds, f"{self.path} /ImageData")
        self.kind = "ImageData"
        self._ds = ds
        self._nframes = ds.shape[0]
        self._frame_shape = tuple(ds.shape[1:])
        self._dtype = ds.dtype
        self._check_frames(1)

    def _init_pzf(self) -> None:
        ds = self._file["PZFImageData"]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or h5py.check_vlen_dtype(ds.dtype) != np.uint8:
            raise UnsupportedFormatError(
                f"{self.path}: /PZFImageData must be a 1-D variable-length array of bytes")
        self.kind = "PZFImageData"
        self._ds = ds
        self._nframes = ds.shape[0]
        check_stored(ds, f"{self.path} /PZFImageData")
        # the sorted index: frame numbers and positions, int64
        self._limits.charge_bytes(self._nframes * 24, f"{self.path}: the index of /PZFImageData")
        index = self._file.get("PZFImageIndex")
        if index is None:
            frame_nums = positions = np.arange(self._nframes, dtype=np.int64)
        else:
            if not isinstance(index, h5py.Dataset) or index.dtype.names is None or \
                    not {"FrameNum", "Position"} <= set(index.dtype.names):
                raise CorruptDataError(f"{self.path}: /PZFImageIndex lacks the FrameNum/Position columns")
            rows = read_rows(index, f"{self.path} /PZFImageIndex", self._limits)
            frame_nums = rows["FrameNum"].astype(np.int64)
            positions = rows["Position"].astype(np.int64)
        order = np.argsort(frame_nums, kind="stable")
        self._index_frames = frame_nums[order]
        self._index_positions = positions[order]
        self._frame_shape, self._dtype = self._first_frame_layout()
        self._check_frames(1)

    def _first_frame_layout(self) -> Tuple[Tuple[int, ...], np.dtype]:

        for row in range(min(self._nframes, _HEADER_SCAN_ROWS)):
            try:
                h = read_header(self._ds[row].tobytes(), max_decoded_size=self._limits.max_bytes)
            except PZFError:
                continue
            return tuple(h.array_shape), np.dtype(h.dtype)
        if self._nframes == 0:
            return (0, 0), np.dtype(np.uint16)
        raise CorruptDataError(
            f"{self.path}: none of the first {min(self._nframes, _HEADER_SCAN_ROWS)} of "
            f"{self._nframes} PZF frames has a valid header")

    # -- frames --------------------------------------------------------------
    def _position(self, i: int) -> int:
        k = int(np.searchsorted(self._index_frames, i))
        if k == self._index_frames.size or self._index_frames[k] != i:
            raise CorruptDataError(f"{self.path}: frame {i} is missing from /PZFImageIndex")
        if k + 1 < self._index_frames.size and self._index_frames[k + 1] == i:
            raise CorruptDataError(f"{self.path}: frame {i} appears more than once in /PZFImageIndex")
        pos = int(self._index_positions[k])
        if not 0 <= pos < self._ds.shape[0]:
            raise CorruptDataError(
                f"{self.path}: /PZFImageIndex places frame {i} at row {pos}, outside /PZFImageData "
                f"(rows 0..{self._ds.shape[0] - 1}); the index is damaged")
        return pos

    def _read_frame(self, i: int) -> np.ndarray:
        opened(self._file, self.path)
        if self.kind == "ImageData":
            return self._read_image(np.s_[i])

        pos = self._position(i)
        expected = int(np.prod(self._frame_shape)) * self._dtype.itemsize
        try:
            frame = decompress(self._ds[pos].tobytes(), max_decoded_size=expected)
        except PZFError as exc:
            raise type(exc)(f"{self.path}: frame {i} (row {pos} of /PZFImageData): {exc}") from exc
        if frame.shape != self._frame_shape or frame.dtype != self._dtype:
            raise CorruptDataError(
                f"{self.path}: frame {i} is {frame.shape} {frame.dtype}, but the series is "
                f"{self._frame_shape} {self._dtype}")
        return frame

    def _read_image(self, sel: Any) -> np.ndarray:
        try:
            return self._ds[sel]
        except (MemoryError, OSError) as exc:
            if isinstance(exc, OSError) and "memory allocation failed" not in str(exc):
                raise self._unreadable(exc) from None
            raise DataTooLargeError(
                f"{self.path}: not enough memory to read these frames of /ImageData (a process "
                "limit or the machine's memory); read fewer frames at once") from None

    def _unreadable(self, exc: OSError) -> CorruptDataError:
        missing = [n for n in filter_names(self._ds) if n]
        return CorruptDataError(
            f"{self.path}: cannot read /ImageData ({exc}). If this names a missing filter, "
            f"install the HDF5 filter plugins (pip install hdf5plugin; filters: {missing}); "
            "otherwise the file is damaged or truncated")

    def _read_frames(self, indices: range) -> np.ndarray:
        if self._file is not None and self.kind == "ImageData" and indices.step > 0 and len(indices):
            self._check_frames(len(indices))
            return self._read_image(np.s_[indices.start:indices.stop:indices.step])
        return super()._read_frames(indices)

    # -- metadata ------------------------------------------------------------
    def _read_metadata(self) -> Dict[str, Any]:
        md = read_metadata(opened(self._file, self.path).get("MetaData"), self.path, self._limits)
        if self.kind == "ImageData":
            for key in ("DimOrder", "SizeC", "SizeZ", "SizeT"):
                if key not in md and key in self._ds.attrs:
                    value = self._ds.attrs[key]
                    md[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return md

    def _read_events(self) -> np.ndarray:
        return read_events(opened(self._file, self.path), self._limits)

    @property
    def storage(self) -> str:
        """How the frames are stored (filters, or the first frame's PZF coding)."""
        if self.kind == "ImageData":
            names = filter_names(self._ds)
            return "+".join(names) if names else "uncompressed"
        if not self._nframes:
            return "PZF (no frames)"

        try:
            h = read_header(self._ds[self._position(0)].tobytes())
        except PZFError as exc:
            return f"PZF (frame 0 unreadable: {exc})"
        q = h.quantization
        quant = f", sqrt-quantised (offset {q.offset:g}, scale {q.scale:g})" if q is not None else ", lossless"
        return f"PZF {h.compression}{quant} (frame 0)"

    def refresh(self) -> int:
        """Open the file again to see the frames a writer added since (e.g. a
        :class:`pzfcodec.SeriesWriter` in another process); returns ``len(self)``."""
        self.close()
        self._metadata = self._events = None
        self._open()
        return len(self)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"<H5Series {self.path!r} kind={self.kind} shape={self.shape} dtype={self.dtype}>"


def open_h5(path: PathLike, *, max_decoded_size: BudgetLike = None) -> H5Series:
    """Open a PYME image series (``.h5``) lazily.

    Parameters
    ----------
    path : str or os.PathLike
        A PYME ``.h5`` with ``/ImageData`` or ``/PZFImageData``.
    max_decoded_size : int or ReadBudget, optional
        What one read may allocate (default
        :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE` bytes): opening, the
        metadata and the events share this budget; each frame, and each
        read of several frames, must fit in its byte limit.

    Returns
    -------
    H5Series
        Use as a context manager: ``with open_h5(p) as s: frame = s[0]``.
        ``s.shape`` is ``(frames, x, y)``; ``s.metadata`` and ``s.events``
        hold PYME's metadata and events.

    Raises
    ------
    pzfcodec.UnsupportedFormatError
        The file is not HDF5 or holds no image series.
    pzfcodec.CorruptDataError
        The file is truncated or damaged, declares tables or frames it does
        not store, or its PZF filter parameters do not match its chunks.  A
        damaged PZF frame raises only when that frame is read.
    pzfcodec.DataTooLargeError
        A frame, the index, the metadata or the events exceed the budget.
    pzfcodec.FileLockedError
        Another program holds the file open for writing (HDF5 file locking);
        the message says how to read it anyway.
    """
    return H5Series(path, max_decoded_size=max_decoded_size)
