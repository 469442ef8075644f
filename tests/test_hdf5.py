"""The HDF5 filter plugin: h5py round trips, HDF5 tools, errors."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import pzfcodec
from pzfcodec.errors import BadArgumentError
from pzfcodec.hdf5 import FILTER_ID, PLUGIN_PATH, PZF, register
from common import ADAPTERS, CONTRACT, require_module, require_tool

h5py = require_module("h5py")

OFFSET, SCALE = 100.0, 0.7


def sample(dtype, shape, seed=0) -> np.ndarray:
    """Camera-like values (offset + Poisson) for numeric types, random bytes otherwise."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    if dtype.kind in "uif" and dtype.itemsize <= 8:
        vals = OFFSET + rng.poisson(30.0, n) + rng.integers(0, 2, n) * rng.poisson(400.0, n)
        hi = np.iinfo(dtype).max if dtype.kind in "ui" else np.inf
        return np.minimum(vals, hi).astype(dtype).reshape(shape)
    return np.frombuffer(rng.bytes(n * dtype.itemsize), dtype=dtype).reshape(shape).copy()


def lossy_reference(data: np.ndarray, offset=OFFSET, scale=SCALE) -> np.ndarray:
    """What quantised storage must give back: the core's own round trip."""
    blob = pzfcodec.compress(data.reshape(data.shape[0], -1), quantization=(offset, scale))
    return pzfcodec.decompress(blob).reshape(data.shape)


def write(path, data, chunks, flt, name="x", **kwargs):
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data, chunks=chunks, **flt, **kwargs)


def read(path, name="x"):
    with h5py.File(path, "r") as f:
        return f[name][()]


def chunk_blobs(path, name="x"):
    """Every stored chunk: (offset, blob)."""
    with h5py.File(path, "r") as f:
        ds = f[name]
        out = []
        for i in range(ds.id.get_num_chunks()):
            info = ds.id.get_chunk_info(i)
            mask, blob = ds.id.read_direct_chunk(info.chunk_offset)
            assert mask == 0, "the filter was skipped for a chunk"
            out.append((info.chunk_offset, blob))
        return ds.dtype, ds.chunks, out


# ---- registration -----------------------------------------------------------
@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
def test_codec_contract(check):
    check(ADAPTERS["hdf5"]())


def test_filter_id_and_plugin_path():
    assert 32768 <= FILTER_ID <= 65535
    assert pzfcodec.FILTER_ID == FILTER_ID == 53338  # never changes once released
    libs = [p for p in Path(PLUGIN_PATH).iterdir() if "h5pzf" in p.name]
    assert len(libs) == 1, libs


def test_import_registers_and_register_is_idempotent_and_thread_safe():
    assert h5py.h5z.filter_avail(FILTER_ID)
    results = []
    threads = [threading.Thread(target=lambda: results.append(register())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8
    assert h5py.h5z.filter_avail(FILTER_ID)


# ---- the PZF description ----------------------------------------------------
def test_pzf_options():
    assert dict(PZF()) == {"compression": FILTER_ID, "compression_opts": (1, 0, 0, 0, 1, 0)}
    q = PZF(offset=100, scale=0.5, compression="chunked", threads=2, chunk_size=4096)
    assert q.filter_options == (2, 1, 0x42C80000, 0x3F000000, 2, 4096)
    assert PZF(100, 0.5, compression="raw")["compression_opts"][:2] == (0, 1)
    assert eval(repr(q), {"PZF": PZF}) == q
    cam = PZF.from_camera(100, 0.5, step_sigma=1.0)
    expected = pzfcodec.camera_quantization(100, 0.5, 1.0)
    assert cam == PZF(expected.offset, expected.scale)


@pytest.mark.parametrize("kwargs", [
    dict(offset=100), dict(scale=1.0), dict(offset=100, scale=0), dict(offset=100, scale=-1),
    dict(offset=float("nan"), scale=1), dict(offset=0, scale=float("inf")),
    dict(offset=1e39, scale=1), dict(compression="zstd"), dict(threads=0),
    dict(threads=2), dict(compression="chunked", threads=1000),
    dict(chunk_size=1024), dict(compression="chunked", chunk_size=0),
])
def test_pzf_rejects_bad_options(kwargs):
    with pytest.raises(BadArgumentError):
        PZF(**kwargs)


# ---- round trips --------------------------------------------------------------
SHAPES = [  # (shape, chunks): edge chunks everywhere but the first
    ((100, 70), (100, 70)),
    ((100, 70), (32, 48)),
    ((5, 33, 40), (2, 16, 16)),
    ((3, 4, 20, 30), (2, 3, 8, 16)),
    ((1000,), (300,)),
]


@pytest.mark.parametrize("shape,chunks", SHAPES)
@pytest.mark.parametrize("dtype", ["u1", "u2", "f4", "i1", "i2", "i4", "u4", "i8",
                                   "f8", ">u2", ">f4", "f2", "c8"])
def test_lossless_round_trip(tmp_path, dtype, shape, chunks):
    data = sample(dtype, shape)
    write(tmp_path / "a.h5", data, chunks, PZF())
    out = read(tmp_path / "a.h5")
    assert out.dtype == data.dtype
    bits = f"u{data.itemsize}"  # compare bits, so NaN payloads count
    np.testing.assert_array_equal(out.view(bits), data.view(bits))


def test_lossless_compound_and_fixed_strings(tmp_path):
    rec = np.zeros(500, dtype=[("t", "<f8"), ("n", "<u2"), ("s", "S5")])
    rec["t"] = np.arange(500) * 0.1
    rec["n"] = np.arange(500) % 7
    rec["s"] = b"ab"
    write(tmp_path / "a.h5", rec, (128,), PZF())
    np.testing.assert_array_equal(read(tmp_path / "a.h5"), rec)


@pytest.mark.parametrize("shape,chunks", SHAPES)
@pytest.mark.parametrize("dtype", ["u1", "u2", "f4"])
def test_quantised_round_trip(tmp_path, dtype, shape, chunks):
    data = sample(dtype, shape)
    write(tmp_path / "a.h5", data, chunks, PZF(OFFSET, SCALE))
    out = read(tmp_path / "a.h5")
    assert out.dtype == data.dtype
    np.testing.assert_array_equal(out, lossy_reference(data))
    # The step is SCALE in sqrt(ADU): the error stays within half a step
    # (plus the integer truncation of the reader).
    x = np.sqrt(np.maximum(data.astype(np.float64) - OFFSET, 0))
    y = np.sqrt(np.maximum(out.astype(np.float64) - OFFSET, 0))
    tol = SCALE / 2 + (1.0 if dtype != "f4" else 1e-3)
    assert np.abs(x - y).max() <= tol
    assert not np.array_equal(out, data)  # it did quantise


@pytest.mark.parametrize("flt", [
    PZF(compression="raw"),
    PZF(compression="chunked", threads=2, chunk_size=1000),
    PZF(OFFSET, SCALE, compression="raw"),
    PZF(OFFSET, SCALE, compression="chunked", threads=3, chunk_size=777),
], ids=repr)
def test_compression_modes(tmp_path, flt):
    data = sample("u2", (4, 64, 50))
    write(tmp_path / "a.h5", data, (2, 64, 50), flt)
    expected = lossy_reference(data) if flt.filter_options[1] else data
    np.testing.assert_array_equal(read(tmp_path / "a.h5"), expected)
    _, _, blobs = chunk_blobs(tmp_path / "a.h5")
    names = {0: "raw", 1: "huffman", 2: "chunked"}
    for _, blob in blobs:
        assert pzfcodec.read_header(blob).compression == names[flt.filter_options[0]]


@pytest.mark.parametrize("dtype,shape,chunks,blob_shape", [
    ("u2", (100, 70), (32, 48), (32, 48, 1)),
    ("f4", (5, 33, 40), (2, 16, 16), (2, 16, 16)),
    ("u1", (3, 4, 20, 30), (2, 3, 8, 16), (6, 8, 16)),
    ("u2", (1000,), (300,), (300, 1, 1)),
    ("i4", (5, 33, 40), (2, 16, 16), (2, 16, 64)),
    (">u2", (100, 70), (32, 48), (32, 48, 2)),
])
def test_direct_chunk_read_decodes_with_pzfcodec(tmp_path, dtype, shape, chunks, blob_shape):
    data = sample(dtype, shape)
    write(tmp_path / "a.h5", data, chunks, PZF())
    dt, ch, blobs = chunk_blobs(tmp_path / "a.h5")
    assert len(blobs) == np.prod([-(-s // c) for s, c in zip(shape, chunks)])
    for offset, blob in blobs:
        header = pzfcodec.read_header(blob)
        assert tuple(header.shape) == blob_shape and header.dim_order == "C"
        chunk = pzfcodec.decompress(blob).view(dt).reshape(ch)
        sel = tuple(slice(o, o + c) for o, c in zip(offset, ch))
        part = data[sel]
        np.testing.assert_array_equal(chunk[tuple(slice(0, n) for n in part.shape)], part)


def test_camera_appends_frame_by_frame(tmp_path):
    from pzfcodec import simulate as sim

    frames = sim.camera_frames(6, (96, 80), seed=3)
    flt = PZF.from_camera(sim.CAMERA.ad_offset, sim.CAMERA.electrons_per_adu, step_sigma=1.0)
    with h5py.File(tmp_path / "cam.h5", "w") as f:
        ds = f.create_dataset("frames", shape=(0, 96, 80), maxshape=(None, 96, 80),
                              dtype="u2", chunks=(1, 96, 80), **flt)
        for i, frame in enumerate(frames):
            ds.resize(i + 1, axis=0)
            ds[i] = frame
    q = pzfcodec.camera_quantization(sim.CAMERA.ad_offset, sim.CAMERA.electrons_per_adu, 1.0)
    out = read(tmp_path / "cam.h5", "frames")
    np.testing.assert_array_equal(out, lossy_reference(frames, q.offset, q.scale))
    assert os.path.getsize(tmp_path / "cam.h5") < frames.nbytes / 3


# ---- HDF5 tools and other processes -----------------------------------------------
def plugin_env(**extra):
    env = dict(os.environ, HDF5_PLUGIN_PATH=PLUGIN_PATH, **extra)
    env.pop("HDF5_PLUGIN_PRELOAD", None)
    return env


@pytest.mark.parametrize("flt", [PZF(), PZF(OFFSET, SCALE),
                                 PZF(compression="chunked", threads=2, chunk_size=999),
                                 PZF(compression="context", threads=2, chunk_size=100)],
                         ids=repr)
def test_h5dump_reads_pzfcodec_files(tmp_path, flt):
    h5dump = require_tool("h5dump")
    data = sample("u2", (3, 50, 40))
    write(tmp_path / "a.h5", data, (1, 32, 32), flt)
    out = tmp_path / "dump.bin"
    subprocess.run([h5dump, "-d", "/x", "-b", "LE", "-o", str(out), str(tmp_path / "a.h5")],
                   env=plugin_env(), check=True, capture_output=True)
    dumped = np.fromfile(out, dtype="<u2").reshape(data.shape)
    expected = lossy_reference(data) if flt.filter_options[1] else data
    np.testing.assert_array_equal(dumped, expected)


def test_h5dump_without_plugin_path_fails(tmp_path):
    """Guards the test above: h5dump really needs the plugin."""
    h5dump = require_tool("h5dump")
    write(tmp_path / "a.h5", sample("u2", (50, 40)), (32, 32), PZF())
    env = dict(os.environ, HDF5_PLUGIN_PATH=str(tmp_path))
    proc = subprocess.run([h5dump, "-d", "/x", "-b", "LE", "-o", str(tmp_path / "d.bin"),
                           str(tmp_path / "a.h5")], env=env, capture_output=True)
    assert proc.returncode != 0


@pytest.mark.parametrize("ud,flt", [
    ("UD=53338,0,0", PZF()),
    ("UD=53338,0,4,1,1,{off},{scale}", PZF(OFFSET, SCALE)),
    ("UD=53338,0,6,2,0,0,0,2,5000", PZF(compression="chunked", threads=2, chunk_size=5000)),
])
def test_h5repack_compresses_with_the_plugin(tmp_path, ud, flt):
    h5repack = require_tool("h5repack")
    opts = flt.filter_options
    quantised = bool(opts[1])
    data = {"u2": sample("u2", (4, 60, 50)), "i4": sample("i4", (70, 30), seed=1)}
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        for name, arr in data.items():
            f[name] = arr
    subprocess.run([h5repack, "-f", ud.format(off=opts[2], scale=opts[3]),
                    "-l", "u2:CHUNK=1x32x32", "-l", "i4:CHUNK=16x16",
                    str(tmp_path / "plain.h5"), str(tmp_path / "packed.h5")],
                   env=plugin_env(), check=True, capture_output=True)
    with h5py.File(tmp_path / "packed.h5", "r") as f:
        plist = f["u2"].id.get_create_plist()
        assert plist.get_nfilters() == 1 and plist.get_filter(0)[0] == FILTER_ID
        expected = lossy_reference(data["u2"]) if quantised else data["u2"]
        np.testing.assert_array_equal(f["u2"][()], expected)
        # Quantised mode refuses int32 at creation; h5repack then keeps the
        # dataset as it was.
        assert f["i4"].id.get_create_plist().get_nfilters() == (0 if quantised else 1)
        np.testing.assert_array_equal(f["i4"][()], data["i4"])
    assert os.path.getsize(tmp_path / "packed.h5") < os.path.getsize(tmp_path / "plain.h5")


@pytest.mark.parametrize("flt", [PZF(), PZF(OFFSET, SCALE),
                                 PZF(compression="chunked", threads=2, chunk_size=5000)])
def test_h5repack_filter_is_what_h5repack_takes(tmp_path, flt):
    h5repack = require_tool("h5repack")
    data = sample("u2", (4, 60, 50))
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["u2"] = data
    subprocess.run([h5repack, "-f", flt.h5repack_filter, "-l", "u2:CHUNK=1x60x50",
                    str(tmp_path / "plain.h5"), str(tmp_path / "packed.h5")],
                   env=plugin_env(), check=True, capture_output=True)
    with h5py.File(tmp_path / "packed.h5", "r") as f:
        plist = f["u2"].id.get_create_plist()
        assert plist.get_filter(0)[0] == FILTER_ID
        assert plist.get_filter(0)[2][:6] == flt.filter_options
        expected = lossy_reference(data) if flt.filter_options[1] else data
        np.testing.assert_array_equal(f["u2"][()], expected)


@pytest.mark.parametrize("flt", [PZF(), PZF(OFFSET, SCALE)])
def test_both_h5py_filter_idioms(tmp_path, flt):
    """``compression=PZF(...)`` (h5py's filter reference) and ``**PZF(...)`` agree."""
    data = sample("u2", (3, 40, 30))
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("ref", data=data, chunks=(1, 40, 30), compression=flt)
        f.create_dataset("kw", data=data, chunks=(1, 40, 30), **flt)
        for name in ("ref", "kw"):
            plist = f[name].id.get_create_plist()
            assert plist.get_filter(0)[0] == FILTER_ID
            assert plist.get_filter(0)[2][:6] == flt.filter_options
        np.testing.assert_array_equal(f["ref"][()], f["kw"][()])


def test_coexists_with_hdf5plugin(tmp_path):
    hdf5plugin = require_module("hdf5plugin")
    data = sample("u2", (4, 64, 64))
    with h5py.File(tmp_path / "mix.h5", "w") as f:
        f.create_dataset("zstd", data=data, chunks=(1, 64, 64), **hdf5plugin.Zstd())
        f.create_dataset("bshuf", data=data, chunks=(1, 64, 64), **hdf5plugin.Bitshuffle())
        f.create_dataset("pzf", data=data, chunks=(1, 64, 64), **PZF())
    with h5py.File(tmp_path / "mix.h5", "r") as f:
        for name in ("zstd", "bshuf", "pzf"):
            np.testing.assert_array_equal(f[name][()], data)


READER = """
import sys
{imports}
import numpy as np
with h5py.File(sys.argv[1], "r") as f:
    print(int(f["x"][()].astype(np.int64).sum()))
"""


@pytest.mark.parametrize("imports,env", [
    ("import h5py, pzfcodec", {}),
    ("import pzfcodec, h5py", {}),
    ("import h5py", {"HDF5_PLUGIN_PATH": PLUGIN_PATH}),
    ("import hdf5plugin, h5py, pzfcodec", {}),
], ids=["h5py-first", "pzfcodec-first", "plugin-path-only", "after-hdf5plugin"])
def test_fresh_process_reads(tmp_path, imports, env):
    if "hdf5plugin" in imports:
        require_module("hdf5plugin")
    data = sample("u2", (3, 40, 30))
    write(tmp_path / "a.h5", data, (1, 40, 30), PZF())
    code = textwrap.dedent(READER.format(imports=imports))
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.h5")],
                          env=dict(os.environ, **env), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == int(data.astype(np.int64).sum())


def test_plugin_path_only_process_writes_and_refuses(tmp_path):
    """HDF5 loading the plugin itself (no pzfcodec import) runs set_local and errors."""
    code = textwrap.dedent("""
        import sys, h5py, numpy as np
        path = sys.argv[1]
        data = np.arange(60 * 50, dtype="u2").reshape(60, 50)
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=data, chunks=(16, 16), compression=53338,
                             compression_opts=(1, 1, 0x42C80000, 0x3F000000),
                             allow_unknown_filter=True)
            try:
                f.create_dataset("bad", data=data.astype("i4"), chunks=(16, 16),
                                 compression=53338, allow_unknown_filter=True,
                                 compression_opts=(1, 1, 0x42C80000, 0x3F000000))
            except Exception as exc:
                print("refused:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.h5")],
                          env=plugin_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "quantised mode supports" in proc.stdout, proc.stdout
    data = np.arange(60 * 50, dtype="u2").reshape(60, 50)
    np.testing.assert_array_equal(read(tmp_path / "a.h5"), lossy_reference(data, 100.0, 0.5))


# ---- errors -----------------------------------------------------------------
@pytest.mark.parametrize("dtype,desc", [
    ("i4", "4-byte signed integer"), ("i2", "2-byte signed integer"),
    ("u4", "4-byte unsigned integer"), ("f8", "8-byte floating-point"),
    (">u2", "2-byte big-endian unsigned integer"),
    ([("a", "u2"), ("b", "u2")], "4-byte compound"),
])
def test_quantised_refuses_other_types_at_creation(tmp_path, dtype, desc):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        with pytest.raises(Exception) as info:
            f.create_dataset("x", shape=(64, 64), dtype=dtype, chunks=(32, 32),
                             **PZF(OFFSET, SCALE))
        assert "quantised mode supports uint8, uint16 and float32 only" in str(info.value)
        assert desc in str(info.value)
        assert "x" not in f


def test_variable_length_refused(tmp_path):
    dtype = np.dtype([("n", "i4"), ("s", h5py.string_dtype())])
    with h5py.File(tmp_path / "a.h5", "w") as f:
        with pytest.raises(Exception, match="variable-length"):
            f.create_dataset("x", shape=(10,), dtype=dtype, chunks=(5,), **PZF())


@pytest.mark.parametrize("dtype", [h5py.string_dtype(), h5py.vlen_dtype(np.int32)], ids=str)
def test_plain_variable_length_kept_intact(tmp_path, dtype):
    """HDF5 does not consult filters about plain variable-length types; the
    filter then refuses each chunk and h5py's optional filter stores it
    uncompressed: nothing is lost."""
    data = np.empty(10, dtype=object)
    for i in range(10):
        data[i] = "x" * i if dtype.kind == "O" and h5py.check_string_dtype(dtype) \
            else np.arange(i, dtype=np.int32)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("x", data=data, dtype=dtype, chunks=(5,), **PZF())
    with h5py.File(tmp_path / "a.h5", "r") as f:
        back = f["x"][()]
    for a, b in zip(back, data):
        assert (a.decode() == b) if isinstance(a, bytes) else np.array_equal(a, b)


@pytest.mark.parametrize("opts,match", [
    ((7,), "compression 7"),
    ((1, 2), "quantisation 2"),
    ((1, 1, 0x42C80000, 0), "scale from"),
    ((1, 1, 0x42C80000, 0x7FC00000), "scale from"),
    ((1, 1, 0x42C80000, 0x1e3ce508), "scale from"),  # 1e-20: below 2**-40
    ((1, 1, 0x7F800000, 0x3F000000), "finite offset"),
    ((2, 0, 0, 0, 100000), "threads"),
    ((1, 0, 0, 0, 1, 0, 99), "unknown layout"),
    (tuple(range(13)), "unknown layout"),
])
def test_wrong_cd_values_refused(tmp_path, opts, match):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        with pytest.raises(Exception, match=match):
            f.create_dataset("x", data=np.zeros((8, 8), "u2"), chunks=(4, 4),
                             compression=FILTER_ID, compression_opts=opts)


def corruptions(blob: bytes, other: bytes):
    yield "garbage", bytes(range(256)) * 4
    yield "one byte", b"B"
    yield "truncated header", blob[:40]
    yield "truncated payload", blob[: len(blob) // 2]
    yield "blob of another shape", other
    bad_magic = bytearray(blob)
    bad_magic[0:2] = b"XX"
    yield "bad magic", bytes(bad_magic)
    wide = bytearray(blob)
    wide[20:24] = (0xFFFFFFFF).to_bytes(4, "little")
    yield "huge width", bytes(wide)
    fmt = bytearray(blob)
    fmt[3] = 2  # float32 instead of uint16
    yield "other data format", bytes(fmt)


@pytest.mark.parametrize("case", [c for c, _ in corruptions(b"\0" * 64, b"")])
def test_corrupt_chunk_raises_and_others_still_read(tmp_path, case):
    data = sample("u2", (64, 64))
    path = tmp_path / "a.h5"
    write(path, data, (32, 32), PZF())
    with h5py.File(path, "r") as f:
        _, blob = f["x"].id.read_direct_chunk((0, 32))
    other = pzfcodec.compress(data[:16, :32])
    bad = dict(corruptions(blob, other))[case]
    with h5py.File(path, "r+") as f:
        f["x"].id.write_direct_chunk((0, 32), bad)
    with h5py.File(path, "r") as f:
        ds = f["x"]
        # (HDF5 2 discards the messages filters push while reading.)
        with pytest.raises(OSError, match="pzf: stored chunk|filter returned failure"):
            ds[0:32, 32:64]
        np.testing.assert_array_equal(ds[:, :32], data[:, :32])
        np.testing.assert_array_equal(ds[32:, 32:], data[32:, 32:])


def test_corrupt_chunk_message_in_hdf5_tools(tmp_path):
    h5dump = require_tool("h5dump")
    data = sample("u2", (64, 64))
    write(tmp_path / "a.h5", data, (32, 32), PZF())
    with h5py.File(tmp_path / "a.h5", "r+") as f:
        f["x"].id.write_direct_chunk((32, 0), b"BD" + bytes(100))
    proc = subprocess.run([h5dump, "--enable-error-stack", "-d", "/x", str(tmp_path / "a.h5")],
                          env=plugin_env(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "pzf: stored chunk (102 bytes) is not a valid PZF blob" in proc.stderr, proc.stderr


@pytest.mark.parametrize("before", [dict(shuffle=True), dict(scaleoffset=0)], ids=str)
@pytest.mark.parametrize("flt", [PZF(), PZF(OFFSET, SCALE)], ids=repr)
def test_filters_before_pzf_refused(tmp_path, before, flt):
    """Shuffle or scale-offset ahead of PZF would hand it other values than the pixels."""
    with h5py.File(tmp_path / "a.h5", "w") as f:
        with pytest.raises(Exception, match="PZF must be the first filter"):
            f.create_dataset("x", data=sample("u2", (64, 64)), chunks=(32, 32), **before, **flt)
        assert "x" not in f


@pytest.mark.parametrize("flt", [PZF(), PZF(OFFSET, SCALE)], ids=repr)
def test_filters_after_pzf_allowed(tmp_path, flt):
    data = sample("u2", (64, 64))
    write(tmp_path / "a.h5", data, (32, 32), flt, fletcher32=True)
    expected = lossy_reference(data) if flt.filter_options[1] else data
    np.testing.assert_array_equal(read(tmp_path / "a.h5"), expected)


def test_h5repack_shuffle_before_pzf_refused(tmp_path):
    """h5repack either fails or, as HDF5 1.10's does, copies without the filters."""
    h5repack = require_tool("h5repack")
    data = sample("u2", (64, 64))
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f.create_dataset("x", data=data, chunks=(32, 32))
    opts = PZF(OFFSET, SCALE).filter_options
    ud = f"UD={FILTER_ID},0,{len(opts)}," + ",".join(map(str, opts))
    proc = subprocess.run([h5repack, "-f", "SHUF", "-f", ud,
                           str(tmp_path / "raw.h5"), str(tmp_path / "out.h5")],
                          env=plugin_env(), capture_output=True, text=True)
    if proc.returncode == 0:
        with h5py.File(tmp_path / "out.h5", "r") as f:
            dcpl = f["x"].id.get_create_plist()
            assert FILTER_ID not in [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
            np.testing.assert_array_equal(f["x"][()], data)


def test_parameters_never_completed_message(tmp_path):
    """A dataset created where the filter was not available has only the
    user's parameters; reading a PZF chunk of it says so."""
    h5dump = require_tool("h5dump")
    path = tmp_path / "a.h5"
    blob = pzfcodec.compress(sample("u2", (32, 32)))
    (tmp_path / "blob.bin").write_bytes(blob)
    create = textwrap.dedent(f"""
        import h5py
        with h5py.File({str(path)!r}, "w") as f:
            ds = f.create_dataset("x", shape=(32, 32), dtype="u2", chunks=(32, 32),
                                  compression={FILTER_ID}, compression_opts=(1, 0),
                                  allow_unknown_filter=True)
            ds.id.write_direct_chunk((0, 0), open({str(tmp_path / "blob.bin")!r}, "rb").read())
    """)
    env = dict(os.environ)
    env.pop("HDF5_PLUGIN_PATH", None)
    subprocess.run([sys.executable, "-c", create], env=env, check=True)
    proc = subprocess.run([h5dump, "--enable-error-stack", "-d", "/x", str(path)],
                          env=plugin_env(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "filter parameters were never completed" in proc.stderr, proc.stderr
