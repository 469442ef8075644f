"""Tables in PYME's HDF5 files that are not ``.h5r`` compound tables.

* **pandas tables** (``DataFrame.to_hdf``, as PYME's tracking code saves
  ``.hdf`` results): a group with a ``pandas_type`` attribute.  The *fixed*
  format (``'frame'``) keeps column names in ``axis0`` and the values in
  ``block<i>_items``/``block<i>_values``; the *table* format
  (``'frame_table'``) keeps a compound dataset ``table`` whose
  ``values_block_<i>`` fields hold several columns, named in pickled
  attributes.  Both are read here with h5py alone (no pandas, no PyTables);
  the pickled attributes (lists of column names) go through the restricted
  unpickler.  Columns pandas stored as pickled Python objects (text in the
  fixed format) are refused, never unpickled.
* **ragged tables** (PYME's ``RaggedVLArray``): a PyTables ``VLARRAY`` of
  ``vlstring`` rows, each one JSON document; read as a list of values.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import h5py
import numpy as np

from ..budget import ReadBudget
from ..errors import CorruptDataError, UnsupportedFormatError
from .safe_pickle import safe_loads

__all__ = ["table_kind", "read_pandas_table", "read_ragged_table"]


def _text(value: Any) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def table_kind(obj: Any) -> Optional[str]:
    """``'pandas'`` for a pandas table group, ``'ragged'`` for a VLArray of
    strings, ``'pickled'`` for a VLArray of pickled objects, else None."""
    attrs = obj.attrs
    if isinstance(obj, h5py.Group) and "pandas_type" in attrs:
        return "pandas"
    if isinstance(obj, h5py.Dataset) and _text(attrs.get("CLASS", b"")) == "VLARRAY":
        atom = _text(attrs.get("PSEUDOATOM", b""))
        if atom in ("vlstring", "vlunicode"):
            return "ragged"
        return "pickled" if atom == "object" else None
    return None


def _names(value: Any, where: str) -> List[str]:
    """A list of column names from a pickled attribute or a string array."""
    if isinstance(value, (bytes, np.bytes_)):
        value = safe_loads(bytes(value), source=where)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise CorruptDataError(f"{where}: expected a list of column names, got {type(value).__name__}")
    return [_text(v) for v in value]


def _column(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", "replace") if values.size else values.astype("U1")
    return values


def _charge(ds: h5py.Dataset, budget: ReadBudget, where: str) -> None:
    budget.charge_bytes(int(np.prod(ds.shape, dtype=np.int64)) * max(ds.dtype.itemsize, 1), where)


def read_pandas_table(group: h5py.Group, where: str, budget: Optional[ReadBudget] = None) -> np.ndarray:
    """A pandas table (fixed or table format) as a structured array, one field per column.

    The DataFrame's index is not a column; booleans come back as ``bool``,
    text as ``str``.

    Raises
    ------
    pzfcodec.UnsupportedFormatError
        A pandas variant other than a plain DataFrame, or columns stored as
        pickled objects.
    pzfcodec.CorruptDataError
        Inconsistent blocks or column names.
    """
    budget = ReadBudget.of(budget)
    kind = _text(group.attrs.get("pandas_type", b""))
    columns: Dict[str, np.ndarray] = {}
    try:
        if kind == "frame":
            order = _names(group["axis0"][()], f"{where}/axis0")
            for i in range(int(group.attrs.get("nblocks", 0))):
                items = _names(group[f"block{i}_items"][()], f"{where}/block{i}_items")
                values = group[f"block{i}_values"]
                if table_kind(values) is not None:
                    raise UnsupportedFormatError(
                        f"{where}: column(s) {items} are stored as pickled Python objects (pandas' fixed "
                        "format keeps text so); pzfcodec never unpickles data: read the file with pandas "
                        "if you trust it, or save it with format='table'")
                _charge(values, budget, where)
                data = values[()]
                if values.id.get_type().get_class() == h5py.h5t.BITFIELD and data.dtype.itemsize == 1:
                    data = data.astype(bool)  # PyTables stores numpy bools as 8-bit bitfields
                if data.ndim != 2 or data.shape[1] != len(items):
                    raise CorruptDataError(f"{where}: block {i} holds {data.shape}, not one column per name {items}")
                for k, name in enumerate(items):
                    columns[name] = _column(data[:, k])
        elif kind == "frame_table":
            table = group["table"]
            _charge(table, budget, where)
            rows = table[()]
            axes = safe_loads(bytes(group.attrs["non_index_axes"]), source=f"{where} non_index_axes")
            if not (isinstance(axes, list) and len(axes) == 1 and isinstance(axes[0], tuple)):
                raise UnsupportedFormatError(f"{where}: a pandas table with axes {axes!r}, not a DataFrame")
            order = [_text(n) for n in axes[0][1]]
            for field in rows.dtype.names:
                if field == "index":
                    continue
                names = _names(table.attrs[f"{field}_kind"], f"{where}/table {field}_kind")
                block = rows[field]
                block = block.reshape(len(rows), -1) if block.ndim == 1 else block
                if block.shape[1] != len(names):
                    raise CorruptDataError(f"{where}: field {field} holds {block.shape[1]} columns, named {names}")
                dtype = _text(table.attrs.get(f"{field}_dtype", b""))
                for k, name in enumerate(names):
                    col = _column(block[:, k])
                    columns[name] = col.astype(bool) if dtype == "bool" else col
        else:
            raise UnsupportedFormatError(f"{where}: a pandas {kind or 'object'} (not a DataFrame); "
                                         "pzfcodec reads pandas DataFrames (fixed and table formats)")
    except KeyError as exc:
        raise CorruptDataError(f"{where}: an incomplete pandas table ({exc})") from None
    for name in columns:
        if name not in order:
            order.append(name)
    if set(order) != set(columns):
        raise CorruptDataError(f"{where}: columns {sorted(set(order) - set(columns))} have no values")
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        raise CorruptDataError(f"{where}: columns of different lengths {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    out = np.empty(n, dtype=[(name, columns[name].dtype) for name in order])
    for name in order:
        out[name] = columns[name]
    return out


def read_ragged_table(ds: h5py.Dataset, where: str, budget: Optional[ReadBudget] = None) -> List[Any]:
    """A PYME ragged table (VLArray of JSON strings) as a list of values (dicts, lists, ...).

    Raises
    ------
    pzfcodec.UnsupportedFormatError
        Rows stored as pickled objects.
    pzfcodec.CorruptDataError
        A row that is not JSON text, or nests absurdly deep.
    """
    budget = ReadBudget.of(budget)
    if table_kind(ds) == "pickled":
        raise UnsupportedFormatError(f"{where}: a table of pickled Python objects; pzfcodec never unpickles data")
    budget.charge_items(len(ds), where)
    out = []
    for i in range(len(ds)):
        row = ds[i]
        raw = row.tobytes() if isinstance(row, np.ndarray) else (row if isinstance(row, bytes) else str(row).encode())
        budget.charge_bytes(len(raw), where)
        try:
            text = raw.decode("utf-32-le" if _text(ds.attrs.get("PSEUDOATOM")) == "vlunicode" else "utf-8")
            out.append(json.loads(text))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CorruptDataError(f"{where}: row {i} is not a JSON document ({type(exc).__name__})") from None
    return out
