"""TIFF stacks with PYME metadata sidecars, read through ``tifffile``.

PYME saves single images and stacks as ``.tif``; their metadata lives in a
sidecar next to them (``series.xml``, ``series.md`` or ``series.json``, see
:mod:`pzfcodec.pyme.sidecar`) or, in OME-TIFFs, in the OME-XML
(:mod:`pzfcodec.pyme.ome`).  :func:`open_tif` exposes such a file with the
same :class:`~pzfcodec.pyme.series.Series` interface as the HDF5 readers,
with each page as PYME's TIFF data source returns it: as stored, its first
(row) axis called x.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..budget import BudgetLike, ReadBudget
from ..errors import CorruptDataError, UnsupportedFormatError
from .ome import read_ome_metadata
from .series import Series
from .sidecar import find_sidecar, read_metadata

__all__ = ["TiffSeries", "open_tif"]

PathLike = Union[str, "os.PathLike[str]"]


class TiffSeries(Series):
    """A multi-page TIFF as a lazy PYME series of shape ``(frames, x, y)``.

    Frame ``i`` is page ``i`` of the file's first series exactly as stored
    (``page.asarray()``, shape (rows, columns)), whose first axis PYME calls
    x: PYME's TIFF data source reads pages this way and its TIFF writers store
    ``data[:, :, i]`` untransposed, so a PYME TIFF reads here as PYME shows
    it.  The samples of RGB(A) pages are colour channels (``SizeC``), the
    fastest frame axis.  Pages are read on demand.

    Attributes
    ----------
    path : pathlib.Path
        The TIFF file.
    metadata_path : pathlib.Path or None
        The sidecar the metadata comes from, or None.
    kind : str
        ``'TIFF + <sidecar name>'``, ``'OME-TIFF'`` (metadata from its
        OME-XML) or ``'TIFF, no metadata sidecar'``.
    storage : str
        The TIFF compression of the pages, e.g. ``'TIFF NONE'``.
    """

    def __init__(self, path: PathLike, metadata_path: Optional[PathLike] = None, *,
                 max_decoded_size: BudgetLike = None) -> None:
        import tifffile  # needed only for TIFF files

        self.path = Path(path)
        self._limits = ReadBudget.of(max_decoded_size)
        self.metadata_path = Path(metadata_path) if metadata_path is not None else find_sidecar(path)
        try:
            self._tif = tifffile.TiffFile(self.path)
        except tifffile.TiffFileError as exc:
            raise CorruptDataError(f"{self.path}: not a readable TIFF file ({exc})") from None
        if self.metadata_path:
            self.kind = f"TIFF + {self.metadata_path.name}"
        else:
            self.kind = "OME-TIFF" if self._tif.is_ome else "TIFF, no metadata sidecar"
        try:
            self._init_pages()
            self._check_frames(1)
        except BaseException:
            self._tif.close()
            raise

    def _init_pages(self) -> None:
        all_series = self._tif.series
        if not all_series:
            raise UnsupportedFormatError(f"{self.path}: the TIFF file holds no image")
        first = all_series[0]
        page_axes = first.keyframe.axes
        if page_axes not in ("YX", "YXS", "SYX"):
            raise UnsupportedFormatError(
                f"{self.path}: TIFF pages of shape {first.keyframe.shape} (axes {page_axes!r}) "
                "are not 2-D images"
            )
        if len(all_series) > 1 and all(
            len(s.pages) == 1 and s.shape == first.shape and s.dtype == first.dtype
            for s in all_series
        ):
            # Pages written one at a time: tifffile lists each as its own series.
            self._pages = [s.pages[0] for s in all_series]
            outer = {"Q": len(self._pages)}
        else:
            self._pages = list(first.pages)
            n = len(first.axes) - len(page_axes)
            outer = dict(zip(first.axes[:n], first.shape[:n]))
        n_pages = math.prod(outer.values())
        if len(self._pages) != n_pages or any(p is None for p in self._pages):
            raise UnsupportedFormatError(
                f"{self.path}: the TIFF lists {n_pages} images but only {len(self._pages)} "
                "pages (a truncated ImageJ file?); read it with tifffile.memmap"
            )
        # Samples (RGB...) are colour channels to PYME: the fastest-varying frame axis.
        self._samples = first.keyframe.shape[page_axes.index("S")] if "S" in page_axes else 1
        self._page_axes = page_axes
        self._outer = dict(outer, **({"S": self._samples} if self._samples > 1 else {}))
        self._nframes = n_pages * self._samples
        self._frame_shape = tuple(first.keyframe.shape[page_axes.index(a)] for a in "YX")
        self._dtype = np.dtype(first.dtype).newbyteorder("=")
        self.storage = f"TIFF {first.keyframe.compression.name}"

    def _read_frame(self, i: int) -> np.ndarray:
        page, sample = divmod(i, self._samples)
        self._check_bytes(math.prod(self._pages[page].shape) * self._dtype.itemsize, f"page {page}")
        image = self._pages[page].asarray()
        if self._page_axes == "YXS":
            image = image[:, :, sample]
        elif self._page_axes == "SYX":
            image = image[sample]
        return image.astype(self._dtype, copy=False)

    def _read_metadata(self) -> Dict[str, Any]:
        # As PYME: the sidecar if there is one, else the OME-XML of an OME-TIFF.
        if self.metadata_path is not None:
            metadata = read_metadata(self.metadata_path)
        elif self._tif.is_ome:
            metadata = read_ome_metadata(self._tif.pages[0].description, f"{self.path}: OME-XML")
        else:
            metadata = {}
        for key, value in self._dimensions().items():
            metadata.setdefault(key, value)
        return metadata

    def _dimensions(self) -> Dict[str, Any]:
        """SizeC/SizeZ/SizeT/DimOrder from the TIFF's own axes (ImageJ, OME, RGB), if it names them."""
        sizes = {("C" if a == "S" else a): n for a, n in self._outer.items()}
        axes = "".join(sizes)  # slowest first
        if not axes or not set(axes) <= set("CZT") or len(axes) != len(self._outer):
            return {}
        order = "".join(reversed(axes)) + "".join(a for a in "ZTC" if a not in axes)  # as PYME
        out: Dict[str, Any] = {"DimOrder": "XY" + order}
        out.update({f"Size{a}": int(sizes.get(a, 1)) for a in "CZT"})
        return out

    def close(self) -> None:
        """Close the TIFF file."""
        self._tif.close()


def open_tif(path: PathLike, *, metadata_path: Optional[PathLike] = None,
             max_decoded_size: BudgetLike = None) -> TiffSeries:
    """Open a TIFF stack as a lazy PYME series.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.tif``/``.tiff`` file.
    metadata_path : str or os.PathLike, optional
        The metadata sidecar to use; by default the one found next to the
        image by :func:`pzfcodec.pyme.sidecar.find_sidecar` (``series.xml``,
        ``series.md`` or ``series.json`` for ``series.tif``), if any.
    max_decoded_size : int or ReadBudget, optional
        Byte limit of each page and of each read of several frames
        (default :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE`).

    Returns
    -------
    TiffSeries
        ``len()``, ``shape`` ``(frames, x, y)`` (x = page rows, as PYME),
        lazy ``s[i]``, ``metadata`` (from the sidecar, or the OME-XML of an
        OME-TIFF without one, plus ``SizeC``/``SizeZ``/``SizeT``/``DimOrder``
        from the TIFF's ImageJ/OME axes or RGB samples when the metadata
        lacks them; without any, frames are z as in PYME) and empty
        ``events``.  Use it as a context manager to
        close the file.

    Raises
    ------
    CorruptDataError
        The file is not a readable TIFF.
    UnsupportedFormatError
        The TIFF pages are not 2-D images (e.g. tiled volumes).
    DataTooLargeError
        A page is larger than the byte limit (checked before reading it).
    """
    return TiffSeries(path, metadata_path, max_decoded_size=max_decoded_size)
