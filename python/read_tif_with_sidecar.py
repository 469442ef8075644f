"""Read a TIFF stack with its PYME metadata sidecar and compress it with PZF.

Writes a small simulated camera series as ``series.tif`` plus a PYME
``series.md`` sidecar (the form PYME executes, here only parsed), opens it
with :func:`pzfcodec.pyme.tif.open_tif`, and compresses every frame with the
square-root quantisation that the sidecar's camera values give.

Usage: python read_tif_with_sidecar.py [output_dir]   (default: a temporary directory)
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

import pzfcodec
from pzfcodec.pyme.tif import open_tif
from pzfcodec.simulate import CAMERA, camera_frames

SIDECAR = f"""#PYME Simple Metadata v1
import os
md['Camera.ADOffset'] = {CAMERA.ad_offset!r}
md['Camera.ElectronsPerCount'] = {CAMERA.electrons_per_adu!r}
md['voxelsize.x'] = 0.1
md['voxelsize.y'] = 0.1
md['voxelsize.units'] = u'um'
md['PSFFile'] = os.path.join(os.path.split(__file__)[0], 'astig_theory.tif')
print('PYME would print this; pzfcodec skips it with a warning')
"""


def main(out_dir: Path) -> None:
    frames = camera_frames(20, shape=(128, 96), seed=1)  # (n, x, y), PYME orientation
    tifffile.imwrite(out_dir / "series.tif", frames)  # page i = frame i as stored, as PYME writes it
    (out_dir / "series.md").write_text(SIDECAR)

    with open_tif(out_dir / "series.tif") as series:
        md = series.metadata
        print(f"{series.shape[0]} frames of {series.shape[1:]} {series.dtype}, metadata from "
              f"{series.metadata_path.name}: {md}")
        q = pzfcodec.camera_quantization(md["Camera.ADOffset"], md["Camera.ElectronsPerCount"])
        blobs = [pzfcodec.compress(frame, quantization=q) for frame in series]
        assert np.array_equal(series[3], frames[3])

    raw = frames.nbytes
    packed = sum(len(b) for b in blobs)
    print(f"PZF, sqrt-quantised: {raw} -> {packed} bytes (ratio {raw / packed:.1f})")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
