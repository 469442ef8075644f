"""Readers and writers of PYME (python-microscopy) files, without PYME.

Everything here needs only numpy, h5py and hdf5plugin, and is safe on files
from strangers: pickles are interpreted as inert data
(:func:`safe_loads`), metadata sidecars are parsed, never run, and damaged
frames raise when read.

>>> import pzfcodec
>>> with pzfcodec.open("series.h5") as s:          # doctest: +SKIP
...     frame = s[0]; print(s.shape, s.metadata["Camera.ADOffset"])
"""
from .dispatch import OPENERS, load_pzf, open
from .h5 import H5Series, open_h5
from .h5r import H5RFile, flatten_table, open_h5r
from .npy import NpySeries, open_npy
from .pcs import PCSSeries, open_pcs, write_pcs
from .psf import VoxelSize, load_psf, load_sf
from .safe_pickle import safe_loads
from .series import EVENTS_DTYPE, Series, empty_events, make_events
from .sidecar import read_metadata
from .spline import BivariateSpline
from .tif import TiffSeries, open_tif
from .tiles import PyramidLevel, TilePyramid, open_tile_pyramid
from .writer import write_h5, write_h5_filtered

__all__ = [
    "open", "open_h5", "open_h5r", "open_tif", "load_psf", "load_sf", "load_pzf", "read_metadata",
    "write_h5", "write_h5_filtered", "Series", "H5Series", "H5RFile", "TiffSeries", "VoxelSize",
    "BivariateSpline", "EVENTS_DTYPE", "empty_events", "make_events", "flatten_table", "safe_loads",
    "OPENERS", "NpySeries", "open_npy", "TilePyramid", "PyramidLevel", "open_tile_pyramid",
    "open_pcs", "write_pcs", "PCSSeries",
]
