"""Zarr and HDF5 writers: compress a stack's chunks on a Dask cluster."""
from __future__ import annotations

import itertools
import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import h5py
import numpy as np

from ..chunks import encode_chunk
from ..errors import BadArgumentError
from ..hdf5 import FILTER_ID, PZF
from ..options import Options
from .blocks import align, chunk_shape
from .cluster import Scheduler, connect
from .files import as_dask

__all__ = ["to_zarr", "to_hdf5", "write_hdf5"]


def to_zarr(stack: Any, store: Any, *, chunks: Optional[Sequence[int]] = None,
            offset: Optional[float] = None, scale: Optional[float] = None,
            compression: str = "huffman", zarr_format: int = 3, overwrite: bool = False,
            client: Scheduler = None, **array_kwargs: Any) -> Any:
    """Compress a stack into a Zarr array with PZF, in parallel on a Dask cluster.

    Parameters
    ----------
    stack : dask.array.Array, array_like or path
        The data (a path is opened with :func:`open_lazy`).
    store : str, os.PathLike or zarr store
        Destination; workers must be able to open it (a path on a shared
        file system, or an object store).
    chunks : sequence of int, optional
        Zarr chunk shape; by default one frame (all axes but the first).
    offset, scale, compression
        PZF options (see :class:`pzfcodec.zarr.PZF`); ``scale=None`` is lossless.
    zarr_format : {3, 2}
        Zarr v3 (PZF serializer) or v2 (PZF numcodecs compressor).
    overwrite : bool
        Replace an existing array at ``store``.
    client : None, int, str or distributed.Client
        Where to compute; see :func:`connect`.
    **array_kwargs
        Passed to :func:`zarr.create_array` (e.g. ``attributes``, ``shards``).
        ``config`` defaults to ``{"write_empty_chunks": True}``: every chunk
        is stored, which spares Zarr comparing each chunk with the fill
        value (about twice as fast on camera data, which has no empty
        chunks).

    Returns
    -------
    zarr.Array
        The written array.
    """
    import zarr

    stack = as_dask(stack)
    chunks = chunk_shape(stack.shape, chunks)
    # Dask provides the parallelism: one thread per chunk
    options = Options(offset, scale, compression=compression).kwargs()
    if zarr_format == 3:
        from ..zarr import PZF as ZarrPZF  # needs zarr, an optional extra

        codecs = dict(serializer=ZarrPZF(**options), compressors=None)
    elif zarr_format == 2:
        from ..numcodecs import PZF as NumcodecsPZF  # needs numcodecs, an optional extra

        codecs = dict(compressors=NumcodecsPZF(**options), filters=None)
    else:
        raise BadArgumentError(f"zarr_format must be 2 or 3; got {zarr_format!r}")
    if isinstance(store, (str, os.PathLike)) and "://" not in os.fspath(store):
        store = os.path.abspath(store)  # workers may run in another directory
    array_kwargs.setdefault("config", {"write_empty_chunks": True})
    target = zarr.create_array(store, shape=stack.shape, dtype=stack.dtype, chunks=chunks,
                               zarr_format=zarr_format, overwrite=overwrite, fill_value=0,
                               **codecs, **array_kwargs)
    stack = align(stack, tuple(array_kwargs.get("shards") or chunks))
    with connect(client) as c:
        c.compute(stack.store(target, lock=False, compute=False), sync=True)
    return target


def to_hdf5(stack: Any, path: Union[str, os.PathLike], name: str = "data", *,
            chunks: Optional[Sequence[int]] = None, offset: Optional[float] = None,
            scale: Optional[float] = None, compression: str = "huffman", mode: str = "a",
            client: Scheduler = None, in_flight: Optional[int] = None) -> int:
    """Compress a stack into a new HDF5 dataset with the PZF filter, in parallel.

    Parameters
    ----------
    stack : dask.array.Array, array_like or path
        The data (a path is opened with :func:`open_lazy`).
    path : str or os.PathLike
        HDF5 file, opened with ``mode``.
    name : str
        Dataset to create (it must not exist).
    chunks : sequence of int, optional
        HDF5 chunk shape; by default one frame.
    offset, scale, compression
        PZF options (see :class:`pzfcodec.PZF`); no scale is lossless.
    mode : str
        h5py file mode ('a' or 'w').
    client, in_flight
        See :func:`write_hdf5`.

    Returns
    -------
    int
        Bytes of compressed chunks written.
    """
    stack = as_dask(stack)
    with h5py.File(path, mode) as f:
        dset = f.create_dataset(name, shape=stack.shape, dtype=stack.dtype,
                                chunks=chunk_shape(stack.shape, chunks),
                                compression=PZF(offset, scale, compression=compression))
        return write_hdf5(stack, dset, client=client, in_flight=in_flight)


def write_hdf5(stack: Any, dset: Any, *, client: Scheduler = None,
               in_flight: Optional[int] = None,
               progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Fill an HDF5 dataset that uses the PZF filter, compressing on a Dask cluster.

    Workers compress whole chunks into PZF blobs with the dataset's own
    filter options; this process writes them with ``write_direct_chunk``,
    so HDF5 needs no parallel I/O and the result is exactly what the filter
    would have stored.  Chunks at the dataset's edges are zero-padded, as
    HDF5 stores them.

    Parameters
    ----------
    stack : dask.array.Array, array_like or path
        The data, of the dataset's shape and dtype (byte order aside).
    dset : h5py.Dataset
        Chunked dataset, open for writing, whose only filter is PZF.
    client : None, int, str or distributed.Client
        Where to compute; see :func:`connect`.
    in_flight : int, optional
        Blocks computed or held at once (default twice the worker threads);
        bounds this process's memory.
    progress : callable, optional
        Called as ``progress(done, total)`` in units of the first axis.

    Returns
    -------
    int
        Bytes of compressed chunks written.
    """
    import dask
    from distributed import as_completed

    stack = as_dask(stack)
    if tuple(stack.shape) != tuple(dset.shape) or dset.chunks is None:
        raise BadArgumentError(
            f"the stack {stack.shape} must have the shape of the chunked dataset "
            f"{dset.name} {dset.shape}")
    if stack.dtype != dset.dtype:
        if stack.dtype.newbyteorder("=") != dset.dtype.newbyteorder("="):
            raise BadArgumentError(
                f"the stack's dtype {stack.dtype} differs from the dataset's {dset.dtype}; "
                "convert the values first (stack.astype(...)) or create the dataset with "
                "the stack's dtype")
        stack = stack.astype(dset.dtype)  # byte order only: values unchanged
    options = _filter_options(dset)
    chunks = tuple(dset.chunks)
    stack = align(stack, chunks)
    offsets = [tuple(int(sum(c[:i])) for c, i in zip(stack.chunks, index))
               for index in np.ndindex(*stack.numblocks)]
    total = stack.shape[0] if stack.ndim else 1
    done = 0.0
    stored = 0
    with connect(client) as c:
        limit = in_flight or 2 * max(1, sum(c.nthreads().values()))
        tasks = (c.compute(dask.delayed(_compress_block)(blk, off, chunks, options))
                 for blk, off in zip(stack.to_delayed().ravel(), offsets))
        pending = as_completed(itertools.islice(tasks, limit))
        for future in pending:
            pieces = future.result()
            future.release()
            for chunk_offset, blob in pieces:
                dset.id.write_direct_chunk(chunk_offset, blob)
                stored += len(blob)
            for new in itertools.islice(tasks, 1):
                pending.add(new)
            if progress is not None:
                done += total / len(offsets)
                progress(min(total, round(done)), total)
    return stored


def _filter_options(dset: Any) -> Dict[str, Any]:
    """PZF options of a dataset's filter (see the cd_values table in :mod:`pzfcodec.hdf5`)."""
    plist = dset.id.get_create_plist()
    filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    if [f[0] for f in filters] != [FILTER_ID]:
        raise BadArgumentError(
            f"dataset {dset.name} must have the PZF filter as its only filter; "
            f"create it with compression=pzfcodec.PZF(...)")
    # the workers code whole chunks, one thread each
    return Options.from_cd_values(filters[0][2]).kwargs() | {"threads": 1}


def _compress_block(block: np.ndarray, block_offset: Tuple[int, ...], chunks: Tuple[int, ...],
                    options: Dict[str, Any]) -> List[Tuple[Tuple[int, ...], bytes]]:
    """Compress each storage chunk of a block (edge chunks zero-padded, as HDF5 stores them)."""
    out = []
    for index in np.ndindex(*(math.ceil(n / c) for n, c in zip(block.shape, chunks))):
        lo = [i * c for i, c in zip(index, chunks)]
        piece = block[tuple(slice(a, a + c) for a, c in zip(lo, chunks))]
        if piece.shape != tuple(chunks):
            padded = np.zeros(chunks, dtype=block.dtype)
            padded[tuple(slice(0, n) for n in piece.shape)] = piece
            piece = padded
        out.append((tuple(o + a for o, a in zip(block_offset, lo)),
                    encode_chunk(np.ascontiguousarray(piece), **options)))
    return out
