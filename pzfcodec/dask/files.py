"""Stacks stored in files, read lazily piece by piece as Dask arrays."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import h5py
import numpy as np

from ..pyme import open as open_series
from .blocks import block_shape, chunk_shape

__all__ = ["LazyFile", "open_lazy", "as_dask"]


class LazyFile:
    """A stack stored in a file, read piece by piece; picklable by path.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file (memory-mapped), an image series that
        :func:`pzfcodec.open` reads (e.g. a PYME ``.h5``), or any HDF5 file
        when ``dataset`` is given.
    dataset : str, optional
        Name of an HDF5 dataset to read instead of a PYME series.

    Notes
    -----
    The file is opened on first access in each process (a Dask worker opens
    its own handle), so only the path travels to the workers.
    """

    def __init__(self, path: Union[str, os.PathLike], dataset: Optional[str] = None):
        self.path = os.path.abspath(os.fspath(path))  # workers may run elsewhere
        self.dataset = dataset
        self._handle: Any = None
        src = self._source()
        self.shape: Tuple[int, ...] = tuple(int(n) for n in src.shape)
        self.dtype = np.dtype(src.dtype)
        self.ndim = len(self.shape)

    def _source(self) -> Any:
        if self._handle is None:
            if self.dataset is not None:
                self._handle = h5py.File(self.path, "r")[self.dataset]
            else:
                self._handle = open_series(self.path)  # a bare .npy: memory-mapped
        return self._handle

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._source()[key])

    def __getstate__(self) -> Dict[str, Any]:
        return {**self.__dict__, "_handle": None}

    def __repr__(self) -> str:
        return f"LazyFile({self.path!r}, shape={self.shape}, dtype={self.dtype})"


def open_lazy(path: Union[str, os.PathLike], dataset: Optional[str] = None, *,
              chunks: Optional[Sequence[int]] = None) -> Any:
    """Open a stack as a lazy :class:`dask.array.Array`.

    Parameters
    ----------
    path, dataset
        See :class:`LazyFile`.
    chunks : sequence of int, optional
        Dask block shape; by default whole frames (all axes but the first),
        as many as fit in 64 MiB.

    Returns
    -------
    dask.array.Array
    """
    import dask.array as da
    from dask.base import tokenize

    src = LazyFile(path, dataset)
    if chunks is None:
        chunks = block_shape(src.shape, chunk_shape(src.shape, None), src.dtype)
    stat = os.stat(src.path)
    token = tokenize(src.path, dataset, stat.st_mtime_ns, stat.st_size, chunks)
    return da.from_array(src, chunks=tuple(chunks), asarray=False, lock=False,
                         name=f"pzf-open-{token}")


def as_dask(stack: Any) -> Any:
    """``stack`` as a Dask array: a path is opened with :func:`open_lazy`."""
    import dask.array as da

    if isinstance(stack, da.Array):
        return stack
    if isinstance(stack, (str, os.PathLike)):
        return open_lazy(stack)
    shape = tuple(stack.shape)
    return da.from_array(stack, chunks=block_shape(shape, chunk_shape(shape, None), stack.dtype),
                         lock=False)
