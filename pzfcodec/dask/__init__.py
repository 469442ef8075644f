"""Parallel PZF compression of large stacks with Dask.

The stack is a :mod:`dask.array` (lazily read from a memory-mapped ``.npy``,
a PYME ``.h5`` or an HDF5 dataset with :func:`open_lazy`, or built any other
way); its blocks are read, compressed and written by the workers of a
:mod:`dask.distributed` cluster, so the stack is never in memory as a whole
and the work scales from the threads of one machine to a cluster::

    import pzfcodec.dask

    if __name__ == "__main__":         # local worker processes re-import the script
        with pzfcodec.dask.connect(8) as client:     # or connect("tcp://scheduler:8786")
            stack = pzfcodec.dask.open_lazy("acquisition.npy")
            pzfcodec.dask.to_zarr(stack, "acquisition.zarr", offset=100, scale=0.7,
                                  client=client)

Workers must see the source and destination paths (a shared file system in
a cluster).  Compression releases the GIL, so threaded workers scale too.

* :func:`to_zarr` writes a Zarr array (v3 with the :mod:`pzfcodec.zarr`
  serializer, or v2 with the :mod:`pzfcodec.numcodecs` compressor).  Each
  task reads one block, compresses its chunks and writes them to the store.
* :func:`to_hdf5` writes an HDF5 dataset with the PZF filter.  HDF5 files
  cannot be written by several processes at once, so the workers compress
  chunks into PZF blobs and the calling process writes them with
  ``write_direct_chunk``; a bounded number of blocks are in flight.

Modules: :mod:`~pzfcodec.dask.files` (lazy stacks read from files),
:mod:`~pzfcodec.dask.simulated` (simulated camera stacks),
:mod:`~pzfcodec.dask.cluster` (clients and local clusters),
:mod:`~pzfcodec.dask.blocks` (blocks of whole storage chunks) and
:mod:`~pzfcodec.dask.writers` (Zarr and HDF5 writers).  Importing them
needs neither Dask nor Zarr; calling them needs ``pip install
"pzfcodec[dask]"`` (and ``[zarr]`` for :func:`to_zarr`).
"""
from .cluster import connect
from .files import LazyFile, open_lazy
from .simulated import simulated_stack
from .writers import to_hdf5, to_zarr, write_hdf5

__all__ = ["open_lazy", "LazyFile", "simulated_stack", "connect", "to_zarr", "to_hdf5",
           "write_hdf5"]
