"""HDF5 details shared by the PYME readers and writers (h5py only, no PyTables).

PYME writes its ``.h5``/``.h5r`` files with PyTables, which tags every node
with bookkeeping attributes and stores metadata as attributes of a
``/MetaData`` group tree.  This module reads and writes those structures
exactly as PyTables does, so files written here open in PYME.
"""
from __future__ import annotations

import numbers
import pickle
from typing import Any, Dict, Iterable, Mapping, Optional

import h5py
import numpy as np

from ..budget import BudgetLike, ReadBudget
from ..errors import BadArgumentError, CorruptDataError, DataTooLargeError, UnsafePickleError
from ..hdf5 import FILTER_ID
from ..options import Options
from .safe_pickle import safe_loads
from .series import EVENTS_DTYPE, empty_events, make_events

#: attributes PyTables puts on every node; never metadata.
SYSTEM_ATTRS = frozenset(["CLASS", "TITLE", "VERSION"])

#: HDF5 compound type of PYME's ``/Events`` table (field order as PYME writes it).
EVENTS_H5_DTYPE = np.dtype([("EventDescr", "S256"), ("EventName", "S32"), ("Time", "<f8")])


# -- reading --------------------------------------------------------------------
def _decode_attr(attrs: h5py.AttributeManager, name: str, source: str,
                 budget: ReadBudget) -> Any:
    aid = attrs.get_id(name)
    tid = aid.get_type()
    value = attrs[name]
    if isinstance(value, h5py.Empty):
        return ""
    cls = tid.get_class()
    if cls == h5py.h5t.BITFIELD and tid.get_size() == 1 and np.ndim(value) == 0:
        return np.bool_(value)
    if cls == h5py.h5t.STRING and not tid.is_variable_str():
        raw = bytes(np.asarray(value).tobytes()).rstrip(b"\0") if np.ndim(value) else bytes(value)
        if tid.get_cset() == h5py.h5t.CSET_ASCII and raw.endswith(b"."):
            # PyTables pickles non-numpy values into ASCII attributes.
            try:
                return safe_loads(raw, source=source, max_decoded_size=budget)
            except UnsafePickleError:
                raise
            except CorruptDataError:
                pass  # not a pickle after all: plain text ending in a dot
        return raw.decode("utf-8", "replace")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return value


def read_metadata(group: Optional[h5py.Group], filename: str = "",
                  budget: BudgetLike = None) -> Dict[str, Any]:
    """Flatten a PYME ``/MetaData`` group tree into ``{'A.B.C': value}``.

    Text comes back as ``str``, booleans as ``numpy.bool_``, numbers as numpy
    scalars or arrays, and pickled values (lists, tuples, dicts, None) decoded
    with :func:`~pzfcodec.pyme.safe_pickle.safe_loads`.

    The walk follows hard links only and visits each HDF5 object once (by
    its address), so groups linked from several places, or back to an
    ancestor, are read once; every group and attribute is charged to
    ``budget`` (a :class:`~pzfcodec.budget.ReadBudget`, or its byte limit),
    which also bounds the nesting depth.

    Raises
    ------
    pzfcodec.DataTooLargeError
        The tree is nested deeper, or holds more entries, than the budget allows.
    """
    out: Dict[str, Any] = {}
    if group is None:
        return out
    budget = ReadBudget.of(budget)
    seen = set()

    def visit(g: h5py.Group, prefix: str) -> None:
        info = h5py.h5o.get_info(g.id)
        if (info.fileno, info.addr) in seen:
            return
        seen.add((info.fileno, info.addr))
        budget.charge_items(1 + info.num_attrs, f"{filename} /MetaData")
        for name in sorted(g.attrs):
            if name in SYSTEM_ATTRS:
                continue
            key = prefix + name
            out[key] = _decode_attr(g.attrs, name, f"{filename} metadata {key}", budget)
        names = list(g)
        budget.charge_items(len(names), f"{filename} /MetaData")
        for name in names:
            if not isinstance(g.get(name, getlink=True), h5py.HardLink):
                continue  # soft and external links lead elsewhere: not metadata
            child = g[name]
            if isinstance(child, h5py.Group):
                with budget.nested(f"{filename} /MetaData"):
                    visit(child, f"{prefix}{name}.")

    visit(group, "")
    return out


def check_stored(ds: h5py.Dataset, what: str) -> None:
    """Refuse a dataset whose declared size is not backed by stored data.

    A few bytes of HDF5 can declare a dataset of 2**40 rows that was never
    written (reads would return fill values, after allocating the whole
    declared size).  Contiguous data must occupy its full size in the file;
    chunked data must have every chunk allocated.

    Raises
    ------
    pzfcodec.CorruptDataError
        The dataset declares more than the file stores.
    """
    if ds.size == 0:
        return
    layout = ds.id.get_create_plist().get_layout()
    itemsize = ds.id.get_type().get_size()
    if h5py.check_vlen_dtype(ds.dtype) is not None:
        itemsize = 8  # at least a heap reference per element
    if layout == h5py.h5d.CONTIGUOUS:
        stored = ds.id.get_storage_size()
        if stored < ds.size * itemsize:
            raise CorruptDataError(
                f"{what} declares {ds.shape[0] if ds.ndim else 1} rows ({ds.size * itemsize} bytes) "
                f"but the file stores only {stored} bytes of it; the file is damaged or crafted")
    elif layout == h5py.h5d.CHUNKED:
        chunks = ds.chunks or (1,) * ds.ndim
        needed = int(np.prod([-(-n // c) for n, c in zip(ds.shape, chunks)], dtype=object))
        stored = ds.id.get_num_chunks()
        if stored < needed:
            raise CorruptDataError(
                f"{what} declares {ds.shape[0]} rows in {needed} chunks but the file stores only "
                f"{stored} of them; the file is damaged or crafted")


#: rows read at once by :func:`read_rows` (at most this many bytes of rows)
_BATCH_BYTES = 16 << 20


def read_rows(ds: h5py.Dataset, what: str, budget: BudgetLike = None,
              *, extra_bytes_per_row: int = 0) -> np.ndarray:
    """Read a 1-D dataset (a table, an index) within a read budget.

    The declared rows must be stored (:func:`check_stored`); their size,
    plus ``extra_bytes_per_row`` for what the caller derives from each row,
    is charged to ``budget`` before anything is allocated, and the rows are
    read in batches of at most 16 MiB.

    Raises
    ------
    pzfcodec.CorruptDataError
        The rows are not all stored, or HDF5 cannot read them.
    pzfcodec.DataTooLargeError
        The rows exceed the budget.
    """
    budget = ReadBudget.of(budget)
    check_stored(ds, what)
    rows = ds.shape[0] if ds.ndim else 1
    budget.charge_items(rows, what)
    budget.charge_bytes(ds.size * (ds.dtype.itemsize + extra_bytes_per_row), what)
    try:
        if ds.ndim != 1:
            return ds[()]
        out = np.empty(rows, dtype=ds.dtype)
        step = max(1, _BATCH_BYTES // max(ds.dtype.itemsize, 1))
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            ds.read_direct(out, np.s_[start:stop], np.s_[start:stop])
        return out
    except OSError as exc:
        raise CorruptDataError(f"{what}: cannot read it ({exc})") from None
    except MemoryError:
        raise DataTooLargeError(f"{what}: not enough memory to read its {rows} rows (a process "
                                "limit or the machine's memory)") from None


def read_events(f: h5py.File, budget: BudgetLike = None) -> np.ndarray:
    """The ``/Events`` table as a :data:`~pzfcodec.pyme.series.EVENTS_DTYPE` array."""
    ds = f.get("Events")
    if not isinstance(ds, h5py.Dataset) or ds.dtype.names is None:
        return empty_events()
    names = ds.dtype.names
    missing = {"EventName", "EventDescr", "Time"} - set(names)
    if missing:
        raise CorruptDataError(f"/Events lacks the column(s) {sorted(missing)}")
    rows = read_rows(ds, f"{f.filename} /Events", budget,
                     extra_bytes_per_row=EVENTS_DTYPE.itemsize)
    return make_events(rows["EventName"], rows["EventDescr"], rows["Time"])


def check_pzf_dataset(ds: h5py.Dataset, what: str) -> None:
    """Refuse a PZF-filtered dataset whose stored filter parameters do not
    describe its real chunks (shape and element type).

    The parameters say how big a decoded chunk is; HDF5 copies a chunk of
    the size its layout says.  The filter itself refuses a mismatch chunk by
    chunk; this check names the problem before anything is read.  Datasets
    without the PZF filter pass.

    Raises
    ------
    pzfcodec.CorruptDataError
        The parameters and the dataset disagree.
    """
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        fid, _, cd, _ = plist.get_filter(i)
        if fid == FILTER_ID:
            break
    else:
        return
    chunks = ds.chunks or ()
    expected = _pzf_blob_layout(chunks, ds.dtype)
    if len(cd) < 12 or expected is None or tuple(cd[6:12]) != expected:
        raise CorruptDataError(
            f"{what}: the PZF filter parameters {tuple(cd)} do not describe the dataset's chunks "
            f"({chunks} of {ds.dtype}); the file is damaged or crafted")


def _pzf_blob_layout(chunks: tuple, dtype: np.dtype) -> Optional[tuple]:
    """cd_values[6:12] the plugin stores for chunks of this shape and type
    (layout, data format, element size, blob Width, Height, Depth)."""
    if not chunks:
        return None
    dims = [int(np.prod(chunks[:-2], dtype=object))] + list(chunks[-2:]) if len(chunks) > 3 \
        else list(chunks) + [1] * (3 - len(chunks))
    native = {np.dtype("u1"): 0, np.dtype("<u2"): 1, np.dtype("<f4"): 2}.get(np.dtype(dtype))
    if native is None:
        native, dims[2] = 0, dims[2] * dtype.itemsize
    return (1, native, dtype.itemsize, *dims)


def uses_filter(ds: h5py.Dataset, filter_id: int) -> bool:
    """Whether a dataset's filter pipeline contains ``filter_id``."""
    plist = ds.id.get_create_plist()
    return any(plist.get_filter(i)[0] == filter_id for i in range(plist.get_nfilters()))


def _pzf_filter_name(cd: tuple) -> str:
    """The PZF filter's settings in words."""
    try:
        o = Options.from_cd_values(cd)
    except BadArgumentError as exc:
        return f"pzf (invalid parameters: {exc})"
    if o.scale is None:
        return f"pzf lossless ({o.compression})"
    return (f"pzf square-root quantised, lossy (offset {o.offset:g}, scale {o.scale:g}, "
            f"{o.compression})")


def filter_names(ds: h5py.Dataset) -> list:
    """Names of the filters of a dataset, in pipeline order (PZF's with its settings)."""
    plist = ds.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        fid, _, cd, name = plist.get_filter(i)
        if fid == FILTER_ID:
            out.append(_pzf_filter_name(cd))
        else:
            out.append(name.decode("ascii", "replace") if name else str(fid))
    return out


# -- writing (attributes as PyTables writes them) ---------------------------------
def _string_type(size: int, utf8: bool) -> h5py.h5t.TypeID:
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(max(size, 1))
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    tid.set_cset(h5py.h5t.CSET_UTF8 if utf8 else h5py.h5t.CSET_ASCII)
    return tid


def _delete(obj: Any, name: str) -> None:
    if name in obj.attrs:
        del obj.attrs[name]


def set_str_attr(obj: Any, name: str, value: Any, *, utf8: bool = True, null_if_empty: bool = True) -> None:
    """Fixed-length NULLTERM string attribute; '' gets PyTables' NULL dataspace."""
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    _delete(obj, name)
    tid = _string_type(len(data), utf8)
    if not data and null_if_empty:
        space = h5py.h5s.create(h5py.h5s.NULL)
        h5py.h5a.create(obj.id, name.encode("utf-8"), tid, space).close()
        return
    space = h5py.h5s.create(h5py.h5s.SCALAR)
    attr = h5py.h5a.create(obj.id, name.encode("utf-8"), tid, space)
    attr.write(np.array(data, dtype=f"S{max(len(data), 1)}"), mtype=tid)
    attr.close()


def set_bool_attr(obj: Any, name: str, value: bool) -> None:
    """One-byte BITFIELD attribute, as PyTables stores ``bool``."""
    _delete(obj, name)
    tid = h5py.h5t.STD_B8LE.copy()
    attr = h5py.h5a.create(obj.id, name.encode("utf-8"), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    attr.write(np.array(1 if value else 0, dtype=np.uint8), mtype=h5py.h5t.NATIVE_B8)
    attr.close()


def _plain(value: Any) -> Any:
    """numpy scalars inside containers -> Python scalars (pickles without globals)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    return value


def _pickled(name: str, value: Any) -> bytes:
    """Protocol-0 pickle of a metadata value, checked to read back as it was
    through the pickle interpreter (else BadArgumentError)."""
    try:
        text = pickle.dumps(_plain(value), protocol=0)
        ok = b"\0" not in text and safe_loads(text) == _plain(value)
    except (pickle.PicklingError, TypeError, ValueError, AttributeError,
            UnsafePickleError, CorruptDataError):
        ok = False
    if not ok:
        raise BadArgumentError(
            f"metadata {name!r}: a {type(value).__name__} value cannot be stored so that it "
            "reads back safely; use text (without NUL characters), numbers, booleans, "
            "numpy arrays, or lists/tuples/dicts of these")
    return text


def set_value_attr(obj: Any, name: str, value: Any) -> None:
    """Store a metadata value the way PyTables (hence PYME) does."""
    if isinstance(value, (str, np.str_, bytes, np.bytes_)) and \
            ("\0" if isinstance(value, str) else b"\0") in value:
        raise BadArgumentError(f"metadata {name!r}: HDF5 strings cannot hold NUL characters")
    if isinstance(value, (bool, np.bool_)):
        set_bool_attr(obj, name, bool(value))
    elif isinstance(value, (str, np.str_)):
        set_str_attr(obj, name, str(value), utf8=True)
    elif isinstance(value, (bytes, np.bytes_)):
        set_str_attr(obj, name, bytes(value), utf8=True)
    elif isinstance(value, numbers.Integral) and not isinstance(value, np.generic) \
            and -2**63 <= value < 2**63:
        obj.attrs.create(name, np.int64(value))
    elif isinstance(value, float):
        obj.attrs.create(name, np.float64(value))
    elif isinstance(value, np.generic) and value.dtype.kind in "iufc":
        obj.attrs.create(name, value)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "iufc":
        obj.attrs.create(name, value)
    else:
        set_str_attr(obj, name, _pickled(name, value), utf8=False)


def tag_group(g: h5py.Group, *, root: bool = False) -> None:
    """PyTables bookkeeping attributes of a group (or of the root)."""
    set_str_attr(g, "CLASS", b"GROUP")
    if root:
        set_str_attr(g, "PYTABLES_FORMAT_VERSION", b"2.1")
    set_str_attr(g, "TITLE", b"")
    set_str_attr(g, "VERSION", b"1.0")


def tag_table(ds: h5py.Dataset, *, flavor: bool = True) -> None:
    """PyTables bookkeeping attributes of a table (compound dataset)."""
    set_str_attr(ds, "CLASS", b"TABLE")
    set_str_attr(ds, "VERSION", b"2.7")
    set_str_attr(ds, "TITLE", b"")
    ds.attrs.create("NROWS", np.int64(ds.shape[0]))
    leaf = 0

    def leaves(dt: np.dtype) -> Iterable[np.dtype]:
        for name in dt.names:
            sub = dt.fields[name][0]
            if sub.names:
                yield from leaves(sub)
            else:
                yield sub

    for i, name in enumerate(ds.dtype.names):
        set_str_attr(ds, f"FIELD_{i}_NAME", name.encode("utf-8"))
    for sub in leaves(ds.dtype):
        if sub.kind == "S":
            set_str_attr(ds, f"FIELD_{leaf}_FILL", b"", utf8=False, null_if_empty=False)
        else:
            ds.attrs.create(f"FIELD_{leaf}_FILL", np.zeros((), dtype=sub))
        leaf += 1
    if flavor:
        set_str_attr(ds, "FLAVOR", b"numpy")


def write_metadata(f: h5py.File, metadata: Mapping[str, Any]) -> None:
    """Write ``{'A.B.C': value}`` as attribute C of group ``/MetaData/A/B``."""
    root = f.require_group("MetaData")
    tag_group(root)
    for key, value in metadata.items():
        parts = str(key).split(".")
        if not all(parts) or any(p in SYSTEM_ATTRS for p in parts[-1:]):
            raise BadArgumentError(f"metadata key {key!r} is not a valid dotted PYME key")
        g = root
        for part in parts[:-1]:
            if part not in g:
                tag_group(g.create_group(part))
            g = g[part]
            if not isinstance(g, h5py.Group):
                raise BadArgumentError(f"metadata key {key!r} clashes with another key")
        set_value_attr(g, parts[-1], value)


def write_events(f: h5py.File, events: Optional[np.ndarray]) -> None:
    """Write an events array as PYME's ``/Events`` table (absent when empty)."""
    if events is None or len(events) == 0:
        return
    rows = np.empty(len(events), dtype=EVENTS_H5_DTYPE)
    for field, width in (("EventName", 32), ("EventDescr", 256)):
        col = [(bytes(v) if isinstance(v, (bytes, np.bytes_)) else str(v).encode("utf-8"))[:width]
               for v in events[field]]
        rows[field] = col
    rows["Time"] = np.asarray(events["Time"], dtype=np.float64)
    ds = f.create_dataset("Events", data=rows, maxshape=(None,), chunks=(885,),
                          shuffle=True, compression="gzip", compression_opts=5)
    tag_table(ds)


def opened(f: Optional[h5py.File], path: str) -> h5py.File:
    """``f``, or ValueError when the reader holding it was closed."""
    if f is None:
        raise ValueError(f"{path} is closed")
    return f
