"""Spool an acquisition: frames stream into a PYME .h5 as the camera delivers them.

The writer codes frames on worker threads and writes them in order; append()
returns at once.  flush() makes everything appended so far durable (fsync),
and a reader can open the file while it is being written.

Run:  python python/spool_acquisition.py
"""
import numpy as np

import pzfcodec
from pzfcodec.simulate import CAMERA, camera_frames

camera = camera_frames(40, (256, 256))  # stands in for a camera delivering frames
md = {"Camera.ADOffset": CAMERA.ad_offset, "Camera.ElectronsPerCount": CAMERA.electrons_per_adu,
      "voxelsize.x": 0.1, "voxelsize.y": 0.1}
q = pzfcodec.camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu, step_sigma=1.0)

with pzfcodec.SeriesWriter("run01.h5", metadata=md, quantization=q, threads=2,
                           flush_seconds=1.0, overwrite=True) as w:
    for i, frame in enumerate(camera):
        w.append(frame)                          # returns fast: coding runs on worker threads
        if i == 20:
            w.event("ProtocolFocus", "10, 1.25")
            durable = w.flush()                  # frames 0..20 are now on disk
            with pzfcodec.open("run01.h5") as live:  # readable while it is written
                print(f"while writing: {durable} durable frames, a reader sees {len(live)}")
st = w.stats                                     # after close: everything is durable
print(f"wrote {st.durable} frames, {st.raw_bytes / 1e6:.1f} MB of camera data, "
      f"ratio {st.ratio:.2f}")
print(pzfcodec.spool.spool_status("run01.h5"))   # complete=True: closed cleanly

with pzfcodec.open("run01.h5") as s:             # PYME opens it too (HDFDataSource)
    err = (np.asarray(s).astype(float) - camera) / CAMERA.noise_sigma_adu(camera)
    print(f"read back {s.shape}, events {s.events['EventName'].tolist()}, "
          f"rms error {np.sqrt(np.mean(err ** 2)):.3f} noise sigma")

# the same frames into an HDF5 dataset with the PZF filter, and into Zarr v3
for target, kwargs in (("run01-filter.h5", {"dataset": "ImageData"}), ("run01.zarr", {})):
    with pzfcodec.SeriesWriter(target, md, quantization=q, overwrite=True, **kwargs) as w:
        for frame in camera:
            w.append(frame)
    print(f"{target}: {w.durable} frames, ratio {w.stats.ratio:.2f}")
