"""The image-series interface shared by every PYME image reader.

A :class:`Series` is a lazy stack of frames, indexed like a numpy array of
shape ``(frames, x, y)``: ``s[i]`` reads frame ``i`` only, ``s[a:b]`` reads
those frames, ``np.asarray(s)`` reads them all.  Frames are oriented as PYME
orients them (first axis = first camera axis, x).

Subclasses implement ``_read_frame(i)`` (``0 <= i < len(s)``, already
checked), set ``_nframes``, ``_frame_shape`` and ``_dtype``, and may override
``_read_metadata()``, ``_read_events()``, ``_read_frames(indices)`` (a faster
path for several frames) and ``close()``.
"""
from __future__ import annotations

import operator
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from ..budget import ReadBudget
from ..errors import BadArgumentError, DataTooLargeError

__all__ = ["Series", "EVENTS_DTYPE", "DIMENSION_KEYS", "empty_events", "make_events"]

#: the metadata keys that name a series' dimensions (all four, or PYME takes frames as z).
DIMENSION_KEYS = ("DimOrder", "SizeC", "SizeZ", "SizeT")

#: dtype of :attr:`Series.events` (text decoded to ``str``, Time in seconds since the epoch).
EVENTS_DTYPE = np.dtype([("EventName", "U32"), ("EventDescr", "U256"), ("Time", "<f8")])


def empty_events() -> np.ndarray:
    """An events array with no rows."""
    return np.empty(0, dtype=EVENTS_DTYPE)


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def make_events(names: Sequence[Any], descrs: Sequence[Any], times: Sequence[Any]) -> np.ndarray:
    """Build an events array from columns (bytes are decoded as UTF-8).

    Parameters
    ----------
    names : sequence
        Event names (bytes, decoded as UTF-8 with replacement, or anything
        else, converted with ``str``); stored in a 32-character field.
    descrs : sequence
        Event descriptions, converted likewise; stored in a 256-character
        field.
    times : sequence of float
        Event times (seconds since the epoch), converted to float64.

    Returns
    -------
    numpy.ndarray
        Structured array of dtype :data:`EVENTS_DTYPE`, one row per event.
        Longer text is truncated to the field size.

    Raises
    ------
    pzfcodec.BadArgumentError
        The three columns have different lengths.
    """
    if not len(names) == len(descrs) == len(times):
        raise BadArgumentError("event names, descriptions and times must have the same length")
    out = np.empty(len(names), dtype=EVENTS_DTYPE)
    out["EventName"] = [_text(v) for v in names]
    out["EventDescr"] = [_text(v) for v in descrs]
    out["Time"] = np.asarray(times, dtype=np.float64)
    return out


class Series:
    """A lazily read image series of shape ``(frames, x, y)``.

    Use as a context manager (``with open_h5(path) as s:``) or call
    :meth:`close`.

    Attributes
    ----------
    shape : tuple of int
        ``(frames,) + frame shape``.
    dtype : numpy.dtype
        Pixel type.
    metadata : dict
        Flat ``{'Camera.ADOffset': value, ...}`` metadata (read on first use).
    events : numpy.ndarray
        Structured array with fields EventName, EventDescr (``str``) and
        Time (float64, seconds since the epoch); empty when there are none.
    """

    _nframes: int = 0
    _frame_shape: Tuple[int, ...] = ()
    _dtype: np.dtype = np.dtype(np.uint16)
    _metadata: Optional[Dict[str, Any]] = None
    _events: Optional[np.ndarray] = None
    #: the reader's budget: its byte limit bounds every frame and every read
    _limits: ReadBudget = ReadBudget()

    # -- to implement -------------------------------------------------------
    def _read_frame(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def _read_frames(self, indices: range) -> np.ndarray:
        self._check_frames(len(indices))
        out = np.empty((len(indices),) + tuple(self._frame_shape), dtype=self._dtype)
        for k, i in enumerate(indices):
            out[k] = self._read_frame(i)
        return out

    def _read_metadata(self) -> Dict[str, Any]:
        return {}

    def _read_events(self) -> np.ndarray:
        return empty_events()

    def close(self) -> None:
        """Release the underlying file."""

    # -- interface ----------------------------------------------------------
    def __enter__(self) -> "Series":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._nframes)

    @property
    def shape(self) -> Tuple[int, ...]:
        return (int(self._nframes),) + tuple(int(n) for n in self._frame_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def metadata(self) -> Dict[str, Any]:
        if self._metadata is None:
            self._metadata = self._read_metadata()
        return self._metadata

    @property
    def events(self) -> np.ndarray:
        if self._events is None:
            self._events = self._read_events()
        return self._events

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._read_frame(i)

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: Tuple[Any, ...] = ()
        if isinstance(key, tuple):
            if not key:
                key = slice(None)
            else:
                key, rest = key[0], key[1:]
        n = len(self)
        if isinstance(key, slice):
            out = self._read_frames(range(*key.indices(n)))
            return out[(slice(None),) + rest] if rest else out
        if key is Ellipsis:
            out = self._read_frames(range(n))
            return out[(Ellipsis,) + rest] if rest else out
        try:
            i = operator.index(key)
        except TypeError:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise IndexError(f"a boolean index of shape {idx.shape} does not match a "
                                     f"series of {n} frames")
                idx = np.flatnonzero(idx)
            if idx.ndim != 1 or idx.dtype.kind not in "iu":
                raise BadArgumentError(
                    f"series index must be an int, a slice or a 1-D list of ints, not {key!r}") from None
            idx = [self._check_index(int(j), n) for j in idx]
            self._check_frames(len(idx))
            out = np.empty((len(idx),) + tuple(self._frame_shape), dtype=self._dtype)
            for k, j in enumerate(idx):
                out[k] = self._read_frame(j)
            return out[(slice(None),) + rest] if rest else out
        frame = self._read_frame(self._check_index(i, n))
        return frame[rest] if rest else frame

    def _check_frames(self, count: int) -> None:
        """Refuse to read ``count`` frames at once when they exceed the byte
        limit of the reader's budget (nothing is allocated then)."""
        self._check_bytes(count * int(np.prod(self._frame_shape, dtype=object)) * self.dtype.itemsize,
                          f"{count} frame(s) of {tuple(self._frame_shape)} {self.dtype}")

    def _check_bytes(self, nbytes: int, what: str) -> None:
        if nbytes > self._limits.max_bytes:
            raise DataTooLargeError(
                f"{getattr(self, 'path', 'the series')}: {what} would need {nbytes} bytes, more than "
                f"this reader's limit of {self._limits.max_bytes}; if the file is trusted, open it "
                "with a larger max_decoded_size (or read fewer frames at once)")

    @staticmethod
    def _check_index(i: int, n: int) -> int:
        if not -n <= i < n:
            raise IndexError(f"frame {i} is out of range for a series of {n} frames")
        return i + n if i < 0 else i

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._read_frames(range(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    # -- dimensions ---------------------------------------------------------
    @property
    def has_dimensions(self) -> bool:
        """Whether the metadata names the dimensions: ``DimOrder``, ``SizeC``,
        ``SizeZ`` and ``SizeT`` all present.  Without them PYME's data sources
        take every frame as a z slice (``DimOrder 'XYZTC'``, SizeZ = frames),
        and so do :attr:`sizes`, :attr:`dim_order` and :meth:`frame_index`."""
        return all(k in self.metadata for k in DIMENSION_KEYS)

    @property
    def sizes(self) -> Dict[str, int]:
        """``{'z': SizeZ, 't': SizeT, 'c': SizeC}`` from the metadata, -1 resolved.

        As PYME: without all of DimOrder, SizeC, SizeZ and SizeT
        (:attr:`has_dimensions`) every frame is a z slice (SizeZ = number of
        frames, SizeT = SizeC = 1).  A size of -1 is the number of frames
        divided by the product of the other two sizes.
        """
        if not self.has_dimensions:
            return {"z": max(len(self), 1), "t": 1, "c": 1}
        md = self.metadata
        sizes = {}
        for axis, default in (("z", 1), ("t", -1), ("c", 1)):
            try:
                sizes[axis] = int(md.get(f"Size{axis.upper()}", default))
            except (TypeError, ValueError):
                sizes[axis] = default
        unknown = [a for a, v in sizes.items() if v <= 0]
        if len(unknown) > 1:
            for a in unknown[1:]:
                sizes[a] = 1
        if unknown:
            known = int(np.prod([v for a, v in sizes.items() if a != unknown[0]]))
            sizes[unknown[0]] = max(len(self) // max(known, 1), 1)
        return sizes

    @property
    def dim_order(self) -> str:
        """Order of the non-spatial axes, fastest first, e.g. ``'CZT'``
        (``'ZTC'`` when the metadata names no dimensions, as PYME)."""
        if not self.has_dimensions:
            return "ZTC"
        order = _text(self.metadata.get("DimOrder", "XYCZT")).upper()
        axes = order[2:] if order.startswith("XY") else order
        if sorted(axes) != ["C", "T", "Z"]:
            raise BadArgumentError(f"metadata DimOrder {order!r} is not a permutation of XY + C, Z, T")
        return axes

    def dimension_metadata(self) -> Dict[str, Any]:
        """``DimOrder``, ``SizeC``, ``SizeZ`` and ``SizeT`` as this series is
        read (what a copy must store so that PYME reads it the same way)."""
        sizes = self.sizes
        out: Dict[str, Any] = {"DimOrder": "XY" + self.dim_order}
        out.update({f"Size{a.upper()}": int(sizes[a]) for a in "czt"})
        return out

    def frame_index(self, z: int = 0, t: int = 0, c: int = 0) -> int:
        """The frame index of position ``(z, t, c)``, as PYME maps it.

        With ``DimOrder = 'XYCZT'`` the index is
        ``c + SizeC * (z + SizeZ * t)``; without dimension metadata it is ``z``.

        Parameters
        ----------
        z, t, c : int, optional
            Position along the z, time and colour axes (default 0), each
            from 0 to its size in :attr:`sizes` minus 1.

        Returns
        -------
        int
            Index of the frame in the series (``0 <= index < len(self)``).

        Raises
        ------
        pzfcodec.BadArgumentError
            The metadata's ``DimOrder`` is not a permutation of XY + C, Z, T.
        TypeError
            A position is not an integer.
        IndexError
            A position is out of range, or maps past the last frame.
        """
        sizes = self.sizes
        pos = {"z": z, "t": t, "c": c}
        index, stride = 0, 1
        for axis in self.dim_order.lower():
            p = operator.index(pos[axis])
            if not 0 <= p < sizes[axis]:
                raise IndexError(f"{axis} = {p} is out of range (Size{axis.upper()} = {sizes[axis]})")
            index += p * stride
            stride *= sizes[axis]
        if index >= len(self):
            raise IndexError(f"(z={z}, t={t}, c={c}) is frame {index}, but the series has {len(self)} frames")
        return index

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={self.shape} dtype={self.dtype}>"
