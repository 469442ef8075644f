"""Bivariate tensor-product B-splines evaluated with numpy alone.

PYME's shift fields (``.sf``) are pickled scipy ``SmoothBivariateSpline``
objects; :class:`BivariateSpline` holds the same state (``tck``, ``degrees``,
``fp``) and evaluates it exactly as FITPACK's ``bispeu`` does, so scipy is not
needed to use them.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ..errors import CorruptDataError

__all__ = ["BivariateSpline"]


def _basis(t: np.ndarray, k: int, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Knot interval and the k+1 non-zero B-spline values at each point.

    Follows FITPACK's ``fpbisp``/``fpbspl``: points are clamped to
    ``[t[k], t[n-k-1]]`` and the interval ``l`` satisfies
    ``t[l] <= x < t[l+1]`` with ``k <= l <= n-k-2``.
    """
    n = t.size
    x = np.clip(x, t[k], t[n - k - 1])
    lo = np.clip(np.searchsorted(t, x, side="right") - 1, k, n - k - 2)
    h = np.zeros((x.size, k + 1))
    h[:, 0] = 1.0
    for j in range(1, k + 1):
        hh = h[:, :j].copy()
        h[:, 0] = 0.0
        for i in range(1, j + 1):
            tli = t[lo + i]
            tlj = t[lo + i - j]
            same = tli == tlj
            f = np.where(same, 0.0, hh[:, i - 1] / np.where(same, 1.0, tli - tlj))
            h[:, i - 1] = h[:, i - 1] + f * (tli - x)
            h[:, i] = f * (x - tlj)
    return lo - k, h


class BivariateSpline:
    """A smoothing bivariate spline as stored by scipy (``tck``, ``degrees``, ``fp``).

    Attributes
    ----------
    tck : tuple of ndarray
        x knots, y knots and coefficients (y varies fastest).
    degrees : tuple of int
        Degrees ``(kx, ky)`` in x and y.
    fp : float
        Weighted sum of squared residuals of the fit.
    """

    tck: Tuple[np.ndarray, np.ndarray, np.ndarray]
    degrees: Tuple[int, int]
    fp: float

    def __getattr__(self, name: str) -> Any:
        # only reached for a spline whose state was never set (``__new__``
        # without ``__setstate__``): say so instead of an AttributeError
        if name in ("tck", "degrees", "fp"):
            raise CorruptDataError("this spline has no state (tck, degrees): it was never set")
        raise AttributeError(name)

    def __init__(self, tck: Any, degrees: Any = (3, 3), fp: float = 0.0) -> None:
        self.__setstate__({"tck": tck, "degrees": degrees, "fp": fp})

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict):
            raise CorruptDataError("a pickled spline must have a dict state")
        state = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in state.items()}
        try:
            tx, ty, c = (np.asarray(a, dtype=np.float64).ravel() for a in state["tck"])
            kx, ky = (int(d) for d in state["degrees"])
            fp = float(state.get("fp", 0.0))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CorruptDataError(f"a pickled spline lacks a valid tck/degrees ({exc})") from None
        if not (1 <= kx <= 5 and 1 <= ky <= 5):  # FITPACK's range
            raise CorruptDataError(f"spline degrees {(kx, ky)} are outside 1..5")
        if not (kx < tx.size // 2 and ky < ty.size // 2):
            raise CorruptDataError(f"spline degrees {(kx, ky)} do not fit {tx.size} x {ty.size} knots")
        for t in (tx, ty):
            if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
                raise CorruptDataError("spline knots must be finite and non-decreasing")
        if c.size < (tx.size - kx - 1) * (ty.size - ky - 1):
            raise CorruptDataError(f"spline has {c.size} coefficients, needs "
                                   f"{(tx.size - kx - 1) * (ty.size - ky - 1)}")
        self.tck = (tx, ty, c)
        self.degrees = (kx, ky)
        self.fp = fp

    def __getstate__(self) -> dict:
        return {"tck": self.tck, "degrees": self.degrees, "fp": self.fp}

    def get_knots(self) -> Tuple[np.ndarray, np.ndarray]:
        """The x and y knots."""
        return self.tck[0], self.tck[1]

    def get_coeffs(self) -> np.ndarray:
        """The spline coefficients."""
        return self.tck[2]

    def ev(self, x: Any, y: Any) -> np.ndarray:
        """Evaluate the spline at points ``(x[i], y[i])``.

        Same result as scipy's ``SmoothBivariateSpline.ev``: points outside
        the knot range take the value at the nearest edge.  Returns an array
        of the broadcast shape of ``x`` and ``y``.
        """
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        shape = x.shape
        tx, ty, c = self.tck
        kx, ky = self.degrees
        ix, wx = _basis(tx, kx, x.ravel())
        iy, wy = _basis(ty, ky, y.ravel())
        ny = ty.size - ky - 1
        out = np.zeros(x.size)
        for i in range(kx + 1):
            for j in range(ky + 1):
                out += c[(ix + i) * ny + iy + j] * wx[:, i] * wy[:, j]
        return out.reshape(shape)


    def __repr__(self) -> str:
        if "tck" not in self.__dict__:
            return "BivariateSpline(no state)"
        tx, ty, _ = self.tck
        return (f"BivariateSpline(degrees={self.degrees}, x=[{tx[0]:g}, {tx[-1]:g}], "
                f"y=[{ty[0]:g}, {ty[-1]:g}], fp={self.fp:g})")
