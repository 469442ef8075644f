"""TIFF stacks with PYME metadata sidecars, read through ``tifffile``.

PYME saves single images and stacks as ``.tif``; their metadata lives in a
sidecar next to them (``series.xml``, ``series.md`` or ``series.json``, see
:mod:`pzfcodec.pyme.sidecar`).  :func:`open_tif` exposes such a file with
the same :class:`~pzfcodec.pyme.series.Series` interface as the HDF5
readers.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..errors import CorruptDataError, UnsupportedFormatError
from .series import Series
from .sidecar import find_sidecar, read_metadata

__all__ = ["TiffSeries", "open_tif"]

PathLike = Union[str, "os.PathLike[str]"]


class TiffSeries(Series):
    """A multi-page TIFF as a lazy PYME series of shape ``(frames, x, y)``.

    Frame ``i`` is page ``i`` of the file's first series, transposed so that
    its first axis is x (the TIFF column axis), as PYME orients frames.  The
    pages are read on demand.

    Attributes
    ----------
    path : pathlib.Path
        The TIFF file.
    metadata_path : pathlib.Path or None
        The sidecar the metadata comes from, or None.
    """

    def __init__(self, path: PathLike, metadata_path: Optional[PathLike] = None) -> None:
        import tifffile  # needed only for TIFF files

        self.path = Path(path)
        self.metadata_path = Path(metadata_path) if metadata_path is not None else find_sidecar(path)
        try:
            self._tif = tifffile.TiffFile(self.path)
        except tifffile.TiffFileError as exc:
            raise CorruptDataError(f"{self.path}: not a readable TIFF file ({exc})") from None
        try:
            self._init_pages()
        except BaseException:
            self._tif.close()
            raise

    def _init_pages(self) -> None:
        all_series = self._tif.series
        if not all_series:
            raise UnsupportedFormatError(f"{self.path}: the TIFF file holds no image")
        first = all_series[0]
        if "S" in first.axes or len(first.shape) < 2:
            raise UnsupportedFormatError(
                f"{self.path}: TIFF series of shape {first.shape} (axes {first.axes!r}) is not a "
                "stack of single-channel frames (RGB and other multi-sample images are not "
                "microscopy camera data)"
            )
        if len(all_series) > 1 and all(
            len(s.pages) == 1 and s.shape == first.shape and s.dtype == first.dtype
            for s in all_series
        ):
            # Pages written one at a time: tifffile lists each as its own series.
            self._pages = [s.pages[0] for s in all_series]
            self._axes = "Q" + first.axes[-2:]
        else:
            self._pages = list(first.pages)
            self._axes = first.axes
        n_frames = math.prod(first.shape[:-2]) if self._axes == first.axes else len(self._pages)
        if len(self._pages) != n_frames or any(p is None for p in self._pages):
            raise UnsupportedFormatError(
                f"{self.path}: the TIFF lists {n_frames} frames but only {len(self._pages)} "
                "pages (a truncated ImageJ file?); read it with tifffile.memmap"
            )
        self._nframes = n_frames
        height, width = first.shape[-2:]
        self._frame_shape = (width, height)
        self._dtype = np.dtype(first.dtype).newbyteorder("=")

    def _read_frame(self, i: int) -> np.ndarray:
        page = self._pages[i].asarray()
        return page.astype(self._dtype, copy=False).reshape(self._frame_shape[::-1]).T

    def _read_metadata(self) -> Dict[str, Any]:
        metadata = read_metadata(self.metadata_path) if self.metadata_path is not None else {}
        for key, value in self._dimensions().items():
            metadata.setdefault(key, value)
        return metadata

    def _dimensions(self) -> Dict[str, Any]:
        """SizeC/SizeZ/SizeT/DimOrder from the TIFF's own axes (ImageJ, OME), if it names them."""
        axes, shape = self._axes[:-2], self._tif.series[0].shape[:-2]
        if not axes or not set(axes) <= set("CZT") or len(set(axes)) != len(axes):
            return {}
        sizes = dict(zip(axes, shape))
        order = "".join(reversed(axes)) + "".join(a for a in "CZT" if a not in axes)
        out: Dict[str, Any] = {"DimOrder": "XY" + order}
        out.update({f"Size{a}": int(sizes.get(a, 1)) for a in "CZT"})
        return out

    def close(self) -> None:
        """Close the TIFF file."""
        self._tif.close()


def open_tif(path: PathLike, *, metadata_path: Optional[PathLike] = None) -> TiffSeries:
    """Open a TIFF stack as a lazy PYME series.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.tif``/``.tiff`` file.
    metadata_path : str or os.PathLike, optional
        The metadata sidecar to use; by default the one found next to the
        image by :func:`pzfcodec.pyme.sidecar.find_sidecar` (``series.xml``,
        ``series.md`` or ``series.json`` for ``series.tif``), if any.

    Returns
    -------
    TiffSeries
        ``len()``, ``shape`` ``(frames, x, y)``, lazy ``s[i]``, ``metadata``
        (from the sidecar, plus ``SizeC``/``SizeZ``/``SizeT``/``DimOrder``
        from ImageJ/OME axes when the sidecar lacks them) and empty
        ``events``.  Use it as a context manager to close the file.

    Raises
    ------
    CorruptDataError
        The file is not a readable TIFF.
    UnsupportedFormatError
        The TIFF is not a stack of single-channel frames.
    """
    return TiffSeries(path, metadata_path)
