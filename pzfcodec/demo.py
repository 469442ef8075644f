"""``pzfcodec demo``: compress a built-in simulated camera series and report.

Prints a headline (the context coding's compression ratio, PZF Huffman's
beside it), then, for lossless and square-root quantised PZF, the
compression ratio, the compress and decompress speed (MB/s of raw uint16
pixels) and the reconstruction error in units of each pixel's noise sigma.
"""
from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, List, NamedTuple, Optional

import numpy as np

from .atomic import AtomicOutput
from .cli import help_text
from .codec import Quantization, camera_quantization, compress, decompress
from .simulate import CAMERA, iter_camera_frames

__all__ = ["DemoRow", "run_demo", "headline", "format_rows", "add_parser"]


class DemoRow(NamedTuple):
    """One line of the demo's report."""

    mode: str
    ratio: float
    compress_mb_s: float
    decompress_mb_s: float
    rms_error_sigma: float
    max_error_sigma: float


@dataclass
class _Mode:
    """Running totals of one mode, fed one frame at a time."""

    name: str
    compression: str
    quantization: Optional[Quantization]
    threads: int
    raw: int = 0
    stored: int = 0
    t_compress: float = 0.0
    t_decompress: float = 0.0
    sq_err: float = 0.0
    max_err: float = 0.0
    pixels: int = 0

    def add(self, frame: np.ndarray, sigma: np.ndarray) -> None:
        t0 = time.perf_counter()
        blob = compress(frame, self.compression, self.quantization, threads=self.threads)
        t1 = time.perf_counter()
        out = decompress(blob, threads=self.threads)
        t2 = time.perf_counter()
        err = (out.astype(np.float64) - frame) / sigma
        self.raw += frame.nbytes
        self.stored += len(blob)
        self.t_compress += t1 - t0
        self.t_decompress += t2 - t1
        self.sq_err += float(np.sum(err * err))
        self.max_err = max(self.max_err, float(np.abs(err).max()))
        self.pixels += frame.size

    def row(self) -> DemoRow:
        mb = self.raw / 1e6
        return DemoRow(self.name, self.raw / max(self.stored, 1), mb / max(self.t_compress, 1e-9),
                       mb / max(self.t_decompress, 1e-9),
                       float(np.sqrt(self.sq_err / max(self.pixels, 1))), self.max_err)


def run_demo(frames: Iterable[np.ndarray], threads: int = 2) -> List[DemoRow]:
    """Compress a series of uint16 camera frames in several modes.

    Frames are taken one at a time (an array of frames, or any iterable of
    them such as :func:`pzfcodec.simulate.iter_camera_frames`), so memory
    stays that of a few frames whatever the length of the series.  Errors
    are in units of each pixel's noise sigma
    (:func:`pzfcodec.simulate.noise_sigma_adu` with the simulated camera).

    Returns
    -------
    list of DemoRow
        Lossless; square-root quantised at 0.5 and 1 sigma; chunked 1 sigma
        on ``threads`` threads.
    """
    def q(step: float) -> Quantization:
        return camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu, step)

    modes = [_Mode("lossless", "huffman", None, 1)]
    modes += [_Mode(f"sqrt, step {step} sigma", "huffman", q(step), 1) for step in (0.5, 1.0)]
    modes.append(_Mode(f"sqrt 1 sigma, chunked x{threads}", "chunked", q(1.0), threads))
    # the context coding beside PZF Huffman (pzfcodec's own: PYME cannot read it)
    modes.append(_Mode("context, lossless", "context", None, 1))
    modes += [_Mode(f"context, step {step} sigma", "context", q(step), 1) for step in (0.5, 1.0)]
    for frame in frames:
        sigma = CAMERA.noise_sigma_adu(frame)
        for mode in modes:
            mode.add(frame, sigma)
    return [mode.row() for mode in modes]


def _save_npy(path: str, n: int, shape: tuple, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Pass ``frames`` through, appending each to the ``.npy`` file ``path`` of
    ``n`` frames of ``shape`` (header first, then frame after frame)."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": np.dtype(np.uint16).str, "fortran_order": False,
                 "shape": (n,) + tuple(shape)})
        for frame in frames:
            fh.write(np.ascontiguousarray(frame, dtype=np.uint16).tobytes())
            yield frame


#: (what, context row, PZF Huffman row) of the headline, in its order
_HEADLINE = (("at a step of 1 sigma", "context, step 1.0 sigma", "sqrt, step 1.0 sigma"),
             ("at 0.5 sigma", "context, step 0.5 sigma", "sqrt, step 0.5 sigma"),
             ("lossless", "context, lossless", "lossless"))


def headline(rows: List[DemoRow]) -> str:
    """The demo's first line of results: the context coding's ratios, with
    PZF Huffman's (the coding PYME reads) beside each."""
    ratio = {r.mode: r.ratio for r in rows}
    parts = [f"{ratio[ctx]:.2f}x {what} (PZF Huffman {ratio[huf]:.2f}x)"
             for what, ctx, huf in _HEADLINE]
    return "Context coding: " + ", ".join(parts)


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
    shape = (args.size, args.size)
    frames = iter_camera_frames(args.frames, shape, seed=args.seed)
    with contextlib.ExitStack() as stack:
        if args.save:  # streamed to a temporary: never half a file under that name
            out = stack.enter_context(AtomicOutput(args.save, overwrite=True))
            frames = _save_npy(out.path, args.frames, shape, frames)
        rows = run_demo(frames, args.threads)
        if args.save:
            out.commit()
    print(headline(rows))
    print(format_rows(rows))
    if args.save:
        print(f"saved the series to {args.save} (convert it with: pzfcodec convert "
              f"{args.save} OUT.h5 --step 1 --ad-offset {CAMERA.ad_offset:g} "
              f"--electrons-per-adu {CAMERA.electrons_per_adu:g} "
              f"--read-noise {CAMERA.read_noise_e:g})")
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
                              description=help_text(__doc__))
    p.add_argument("--frames", type=_at_least(1), default=8, help="number of frames (default 8)")
    p.add_argument("--size", type=_at_least(16), default=2048,
                   help="frame side in pixels, at least 16 (default 2048)")
    p.add_argument("--threads", type=_at_least(1), default=2,
                   help="threads for chunked mode (default 2)")
    p.add_argument("--seed", type=_at_least(0), default=0, help="simulation seed (default 0)")
    p.add_argument("--save", metavar="PATH.npy", type=_npy_path,
                   help="also save the simulated series")
    p.set_defaults(func=_run)
