"""Writers of PYME-style test files, following PYME's layouts.

``.h5``/``.h5r`` files are written with PyTables exactly as PYME's own
writers lay them out; ``.psf``/``.sf`` pickles are assembled opcode by opcode
to match the legacy (Python 2 era) and current layouts; PZF blobs are built
from the header layout with an independent Huffman coder (pymecompress).
"""
from __future__ import annotations

import pickle
import struct
from typing import Any, Dict, Iterable, Optional, Sequence

import numpy as np

from common import require_module

PZF_INDEX_DTYPE = np.dtype([("FrameNum", "<i4"), ("Position", "<i4")])
FIT_DTYPE = np.dtype([
    ("tIndex", "<i4"),
    ("fitResults", [(n, "<f4") for n in ("A", "x0", "y0", "sigma", "background", "bx", "by")]),
    ("fitError", [(n, "<f4") for n in ("A", "x0", "y0", "sigma", "background", "bx", "by")]),
    ("resultCode", "<i4"),
    ("slicesUsed", [(a, [("start", "<i4"), ("stop", "<i4"), ("step", "<i4")]) for a in "xyz"]),
    ("subtractedBackground", "<f4"),
    ("nchi2", "<f4"),
])

#: metadata of every value type PYME stores (section 2 of the layout notes).
METADATA: Dict[str, Any] = {
    "imageID": 0,
    "DimOrder": "XYCZT",
    "SizeC": 1,
    "SizeZ": 1,
    "SizeT": -1,
    "Camera.ADOffset": 100.0,
    "Camera.ElectronsPerCount": 0.5,
    "Camera.ReadNoise": 1.5,
    "Camera.IntegrationTime": 0.05,
    "Camera.ROI": [0, 0, 64, 48],
    "Camera.Name": "Zyla",
    "voxelsize.x": 0.1,
    "voxelsize.y": 0.1,
    "voxelsize.units": "um",
    "Sample.Creator": "Zoë Ångström",
    "Sample.Notes": "Beads on a coverslip. Ends with a dot.",
    "Sample.Empty": "",
    "Protocol.Filename": "",
    "Positioning.StageXY": [np.float64(1.5), np.float64(-2.25)],
    "Splitter.Flip": True,
    "Splitter.Enabled": False,
    "Analysis.Params": {"threshold": 1.5, "fit": "LatGaussFitFR"},
    "Analysis.Window": (0.45, 0.9),
    "Analysis.DriftIndices": np.array([0, 5, 10], dtype=np.int64),
    "Analysis.Nothing": None,
    "Analysis.Mixed": ["Zoë", "beads", 1, -2, 2 ** 40, True, None, 1.5e-7, [1, 2], (3,), {"k": "v"}],
    "ChannelNames": ["Cy5", "Cy3"],
    "Big": 2 ** 40,
}

EVENTS = [("StartAq", "0", 1700000000.25), ("ProtocolFocus", "2, 1.5", 1700000001.5),
          ("ProtocolTask", "Zoë task", 1700000002.0)]


# -- PZF blobs ---------------------------------------------------------------
def pzf_blob(frame: np.ndarray, *, compression: str = "raw", order: str = "C",
             quant: Optional[tuple] = None, frame_num: int = 0, sequence_id: int = 0) -> bytes:
    """A version-3 PZF blob of a 2-D frame, built from the header layout."""
    fmt = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.float32): 2}[frame.dtype]
    w, h = frame.shape
    data = frame
    if quant is not None:
        off, scale = quant
        q = np.round(np.sqrt(np.maximum(frame.astype(np.float64) - off, 0)) / scale)
        data = np.clip(q, 0, 255).astype(np.uint8)
    payload = np.asarray(data).tobytes(order=order)
    if compression == "huffman":
        bcl = require_module("pymecompress.bcl")
        payload = bytes(bcl.HuffmanCompressOrig(np.frombuffer(payload, np.uint8).copy()))
    comp = {"raw": 0, "huffman": 1}[compression]
    off, scale = quant if quant is not None else (0.0, 0.0)
    header = struct.pack("<2sBBBBcBqIIIIQffI12x", b"BD", 3, fmt, comp, 1 if quant else 0,
                         order.encode(), 0, sequence_id, frame_num, w, h, 1,
                         1000000 * frame_num, off, scale, 64)
    assert len(header) == 64
    return header + payload


def dequantized(frame: np.ndarray, quant: tuple) -> np.ndarray:
    """What PYME's decoder returns for a frame quantised by :func:`pzf_blob`."""
    off, scale = quant
    q = np.clip(np.round(np.sqrt(np.maximum(frame.astype(np.float64) - off, 0)) / scale), 0, 255)
    v = (q.astype(np.float32) * np.float32(scale)) ** 2 + np.float32(off)
    return v.astype(frame.dtype)


# -- PyTables writers (PYME's layouts) ------------------------------------------
def _tables():
    return require_module("tables")


def write_metadata(h5file: Any, md: Dict[str, Any]) -> None:
    """PYME's HDF metadata handler: key A.B.C -> attribute C of /MetaData/A/B."""
    tables = _tables()
    if "/MetaData" not in h5file:
        h5file.create_group("/", "MetaData")
    for key, value in md.items():
        parts = key.split(".")
        path = "/MetaData"
        for part in parts[:-1]:
            if f"{path}/{part}" not in h5file:
                h5file.create_group(path, part)
            path = f"{path}/{part}"
        node = h5file.get_node(path)
        assert isinstance(node, tables.Group)
        node._v_attrs[parts[-1]] = value


def _event_rows(events: Sequence[tuple]) -> np.ndarray:
    rows = np.empty(len(events), dtype=[("EventDescr", "S256"), ("EventName", "S32"), ("Time", "<f8")])
    for i, (name, descr, t) in enumerate(events):
        rows[i] = (descr.encode("utf-8"), name.encode("utf-8"), t)
    return rows


def write_events_backend(h5file: Any, events: Sequence[tuple]) -> None:
    """Events as PYME's HDFBackend writes them (always present, chunk 221, no filters)."""
    tables = _tables()

    class Event(tables.IsDescription):
        EventName = tables.StringCol(32)
        Time = tables.Float64Col()
        EventDescr = tables.StringCol(256)

    table = h5file.create_table("/", "Events", Event, chunkshape=(221,))
    if events:
        table.append(_event_rows(events))
    table.flush()


def write_events_table(h5file: Any, events: Sequence[tuple]) -> None:
    """Events as H5File.put_file / H5RFile write them (absent when none)."""
    tables = _tables()
    if events:
        h5file.create_table("/", "Events", obj=_event_rows(events), chunkshape=(885,),
                            filters=tables.Filters(5, "zlib", shuffle=True))


def write_image_h5(path: Any, frames: np.ndarray, *, md: Optional[dict] = None,
                   events: Sequence[tuple] = EVENTS, complib: str = "zlib", complevel: int = 6) -> None:
    """A PYME HDFBackend series: /ImageData EArray (frames, x, y) + MetaData + Events."""
    tables = _tables()
    md = dict(METADATA if md is None else md)
    with tables.open_file(str(path), "w") as f:
        filters = tables.Filters(complevel, complib, shuffle=complib == "zlib") if complevel else None
        ds = f.create_earray("/", "ImageData", tables.Atom.from_dtype(frames.dtype),
                             (0,) + frames.shape[1:], filters=filters)
        ds.append(frames)
        for key in ("DimOrder", "SizeC", "SizeZ", "SizeT"):
            if key in md:
                setattr(ds.attrs, key, md[key])
        write_metadata(f, md)
        write_events_backend(f, events)


def write_pzf_h5(path: Any, blobs: Sequence[bytes], *, order: Optional[Sequence[int]] = None,
                 md: Optional[dict] = None, events: Sequence[tuple] = EVENTS,
                 index_rows: Optional[np.ndarray] = None) -> None:
    """A PYME PZF series: blobs stored in ``order`` (frame numbers), indexed by /PZFImageIndex."""
    tables = _tables()
    md = dict(METADATA if md is None else md)
    order = list(range(len(blobs))) if order is None else list(order)
    with tables.open_file(str(path), "w") as f:
        vla = f.create_vlarray("/", "PZFImageData", tables.VLStringAtom())
        rows = np.empty(len(order), dtype=PZF_INDEX_DTYPE)
        for k, n in enumerate(order):
            vla.append(blobs[n])
            rows[k] = (n, k)
        if index_rows is not None:
            rows = index_rows
        f.create_table("/", "PZFImageIndex", obj=rows, chunkshape=(8192,),
                       filters=tables.Filters(5, "zlib", shuffle=True))
        write_metadata(f, md)
        write_events_table(f, events)


def fit_results(n: int, seed: int = 0) -> np.ndarray:
    """Synthetic FitResults rows (appended per frame, tIndex non-decreasing)."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, dtype=FIT_DTYPE)
    rows["tIndex"] = np.sort(rng.integers(0, 50, n))
    for name in FIT_DTYPE["fitResults"].names:
        rows["fitResults"][name] = rng.normal(1000, 300, n)
        rows["fitError"][name] = rng.uniform(1, 20, n)
    rows["resultCode"] = rng.integers(0, 3, n)
    for a in "xyz":
        rows["slicesUsed"][a]["start"] = rng.integers(0, 50, n)
        rows["slicesUsed"][a]["stop"] = rows["slicesUsed"][a]["start"] + 7
        rows["slicesUsed"][a]["step"] = 1
    rows["subtractedBackground"] = rng.uniform(0, 5, n)
    rows["nchi2"] = rng.uniform(0.5, 2, n)
    return rows


def write_h5r(path: Any, tables_: Dict[str, np.ndarray], *, md: Optional[dict] = None,
              events: Sequence[tuple] = EVENTS) -> None:
    """A PYME H5RFile: tables (shuffle + zlib 5), MetaData, optional Events."""
    tables = _tables()
    md = dict(METADATA if md is None else md)
    with tables.open_file(str(path), "w") as f:
        for name, rows in tables_.items():
            f.create_table("/", name, obj=rows, filters=tables.Filters(5, "zlib", shuffle=True))
        write_metadata(f, md)
        write_events_table(f, events)


# -- pickles (.psf / .sf) -------------------------------------------------------
PROTO2, STOP, MARK, TUPLE, REDUCE, BUILD = b"\x80\x02", b".", b"(", b"t", b"R", b"b"
TUPLE1, TUPLE2, TUPLE3, EMPTY_TUPLE, EMPTY_DICT, SETITEMS = b"\x85", b"\x86", b"\x87", b")", b"}", b"u"
NEWTRUE, NEWFALSE, NONE, OBJ, NEWOBJ = b"\x88", b"\x89", b"N", b"o", b"\x81"


def op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_binstring(data: bytes) -> bytes:
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def op_unicode(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def op_float(v: float) -> bytes:
    return b"G" + struct.pack(">d", v)


def op_int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def op_tuple(items: Iterable[bytes]) -> bytes:
    return MARK + b"".join(items) + TUPLE


def op_dict(items: Dict[str, bytes], key=op_binstring) -> bytes:
    body = b"".join(key(k.encode() if key is op_binstring else k) + v for k, v in items.items())
    return EMPTY_DICT + MARK + body + SETITEMS


def legacy_dtype(code: str, byteorder: bytes = b"<", elsize: int = -1, alignment: int = -1) -> bytes:
    """numpy.dtype(code, 0, 1) + BUILD (3, byteorder, ...) as Python 2 numpy pickled it."""
    return (op_global("numpy", "dtype") + op_tuple([op_binstring(code.encode()), op_int(0), op_int(1)])
            + REDUCE + op_tuple([op_int(3), op_binstring(byteorder), NONE, NONE, NONE,
                                 op_int(elsize), op_int(alignment), op_int(0)]) + BUILD)


def legacy_array(a: np.ndarray, *, fortran: bool = False) -> bytes:
    """A numpy array as Python 2 era numpy pickled it (raw bytes as BINSTRING)."""
    code = {np.dtype("<f4"): "f4", np.dtype("<f8"): "f8"}[a.dtype]
    raw = a.tobytes(order="F" if fortran else "C")
    shape = op_tuple([op_int(n) for n in a.shape])
    return (op_global("numpy.core.multiarray", "_reconstruct")
            + op_tuple([op_global("numpy", "ndarray"), op_tuple([op_int(0)]), op_binstring(b"b")])
            + REDUCE
            + op_tuple([op_int(1), shape, legacy_dtype(code), NEWTRUE if fortran else NEWFALSE,
                        op_binstring(raw)])
            + BUILD)


def legacy_scalar_f8(v: float) -> bytes:
    return (op_global("numpy.core.multiarray", "scalar")
            + op_tuple([legacy_dtype("f8"), op_binstring(struct.pack("<d", v))]) + REDUCE)


def modern_array(a: np.ndarray) -> bytes:
    """A numpy array as current numpy pickles it (protocol 2, _codecs.encode)."""
    return pickle.dumps(a, protocol=2)[2:-1]


def psf_pickle(psf: np.ndarray, vs: tuple, *, layout: str) -> bytes:
    """A ``.psf``: ``(array, voxelsize)``; ``layout`` is one of
    'legacy' (PYME.Acquire path, BINFLOATs, units BINSTRING),
    'legacy-io' (PYME.io path, numpy float64 x/y, units numpy S2 scalar, Fortran raw bytes),
    'legacy-nounits', 'modern' (NEWOBJ + dict with units), 'modern-voxelsize' (VoxelSize tuple).
    """
    x, y, z = vs
    if layout == "legacy":
        arr = legacy_array(psf)
        md = (MARK + op_global("PYME.Acquire.MetaDataHandler", "NestedClassMDHandler") + OBJ
              + op_dict({"x": op_float(x), "y": op_float(y), "z": op_float(z), "units": op_binstring(b"um")})
              + BUILD)
    elif layout == "legacy-io":
        arr = legacy_array(psf, fortran=True)
        units = (op_global("numpy.core.multiarray", "scalar")
                 + op_tuple([legacy_dtype("S2", b"|", 2, 1), op_binstring(b"um")]) + REDUCE)
        md = (MARK + op_global("PYME.io.MetaDataHandler", "NestedClassMDHandler") + OBJ
              + op_dict({"x": legacy_scalar_f8(x), "y": legacy_scalar_f8(y), "z": op_float(z), "units": units})
              + BUILD)
    elif layout == "legacy-nounits":
        arr = legacy_array(psf)
        md = (MARK + op_global("PYME.io.MetaDataHandler", "NestedClassMDHandler") + OBJ
              + op_dict({"x": op_float(x), "y": op_float(y), "z": op_float(z)}) + BUILD)
    elif layout == "modern":
        arr = modern_array(psf)
        md = (op_global("PYME.IO.MetaDataHandler", "NestedClassMDHandler") + EMPTY_TUPLE + NEWOBJ
              + op_dict({"x": op_float(x), "y": op_float(y), "z": op_float(z), "units": op_unicode("um")},
                        key=op_unicode) + BUILD)
    elif layout == "modern-voxelsize":
        arr = modern_array(psf)
        md = (op_global("PYME.IO.MetaDataHandler", "VoxelSize")
              + op_tuple([op_float(x), op_float(y), op_float(z)]) + NEWOBJ)
    else:
        raise ValueError(layout)
    return PROTO2 + arr + md + TUPLE2 + STOP


def sf_pickle(splines: Sequence[tuple], *, legacy: bool) -> bytes:
    """A ``.sf``: a pair of SmoothBivariateSpline states ``(tx, ty, c, (kx, ky), fp)``."""
    module = "scipy.interpolate.fitpack2" if legacy else "scipy.interpolate._fitpack2"
    array = legacy_array if legacy else modern_array
    parts = []
    for tx, ty, c, degrees, fp in splines:
        state = {"fp": op_float(fp),
                 "degrees": op_tuple([op_int(int(d)) for d in degrees]),
                 "tck": op_tuple([array(np.asarray(tx, "<f8")), array(np.asarray(ty, "<f8")),
                                  array(np.asarray(c, "<f8"))])}
        key = op_binstring if legacy else op_unicode
        parts.append(op_global(module, "SmoothBivariateSpline") + EMPTY_TUPLE + NEWOBJ
                     + op_dict(state, key=key) + BUILD)
    return PROTO2 + parts[0] + parts[1] + TUPLE2 + STOP


def malicious_pickles() -> Dict[str, bytes]:
    """Pickles a hostile file could hold; none may run anything."""
    def call(module: str, name: str, *args: bytes, proto: bytes = PROTO2) -> bytes:
        return proto + op_global(module, name) + op_tuple(args) + REDUCE

    return {
        "os.system": call("os", "system", op_unicode("true")) + STOP,
        "posix.system": call("posix", "system", op_unicode("true")) + STOP,
        "eval-protocol0": b"c__builtin__\neval\n(S'1 + 1'\ntR.",
        "builtins.getattr": call("builtins", "getattr", op_global("builtins", "object"),
                                 op_unicode("__subclasses__")) + STOP,
        "subprocess": call("subprocess", "Popen", op_unicode("true")) + STOP,
        "numpy.load": call("numpy", "load", op_unicode("/dev/null")) + STOP,
        "psf-with-exec": PROTO2 + modern_array(np.zeros((2, 2, 2), np.float32))
        + call("os", "system", op_unicode("true"), proto=b"") + TUPLE2 + STOP,
        "md-handler-then-exec": PROTO2 + op_global("PYME.IO.MetaDataHandler", "NestedClassMDHandler")
        + EMPTY_TUPLE + NEWOBJ + op_dict({"x": call("os", "system", op_unicode("true"), proto=b"")},
                                         key=op_unicode) + BUILD + STOP,
        "codecs-other": call("_codecs", "encode", op_unicode("x"), op_unicode("zlib")) + STOP,
        "object-array": pickle.dumps(np.array([1, "a"], dtype=object), protocol=2),
    }
