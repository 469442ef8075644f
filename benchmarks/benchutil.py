"""Helpers shared by the benchmark suites."""
import importlib
import math
import os
import time

import numpy as np
import pytest


def peer_module(name: str):
    """Import and return the peer module ``name``; where it is missing, skip
    the benchmark, or fail it under CI (``CI=true``), which installs every
    peer (the ``test`` extra)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{name} must be installed under CI: {exc}")
        pytest.skip(f"{name} is not installed")


def seconds(benchmark, stat: str = "median") -> float:
    """A timing statistic of a finished benchmark, in seconds; NaN when the
    suite runs with ``--benchmark-disable`` (a smoke run that only checks the
    suites still work)."""
    if benchmark.stats is None:
        return math.nan
    return getattr(benchmark.stats.stats, stat)


def best_of(fn, rounds: int):
    """``(seconds, result)``: the fastest of ``rounds`` calls of ``fn()`` and
    the last call's result."""
    best, result = math.inf, None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


#: Quantisation steps of the scene benchmarks, in noise sigmas (None: lossless).
SCENE_MODES = {"1 sigma": 1.0, "0.5 sigma": 0.5, "lossless": None}


def write_table(tr, title: str, columns, rows) -> None:
    """Write a Markdown table to pytest's terminal reporter ``tr``: the
    title, a blank line, the table, a blank line.  ``columns`` are
    ``(header, right_aligned, cell)`` triples; ``cell(row)`` gives the text
    of that column for each item of ``rows``."""
    tr.write_line(title)
    tr.write_line("")
    tr.write_line("| " + " | ".join(h for h, _, _ in columns) + " |")
    tr.write_line("|" + "|".join("---:" if right else "---" for _, right, _ in columns) + "|")
    for r in rows:
        tr.write_line("| " + " | ".join(cell(r) for _, _, cell in columns) + " |")
    tr.write_line("")


def copy_mb_s(frame, rounds: int) -> float:
    """Memory-copy speed on this machine, MB/s of ``frame``'s bytes: the
    fastest of ``rounds`` copies of it into a preallocated array (a copy
    reads and writes each byte once), the ceiling a codec's MB/s is
    compared with."""
    out = np.empty_like(frame)
    np.copyto(out, frame)  # touch the pages once
    seconds, _ = best_of(lambda: np.copyto(out, frame), max(rounds, 3))
    return frame.nbytes / 1e6 / seconds


def scene_case(config, scene: str, mode: str, size: int, rounds: int):
    """One frame of a :data:`pzfcodec.simulate.SCENES` scene and its floors.

    Returns ``(truth, frame, q, floor, floor_known, rounds)``: the simulated
    truth, its uint16 frame, the quantisation of ``mode`` (None for
    lossless), the information floor given the photon rate alone (the
    camera's fixed pattern, if any, unknown: what a coder of single frames
    can reach) and the floor given the rate and each pixel's own offset and
    gain (reachable only by a coder given the camera's calibration maps;
    equal without a fixed pattern), in bits per pixel, and the rounds to
    time.  A smoke run (``--benchmark-disable``) uses a 256x256 frame and
    one round.
    """
    import pzfcodec
    from pzfcodec import simulate

    smoke = bool(config.getoption("benchmark_disable", default=False))
    truth = simulate.scene_frames(scene, 1, (256, 256) if smoke else (size, size), seed=0)
    cam = truth.scene.camera
    step = SCENE_MODES[mode]
    q = None if step is None else pzfcodec.camera_quantization(
        cam.ad_offset, cam.electrons_per_adu, step)
    qq = None if q is None else (q.offset, q.scale)
    floor = simulate.information_floor(truth, qq)
    floor_known = floor
    if truth.scene.fixed_pattern:
        floor_known = simulate.information_floor(truth, qq, pattern_known=True,
                                                 max_pixels=1024 if smoke else 8192)
    return truth, truth.frames[0], q, floor, floor_known, 1 if smoke else rounds
