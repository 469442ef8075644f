"""Parallel PZF compression of large stacks with Dask.

The stack is a :mod:`dask.array` (lazily read from a memory-mapped ``.npy``,
a PYME ``.h5`` or an HDF5 dataset with :func:`open_lazy`, or built any other
way); its blocks are read, compressed and written by the workers of a
:mod:`dask.distributed` cluster, so the stack is never in memory as a whole
and the work scales from the threads of one machine to a cluster::

    from dask.distributed import Client
    import pzfcodec.dask

    with Client("tcp://scheduler:8786") as client:      # or Client(n_workers=8)
        stack = pzfcodec.dask.open_lazy("acquisition.npy")
        pzfcodec.dask.to_zarr(stack, "acquisition.zarr", offset=100, scale=0.7)

Workers must see the source and destination paths (a shared file system in
a cluster).  Compression releases the GIL, so threaded workers scale too.

* :func:`to_zarr` writes a Zarr array (v3 with the :mod:`pzfcodec.zarr`
  serializer, or v2 with the :mod:`pzfcodec.numcodecs` compressor).  Each
  task reads one block, compresses its chunks and writes them to the store.
* :func:`to_hdf5` writes an HDF5 dataset with the PZF filter.  HDF5 files
  cannot be written by several processes at once, so the workers compress
  chunks into PZF blobs and the calling process writes them with
  ``write_direct_chunk``; a bounded number of blocks are in flight.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import BadArgumentError
from .numcodecs import encode_chunk
from .options import check_options

__all__ = ["open_lazy", "LazyFile", "simulated_stack", "connect", "to_zarr", "to_hdf5",
           "write_hdf5"]

#: Default bytes per Dask block (a whole number of storage chunks).
BLOCK_BYTES = 64 << 20


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
                import h5py

                self._handle = h5py.File(self.path, "r")[self.dataset]
            else:
                from .pyme import open as open_series

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
        chunks = _block_shape(src.shape, _chunk_shape(src.shape, None), src.dtype)
    stat = os.stat(src.path)
    token = tokenize(src.path, dataset, stat.st_mtime_ns, stat.st_size, chunks)
    return da.from_array(src, chunks=tuple(chunks), asarray=False, lock=False,
                         name=f"pzf-open-{token}")


def simulated_stack(n_frames: int, shape: Tuple[int, int] = (2048, 2048), *,
                    frames_per_block: int = 16, seed: int = 0) -> Any:
    """A lazy stack of simulated camera frames (:mod:`pzfcodec.simulate`).

    Block ``i`` holds ``camera_frames(k, shape, seed=seed + i)``, so any
    block can be recomputed on its own; the stack is never in memory.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : (int, int), optional
        Frame shape (x, y); default ``(2048, 2048)``.
    frames_per_block : int, optional
        Frames per Dask block (default 16); the last block holds the
        remainder (``k`` above is the block's frame count).
    seed : int, optional
        Seed of the first block; block ``i`` uses ``seed + i``.  Equal
        arguments give equal stacks.

    Returns
    -------
    dask.array.Array
        uint16, shape ``(n_frames,) + shape``, blocks of ``frames_per_block``
        frames.
    """
    import dask.array as da

    counts = [min(frames_per_block, n_frames - i) for i in range(0, n_frames, frames_per_block)]
    return da.map_blocks(_simulated_block, dtype=np.uint16,
                         chunks=(tuple(counts), (shape[0],), (shape[1],)),
                         shape=tuple(shape), seed=seed)


def _simulated_block(shape: Tuple[int, int], seed: int, block_info: Any = None) -> np.ndarray:
    from .simulate import camera_frames

    info = block_info[None]
    n = info["chunk-shape"][0]
    return camera_frames(n, shape, seed=seed + info["chunk-location"][0])


@contextlib.contextmanager
def connect(scheduler: Union[None, int, str, Any] = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``, closed on exit if created here.

    Parameters
    ----------
    scheduler : None, int, str or distributed.Client
        An existing client (used as is); the address of a running scheduler
        (``"tcp://host:8786"``); a number of local worker processes (one
        thread each); or None for the current default client, else a local
        cluster of one process with a thread per core.
    """
    from distributed import Client, LocalCluster, default_client

    if scheduler is not None and not isinstance(scheduler, (int, str)):
        yield scheduler
        return
    if scheduler is None:
        try:
            client = default_client()
        except ValueError:  # no client yet
            client = None
        if client is not None:
            yield client
            return
        cluster = LocalCluster(n_workers=1, threads_per_worker=os.cpu_count() or 1,
                               processes=False, dashboard_address=":0")
    elif isinstance(scheduler, int) or scheduler.isdigit():
        n = int(scheduler)
        if n < 1:
            raise BadArgumentError(f"the number of Dask workers must be >= 1; got {n}")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=":0")
    else:
        if "://" not in scheduler and ":" not in scheduler:
            raise BadArgumentError(
                f"{scheduler!r} is neither a scheduler address (tcp://host:8786) nor a number "
                "of local workers")
        with Client(scheduler) as client:
            yield client
        return
    with cluster, Client(cluster) as client:
        yield client


def to_zarr(stack: Any, store: Any, *, chunks: Optional[Sequence[int]] = None,
            offset: Optional[float] = None, scale: Optional[float] = None,
            compression: str = "huffman", zarr_format: int = 3, overwrite: bool = False,
            client: Union[None, int, str, Any] = None, **array_kwargs: Any) -> Any:
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

    stack = _as_dask(stack)
    chunks = _chunk_shape(stack.shape, chunks)
    options = _options(offset, scale, compression)
    if zarr_format == 3:
        from .zarr import PZF

        codecs = dict(serializer=PZF(**options), compressors=None)
    elif zarr_format == 2:
        from .numcodecs import PZF

        codecs = dict(compressors=PZF(**options), filters=None)
    else:
        raise BadArgumentError(f"zarr_format must be 2 or 3; got {zarr_format!r}")
    if isinstance(store, (str, os.PathLike)) and "://" not in os.fspath(store):
        store = os.path.abspath(store)  # workers may run in another directory
    array_kwargs.setdefault("config", {"write_empty_chunks": True})
    target = zarr.create_array(store, shape=stack.shape, dtype=stack.dtype, chunks=chunks,
                               zarr_format=zarr_format, overwrite=overwrite, fill_value=0,
                               **codecs, **array_kwargs)
    stack = _align(stack, tuple(array_kwargs.get("shards") or chunks))
    with connect(client) as c:
        c.compute(stack.store(target, lock=False, compute=False), sync=True)
    return target


def to_hdf5(stack: Any, path: Union[str, os.PathLike], name: str = "data", *,
            chunks: Optional[Sequence[int]] = None, offset: Optional[float] = None,
            scale: Optional[float] = None, compression: str = "huffman", mode: str = "a",
            client: Union[None, int, str, Any] = None, in_flight: Optional[int] = None) -> int:
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
    import h5py

    from .hdf5 import PZF as FilterOptions

    stack = _as_dask(stack)
    options = FilterOptions(offset, scale, compression=compression)
    with h5py.File(path, mode) as f:
        dset = f.create_dataset(name, shape=stack.shape, dtype=stack.dtype,
                                chunks=_chunk_shape(stack.shape, chunks), **options)
        return write_hdf5(stack, dset, client=client, in_flight=in_flight)


def write_hdf5(stack: Any, dset: Any, *, client: Union[None, int, str, Any] = None,
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

    stack = _as_dask(stack)
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
    stack = _align(stack, chunks)
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
    from .hdf5 import FILTER_ID, options_from_cd_values

    plist = dset.id.get_create_plist()
    filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    if [f[0] for f in filters] != [FILTER_ID]:
        raise BadArgumentError(
            f"dataset {dset.name} must have the PZF filter as its only filter; "
            f"create it with **pzfcodec.PZF(...)")
    options = options_from_cd_values(filters[0][2])
    del options["threads"]  # the workers code whole chunks, one per task
    return options


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


def _as_dask(stack: Any) -> Any:
    import dask.array as da

    if isinstance(stack, da.Array):
        return stack
    if isinstance(stack, (str, os.PathLike)):
        return open_lazy(stack)
    shape = tuple(stack.shape)
    return da.from_array(stack, chunks=_block_shape(shape, _chunk_shape(shape, None), stack.dtype),
                         lock=False)


def _options(offset: Optional[float], scale: Optional[float], compression: str) -> Dict[str, Any]:
    """PZF options of one chunk: Dask provides the parallelism, so one thread each."""
    options = check_options(offset, scale, compression, 1, None)
    del options["threads"], options["chunk_size"]
    return options


def _chunk_shape(shape: Tuple[int, ...], chunks: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """Storage chunk shape: ``chunks`` clipped to the array, default one frame."""
    if chunks is None:
        chunks = (1,) + tuple(shape[1:]) if len(shape) > 1 else shape
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(shape) or min(chunks, default=1) < 1:
        raise BadArgumentError(
            f"chunks must give {len(shape)} positive sizes for an array of shape {shape}; "
            f"got {chunks}")
    return tuple(min(c, max(n, 1)) for c, n in zip(chunks, shape))


def _align(stack: Any, chunks: Tuple[int, ...]) -> Any:
    """Rechunk ``stack`` so that every block holds whole storage chunks."""
    if all(all(n % c == 0 for n in blocks[:-1]) for blocks, c in zip(stack.chunks, chunks)):
        return stack
    return stack.rechunk(_block_shape(stack.shape, chunks, stack.dtype))


def _block_shape(shape: Tuple[int, ...], chunks: Tuple[int, ...], dtype: Any) -> Tuple[int, ...]:
    """Dask block shape: whole chunks, stacked along the first axis up to BLOCK_BYTES."""
    if not shape:
        return ()
    chunk_bytes = math.prod(chunks) * np.dtype(dtype).itemsize
    k = max(1, BLOCK_BYTES // max(chunk_bytes, 1))
    return (min(chunks[0] * k, max(shape[0], 1)),) + tuple(chunks[1:])
