"""Compress camera frames with pzfcodec: lossless, quantised, chunked, PYME-style.

Run:  python python/compress_frames.py
"""
import numpy as np

import pzfcodec
from pzfcodec import PZFFormat
from pzfcodec.simulate import CAMERA, camera_frames

frames = camera_frames(4, (512, 512))
frame = frames[0]

# Lossless: the exact pixels come back.
blob = pzfcodec.compress(frame)
assert np.array_equal(pzfcodec.decompress(blob), frame)
print(f"lossless: {frame.nbytes} -> {len(blob)} bytes ({frame.nbytes / len(blob):.2f}x)")

# Square-root quantisation with a step of one photon-noise sigma, derived
# from the camera's offset and gain: errors stay well inside the noise.
q = pzfcodec.camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu, step_sigma=1.0)
blob = pzfcodec.compress(frame, quantization=q, frame_num=7)
decoded = pzfcodec.decompress(blob)
err = (decoded.astype(float) - frame) / CAMERA.noise_sigma_adu(frame)
print(f"quantised: {frame.nbytes / len(blob):.2f}x, rms error {np.sqrt(np.mean(err ** 2)):.3f} sigma")

# The header is readable without decoding.
h = pzfcodec.read_header(blob)
print(f"header: frame {h.frame_num}, {h.dtype}, shape {h.shape}, {h.compression}, "
      f"offset {h.quantization.offset:g}, scale {h.quantization.scale:.4f}")

# Chunked mode codes independent chunks on several threads.
blob = pzfcodec.compress(frame, "chunked", q, threads=2)
assert np.array_equal(pzfcodec.decompress(blob, threads=2), decoded)

# Whole stacks in parallel, and PYME's own API for code written against it.
blobs = pzfcodec.compress_stack(frames, quantization=q)
stack = pzfcodec.decompress_stack(blobs)
data, header = PZFFormat.loads(PZFFormat.dumps(frame, frameNum=3))
print(f"stack of {len(blobs)} frames -> {stack.shape}; PZFFormat.loads gives {data.shape}, "
      f"FrameNum {header['FrameNum'][0]}")
