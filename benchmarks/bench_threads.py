"""How one frame scales with threads: chunked mode by chunk size, and
compress_stack / decompress_stack, in one run.

One simulated 2048x2048 uint16 sCMOS frame (``pzfcodec.simulate``),
quantised at 1 noise sigma per step:

* ``compress(frame, "chunked", q, threads=T, chunk_size=C)`` and
  ``decompress(blob, threads=T)`` for T in 1, 2, 4, 8, 16 and several chunk
  sizes C (the default first), with the blob size and chunk count;
* ``compress_stack`` / ``decompress_stack`` of a stack of such frames (one
  frame per thread, Huffman mode) for the same thread counts.

Each figure is the best of repeated rounds (at least 3, and about
``--seconds`` per figure), the thread counts of a row group taking turns so
that all see the same machine load; MB/s are of raw uint16 pixels;
"speed-up" is against the first thread count (1) of the same row group.  Run it as a script::

    python benchmarks/bench_threads.py

It prints a markdown table and takes about a minute on a 16-core machine
(``--help`` for smaller runs).  ``tests/test_benchmarks_run.py`` runs it on a
small frame through :func:`test_table_runs`.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import pzfcodec
from pzfcodec import _core
from pzfcodec.simulate import CAMERA, camera_frames

Q = pzfcodec.camera_quantization(CAMERA.ad_offset, CAMERA.electrons_per_adu, 1.0)


def best_times(funcs: list, min_seconds: float, min_rounds: int = 3) -> list:
    """The fastest call of each function, calling them in turn (so that all
    see the same machine load) for at least min_rounds rounds and about
    min_seconds per function."""
    for func in funcs:
        func()  # warm up: pool threads, page faults, caches
    best = [float("inf")] * len(funcs)
    start, rounds = time.perf_counter(), 0
    while rounds < min_rounds or time.perf_counter() - start < min_seconds * len(funcs):
        for i, func in enumerate(funcs):
            t0 = time.perf_counter()
            func()
            best[i] = min(best[i], time.perf_counter() - t0)
        rounds += 1
    return best


def chunk_count(blob: bytes) -> int:
    """Chunks of a chunked blob (the uint16 after the 64-byte header)."""
    return int.from_bytes(blob[64:66], "little")


def rows(size: int, threads: list, chunk_sizes: list, stack_frames: int,
         min_seconds: float):
    """Yield one dict per measured row."""
    frame = camera_frames(1, (size, size), seed=0)[0]
    mb = frame.nbytes / 1e6
    for cs in chunk_sizes:
        blob = pzfcodec.compress(frame, "chunked", Q, chunk_size=cs)
        c = best_times([lambda t=t: pzfcodec.compress(frame, "chunked", Q, threads=t,
                                                      chunk_size=cs) for t in threads],
                       min_seconds)
        d = best_times([lambda t=t: pzfcodec.decompress(blob, threads=t) for t in threads],
                       min_seconds)
        what = f"chunked, {cs // 1024} KiB"
        if cs == _core.DEFAULT_CHUNK_SIZE:
            what += " (default)"
        for i, t in enumerate(threads):
            yield dict(what=what, chunks=chunk_count(blob), size=len(blob), threads=t,
                       c=mb / c[i], cx=c[0] / c[i], d=mb / d[i], dx=d[0] / d[i])
    # a stack: shifted copies of the frame (simulating many frames is slow)
    stack = np.stack([np.roll(frame, 7 * i, axis=1) for i in range(stack_frames)])
    blobs = pzfcodec.compress_stack(stack, "huffman", Q)
    c = best_times([lambda t=t: pzfcodec.compress_stack(stack, "huffman", Q, threads=t)
                    for t in threads], min_seconds)
    d = best_times([lambda t=t: pzfcodec.decompress_stack(blobs, threads=t) for t in threads],
                   min_seconds)
    for i, t in enumerate(threads):
        yield dict(what=f"compress_stack, {stack_frames} frames", chunks=1,
                   size=sum(map(len, blobs)) // stack_frames, threads=t,
                   c=mb * stack_frames / c[i], cx=c[0] / c[i],
                   d=mb * stack_frames / d[i], dx=d[0] / d[i])


def table(size: int = 2048, threads=(1, 2, 4, 8, 16), chunk_sizes=None,
          stack_frames: int = 16, min_seconds: float = 0.5, out=sys.stdout) -> list:
    """Measure and print the markdown table; returns the rows."""
    if chunk_sizes is None:
        chunk_sizes = [_core.DEFAULT_CHUNK_SIZE] + [
            c for c in (64 << 10, 256 << 10, 1 << 20) if c != _core.DEFAULT_CHUNK_SIZE]
    print(f"One {size}x{size} uint16 frame, quantised at 1 sigma; "
          f"pzfcodec {pzfcodec.__version__}, {os.cpu_count()} CPUs, SIMD level "
          f"{pzfcodec.cpu_isa()}. MB/s of raw pixels, best round; speed-up against "
          f"1 thread in this run.\n", file=out)
    print("| coding | chunks | bytes/frame | threads | compress MB/s | speed-up "
          "| decompress MB/s | speed-up |", file=out)
    print("|---|---:|---:|---:|---:|---:|---:|---:|", file=out)
    result = []
    for r in rows(size, list(threads), list(chunk_sizes), stack_frames, min_seconds):
        print(f"| {r['what']} | {r['chunks']} | {r['size']} | {r['threads']} | {r['c']:.0f} "
              f"| {r['cx']:.2f}x | {r['d']:.0f} | {r['dx']:.2f}x |", file=out, flush=True)
        result.append(r)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2048, help="frame side (default 2048)")
    ap.add_argument("--threads", default="1,2,4,8,16", help="thread counts (default 1,2,4,8,16)")
    ap.add_argument("--chunks", default=None,
                    help="chunk sizes in KiB (default: the default, 64, 256, 1024)")
    ap.add_argument("--stack", type=int, default=16, help="frames in the stack (default 16)")
    ap.add_argument("--seconds", type=float, default=0.5,
                    help="time per figure (default 0.5)")
    a = ap.parse_args(argv)
    table(a.size, [int(t) for t in a.threads.split(",")],
          None if a.chunks is None else [int(c) << 10 for c in a.chunks.split(",")],
          a.stack, a.seconds)
    return 0


def test_table_runs():
    """A small run of the whole table (the suite's smoke test)."""
    import io
    buf = io.StringIO()
    got = table(256, (1, 2), [16 << 10], stack_frames=2, min_seconds=0.0, out=buf)
    assert len(got) == 4 and all(r["c"] > 0 and r["d"] > 0 for r in got)
    assert got[0]["chunks"] == 4  # 256 x 256 symbols in 16 KiB chunks
    assert buf.getvalue().count("\n| ") == 5  # header and 4 rows


if __name__ == "__main__":
    sys.exit(main())
