"""Spool an acquisition: a streaming writer that keeps up with the camera.

:class:`SeriesWriter` takes frames one at a time, codes them as PZF on
worker threads (the C codec releases the GIL) and writes them, in order, from
one writer thread, so :meth:`SeriesWriter.append` returns in well under a
frame time::

    with pzfcodec.SeriesWriter("run01.h5", metadata=md, quantization=q) as w:
        for frame in camera:
            w.append(frame)
            if focus_moved:
                w.event("ProtocolFocus", "10, 1.25")

The location chooses the target:

* ``*.h5`` -- a PYME ``.h5`` with ``/PZFImageData`` + ``/PZFImageIndex`` +
  ``/MetaData`` + ``/Events``, as PYME writes it (PYME opens it);
* ``*.h5`` with ``dataset="ImageData"`` (or any dataset path), ``*.hdf5``
  and ``*.hdf`` -- an HDF5 dataset ``(frames, x, y)`` with the PZF filter,
  one chunk per frame, written as pre-coded chunks;
* ``*.zarr`` -- a Zarr v3 array with the ``pzf`` codec, one chunk per frame;
* ``*.pcs`` (a directory, or a series path with ``roots=``/``servers=``),
  ``PYME-CLUSTER://filter/path`` or ``http://host:port/path`` -- a PYME
  cluster series on local data-server roots or on PYME data servers.

Durability
----------
:meth:`SeriesWriter.flush` returns when every frame appended before it is on
disk (``fsync``); :attr:`SeriesWriter.durable` then counts the frames, from the
first, that are durable.  The writer also flushes on its own every
``flush_frames`` frames or ``flush_seconds`` seconds.  Frames become visible
to readers only when they are durable: the HDF5 targets run in HDF5's SWMR
mode (a reader opens the file while it is written; a crash leaves it readable
up to the last flush), the Zarr target rewrites ``zarr.json`` atomically after
the chunks are on disk, a ``.pcs`` series stores one file per frame
(fsynced, or acknowledged by its server) and writes ``events.json`` only when
closed.  A series that was not closed reports itself incomplete
(:func:`spool_status`).
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple, Union

import h5py
import numpy as np

from .budget import loads_json
from .codec import Quantization, as_quantization, compress
from .chunks import encode_chunk
from .errors import (BadArgumentError, CorruptDataError, MissingFileError, QueueFullError,
                     SpoolError, UnsupportedFormatError)
from .hdf5 import PZF
from .options import COMPRESSIONS, Options
from .pyme._hdf import EVENTS_H5_DTYPE, set_str_attr, tag_group, tag_table, write_metadata
from .pyme.cluster import PCSWriter
from .pyme.h5 import PathLike, open_hdf5_file
from .pyme.pcs import resolve_location as pcs_location
from .pyme.pcs import is_pcs_location, open_pcs
from .pyme.series import make_events
from .pyme.writer import series_metadata, series_sequence_id

__all__ = ["SeriesWriter", "SpoolStats", "SpoolStatus", "spool_status", "recover"]

#: codings PYME's own reader decodes (raw only when lossless: see the README).
PYME_COMPRESSIONS = ("huffman", "raw")
#: root attributes of the HDF5 targets (on the dataset for the filter target).
DURABLE_ATTR = "pzfcodec_durable_frames"
COMPLETE_ATTR = "pzfcodec_complete"
_FRAME_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
_LIBVER = ("v110", "v110")  # SWMR needs >= 1.10; PyTables (PYME) reads it
#: PYME rows go to HDF5 in calls of about this many bytes (HDF5 copies them holding the GIL)
_BYTES_PER_WRITE = 1 << 20
#: commit at least every this many coded bytes (HDF5 holds them in memory until the flush)
_COMMIT_BYTES = 256 << 20
_MAX_ZARR_JSON = 64 << 20


@dataclass(frozen=True)
class SpoolStats:
    """Counters of a :class:`SeriesWriter` (see :attr:`SeriesWriter.stats`).

    Attributes
    ----------
    appended : int
        Frames taken by :meth:`~SeriesWriter.append`.
    coded : int
        Frames coded by the workers.
    written : int
        Frames handed to the target (not necessarily durable yet).
    durable : int
        Frames, from the first, that are on disk (or acknowledged).
    queue_frames, queue_bytes : int
        Frames (and their raw bytes) appended but not yet written.
    raw_bytes, coded_bytes : int
        Camera bytes coded so far, and their coded size.
    seconds : float
        Since the first append.
    mb_per_s : float
        Camera data coded per second (1e6 bytes), since the first append.
    ratio : float
        ``raw_bytes / coded_bytes`` (0 before the first frame is coded).
    """

    appended: int
    coded: int
    written: int
    durable: int
    queue_frames: int
    queue_bytes: int
    raw_bytes: int
    coded_bytes: int
    seconds: float
    mb_per_s: float
    ratio: float


@dataclass(frozen=True)
class SpoolStatus:
    """What a spooled series says about itself (see :func:`spool_status`).

    Attributes
    ----------
    complete : bool
        The writer closed it; False after a crash (or while it is written).
    durable : int
        Frames the writer recorded as durable.
    """

    complete: bool
    durable: int


# -- targets ---------------------------------------------------------------------------------
class _Target:
    """One kind of storage.  ``encode`` runs on the coding threads, the rest on the
    writer thread: ``start`` (first frame's layout), ``add`` (frames in order, not
    yet durable), ``commit`` (make every added frame durable and visible, with the
    events so far), ``close``."""

    needs_shape = False

    def encode(self, frame: np.ndarray, index: int) -> bytes:
        raise NotImplementedError

    def start(self, frame_shape: Tuple[int, ...], dtype: np.dtype) -> None:
        """Called with the first frame's shape and type, before ``add``."""

    def add(self, blob: bytes) -> None:
        raise NotImplementedError

    def commit(self, events: List[tuple]) -> None:
        raise NotImplementedError

    def fail(self) -> None:
        """After a failed ``add``/``commit``: forget what was not durable (best effort)."""

    def close(self, complete: bool) -> None:
        raise NotImplementedError


class _PymeBlobs:
    """Frames as PZF blobs that PYME reads (the PYME .h5 and .pcs targets)."""

    def _set_coding(self, compression: str, quantization: Optional[Quantization],
                    sequence_id: int) -> None:
        if compression not in PYME_COMPRESSIONS or (compression == "raw" and quantization):
            raise BadArgumentError(
                f"PYME cannot read {compression!r} frames{' when quantised' if quantization else ''}; "
                "use compression='huffman' for PYME targets (.h5, .pcs), or write an HDF5 dataset "
                "(dataset='ImageData') or a .zarr")
        self.compression, self.q, self.sequence_id = compression, quantization, sequence_id

    def encode(self, frame: np.ndarray, index: int) -> bytes:
        return compress(frame, self.compression, self.q, sequence_id=self.sequence_id,
                        frame_num=index)


def _chunk_options(compression: str, quantization: Optional[Quantization]) -> dict:
    return Options(quantization.offset if quantization else None,
                   quantization.scale if quantization else None,
                   compression=compression).kwargs()


def _fsync_h5(f: h5py.File) -> None:
    f.flush()
    os.fsync(f.id.get_vfd_handle())


def _shrink(ds: h5py.Dataset, shape: Tuple[int, ...]) -> None:
    """After a failed write: the extent back to what was durable (best effort)."""
    try:
        if ds.shape != shape:
            ds.resize(shape)
    except Exception:  # noqa: BLE001 - the write error is the one to report
        pass


def _event_rows(events: List[tuple]) -> np.ndarray:
    rows = np.empty(len(events), dtype=EVENTS_H5_DTYPE)
    for i, (name, descr, t) in enumerate(events):
        rows[i] = (descr.encode("utf-8")[:256], name.encode("utf-8")[:32], t)
    return rows


class _H5Target(_Target):
    """Common part of the HDF5 targets: PyTables-tagged file, metadata, /Events, SWMR."""

    def __init__(self, path: str, metadata: Mapping[str, Any], overwrite: bool) -> None:
        self.path = path
        self.durable = 0
        self.f = h5py.File(path, "w" if overwrite else "x", libver=_LIBVER)
        try:
            tag_group(self.f, root=True)
            write_metadata(self.f, metadata)
            self.events = self.f.create_dataset(
                "Events", shape=(0,), maxshape=(None,), chunks=(885,), dtype=EVENTS_H5_DTYPE,
                shuffle=True, compression="gzip", compression_opts=5)
            tag_table(self.events)
            self.status = self.f  # the node holding the durable/complete attributes
        except BaseException:
            self.f.close()
            raise

    def _go_swmr(self, hold_metadata: bool) -> None:
        self.status.attrs.create(DURABLE_ATTR, np.int64(0))
        self.status.attrs.create(COMPLETE_ATTR, np.int64(0))
        if hold_metadata:
            # keep every metadata change in memory until a flush writes it (HDF5 would
            # otherwise write some of it whenever its cache evicts an entry)
            cfg = self.f.id.get_mdc_config()
            cfg.incr_mode = cfg.flash_incr_mode = cfg.decr_mode = 0
            cfg.evictions_enabled = False
            self.f.id.set_mdc_config(cfg)
        self.f.swmr_mode = True
        _fsync_h5(self.f)

    def _publish(self, durable: int, events: List[tuple]) -> None:
        """The frames' data is on disk: record the count and the events, durably."""
        if events:
            n0 = self.events.shape[0]
            self.events.resize((n0 + len(events),))
            self.events[n0:] = _event_rows(events)
            self.events.attrs.modify("NROWS", np.int64(n0 + len(events)))
        self.status.attrs.modify(DURABLE_ATTR, np.int64(durable))
        _fsync_h5(self.f)
        self.durable = durable

    def close(self, complete: bool) -> None:
        try:
            if complete and self.f.swmr_mode:
                self.status.attrs.modify(COMPLETE_ATTR, np.int64(1))
                _fsync_h5(self.f)
        finally:
            self.f.close()


class _PymeH5Target(_PymeBlobs, _H5Target):
    """``/PZFImageData`` + ``/PZFImageIndex``: PYME's PZF layout.

    Blobs are appended to ``/PZFImageData`` as they come, into HDF5's metadata
    cache (the global heap; evictions off, so HDF5 does no disk I/O while it
    holds the GIL); a commit flushes and fsyncs them, then adds their
    ``/PZFImageIndex`` rows and fsyncs again.  Rows without an index row are
    not frames to any reader, so whatever a crash leaves of unpublished rows
    is refused, never decoded."""

    def __init__(self, path: str, metadata: Mapping[str, Any], overwrite: bool,
                 compression: str, quantization: Optional[Quantization], sequence_id: int) -> None:
        self._set_coding(compression, quantization, sequence_id)
        super().__init__(path, metadata, overwrite)
        self.pending: List[bytes] = []
        self.pending_bytes = 0
        try:
            self.data = self.f.create_dataset(
                "PZFImageData", shape=(0,), maxshape=(None,), chunks=(4096,),
                dtype=h5py.vlen_dtype(np.uint8))
            set_str_attr(self.data, "CLASS", b"VLARRAY")
            set_str_attr(self.data, "PSEUDOATOM", b"vlstring")
            set_str_attr(self.data, "TITLE", b"")
            set_str_attr(self.data, "VERSION", b"1.4")
            self.index = self.f.create_dataset(
                "PZFImageIndex", shape=(0,), maxshape=(None,), chunks=(8192,),
                dtype=[("FrameNum", "<i4"), ("Position", "<i4")],
                shuffle=True, compression="gzip", compression_opts=5)
            tag_table(self.index)
            self._go_swmr(hold_metadata=True)
        except BaseException:
            self.f.close()
            raise

    def add(self, blob: bytes) -> None:
        self.pending.append(blob)
        self.pending_bytes += len(blob)
        if self.pending_bytes >= _BYTES_PER_WRITE:
            self._write_rows()

    def _write_rows(self) -> None:
        k = len(self.pending)
        if k:
            n0 = self.data.shape[0]
            rows = np.empty(k, dtype=object)
            for j, blob in enumerate(self.pending):
                rows[j] = np.frombuffer(blob, dtype=np.uint8)
            self.data.resize((n0 + k,))
            self.data.write_direct(rows, dest_sel=np.s_[n0:n0 + k])
            self.pending, self.pending_bytes = [], 0

    def commit(self, events: List[tuple]) -> None:
        self._write_rows()
        n0, n = self.index.shape[0], self.data.shape[0]
        if n > n0:
            _fsync_h5(self.f)  # phase 1: the blobs are on disk
            self.index.resize((n,))
            rows = np.empty(n - n0, dtype=self.index.dtype)
            rows["FrameNum"] = rows["Position"] = np.arange(n0, n)
            self.index[n0:] = rows
            self.index.attrs.modify("NROWS", np.int64(n))
        self._publish(n, events)  # phase 2: index rows, events, count

    def fail(self) -> None:
        self.pending, self.pending_bytes = [], 0
        _shrink(self.data, (self.durable,))
        _shrink(self.index, (self.durable,))


class _FilterH5Target(_H5Target):
    """An HDF5 dataset ``(frames, x, y)`` with the PZF filter, one pre-coded chunk per frame.

    Chunks go straight to the file as they come; the dataset's extent, grown in
    HDF5's metadata cache, reaches the file only at a commit (evictions are off),
    after the chunks it shows, in the order SWMR mode keeps (chunk index before
    extent)."""

    needs_shape = True

    def __init__(self, path: str, metadata: Mapping[str, Any], overwrite: bool, dataset: str,
                 compression: str, quantization: Optional[Quantization]) -> None:
        self.opts = _chunk_options(compression, quantization)
        self.md = metadata
        self.name = dataset.strip("/") or "ImageData"
        super().__init__(path, metadata, overwrite)

    def encode(self, frame: np.ndarray, index: int) -> bytes:
        return encode_chunk(frame[np.newaxis], **self.opts)

    def start(self, frame_shape: Tuple[int, ...], dtype: np.dtype) -> None:
        o = self.opts
        self.frame_shape = tuple(frame_shape)
        self.origin = (0,) * len(self.frame_shape)
        ds = self.f.create_dataset(self.name, shape=(0,) + self.frame_shape,
                                   maxshape=(None,) + self.frame_shape,
                                   chunks=(1,) + self.frame_shape, dtype=dtype,
                                   **PZF(o["offset"], o["scale"], compression=o["compression"]))
        if self.name == "ImageData":  # PYME's EArray tags
            set_str_attr(ds, "CLASS", b"EARRAY", utf8=False)
            ds.attrs.create("EXTDIM", np.int32(0))
            set_str_attr(ds, "TITLE", b"", utf8=False)
            set_str_attr(ds, "VERSION", b"1.1", utf8=False)
            set_str_attr(ds, "DimOrder", str(self.md["DimOrder"]))
            for key in ("SizeC", "SizeZ", "SizeT"):
                ds.attrs.create(key, np.int64(self.md[key]))
        self.ds = self.status = ds
        self._go_swmr(hold_metadata=True)

    def add(self, blob: bytes) -> None:
        n = self.ds.shape[0]
        self.ds.resize((n + 1,) + self.frame_shape)
        self.ds.id.write_direct_chunk((n,) + self.origin, blob)

    def commit(self, events: List[tuple]) -> None:
        _fsync_h5(self.f)
        self._publish(self.ds.shape[0], events)

    def fail(self) -> None:
        if hasattr(self, "ds"):  # never leave frames in the extent that were not written
            _shrink(self.ds, (self.durable,) + self.frame_shape)

    def close(self, complete: bool) -> None:
        if not hasattr(self, "ds"):
            complete = False  # no frame: no dataset
        super().close(complete)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _ZarrTarget(_Target):
    """A Zarr v3 array ``(frames, x, y)`` with the ``pzf`` codec, one chunk per frame.

    Chunk files are written as they come; a commit fsyncs them and their
    directories, then replaces ``zarr.json`` (shape = durable frames,
    attributes ``pzfcodec_spool``, ``pyme_metadata``, ``pyme_events``)
    atomically."""

    needs_shape = True

    def __init__(self, path: str, metadata: Mapping[str, Any], overwrite: bool,
                 compression: str, quantization: Optional[Quantization]) -> None:
        self.opts = _chunk_options(compression, quantization)
        self.root = Path(path)
        self.md = {str(k): v for k, v in metadata.items()}
        self.events: List[list] = []
        self.n = self.durable = 0
        self.unsynced: List[Path] = []

    def encode(self, frame: np.ndarray, index: int) -> bytes:
        return encode_chunk(frame[np.newaxis], **self.opts)

    def start(self, frame_shape: Tuple[int, ...], dtype: np.dtype) -> None:
        import zarr  # only for this target (an optional dependency)

        from .zarr import PZF as ZarrPZF

        o = self.opts
        self.frame_shape = tuple(frame_shape)
        zarr.create_array(str(self.root), shape=(0,) + self.frame_shape,
                          chunks=(1,) + self.frame_shape, dtype=dtype,
                          serializer=ZarrPZF(o["offset"], o["scale"], compression=o["compression"]),
                          compressors=None, fill_value=0, overwrite=True)
        self.meta_path = self.root / "zarr.json"
        self.meta = json.loads(self.meta_path.read_text())
        self.rest = "/".join("0" * len(self.frame_shape))
        self._publish(complete=False)

    def add(self, blob: bytes) -> None:
        p = self.root / "c" / str(self.n) / self.rest
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(blob)
        self.unsynced.append(p)
        self.n += 1

    def commit(self, events: List[tuple]) -> None:
        dirs = set()
        for p in self.unsynced:
            _fsync_path(p)
            dirs.update(p.parents[:len(self.frame_shape) + 1])
        for d in sorted(dirs, key=lambda q: -len(q.parts)):
            _fsync_path(d, directory=True)
        self.unsynced = []
        self.events += [list(e) for e in events]
        self._publish(complete=False)

    def fail(self) -> None:
        self.n, self.unsynced = self.durable, []

    def _publish(self, complete: bool) -> None:
        self.meta["shape"] = [self.n, *self.frame_shape]
        attrs = self.meta.setdefault("attributes", {})
        attrs["pzfcodec_spool"] = {"complete": int(complete), "durable": self.n}
        attrs["pyme_metadata"] = _jsonable(self.md)
        attrs["pyme_events"] = self.events
        _write_atomic(self.meta_path, json.dumps(self.meta, indent=2).encode())
        _fsync_path(self.root, directory=True)
        self.durable = self.n

    def close(self, complete: bool) -> None:
        if hasattr(self, "meta"):
            self._publish(complete)


class _PcsTarget(_PymeBlobs, _Target):
    """A PYME cluster series (``.pcs``) on local roots or PYME data servers, through
    :class:`pzfcodec.pyme.cluster.PCSWriter`: ``metadata.json`` first, frames
    spread over the roots/servers in PYME's blocks of 50, ``final_metadata.json``
    and ``events.json`` (the mark of a complete series) when closed."""

    def __init__(self, location: PathLike, metadata: Mapping[str, Any], compression: str,
                 quantization: Optional[Quantization], sequence_id: int,
                 roots: Optional[List[Any]], servers: Any) -> None:
        self._set_coding(compression, quantization, sequence_id)
        self.md = dict(metadata)
        self.events: List[tuple] = []
        self.n = 0
        self.store, series, name = pcs_location(location, roots, servers)
        try:
            try:
                existing = self.store.list(series)
            except MissingFileError:
                existing = {}
            if existing:
                raise FileExistsError(f"{name} exists ({len(existing)} files); a series is "
                                      "written once: choose a new name")
            self.writer = PCSWriter(self.store, series)
            self.writer.put_metadata(self.md)
        except BaseException:
            self.store.close()
            raise

    def add(self, blob: bytes) -> None:
        self.writer.put_frame(self.n, blob)
        self.n += 1

    def commit(self, events: List[tuple]) -> None:
        self.writer.flush()  # local roots: fsynced; servers: acknowledged
        self.events += events

    def close(self, complete: bool) -> None:
        try:
            if complete:
                names, descrs, times = zip(*self.events) if self.events else ((), (), ())
                self.writer.finish(self.md, make_events(names, descrs, times))
        finally:
            try:
                self.writer.close()
            finally:
                self.store.close()


def _jsonable(md: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in md.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            v = repr(v)
        out[k] = v
    return out


def _make_target(location: PathLike, metadata: Mapping[str, Any], *, dataset: Optional[str],
                 compression: str, quantization: Optional[Quantization], sequence_id: int,
                 overwrite: bool, roots: Optional[List[Any]], servers: Any) -> _Target:
    if is_pcs_location(location) or (roots is not None or servers is not None) or \
            os.fspath(location).rstrip("/\\").lower().endswith(".pcs"):
        return _PcsTarget(location, metadata, compression, quantization, sequence_id, roots,
                          servers)
    path = os.fspath(location)
    suffix = Path(path.rstrip("/")).suffix.lower()
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} exists; choose a new name, or replace it with overwrite=True")
    if suffix == ".zarr":
        return _ZarrTarget(path, metadata, overwrite, compression, quantization)
    if suffix in (".hdf5", ".hdf") or (suffix == ".h5" and dataset):
        return _FilterH5Target(path, metadata, overwrite, dataset or "ImageData", compression,
                               quantization)
    if suffix == ".h5":
        return _PymeH5Target(path, metadata, overwrite, compression, quantization, sequence_id)
    raise BadArgumentError(
        f"cannot tell the target from {path!r}: use a name ending in .h5 (PYME), .h5 with "
        "dataset=... or .hdf5 (HDF5 with the PZF filter), .zarr (Zarr v3), or .pcs / "
        "PYME-CLUSTER:// / http:// (PYME cluster series)")


# -- the writer ------------------------------------------------------------------------------
_FLUSH, _FRAME, _EVENT, _CLOSE = range(4)


class SeriesWriter:
    """Stream frames into a series, coded in parallel, durable on request.

    Parameters
    ----------
    location : str or os.PathLike
        Where to write; the name chooses the target (see the module notes):
        ``.h5`` (PYME), ``.h5`` with ``dataset`` or ``.hdf5`` (HDF5 + PZF
        filter), ``.zarr`` (Zarr v3), ``.pcs``, ``PYME-CLUSTER://`` or
        ``http://`` (PYME cluster series).
    metadata : mapping, optional
        Flat PYME metadata (``{"Camera.ADOffset": 100.0, ...}``);
        ``DimOrder``, ``SizeC``, ``SizeZ``, ``SizeT`` get PYME's spooling
        defaults (``SizeT=-1``).
    quantization : Quantization or (offset, scale), optional
        Square-root quantisation (lossy); None is lossless.
    compression : str
        One of :data:`pzfcodec.options.COMPRESSIONS`.  PYME targets take
        ``"huffman"`` and lossless ``"raw"`` only (what PYME reads).
    threads : int
        Worker threads coding frames (default 2).
    dataset : str, optional
        HDF5 dataset for the PZF-filter target (e.g. ``"ImageData"``).
    max_queue_frames, max_queue_bytes : int
        Most frames (and raw bytes) appended but not yet written (default
        4096 frames, 1 GiB): the buffer that rides out a slow disk or server.
    on_full : {"block", "raise"}
        What :meth:`append` does when the queue is full: wait for room
        (default), or raise :class:`~pzfcodec.QueueFullError` at once
        without taking the frame (the caller may drop it and count).
    flush_frames, flush_seconds : int, float
        The writer makes frames durable on its own at least this often.
    sequence_id : int, optional
        SequenceID of every PZF header (default: metadata ``imageID`` or 0).
    overwrite : bool
        Replace an existing file; by default an existing location is refused
        (a ``.pcs`` series is never replaced).
    roots, servers : optional
        For a ``.pcs`` series: the data servers' roots as local directories
        (``location`` relative to them), or ``"host:port"`` addresses of PYME
        data servers (``location`` relative, ``PYME-CLUSTER://filter/path`` or
        ``http://host:port/path``); see :func:`pzfcodec.pyme.open_pcs`.

    Raises
    ------
    BadArgumentError
        An unknown target or option, or a coding the target cannot hold.
    FileExistsError, PermissionError, OSError
        The location cannot be created.
    """

    def __init__(self, location: PathLike, metadata: Optional[Mapping[str, Any]] = None, *,
                 quantization: Union[Quantization, Tuple[float, float], None] = None,
                 compression: str = "huffman", threads: int = 2, dataset: Optional[str] = None,
                 max_queue_frames: int = 4096, max_queue_bytes: int = 1 << 30,
                 on_full: str = "block", flush_frames: int = 256, flush_seconds: float = 1.0,
                 sequence_id: Optional[int] = None, overwrite: bool = False,
                 roots: Optional[List[Any]] = None, servers: Any = None) -> None:
        if compression not in COMPRESSIONS:
            raise BadArgumentError(
                f"compression must be one of {', '.join(map(repr, COMPRESSIONS))}; got {compression!r}")
        if on_full not in ("block", "raise"):
            raise BadArgumentError(f"on_full must be 'block' or 'raise', got {on_full!r}")
        for name, value, lo in (("threads", threads, 1), ("max_queue_frames", max_queue_frames, 1),
                                ("max_queue_bytes", max_queue_bytes, 1),
                                ("flush_frames", flush_frames, 1)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
                raise BadArgumentError(f"{name} must be an integer >= {lo}, got {value!r}")
        if not (isinstance(flush_seconds, (int, float)) and flush_seconds > 0):
            raise BadArgumentError(f"flush_seconds must be a number > 0, got {flush_seconds!r}")
        q = as_quantization(quantization)
        md = series_metadata(metadata)
        sequence_id = series_sequence_id(md, sequence_id)
        self.location = os.fspath(location)
        self._target = _make_target(location, md, dataset=dataset, compression=compression,
                                    quantization=q, sequence_id=sequence_id, overwrite=overwrite,
                                    roots=roots, servers=servers)
        self.quantization, self.compression = q, compression
        self._on_full = on_full
        self._max_frames, self._max_bytes = int(max_queue_frames), int(max_queue_bytes)
        self._flush_frames, self._flush_seconds = int(flush_frames), float(flush_seconds)
        self._cond = threading.Condition()
        self._append_lock = threading.Lock()
        self._queue: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(int(threads), thread_name_prefix="pzf-spool-code")
        self._buffers: List[np.ndarray] = []  # frame copies to reuse (list.pop/append are atomic)
        self._frame_shape: Optional[Tuple[int, ...]] = None
        self._dtype: Optional[np.dtype] = None
        self._appended = self._coded = self._written = self._durable = 0
        self._queue_frames = self._queue_bytes = 0
        self._raw_bytes = self._coded_bytes = 0
        self._t0: Optional[float] = None
        self._error: Optional[BaseException] = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="pzf-spool-write", daemon=True)
        self._thread.start()

    # -- caller side -------------------------------------------------------------------------
    def append(self, frame: np.ndarray, *, copy: bool = True) -> int:
        """Queue one frame; coding and writing happen on other threads.

        Parameters
        ----------
        frame : numpy.ndarray
            2-D ``(x, y)`` uint8, uint16 or float32; every frame has the first
            frame's shape and type.
        copy : bool
            Copy the frame (default), so the caller may reuse its buffer at
            once.  With ``copy=False`` the caller must not change the array
            until :attr:`stats` counts it as written.

        Returns
        -------
        int
            The frame's number (0 for the first).

        Raises
        ------
        QueueFullError
            ``on_full="raise"`` and the queue is full; the frame was not taken.
        SpoolError
            An earlier write failed (the message states the durable frames),
            or the writer is closed.
        BadArgumentError
            A frame of another shape or type, or not 2-D.
        """
        self._check()
        arr = np.asarray(frame)
        if arr.ndim != 2:
            raise BadArgumentError(f"frames are 2-D (x, y) arrays, got shape {arr.shape}")
        dtype = arr.dtype.newbyteorder("=")
        if dtype not in _FRAME_TYPES:
            raise BadArgumentError(
                f"PZF stores uint8, uint16 or float32 frames, got {arr.dtype}; convert with "
                "frame.astype(...) first")
        if self._frame_shape is None:
            if 0 in arr.shape:
                raise BadArgumentError(f"frames of shape {arr.shape} hold no pixels")
            self._frame_shape, self._dtype = tuple(arr.shape), dtype
        elif arr.shape != self._frame_shape or dtype != self._dtype:
            raise BadArgumentError(
                f"every frame must be {self._frame_shape} {self._dtype} like the first; got "
                f"{arr.shape} {arr.dtype}")
        nbytes = arr.nbytes
        with self._append_lock:
            with self._cond:
                while self._queue_frames >= self._max_frames or \
                        (self._queue_frames and self._queue_bytes + nbytes > self._max_bytes):
                    if self._on_full == "raise":
                        raise QueueFullError(
                            f"the spool queue is full ({self._queue_frames} frames, "
                            f"{self._queue_bytes} bytes); the frame was not taken",
                            self._durable)
                    self._cond.wait()
                    self._check()
                self._queue_frames += 1
                self._queue_bytes += nbytes
                index = self._appended
                self._appended += 1
                if self._t0 is None:
                    self._t0 = time.perf_counter()
            try:
                pooled = copy or not arr.flags.c_contiguous or not arr.dtype.isnative
                if pooled:  # into a buffer of an earlier frame: warm memory, no page faults
                    try:
                        buf = self._buffers.pop()
                    except IndexError:
                        buf = np.empty(arr.shape, dtype)
                    np.copyto(buf, arr)
                    arr = buf
                fut = self._pool.submit(self._encode, arr, index, pooled)
            except BaseException:  # e.g. out of memory, Ctrl-C: the frame was not taken
                with self._cond:
                    self._appended -= 1
                self._release(nbytes)
                raise
            fut.add_done_callback(self._on_coded)
            self._queue.put((_FRAME, index, fut, nbytes))
        return index

    def _on_coded(self, fut: "Future[bytes]") -> None:
        if not fut.cancelled() and fut.exception() is None:
            with self._cond:
                self._coded += 1

    def _encode(self, frame: np.ndarray, index: int, pooled: bool) -> bytes:
        try:
            return self._target.encode(frame, index)
        finally:
            if pooled:  # kept for the next frames: at most what the queue held at once
                self._buffers.append(frame)

    def event(self, name: str, description: str = "", timestamp: Optional[float] = None) -> None:
        """Log an event (PYME's ``/Events``), in order with the frames.

        Parameters
        ----------
        name : str
            Event name (PYME keeps 32 bytes of UTF-8).
        description : str
            Text (256 bytes kept), e.g. ``"10, 1.25"`` for ``ProtocolFocus``.
        timestamp : float, optional
            Seconds since the epoch (default: now).
        """
        self._check()
        t = time.time() if timestamp is None else float(timestamp)
        with self._append_lock:
            self._queue.put((_EVENT, (str(name), str(description), t)))

    def flush(self) -> int:
        """Make every frame appended so far durable; returns :attr:`durable`.

        Raises
        ------
        SpoolError
            Writing failed; the message states the durable frames.
        """
        self._check()
        done = threading.Event()
        self._queue.put((_FLUSH, done))
        done.wait()
        self._check()
        return self._durable

    def close(self) -> None:
        """Write everything, mark the series complete and close it.

        Raises
        ------
        SpoolError
            Writing failed; what was durable stays readable.
        """
        if self._closed:
            return
        self._closed = True
        self._queue.put((_CLOSE,))
        self._thread.join()
        self._pool.shutdown(wait=True)
        self._raise_error()

    def __enter__(self) -> "SeriesWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def durable(self) -> int:
        """Frames, counted from the first, that are durable."""
        return self._durable

    @property
    def stats(self) -> SpoolStats:
        """The writer's counters now (a :class:`SpoolStats`)."""
        with self._cond:
            seconds = time.perf_counter() - self._t0 if self._t0 is not None else 0.0
            return SpoolStats(
                appended=self._appended, coded=self._coded, written=self._written,
                durable=self._durable, queue_frames=self._queue_frames,
                queue_bytes=self._queue_bytes, raw_bytes=self._raw_bytes,
                coded_bytes=self._coded_bytes, seconds=seconds,
                mb_per_s=self._raw_bytes / 1e6 / seconds if seconds > 0 else 0.0,
                ratio=self._raw_bytes / self._coded_bytes if self._coded_bytes else 0.0)

    def _check(self) -> None:
        self._raise_error()
        if self._closed:
            raise SpoolError(f"the writer of {self.location} is closed", self._durable)

    def _raise_error(self) -> None:
        exc = self._error
        if exc is not None:
            raise SpoolError(
                f"writing {self.location} failed after {self._durable} durable frames "
                f"(frames 0..{self._durable - 1} are safe, later ones are lost): "
                f"{type(exc).__name__}: {exc}", self._durable) from exc

    # -- writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        uncommitted = uncommitted_bytes = 0
        events: List[tuple] = []
        last = time.monotonic()
        started = False
        while True:
            timeout = None
            if uncommitted or events:
                timeout = max(0.0, last + self._flush_seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = (_FLUSH, None)
            kind = item[0]
            if self._error is not None:  # failed: drain, freeing the callers
                if kind == _FRAME:
                    item[2].cancel()
                    self._release(item[3])
                elif kind == _FLUSH and item[1] is not None:
                    item[1].set()
                elif kind == _CLOSE:
                    self._close_target(False)
                    return
                continue
            try:
                if kind == _FRAME:
                    _, index, fut, nbytes = item
                    try:
                        blob = fut.result()
                        if not started:
                            self._target.start(self._frame_shape, self._dtype)
                            started = True
                        self._target.add(blob)
                    finally:
                        self._release(nbytes)
                    uncommitted += 1
                    uncommitted_bytes += len(blob)
                    with self._cond:
                        self._written += 1
                        self._raw_bytes += nbytes
                        self._coded_bytes += len(blob)
                    if uncommitted >= self._flush_frames or uncommitted_bytes >= _COMMIT_BYTES or \
                            time.monotonic() - last >= self._flush_seconds:
                        kind = _FLUSH
                        item = (_FLUSH, None)
                elif kind == _EVENT:
                    events.append(item[1])
                if kind in (_FLUSH, _CLOSE):
                    if (uncommitted or events) and (started or not self._target.needs_shape):
                        self._target.commit(events)
                        with self._cond:
                            self._durable += uncommitted
                        uncommitted = uncommitted_bytes = 0
                        events = []
                    last = time.monotonic()
                    if kind == _FLUSH and item[1] is not None:
                        item[1].set()
                if kind == _CLOSE:
                    self._close_target(True)
                    return
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                self._error = exc
                self._target.fail()
                if kind == _FLUSH and item[1] is not None:
                    item[1].set()
                with self._cond:
                    self._cond.notify_all()
                if kind == _CLOSE:
                    self._close_target(False)
                    return

    def _release(self, nbytes: int) -> None:
        with self._cond:
            self._queue_frames -= 1
            self._queue_bytes -= nbytes
            self._cond.notify_all()

    def _close_target(self, complete: bool) -> None:
        try:
            self._target.close(complete)
        except BaseException as exc:  # noqa: BLE001
            if self._error is None:
                self._error = exc


# -- after the fact ----------------------------------------------------------------------------
def spool_status(location: PathLike, *, roots: Optional[List[Any]] = None,
                 servers: Any = None) -> SpoolStatus:
    """Whether a spooled series was closed, and how many frames were durable.

    Parameters
    ----------
    location : str or os.PathLike
        A series written by :class:`SeriesWriter`.
    roots, servers : optional
        For a ``.pcs`` series, as for :class:`SeriesWriter`.

    Returns
    -------
    SpoolStatus
        For ``.h5``/``.hdf5``/``.zarr`` the count the writer recorded at its
        last flush; for ``.pcs`` (whose completeness is ``events.json``, as
        PYME decides it) the frames present from frame 0 without a gap.

    Raises
    ------
    UnsupportedFormatError
        Not a series written by :class:`SeriesWriter`.
    """
    path = os.fspath(location)
    if is_pcs_location(path) or roots is not None or servers is not None or \
            path.rstrip("/\\").lower().endswith(".pcs"):
        with open_pcs(path, roots=roots, servers=servers) as s:
            missing = s.missing_frames
            return SpoolStatus(bool(s.complete), int(missing[0]) if len(missing) else len(s))
    if Path(path.rstrip("/")).suffix.lower() == ".zarr":
        meta = Path(path) / "zarr.json"
        if meta.stat().st_size > _MAX_ZARR_JSON:
            raise CorruptDataError(f"{meta} is larger than {_MAX_ZARR_JSON} bytes")
        st = loads_json(meta.read_bytes(), str(meta))
        st = st.get("attributes", {}).get("pzfcodec_spool") if isinstance(st, dict) else None
        return _status(path, st.get("complete") if isinstance(st, dict) else None,
                       st.get("durable") if isinstance(st, dict) else None)
    with open_hdf5_file(path) as f:
        for node in [f] + [v for v in f.values() if isinstance(v, h5py.Dataset)]:
            if DURABLE_ATTR in node.attrs:
                return _status(path, node.attrs.get(COMPLETE_ATTR), node.attrs[DURABLE_ATTR])
    return _status(path, None, None)


def _status(path: str, complete: Any, durable: Any) -> SpoolStatus:
    """The recorded values, if they are what SeriesWriter records."""
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 0
             for v in (complete, durable))
    if not ok:
        raise UnsupportedFormatError(f"{path} was not written by SeriesWriter (no spooling record)")
    return SpoolStatus(bool(complete), int(durable))


def _lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` with initval 0 (HDF5's metadata checksum)."""
    m = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & m

    length = len(data)
    a = b = c = (0xDEADBEEF + length) & m
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & m
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & m
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & m
        a = (a - c) & m; a ^= rot(c, 4); c = (c + b) & m  # noqa: E702
        b = (b - a) & m; b ^= rot(a, 6); a = (a + c) & m  # noqa: E702
        c = (c - b) & m; c ^= rot(b, 8); b = (b + a) & m  # noqa: E702
        a = (a - c) & m; a ^= rot(c, 16); c = (c + b) & m  # noqa: E702
        b = (b - a) & m; b ^= rot(a, 19); a = (a + c) & m  # noqa: E702
        c = (c - b) & m; c ^= rot(b, 4); b = (b + a) & m  # noqa: E702
        i += 12
        length -= 12
    if length == 0:
        return c
    tail = data[i:] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & m
    b = (b + int.from_bytes(tail[4:8], "little")) & m
    c = (c + int.from_bytes(tail[8:12], "little")) & m
    c ^= b; c = (c - rot(b, 14)) & m  # noqa: E702
    a ^= c; a = (a - rot(c, 11)) & m  # noqa: E702
    b ^= a; b = (b - rot(a, 25)) & m  # noqa: E702
    c ^= b; c = (c - rot(b, 16)) & m  # noqa: E702
    a ^= c; a = (a - rot(c, 4)) & m  # noqa: E702
    b ^= a; b = (b - rot(a, 14)) & m  # noqa: E702
    c ^= b; c = (c - rot(b, 24)) & m  # noqa: E702
    return c


def recover(location: PathLike) -> bool:
    """Let every HDF5 program open a spooled ``.h5`` whose writer crashed.

    HDF5 marks a file open for writing in its superblock; after a crash
    (``kill -9``, power loss) other programs, PYME included, refuse to open
    it until the mark is cleared (HDF5's ``h5clear -s`` does the same).
    pzfcodec's own readers open such files without this.  The file's
    contents are not changed; it stays marked incomplete.

    Parameters
    ----------
    location : str or os.PathLike
        An HDF5 file written by :class:`SeriesWriter`, not open in a writer.

    Returns
    -------
    bool
        True if a mark was cleared, False if the file was clean.

    Raises
    ------
    UnsupportedFormatError
        Not an HDF5 file with a version 2 or 3 superblock at offset 0.
    CorruptDataError
        The superblock's checksum does not match.
    """
    path = os.fspath(location)
    with open(path, "r+b") as fh:
        head = fh.read(48)
        if head[:8] != b"\x89HDF\r\n\x1a\n" or len(head) < 12 or head[8] not in (2, 3):
            raise UnsupportedFormatError(
                f"{path} is not an HDF5 file with a version 2/3 superblock at its start")
        size = 12 + 4 * head[9]
        block = head[:size + 4]
        if len(block) < size + 4 or _lookup3(block[:size]) != int.from_bytes(block[size:], "little"):
            raise CorruptDataError(f"{path}: the HDF5 superblock checksum does not match")
        if block[11] == 0:
            return False
        fixed = block[:11] + b"\0" + block[12:size]
        fh.seek(0)
        fh.write(fixed + _lookup3(fixed).to_bytes(4, "little"))
        fh.flush()
        os.fsync(fh.fileno())
    return True
