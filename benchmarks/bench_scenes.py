"""Size against the information floor, and speed, on the hard camera scenes.

For every scene of :data:`pzfcodec.simulate.SCENES` (flat, gradient 20-60,
bright 100-300, very bright 500-1500 photons, sCMOS fixed-pattern noise) one
2048x2048 uint16 frame is coded by PZF and by the image and general-purpose
coders installed from PyPI, in one run:

* quantised at 1 and 0.5 noise sigma per step: PZF codes the frame; each
  peer codes the same uint8 symbols (``pzfcodec.quantize``), timed with the
  quantisation and de-quantisation included, so every row does the same job;
* lossless: every coder stores the raw uint16 frame.

Reported per row: bits per pixel, how far above the information floor
(``pzfcodec.simulate.information_floor``: the entropy of the stored symbols
given the true photon rate, the camera's fixed pattern unknown, which no
coder of single frames can beat on average), the floor given each pixel's
own offset and gain too (``pattern_known=True``: reachable only by a coder
given the camera's calibration maps; equal to the first without a fixed
pattern), encode and decode MB/s of raw uint16 pixels (best of ROUNDS, one
thread each), and the speed against PZF Huffman measured in the same run.

    pytest benchmarks/bench_scenes.py -s
    PZF_BENCH_SIZE=1024 PZF_BENCH_SLOW=0 pytest benchmarks/bench_scenes.py -s   # quicker

The slow coders (JPEG-XL effort 7, JPEG 2000) code the same full frame but
are timed on ``PZF_BENCH_SLOW_ROUNDS`` rounds (default 1);
``PZF_BENCH_SLOW=0`` leaves them out.
"""
from __future__ import annotations

import os
import uuid
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest

import pzfcodec
from benchutil import SCENE_MODES as MODES, best_of, peer_module, scene_case, write_table
from pzfcodec import simulate

SIZE = int(os.environ.get("PZF_BENCH_SIZE", "2048"))
ROUNDS = int(os.environ.get("PZF_BENCH_ROUNDS", "3"))
SLOW = os.environ.get("PZF_BENCH_SLOW", "1") != "0"
#: the slow coders are timed on this many rounds (their sizes are of the same full frame)
SLOW_ROUNDS = int(os.environ.get("PZF_BENCH_SLOW_ROUNDS", "1"))
SLOW_CODERS = {"JPEG-XL e7", "JPEG 2000"}
RESULTS: Dict[Tuple[str, str], List[dict]] = {}

Codec = Tuple[Callable[[np.ndarray], bytes], Callable[[bytes, np.ndarray], np.ndarray]]


def _pzf(compression: str, **kw) -> Callable[[Optional[pzfcodec.Quantization]], Codec]:
    def make(q):
        def enc(frame):
            return pzfcodec.compress(frame, compression, q, **kw)

        def dec(blob, like):
            return pzfcodec.decompress(blob)
        return enc, dec
    return make


def _peer(encode: Callable[[np.ndarray], bytes],
          decode: Callable[[bytes, np.ndarray], np.ndarray]) -> Callable:
    """A peer coder of the (quantised, for lossy modes) pixels."""
    def make(q):
        if q is None:
            return encode, decode

        def enc(frame):
            return encode(pzfcodec.quantize(frame, q.offset, q.scale))

        def dec(blob, like):
            shape = like.shape
            symbols = decode(blob, np.empty(shape, np.uint8))
            return pzfcodec.dequantize(symbols, q.offset, q.scale, dtype=np.uint16)
        return enc, dec
    return make


def _gzip_shuffle():
    import h5py

    def encode(a):
        with h5py.File(f"g{uuid.uuid4().hex}.h5", "w", driver="core", backing_store=False) as f:
            ds = f.create_dataset("a", data=a, chunks=a.shape, compression="gzip", shuffle=True)
            return ds.id.read_direct_chunk((0,) * a.ndim)[1]

    def decode(blob, like):
        with h5py.File(f"g{uuid.uuid4().hex}.h5", "w", driver="core", backing_store=False) as f:
            ds = f.create_dataset("a", shape=like.shape, dtype=like.dtype, chunks=like.shape,
                                  compression="gzip", shuffle=True)
            ds.id.write_direct_chunk((0,) * like.ndim, blob)
            return ds[...]
    return encode, decode


def coders() -> Dict[str, Callable]:
    """Every coder of the table, by name; peers only where installed (an
    imagecodecs build may lack a codec: its rows are then left out)."""
    out: Dict[str, Callable] = {
        "PZF Huffman": _pzf("huffman"),
        "PZF chunked": _pzf("chunked"),
    }
    try:  # the context-modelled coding, where this build has it
        pzfcodec.compress(np.zeros((2, 2), np.uint16), "context")
        out["PZF context"] = _pzf("context")
    except pzfcodec.PZFError:
        pass
    ic = peer_module("imagecodecs")
    if ic.JPEGXL.available:
        for e in (1, 2, 3, 7) if SLOW else (1, 2, 3):
            out[f"JPEG-XL e{e}"] = _peer(
                lambda a, e=e: ic.jpegxl_encode(a, lossless=True, effort=e, numthreads=1),
                lambda b, like: ic.jpegxl_decode(b, numthreads=1))
    if ic.JPEGLS.available:
        out["JPEG-LS"] = _peer(ic.jpegls_encode, lambda b, like: ic.jpegls_decode(b))
    if SLOW and ic.JPEG2K.available:
        out["JPEG 2000"] = _peer(lambda a: ic.jpeg2k_encode(a, level=0, reversible=True,
                                                            numthreads=1),
                                 lambda b, like: ic.jpeg2k_decode(b, numthreads=1))
    if ic.HTJ2K.available:
        out["HTJ2K"] = _peer(lambda a: ic.htj2k_encode(a, reversible=True),
                             lambda b, like: ic.htj2k_decode(b))
    if ic.PCODEC.available:
        out["pcodec"] = _peer(ic.pcodec_encode,
                              lambda b, like: ic.pcodec_decode(b, shape=like.shape,
                                                               dtype=like.dtype))
    blosc2 = peer_module("blosc2")
    out["Blosc2 zstd+bitshuffle"] = _peer(
        lambda a: blosc2.compress2(a, typesize=a.itemsize, clevel=5, codec=blosc2.Codec.ZSTD,
                                   filters=[blosc2.Filter.BITSHUFFLE], nthreads=1),
        lambda b, like: np.frombuffer(blosc2.decompress2(b), like.dtype).reshape(like.shape))
    out["gzip+shuffle (HDF5)"] = _peer(*_gzip_shuffle())
    return out


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or not RESULTS:
        return
    cam = simulate.CAMERA
    tr.write_line("")
    for mode in MODES:
        rows = [{**r, "scene": scene} for (scene, m), rs in RESULTS.items() if m == mode
                for r in rs]
        if not rows:
            continue
        what = ("raw uint16 pixels" if MODES[mode] is None else
                f"square-root quantised, step {mode} (peers code the same symbols)")
        write_table(tr, f"{mode}: one {SIZE}x{SIZE} frame per scene, {what}; camera offset "
                    f"{cam.ad_offset:g} ADU, {cam.electrons_per_adu:g} e-/ADU, read noise "
                    f"{cam.read_noise_e:g} e-; MB/s of raw uint16, one thread, best of "
                    f"{ROUNDS} ({SLOW_ROUNDS} for {', '.join(sorted(SLOW_CODERS))}); "
                    "'over floor' against the floor given the photon rate alone", [
                        ("scene", False, lambda r: r["scene"]),
                        ("floor bits/px", True, lambda r: f"{r['floor']:.3f}"),
                        ("floor, pattern known", True, lambda r: f"{r['floor_known']:.3f}"),
                        ("coder", False, lambda r: r["coder"]),
                        ("bits/px", True, lambda r: f"{r['bits']:.3f}"),
                        ("over floor", True,
                         lambda r: f"{100 * (r['bits'] / r['floor'] - 1):+.1f}%"),
                        ("encode MB/s", True, lambda r: f"{r['enc']:.0f}"),
                        ("decode MB/s", True, lambda r: f"{r['dec']:.0f}"),
                        ("encode vs PZF Huffman", True, lambda r: f"{r['enc_vs']:.2f}x"),
                        ("decode vs PZF Huffman", True, lambda r: f"{r['dec_vs']:.2f}x")],
                    rows)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("scene", list(simulate.SCENES))
def test_scene(request, scene, mode):
    truth, frame, q, floor, floor_known, rounds = scene_case(request.config, scene, mode, SIZE,
                                                             ROUNDS)
    symbols = frame if q is None else pzfcodec.quantize(frame, q.offset, q.scale)
    expected = frame if q is None else pzfcodec.dequantize(symbols, q.offset, q.scale,
                                                           dtype=np.uint16)
    rows = []
    for name, make in coders().items():
        enc, dec = make(q)
        n = min(rounds, SLOW_ROUNDS) if name in SLOW_CODERS else rounds
        t_enc, blob = best_of(lambda: enc(frame), n)
        t_dec, back = best_of(lambda: dec(blob, frame), n)
        bits = len(blob) * 8 / frame.size
        if name == "PZF context" and q is not None:
            # reconstructs each level without PYME's bias: other values, same symbols
            np.testing.assert_array_equal(pzfcodec.quantize(back, q.offset, q.scale), symbols)
        else:
            np.testing.assert_array_equal(back, expected, err_msg=name)
        # No coder can beat the floor by more than the estimate's sampling error.
        assert bits > floor * 0.97, f"{name} at {bits:.3f} bits/px beats the floor {floor:.3f}"
        rows.append(dict(coder=name, floor=floor, floor_known=floor_known, bits=bits,
                         enc=frame.nbytes / 1e6 / t_enc, dec=frame.nbytes / 1e6 / t_dec))
    ref = rows[0]
    for r in rows:
        r["enc_vs"], r["dec_vs"] = r["enc"] / ref["enc"], r["dec"] / ref["dec"]
    RESULTS[(scene, mode)] = rows
