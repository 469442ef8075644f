"""HDF5 filters on a simulated sCMOS stack, written and read through h5py.

Every filter stores the same stack (chunk = one frame) in an in-memory HDF5
file (driver "core"), so the figures measure the filters, not the disk.
Reported per filter: compression ratio, write and read MB/s (of raw data,
best of the rounds) and, for lossy modes, the RMS error in units of the per-pixel noise sigma.

    PZF_BENCH_FRAMES=50 pytest benchmarks/bench_hdf5.py -s

prints Markdown tables of the results at the end (``-s`` shows them): the
filters on that stack, then PZF at one noise sigma per step against the best
lossless filter as the background brightness varies, with two limits: the
"entropy bound" (16 bits over the entropy of each frame's quantised symbols,
the most one Huffman code per frame can reach) and the "noise limit" (16 bits
over the entropy of the quantised noise of the brightest background pixel,
the most any coder of the background, which is over 99% of the pixels, could
reach even if it knew the noiseless image).
"""
from __future__ import annotations

import dataclasses
import math
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

SWEEP_BACKGROUNDS_E = (10, 20, 50, 100, 200, 500, 1000)
SWEEP_FRAMES = min(N_FRAMES, 8)
SWEEP: dict[float, dict[str, object]] = {}
CAMERA_TEXT = (f"offset {CAM.ad_offset:g} ADU, {CAM.electrons_per_adu:g} e-/ADU, "
               f"read noise {CAM.read_noise_e:g} e-")


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


def ratio(stack, kwargs) -> float:
    """Raw bytes over stored bytes of the stack written with one filter."""
    with write(stack, kwargs) as f:
        return stack.nbytes / f["frames"].id.get_storage_size()


def entropy_bound(stack, q) -> float:
    """16 bits over the entropy of each frame's quantised symbols: the best
    ratio any code of one symbol at a time (one code per frame) can reach."""
    bits = 0.0
    for frame in stack:
        counts = np.bincount(pzfcodec.quantize(frame, q.offset, q.scale).ravel())
        p = counts[counts > 0] / frame.size
        bits -= frame.size * float((p * np.log2(p)).sum())
    return stack.size * stack.itemsize * 8 / bits


def noise_limit(cam, electrons: float, step_sigma: float = 1.0) -> float:
    """16 bits over the entropy of the quantised symbol of a pixel whose
    expected value (``electrons``) is known: the best ratio any coder could
    reach on such pixels, even one that knew the noiseless image.

    The pixel's ADU distribution is that of the simulation: Poisson
    electrons plus Gaussian read noise, divided by the gain, rounded.
    """
    e, rn = cam.electrons_per_adu, cam.read_noise_e
    sd = math.sqrt(electrons + rn ** 2)
    k = np.arange(max(0, int(electrons - 12 * sd)), int(electrons + 12 * sd) + 1)
    p_k = np.exp(k * math.log(electrons) - electrons - np.array([math.lgamma(n + 1.0) for n in k]))
    adu = np.arange(max(0, int(cam.ad_offset + (electrons - 12 * sd) / e)),
                    int(cam.ad_offset + (electrons + 12 * sd) / e) + 2)
    edges = (np.append(adu, adu[-1] + 1) - 0.5 - cam.ad_offset) * e  # in electrons
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)((edges[None, :] - k[:, None]) / (rn * math.sqrt(2.0))))
    p_adu = p_k @ np.diff(cdf, axis=1)
    q = pzfcodec.camera_quantization(cam.ad_offset, e, step_sigma)
    symbols = pzfcodec.quantize(np.minimum(adu, 65535).astype(np.uint16), q.offset, q.scale)
    p = np.bincount(symbols.astype(np.intp), weights=p_adu)
    p = p[p > 0] / p.sum()
    return 16.0 / float(-(p * np.log2(p)).sum())


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    lines = []
    if RESULTS:
        mb = N_FRAMES * SHAPE[0] * SHAPE[1] * 2 / 1e6
        lines += [f"HDF5 filters, {N_FRAMES} frames {SHAPE[0]}x{SHAPE[1]} uint16 ({mb:.0f} MB), "
                  "chunk = 1 frame, in-memory file; simulated camera: background "
                  f"{CAM.background_e:g} e-/px, {CAMERA_TEXT}",
                  "",
                  "| filter | ratio | write MB/s | read MB/s | RMS error / sigma |",
                  "|---|---:|---:|---:|---:|"]
        for name in FILTERS:
            r = RESULTS.get(name, {})
            rms = f"{r['rms_sigma']:.3f}" if "rms_sigma" in r else "0 (lossless)"
            lines.append(f"| {name} | {r.get('ratio', float('nan')):.2f} "
                         f"| {r.get('write_mb_s', float('nan')):.0f} "
                         f"| {r.get('read_mb_s', float('nan')):.0f} | {rms} |")
    if SWEEP:
        lines += ["", f"PZF at 1 sigma against the best lossless filter, {SWEEP_FRAMES} frames "
                  f"{SHAPE[0]}x{SHAPE[1]}, background varied, {CAMERA_TEXT}",
                  "",
                  "| background e-/px | best lossless | ratio | PZF 1 sigma | PZF 1 sigma, "
                  "256 KiB chunks | entropy bound | noise limit | best PZF / best lossless |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for bg in SWEEP_BACKGROUNDS_E:
            r = SWEEP.get(bg)
            if r:
                lines.append(f"| {bg} | {r['lossless']} | {r['lossless_ratio']:.2f} "
                             f"| {r['pzf']:.2f} | {r['pzf_chunked']:.2f} | {r['bound']:.2f} "
                             f"| {r['noise_limit']:.2f} "
                             f"| {max(r['pzf'], r['pzf_chunked']) / r['lossless_ratio']:.2f}x |")
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None and lines:
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


@pytest.mark.parametrize("background_e", SWEEP_BACKGROUNDS_E)
def test_size_against_background(background_e):
    cam = dataclasses.replace(CAM, background_e=background_e)
    stack = simulate.camera_frames(SWEEP_FRAMES, SHAPE, seed=0, camera=cam)
    lossless = {name: ratio(stack, FILTERS[name])
                for name in FILTERS if name != "none" and name not in LOSSY}
    best = max(lossless, key=lossless.get)
    q = pzfcodec.camera_quantization(cam.ad_offset, cam.electrons_per_adu, 1.0)
    pzf = ratio(stack, pzfcodec.PZF(q.offset, q.scale))
    chunked = ratio(stack, pzfcodec.PZF(q.offset, q.scale, compression="chunked",
                                        chunk_size=1 << 18))
    bound = entropy_bound(stack, q)
    limit = noise_limit(cam, float(simulate.background(SHAPE, cam).max()))
    assert pzf <= bound  # one Huffman code per frame cannot beat the frame's entropy
    assert max(pzf, chunked) <= limit  # nor can anything beat the noise
    SWEEP[background_e] = dict(lossless=best, lossless_ratio=lossless[best], pzf=pzf,
                               pzf_chunked=chunked, bound=bound, noise_limit=limit)
