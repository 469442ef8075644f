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
    assert not dst.exists() and not list(tmp_path.glob(".pzfcodec-partial-*"))


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


# -- items 7, 10, 12: declared sizes, unbounded scans, metadata graphs -----------------
def _pyme_series(path: Path, frames: int = 2) -> Path:
    from pzfcodec.pyme import write_h5

    write_h5(path, np.arange(frames * 64, dtype=np.uint16).reshape(frames, 8, 8),
             {"Camera.ADOffset": 100.0})
    return path


def _events_file(path: Path, rows: int, *, chunked: bool = True, written: int = 0) -> Path:
    """A series whose /Events declares ``rows`` rows and stores ``written``."""
    from pzfcodec.pyme._hdf import EVENTS_H5_DTYPE

    _pyme_series(path)
    with h5py.File(path, "a") as f:
        kw = dict(chunks=(885,), compression="gzip", maxshape=(None,)) if chunked else {}
        ds = f.create_dataset("Events", shape=(rows,), dtype=EVENTS_H5_DTYPE, **kw)
        if written:
            ds[:written] = np.zeros(written, EVENTS_H5_DTYPE)
    return path


@pytest.mark.parametrize("rows,chunked,written", [(4_000_000, True, 0), (4_000_000, True, 885),
                                                   (2**28, True, 0), (4_000_000, False, 0)])
def test_events_declared_never_written(tmp_path, rows, chunked, written):
    path = _events_file(tmp_path / "ev.h5", rows, chunked=chunked, written=written)
    assert path.stat().st_size < 200_000
    res = expect_clean("_pzf.open(p).events", setup=f"p = {str(path)!r}\n", memory_mb=1024)
    assert not res["ok"] and res["type"] == "CorruptDataError", res
    assert "declares" in res["message"]


def test_events_over_budget(tmp_path):
    """Stored rows beyond the caller's budget: DataTooLargeError before reading."""
    path = _events_file(tmp_path / "ev.h5", 2000, written=2000)
    res = expect_clean("_pzf.open(p, max_decoded_size=100_000).events", setup=f"p = {str(path)!r}\n")
    assert not res["ok"] and res["type"] == "DataTooLargeError", res
    res = expect_clean("len(_pzf.open(p).events)", setup=f"p = {str(path)!r}\n")
    assert res == {"ok": True, "repr": "2000"}


def _pzf_series(path: Path, *, index_rows: int | None = None, data_rows: int | None = None,
                garbage: int = 0) -> Path:
    """A /PZFImageData series; optionally a declared-only index or data, or
    ``garbage`` leading rows without a PZF header."""
    from pzfcodec.pyme import write_h5

    write_h5(path, np.arange(2 * 64, dtype=np.uint16).reshape(2, 8, 8))
    with h5py.File(path, "a") as f:
        if index_rows is not None:
            dt = f["PZFImageIndex"].dtype
            del f["PZFImageIndex"]
            f.create_dataset("PZFImageIndex", shape=(index_rows,), dtype=dt, chunks=(4096,),
                             maxshape=(None,))
        if data_rows is not None or garbage:
            blobs = [f["PZFImageData"][i] for i in range(2)]
            del f["PZFImageData"]
            vlen = h5py.vlen_dtype(np.uint8)
            if garbage:
                ds = f.create_dataset("PZFImageData", shape=(garbage,), dtype=vlen)
                for i in range(garbage):
                    ds[i] = np.frombuffer(b"not a PZF blob", np.uint8)
            else:
                ds = f.create_dataset("PZFImageData", shape=(data_rows,), dtype=vlen,
                                      chunks=(1024,), maxshape=(None,))
                ds[0], ds[1] = blobs
    return path


@pytest.mark.parametrize("case", ["index-2^28", "data-2^40", "data-2^40-no-index", "no-header"])
def test_pzf_layout_declared_sizes(tmp_path, case):
    kw = {"index-2^28": dict(index_rows=2**28), "data-2^40": dict(data_rows=2**40),
          "data-2^40-no-index": dict(data_rows=2**40), "no-header": dict(garbage=3000)}[case]
    path = _pzf_series(tmp_path / "s.h5", **kw)
    if case == "data-2^40-no-index":
        with h5py.File(path, "a") as f:
            del f["PZFImageIndex"]
    assert path.stat().st_size < 300_000
    res = expect_clean("_pzf.open(p).shape", setup=f"p = {str(path)!r}\n", memory_mb=1024,
                       timeout=60)
    assert not res["ok"] and res["type"] == "CorruptDataError", res


def test_h5r_table_declared_never_written(tmp_path):
    path = tmp_path / "r.h5r"
    dt = np.dtype([("tIndex", "<i4"), ("fitResults", [("x0", "<f4"), ("y0", "<f4")])])
    with h5py.File(path, "w") as f:
        f.create_dataset("FitResults", shape=(2**30,), dtype=dt, chunks=(1024,), maxshape=(None,))
        f.create_dataset("DriftResults", data=np.zeros(10, dt))
    assert path.stat().st_size < 50_000
    res = expect_clean("r['FitResults']", setup=f"import pzfcodec\nr = pzfcodec.open({str(path)!r})\n", memory_mb=1024)
    assert not res["ok"] and res["type"] == "CorruptDataError", res
    res = expect_clean("len(r['DriftResults'])", setup=f"import pzfcodec\nr = pzfcodec.open({str(path)!r})\n")
    assert res == {"ok": True, "repr": "10"}


@pytest.mark.parametrize("frame,budget,expected", [
    ((70000, 70000), None, "DataTooLargeError"),       # 9.8 GB > default limit
    ((20000, 20000), 100 << 20, "DataTooLargeError"),  # 800 MB > caller's limit
    ((20000, 20000), None, "DataTooLargeError"),       # within the limit, beyond the child's memory
    ((64, 64), None, "ok"),
])
def test_imagedata_frame_budget(tmp_path, frame, budget, expected):
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("ImageData", shape=(3,) + frame, dtype="u2", chunks=(1, 64, 64))
    call = "_pzf.open(p, max_decoded_size=b)[0].shape"
    res = expect_clean(call, setup=f"p = {str(path)!r}\nb = {budget!r}\n", memory_mb=1024)
    if expected == "ok":
        assert res == {"ok": True, "repr": repr(frame)}
    else:
        assert not res["ok"] and res["type"] == expected, res
    res = expect_clean("_pzf.open(p)[0:3].shape", setup=f"p = {str(path)!r}\n",
                       memory_mb=1024) if expected == "ok" else None
    assert res is None or res["ok"]


def _metadata_file(path: Path, kind: str, n: int) -> Path:
    _pyme_series(path)
    with h5py.File(path, "a") as f:
        md = f["MetaData"]
        groups = [md.create_group("g0")]
        for i in range(1, n):
            groups.append(f.create_group(f"hidden/g{i}"))
        for i, g in enumerate(groups):
            g.attrs["level"] = np.int64(i)
            if i + 1 < n:
                if kind == "diamond":
                    g["a"] = groups[i + 1]
                    g["b"] = groups[i + 1]
                else:
                    g["next"] = groups[i + 1]
        if kind == "loop":
            groups[-1]["back"] = md  # a hard link back to an ancestor
            groups[-1]["soft"] = h5py.SoftLink("/MetaData")
            groups[-1]["ext"] = h5py.ExternalLink("/dev/zero", "/")
    return path


@pytest.mark.parametrize("kind,n,expected", [("diamond", 40, "ok"), ("loop", 20, "ok"),
                                             ("chain", 150, "ok"), ("chain", 400, "DataTooLargeError")])
def test_metadata_graphs(tmp_path, kind, n, expected):
    path = _metadata_file(tmp_path / "md.h5", kind, n)
    res = expect_clean("len(_pzf.open(p).metadata)", setup=f"p = {str(path)!r}\n", timeout=60)
    if expected == "ok":
        assert res["ok"], res
        assert int(res["repr"]) >= n  # every group read once
    else:
        assert not res["ok"] and res["type"] == expected, res


@pytest.mark.parametrize("kind,n", [("diamond", 40), ("chain", 400)])
def test_metadata_graphs_info_convert(tmp_path, kind, n):
    path = _metadata_file(tmp_path / "md.h5", kind, n)
    info = _run_cli("info", "--metadata", str(path), timeout=60)
    if kind == "diamond":
        assert info.returncode == 0, info.stderr
    else:
        assert_one_line_error(info)
    dst = tmp_path / "out.h5"
    proc = _run_cli("convert", "-q", str(path), str(dst), timeout=60)
    if kind == "diamond":
        assert proc.returncode == 0, proc.stderr
    else:
        assert_one_line_error(proc)
        assert not dst.exists()


def _tiff_claiming(path: Path, width: int, height: int) -> Path:
    """A small uncompressed TIFF whose first IFD claims width x height pixels."""
    import struct
    tifffile = pytest.importorskip("tifffile")

    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), photometric="minisblack")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"II*\0"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for k in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * k
        tag = struct.unpack_from("<H", data, entry)[0]
        if tag in (256, 257):  # ImageWidth, ImageLength as LONG
            struct.pack_into("<HII", data, entry + 2, 4, 1, width if tag == 256 else height)
    path.write_bytes(bytes(data) + bytes(4_800_000))
    return path


def test_tiff_page_declared_huge(tmp_path):
    path = _tiff_claiming(tmp_path / "huge.tif", 70000, 70000)
    res = expect_clean("_pzf.open(p)[0]", setup=f"p = {str(path)!r}\n", memory_mb=1024)
    assert not res["ok"] and res["library"], res
    assert res["type"] in ("DataTooLargeError", "CorruptDataError"), res
    proc = _run_cli("info", str(path))
    assert_one_line_error(proc)


# -- item 14 (not pickles): buffers of every layout, one-line commands -----------------
def test_decompress_fortran_memoryview():
    """A Fortran-ordered memoryview is read in memory order (no TypeError)."""
    from pzfcodec import PZFFormat

    frame = np.arange(64, dtype=np.uint16).reshape(8, 8)
    blob = np.frombuffer(pzfcodec.compress(frame) + b"\0", np.uint8)  # an even length
    fortran = np.asfortranarray(blob.reshape(2, -1, order="F"))
    view = memoryview(fortran)
    assert view.f_contiguous and not view.c_contiguous
    np.testing.assert_array_equal(pzfcodec.decompress(view), frame)
    assert PZFFormat.load_header(view)["Version"][0] == 3
    with pytest.raises(pzfcodec.BadArgumentError):
        pzfcodec.decompress(memoryview(blob)[::2])


@pytest.mark.parametrize("name,content", [("empty.h5", b""), ("junk.h5", b"\x89HDF\r\n\x1a\n" + bytes(100)),
                                          ("junk.tif", b"II*\0" + bytes(50)), ("junk.pzf", b"BD\x03" + bytes(40))])
def test_commands_print_one_line_for_junk(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error(_run_cli("info", str(path)))
    assert_one_line_error(_run_cli("convert", "-q", str(path), str(tmp_path / "out.h5")))
    assert not (tmp_path / "out.h5").exists()
