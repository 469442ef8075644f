"""Shrink a PYME series with PZF quantisation and check the result.

Usage: python convert_pyme.py [SRC.h5 DST.h5]

Without arguments, builds a demo series in a temporary directory.  The
conversion reads camera parameters from the file's metadata, quantises with
a step of one noise sigma, writes PYME's own PZF layout (PYME opens it with no
plugin), verifies every frame and reports ratio, speed and error.  The same
from a shell: ``pzfcodec convert SRC.h5 DST.h5 --to pyme --step 1``.
"""
import sys
import tempfile
from pathlib import Path

from pzfcodec.convert import convert
from pzfcodec.pyme import write_h5
from pzfcodec.simulate import CAMERA, camera_frames


def main(src: Path, dst: Path) -> None:
    report = convert(src, dst, to="pyme", step_sigma=1.0, overwrite=True)
    print(report.summary())


if __name__ == "__main__":
    if len(sys.argv) == 3:
        main(Path(sys.argv[1]), Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "lossless.h5"
            metadata = {"Camera.ADOffset": CAMERA.ad_offset, "Camera.ElectronsPerCount": CAMERA.electrons_per_adu,
                        "Camera.ReadNoise": CAMERA.read_noise_e}
            write_h5(src, camera_frames(30, (256, 256), seed=2), metadata)
            main(src, Path(tmp) / "quantised.h5")
