"""PYME cluster series (``.pcs``): read and write them on disk and on PYME data servers.

A ``.pcs`` series is a directory of one PZF blob per frame
(``frame00000.pzf`` ..., six digits from frame 100000 on), ``metadata.json``
(written first), ``final_metadata.json`` and ``events.json`` (written last:
its presence marks the series complete).  PYME spreads the frames over its
data servers in blocks of 50, so one series lives in the same relative
directory under several roots.  See :mod:`pzfcodec.pyme.cluster` for the
storage layer (local roots, HTTP data servers).

Locations accepted by :func:`open_pcs` and :func:`write_pcs`:

* a local directory ``path/to/run.pcs``;
* a relative series path with ``roots=[root1, root2, ...]``, the roots of
  the data servers as directories on this machine (merged);
* ``PYME-CLUSTER://<filter>/<path>`` with ``servers=["host:port", ...]``
  (or the ``PZFCODEC_PYME_SERVERS`` environment variable, or ``roots=``);
  the filter is PYME's cluster name and is not used for discovery;
* ``http://host:port/<path>``: that server, plus any in ``servers=`` or
  the environment variable.
"""
from __future__ import annotations

import os
import re
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..budget import BudgetLike, ReadBudget, loads_json
from ..codec import compress_stack, decompress, read_header
from ..errors import (BadArgumentError, CorruptDataError, DataTooLargeError, MissingFileError, PZFError,
                      UnsupportedFormatError)
from .cluster import (MAX_JSON_BYTES, HTTPStore, LocalStore, PCSWriter, Store, check_relpath,
                      frame_name, open_store, parse_servers)
from .series import Series, empty_events, make_events
from .writer import Frames, Progress, frame_batches, frame_info, series_metadata, series_sequence_id

__all__ = ["PCSSeries", "open_pcs", "write_pcs", "is_pcs_location", "resolve_location", "frame_ranges"]

Location = Union[str, "os.PathLike[str]"]
_FRAME_RE = re.compile(r"frame(\d{5,10})\.pzf")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LAYOUT_PROBES = 16


def is_pcs_location(location: Any) -> bool:
    """Whether ``location`` names a cluster series: a ``PYME-CLUSTER://`` or
    ``http://`` URL, or a local directory whose name ends in ``.pcs``."""
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if not isinstance(location, str):
        return False
    m = _SCHEME_RE.match(location)
    if m:
        return m.group(1).lower() in ("pyme-cluster", "http")
    return location.rstrip("/\\").lower().endswith(".pcs") and os.path.isdir(location)


def frame_ranges(numbers: Sequence[int], limit: int = 8) -> str:
    """``"101-108, 250"``: sorted frame numbers as ranges (at most ``limit``, then ``...``)."""
    nums = np.asarray(numbers, dtype=np.int64)
    if nums.size == 0:
        return "none"
    breaks = np.flatnonzero(np.diff(nums) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [nums.size - 1]])
    parts = [f"{nums[a]}" if a == b else f"{nums[a]}-{nums[b]}" for a, b in zip(starts[:limit], ends[:limit])]
    return ", ".join(parts) + (", ..." if len(starts) > limit else "")


def resolve_location(location: Location, roots: Optional[Sequence[Any]] = None, servers: Any = None
                     ) -> Tuple[Store, str, str]:
    """``(store, series path within it, name for messages)`` of a series location, as
    :func:`open_pcs` and :func:`write_pcs` take it; the caller closes the store."""
    location = os.fspath(location)
    if not isinstance(location, str):
        raise BadArgumentError(f"a series location must be a path or URL string, got {location!r}")
    m = _SCHEME_RE.match(location)
    if m:
        scheme = m.group(1).lower()
        rest = location[m.end():]
        if scheme == "pyme-cluster":
            _filter, _, path = rest.partition("/")
            path = check_relpath(urllib.parse.unquote(path).strip("/"))
            if roots is not None:
                return LocalStore(roots), path, location
            return open_store(servers=servers), path, location
        if scheme == "http":
            parts = urllib.parse.urlsplit(location)
            if roots is not None:
                raise BadArgumentError(f"{location} names a data server: give servers=, not roots=")
            if parts.query or parts.fragment:
                raise BadArgumentError(f"{location}: a series URL has no query or fragment")
            path = check_relpath(urllib.parse.unquote(parts.path).strip("/"))
            first = parse_servers([parts.netloc])
            others = parse_servers(servers)
            return HTTPStore(first + [s for s in others if s not in first]), path, location
        raise BadArgumentError(f"{location}: unsupported scheme {m.group(1)!r}; use a local path, "
                               "PYME-CLUSTER://filter/path or http://host:port/path")
    if roots is not None or servers is not None:
        if servers is not None and roots is None:
            return open_store(servers=servers), check_relpath(location.replace(os.sep, "/").strip("/")), location
        store = LocalStore(roots)
        full = os.path.abspath(location)
        for root in store.targets:
            if full.startswith(root.rstrip(os.sep) + os.sep):
                location = os.path.relpath(full, root)
                break
        else:
            if os.path.isabs(location):
                raise BadArgumentError(f"{location} is under none of the roots {list(store.targets)}; "
                                       "give the series path relative to the roots")
        return store, check_relpath(location.replace(os.sep, "/").strip("/")), location
    full = os.path.abspath(location)
    parent, name = os.path.split(full.rstrip(os.sep))
    return LocalStore([parent]), check_relpath(name), location


class PCSSeries(Series):
    """A PYME cluster series (``.pcs``), read lazily; see :func:`open_pcs`.

    Frame ``i`` of the series is the file of frame number ``i``: ``len(s)``
    is the highest frame number + 1 and frames absent from every root or
    server are listed in :attr:`missing_frames`.

    Attributes
    ----------
    location : str
        The location as given.
    store : Store
        Where the files are (:mod:`pzfcodec.pyme.cluster`).
    series : str
        The series' relative path within the store.
    complete : bool
        ``events.json`` is present: the acquisition finished.
    missing_fill : number or None
        When set, missing frames read as frames of this value instead of
        raising (``convert --allow-gaps`` uses 0).
    kind : str
        ``"pcs"``.
    """

    kind = "pcs"

    def __init__(self, location: Location, *, roots: Optional[Sequence[Any]] = None, servers: Any = None,
                 max_decoded_size: BudgetLike = None, threads: Optional[int] = None) -> None:
        self.store, self.series, self.location = resolve_location(location, roots, servers)
        self._max_decoded = max_decoded_size
        self.missing_fill: Optional[float] = None
        self.complete = False
        self._where: Dict[int, Tuple[int, int]] = {}
        self._present = np.empty(0, dtype=np.int64)
        self._names: Dict[str, Any] = {}
        self._header = None
        self._closed = False
        workers = threads or (self.store.connections * len(self.store.targets)
                              if isinstance(self.store, HTTPStore) else 4)
        self._pool: Optional[ThreadPoolExecutor] = ThreadPoolExecutor(max(1, int(workers)),
                                                                      thread_name_prefix="pzfcodec-pcs-read")
        try:
            self.refresh()
        except BaseException:
            self.close()
            raise

    # -- listing ----------------------------------------------------------------
    def _budget(self) -> ReadBudget:
        if isinstance(self._max_decoded, ReadBudget):
            return self._max_decoded
        return ReadBudget(self._max_decoded)

    def refresh(self) -> int:
        """List the series again (it may still be growing); returns ``len(self)``.

        Metadata and events are read again on next use.
        """
        self._check_open()
        budget = self._budget()
        try:
            listing = self.store.list(self.series, budget=budget)
        except MissingFileError:
            raise MissingFileError(f"{self.location}: no such series (the directory {self.series} exists on "
                                   f"none of the {self.store.target_kind}s {list(self.store.targets)})",
                                   path=self.series) from None
        where: Dict[int, Tuple[int, int]] = {}
        for name, entry in listing.items():
            m = _FRAME_RE.fullmatch(name)
            if m is None:
                continue
            num = int(m.group(1))
            if num >= 2**32 or name != frame_name(num):  # not a name PYME writes (frame000001.pzf)
                continue
            where[num] = (entry.targets[0], entry.size)
        present = np.array(sorted(where), dtype=np.int64)
        n = int(present[-1]) + 1 if present.size else 0
        budget.charge_items(n, f"the frame numbers of {self.location}")
        self._names = listing
        self._where = where
        self._present = present
        self._nframes = n
        self.complete = "events.json" in listing
        self._metadata = None
        self._events = None
        if self._header is None and present.size:
            self._probe_layout()
        return n

    def _probe_layout(self) -> None:
        errors = []
        for num in self._present[:_LAYOUT_PROBES]:
            try:
                blob = self._fetch(int(num), self._budget().max_bytes)
                h = read_header(blob, max_decoded_size=self._budget().max_bytes)
            except (CorruptDataError, UnsupportedFormatError, DataTooLargeError) as exc:
                errors.append(f"frame {num}: {exc}")
                continue
            self._header = h
            self._frame_shape = tuple(int(s) for s in h.array_shape)
            self._dtype = np.dtype(h.dtype)
            return
        raise CorruptDataError(f"{self.location}: none of the first {len(errors)} frames is a valid PZF blob "
                               f"({errors[0]})")

    @property
    def frame_numbers(self) -> np.ndarray:
        """The numbers of the frames present, sorted."""
        return self._present.copy()

    @property
    def missing_frames(self) -> np.ndarray:
        """The frame numbers below ``len(self)`` that are on no root or server."""
        if self._present.size == self._nframes:
            return np.empty(0, dtype=np.int64)
        return np.setdiff1d(np.arange(self._nframes, dtype=np.int64), self._present, assume_unique=True)

    @property
    def stored_bytes(self) -> int:
        """Total size of the series' files, as listed."""
        return int(sum(e.size for e in self._names.values()))

    @property
    def storage(self) -> str:
        """The PZF coding of the first frame read."""
        if self._header is None:
            return "PZF (no frames yet)"
        q = self._header.quantization
        quant = f", sqrt-quantised (offset {q.offset:g}, scale {q.scale:g})" if q is not None else ", lossless"
        return f"PZF {self._header.compression}{quant} (first frame)"

    # -- frames -------------------------------------------------------------------
    def _fetch(self, num: int, max_size: int) -> bytes:
        target, _ = self._where[num]
        path = f"{self.series}/{frame_name(num)}"
        try:
            return self.store.get(path, target=target, max_size=max_size)
        except MissingFileError:
            try:  # moved to, or also held by, another root/server
                return self.store.get(path, max_size=max_size)
            except MissingFileError:
                raise MissingFileError(f"{self.location}: frame {num} ({frame_name(num)}) was listed but is "
                                       "no longer on any " + self.store.target_kind, path=path) from None

    def _read_frame(self, i: int) -> np.ndarray:
        self._check_open()
        if i not in self._where:
            if self.missing_fill is not None:
                return np.full(self._frame_shape, self.missing_fill, dtype=self._dtype)
            raise MissingFileError(
                f"{self.location}: frame {i} is missing ({frame_name(i)} is on none of the "
                f"{self.store.target_kind}s); {self._nframes - self._present.size} of the {self._nframes} "
                f"frames are missing ({frame_ranges(self.missing_frames)})",
                path=f"{self.series}/{frame_name(i)}")
        expected = int(np.prod(self._frame_shape)) * self._dtype.itemsize
        blob = self._fetch(i, 2 * expected + 4096)  # a PZF blob never needs more
        try:
            frame = decompress(blob, max_decoded_size=expected)
        except PZFError as exc:
            raise type(exc)(f"{self.location}: frame {i} ({frame_name(i)}): {exc}") from exc
        if frame.shape != self._frame_shape or frame.dtype != self._dtype:
            raise CorruptDataError(f"{self.location}: frame {i} is {frame.shape} {frame.dtype}, but the series is "
                                   f"{self._frame_shape} {self._dtype}")
        return frame

    def _read_frames(self, indices: range) -> np.ndarray:
        out = np.empty((len(indices),) + tuple(self._frame_shape), dtype=self._dtype)
        if len(indices) <= 1 or self._pool is None:
            return super()._read_frames(indices)
        for k, frame in enumerate(self._pool.map(self._read_frame, indices)):
            out[k] = frame
        return out

    # -- metadata and events ----------------------------------------------------
    def _json_file(self, name: str) -> Any:
        if name not in self._names:
            return None
        entry = self._names[name]
        budget = self._budget()
        data = self.store.get(f"{self.series}/{name}", target=entry.targets[0],
                              max_size=min(budget.bytes_left, MAX_JSON_BYTES))
        return loads_json(data, f"{self.location}: {name}", budget)

    def _metadata_file(self, name: str) -> Optional[Dict[str, Any]]:
        value = self._json_file(name)
        if value is not None and not isinstance(value, dict):
            raise CorruptDataError(f"{self.location}: {name} is not a JSON object of metadata keys "
                                   f"({type(value).__name__})")
        return value

    @property
    def start_metadata(self) -> Optional[Dict[str, Any]]:
        """``metadata.json`` (written when the acquisition started), or None when absent."""
        return self._metadata_file("metadata.json")

    @property
    def final_metadata(self) -> Optional[Dict[str, Any]]:
        """``final_metadata.json`` (written when it ended), or None when absent."""
        return self._metadata_file("final_metadata.json")

    def _read_metadata(self) -> Dict[str, Any]:
        md = self.start_metadata
        if md is None:
            md = self.final_metadata
        return dict(md or {})

    def _read_events(self) -> np.ndarray:
        rows = self._json_file("events.json")
        if rows is None:
            return empty_events()
        if not isinstance(rows, list):
            raise CorruptDataError(f"{self.location}: events.json is not a JSON list of events")
        names, descrs, times = [], [], []
        for k, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
                    and isinstance(row[1], str) and isinstance(row[2], (int, float))
                    and not isinstance(row[2], bool)):
                raise CorruptDataError(f"{self.location}: events.json entry {k} is not "
                                       f"[name, description, time]: {str(row)[:100]}")
            names.append(row[0])
            descrs.append(row[1])
            times.append(row[2])
        return make_events(names, descrs, times)

    # -- life cycle ---------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BadArgumentError(f"{self.location} is closed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.store.close()

    def __repr__(self) -> str:
        missing = self._nframes - self._present.size
        return (f"<PCSSeries {self.location!r} shape={self.shape} dtype={self.dtype} "
                f"missing={missing} complete={self.complete}>")


def open_pcs(location: Location, *, roots: Optional[Sequence[Any]] = None, servers: Any = None,
             max_decoded_size: BudgetLike = None, threads: Optional[int] = None) -> PCSSeries:
    """Open a PYME cluster series (``.pcs``) lazily, local or on PYME data servers.

    Parameters
    ----------
    location : str or os.PathLike
        A ``.pcs`` directory; a series path relative to ``roots``;
        ``PYME-CLUSTER://<filter>/<path>``; or ``http://host:port/<path>``.
    roots : list of paths, optional
        Roots of the data servers as local directories; the series'
        directory is merged across them.
    servers : list of "host:port", optional
        PYME data servers (default: the ``PZFCODEC_PYME_SERVERS`` environment
        variable).  Never discovered by mDNS.
    max_decoded_size : int or ReadBudget, optional
        Limit on what one read (a listing, a JSON file, the frames of one
        call) may allocate.
    threads : int, optional
        Frames fetched and decoded at once by ``s[a:b]`` / ``np.asarray(s)``
        (default: 4 per server, or 4 for local roots).

    Returns
    -------
    PCSSeries
        ``s.shape`` is ``(highest frame number + 1, x, y)``;
        ``s.missing_frames``, ``s.complete``, ``s.metadata`` (``metadata.json``,
        else ``final_metadata.json``), ``s.start_metadata``,
        ``s.final_metadata``, ``s.events`` and ``s.refresh()``.

    Raises
    ------
    pzfcodec.MissingFileError
        The series does not exist; later, reading a missing frame (naming it).
    pzfcodec.StorageError
        A server failed, timed out or refused the connection (naming it).
    pzfcodec.CorruptDataError
        A listing, JSON file or (when read) a frame is damaged.
    """
    return PCSSeries(location, roots=roots, servers=servers, max_decoded_size=max_decoded_size,
                     threads=threads)


def write_pcs(location: Location, frames: Frames, metadata: Optional[Mapping[str, Any]] = None,
              events: Optional[np.ndarray] = None, *, roots: Optional[Sequence[Any]] = None,
              servers: Any = None, compression: str = "huffman", quantization: Any = None,
              threads: int = 1, sequence_id: Optional[int] = None, progress: Progress = None) -> int:
    """Write a series as a PYME cluster series (``.pcs``), in PYME's layout.

    ``metadata.json`` first, then every frame as ``frame%05d.pzf`` (block
    ``b`` of 50 frames on root/server ``b % n``, as PYME's spooler
    distributes them), then -- once every frame is durable (fsynced, or
    acknowledged by its server) -- ``final_metadata.json`` and last
    ``events.json``, which marks the series complete.  Files are written
    once: an existing series is never overwritten.

    Parameters
    ----------
    location : str or os.PathLike
        As for :func:`open_pcs`: a new ``.pcs`` directory, a path relative
        to ``roots``, a ``PYME-CLUSTER://`` or ``http://`` URL.
    frames, metadata, events, compression, quantization, threads, sequence_id, progress
        As for :func:`pzfcodec.pyme.write_h5`.
    roots, servers
        As for :func:`open_pcs`.

    Returns
    -------
    int
        Number of frames written.

    Raises
    ------
    pzfcodec.StorageError
        The series already exists, or a root/server failed (naming it); the
        series is then left incomplete (no ``events.json``).
    """
    n, frame_shape, dtype = frame_info(frames)
    md = series_metadata(metadata)
    sequence_id = series_sequence_id(md, sequence_id)
    store, series, name = resolve_location(location, roots, servers)
    try:
        try:
            existing = store.list(series)
        except MissingFileError:
            existing = {}
        if existing:
            raise BadArgumentError(f"{name} already exists ({len(existing)} files); a series is written once: "
                                   "choose a new name")
        with PCSWriter(store, series) as writer:
            writer.put_metadata(md)
            for k0, batch in frame_batches(frames, n, frame_shape, dtype):
                blobs = compress_stack(batch, compression, quantization, sequence_id=sequence_id,
                                       first_frame=k0, threads=threads)
                for j, blob in enumerate(blobs):
                    writer.put_frame(k0 + j, blob)
                if progress is not None:
                    progress(k0 + len(blobs), n)
            writer.finish(md, events)
    finally:
        store.close()
    return n
