"""Child process of the spool crash tests: spools numbered frames until killed.

Usage: python spool_child.py LOCATION MODE [FLUSH_EVERY]
MODE is ``lossless`` or ``quantised``.  After every flush it prints
``durable N``; the parent kills it (SIGKILL) at a random moment.
"""
import sys

import numpy as np

import pzfcodec
from pzfcodec.simulate import camera_frames

SHAPE = (48, 64)
QUANT = pzfcodec.camera_quantization(100, 0.5, 1.0)


def frame(i: int, base=camera_frames(8, SHAPE, seed=3)) -> np.ndarray:
    """Frame ``i`` of the test series (its number is in its first pixels)."""
    f = base[i % len(base)].copy()
    f[0, 0], f[0, 1] = i & 0xFFFF, i >> 16
    return f


def main() -> None:
    location, mode = sys.argv[1], sys.argv[2]
    every = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    q = QUANT if mode == "quantised" else None
    w = pzfcodec.SeriesWriter(location, {"Camera.ADOffset": 100.0}, quantization=q,
                              flush_frames=7, flush_seconds=0.05)
    i = 0
    while True:
        w.append(frame(i))
        i += 1
        if i % 11 == 0:
            w.event("ProtocolFocus", f"{i}, 1.25")
        if i % every == 0:
            print("durable", w.flush(), flush=True)


if __name__ == "__main__":
    main()
