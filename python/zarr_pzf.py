"""Store a camera stack in Zarr with PZF: Zarr v3 serializer and Zarr v2 (numcodecs).

Writes the same simulated stack losslessly and quantised at one noise sigma
(v3, plain and sharded) and losslessly with the numcodecs codec (v2),
prints each array's codec metadata and size, reads a region back, and
decodes one stored chunk with ``pzfcodec.decompress``.

    python python/zarr_pzf.py [output_folder]

Without a folder the arrays go to a temporary directory that is removed.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np
import zarr

import pzfcodec
import pzfcodec.numcodecs
import pzfcodec.zarr
from pzfcodec import simulate


def main(folder: str) -> None:
    cam = simulate.CAMERA
    frames = simulate.camera_frames(16, (256, 256), seed=1)
    one_sigma = pzfcodec.zarr.PZF.from_camera(cam.ad_offset, cam.electrons_per_adu, 1.0)
    arrays = {
        "v3 lossless": dict(serializer=pzfcodec.zarr.PZF()),
        "v3 1 sigma": dict(serializer=one_sigma),
        "v3 1 sigma sharded": dict(serializer=one_sigma, shards=(8, 256, 256)),
        "v2 lossless": dict(zarr_format=2, compressors=pzfcodec.numcodecs.PZF(), filters=None),
    }
    print(f"{frames.shape} {frames.dtype}, {frames.nbytes / 1e6:.1f} MB")
    for name, codecs in arrays.items():
        path = os.path.join(folder, name.replace(" ", "_") + ".zarr")
        codecs.setdefault("compressors", None)
        z = zarr.create_array(path, shape=frames.shape, dtype=frames.dtype,
                              chunks=(1, 256, 256), overwrite=True, **codecs)
        z[:] = frames
        z = zarr.open_array(path, mode="r")  # as another process would
        region = z[3, 100:140, 50:60]
        if "lossless" in name:
            assert np.array_equal(region, frames[3, 100:140, 50:60])
        ratio = frames.nbytes / z.nbytes_stored()
        meta = z.metadata.to_dict()
        codec = meta.get("codecs") or meta.get("compressor")
        print(f"{name:20s} ratio {ratio:5.2f}  {json.dumps(codec)}")

    # Every chunk of a plain (unsharded) array is a PZF blob.
    blob = open(os.path.join(folder, "v3_1_sigma.zarr", "c", "3", "0", "0"), "rb").read()
    header = pzfcodec.read_header(blob)
    chunk = pzfcodec.decompress(blob)
    print(f"chunk c/3/0/0: {len(blob)} bytes, shape {header.shape}, "
          f"quantisation {header.quantization}, mean {chunk.mean():.1f} ADU")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
