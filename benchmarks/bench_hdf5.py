"""HDF5 filters on a simulated sCMOS stack, written and read through h5py.

Every filter stores the same stack (chunk = one frame) in an in-memory HDF5
file (driver "core"), so the figures measure the filters, not the disk.
Reported per filter: compression ratio, write and read MB/s (of raw data,
best of the rounds) and, for lossy modes, the RMS error in units of the per-pixel noise sigma.

    PZF_BENCH_FRAMES=50 pytest benchmarks/bench_hdf5.py -s

prints a Markdown table of the results at the end (``-s`` shows it).
"""
from __future__ import annotations

import os
import uuid

import numpy as np
import pytest

import pzfcodec
from pzfcodec import simulate
from benchutil import seconds

h5py = pytest.importorskip("h5py")
hdf5plugin = pytest.importorskip("hdf5plugin")

N_FRAMES = int(os.environ.get("PZF_BENCH_FRAMES", "50"))
SHAPE = (2048, 2048)
ROUNDS = int(os.environ.get("PZF_BENCH_ROUNDS", "3"))
CAM = simulate.CAMERA

BLOSC = hdf5plugin.Blosc
FILTERS = {
    "none": {},
    "gzip+shuffle": dict(compression="gzip", shuffle=True),
    "blosc-lz4-bitshuffle": BLOSC(cname="lz4", clevel=5, shuffle=BLOSC.BITSHUFFLE),
    "blosc-zstd-bitshuffle": BLOSC(cname="zstd", clevel=5, shuffle=BLOSC.BITSHUFFLE),
    "bitshuffle-lz4": hdf5plugin.Bitshuffle(cname="lz4"),
    "zstd": hdf5plugin.Zstd(),
    "pzf": pzfcodec.PZF(),
    "pzf-chunked-2threads": pzfcodec.PZF(compression="chunked", threads=2),
    "pzf-q0.5sigma": pzfcodec.PZF.from_camera(CAM.ad_offset, CAM.electrons_per_adu, 0.5),
    "pzf-q1sigma": pzfcodec.PZF.from_camera(CAM.ad_offset, CAM.electrons_per_adu, 1.0),
}
LOSSY = {"pzf-q0.5sigma", "pzf-q1sigma"}
RESULTS: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def stack() -> np.ndarray:
    return simulate.camera_frames(N_FRAMES, SHAPE, seed=0)


def write(stack, kwargs):
    """Write the stack to a new in-memory HDF5 file; return the open file."""
    f = h5py.File(f"bench-{uuid.uuid4().hex}.h5", "w", driver="core", backing_store=False)
    ds = f.create_dataset("frames", shape=stack.shape, dtype=stack.dtype,
                          chunks=(1,) + stack.shape[1:], **kwargs)
    for i, frame in enumerate(stack):  # frame by frame, as during acquisition
        ds[i] = frame
    f.flush()
    return f


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    if not RESULTS:
        return
    mb = N_FRAMES * SHAPE[0] * SHAPE[1] * 2 / 1e6
    lines = [f"HDF5 filters, {N_FRAMES} frames {SHAPE[0]}x{SHAPE[1]} uint16 ({mb:.0f} MB), "
             "chunk = 1 frame, in-memory file",
             "",
             "| filter | ratio | write MB/s | read MB/s | RMS error / sigma |",
             "|---|---:|---:|---:|---:|"]
    for name in FILTERS:
        r = RESULTS.get(name, {})
        rms = f"{r['rms_sigma']:.3f}" if "rms_sigma" in r else "0 (lossless)"
        lines.append(f"| {name} | {r.get('ratio', float('nan')):.2f} "
                     f"| {r.get('write_mb_s', float('nan')):.0f} "
                     f"| {r.get('read_mb_s', float('nan')):.0f} | {rms} |")
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line("")
        for line in lines:
            tr.write_line(line)


@pytest.mark.parametrize("name", list(FILTERS))
def test_write(benchmark, stack, name):
    files = []

    def run():
        files.append(write(stack, FILTERS[name]))

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    ds = files[-1]["frames"]
    ratio = stack.nbytes / ds.id.get_storage_size()
    for f in files:
        f.close()
    speed = stack.nbytes / 1e6 / seconds(benchmark, "min")
    benchmark.extra_info.update(ratio=ratio, write_mb_s=speed)
    RESULTS.setdefault(name, {}).update(ratio=ratio, write_mb_s=speed)


@pytest.mark.parametrize("name", list(FILTERS))
def test_read(benchmark, stack, name):
    f = write(stack, FILTERS[name])
    ds = f["frames"]
    out = np.empty_like(stack)
    benchmark.pedantic(ds.read_direct, args=(out,), rounds=ROUNDS, iterations=1)
    f.close()
    speed = stack.nbytes / 1e6 / seconds(benchmark, "min")
    info = dict(read_mb_s=speed)
    if name in LOSSY:
        sigma = CAM.noise_sigma_adu(stack)
        info["rms_sigma"] = float(np.sqrt(np.mean(((out - stack.astype(np.float64)) / sigma) ** 2)))
    else:
        assert np.array_equal(out, stack), f"{name} is not lossless"
    benchmark.extra_info.update(info)
    RESULTS.setdefault(name, {}).update(info)
