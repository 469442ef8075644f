"""A restricted unpickler for the pickles found in PYME files.

PYME stores some data as pickles: ``.psf`` point-spread functions, ``.sf``
shift fields, and metadata values that are not plain numbers or text
(PyTables pickles them into HDF5 attributes).  ``pickle.loads`` on such data
can run arbitrary code, so these readers never call it.  :func:`safe_loads`
resolves only the handful of globals that legitimate files use:

* numpy arrays, dtypes and scalars (``numpy.core`` and ``numpy._core``
  spellings), with object and structured dtypes refused: a pickle may set
  a dtype's byte order and nothing else of its state;
* ``_codecs.encode`` restricted to latin-1 (how Python 3 pickles bytes);
* ``copyreg._reconstructor`` (``copy_reg`` in Python 2) restricted to the
  holder classes below, and ``object`` as its base argument;
* PYME's metadata handler classes and ``VoxelSize``, mapped to the inert
  holders :class:`PickledMetadata` and :class:`PickledVoxelSize`;
* scipy's ``SmoothBivariateSpline``, mapped to
  :class:`pzfcodec.pyme.spline.BivariateSpline` (numpy only).

Any other global raises :class:`pzfcodec.UnsafePickleError` before anything
is called, and so does setting the state (BUILD) of anything but an array, a
dtype or a holder instance.
"""
from __future__ import annotations

import copyreg
import io
import pickle
import struct
from typing import Any, NamedTuple

import numpy as np

from ..errors import CorruptDataError, UnsafePickleError
from .spline import BivariateSpline

__all__ = ["safe_loads", "PickledMetadata", "PickledVoxelSize"]


class PickledMetadata:
    """Inert stand-in for PYME's metadata handler classes.

    Holds the pickled state as attributes (``md.x``, ``md.units``...); nested
    handlers become nested holders.  ``dict(md)``-style access is available
    through :meth:`as_dict`.
    """

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]  # (dict, slotstate) form
        if not isinstance(state, dict):
            raise UnsafePickleError(
                f"a pickled PYME metadata handler has state of type {type(state).__name__}, "
                "expected a dict; the file is not a legitimate PYME file")
        for key, value in state.items():
            if isinstance(key, bytes):
                key = key.decode("latin1")
            if not isinstance(key, str):
                raise UnsafePickleError("a pickled PYME metadata handler has a non-text attribute name")
            self.__dict__[key] = value

    def as_dict(self) -> dict:
        """Flat ``{dotted_key: value}`` view of the held attributes."""
        out = {}
        for key, value in self.__dict__.items():
            if isinstance(value, PickledMetadata):
                out.update({f"{key}.{k}": v for k, v in value.as_dict().items()})
            else:
                out[key] = value
        return out

    def __repr__(self) -> str:
        return f"PickledMetadata({self.as_dict()!r})"


class PickledVoxelSize(NamedTuple):
    """Stand-in for PYME's ``VoxelSize`` named tuple (micrometres)."""

    x: float
    y: float
    z: float


class _NdarrayMarker:
    """Placeholder for ``numpy.ndarray`` as a pickle global.

    Only :func:`_reconstruct` accepts it, so a pickle cannot call the real
    ``ndarray`` constructor with an arbitrary shape.
    """


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not _NdarrayMarker or tuple(shape) != (0,):
        raise UnsafePickleError("numpy _reconstruct called with unexpected arguments")
    return np.ndarray((0,), dtype=np.uint8)


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if isinstance(spec, bytes):
        spec = spec.decode("latin1")
    if not isinstance(spec, str):
        raise UnsafePickleError(f"numpy dtype pickled from {type(spec).__name__}, expected text")
    try:
        # always a private copy: the pickle's BUILD then sets its byte order
        dt = np.dtype(spec, bool(align), True)
    except TypeError as exc:
        raise CorruptDataError(f"pickled numpy dtype {spec!r} is not valid: {exc}") from None
    if dt.hasobject:
        raise UnsafePickleError("pickled numpy arrays of Python objects are not allowed")
    return dt


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy scalar pickled with an object or invalid dtype")
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise CorruptDataError("pickled numpy scalar has the wrong number of bytes for its dtype")
    return np.frombuffer(data, dtype=dtype)[0]


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """numpy's protocol-5 array reconstructor, on bytes only."""
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or not isinstance(dtype, np.dtype) \
            or dtype.hasobject or order not in ("C", "F"):
        raise UnsafePickleError("numpy _frombuffer called with unexpected arguments")
    try:
        return np.frombuffer(buf, dtype=dtype).reshape(tuple(shape), order=order)
    except (TypeError, ValueError) as exc:
        raise CorruptDataError(f"pickled numpy array is inconsistent: {exc}") from None


def _encode(text: Any, encoding: str = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding.replace("-", "").replace("_", "").lower() != "latin1":
        raise UnsafePickleError("_codecs.encode is allowed only for latin-1 text")
    return text.encode("latin1")


_HOLDERS = (PickledMetadata, PickledVoxelSize, BivariateSpline)
_BUILDABLE = (np.ndarray, np.dtype, PickledMetadata, BivariateSpline)


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    if cls not in _HOLDERS or base is not object or state is not None:
        raise UnsafePickleError("copyreg._reconstructor is allowed only for PYME's metadata and spline classes")
    return copyreg._reconstructor(cls, base, state)


_PYME_MD = ("PYME.IO.MetaDataHandler", "PYME.io.MetaDataHandler", "PYME.Acquire.MetaDataHandler")
_MD_CLASSES = ("NestedClassMDHandler", "SimpleMDHandler", "DictMDHandler", "CachingMDHandler",
               "HDFMDHandler", "XMLMDHandler", "JSONMDHandler")

_ALLOWED: dict = {}
for _np in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_np}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_np}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_np}.multiarray", "dtype")] = _dtype
    _ALLOWED[(f"{_np}.numeric", "_frombuffer")] = _frombuffer
_ALLOWED[("numpy", "ndarray")] = _NdarrayMarker
_ALLOWED[("numpy", "dtype")] = _dtype
_ALLOWED[("_codecs", "encode")] = _encode
_ALLOWED[("copy_reg", "_reconstructor")] = _copyreg_reconstructor
_ALLOWED[("copyreg", "_reconstructor")] = _copyreg_reconstructor
_ALLOWED[("__builtin__", "object")] = object  # base argument of _reconstructor
_ALLOWED[("builtins", "object")] = object
for _mod in _PYME_MD:
    for _cls in _MD_CLASSES:
        _ALLOWED[(_mod, _cls)] = PickledMetadata
    _ALLOWED[(_mod, "VoxelSize")] = PickledVoxelSize
for _mod in ("scipy.interpolate.fitpack2", "scipy.interpolate._fitpack2", "scipy.interpolate"):
    _ALLOWED[(_mod, "SmoothBivariateSpline")] = BivariateSpline


def _check_dtype_state(dt: np.dtype, state: Any) -> None:
    """Allow the BUILD of a pickled dtype to set its byte order, nothing else.

    The rest of a dtype's state (fields, offsets, item size, flags) would
    reach numpy unchecked and can describe memory outside an array.
    """
    ref = dt.__reduce__()[2]
    if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4) \
            or state[1] not in ("<", ">", "=", "|") or state[2:8] != ref[2:8] \
            or (len(state) == 9 and state[8]):
        raise UnsafePickleError(f"pickled numpy dtype {dt} has a state numpy never writes for it "
                                "(only simple, non-structured dtypes are allowed)")


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, whose BUILD step can be checked (the C one
    calls ``__setstate__`` on whatever object a pickle built)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: io.BytesIO, *, encoding: str, source: str) -> None:
        super().__init__(file, encoding=encoding, fix_imports=False)
        self._source = source

    def load_build(self) -> None:
        inst = self.stack[-2]
        if not isinstance(inst, _BUILDABLE):  # classes included: BUILD would set their attributes
            raise UnsafePickleError(f"pickles may set the state of numpy arrays, dtypes and the holder "
                                    f"classes only, not of {type(inst).__name__}")
        if isinstance(inst, np.dtype):
            _check_dtype_state(inst, self.stack[-1])
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            where = f" in {self._source}" if self._source else ""
            raise UnsafePickleError(
                f"refusing to load the pickle{where}: it refers to {module}.{name}, which legitimate "
                "PYME files never use (nothing was executed). Only open such a file with "
                "pickle.loads if you trust its author.") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("pickles with persistent ids are not allowed")


def safe_loads(data: bytes, *, encoding: str = "latin1", source: str = "") -> Any:
    """Unpickle ``data`` allowing only the globals of legitimate PYME files.

    Parameters
    ----------
    data : bytes
        The pickle (any protocol).
    encoding : str, optional
        How Python 2 ``str`` objects are decoded (``'latin1'`` keeps numpy's
        raw array bytes intact).
    source : str, optional
        Where the pickle comes from (file name, attribute), for error messages.

    Returns
    -------
    object
        The unpickled object; PYME classes come back as the inert holders of
        this module, scipy splines as :class:`~pzfcodec.pyme.spline.BivariateSpline`.

    Raises
    ------
    pzfcodec.UnsafePickleError
        The pickle refers to any other global.  Nothing was executed.
    pzfcodec.CorruptDataError
        The pickle is truncated or malformed.
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding, source=source).load()
    except (UnsafePickleError, CorruptDataError) as exc:
        if source and source not in str(exc):
            raise type(exc)(f"{source}: {exc}") from None
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, UnicodeDecodeError, MemoryError, OverflowError, struct.error) as exc:
        where = f" {source}" if source else ""
        raise CorruptDataError(f"cannot read the pickle{where}: {type(exc).__name__}: {exc}") from None
