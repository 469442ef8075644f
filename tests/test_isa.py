"""Every kernel choice gives the same bytes: whole frames are coded and
decoded in child processes with the SIMD kernels capped by PZFCODEC_ISA
(scalar, avx2, and this CPU's best), and their blobs and decoded frames
must agree byte for byte."""
import json
import os
import subprocess
import sys


import pzfcodec
from pzfcodec import _core

CHILD = r"""
import hashlib, json, numpy as np, pzfcodec
from pzfcodec import simulate
out = {"isa": pzfcodec.cpu_isa()}
for scene in ("bright", "scmos-fpn"):
    truth = simulate.scene_frames(scene, 1, (300, 517), seed=3)
    frame, cam = truth.frames[0], truth.scene.camera
    q = pzfcodec.camera_quantization(cam.ad_offset, cam.electrons_per_adu, 1.0)
    cases = {"context-q": (frame, "context", q), "context-lossless": (frame, "context", None),
             "context-u8": (np.minimum(frame // 16, 255).astype(np.uint8), "context", None),
             "context-f32": (frame.astype(np.float32), "context", q),
             "huffman-q": (frame, "huffman", q), "chunked": (frame, "chunked", None)}
    for name, (data, coding, qq) in cases.items():
        for threads in (1, 3):
            blob = pzfcodec.compress(data, coding, qq, threads=threads, chunk_size=20000)
            back = pzfcodec.decompress(blob, threads=threads)
            out[f"{scene}/{name}/{threads}"] = [hashlib.sha256(blob).hexdigest(),
                                                hashlib.sha256(back.tobytes()).hexdigest()]
print(json.dumps(out))
"""


def _run(cap):
    env = dict(os.environ)
    env.pop("PZFCODEC_ISA", None)
    if cap is not None:
        env["PZFCODEC_ISA"] = cap
    res = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_cap_lowers_the_kernel_choice():
    best = _run(None)
    assert best["isa"] == pzfcodec.cpu_isa()
    assert _run("scalar")["isa"] == _core.ISA_SCALAR
    assert _run("avx2")["isa"] == min(best["isa"], _core.ISA_AVX2)
    assert _run("no-such-isa")["isa"] == best["isa"]


def test_every_kernel_gives_the_same_bytes():
    results = {cap: _run(cap) for cap in (None, "avx2", "scalar")}
    for res in results.values():
        res.pop("isa")
    ref = results[None]
    for cap, res in results.items():
        assert res == ref, cap
    for key, (blob, back) in ref.items():  # and threads change nothing
        scene, name, threads = key.split("/")
        assert ref[f"{scene}/{name}/1"] == [blob, back]
