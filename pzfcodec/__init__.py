"""pzfcodec: fast, safe PZF compression of photon-limited microscopy images.

The core API compresses frames into PZF blobs (the format of PYME,
python-microscopy) and back::

    import pzfcodec
    blob = pzfcodec.compress(frame, quantization=pzfcodec.camera_quantization(100, 0.5))
    frame2 = pzfcodec.decompress(blob)

Importing the package also registers the PZF filter with h5py (see
:class:`PZF`), so PZF-compressed HDF5 datasets read with plain h5py.
"""
from . import PZFFormat
from ._core import cpu_isa
from ._core import version as _core_version
from .codec import (DEFAULT_MAX_DECODED_SIZE, FrameHeader, Quantization, camera_quantization,
                    compress, compress_stack, decompress, decompress_stack, dequantize,
                    huffman_compress, huffman_decompress, quantize, read_header)
from .errors import (BadArgumentError, CorruptDataError, DataTooLargeError, FileLockedError,
                     MissingFileError, PZFError, QueueFullError, SpoolError, StorageError,
                     UnsafePickleError, UnsupportedFormatError)
from .hdf5 import FILTER_ID, PLUGIN_PATH, PZF
from .hdf5 import register as _register_hdf5

__version__: str = _core_version()

__all__ = [
    "compress", "decompress", "read_header", "FrameHeader", "Quantization",
    "camera_quantization", "compress_stack", "decompress_stack", "quantize", "dequantize",
    "huffman_compress", "huffman_decompress", "cpu_isa", "DEFAULT_MAX_DECODED_SIZE",
    "PZFFormat", "PZF", "FILTER_ID", "PLUGIN_PATH",
    "PZFError", "CorruptDataError", "UnsupportedFormatError", "BadArgumentError",
    "DataTooLargeError", "UnsafePickleError", "FileLockedError",
    "SpoolError", "QueueFullError", "SeriesWriter", "SpoolStats",
    "StorageError", "MissingFileError",
]

_register_hdf5()


def open(path, *, max_decoded_size=None):  # noqa: A001 - mirrors the builtin on purpose (not in __all__)
    """Open any file pzfcodec reads (PYME .h5/.h5r/.pzf/.psf/.sf, .tif, ...).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    max_decoded_size : int or pzfcodec.budget.ReadBudget, optional
        What reading the file may allocate (default
        :data:`DEFAULT_MAX_DECODED_SIZE` bytes); see :func:`pzfcodec.pyme.open`.

    Returns
    -------
    object
        What :func:`pzfcodec.pyme.open` returns for it: a lazy series, a
        results file, a PSF, a shift field or a frame.
    """
    from .pyme import open as _open
    return _open(path, max_decoded_size=max_decoded_size)


def __getattr__(name):
    # the streaming writer loads h5py, numcodecs and the PYME storage code: only on first use
    if name in ("SeriesWriter", "SpoolStats"):
        from . import spool

        return getattr(spool, name)
    raise AttributeError(f"module 'pzfcodec' has no attribute {name!r}")
