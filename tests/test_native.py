"""The C core on its own: strict warnings, sanitizers and fuzzing.

* Every C file compiles cleanly as C99 with -Wall -Wextra -Wpedantic -Werror
  under gcc and clang.
* Each fuzz target in ``tests/c`` is built with AddressSanitizer +
  UndefinedBehaviorSanitizer and replays a corpus of valid blobs (golden
  vectors, every mode pzfcodec writes) and damaged ones (truncations, bit
  flips, random bytes): any out-of-bounds access, UB or crash fails.
* With clang's libFuzzer each target then fuzzes for ``PZF_FUZZ_SECONDS``
  seconds (default 10) from that corpus.
* ``fuzz_filter`` drives the HDF5 filter callback itself (csrc/h5z_pzf.c,
  with the HDF5 functions it looks up stubbed) with hostile ``cd_values``,
  hostile chunks and datasets whose real chunk size differs from what the
  parameters claim.
* The thread pool (tests/c/threads.c) runs under ThreadSanitizer and
  AddressSanitizer; the core cross-compiled for aarch64 (qemu) and for
  Windows (MinGW-w64, run under wine) prints what the native build prints.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pzfcodec
from pzfcodec.simulate import camera_frames, scene_frames
from common import load_vector, require_tool, vector_cases

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
TESTC = ROOT / "tests" / "c"
CORE = sorted(p for p in CSRC.glob("*.c") if p.name != "h5z_pzf.c")
TARGETS = ["fuzz_decompress", "fuzz_huffman", "fuzz_header", "fuzz_roundtrip", "fuzz_filter"]
# extra sources and link flags per target (the filter's HDF5 stubs must be
# exported for the plugin's run-time symbol lookup)
EXTRA = {"fuzz_filter": ([CSRC / "h5z_pzf.c"], ["-rdynamic", "-ldl"])}
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
FUZZ_SECONDS = int(os.environ.get("PZF_FUZZ_SECONDS", "10"))


def _compile(cc: str, out: Path, sources, flags, target: str = "") -> None:
    extra_sources, extra_flags = EXTRA.get(target, ([], []))
    cmd = [cc, "-std=c99", f"-I{CSRC}", *flags, *map(str, [*sources, *extra_sources]),
           "-o", str(out), *extra_flags, "-lpthread", "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_warnings_as_errors(cc, tmp_path):
    compiler = require_tool(cc)
    for src in CORE + [CSRC / "h5z_pzf.c"]:
        cmd = [compiler, "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow",
               "-Werror", f"-I{CSRC}", "-c", str(src), "-o", str(tmp_path / "x.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{src.name}:\n{proc.stderr}"


def _damaged(blob: bytes, rng) -> list[bytes]:
    """Truncations, bit flips and byte overwrites of a blob."""
    out = [blob[:k] for k in sorted({0, 1, 47, 48, 63, 64, 65, len(blob) // 2,
                                      len(blob) - 1}) if k <= len(blob)]
    for _ in range(8):
        b = bytearray(blob)
        for pos in rng.integers(0, len(b), size=3):
            b[pos] ^= 1 << int(rng.integers(0, 8))
        out.append(bytes(b))
    b = bytearray(blob)
    if len(b) > 70:  # wreck the payload's start (the code tree)
        b[64:70] = rng.integers(0, 256, 6, dtype=np.uint8).tobytes()
    out.append(bytes(b))
    return out


def _filter_input(decode: bool, datasets, cd, chunk: bytes, *, other_cd=False,
                  ncd: int = 12) -> bytes:
    """One fuzz_filter input (layout in tests/c/fuzz_filter.c): the open
    datasets as (rank, dims, element size), dataset 0 being the one read."""
    head = bytes([int(decode) | len(datasets) << 1 | int(other_cd) << 3, ncd])
    head += np.asarray(cd, "<u4").tobytes()
    for k in range(3):
        rank, dims, size = datasets[k] if k < len(datasets) else (1, (1,), 1)
        dims = tuple(dims) + (1,) * (3 - len(dims))
        head += bytes([rank - 1, *(d - 1 for d in dims), size - 1])
    return head + chunk


def _filter_seeds(rng) -> list[bytes]:
    """Honest chunks of the filter (decode and encode), the same with the
    real chunk larger or smaller than the parameters say, no open dataset,
    other datasets with equal or different parameters, damaged blobs."""
    seeds = []
    for dims, dtype, fmt in (((8, 8), "u2", 1), ((4, 6, 3), "u1", 0), ((16,), "f4", 2)):
        shape = dims + (1,) * (3 - len(dims))
        frame = rng.integers(0, 200, shape).astype(dtype)
        for comp, code in (("raw", 0), ("huffman", 1), ("chunked", 2)):
            cd = [code, 0, 0, 0, 1, 0, 1, fmt, frame.itemsize, *shape]
            blob = pzfcodec.compress(frame, comp, dim_order="C", chunk_size=64)
            ds = (len(dims), dims, frame.itemsize)
            seeds.append(_filter_input(True, [ds], cd, blob))
            seeds.append(_filter_input(True, [ds, ds], cd, blob, other_cd=True))
            seeds.append(_filter_input(False, [ds], cd, frame.tobytes()))
            seeds.append(_filter_input(True, [], cd, blob))
            seeds += [_filter_input(True, [ds], cd, b) for b in _damaged(blob, rng)[:4]]
            bigger = (len(dims), tuple(d * 2 for d in dims), frame.itemsize)
            seeds.append(_filter_input(True, [bigger], cd, blob))
            seeds.append(_filter_input(True, [ds, bigger], cd, blob))
    # the file of issue 10 item 3: parameters claim 1x1x1, the chunk is 64x64
    one = pzfcodec.compress(np.array([[[7]]], np.uint16), dim_order="C")
    seeds.append(_filter_input(True, [(2, (64, 64), 2)], [1, 0, 0, 0, 0, 0, 1, 1, 2, 1, 1, 1], one))
    seeds.append(_filter_input(True, [(2, (64, 64), 2)], [1, 0, 0, 0], one, ncd=4))
    return seeds


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """Seed corpora per target, valid and damaged."""
    rng = np.random.default_rng(7)
    base = tmp_path_factory.mktemp("corpus")
    blobs = [load_vector(c, "blob") for c in vector_cases("pzf")]
    frame = camera_frames(1, (64, 48), seed=3)[0]
    # context blobs with several bands (lossless float32 is coded as Huffman)
    smooth = scene_frames("bright", 1, (64, 300), seed=4).frames[0]
    for arr, quant in ((smooth, (100.0, 0.7)), ((smooth // 4).astype(np.uint8), (25.0, 0.35)),
                       (smooth.astype(np.float32), (100.0, 0.7))):
        for q in (None, quant):
            blob = pzfcodec.compress(arr, "context", q, chunk_size=3000)
            is_context = pzfcodec.read_header(blob).compression == "context"
            assert is_context or (arr.dtype == np.float32 and q is None)
            blobs.append(blob)
    for comp in ("raw", "huffman", "chunked", "context"):
        for q in (None, (100.0, 0.7)):
            for arr in (frame, frame.astype(np.float32), (frame % 256).astype(np.uint8),
                        np.asfortranarray(frame)):
                blobs.append(pzfcodec.compress(arr, comp, q, chunk_size=1000))
    streams = [load_vector(c, "blob") for c in vector_cases("huffman")]
    streams += [pzfcodec.huffman_compress(frame.tobytes())]
    dirs = {}
    for target in TARGETS:
        d = base / target
        d.mkdir()
        dirs[target] = d
    i = 0
    for blob in blobs:
        for sample in [blob] + _damaged(blob, rng):
            for target in ("fuzz_decompress", "fuzz_header"):
                (dirs[target] / f"{i}.bin").write_bytes(sample)
            i += 1
    for s in streams:
        for sample in [s] + _damaged(s, rng) if len(s) > 1 else [s]:
            n = min(len(s) * 3, 65535).to_bytes(2, "big")
            (dirs["fuzz_huffman"] / f"{i}.bin").write_bytes(n + sample)
            i += 1
    for k, sample in enumerate(_filter_seeds(rng)):
        (dirs["fuzz_filter"] / f"f{k}.bin").write_bytes(sample)
    for k in range(64):
        data = rng.integers(0, 256, int(rng.integers(4, 3000)), dtype=np.uint8).tobytes()
        (dirs["fuzz_roundtrip"] / f"{k}.bin").write_bytes(data)
        (dirs["fuzz_decompress"] / f"r{k}.bin").write_bytes(b"BD\x03" + data)
    return dirs


@pytest.mark.parametrize("target", TARGETS)
def test_sanitizers_replay_corpus(target, corpus, tmp_path):
    """ASan + UBSan build of each decoding entry point over the corpus."""
    cc = require_tool("gcc")
    exe = tmp_path / f"sanitize_{target}"
    _compile(cc, exe, CORE + [TESTC / f"{target}.c", TESTC / "sanitize_main.c"],
             ["-g", "-O1", *SANITIZE], target)
    files = sorted(map(str, corpus[target].iterdir()))
    assert len(files) > 20
    proc = subprocess.run([str(exe), *files], capture_output=True, text=True,
                          env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1",
                               "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_sanitizers_encoder_size_edges(tmp_path):
    """ASan + UBSan build of the encoder's size edge cases (tests/c/edges.c)."""
    cc = require_tool("gcc")
    exe = tmp_path / "edges"
    _compile(cc, exe, CORE + [TESTC / "edges.c"], ["-g", "-O1", *SANITIZE])
    proc = subprocess.run([str(exe)], capture_output=True, text=True,
                          env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1"})
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.parametrize("target", TARGETS)
def test_libfuzzer(target, corpus, tmp_path):
    """Coverage-guided fuzzing (clang libFuzzer + ASan + UBSan), bounded time."""
    cc = require_tool("clang")
    exe = tmp_path / target
    _compile(cc, exe, CORE + [TESTC / f"{target}.c"],
             ["-g", "-O1", "-fsanitize=fuzzer,address,undefined",
              "-fno-sanitize-recover=all"], target)
    work = tmp_path / "corpus"
    work.mkdir()
    proc = subprocess.run(
        [str(exe), str(work), str(corpus[target]), f"-max_total_time={FUZZ_SECONDS}",
         # the RSS limit would count the peak this process passed on (getrusage)
         "-rss_limit_mb=0", "-malloc_limit_mb=1024", "-max_len=65536",
         "-print_final_stats=1"],
        capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "stat::number_of_executed_units" in proc.stderr


def test_aarch64_build_matches_x86(tmp_path):
    """The core cross-compiled for aarch64 (run under qemu) prints exactly
    what the native build prints: blobs, decoded frames and quantised
    symbols of every mode, and the golden vectors decoded.  The native build
    uses the SIMD kernels this CPU has, aarch64 the portable ones."""
    cross = require_tool("aarch64-linux-gnu-gcc")
    qemu = require_tool("qemu-aarch64")
    native, arm = tmp_path / "selftest", tmp_path / "selftest_arm"
    sources = CORE + [TESTC / "selftest.c"]
    flags = ["-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
    _compile(require_tool("gcc"), native, sources, flags)
    _compile(cross, arm, sources, flags + ["-static"])
    blobs = [str(ROOT / "tests" / "data" / "vectors" / c["files"]["blob"])
             for c in vector_cases("pzf")]
    ours = subprocess.run([str(native), *blobs], capture_output=True, text=True)
    theirs = subprocess.run([qemu, str(arm), *blobs], capture_output=True, text=True)
    assert ours.returncode == 0, ours.stdout[-3000:]
    assert theirs.returncode == 0, theirs.stdout[-3000:] + theirs.stderr[-2000:]
    assert len(ours.stdout.splitlines()) == 4 * 3 * 4 * 2 * 2 + len(blobs)
    assert theirs.stdout == ours.stdout


@pytest.mark.parametrize("sanitizer", ["thread", "address"])
def test_threads_sanitized(sanitizer, tmp_path):
    """Real concurrency, concurrent callers on one pool getting the blobs and
    frames of the one-thread run, and (ASan) a forked child using threads,
    under ThreadSanitizer (clang) or ASan + UBSan (gcc)."""
    cc = require_tool("clang" if sanitizer == "thread" else "gcc")
    flags = ["-fsanitize=thread"] if sanitizer == "thread" else SANITIZE
    exe = tmp_path / "threads"
    _compile(cc, exe, CORE + [TESTC / "threads.c"], ["-g", "-O1", *flags])
    # TSan does not follow a multi-threaded fork; the ASan build checks it
    args = [] if sanitizer == "thread" else ["fork"]
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TSAN_OPTIONS": "halt_on_error=1",
                               "ASAN_OPTIONS": "detect_leaks=1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "concurrent callers: 0 mismatches" in proc.stdout


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """A command running Windows programs headless, with its own prefix."""
    exe = require_tool("wine")
    prefix = tmp_path_factory.mktemp("wineprefix")
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEARCH="win64",
               WINEDLLOVERRIDES="mscoree,mshtml=")

    def run(program, *args):
        proc = subprocess.run([exe, str(program), *map(str, args)], capture_output=True,
                              env=env, timeout=600)
        return proc.returncode, proc.stdout.decode().replace("\r\n", "\n")
    return run


def test_windows_build_matches_native(wine, tmp_path):
    """The core cross-compiled with MinGW-w64 (Win32 threads, the Windows
    code paths) and run under wine prints exactly what the native build
    prints, coding every case on 1 and 8 threads; its thread test shows
    tasks running at once on Win32 threads; the HDF5 plugin builds as a DLL
    with -Werror."""
    mingw = require_tool("x86_64-w64-mingw32-gcc")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror",
             f"-I{CSRC}", "-static"]
    exes = {}
    for name in ("selftest", "threads"):
        exes[name] = tmp_path / f"{name}.exe"
        cmd = [mingw, *flags, *map(str, CORE + [TESTC / f"{name}.c"]), "-o", str(exes[name])]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    # the HDF5 filter plugin as a DLL exporting HDF5's two entry points
    dll = tmp_path / "h5pzf.dll"
    cmd = [mingw, *flags, "-shared", *map(str, [CSRC / "h5z_pzf.c", *CORE]), "-o", str(dll)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    exports = subprocess.run([require_tool("x86_64-w64-mingw32-objdump"), "-p", str(dll)],
                             capture_output=True, text=True).stdout
    assert "H5PLget_plugin_info" in exports and "H5PLget_plugin_type" in exports
    native = tmp_path / "selftest"
    _compile(require_tool("gcc"), native, CORE + [TESTC / "selftest.c"], ["-O2"])
    blobs = [ROOT / "tests" / "data" / "vectors" / c["files"]["blob"]
             for c in vector_cases("pzf")]
    ours = subprocess.run([str(native), *map(str, blobs)], capture_output=True, text=True)
    assert ours.returncode == 0, ours.stdout[-3000:]
    rc, theirs = wine(exes["selftest"], *blobs)
    assert rc == 0, theirs[-3000:]
    assert theirs == ours.stdout
    rc, out = wine(exes["threads"])
    assert rc == 0, out
    assert "most tasks running at once: 2" in out and "0 mismatches" in out
