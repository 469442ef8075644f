"""``.npy`` stacks as PYME's exporter writes them: the array + a metadata sidecar.

PYME's ``NumpyExporter`` saves the image data as PYME holds it, axes
``(x, y, z)`` (``(x, y, z, c)`` or ``(x, y, z, t, c)`` for more
dimensions), with ``numpy.save``, and its metadata as ``<name>.xml`` next to
it; PYME's loader reads such a file back with ``numpy.load`` and takes the
third axis as z, the fourth (of four) as colour.  :func:`open_npy` exposes
it as a lazy :class:`~pzfcodec.pyme.series.Series` over a memory map: frame
``i`` is ``array[:, :, z, t, c]`` in PYME's ``XYZTC`` order.  Object
(pickled) arrays and ``.npz`` archives are refused; nothing is unpickled.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..errors import CorruptDataError, UnsupportedFormatError
from .series import Series
from .sidecar import find_sidecar, read_metadata

__all__ = ["NpySeries", "open_npy", "load_npy"]

PathLike = Union[str, "os.PathLike[str]"]


def load_npy(path: PathLike) -> np.ndarray:
    """Memory-map a ``.npy`` file of numbers (never unpickling anything).

    Raises
    ------
    pzfcodec.UnsupportedFormatError
        A zip archive (``.npz``), a pickle, an array of Python objects or of
        records.
    pzfcodec.CorruptDataError
        Not a ``.npy`` file, or shorter than its header says.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head.startswith(b"PK\x03\x04"):
        raise UnsupportedFormatError(f"{path}: a zip archive of arrays (.npz), not one .npy array; "
                                     "open it with numpy.load and pick an array")
    if not head.startswith(b"\x93NUMPY"):
        kind = "a Python pickle" if head[:1] == b"\x80" else "not a .npy file"
        raise UnsupportedFormatError(f"{path}: {kind}; pzfcodec reads .npy arrays of numbers "
                                     "(it never unpickles data)")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc) or "bject" in str(exc):
            raise UnsupportedFormatError(f"{path}: an array of Python objects (stored as a pickle); "
                                         "pzfcodec reads arrays of numbers and never unpickles data") from None
        raise CorruptDataError(f"{path}: a damaged or truncated .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise CorruptDataError(f"{path}: a damaged or truncated .npy file ({exc})") from None
    if arr.dtype.kind not in "biuf" or arr.dtype.fields is not None:
        raise UnsupportedFormatError(f"{path}: an array of {arr.dtype}, not of numbers")
    return arr


class NpySeries(Series):
    """A ``.npy`` image in PYME's axis order ``(x, y, z[, t], c)`` as a series.

    Attributes
    ----------
    path : pathlib.Path
        The ``.npy`` file.
    metadata_path : pathlib.Path or None
        The sidecar the metadata comes from, or None.
    array : numpy.memmap
        The whole array, memory-mapped.
    kind, storage : str
        ``'.npy + <sidecar name>'``; ``'uncompressed'``.
    """

    storage = "uncompressed"

    def __init__(self, path: PathLike, metadata_path: Optional[PathLike] = None) -> None:
        self.path = Path(path)
        self.metadata_path = Path(metadata_path) if metadata_path is not None else find_sidecar(path)
        self.kind = f".npy + {self.metadata_path.name}" if self.metadata_path else ".npy, no metadata sidecar"
        arr = load_npy(path)
        if not 2 <= arr.ndim <= 5:
            raise UnsupportedFormatError(f"{self.path}: a {arr.ndim}-D array; PYME images are (x, y[, z[, t], c])")
        if arr.ndim == 4:  # PYME reads a 4-D array as x, y, z, c
            arr = arr[:, :, :, np.newaxis, :]
        self.array = arr.reshape(arr.shape + (1,) * (5 - arr.ndim))
        _, _, self._z, self._t, self._c = self.array.shape
        self._nframes = self._z * self._t * self._c
        self._frame_shape = self.array.shape[:2]
        self._dtype = self.array.dtype.newbyteorder("=")

    def _read_frame(self, i: int) -> np.ndarray:
        if self.array is None:
            raise ValueError(f"{self.path} is closed")
        z, rest = i % self._z, i // self._z
        t, c = rest % self._t, rest // self._t
        return np.array(self.array[:, :, z, t, c], dtype=self._dtype)

    def _read_metadata(self) -> Dict[str, Any]:
        md = read_metadata(self.metadata_path) if self.metadata_path is not None else {}
        # PYME takes the dimensions from the array's shape, whatever the sidecar says
        md.update({"DimOrder": "XYZTC", "SizeZ": self._z, "SizeT": self._t, "SizeC": self._c})
        return md

    def close(self) -> None:
        """Drop the memory map."""
        self.array = None


def open_npy(path: PathLike, *, metadata_path: Optional[PathLike] = None) -> Any:
    """Open a ``.npy`` image.

    With a PYME metadata sidecar next to it (``name.xml``, ``.md`` or
    ``.json``, or ``metadata_path``), it is a PYME export: an
    :class:`NpySeries` in PYME's axis order (frames are ``array[:, :, z]``).
    Without one, a 3-D array is pzfcodec's own ``(frames, x, y)`` stack (as
    ``pzfcodec demo --save`` writes it and ``pzfcodec convert`` reads it)
    and is returned memory-mapped as is.

    Returns
    -------
    NpySeries or numpy.memmap

    Raises
    ------
    pzfcodec.UnsupportedFormatError, pzfcodec.CorruptDataError
        See :func:`load_npy`; also an array of more than 5 dimensions.
    """
    if metadata_path is None and find_sidecar(path) is None:
        return load_npy(path)
    return NpySeries(path, metadata_path)
