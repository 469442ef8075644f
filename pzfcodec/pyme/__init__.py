"""Readers and a writer for PYME (python-microscopy) files, without PYME."""
from .safe_pickle import safe_loads
from .series import Series, empty_events
from .spline import BivariateSpline

__all__ = ["safe_loads", "Series", "empty_events", "BivariateSpline"]
