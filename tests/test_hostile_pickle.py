"""Hostile pickles and metadata sidecars: a clean library error or a correct result, in bounded time and memory.

Each case is a small file that crashed, hung or exhausted memory in an
earlier version (or a variant of one).  Every case runs in a child process
under memory and time limits (tests/hostile.py), through every entry point
that reads pickles: ``.psf``, ``.sf``, ``.xml`` ``class="pickle"`` values,
``.md`` ``pickle.loads`` values, pickled ``/MetaData`` attributes of an
``.h5``, and ``pzfcodec info``.
"""
from __future__ import annotations

import base64
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

import pzfcodec
import pzfcodec.pyme
from pzfcodec.budget import ReadBudget
from pzfcodec.pyme.safe_pickle import PickledMetadata, safe_loads
from hostile import expect_clean
import pyme_fixtures as fx

P2 = fx.PROTO2
MD = fx.op_global("PYME.IO.MetaDataHandler", "NestedClassMDHandler")


def binput(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def binget(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def op_long(n: int) -> bytes:
    return pickle.dumps(n, protocol=2)[2:-1]


def array_state(shape, dtype_code: str, raw: bytes, byteorder: bytes = b"<") -> bytes:
    return fx.op_tuple([fx.op_int(1), fx.op_tuple([op_long(n) for n in shape]),
                        fx.legacy_dtype(dtype_code, byteorder), fx.NEWFALSE, fx.op_binstring(raw)])


RECONSTRUCT = (fx.op_global("numpy.core.multiarray", "_reconstruct")
               + fx.op_tuple([fx.op_global("numpy", "ndarray"), fx.op_tuple([fx.op_int(0)]),
                              fx.op_binstring(b"b")]) + fx.REDUCE)


def deep_tuple_key(depth: int) -> bytes:
    """{((((None,),),),): 1}: a 1-tuple nested ``depth`` deep used as a dict key (item 1)."""
    return P2 + fx.EMPTY_DICT + fx.NONE + b"\x85" * depth + fx.op_int(1) + b"s" + fx.STOP


def deep_list(depth: int) -> bytes:
    return P2 + b"]" * depth + b"a" * (depth - 1) + fx.STOP


def build_twice() -> bytes:
    """One array BUILT twice: the spline kept a view of memory the second BUILD freed (item 2)."""
    return (P2 + RECONSTRUCT + array_state((2,), "f8", b"\0" * 16) + fx.BUILD
            + array_state((1,), "f8", b"\0" * 8) + fx.BUILD + fx.STOP)


def shared_lists(n: int) -> bytes:
    """L0 = [1]; L(k+1) = [Lk, Lk]: 2**n values from a few bytes per level (item 6)."""
    out = P2 + fx.op_int(1) + b"\x85" + binput(0)
    for k in range(n):
        out += b"]" + fx.MARK + binget(k) + binget(k) + b"e" + binput(k + 1)
    return out + fx.STOP


def shared_holders(n: int) -> bytes:
    """A chain of metadata holders each referring to the next twice (the 5 KB .psf of item 6)."""
    out = P2 + fx.op_float(1.0) + binput(0)
    for k in range(n):
        out += (MD + fx.EMPTY_TUPLE + fx.NEWOBJ + binput(k + 1) + fx.op_dict(
            {"a": binget(k), "b": binget(k)}, key=fx.op_unicode) + fx.BUILD)
        out += fx.op_global("builtins", "object") + b"0"  # padding ops between levels
    return out + fx.STOP


def shared_array(n: int, size: int = 1 << 16) -> bytes:
    """One array referred to ``n`` times: each reference charged in full."""
    arr = fx.modern_array(np.zeros(size, np.uint8))
    return P2 + b"]" + fx.MARK + arr + binput(0) + binget(0) * (n - 1) + b"e" + fx.STOP


def self_holder() -> bytes:
    """A holder whose attribute is itself (RecursionError in as_dict, item 6/14)."""
    return (P2 + MD + fx.EMPTY_TUPLE + fx.NEWOBJ + binput(0)
            + fx.op_dict({"me": binget(0)}, key=fx.op_unicode) + fx.BUILD + fx.STOP)


def self_list() -> bytes:
    return P2 + b"]" + binput(0) + binget(0) + b"a" + fx.STOP


def holder_named(name: str) -> bytes:
    return (P2 + MD + fx.EMPTY_TUPLE + fx.NEWOBJ
            + fx.op_dict({name: fx.op_int(1), "x": fx.op_float(0.1)}, key=fx.op_unicode) + fx.BUILD + fx.STOP)


def zero_size(code: str) -> bytes:
    """An S0/V0 array claiming 2**62 elements in zero bytes (item 14)."""
    return P2 + RECONSTRUCT + array_state((1 << 31, 1 << 31), code, b"", b"|") + fx.BUILD + fx.STOP


def structured() -> bytes:
    return pickle.dumps(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i2")]), protocol=2)


def wrong_count() -> bytes:
    return P2 + RECONSTRUCT + array_state((1000, 1000), "f8", b"\0" * 16) + fx.BUILD + fx.STOP


def spline_without_state() -> bytes:
    sp = fx.op_global("scipy.interpolate._fitpack2", "SmoothBivariateSpline") + fx.EMPTY_TUPLE + fx.NEWOBJ
    return P2 + sp + sp + fx.TUPLE2 + fx.STOP


def spline_bad(tx, degrees) -> bytes:
    state = {"fp": fx.op_float(0.0), "degrees": fx.op_tuple([fx.op_int(d) for d in degrees]),
             "tck": fx.op_tuple([fx.modern_array(np.asarray(tx, "<f8"))] * 2
                                + [fx.modern_array(np.zeros(64, "<f8"))])}
    sp = (fx.op_global("scipy.interpolate._fitpack2", "SmoothBivariateSpline") + fx.EMPTY_TUPLE + fx.NEWOBJ
          + fx.op_dict(state, key=fx.op_unicode) + fx.BUILD)
    return P2 + sp + sp + fx.TUPLE2 + fx.STOP


def colliding_keys(n: int) -> bytes:
    """Many different integers of one hash value as dict keys (quadratic insertion)."""
    p = (1 << 61) - 1
    return P2 + fx.EMPTY_DICT + fx.MARK + b"".join(
        pickle.dumps(1 + k * p, protocol=2)[2:-1] + fx.NONE for k in range(n)) + b"u" + fx.STOP


# protocol 0 (text, no NUL byte): what PyTables stores in HDF5 attributes
P0_MD = b"(cPYME.IO.MetaDataHandler\nNestedClassMDHandler\n"
P0_ARRAY = b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntS'b'\ntR"


def p0_dtype(code: bytes, order: bytes, elsize: int, align: int) -> bytes:
    return (b"cnumpy\ndtype\n(S'" + code + b"'\nI0\nI1\ntR(I3\nS'" + order + b"'\nNNNI%d\nI%d\nI0\ntb"
            % (elsize, align))


def p0_state(shape, dtype: bytes, raw: bytes) -> bytes:
    return (b"(I1\n(" + b"".join(b"L%dL\n" % n for n in shape) + b"t" + dtype + b"I00\nS'"
            + b"".join(b"\\x%02x" % c for c in raw) + b"'\ntb")


HOSTILE_P0 = {
    "deep-tuple-key-p0": (b"(dp0\n" + b"(" * 30_000 + b"N" + b"t" * 30_000 + b"I1\ns.", "DataTooLargeError"),
    "shared-lists-p0": (b"(I1\ntp0\n" + b"".join(b"(g%d\ng%d\nlp%d\n" % (k, k, k + 1) for k in range(60))
                        + b".", "DataTooLargeError"),
    "shared-holders-p0": (b"F1.0\np0\n" + b"".join(P0_MD + b"op%d\n(dVa\ng%d\nsVb\ng%d\nsb" % (k + 1, k, k)
                                                   for k in range(60)) + b".", "DataTooLargeError"),
    "self-holder-p0": (P0_MD + b"op1\n(dp2\nVme\np3\ng1\nsb.", "CorruptDataError"),
    "build-twice-p0": (P0_ARRAY + p0_state((2,), p0_dtype(b"f8", b"<", -1, -1), bytes(16))
                       + p0_state((1,), p0_dtype(b"f8", b"<", -1, -1), bytes(8)) + b".", "UnsafePickleError"),
    "S0-claims-4.6e18-p0": (P0_ARRAY + p0_state((1 << 31, 1 << 31), p0_dtype(b"S0", b"|", 0, 1), b"") + b".",
                            "UnsafePickleError"),
    "structured-dtype-p0": (pickle.dumps(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i2")]), protocol=0),
                            "UnsafePickleError"),
    "wrong-element-count-p0": (P0_ARRAY + p0_state((1000, 1000), p0_dtype(b"f8", b"<", -1, -1), bytes(16))
                               + b".", "CorruptDataError"),
    "hash-collisions-p0": (b"(dp0\n" + b"".join(b"L%dL\nNs" % (1 + k * ((1 << 61) - 1)) for k in range(2000))
                           + b".", "CorruptDataError"),
}
assert not any(b"\0" in data for data, _ in HOSTILE_P0.values())

HOSTILE = {**HOSTILE_P0,
    "deep-tuple-key": (deep_tuple_key(1_000_000), "DataTooLargeError"),
    "deep-tuple-key-300": (deep_tuple_key(300), "DataTooLargeError"),
    "deep-list": (deep_list(200_000), "DataTooLargeError"),
    "deep-marks": (P2 + fx.MARK * 200_000 + fx.STOP, "CorruptDataError"),
    "build-twice": (build_twice(), "UnsafePickleError"),
    "shared-lists": (shared_lists(60), "DataTooLargeError"),
    "shared-holders": (shared_holders(60), "DataTooLargeError"),
    "shared-array": (shared_array(100_000), "DataTooLargeError"),
    "self-holder": (self_holder(), "CorruptDataError"),
    "self-list": (self_list(), "CorruptDataError"),
    "S0-claims-4.6e18": (zero_size("S0"), "UnsafePickleError"),
    "V0-claims-4.6e18": (zero_size("V0"), "UnsafePickleError"),
    "structured-dtype": (structured(), "UnsafePickleError"),
    "object-dtype": (pickle.dumps(np.array([1, None], dtype=object), protocol=2), "UnsafePickleError"),
    "wrong-element-count": (wrong_count(), "CorruptDataError"),
    "spline-without-state": (spline_without_state(), "CorruptDataError"),
    "spline-degree": (spline_bad(np.arange(16.0), (9, 3)), "CorruptDataError"),
    "spline-knots-unsorted": (spline_bad(np.arange(16.0)[::-1], (3, 3)), "CorruptDataError"),
    "spline-knots-nan": (spline_bad(np.full(16, np.nan), (3, 3)), "CorruptDataError"),
    "hash-collisions": (colliding_keys(2000), "CorruptDataError"),
    "huge-long": (P2 + b"\x8b" + struct.pack("<i", 1 << 20) + b"\x01" * (1 << 20) + fx.STOP, "DataTooLargeError"),
    "unhashable-key": (P2 + fx.EMPTY_DICT + b"]" + fx.NONE + b"s" + fx.STOP, "CorruptDataError"),
    "U-beyond-unicode": (pickle.dumps(np.array(["a", "b"], "<U1"), protocol=4).replace(
        b"b\0\0\0", b"\xff\xff\xff\xff"), "CorruptDataError"),
    "U-scalar-beyond-unicode": (pickle.dumps(np.str_("a"), protocol=4).replace(b"a\0\0\0", b"\0\0\x11\0"),
                                "CorruptDataError"),
    "binbytes8-claims-2**63": (P2 + b"\x8e" + struct.pack("<Q", 1 << 63) + fx.STOP, "CorruptDataError"),
}


# -- the interpreter itself, in process (fast) and in a limited child ---------------
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_interpreter_refuses_cleanly(name):
    data, error = HOSTILE[name]
    with pytest.raises(pzfcodec.PZFError) as info:
        safe_loads(data, source="hostile.psf")
    assert type(info.value).__name__ == error, info.value
    assert "hostile.psf" in str(info.value)


def test_holder_attribute_named_like_a_method():
    md = safe_loads(holder_named("as_dict"))
    assert md.as_dict() == {"as_dict": 1, "x": 0.1}
    assert md.x == 0.1 and "as_dict" in md.keys()
    for name in ("__class__", "__init__", "_attrs", "keys"):
        md = safe_loads(holder_named(name))
        assert isinstance(md, PickledMetadata) and md.get(name) == 1
        assert md.as_dict()[name] == 1 and name in repr(md)


def test_sharing_within_budget_is_a_correct_result():
    value = safe_loads(shared_lists(10))
    flat, todo = 0, [value]
    while todo:
        v = todo.pop()
        if isinstance(v, list):
            todo += v
        else:
            flat += 1
    assert flat == 2 ** 10
    assert pickle.loads(shared_lists(10)) == value
    # a budget of fewer items refuses the same pickle
    with pytest.raises(pzfcodec.DataTooLargeError):
        safe_loads(shared_lists(10), max_decoded_size=ReadBudget(max_items=1000))
    with pytest.raises(pzfcodec.DataTooLargeError):
        safe_loads(shared_array(10, 1000), max_decoded_size=ReadBudget(5000))
    assert len(safe_loads(shared_array(10, 1000), max_decoded_size=ReadBudget(50_000))) == 10


def test_depth_follows_the_budget():
    assert safe_loads(deep_list(150)) == pickle.loads(deep_list(150))
    with pytest.raises(pzfcodec.DataTooLargeError, match="levels deep"):
        safe_loads(deep_list(150), max_decoded_size=ReadBudget(max_depth=100))


def test_arrays_are_private_copies():
    data = P2 + fx.modern_array(np.arange(6, dtype="<f4").reshape(2, 3)) + fx.STOP
    a = safe_loads(data)
    assert a.flags.owndata or a.base.flags.owndata
    assert a.flags.writeable
    a[0, 0] = 99  # writing it touches nothing else
    np.testing.assert_array_equal(safe_loads(data), np.arange(6, dtype="<f4").reshape(2, 3))


# -- every entry point, in a limited child process ------------------------------------
def _write_entry(tmp_path, entry: str, data: bytes):
    """Put the pickle ``data`` where ``entry`` reads it; return (path, call)."""
    if entry in ("psf", "sf"):
        path = tmp_path / f"hostile.{entry}"
        path.write_bytes(data)
        loader = "load_psf" if entry == "psf" else "load_sf"
        return path, f"_pzf.pyme.{loader}({str(path)!r})"
    if entry == "xml":
        path = tmp_path / "hostile.xml"
        path.write_text('<?xml version="1.0" ?>\n<PYMEImageData><MetaData><A><B class="pickle" value="'
                        + base64.b64encode(data).decode("ascii") + '"/></A></MetaData></PYMEImageData>\n')
        return path, f"_pzf.pyme.read_metadata({str(path)!r})"
    if entry == "md":
        path = tmp_path / "hostile.md"
        path.write_bytes(b"md['a'] = pickle.loads(" + repr(data).encode("ascii") + b")\n")
        return path, f"_pzf.pyme.read_metadata({str(path)!r})"
    if entry == "h5":
        h5py = pytest.importorskip("h5py")
        path = tmp_path / "hostile.h5"
        with h5py.File(path, "w") as f:
            _write_pickled_attr(f.create_group("MetaData"), "Evil", data)
            f.create_dataset("ImageData", data=np.zeros((1, 4, 4), np.uint16))
        return path, f"_pzf.open({str(path)!r}).metadata"
    raise AssertionError(entry)


def _write_pickled_attr(group, name: str, data: bytes) -> None:
    """Store ``data`` as PyTables stores a pickled value: an ASCII fixed-length string."""
    import h5py
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(len(data))
    tid.set_cset(h5py.h5t.CSET_ASCII)
    aid = h5py.h5a.create(group.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    aid.write(np.frombuffer(data, dtype=f"S{len(data)}").reshape(()), mtype=tid)


ENTRY_CASES = ["deep-tuple-key", "build-twice", "shared-lists", "shared-holders", "self-holder",
               "S0-claims-4.6e18", "structured-dtype", "wrong-element-count", "hash-collisions"]
ENTRIES = ["psf", "sf", "xml", "md", "h5"]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("name", ENTRY_CASES)
def test_entry_points_in_limited_child(tmp_path, entry, name):
    # an HDF5 text attribute ends at its first NUL: PyTables stores protocol-0 pickles
    data, _ = HOSTILE[name + "-p0" if entry == "h5" else name]
    path, call = _write_entry(tmp_path, entry, data)
    result = expect_clean(call, setup="import pzfcodec.pyme\n", memory_mb=1200, timeout=60)
    if entry == "h5" and result["ok"]:
        # a text attribute that is not a valid pickle reads as the text it is
        assert result["repr"].startswith(("{'Evil': '", "{'Evil': \"")), result
        return
    assert not result["ok"], result
    assert result["library"], result
    assert str(path.name) in result["message"] or entry == "h5", result


def test_info_prints_one_line(tmp_path):
    for entry in ENTRIES:
        for name in ("self-holder", "shared-holders", "deep-tuple-key"):
            path, _ = _write_entry(tmp_path, entry, HOSTILE[name + "-p0" if entry == "h5" else name][0])
            proc = subprocess.run([sys.executable, "-m", "pzfcodec", "info", str(path)],
                                  capture_output=True, text=True, timeout=60,
                                  env=dict(os.environ, PYTHONWARNINGS="ignore"))
            assert "Traceback" not in proc.stderr, proc.stderr
            if entry == "h5" and proc.returncode == 0:  # the attribute shown as text
                assert "metadata:    1 entries" in proc.stdout
                continue
            assert proc.returncode != 0, (entry, name, proc.stdout)
            assert len(proc.stderr.strip().splitlines()) == 1, (entry, name, proc.stderr)


# -- metadata sidecars: .md, .xml, .json (items 6, 8, 9, 14 and issue 15's expressions) --
def _md_sharing(levels: int) -> str:
    return "md['a0'] = [1]\n" + "".join(f"md['a{k + 1}'] = [md['a{k}'], md['a{k}']]\n" for k in range(levels))


def _xml_nested(depth: int) -> str:
    return ('<?xml version="1.0" ?>\n<PYMEImageData><MetaData>' + '<A class="int" value="1">' * depth
            + "</A>" * depth + "</MetaData></PYMEImageData>\n")


SIDECARS = {
    # name: (file name, content, expected error type or None for a result)
    "md-nested-list-2000": ("deep.md", "md['a'] = " + "[" * 2000 + "]" * 2000 + "\n", "CorruptDataError"),
    "md-unary-2000": ("deep.md", "md['a'] = " + "-" * 2000 + "1\n", "DataTooLargeError"),
    "md-sum-2000": ("deep.md", "md['a'] = " + "1+" * 2000 + "1\n", "DataTooLargeError"),
    "md-subscripts-2000": ("deep.md", "md['a'] = [1]" + "[0]" * 2000 + "\n", "DataTooLargeError"),
    "md-calls-deep": ("deep.md", "md['a'] = " + "os.path.join(" * 250 + "'x'" + ")" * 250 + "\n",
                      "CorruptDataError"),
    "md-unary-100000": ("deep.md", "md['a'] = " + "-" * 100_000 + "1\n", "CorruptDataError"),
    "md-shared-md-refs": ("shared.md", _md_sharing(60), "DataTooLargeError"),
    "md-shared-pickle": ("shared.md", "md['a'] = pickle.loads(" + repr(shared_lists(60)) + ")\n",
                         "DataTooLargeError"),
    "md-huge-power": ("power.md", "md['a'] = 10**10**10\nmd['b'] = 9**9**9**9\nmd['c'] = 'x' * 10**12\n", None),
    "md-skipped-200KB": ("skip.md", "x = 1\n" * 35_000, None),
    "md-skipped-one-line": ("skip.md", "x=1;" * 50_000 + "\n", None),
    "xml-nested-40000": ("deep.xml", _xml_nested(40_000), "DataTooLargeError"),
    "xml-pickle-deep-key": ("deep.xml", '<?xml version="1.0" ?>\n<PYMEImageData><MetaData><A class="pickle" value="'
                            + base64.b64encode(deep_tuple_key(1_000_000)).decode() + '"/></MetaData></PYMEImageData>',
                            "DataTooLargeError"),
    "json-nested-500": ("deep.json", '{"a": ' + "[" * 500 + "]" * 500 + "}", "DataTooLargeError"),
    "json-nested-100000": ("deep.json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "CorruptDataError"),
}


@pytest.mark.parametrize("name", sorted(SIDECARS))
def test_sidecars_in_limited_child(tmp_path, name):
    filename, text, error = SIDECARS[name]
    path = tmp_path / filename
    path.write_text(text)
    result = expect_clean(f"_pzf.pyme.read_metadata({str(path)!r})",
                          setup="import warnings, pzfcodec.pyme\nwarnings.simplefilter('ignore')\n",
                          memory_mb=1200, timeout=60)
    if error is None:
        assert result["ok"] and result["repr"] == "{}", result
    else:
        assert not result["ok"] and result["type"] == error, result
        assert filename in result["message"], result


def test_sidecar_results_within_limits(tmp_path):
    md = tmp_path / "ok.md"
    md.write_text(_md_sharing(10) + "md['deep'] = " + "[" * 150 + "]" * 150 + "\n")
    values = pzfcodec.pyme.read_metadata(md)
    assert values["a10"] == pickle.loads(pickle.dumps(values["a10"]))
    assert len(str(values["a10"])) > 2 ** 10
    xml = tmp_path / "ok.xml"
    xml.write_text(_xml_nested(150))
    keys = pzfcodec.pyme.read_metadata(xml)
    assert len(keys) == 150 and keys["A" + ".A" * 149] == 1
    with pytest.raises(pzfcodec.DataTooLargeError):
        pzfcodec.pyme.read_metadata(xml, max_decoded_size=ReadBudget(max_depth=100))
    js = tmp_path / "ok.json"
    js.write_text('{"a": ' + "[" * 150 + "]" * 150 + "}")
    assert pzfcodec.pyme.read_metadata(js)["a"] == eval("[" * 150 + "]" * 150)


def test_info_on_hostile_sidecars(tmp_path):
    for name in ("md-shared-md-refs", "md-sum-2000", "xml-nested-40000", "md-shared-pickle"):
        filename, text, _ = SIDECARS[name]
        (tmp_path / filename).write_text(text)
        proc = subprocess.run([sys.executable, "-m", "pzfcodec", "info", str(tmp_path / filename)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # within the limits, a shared value prints in bounded time and length
    (tmp_path / "s.md").write_text(_md_sharing(18))
    proc = subprocess.run([sys.executable, "-m", "pzfcodec", "info", "--metadata", str(tmp_path / "s.md")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and len(proc.stdout) < 10_000, proc.stderr


def test_printing_shared_holders_is_bounded():
    md = safe_loads(shared_holders(16))  # 2**16 paths to the innermost value
    text = repr([md, md])
    assert len(text) < 1000 and "PickledMetadata(...)" in text
    assert len(md.as_dict()) == 2 ** 16
    with pytest.raises(pzfcodec.DataTooLargeError):
        md.as_dict(ReadBudget(max_items=1000))


def test_psf_and_sf_take_the_callers_budget(tmp_path):
    path = tmp_path / "a.psf"
    path.write_bytes(fx.psf_pickle(np.zeros((16, 16, 8), np.float32), (0.1, 0.1, 0.2), layout="modern"))
    with pytest.raises(pzfcodec.DataTooLargeError, match="a.psf"):
        pzfcodec.pyme.load_psf(path, max_decoded_size=10_000)
    assert pzfcodec.pyme.load_psf(path, max_decoded_size=100_000)[0].shape == (16, 16, 8)
    with pytest.raises(pzfcodec.DataTooLargeError, match="a.psf"):
        pzfcodec.pyme.load_sf(path, max_decoded_size=ReadBudget(max_items=10))


def test_pickled_metadata_attributes_share_the_read_budget(tmp_path):
    """Many pickled /MetaData attributes are charged to one budget, not one each."""
    h5py = pytest.importorskip("h5py")
    from pzfcodec.pyme._hdf import read_metadata
    data = pickle.dumps(list(range(1000)), protocol=0)
    path = tmp_path / "many.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("MetaData")
        for i in range(50):
            _write_pickled_attr(g, f"List{i}", data)
    with h5py.File(path, "r") as f:
        md = read_metadata(f["MetaData"], str(path), ReadBudget(max_items=200_000))
        assert md["List7"] == list(range(1000))
        with pytest.raises(pzfcodec.DataTooLargeError):  # 50 x 1000 values > 20000
            read_metadata(f["MetaData"], str(path), ReadBudget(max_items=20_000))
