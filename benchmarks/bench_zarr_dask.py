"""Zarr and Dask with PZF on a simulated sCMOS stack.

Two comparisons, measured in one run on the same data:

* **Parallel compression**: the stack (a memory-mapped ``.npy``) compressed
  into Zarr v3 + PZF (quantised at one noise sigma) on disk by
  ``pzfcodec.dask.to_zarr`` on a ``LocalCluster`` of 1 and 2 worker
  processes and of 2 threads in one process, against a single-process,
  single-thread loop of ``pzfcodec.compress`` over the frames (codec only,
  no storage).
* **Zarr codecs**: the stack written to and read from an in-memory Zarr v3
  array (chunk = one frame, ``write_empty_chunks=True`` as
  ``pzfcodec.dask.to_zarr`` uses) with PZF (lossless and quantised) and
  with Blosc (zstd and lz4, bitshuffle).

    PZF_BENCH_FRAMES=32 pytest benchmarks/bench_zarr_dask.py -s

prints Markdown tables of MB/s (of raw data) and ratios at the end.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import pzfcodec
from pzfcodec import simulate

zarr = pytest.importorskip("zarr")
distributed = pytest.importorskip("distributed")
pzd = pytest.importorskip("pzfcodec.dask")
from pzfcodec.zarr import PZF  # noqa: E402
from zarr.codecs import BloscCodec  # noqa: E402
from benchutil import seconds

N_FRAMES = int(os.environ.get("PZF_BENCH_FRAMES", "32"))
SHAPE = (2048, 2048)
ROUNDS = int(os.environ.get("PZF_BENCH_ROUNDS", "3"))
CAM = simulate.CAMERA
Q = pzfcodec.camera_quantization(CAM.ad_offset, CAM.electrons_per_adu, 1.0)

CODECS = {
    "pzf": dict(serializer=PZF(), compressors=None),
    "pzf-q1sigma": dict(serializer=PZF(offset=Q.offset, scale=Q.scale), compressors=None),
    "blosc-zstd-bitshuffle": dict(compressors=BloscCodec(cname="zstd", clevel=5,
                                                         shuffle="bitshuffle")),
    "blosc-lz4-bitshuffle": dict(compressors=BloscCodec(cname="lz4", clevel=5,
                                                        shuffle="bitshuffle")),
}
RESULTS: dict[str, dict[str, dict[str, float]]] = {"parallel": {}, "zarr": {}}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "stack.npy"
    np.save(path, simulate.camera_frames(N_FRAMES, SHAPE, seed=0))
    return path


@pytest.fixture(scope="module")
def stack(source):
    return np.load(source)


def local_client(n_workers, threads_per_worker, processes=True):
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                  processes=processes, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def cluster_client():
    yield from local_client(2, 1)


@pytest.fixture(scope="module")
def one_worker_client():
    yield from local_client(1, 1)


@pytest.fixture(scope="module")
def threads_client():
    yield from local_client(1, 2, processes=False)


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    mb = N_FRAMES * SHAPE[0] * SHAPE[1] * 2 / 1e6
    lines = [f"Parallel compression to Zarr v3 + PZF (1 sigma), {N_FRAMES} frames "
             f"{SHAPE[0]}x{SHAPE[1]} uint16 ({mb:.0f} MB) from a memory-mapped .npy",
             "", "| how | MB/s | vs single process |", "|---|---:|---:|"]
    base = RESULTS["parallel"].get("single process", {}).get("mb_s", float("nan"))
    for name, r in RESULTS["parallel"].items():
        lines.append(f"| {name} | {r['mb_s']:.0f} | {r['mb_s'] / base:.2f} |")
    lines += ["", "Zarr v3 codecs, same stack, chunk = 1 frame, in-memory store", "",
              "| codec | ratio | write MB/s | read MB/s |", "|---|---:|---:|---:|"]
    for name in CODECS:
        r = RESULTS["zarr"].get(name, {})
        lines.append(f"| {name} | {r.get('ratio', float('nan')):.2f} "
                     f"| {r.get('write_mb_s', float('nan')):.0f} "
                     f"| {r.get('read_mb_s', float('nan')):.0f} |")
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None and (RESULTS["parallel"] or RESULTS["zarr"]):
        tr.write_line("")
        for line in lines:
            tr.write_line(line)


def record(benchmark, group, name, nbytes, **info):
    info["mb_s"] = nbytes / 1e6 / seconds(benchmark, "mean")
    benchmark.extra_info.update(info)
    RESULTS[group][name] = info


def test_single_process(benchmark, source, stack):
    """Reference: one process, one thread, frame by frame from the memory map."""
    frames = np.load(source, mmap_mode="r")

    def run():
        return sum(len(pzfcodec.compress(f, quantization=Q)) for f in frames)

    stored = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    record(benchmark, "parallel", "single process", stack.nbytes,
           ratio=stack.nbytes / stored)


CLIENTS = {"dask 1 worker": "one_worker_client", "dask 2 workers": "cluster_client",
           "dask 2 threads": "threads_client"}


@pytest.mark.parametrize("how", list(CLIENTS))
def test_dask_to_zarr(benchmark, request, source, stack, tmp_path, how):
    client = request.getfixturevalue(CLIENTS[how])
    lazy = pzd.open_lazy(source, chunks=(2,) + SHAPE)
    out = str(tmp_path / "out.zarr")

    def run():
        return pzd.to_zarr(lazy, out, offset=Q.offset, scale=Q.scale, overwrite=True,
                           client=client)

    run()  # warm up: workers import zarr and pzfcodec
    z = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    record(benchmark, "parallel", how, stack.nbytes, ratio=stack.nbytes / z.nbytes_stored())
    expected = pzfcodec.dequantize(pzfcodec.quantize(stack[-1], Q.offset, Q.scale),
                                   Q.offset, Q.scale, stack.dtype)
    assert np.array_equal(z[-1], expected.reshape(SHAPE))


def new_array(stack, name):
    return zarr.create_array(zarr.storage.MemoryStore(), shape=stack.shape, dtype=stack.dtype,
                             chunks=(1,) + stack.shape[1:], **CODECS[name],
                             config={"write_empty_chunks": True})


@pytest.mark.parametrize("name", list(CODECS))
def test_zarr_write(benchmark, stack, name):
    arrays = []

    def run():
        z = new_array(stack, name)
        z[:] = stack
        arrays.append(z)

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    ratio = stack.nbytes / arrays[-1].nbytes_stored()
    info = dict(ratio=ratio, write_mb_s=stack.nbytes / 1e6 / seconds(benchmark, "mean"))
    benchmark.extra_info.update(info)
    RESULTS["zarr"].setdefault(name, {}).update(info)


@pytest.mark.parametrize("name", list(CODECS))
def test_zarr_read(benchmark, stack, name):
    z = new_array(stack, name)
    z[:] = stack
    out = benchmark.pedantic(lambda: z[:], rounds=ROUNDS, iterations=1)
    if name == "pzf" or name.startswith("blosc"):
        assert np.array_equal(out, stack), f"{name} is not lossless"
    info = dict(read_mb_s=stack.nbytes / 1e6 / seconds(benchmark, "mean"))
    benchmark.extra_info.update(info)
    RESULTS["zarr"].setdefault(name, {}).update(info)
