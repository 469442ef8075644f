"""Read PYME files without PYME: an image series, its metadata and events.

Usage: python read_pyme.py [FILE]

Without FILE, writes a small demo series (simulated sCMOS frames) in PYME's
own PZF layout to a temporary directory and reads it back.
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

import pzfcodec
from pzfcodec.pyme import make_events, write_h5
from pzfcodec.simulate import CAMERA, camera_frames


def demo_file(directory: Path) -> Path:
    path = directory / "demo_series.h5"
    frames = camera_frames(20, (128, 96), seed=1)
    metadata = {"Camera.ADOffset": CAMERA.ad_offset, "Camera.ElectronsPerCount": CAMERA.electrons_per_adu,
                "voxelsize.x": 0.105, "voxelsize.y": 0.105, "SizeZ": 4, "SizeT": 5, "SizeC": 1}
    events = make_events(["StartAq", "ProtocolFocus"], ["0", "4, 1.25"], [1.7e9, 1.7e9 + 0.4])
    write_h5(path, frames, metadata, events)
    return path


def show(path: Path) -> None:
    with pzfcodec.open(path) as series:  # lazy: frames are read when indexed
        print(f"{path.name}: {series.shape} {series.dtype} ({series.kind})")
        print("camera offset:", series.metadata.get("Camera.ADOffset"),
              "electrons/ADU:", series.metadata.get("Camera.ElectronsPerCount"))
        frame = series[0]  # reads frame 0 only
        print(f"frame 0: mean {frame.mean():.1f} ADU, max {frame.max()}")
        sizes = series.sizes
        if sizes["z"] > 1:
            i = series.frame_index(z=sizes["z"] - 1, t=1)
            print(f"(z={sizes['z'] - 1}, t=1) is frame {i}; its mean is {series[i].mean():.1f} ADU")
        stack = np.asarray(series[::5])  # every fifth frame
        print("every fifth frame:", stack.shape)
        for event in series.events:
            print(f"event {str(event['EventName'])!r} {str(event['EventDescr'])!r} at {event['Time']:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        show(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            show(demo_file(Path(tmp)))
