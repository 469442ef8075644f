"""``pzfcodec info``: describe any file pzfcodec reads."""
from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List, Optional

import numpy as np

from .codec import read_header
from .errors import PZFError
from .pyme import BivariateSpline, H5RFile, Series, VoxelSize
from .pyme import open as open_any
from .pyme.npy import load_npy
from .pyme.pcs import frame_ranges, is_pcs_location
from .pyme.safe_pickle import bounded_repr
from .pyme.sidecar import find_sidecar

__all__ = ["describe", "add_parser"]

#: metadata shown without ``--metadata`` (prefixes of dotted keys)
_SUMMARY_KEYS = ("Camera.ADOffset", "Camera.ElectronsPerCount", "Camera.ReadNoise", "Camera.TrueEMGain",
                 "Camera.IntegrationTime", "Camera.Name", "voxelsize.", "DimOrder", "SizeC", "SizeZ", "SizeT",
                 "StartTime", "Sample.", "imageID")


def _short(value: Any, width: int = 70) -> str:
    if isinstance(value, np.ndarray) and value.size <= 1000:
        value = value.tolist()
    text = str(value) if isinstance(value, (str, np.generic)) else bounded_repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _metadata_lines(md: Dict[str, Any], everything: bool,
                    sizes: Optional[Dict[str, int]] = None) -> List[str]:
    keys = sorted(md) if everything else [k for k in sorted(md) if k.startswith(_SUMMARY_KEYS)]
    more = "" if everything or len(keys) == len(md) else f" (showing {len(keys)}; --metadata shows all)"
    lines = [f"metadata:    {len(md)} entries{more}"]
    for k in keys:
        text = _short(md[k])
        axis = k[4:].lower() if k in ("SizeC", "SizeZ", "SizeT") else None
        if sizes and axis in sizes and text.strip() == "-1":  # PYME's "as many as the frames"
            text += f" (from the number of frames: {sizes[axis]})"
        lines.append(f"  {k} = {text}")
    return lines


def _events_lines(events: np.ndarray, limit: int) -> List[str]:
    lines = [f"events:      {len(events)}"]
    for e in events[:limit]:
        lines.append(f"  {e['Time']:.3f}  {e['EventName']}  {_short(e['EventDescr'], 50)}")
    if len(events) > limit:
        lines.append(f"  ... {len(events) - limit} more")
    return lines


def _pyramid_lines(path: str, pyramid: Any, everything: bool) -> List[str]:
    """Lines describing a PYME tile pyramid directory."""
    size = sum(os.path.getsize(p) for level in pyramid.levels for p in level.tiles.values())
    ps = pyramid.pixel_size
    lines = [f"file:        {path} (directory, {size / 1e6:.3f} MB of tiles)",
             f"kind:        {pyramid.kind}",
             f"tiles:       {pyramid.tile_size} x {pyramid.tile_size} float32, "
             f"{sum(len(level.tiles) for level in pyramid.levels)} present",
             f"pixel size:  {'unknown' if ps is None else f'{ps:g} um'} at level 0, origin "
             f"({pyramid.origin[0]:g}, {pyramid.origin[1]:g}) um"]
    for level in pyramid.levels:
        lines.append(f"  level {level.level}: {level.shape} (x, y), {len(level.tiles)} tiles")
    return lines + _metadata_lines(pyramid.metadata, True)


def describe(path: "os.PathLike[str] | str", *, metadata: bool = False, events: int = 10) -> str:
    """A human-readable description of a file (what ``pzfcodec info`` prints).

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`pzfcodec.open` reads, a PZF frame, or a ``.npy`` stack.
    metadata : bool, optional
        List every metadata entry (default: a summary).
    events : int, optional
        How many events to list.

    Returns
    -------
    str
        Lines of ``name: value``.

    Raises
    ------
    PZFError
        The file is damaged, unsupported or unsafe (see the subclasses).
    """
    path = os.fspath(path)
    pcs = open_any(path) if is_pcs_location(path) else None  # a cluster series: directory or URL
    if os.path.isdir(path) and pcs is None:
        return "\n".join(_pyramid_lines(path, open_any(path), metadata))
    size = pcs.stored_bytes if pcs is not None else os.path.getsize(path)
    lines = [f"{'series:' if pcs is not None else 'file:':<13}{path} ({size / 1e6:.3f} MB)"]
    if path.lower().endswith(".npy") and find_sidecar(path) is None:
        arr = load_npy(path)
        lines.append("kind:        numpy array (uncompressed; pzfcodec convert compresses it)")
        lines.append(f"shape:       {arr.shape}")
        lines.append(f"dtype:       {arr.dtype}")
        return "\n".join(lines)
    if pcs is not None:
        obj = pcs
    else:
        with open(path, "rb") as fh:
            head = fh.read(64 + 4096)
        obj = None if head.startswith(b"BD") else open_any(path)  # a PZF frame: its header suffices
    if obj is None:
        h = read_header(head)
        q = h.quantization
        lines.append("kind:        PZF frame")
        lines.append(f"shape:       {h.shape} (width, height, depth), {h.dtype}, order {h.dim_order}")
        lines.append(f"compression: {h.compression}, " + (
            "lossless" if q is None else f"sqrt-quantised (offset {q.offset:g}, scale {q.scale:g})"))
        lines.append(f"header:      version {h.version}, sequence {h.sequence_id}, frame {h.frame_num}, "
                     f"timestamp {h.timestamp}")
        lines.append(f"size:        {h.decoded_size / 1e6:.3f} MB decoded, ratio {h.decoded_size / max(size, 1):.2f}")
    elif isinstance(obj, Series):
        with obj as s:
            raw = int(np.prod(s.shape)) * s.dtype.itemsize
            lines.append(f"kind:        image series ({getattr(s, 'kind', type(s).__name__)})")
            lines.append(f"shape:       {s.shape} (frames, x, y)")
            lines.append(f"dtype:       {s.dtype}")
            storage = getattr(s, "storage", None)
            if storage:
                lines.append(f"compression: {storage}")
            missing = getattr(s, "missing_frames", None)
            if missing is not None:
                state = "complete" if s.complete else "incomplete (no events.json: being acquired, or interrupted)"
                lines.append(f"frames:      {len(s) - missing.size} stored, {missing.size} missing "
                             f"({frame_ranges(missing)}); {state}")
            lines.append(f"size:        {raw / 1e6:.3f} MB raw, ratio {raw / max(size, 1):.2f}")
            sizes = None
            try:
                sizes = s.sizes
                lines.append(f"dimensions:  DimOrder XY{s.dim_order}, SizeZ {sizes['z']}, SizeT {sizes['t']}, "
                             f"SizeC {sizes['c']}")
            except (PZFError, ValueError):
                pass
            lines += _metadata_lines(s.metadata, metadata, sizes if s.has_dimensions else None)
            lines += _events_lines(s.events, events)
    elif isinstance(obj, H5RFile):
        with obj as r:
            kinds = {r.table_kind(name) for name in r.keys()}
            lines.append("kind:        " + ("localisation results" if kinds <= {"pyme"} else
                                         "tables (" + ", ".join(sorted(kinds)) + ")"))
            for name in r.keys():
                table = r[name]
                if isinstance(table, list):
                    lines.append(f"table:       {name}: {len(table)} ragged rows (JSON values)")
                    continue
                lines.append(f"table:       {name}: {len(table)} rows, {table.dtype.itemsize} bytes/row, "
                             f"columns {', '.join(table.dtype.names)}")
            lines += _metadata_lines(r.metadata, metadata)
            lines += _events_lines(r.events, events)
    elif isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], VoxelSize):
        psf, vs = obj
        nm = vs.to_nm()
        lines.append("kind:        point-spread function")
        lines.append(f"shape:       {psf.shape} (x, y, z), {psf.dtype}")
        lines.append(f"voxel size:  {vs.x:g} x {vs.y:g} x {vs.z:g} {vs.units} = "
                     f"{nm.x:g} x {nm.y:g} x {nm.z:g} nm")
    elif isinstance(obj, tuple) and all(isinstance(s, BivariateSpline) for s in obj):
        lines.append("kind:        shift field (dx, dy splines, nm)")
        for name, sp in zip(("dx", "dy"), obj):
            lines.append(f"  {name}: {sp!r}")
    elif isinstance(obj, dict):  # a metadata sidecar (.json/.md/.xml)
        lines.append("kind:        PYME metadata sidecar")
        lines += _metadata_lines(obj, metadata)
    else:
        lines.append(f"kind:        {type(obj).__name__}")
        if hasattr(obj, "close"):
            obj.close()
    return "\n".join(lines)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pzfcodec info``."""
    p = subparsers.add_parser(
        "info", help="describe a PYME or PZF file",
        description="Describe a file: kind, shape, dtype, compression, metadata summary and events. "
                    "Reads .h5 (image series), .h5r (results), .pzf, .psf, .sf, .tif and .npy (+ sidecar), "
                    ".json, .md and .xml files, and PYME cluster series (.pcs directories, "
                    "PYME-CLUSTER:// and http:// URLs, servers from PZFCODEC_PYME_SERVERS); pickles are "
                    "read safely and nothing in a file is executed.")
    p.add_argument("path", help="file, .pcs directory or cluster URL to describe")
    p.add_argument("--metadata", action="store_true", help="print every metadata entry")
    p.add_argument("--events", type=int, default=10, metavar="N", help="print up to N events (default 10)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Entry point of ``pzfcodec info``; returns the exit code."""
    print(describe(args.path, metadata=args.metadata, events=args.events))  # errors: pzfcodec.cli
    return 0
