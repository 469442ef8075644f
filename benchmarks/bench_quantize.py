"""Square-root quantiser kernels on a simulated sCMOS frame.

Each kernel (scalar, AVX2, AVX-512, as far as the CPU has them) quantises a
2048x2048 uint16 frame (the table-driven path for large inputs), the same
frame as float32, and a 256x256 uint16 tile (small inputs: the direct
kernels).  The reference is a plain copy of the same bytes (``np.copyto``),
i.e. memory bandwidth.  pymecompress has no quantise-only entry point (its
``HuffmanCompressQuant`` quantises and Huffman-codes in one call), so it is
compared in the codec benchmarks, not here.

    pytest benchmarks/bench_quantize.py -s

prints a Markdown table of the results at the end (``-s`` shows it).
"""
from __future__ import annotations

import numpy as np
import pytest

import pzfcodec
from pzfcodec import _core, simulate
from benchutil import seconds

CAM = simulate.CAMERA
QUANT = pzfcodec.camera_quantization(CAM.ad_offset, CAM.electrons_per_adu, 1.0)
ISAS = {name: isa for name, isa in
        {"scalar": _core.ISA_SCALAR, "avx2": _core.ISA_AVX2, "avx512": _core.ISA_AVX512}.items()
        if isa <= _core.cpu_isa()}
FORMATS = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.float32): 2}
RESULTS: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    frame = simulate.camera_frames(1, (2048, 2048), seed=0)[0]
    return {
        "uint16 2048x2048": frame,
        "float32 2048x2048": frame.astype(np.float32),
        "uint16 256x256": np.ascontiguousarray(frame[:256, :256]),
    }


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    if not RESULTS:
        return
    columns = ["copy"] + list(ISAS)
    lines = ["Square-root quantiser, input MB/s (simulated sCMOS frame)", "",
             "| input | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for data in ("uint16 2048x2048", "float32 2048x2048", "uint16 256x256"):
        cells = [f"{RESULTS[(data, c)]:.0f}" if (data, c) in RESULTS else "-" for c in columns]
        lines.append(f"| {data} | " + " | ".join(cells) + " |")
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line("")
        for line in lines:
            tr.write_line(line)


def record(benchmark, data: str, kernel: str, nbytes: int) -> None:
    speed = nbytes / 1e6 / seconds(benchmark, "min")
    benchmark.extra_info.update(input=data, kernel=kernel, mb_s=speed)
    RESULTS[(data, kernel)] = speed


@pytest.mark.parametrize("data", ["uint16 2048x2048", "float32 2048x2048", "uint16 256x256"])
def test_copy(benchmark, inputs, data):
    x = inputs[data]
    out = np.empty_like(x)
    benchmark(np.copyto, out, x)
    record(benchmark, data, "copy", x.nbytes)


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("data", ["uint16 2048x2048", "float32 2048x2048", "uint16 256x256"])
def test_quantize(benchmark, inputs, data, isa):
    x = inputs[data]
    src = x.reshape(-1).view(np.uint8)
    out = np.empty(x.size, np.uint8)
    benchmark(_core.quantize, src, FORMATS[x.dtype], QUANT.offset, QUANT.scale, out, ISAS[isa])
    # every kernel gives the same symbols
    assert np.array_equal(out, pzfcodec.quantize(x, QUANT.offset, QUANT.scale).reshape(-1))
    record(benchmark, data, isa, x.nbytes)
