"""Store a camera stack in HDF5 with the PZF filter, as an acquisition would.

Writes frames one by one into a resizable dataset, losslessly and with
square-root quantisation at one noise sigma, compares file sizes, reads the
data back with plain h5py, and decodes one stored chunk with pzfcodec.

    python python/hdf5_filter.py [output_folder]

Without a folder the files go to a temporary directory that is removed.
"""
from __future__ import annotations

import os
import sys
import tempfile

import h5py
import numpy as np

import pzfcodec
from pzfcodec import simulate


def acquire(path: str, frames: np.ndarray, flt: pzfcodec.PZF) -> None:
    """Append frames one at a time to a growing dataset, chunk = one frame."""
    _, h, w = frames.shape
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("frames", shape=(0, h, w), maxshape=(None, h, w),
                              dtype=frames.dtype, chunks=(1, h, w), **flt)
        for i, frame in enumerate(frames):
            ds.resize(i + 1, axis=0)
            ds[i] = frame


def main(folder: str) -> None:
    cam = simulate.CAMERA
    frames = simulate.camera_frames(20, (256, 256), seed=1)
    filters = {
        "lossless": pzfcodec.PZF(),
        "1 sigma": pzfcodec.PZF.from_camera(cam.ad_offset, cam.electrons_per_adu, 1.0),
    }
    print(f"{len(frames)} frames {frames.shape[1]}x{frames.shape[2]} uint16, "
          f"{frames.nbytes / 1e6:.1f} MB raw")
    for name, flt in filters.items():
        path = os.path.join(folder, f"stack-{name.replace(' ', '')}.h5")
        acquire(path, frames, flt)
        with h5py.File(path, "r") as f:  # plain h5py: the filter is registered
            ds = f["frames"]
            back = ds[()]
            # Every chunk is a PZF blob that pzfcodec decodes directly.
            _, blob = ds.id.read_direct_chunk((3, 0, 0))
            chunk = pzfcodec.decompress(blob).view(ds.dtype).reshape(ds.chunks)
        assert np.array_equal(chunk, back[3:4])
        sigma = cam.noise_sigma_adu(frames)
        rms = np.sqrt(np.mean(((back - frames.astype(float)) / sigma) ** 2))
        print(f"{name:>9}: {path}  ratio {frames.nbytes / os.path.getsize(path):.2f}, "
              f"RMS error {rms:.3f} sigma")
    print(f"For other programs: HDF5_PLUGIN_PATH={pzfcodec.PLUGIN_PATH} "
          f"(filter id {pzfcodec.FILTER_ID})")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
