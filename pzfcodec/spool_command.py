"""``pzfcodec spool TARGET``: stream the simulated camera into a series, live.

Frames of the built-in simulated sCMOS camera (:mod:`pzfcodec.simulate`)
arrive at ``--fps`` frames per second (0: as fast as the writer takes them)
and go through :class:`pzfcodec.SeriesWriter` into TARGET (``.h5``,
``.hdf5``, ``.zarr``, ``.pcs``, with ``--servers`` on PYME data servers).  A progress line shows the rate of camera data,
the queue depth, the compression ratio and the durable frames (one updating
line on a terminal, a plain line a second otherwise).  Ctrl-C stops cleanly:
everything appended is written and the durable count reported.

``pzfcodec spool --recover TARGET`` reports a series whose writer crashed and
clears the mark HDF5 leaves in a ``.h5`` that was open for writing (see
:func:`pzfcodec.spool.recover`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

from .cli import help_text
from .codec import camera_quantization
from .demo import _at_least
from .simulate import CAMERA, camera_frames
from .spool import SeriesWriter, SpoolStats, recover, spool_status

__all__ = ["add_parser", "progress_line"]


def progress_line(st: SpoolStats, fps: float) -> str:
    """One line of the live display."""
    return (f"{st.appended} frames appended, {st.durable} durable | "
            f"{st.mb_per_s:7.1f} MB/s ({fps:6.1f} frames/s) | queue {st.queue_frames:3d} | "
            f"ratio {st.ratio:5.2f}")


def _run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.recover:
        st = spool_status(args.target)
        cleared = recover(args.target)
        print(f"{args.target}: {st.durable} durable frames, "
              f"{'complete' if st.complete else 'incomplete (its writer did not close it)'}; "
              f"{'cleared the open-for-writing mark: other programs open it now' if cleared else 'nothing to clear'}",
              file=out)
        return 0
    q = None if args.lossless else camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu,
                                                       args.step)
    pool = camera_frames(min(args.frames or 16, 16), (args.size, args.size), seed=args.seed)
    md = {"Camera.ADOffset": CAMERA.ad_offset, "Camera.ElectronsPerCount": CAMERA.electrons_per_adu,
          "Camera.ReadNoise": CAMERA.read_noise_e}
    tty = out.isatty()
    mode = "lossless" if q is None else f"sqrt-quantised, step {args.step:g} sigma"
    print(f"spooling {args.size}x{args.size} uint16 frames ({mode}, {args.compression}, "
          f"{args.threads} threads) to {args.target}; Ctrl-C stops", file=out, flush=True)
    if not args.overwrite and not args.servers and os.path.lexists(args.target):
        raise FileExistsError(f"{args.target} exists; choose a new name, or replace it with --overwrite")
    w = SeriesWriter(args.target, md, quantization=q, compression=args.compression,
                     threads=args.threads, dataset=args.dataset, overwrite=args.overwrite,
                     servers=args.servers)
    interval = 1.0 / args.fps if args.fps > 0 else 0.0
    t0 = time.perf_counter()
    last_print = t0
    stopped = False
    try:
        i = 0
        while not args.frames or i < args.frames:
            if interval:
                due = t0 + i * interval
                while time.perf_counter() < due:
                    time.sleep(min(0.001, max(0.0, due - time.perf_counter())))
            w.append(pool[i % len(pool)])
            i += 1
            now = time.perf_counter()
            if now - last_print >= (0.2 if tty else 1.0):
                _show(out, w.stats, i / (now - t0), tty)
                last_print = now
    except KeyboardInterrupt:
        stopped = True
    finally:
        try:
            w.close()
        except KeyboardInterrupt:  # a second Ctrl-C while closing: say what is safe
            print(f"\ninterrupted while closing: {w.durable} frames durable in {args.target}",
                  file=out)
            raise
    st = w.stats
    elapsed = time.perf_counter() - t0
    _show(out, st, st.appended / elapsed if elapsed else 0.0, tty)
    if tty:
        print(file=out)
    print(f"{'stopped' if stopped else 'done'}: {st.durable} frames durable in {args.target} "
          f"({st.raw_bytes / 1e6:.0f} MB of camera data in {elapsed:.1f} s, ratio {st.ratio:.2f})",
          file=out)
    return 0


def _show(out: TextIO, st: SpoolStats, fps: float, tty: bool) -> None:
    line = progress_line(st, fps)
    if tty:
        out.write("\r" + line + "\x1b[K")
        out.flush()
    else:
        print(line, file=out, flush=True)


def _fps(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _step(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("spool", help="stream the simulated camera into a series, live",
                              description=help_text(__doc__))
    p.add_argument("target", metavar="TARGET",
                   help="where to write: NAME.h5 (PYME), NAME.hdf5 (HDF5 + PZF filter), NAME.zarr, "
                        "NAME.pcs (PYME cluster series; with --servers a path on the servers)")
    p.add_argument("--frames", type=_at_least(0), default=0,
                   help="frames to write (default 0: until Ctrl-C)")
    p.add_argument("--fps", type=_fps, default=100.0,
                   help="camera frame rate (default 100; 0: as fast as possible)")
    p.add_argument("--size", type=_at_least(16), default=2048, help="frame side (default 2048)")
    p.add_argument("--step", type=_step, default=1.0,
                   help="quantisation step in noise sigmas (default 1)")
    p.add_argument("--lossless", action="store_true", help="no quantisation")
    p.add_argument("--compression", default="huffman", help="PZF coding (default huffman)")
    p.add_argument("--threads", type=_at_least(1), default=2, help="coding threads (default 2)")
    p.add_argument("--dataset", help="HDF5 dataset for the PZF-filter target (e.g. ImageData)")
    p.add_argument("--servers", metavar="HOST:PORT,...",
                   help="PYME data servers for a .pcs TARGET (never discovered by mDNS)")
    p.add_argument("--seed", type=_at_least(0), default=0, help="simulation seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing TARGET")
    p.add_argument("--recover", action="store_true",
                   help="do not spool: report a crashed TARGET .h5 and clear HDF5's open-for-writing "
                        "mark, so PYME and other HDF5 programs open it")
    p.set_defaults(func=_run)
