"""``pzfcodec demo``: compress a built-in simulated camera series and report.

Prints, for lossless and square-root quantised PZF, the compression ratio,
the compress and decompress speed (MB/s of raw uint16 pixels) and the
reconstruction error in units of each pixel's noise sigma.
"""
from __future__ import annotations

import argparse
import time
from typing import List, NamedTuple

import numpy as np

from .atomic import AtomicOutput
from .codec import camera_quantization, compress, decompress
from .simulate import CAMERA, camera_frames

__all__ = ["DemoRow", "run_demo", "add_parser"]


class DemoRow(NamedTuple):
    """One line of the demo's report."""

    mode: str
    ratio: float
    compress_mb_s: float
    decompress_mb_s: float
    rms_error_sigma: float
    max_error_sigma: float


def _measure(frames: np.ndarray, mode: str, compression: str, quantization,
             threads: int) -> DemoRow:
    raw = frames.nbytes / 1e6
    t0 = time.perf_counter()
    blobs = [compress(f, compression, quantization, threads=threads) for f in frames]
    t1 = time.perf_counter()
    out = np.stack([decompress(b, threads=threads) for b in blobs])
    t2 = time.perf_counter()
    sigma = CAMERA.noise_sigma_adu(frames)
    err = (out.astype(np.float64) - frames) / sigma
    return DemoRow(mode, frames.nbytes / sum(map(len, blobs)), raw / (t1 - t0), raw / (t2 - t1),
                   float(np.sqrt(np.mean(err ** 2))), float(np.abs(err).max()))


def run_demo(frames: np.ndarray, threads: int = 2) -> List[DemoRow]:
    """Compress a (frames, x, y) uint16 camera series in several modes.

    Returns
    -------
    list of DemoRow
    """
    rows = [_measure(frames, "lossless", "huffman", None, 1)]
    for step in (0.5, 1.0):
        q = camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu, step)
        rows.append(_measure(frames, f"sqrt, step {step} sigma", "huffman", q, 1))
    q = camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu, 1.0)
    rows.append(_measure(frames, f"sqrt 1 sigma, chunked x{threads}", "chunked", q, threads))
    return rows


def format_rows(rows: List[DemoRow]) -> str:
    lines = ["| mode | ratio | compress MB/s | decompress MB/s | rms error / sigma "
             "| max error / sigma |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.mode} | {r.ratio:.2f} | {r.compress_mb_s:.0f} | "
                     f"{r.decompress_mb_s:.0f} | {r.rms_error_sigma:.3f} | "
                     f"{r.max_error_sigma:.2f} |")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    print(f"Simulated sCMOS series: {args.frames} frames of {args.size}x{args.size} uint16 "
          f"(offset {CAMERA.ad_offset:g} ADU, {CAMERA.electrons_per_adu:g} e-/ADU, "
          f"read noise {CAMERA.read_noise_e:g} e-)")
    frames = camera_frames(args.frames, (args.size, args.size), seed=args.seed)
    print(format_rows(run_demo(frames, args.threads)))
    if args.save:
        with AtomicOutput(args.save, overwrite=True) as out:  # never half a file under that name
            np.save(out.path, frames)
            out.commit()
        print(f"saved the series to {args.save} (convert it with: pzfcodec convert "
              f"{args.save} OUT.h5 --step 1 --ad-offset {CAMERA.ad_offset:g} "
              f"--electrons-per-adu {CAMERA.electrons_per_adu:g})")
    return 0


def _at_least(lo: int):
    """argparse type: an integer >= lo."""
    def parse(text: str) -> int:
        value = int(text)
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def _npy_path(text: str) -> str:
    if not text.endswith(".npy"):
        raise argparse.ArgumentTypeError(f"must end in .npy, got {text!r}")
    return text


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="compress built-in simulated camera frames",
                              description=__doc__)
    p.add_argument("--frames", type=_at_least(1), default=8, help="number of frames (default 8)")
    p.add_argument("--size", type=_at_least(16), default=2048,
                   help="frame side in pixels, at least 16 (default 2048)")
    p.add_argument("--threads", type=_at_least(1), default=2,
                   help="threads for chunked mode (default 2)")
    p.add_argument("--seed", type=_at_least(0), default=0, help="simulation seed (default 0)")
    p.add_argument("--save", metavar="PATH.npy", type=_npy_path,
                   help="also save the simulated series")
    p.set_defaults(func=_run)
