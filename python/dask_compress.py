"""Compress a stack larger than memory with PZF in parallel on a Dask cluster.

Saves a simulated camera stack as a ``.npy`` file, opens it lazily (memory
mapped, block by block), and compresses it on a local 2-worker cluster, or
on a running cluster, into a Zarr v3 array and into an HDF5 file with the
PZF filter (quantised at one noise sigma).  Each result is checked against
the source block by block.

    python python/dask_compress.py [output_folder] [--scheduler tcp://host:8786]

Without a folder the files go to a temporary directory that is removed.  A
remote cluster's workers must see the folder.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import dask.array as da
import h5py
import numpy as np
import zarr

import pzfcodec
import pzfcodec.dask
from pzfcodec import simulate


def main(folder: str, scheduler) -> None:
    cam = simulate.CAMERA
    q = pzfcodec.camera_quantization(cam.ad_offset, cam.electrons_per_adu, 1.0)
    source = os.path.join(folder, "stack.npy")
    np.save(source, pzfcodec.dask.simulated_stack(48, (256, 256), seed=2).compute())

    stack = pzfcodec.dask.open_lazy(source, chunks=(8, 256, 256))  # nothing read yet
    print(f"source {stack.shape} {stack.dtype}, {stack.nbytes / 1e6:.1f} MB, "
          f"{stack.numblocks[0]} blocks")
    with pzfcodec.dask.connect(scheduler) as client:
        print(f"cluster: {len(client.nthreads())} workers")
        t = time.perf_counter()
        z = pzfcodec.dask.to_zarr(stack, os.path.join(folder, "stack.zarr"), overwrite=True,
                                  offset=q.offset, scale=q.scale, client=client)
        dt = time.perf_counter() - t
        print(f"zarr: ratio {stack.nbytes / z.nbytes_stored():.2f}, "
              f"{stack.nbytes / 1e6 / dt:.0f} MB/s")

        h5 = os.path.join(folder, "stack.h5")
        t = time.perf_counter()
        stored = pzfcodec.dask.to_hdf5(stack, h5, "frames", mode="w", offset=q.offset,
                                       scale=q.scale, client=client)
        dt = time.perf_counter() - t
        print(f"hdf5: ratio {stack.nbytes / stored:.2f}, {stack.nbytes / 1e6 / dt:.0f} MB/s")

    # Verify block by block: the stored values are the quantised source.
    with h5py.File(h5, "r") as f:
        stored_h5 = da.from_array(f["frames"], chunks=stack.chunks)
        stored_zarr = da.from_zarr(zarr.open_array(os.path.join(folder, "stack.zarr")),
                                   chunks=stack.chunks)
        expected = stack.map_blocks(
            lambda b: pzfcodec.dequantize(pzfcodec.quantize(b, q.offset, q.scale),
                                          q.offset, q.scale, b.dtype).reshape(b.shape))
        same = ((stored_h5 == expected).all() & (stored_zarr == expected).all())
        assert same.compute(scheduler="threads")
    print("verified against the source")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--scheduler", default=2,
                        help="scheduler address, or number of local workers (default 2)")
    args = parser.parse_args()
    if args.folder:
        os.makedirs(args.folder, exist_ok=True)
        main(args.folder, args.scheduler)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp, args.scheduler)
