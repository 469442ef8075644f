"""Reading a PYME cluster series (.pcs) over HTTP from PYME data servers, against disk.

One simulated sCMOS series (``PZF_BENCH_FRAMES`` frames, default 200, of
``PZF_PCS_BENCH_SIZE`` squared uint16 pixels, default 1024; a few distinct
frames repeated), written by ``write_pcs`` to two PYME data servers running on
this machine (``python -m PYME.cluster.HTTPDataServer -a local``, started
here), quantised at one noise sigma per step and lossless.  Each case reads
the whole series (``np.asarray``: every frame fetched and decoded):

* ``pzfcodec-http``: ``open_pcs(..., servers=[both])``, frames fetched
  concurrently over keep-alive connections (4 per server);
* ``pzfcodec-disk``: ``open_pcs(..., roots=[both roots])``, the same files
  read from the servers' directories;
* ``pyme-http``: PYME's own reader (``ClusterPZFDataSource``, frame by frame,
  in a child process whose server discovery is the explicit list), timed
  inside the child (imports excluded).

The table gives MB/s of decoded pixels and of compressed bytes moved, and
each case against ``pzfcodec-disk`` measured in the same run::

    PZF_BENCH_FRAMES=400 pytest benchmarks/bench_pcs.py -s

Needs python-microscopy (PYME) and ujson for the servers.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import pzfcodec
from pzfcodec import simulate
from pzfcodec.pyme import open_pcs, write_pcs
from benchutil import seconds

pytest.importorskip("PYME")
pytest.importorskip("ujson")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pyme_servers import PymeServer, result_line, run_pyme  # noqa: E402

N_FRAMES = max(2, int(os.environ.get("PZF_BENCH_FRAMES", "200")))
SIDE = int(os.environ.get("PZF_PCS_BENCH_SIZE", "1024"))
CAM = simulate.CAMERA
MODES = {"q1sigma": pzfcodec.camera_quantization(CAM.ad_offset, CAM.electrons_per_adu, 1.0),
         "lossless": None}
RESULTS: dict = {}

PYME_READ = r'''
import json, time
from PYME.IO.DataSources.ClusterPZFDataSource import DataSource
t0 = time.perf_counter()
ds = DataSource(URL)
n = ds.getNumSlices()
nbytes = sum(ds.getSlice(i).nbytes for i in range(n))
print("@@RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "frames": n, "nbytes": nbytes}))
'''


@pytest.fixture(scope="module")
def servers():
    base = Path(tempfile.mkdtemp(prefix="pzf-bench-pcs-"))
    started = []
    try:
        for i in range(2):
            started.append(PymeServer(base / f"server{i}"))
        frames = simulate.camera_frames(min(N_FRAMES, 8), (SIDE, SIDE), seed=3)
        stack = np.stack([frames[i % len(frames)] for i in range(N_FRAMES)])
        for mode, q in MODES.items():
            write_pcs(f"bench/{mode}.pcs", stack, {"Camera.ADOffset": CAM.ad_offset},
                      servers=[s.address for s in started], quantization=q, threads=2)
        yield started
    finally:
        for s in started:
            s.stop()


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if not RESULTS:
        return
    print(f"\n\nReading {N_FRAMES} frames of {SIDE}x{SIDE} uint16 from two PYME data servers on this machine\n")
    print("| series | reader | decoded MB/s | compressed MB/s | x pzfcodec-disk |")
    print("|---|---|---|---|---|")
    for (mode, reader), r in RESULTS.items():
        base = RESULTS.get((mode, "pzfcodec-disk"), {}).get("s", float("nan"))
        print(f"| {mode} | {reader} | {r['raw'] / 1e6 / r['s']:.0f} | {r['stored'] / 1e6 / r['s']:.0f} "
              f"| {base / r['s']:.2f} |")


def _read(series) -> int:
    with series as s:
        return np.asarray(s).nbytes


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("reader", ["pzfcodec-http", "pzfcodec-disk"])
def test_read_series(benchmark, servers, mode, reader):
    path = f"bench/{mode}.pcs"
    if reader == "pzfcodec-http":
        def make():
            return open_pcs(path, servers=[s.address for s in servers])
    else:
        def make():
            return open_pcs(path, roots=[s.root for s in servers])
    with make() as s:
        stored = s.stored_bytes
    raw = benchmark.pedantic(lambda: _read(make()), rounds=3, warmup_rounds=1, iterations=1)
    assert raw == N_FRAMES * SIDE * SIDE * 2
    RESULTS[(mode, reader)] = {"s": seconds(benchmark, "min"), "raw": raw, "stored": stored}


@pytest.mark.parametrize("mode", list(MODES))
def test_read_series_pyme(servers, mode):
    r = result_line(run_pyme(f"URL = 'PYME-CLUSTER://{servers[0].name}/bench/{mode}.pcs'\n" + PYME_READ,
                             servers, timeout=1800))
    assert r["frames"] == N_FRAMES
    with open_pcs(f"bench/{mode}.pcs", roots=[s.root for s in servers]) as s:
        stored = s.stored_bytes
    RESULTS[(mode, "pyme-http")] = {"s": r["seconds"], "raw": r["nbytes"], "stored": stored}
