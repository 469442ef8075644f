"""Reader of PYME localisation results (``.h5r``).

An ``.h5r`` holds tables (``/FitResults``, ``/DriftResults``, ...) with
nested compound rows, PYME metadata in ``/MetaData`` and optionally
``/Events``.  The same reader opens PYME's other HDF5 tables: pandas
DataFrames saved with ``to_hdf`` (``.hdf`` tracking results) and ragged
tables of JSON rows (see :mod:`pzfcodec.pyme.hdf_tables`).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import h5py
import numpy as np

from ..budget import BudgetLike, ReadBudget
from ..errors import CorruptDataError, UnsupportedFormatError
from ._hdf import opened, read_events, read_metadata, read_rows
from .hdf_tables import read_pandas_table, read_ragged_table, table_kind
from .h5 import PathLike, open_hdf5_file

__all__ = ["H5RFile", "open_h5r", "flatten_table"]

#: Short column names of PYME's tabular view, and the flattened columns they stand for.
ALIASES = {
    "A": "fitResults_A",
    "x": "fitResults_x0",
    "y": "fitResults_y0",
    "z": "fitResults_z0",
    "sig": "fitResults_sigma",
    "error_x": "fitError_x0",
    "error_y": "fitError_y0",
    "error_z": "fitError_z0",
    "t": "tIndex",
}


def flatten_table(table: np.ndarray, *, sort_by: Optional[str] = "tIndex",
                  aliases: bool = True) -> Dict[str, np.ndarray]:
    """Flat columns of a nested structured array, like PYME's tabular view.

    Nested names are joined with ``_`` (``fitResults_x0``,
    ``slicesUsed_x_start``).  Rows are sorted (stably) by ``sort_by`` when the
    table has that column, and PYME's short aliases (``x``, ``y``, ``z``,
    ``A``, ``sig``, ``error_x``, ``error_y``, ``error_z``, ``t``) are added
    when ``aliases``.

    Parameters
    ----------
    table : numpy.ndarray
        Structured array with named (possibly nested) fields, e.g. an
        ``.h5r`` table.
    sort_by : str or None, optional
        Flattened column to sort the rows by (default ``'tIndex'``); rows
        keep the table's order when it is None or not a column.
    aliases : bool, optional
        Add the short aliases (default True) for the columns the table has;
        an alias shares its column's array, and never replaces a column of
        the same name.

    Returns
    -------
    dict of str to numpy.ndarray
        One array per leaf field, in field order, then the aliases.

    Raises
    ------
    pzfcodec.CorruptDataError
        ``table`` has no named fields.
    """
    if table.dtype.names is None:
        raise CorruptDataError("only tables with named columns can be flattened")
    out: Dict[str, np.ndarray] = {}

    def visit(arr: np.ndarray, prefix: str) -> None:
        for name in arr.dtype.names:
            col = arr[name]
            if col.dtype.names:
                visit(col, f"{prefix}{name}_")
            else:
                out[prefix + name] = col

    visit(table, "")
    if sort_by is not None and sort_by in out:
        order = np.argsort(out[sort_by], kind="stable")
        out = {k: v[order] for k, v in out.items()}
    else:
        out = {k: np.ascontiguousarray(v) for k, v in out.items()}
    if aliases:
        for short, long in ALIASES.items():
            if long in out and short not in out:
                out[short] = out[long]
    return out


class H5RFile:
    """Localisation results in a PYME ``.h5r`` file; see :func:`open_h5r`.

    Attributes
    ----------
    path : str
        The file.
    """

    def __init__(self, path: PathLike, *, max_decoded_size: BudgetLike = None) -> None:
        self.path = os.fspath(path)
        self._budget = ReadBudget.of(max_decoded_size)
        self._file: Optional[h5py.File] = open_hdf5_file(self.path)
        self._cache: Dict[str, np.ndarray] = {}
        self._metadata: Optional[Dict[str, Any]] = None
        self._events: Optional[np.ndarray] = None
        names: List[str] = []
        self._kinds: Dict[str, str] = {}  # pandas / ragged tables (pzfcodec.pyme.hdf_tables)

        def visit(name: str, obj: Any) -> None:
            self._budget.charge_items(1, f"{self.path}: the objects of the file")
            if name.startswith("MetaData") or name == "Events":
                return
            if any(name.startswith(group + "/") for group in self._kinds):
                return  # inside a pandas table's group
            kind = table_kind(obj)
            if kind is not None:
                self._kinds[name] = kind
                names.append(name)
            elif isinstance(obj, h5py.Dataset) and obj.dtype.names is not None and obj.ndim == 1:
                names.append(name)

        try:
            self._file.visititems(visit)  # each object once, by address
            if not names and not any(k in self._file for k in ("MetaData", "Events")):
                raise UnsupportedFormatError(
                    f"{self.path}: an HDF5 file without PYME image data, results tables, pandas tables or "
                    f"ragged tables (it holds {sorted(self._file)[:10] or 'nothing'})")
        except BaseException:
            self.close()
            raise
        self._names = names

    def __enter__(self) -> "H5RFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release the file (tables already read stay available)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def keys(self) -> List[str]:
        """Names of the tables (``'FitResults'``, ``'DriftResults'``, ...)."""
        return list(self._names)

    def table_kind(self, name: str) -> str:
        """``'pyme'`` (compound table), ``'pandas'`` (DataFrame) or ``'ragged'`` (JSON rows)."""
        if name not in self._names:
            raise KeyError(f"{self.path} has no table {name!r}; it has {self._names}")
        return {"pandas": "pandas", None: "pyme"}.get(self._kinds.get(name), "ragged")

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __getitem__(self, name: str) -> Any:
        """One table: a numpy structured array (its nested dtype for PYME's
        tables, one field per column for a pandas DataFrame), or for a
        ragged table the list of its JSON rows."""
        if name not in self._cache:
            if name not in self._names:
                raise KeyError(f"{self.path} has no table {name!r}; it has {self._names}")
            node = opened(self._file, self.path)[name]
            kind = self._kinds.get(name)
            try:
                if kind == "pandas":
                    self._cache[name] = read_pandas_table(node, f"{self.path}: /{name}", self._budget)
                elif kind is not None:
                    self._cache[name] = read_ragged_table(node, f"{self.path}: /{name}", self._budget)
                else:
                    self._cache[name] = read_rows(node, f"{self.path}: table {name!r}", self._budget)
            except OSError as exc:
                raise CorruptDataError(f"{self.path}: cannot read table {name!r} ({exc})") from None
        return self._cache[name]

    @property
    def tables(self) -> Dict[str, Any]:
        """Every table, ``{name: structured array}``."""
        return {name: self[name] for name in self._names}

    def flat(self, name: str = "FitResults", **kwargs: Any) -> Dict[str, np.ndarray]:
        """Flat-column view of a table (see :func:`flatten_table`)."""
        return flatten_table(self[name], **kwargs)

    @property
    def metadata(self) -> Dict[str, Any]:
        """Flat ``{dotted_key: value}`` metadata."""
        if self._metadata is None:
            self._metadata = read_metadata(opened(self._file, self.path).get("MetaData"), self.path,
                                           self._budget)
        return self._metadata

    @property
    def events(self) -> np.ndarray:
        """Events (EventName, EventDescr, Time); empty when the file has none."""
        if self._events is None:
            self._events = read_events(opened(self._file, self.path), self._budget)
        return self._events

    def __repr__(self) -> str:
        return f"<H5RFile {self.path!r} tables={self._names}>"


def open_h5r(path: PathLike, *, max_decoded_size: BudgetLike = None) -> H5RFile:
    """Open PYME localisation results (``.h5r``).

    Parameters
    ----------
    path : str or os.PathLike
        A PYME ``.h5r`` (HDF5) file, or an ``.hdf``/``.h5`` file of pandas
        or ragged tables.  Its tables (1-D datasets with named columns,
        pandas DataFrames, ragged JSON tables; not the metadata and
        ``/Events``) are read on first access.
    max_decoded_size : int or ReadBudget, optional
        What the PYME tables, metadata and events read from this file may
        allocate in all (default :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE`
        bytes).

    Returns
    -------
    H5RFile
        ``r.tables``, ``r['FitResults']``, ``r.flat('FitResults')``,
        ``r.metadata``, ``r.events``.  Use as a context manager.

    Raises
    ------
    pzfcodec.UnsupportedFormatError
        The file is not HDF5, or holds no table (nor metadata) of a kind
        above.
    pzfcodec.CorruptDataError
        The file is truncated or damaged.  A table that cannot be read, or
        declares rows it does not store, raises only when it is read.
    pzfcodec.DataTooLargeError
        A table (when read), the metadata or the events exceed the budget.
    """
    return H5RFile(path, max_decoded_size=max_decoded_size)
