"""PYME tile pyramids (``.tiles`` directories of tiled stage scans).

PYME's ``PYME.Analysis.tile_pyramid.ImagePyramid`` stores a large 2-D
mosaic as square float32 tiles at several levels of detail: level 0 at full
resolution, each next level the 2x2 mean of the one below.  On disk:

* ``metadata.json``: ``Pyramid.TileSize``, ``Pyramid.Depth`` (the last level),
  ``Pyramid.NTilesX/Y``, ``Pyramid.PixelSize`` (um), ``Pyramid.x0/y0``
  (stage origin, um), ``Pyramid.Backend`` and ``Pyramid.KeySchema``;
* one file per tile, named by ``Pyramid.KeySchema``: in current PYME
  ``{level}/{z:03d}/{x:03d}/{y:03d}_img.pzf``, in older pyramids (no
  ``KeySchema``) ``{level}/{x:03d}/{x:03d}_{y:03d}_img.pzf``.  A ``.pzf``
  tile is a PZF blob of a ``(TileSize, TileSize)`` float32 array (first axis
  x); ``NumpyTileIO`` pyramids hold ``.npy`` tiles instead.  Tiles never
  imaged are simply absent and read as zeros;
* in recent PYME, a Zarr v2 description (``.zgroup``, ``.zattrs`` with
  ``multiscales``, ``<level>/.zarray`` with the compressor
  ``{"id": "pyme-pzf"}``), not needed here.

:func:`open_tile_pyramid` reads one as a list of lazy levels; each level is
indexed like a 2-D numpy array ``(x, y)`` and reads only the tiles a
selection touches.  A level spans every tile present in it (PYME's own
``PyramidLayer`` is ``NTilesX * TileSize`` wide, which can leave out the last
column or row of tiles; its ``.zarray`` shapes include them, as here).
"""
from __future__ import annotations

import builtins
import os
import re
import stat
import string
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from ..budget import BudgetLike, ReadBudget
from ..codec import decompress
from ..errors import CorruptDataError, DataTooLargeError, PZFError, UnsupportedFormatError
from .sidecar import read_metadata

__all__ = ["TilePyramid", "PyramidLevel", "open_tile_pyramid", "is_tile_pyramid"]

PathLike = Union[str, "os.PathLike[str]"]

#: PYME's key schemas: current (with a z level) and the one of pyramids without Pyramid.KeySchema.
KEY_SCHEMA = "{level:d}/{z:03d}/{x:03d}/{y:03d}_{suff}{ext}"
LEGACY_KEY_SCHEMA = "{level:d}/{x:03d}/{x:03d}_{y:03d}_{suff}{ext}"
_BACKEND_EXT = {"PZFTileIO": ".pzf", "ClusterPZFTileIO": ".pzf", "NumpyTileIO": ".npy"}
_MAX_TILE_SIZE = 1 << 13  # 256 MiB of float32 per tile; PYME uses 256
_MAX_LEVEL = 64


def is_tile_pyramid(path: PathLike) -> bool:
    """Whether ``path`` is a directory holding a PYME pyramid's ``metadata.json``
    with ``Pyramid.TileSize`` (any directory name; PYME's end in ``.tiles``)."""
    meta = Path(path) / "metadata.json"
    if not meta.is_file():
        return False
    with builtins.open(meta, "rb") as fh:
        return b'"Pyramid.TileSize"' in fh.read(1 << 20)


def _schema_regex(schema: str, suffix: str, ext: str, where: str) -> "re.Pattern[str]":
    """A regex matching the tile paths ``schema`` produces (fields level, z, x, y as ints)."""
    parts, seen = [], set()
    try:
        parsed = list(string.Formatter().parse(schema))
    except ValueError as exc:
        raise UnsupportedFormatError(f"{where}: Pyramid.KeySchema {schema!r} is not a valid pattern ({exc})") from None
    for literal, field, spec, conv in parsed:
        parts.append(re.escape(literal))
        if field is None:
            continue
        if conv or field not in ("level", "z", "x", "y", "suff", "ext"):
            raise UnsupportedFormatError(f"{where}: Pyramid.KeySchema {schema!r} uses {{{field}}}; "
                                         "PYME's schemas use level, z, x, y, suff and ext")
        if field in ("suff", "ext"):
            parts.append(re.escape(suffix if field == "suff" else ext))
        elif field in seen:
            parts.append(f"(?P={field})")
        else:
            if not re.fullmatch(r"0?\d?d", spec or ""):
                raise UnsupportedFormatError(f"{where}: Pyramid.KeySchema field {{{field}:{spec}}} is not an integer")
            seen.add(field)
            parts.append(f"(?P<{field}>\\d{{1,9}})")
    if not {"level", "x", "y"} <= seen:
        raise UnsupportedFormatError(f"{where}: Pyramid.KeySchema {schema!r} does not name level, x and y")
    return re.compile("".join(parts))


class PyramidLevel:
    """One level of a :class:`TilePyramid`: a lazy float32 plane ``(x, y)``.

    ``level[a:b, c:d]`` reads only the tiles it touches (missing tiles are
    zeros); ``np.asarray(level)`` reads the whole plane; :meth:`tile` one
    tile.  Integer indices and slice steps work as in numpy.

    Attributes
    ----------
    level : int
        0 is full resolution; level ``n`` has pixels ``2**n`` times larger.
    shape : (int, int)
        Every tile present, from tile (0, 0): ``(tiles in x, tiles in y) * tile size``.
    tiles : dict
        ``{(tile x, tile y): path}`` of the tiles present.
    """

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, pyramid: "TilePyramid", level: int, tiles: Dict[Tuple[int, int], str]) -> None:
        self.pyramid = pyramid
        self.level = level
        self.tiles = tiles
        ts = pyramid.tile_size
        nx = max((x for x, _ in tiles), default=-1) + 1
        ny = max((y for _, y in tiles), default=-1) + 1
        self.shape = (nx * ts, ny * ts)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<PyramidLevel {self.level} shape={self.shape} tiles={len(self.tiles)}>"

    def tile(self, x: int, y: int) -> Optional[np.ndarray]:
        """Tile ``(x, y)`` as a ``(tile size, tile size)`` float32 array, or None if absent."""
        path = self.tiles.get((x, y))
        return None if path is None else self.pyramid._read_tile(path)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:, :]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > 2 or any(k is Ellipsis for k in key):
            key = tuple(k for k in key if k is not Ellipsis)
            if len(key) > 2:
                raise IndexError(f"a pyramid level is 2-D; got {len(key)} indices")
        key = key + (slice(None),) * (2 - len(key))
        ranges, squeeze = [], []
        for k, n in zip(key, self.shape):
            if isinstance(k, slice):
                ranges.append(range(*k.indices(n)))
                squeeze.append(False)
            else:
                i = int(k)
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of range for a level of size {n}")
                i += n if i < 0 else 0
                ranges.append(range(i, i + 1))
                squeeze.append(True)
        rx, ry = ranges
        ReadBudget(self.pyramid.max_decoded_size).charge_bytes(len(rx) * len(ry) * 4, "the selected region")
        out = np.zeros((len(rx), len(ry)), np.float32)
        if len(rx) and len(ry):
            ts = self.pyramid.tile_size
            x0, x1 = min(rx[0], rx[-1]), max(rx[0], rx[-1]) + 1
            y0, y1 = min(ry[0], ry[-1]), max(ry[0], ry[-1]) + 1
            xs, ys = np.asarray(rx), np.asarray(ry)
            for tx in range(x0 // ts, (x1 - 1) // ts + 1):
                for ty in range(y0 // ts, (y1 - 1) // ts + 1):
                    if (tx, ty) not in self.tiles:
                        continue
                    ix = np.flatnonzero((xs >= tx * ts) & (xs < (tx + 1) * ts))
                    iy = np.flatnonzero((ys >= ty * ts) & (ys < (ty + 1) * ts))
                    if len(ix) and len(iy):
                        t = self.tile(tx, ty)
                        out[np.ix_(ix, iy)] = t[np.ix_(xs[ix] - tx * ts, ys[iy] - ty * ts)]
        if squeeze[0] and squeeze[1]:
            return out[0, 0]
        return out[0] if squeeze[0] else out[:, 0] if squeeze[1] else out


class TilePyramid:
    """A PYME tile pyramid; see :func:`open_tile_pyramid`.

    Attributes
    ----------
    path : pathlib.Path
        The pyramid's directory.
    metadata : dict
        ``metadata.json`` (flat dotted keys).
    tile_size : int
        Tile edge in pixels (``Pyramid.TileSize``).
    levels : list of PyramidLevel
        Level 0 (full resolution) first, up to ``Pyramid.Depth``; a level
        with no tile has shape ``(0, 0)``.
    pixel_size : float or None
        Level-0 pixel size in um (``Pyramid.PixelSize``).
    origin : (float, float)
        Stage position of pixel (0, 0) in um (``Pyramid.x0``, ``Pyramid.y0``).
    kind : str
        ``'PYME tile pyramid (.pzf tiles)'`` or ``(.npy tiles)``.
    """

    def __init__(self, path: PathLike, max_decoded_size: BudgetLike = None) -> None:
        self.path = Path(path)
        budget = ReadBudget.of(max_decoded_size)
        self.max_decoded_size = budget.max_bytes
        meta = self.path / "metadata.json"
        if not meta.is_file():
            raise UnsupportedFormatError(f"{self.path}: not a PYME tile pyramid (no metadata.json)")
        self.metadata = md = read_metadata(meta)
        where = str(meta)
        try:
            ts = int(md["Pyramid.TileSize"])
        except (KeyError, TypeError, ValueError):
            raise UnsupportedFormatError(f"{where}: no valid Pyramid.TileSize; not a PYME tile pyramid") from None
        if not 2 <= ts <= _MAX_TILE_SIZE:
            raise CorruptDataError(f"{where}: Pyramid.TileSize {ts} is out of range (2 to {_MAX_TILE_SIZE})")
        self.tile_size = ts
        backend = str(md.get("Pyramid.Backend", "PZFTileIO"))
        if backend not in _BACKEND_EXT:
            raise UnsupportedFormatError(f"{where}: tiles stored by PYME's {backend} are not supported; "
                                         "pzfcodec reads .pzf (PZFTileIO) and .npy (NumpyTileIO) tiles")
        self._ext = _BACKEND_EXT[backend]
        self.kind = f"PYME tile pyramid ({self._ext} tiles)"
        schema = str(md.get("Pyramid.KeySchema", LEGACY_KEY_SCHEMA))
        pattern = _schema_regex(schema, "img", self._ext, where)
        try:
            depth = int(md.get("Pyramid.Depth", 0))
        except (TypeError, ValueError):
            raise CorruptDataError(f"{where}: Pyramid.Depth {md.get('Pyramid.Depth')!r} is not an integer") from None
        if not 0 <= depth <= _MAX_LEVEL:
            raise CorruptDataError(f"{where}: Pyramid.Depth {depth} is out of range (0 to {_MAX_LEVEL})")
        self.pixel_size = _float_or_none(md.get("Pyramid.PixelSize"))
        self.origin = (_float_or_none(md.get("Pyramid.x0")) or 0.0, _float_or_none(md.get("Pyramid.y0")) or 0.0)
        found: List[Dict[Tuple[int, int], str]] = [{} for _ in range(depth + 1)]
        for rel in self._walk(budget):
            m = pattern.fullmatch(rel)
            if m is None:
                continue
            level, x, y = (int(m.group(k)) for k in ("level", "x", "y"))
            if level <= depth and int(m.groupdict().get("z") or 0) == 0:
                found[level][(x, y)] = os.path.join(self.path, *rel.split("/"))
        if not any(found):
            raise CorruptDataError(f"{self.path}: a PYME tile pyramid without any tile ({self._ext} files "
                                   f"named like {schema!r})")
        self.levels = [PyramidLevel(self, n, tiles) for n, tiles in enumerate(found)]

    def _walk(self, budget: ReadBudget) -> Iterator[str]:
        root = os.fspath(self.path)
        for dirpath, dirnames, filenames in os.walk(root):
            budget.charge_items(len(dirnames) + len(filenames), f"listing {self.path}")
            rel = os.path.relpath(dirpath, root)
            if rel.count(os.sep) > 8:
                dirnames[:] = []
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            for name in filenames:
                yield prefix + name

    def _read_tile(self, path: str) -> np.ndarray:
        ts = self.tile_size
        nbytes = ts * ts * 4
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
            raise CorruptDataError(f"{path}: not a regular file")
        with builtins.open(path, "rb") as fh:
            data = fh.read(2 * nbytes + 4096)
            if fh.read(1):
                raise CorruptDataError(f"{path}: larger than any {ts}x{ts} float32 tile")
        try:
            if self._ext == ".npy":
                import io

                tile = np.load(io.BytesIO(data), allow_pickle=False)
            else:
                tile = decompress(data, max_decoded_size=nbytes)
        except DataTooLargeError:
            raise CorruptDataError(f"{path}: its header claims more than a {ts}x{ts} float32 tile") from None
        except PZFError as exc:
            raise type(exc)(f"{path}: {exc}") from None
        except (ValueError, EOFError, OSError) as exc:
            raise CorruptDataError(f"{path}: not a readable .npy tile ({exc})") from None
        tile = np.squeeze(tile) if tile.ndim > 2 else tile
        if tile.shape != (ts, ts) or tile.dtype.kind not in "fiu":
            raise CorruptDataError(f"{path}: a tile of shape {tile.shape} ({tile.dtype}), "
                                   f"not ({ts}, {ts}) numbers")
        return np.asarray(tile, dtype=np.float32)

    @property
    def shape(self) -> Tuple[int, int]:
        """Shape of level 0."""
        return self.levels[0].shape

    def close(self) -> None:
        """Nothing to release (tiles are opened per read); for symmetry with the other readers."""

    def __enter__(self) -> "TilePyramid":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TilePyramid {self.path.name} levels={[lv.shape for lv in self.levels]} tile={self.tile_size}>"


def _float_or_none(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def open_tile_pyramid(path: PathLike, *, max_decoded_size: BudgetLike = None) -> TilePyramid:
    """Open a PYME tile pyramid directory (``.tiles``).

    Parameters
    ----------
    path : str or os.PathLike
        The directory holding ``metadata.json`` and the tiles.
    max_decoded_size : int or ReadBudget, optional
        Most bytes one selection may assemble (default
        :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE`); the listing of the
        directory is charged to its item budget.

    Returns
    -------
    TilePyramid
        ``levels[n][a:b, c:d]`` reads a region of level ``n`` (float32, first
        axis x), ``metadata``, ``tile_size``, ``pixel_size``, ``origin``.

    Raises
    ------
    pzfcodec.UnsupportedFormatError
        Not a pyramid, or one of PYME's SQLite or cluster-only backends.
    pzfcodec.CorruptDataError
        Bad metadata, no tile, or (when read) a damaged tile.
    pzfcodec.DataTooLargeError
        A selection or the listing exceeds the budget.
    """
    return TilePyramid(path, max_decoded_size)
