"""PYME point-spread functions (``.psf``) and shift fields (``.sf``).

Both are pickles; they are read with the pickle interpreter of
:mod:`pzfcodec.pyme.safe_pickle`, so a hostile file cannot run code.
"""
from __future__ import annotations

import os
from typing import Any, NamedTuple, Tuple

import numpy as np

from ..budget import BudgetLike, ReadBudget
from ..errors import CorruptDataError
from .h5 import PathLike
from .safe_pickle import PickledMetadata, PickledVoxelSize, safe_loads
from .spline import BivariateSpline

__all__ = ["VoxelSize", "load_psf", "load_sf"]

_TO_NM = {"nm": 1.0, "um": 1e3, "µm": 1e3, "\u03bcm": 1e3, "mm": 1e6, "m": 1e9}


class VoxelSize(NamedTuple):
    """Voxel size of a PSF; PYME stores micrometres (``units='um'``)."""

    x: float
    y: float
    z: float
    units: str = "um"

    def to_nm(self) -> "VoxelSize":
        """The same voxel size in nanometres."""
        try:
            f = _TO_NM[self.units]
        except KeyError:
            raise CorruptDataError(f"unknown voxel size units {self.units!r}") from None
        return VoxelSize(self.x * f, self.y * f, self.z * f, "nm")


def _read(path: PathLike, max_decoded_size: BudgetLike) -> Any:
    path = os.fspath(path)
    budget = ReadBudget.of(max_decoded_size)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        budget.charge_bytes(size, f"{path}: the pickle file")
        return safe_loads(fh.read(size + 1), encoding="latin1", source=path, max_decoded_size=budget)


def _voxelsize(obj: Any, source: str) -> VoxelSize:
    if isinstance(obj, PickledVoxelSize):
        return VoxelSize(float(obj.x), float(obj.y), float(obj.z))
    if isinstance(obj, PickledMetadata):
        d = obj.as_dict()
        # a handler holding the whole metadata keeps them under voxelsize.*
        if "x" not in d and "voxelsize.x" in d:
            d = {k.split(".", 1)[1]: v for k, v in d.items() if k.startswith("voxelsize.")}
        try:
            units = d.get("units", "um")
            if isinstance(units, (bytes, np.bytes_)):
                units = bytes(units).decode("latin1")
            return VoxelSize(float(d["x"]), float(d["y"]), float(d["z"]), str(units))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError(f"{source}: the voxel size lacks x/y/z ({exc})") from None
    raise CorruptDataError(f"{source}: expected a voxel size, found {type(obj).__name__}")


def load_psf(path: PathLike, *, max_decoded_size: BudgetLike = None) -> Tuple[np.ndarray, VoxelSize]:
    """Load a PYME ``.psf`` file (legacy Python 2 and current pickles).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.psf`` file: a pickled ``(array, voxelsize)`` tuple, read with
        the pickle interpreter (Python 2 text decoded as latin-1).
    max_decoded_size : int or ReadBudget, optional
        The read's budget (bytes, values, nesting depth; default: a new
        :class:`~pzfcodec.budget.ReadBudget`).

    Returns
    -------
    psf : numpy.ndarray
        The PSF array as stored in the file (its dtype is not converted),
        indexed ``[x, y, z]``.
    voxelsize : VoxelSize
        ``x``, ``y``, ``z`` in ``units`` (micrometres in PYME files);
        ``voxelsize.to_nm()`` converts.

    Raises
    ------
    pzfcodec.UnsafePickleError
        The file refers to anything a legitimate ``.psf`` does not (nothing is executed).
    pzfcodec.DataTooLargeError
        The file or its values exceed the budget.
    pzfcodec.CorruptDataError
        The file is not a ``(array, voxelsize)`` pickle, or the voxel size
        lacks ``x``, ``y`` or ``z``.
    """
    source = os.fspath(path)
    obj = _read(path, max_decoded_size)
    if not (isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], np.ndarray)):
        raise CorruptDataError(f"{source}: a .psf holds a pickled (array, voxelsize) tuple")
    return obj[0], _voxelsize(obj[1], source)


def load_sf(path: PathLike, *, max_decoded_size: BudgetLike = None) -> Tuple[BivariateSpline, BivariateSpline]:
    """Load a PYME shift field (``.sf``): splines of the x and y shifts (nm).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.sf`` file: a pickled pair of scipy ``SmoothBivariateSpline``
        objects, read with the pickle interpreter.
    max_decoded_size : int or ReadBudget, optional
        The read's budget (as for :func:`load_psf`).

    Returns
    -------
    dx, dy : BivariateSpline
        Evaluate with ``dx.ev(x, y)`` (nm in, nm out); no scipy needed.

    Raises
    ------
    pzfcodec.UnsafePickleError
        The file refers to anything a legitimate ``.sf`` does not (nothing is executed).
    pzfcodec.CorruptDataError
        The file is not a pickled ``(dx, dy)`` pair of bivariate splines, or
        a spline is inconsistent (knots, degrees, coefficients).
    """
    source = os.fspath(path)
    obj = _read(path, max_decoded_size)
    if not (isinstance(obj, tuple) and len(obj) == 2 and all(isinstance(s, BivariateSpline) for s in obj)):
        raise CorruptDataError(f"{source}: a .sf holds a pickled (dx, dy) pair of bivariate splines")
    return obj[0], obj[1]
