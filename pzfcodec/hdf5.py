"""HDF5 filter storing every chunk as a PZF blob.

``import pzfcodec`` registers the filter with h5py's HDF5 library, so files
using it are read and written with plain h5py::

    import h5py, pzfcodec
    with h5py.File("stack.h5", "w") as f:
        f.create_dataset("frames", data=stack, chunks=(1, 2048, 2048),
                         compression=pzfcodec.PZF(offset=100, scale=0.7))

Other programs (h5dump, h5repack, Fiji, MATLAB, C code) load the plugin
library from the folder :data:`PLUGIN_PATH` when it is on the
``HDF5_PLUGIN_PATH`` environment variable.

Filter id
---------
:data:`FILTER_ID` = 53338 (``0xD05A``: ``0x8000 | ASCII "PZ"``), in the range
32768-65535 that HDF5 reserves for filters not registered with The HDF Group.
It is fixed forever.

Stored chunks
-------------
PZF must be the first filter of the pipeline: a filter before it (shuffle,
scale-offset, n-bit) would hand it other values than the pixels, so the
dataset's creation fails.  When PZF is the only filter, every stored chunk
is a complete PZF version 3 blob with DimOrder ``'C'``, so
``pzfcodec.decompress`` decodes a chunk read with
``dataset.id.read_direct_chunk``::

    mask, blob = dset.id.read_direct_chunk((0, 0, 0))
    chunk = pzfcodec.decompress(blob).view(dset.dtype).reshape(dset.chunks)

HDF5 chunk dimensions ``(d0, ..., dn-1)`` (C order) map to the blob's
``(Width, Height, Depth)`` as: 1-D ``(d0, 1, 1)``, 2-D ``(d0, d1, 1)``, 3-D
``(d0, d1, d2)``, n-D ``(d0 * ... * dn-3, dn-2, dn-1)``.  uint8, uint16 and
float32 (little-endian) are coded as themselves.  In lossless mode any other
fixed-size type is coded as bytes: data format uint8, Depth multiplied by
the element size.  Quantised mode accepts only uint8, uint16 and float32.
Chunks at the edge of a dataset are stored whole, like every HDF5 chunk.
Writing part of a quantised chunk makes HDF5 decode, merge and quantise the
chunk again; PYME's de-quantisation truncates, so values within a few ADU of
the offset can drop a step each time.  Chunks of whole frames, written
frame by frame, avoid this.

Filter parameters (``cd_values``)
---------------------------------
Users give up to 6 unsigned 32-bit values (missing ones take the default);
the plugin completes the list to 12 when the dataset is created.

=====  =============================================================
index  meaning
=====  =============================================================
0      compression: 0 raw, 1 Huffman (default), 2 chunked Huffman, 3 context
1      quantisation: 0 none (default, lossless), 1 square root
2      quantisation offset in ADU, float32 bit pattern
3      quantisation scale in sqrt(ADU), float32 bit pattern, > 0
4      threads for chunked and context coding and decoding (0 or 1: one thread)
5      stream bytes per chunk in chunked mode (0: 128 KiB), values per band in
       context mode (0: 262144)
6      layout version of these values (written by the plugin: 1)
7      data format of the blobs: 0 uint8, 1 uint16, 2 float32 (plugin)
8      element size in bytes (plugin)
9-11   blob Width, Height, Depth (plugin)
=====  =============================================================

For instance ``h5repack -f UD=53338,0,0 in.h5 out.h5`` stores losslessly;
``PZF(offset=100, scale=0.7).h5repack_filter`` is the whole ``-f`` value
(``UD=53338,0,6,...``) for a quantised filter.
"""
from __future__ import annotations

import ctypes
import sys
import threading
from pathlib import Path
from typing import Optional

import h5py

from .errors import PZFError
from .options import Options, OptionsMixin

__all__ = ["FILTER_ID", "PLUGIN_PATH", "PZF", "register"]

FILTER_ID = 53338
"""HDF5 filter id of PZF (fixed; in the range for unregistered filters)."""

PLUGIN_PATH = str(Path(__file__).parent / "plugins")
"""Folder holding the plugin library, for the ``HDF5_PLUGIN_PATH`` variable."""

_PLUGIN_NAME = {"win32": "h5pzf.dll", "darwin": "libh5pzf.dylib"}.get(
    sys.platform, "libh5pzf.so"
)


class PZF(OptionsMixin, h5py.filters.FilterRefBase):
    """PZF filter description for ``h5py`` ``create_dataset``.

    Use as ``f.create_dataset(name, data=..., chunks=..., compression=PZF(...))``
    or ``**PZF(...)``, in the style of ``hdf5plugin`` (h5py's filter
    reference convention).

    Parameters
    ----------
    offset, scale, compression, threads, chunk_size
        See :class:`pzfcodec.options.Options` (lossless by default, for any
        fixed-size type; quantised for uint8, uint16 and float32).

    Attributes
    ----------
    options : pzfcodec.options.Options
        The validated options.
    filter_options : tuple of int
        The filter's parameters (``cd_values``, see above).

    Examples
    --------
    >>> PZF().filter_options
    (1, 0, 0, 0, 1, 0)
    >>> PZF(offset=100, scale=0.7)["compression"] == FILTER_ID
    True
    >>> PZF().h5repack_filter
    'UD=53338,0,6,1,0,0,0,1,0'
    """

    filter_id = FILTER_ID
    filter_name = "pzf"

    def __init__(self, offset: Optional[float] = None, scale: Optional[float] = None, *,
                 compression: str = "huffman", threads: int = 1,
                 chunk_size: Optional[int] = None) -> None:
        self.options = Options(offset, scale, compression=compression, threads=threads,
                               chunk_size=chunk_size)
        self.filter_options: tuple[int, ...] = self.options.cd_values()

    @property
    def h5repack_filter(self) -> str:
        """This filter as the value of ``h5repack -f`` (``UD=53338,0,6,...``)."""
        values = ",".join(map(str, self.filter_options))
        return f"UD={self.filter_id},0,{len(self.filter_options)},{values}"


_lock = threading.Lock()
_plugin: ctypes.CDLL | None = None


def register() -> bool:
    """Register the PZF filter with h5py's HDF5 library.

    Idempotent and thread-safe; ``import pzfcodec`` calls it.

    Returns
    -------
    bool
        True once the filter is registered.

    Raises
    ------
    PZFError
        If the plugin library is missing or cannot be loaded (a broken
        installation: reinstall pzfcodec).
    """
    global _plugin
    with _lock:
        if _plugin is not None:
            return True
        path = Path(PLUGIN_PATH) / _PLUGIN_NAME
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise PZFError(
                f"cannot load the HDF5 plugin {path} ({exc}); reinstall pzfcodec"
            ) from exc
        lib.H5PLget_plugin_info.restype = ctypes.c_void_p
        if h5py.h5z.register_filter(lib.H5PLget_plugin_info()) < 0:
            raise PZFError("h5py refused to register the PZF filter")
        _plugin = lib
        return True
