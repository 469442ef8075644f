"""``open(path)``: pick the PYME reader from a file's extension and content."""
from __future__ import annotations

import builtins
import os
from typing import Any, Callable, Dict

from ..budget import BudgetLike, ReadBudget
from ..codec import decompress
from ..errors import UnsupportedFormatError
from .h5 import PathLike, open_h5, open_hdf5_file
from .h5r import open_h5r
from .npy import open_npy
from .pcs import is_pcs_location, open_pcs
from .psf import load_psf, load_sf
from .sidecar import read_metadata
from .tif import open_tif
from .tiles import is_tile_pyramid, open_tile_pyramid

__all__ = ["open", "load_pzf", "OPENERS"]


def load_pzf(path: PathLike, *, max_decoded_size: BudgetLike = None) -> Any:
    """Read one ``.pzf`` frame file; returns the frame as a numpy array.

    The header (frame number, quantisation...) is available through
    :func:`pzfcodec.read_header` on the file's bytes.

    Parameters
    ----------
    path : str or os.PathLike
        A file holding one PZF blob (any version PYME wrote, or v3).
    max_decoded_size : int or ReadBudget, optional
        Byte limit of the decoded frame.

    Returns
    -------
    numpy.ndarray
        The frame, as :func:`pzfcodec.decompress` returns it.

    Raises
    ------
    pzfcodec.CorruptDataError, pzfcodec.UnsupportedFormatError
        The file is not a valid PZF blob.
    pzfcodec.DataTooLargeError
        The header claims more than
        :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE` bytes.
    """
    with builtins.open(path, "rb") as fh:
        return decompress(fh.read(), max_decoded_size=ReadBudget.of(max_decoded_size).bytes_left)


def _open_hdf5(path: PathLike, *, max_decoded_size: BudgetLike = None) -> Any:
    """Image series when the file has one, otherwise localisation results."""
    with open_hdf5_file(path) as f:
        is_series = "ImageData" in f or "PZFImageData" in f
    reader = open_h5 if is_series else open_h5r
    return reader(path, max_decoded_size=max_decoded_size)


#: extension -> reader.  Readers of other kinds of file register here.
OPENERS: Dict[str, Callable[[PathLike], Any]] = {
    ".h5": _open_hdf5,
    ".hdf": _open_hdf5,
    ".hdf5": _open_hdf5,
    ".h5r": open_h5r,
    ".psf": load_psf,
    ".sf": load_sf,
    ".pzf": load_pzf,
    # -- TIFF stacks and metadata sidecars (pzfcodec.pyme.tif, pzfcodec.pyme.sidecar) --
    ".tif": open_tif,
    ".tiff": open_tif,
    ".json": read_metadata,
    ".md": read_metadata,
    ".xml": read_metadata,
    # -- end TIFF / sidecars --
    ".tiles": open_tile_pyramid,
    ".npy": open_npy,
    ".pcs": open_pcs,
}

#: readers that take ``max_decoded_size=`` (a byte limit or a ReadBudget)
BUDGETED = {_open_hdf5, open_h5r, open_tif, load_pzf, open_tile_pyramid}

#: leading bytes -> reader, for files whose extension says nothing.
SIGNATURES = ((b"\x89HDF\r\n\x1a\n", _open_hdf5), (b"BD", load_pzf))


def _read(reader: Callable[..., Any], path: PathLike, budget: BudgetLike) -> Any:
    return reader(path, max_decoded_size=budget) if reader in BUDGETED else reader(path)


def open(path: PathLike, *, max_decoded_size: BudgetLike = None) -> Any:  # noqa: A001
    """Open any supported PYME file.

    ==========================  =======================================================
    file                        returns
    ==========================  =======================================================
    ``.h5`` image series        :class:`~pzfcodec.pyme.h5.H5Series` (context manager)
    ``.h5r`` results            :class:`~pzfcodec.pyme.h5r.H5RFile` (context manager)
    ``.psf``                    ``(array, VoxelSize)``
    ``.sf``                     ``(dx, dy)`` splines
    ``.pzf``                    the frame (numpy array)
    ``.tif`` / ``.tiff`` stack  :class:`~pzfcodec.pyme.tif.TiffSeries` (context manager)
    ``.json``/``.md``/``.xml``  the metadata sidecar as a flat ``dict``
    ``.tiles`` directory        :class:`~pzfcodec.pyme.tiles.TilePyramid` (tile pyramid)
    ``.npy`` + sidecar          :class:`~pzfcodec.pyme.npy.NpySeries` (PYME's export)
    ``.npy`` alone              the array, memory-mapped
    ``.pcs`` directory, URL     :class:`~pzfcodec.pyme.pcs.PCSSeries` (context manager)
    ==========================  =======================================================

    A cluster series is a ``.pcs`` directory, a ``PYME-CLUSTER://filter/path``
    URL or an ``http://host:port/path`` URL; its data servers come from the
    URL and the ``PZFCODEC_PYME_SERVERS`` environment variable (see
    :func:`~pzfcodec.pyme.open_pcs` for ``roots=``/``servers=``).

    The extension decides; for an unknown extension the content does.

    Parameters
    ----------
    path : str or os.PathLike
        The file.  Its extension (case-insensitive) selects the reader in
        :data:`OPENERS`; without a known extension, a file starting with the
        HDF5 signature opens as ``.h5`` and one starting with ``BD`` as
        ``.pzf``.  A ``.h5``/``.hdf``/``.hdf5`` file with ``/ImageData`` or
        ``/PZFImageData`` is an image series, any other is read as results.
    max_decoded_size : int or ReadBudget, optional
        What reading the file may allocate: an int (bytes, default
        :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE`) or a
        :class:`~pzfcodec.budget.ReadBudget` shared by everything the
        reader reads (tables, index, metadata, events; frames and pages
        are each bounded by its byte limit).

    Returns
    -------
    object
        What the selected reader returns (see the table).

    Raises
    ------
    pzfcodec.UnsupportedFormatError
        Neither the extension nor the content is recognised.
    pzfcodec.PZFError
        Any error of the selected reader (e.g. :func:`~pzfcodec.pyme.open_h5`,
        :func:`~pzfcodec.pyme.load_psf`) for a damaged or unsupported file.
    """
    if is_pcs_location(path):
        return open_pcs(path)
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in OPENERS:
        return _read(OPENERS[ext], path, max_decoded_size)
    if os.path.isdir(path):
        if is_tile_pyramid(path):
            return open_tile_pyramid(path, max_decoded_size=max_decoded_size)
        raise UnsupportedFormatError(
            f"{os.fspath(path)} is a directory but not a PYME tile pyramid (a metadata.json with "
            "Pyramid.TileSize) or cluster series (.pcs)")
    with builtins.open(path, "rb") as fh:
        head = fh.read(8)
    for signature, reader in SIGNATURES:
        if head.startswith(signature):
            return _read(reader, path, max_decoded_size)
    raise UnsupportedFormatError(
        f"{os.fspath(path)}: unknown kind of file; supported extensions are {sorted(OPENERS)}")
