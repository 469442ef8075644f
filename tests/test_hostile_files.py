"""Hostile files against the HDF5 filter, the readers and the commands.

Every case is read in a child process under memory and time limits
(tests/hostile.py): a crash, a hang or an allocation beyond the limit fails
the test; the only acceptable outcomes are a clean library error
(:class:`pzfcodec.PZFError`, or h5py's ``OSError`` for plain h5py reads) or
a correct result.  The cases follow issue 10 of the project (items 3, 7,
10, 12, 13 and 14) with variants in shape, size, links and names.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import pzfcodec
from common import require_tool
from hostile import expect_clean, run_limited

ROOT = Path(__file__).resolve().parents[1]


def _run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m pzfcodec ARGS`` under a 1.5 GiB address-space limit."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20)); "
            "from pzfcodec.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(proc: subprocess.CompletedProcess) -> None:
    """A command refused cleanly: non-zero exit, one line on stderr, no traceback."""
    assert proc.returncode not in (0,) and proc.returncode > 0, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and lines[0].startswith("pzfcodec "), proc.stderr


# -- item 3: stored filter parameters that lie about the chunk size --------------
def _patch_once(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) == 1, "the byte pattern to patch must occur exactly once"
    path.write_bytes(data.replace(old, new))


def lying_filter_file(path: Path, chunk: tuple, claim: tuple, *, dtype: str = "u2",
                      blob_shape: tuple | None = None, name: str = "ImageData") -> Path:
    """A dataset with PZF chunks of shape ``chunk`` whose stored cd_values say
    the blob shape (W, H, D) is ``claim``; its one chunk is a valid blob of
    ``blob_shape`` (default: ``claim``) written with write_direct_chunk."""
    dt = np.dtype(dtype)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(name, shape=chunk, chunks=chunk, dtype=dt, **pzfcodec.PZF())
        cd = ds.id.get_create_plist().get_filter(0)[2]
        blob_shape = blob_shape or claim
        frame = np.arange(int(np.prod(blob_shape)), dtype=dt).reshape(blob_shape) + 7
        ds.id.write_direct_chunk((0,) * len(chunk), pzfcodec.compress(frame, dim_order="C"))
    honest = np.asarray(cd, "<u4").tobytes()
    lie = np.asarray(tuple(cd[:9]) + tuple(claim), "<u4").tobytes()
    _patch_once(path, honest, lie)
    with h5py.File(path, "r") as f:  # the lie is what HDF5 now hands the filter
        assert f[name].id.get_create_plist().get_filter(0)[2][9:] == tuple(claim)
    return path


LIES = {
    # chunk shape, claimed (W, H, D); the blob matches the claim
    "1x1x1-in-64x64": ((1, 64, 64), (1, 1, 1)),
    "1x1x1-in-2048x2048": ((1, 2048, 2048), (1, 1, 1)),
    "half-height": ((1, 64, 64), (1, 32, 64)),
    "larger-than-chunk": ((1, 16, 16), (1, 32, 32)),
    "2-D": ((64, 64), (1, 1, 1)),
}


@pytest.fixture(params=sorted(LIES))
def lying_file(request, tmp_path) -> Path:
    chunk, claim = LIES[request.param]
    return lying_filter_file(tmp_path / f"{request.param}.h5", chunk, claim)


def test_lying_parameters_plain_h5py_refuses(lying_file):
    """h5py after ``import pzfcodec``: the filter refuses the chunk; no heap
    bytes in the array, no crash."""
    res = expect_clean("f['ImageData'][...].tolist()",
                       setup=f"import h5py, pzfcodec\nf = h5py.File({str(lying_file)!r}, 'r')\n")
    assert not res["ok"] and res["type"] == "OSError", res
    assert "filter returned failure" in res["message"]


def test_lying_parameters_pzfcodec_open_refuses(lying_file):
    res = expect_clean("_pzf.open(p)[...]", setup=f"p = {str(lying_file)!r}\n")
    # a 2-D /ImageData is not a series at all; every other case is corrupt
    expected = "UnsupportedFormatError" if "2-D" in lying_file.name else "CorruptDataError"
    assert not res["ok"] and res["type"] == expected, res


def test_lying_parameters_h5dump_refuses(lying_file):
    """h5dump loading the plugin from HDF5_PLUGIN_PATH prints no chunk data."""
    h5dump = require_tool("h5dump")
    proc = subprocess.run([h5dump, "-d", "ImageData", str(lying_file)], capture_output=True,
                          text=True, timeout=60,
                          env=dict(os.environ, HDF5_PLUGIN_PATH=pzfcodec.PLUGIN_PATH))
    assert proc.returncode > 0, proc.stdout[-2000:]
    assert "(0,0" not in proc.stdout, proc.stdout[-2000:]  # no element printed


def test_lying_parameters_commands_one_line(lying_file, tmp_path):
    dst = tmp_path / "out.h5"
    proc = _run_cli("convert", "-q", str(lying_file), str(dst))
    assert_one_line_error(proc)
    assert not dst.exists() and not list(tmp_path.glob("*partial*"))


def test_honest_files_still_read(tmp_path):
    """The check accepts every honest layout: 1-D to 4-D chunks, edge chunks,
    lossless non-native types, several open datasets sharing parameters."""
    rng = np.random.default_rng(1)
    cases = {"a": ((100,), (16,), "u2"), "b": ((5, 33, 40), (2, 16, 40), "u1"),
             "c": ((3, 4, 20, 20), (1, 2, 8, 20), "f4"), "d": ((6, 10), (4, 10), "<i8"),
             "e": ((2, 16, 16), (1, 16, 16), "u2"), "f": ((4, 16, 16), (1, 16, 16), "u2")}
    data = {k: rng.integers(0, 1000, shape).astype(dt) for k, (shape, _, dt) in cases.items()}
    with h5py.File(tmp_path / "ok.h5", "w") as f:
        for k, (shape, chunks, dt) in cases.items():
            f.create_dataset(k, data=data[k], chunks=chunks, **pzfcodec.PZF())
    with h5py.File(tmp_path / "ok.h5", "r") as f:
        for k in cases:
            np.testing.assert_array_equal(f[k][...], data[k])
