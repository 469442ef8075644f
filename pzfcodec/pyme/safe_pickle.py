"""Pickles as data: an opcode interpreter for the pickles found in PYME files.

PYME stores some data as pickles: ``.psf`` point-spread functions, ``.sf``
shift fields, and metadata values that are not plain numbers or text
(PyTables pickles them into HDF5 attributes, ``.xml`` and ``.md`` sidecars
embed them).  ``pickle.loads`` on such data can run arbitrary code, and even
Python's restricted unpicklers hand file data to classes' ``__setstate__``.
:func:`safe_loads` does neither: it interprets the pickle's opcodes itself,
one at a time in a loop (no recursion on file data), and builds only inert
values:

* ``None``, booleans, integers, floats, complex numbers, text, bytes,
  bytearrays, tuples, lists, dicts, sets and frozensets;
* numpy arrays, scalars and dtypes, built by this module from a validated
  (dtype, shape, bytes) triple, the bytes copied.  Only simple dtypes
  (booleans, integers, floats, complex numbers, ``S``/``U`` text of non-zero
  size) are accepted; a pickle may set a dtype's byte order and nothing
  else of its state;
* PYME's metadata handler classes and ``VoxelSize``, as the inert holders
  :class:`PickledMetadata` and :class:`PickledVoxelSize`;
* scipy's ``SmoothBivariateSpline``, as
  :class:`pzfcodec.pyme.spline.BivariateSpline` (numpy only).

Every value is charged to a :class:`pzfcodec.budget.ReadBudget` before it is
built: its items and bytes, and its nesting depth.  A value the pickle refers
to again (its memo) is charged in full each time, so the charged total bounds
the *expanded* size of the result and a small file cannot describe an
exponentially large one.  The state of an object (BUILD) is set at most once,
and only while the pickle holds no other reference to it, so results never
contain cycles.  Dict keys and set members must be hashable values of bounded
depth.

Anything else raises :class:`pzfcodec.UnsafePickleError` (a class or
function legitimate files never use; nothing is called) or
:class:`pzfcodec.CorruptDataError` (a malformed or inconsistent pickle), or
:class:`pzfcodec.DataTooLargeError` (a limit of the budget).
"""
from __future__ import annotations

import codecs
import re
import reprlib
import struct
import threading
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from ..budget import BudgetLike, ReadBudget
from ..errors import CorruptDataError, DataTooLargeError, PZFError, UnsafePickleError
from .spline import BivariateSpline

__all__ = ["safe_loads", "PickledMetadata", "PickledVoxelSize", "MAX_PICKLE_VALUES", "bounded_repr"]

#: Values (counted with every repetition of a shared one) one pickle may expand to.
MAX_PICKLE_VALUES = 1_000_000

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 3, 8, 8, 8
_REPR.maxset = _REPR.maxfrozenset = 8
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 200, 200, 60
_NESTED = threading.local()


def bounded_repr(value: Any) -> str:
    """A ``repr`` of ``value`` whose length and cost are bounded, whatever its size."""
    if isinstance(value, np.ndarray) and value.size > 1000:
        return f"array(shape={value.shape}, dtype={value.dtype})"
    return _REPR.repr(value)


class PickledMetadata:
    """Inert stand-in for PYME's metadata handler classes.

    Holds the pickled state as attributes (``md.x``, ``md.units``...); nested
    handlers become nested holders.  Attribute names from a file never
    replace the methods: ``md.as_dict`` is always the method.
    """

    __slots__ = ("_attrs",)

    def __init__(self, attrs: Optional[Dict[str, Any]] = None) -> None:
        object.__setattr__(self, "_attrs", dict(attrs or {}))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_attrs":
            raise AttributeError(name)
        try:
            return self._attrs[name]
        except KeyError:
            raise AttributeError(f"the pickled metadata has no entry {name!r}") from None

    def keys(self) -> List[str]:
        """The names of the held attributes."""
        return list(self._attrs)

    def get(self, name: str, default: Any = None) -> Any:
        """The attribute ``name``, or ``default``."""
        return self._attrs.get(name, default)

    def as_dict(self, max_decoded_size: BudgetLike = None) -> Dict[str, Any]:
        """Flat ``{dotted_key: value}`` view; nested holders give dotted keys.

        The keys are charged to a :class:`~pzfcodec.budget.ReadBudget`
        (``max_decoded_size``), so a holder shared many times cannot make
        the view explode.
        """
        budget = ReadBudget.of(max_decoded_size)
        out: Dict[str, Any] = {}
        todo: List[Tuple[str, int, PickledMetadata]] = [("", 0, self)]
        while todo:
            prefix, depth, holder = todo.pop()
            if depth >= budget.max_depth:
                raise DataTooLargeError(f"pickled metadata nested more than {budget.max_depth} levels deep")
            nested = []
            for key, value in holder._attrs.items():
                name = prefix + key
                budget.charge_items(1, "the flat view of pickled metadata")
                budget.charge_bytes(len(name), "the keys of pickled metadata")
                if isinstance(value, PickledMetadata):
                    nested.append((name + ".", depth + 1, value))
                else:
                    out[name] = value
            todo.extend(reversed(nested))
        return out

    def __repr__(self) -> str:
        if getattr(_NESTED, "inside", False):  # a holder within a holder: its repr is not expanded
            return "PickledMetadata(...)"
        _NESTED.inside = True
        try:
            return f"PickledMetadata({bounded_repr(self._attrs)})"
        finally:
            _NESTED.inside = False


class PickledVoxelSize(NamedTuple):
    """Stand-in for PYME's ``VoxelSize`` named tuple (micrometres)."""

    x: float
    y: float
    z: float


# -- globals: inert tokens, interpreted by this module ------------------------
class _Global:
    """A global a pickle may name; only this module gives it meaning."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<pickled reference to {self.name}>"


_RECONSTRUCT, _SCALAR, _DTYPE, _FROMBUFFER = (_Global(n) for n in ("_reconstruct", "scalar", "dtype", "_frombuffer"))
_NDARRAY, _ENCODE, _RECONSTRUCTOR, _OBJECT = (_Global(n) for n in ("ndarray", "encode", "_reconstructor", "object"))
_METADATA, _VOXELSIZE, _SPLINE = (_Global(n) for n in ("MetaDataHandler", "VoxelSize", "SmoothBivariateSpline"))
_SET, _FROZENSET, _BYTEARRAY, _BYTES, _COMPLEX, _TUPLE = (
    _Global(n) for n in ("set", "frozenset", "bytearray", "bytes", "complex", "tuple"))
_CLASSES = (_METADATA, _VOXELSIZE, _SPLINE)

_ALLOWED: Dict[Tuple[str, str], _Global] = {}
for _np in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_np}.multiarray", "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(f"{_np}.multiarray", "scalar")] = _SCALAR
    _ALLOWED[(f"{_np}.multiarray", "dtype")] = _DTYPE
    _ALLOWED[(f"{_np}.numeric", "_frombuffer")] = _FROMBUFFER
_ALLOWED[("numpy", "ndarray")] = _NDARRAY
_ALLOWED[("numpy", "dtype")] = _DTYPE
_ALLOWED[("_codecs", "encode")] = _ENCODE
for _mod in ("copy_reg", "copyreg"):
    _ALLOWED[(_mod, "_reconstructor")] = _RECONSTRUCTOR
for _mod in ("__builtin__", "builtins"):
    for _tok in (_OBJECT, _SET, _FROZENSET, _BYTEARRAY, _BYTES, _COMPLEX, _TUPLE):
        _ALLOWED[(_mod, _tok.name)] = _tok
for _mod in ("PYME.IO.MetaDataHandler", "PYME.io.MetaDataHandler", "PYME.Acquire.MetaDataHandler"):
    for _cls in ("NestedClassMDHandler", "SimpleMDHandler", "DictMDHandler", "CachingMDHandler",
                 "HDFMDHandler", "XMLMDHandler", "JSONMDHandler"):
        _ALLOWED[(_mod, _cls)] = _METADATA
    _ALLOWED[(_mod, "VoxelSize")] = _VOXELSIZE
for _mod in ("scipy.interpolate.fitpack2", "scipy.interpolate._fitpack2", "scipy.interpolate"):
    _ALLOWED[(_mod, "SmoothBivariateSpline")] = _SPLINE


class _Pending:
    """An array, dtype or spline whose state (BUILD) the pickle has yet to set."""

    __slots__ = ("kind", "dtype", "memo_keys", "shared")

    def __init__(self, kind: str, dtype: Optional[np.dtype] = None) -> None:
        self.kind = kind
        self.dtype = dtype
        self.memo_keys: List[int] = []
        self.shared = False  # referenced again (memo, DUP): its state may no longer change


# -- numpy, from validated parts -------------------------------------------------
_DTYPE_SPEC = re.compile(r"[<>|=]?(b1|\?|[iu][1248]|f[248]|f16|c(8|16|32)|[SU][1-9][0-9]{0,9})")


def _dtype(spec: Any) -> np.dtype:
    if not isinstance(spec, str) or not _DTYPE_SPEC.fullmatch(spec):
        raise UnsafePickleError(
            f"pickled numpy dtype {spec!r} is refused: only booleans, integers, floats, complex "
            "numbers and text of non-zero size are allowed (no object, structured or empty dtypes)")
    try:
        dt = np.dtype(spec)
    except TypeError as exc:
        raise CorruptDataError(f"pickled numpy dtype {spec!r} is not valid: {exc}") from None
    if dt.hasobject or dt.fields is not None or dt.subdtype is not None or dt.itemsize <= 0:
        raise UnsafePickleError(f"pickled numpy dtype {spec!r} is refused")
    return dt


def _dtype_with_state(dt: np.dtype, state: Any) -> np.dtype:
    """Apply the BUILD state of a pickled dtype: its byte order, nothing else."""
    ref = dt.__reduce__()[2]
    if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], bytes):
        state = (state[0], state[1].decode("latin1"), *state[2:])
    if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4) \
            or state[1] not in ("<", ">", "=", "|") or state[2:8] != ref[2:8] \
            or (len(state) == 9 and state[8]):
        raise UnsafePickleError(f"pickled numpy dtype {dt} has a state numpy never writes for it "
                                "(only simple, non-structured dtypes are allowed)")
    if state[1] in "<>" and dt.byteorder != "|":
        return dt.newbyteorder(state[1])
    return dt


def _check_text(raw: bytes, dt: np.dtype) -> None:
    """Refuse ``U`` data holding code points that are not characters (numpy
    would fail with SystemError whenever the text is read)."""
    if dt.kind == "U" and raw:
        order = dt.byteorder if dt.byteorder in "<>" else "="
        if np.frombuffer(raw, np.dtype(np.uint32).newbyteorder(order)).max() >= 0x110000:
            raise CorruptDataError("pickled numpy text holds code points beyond Unicode")


def _array(what: str, dt: Any, shape: Any, raw: Any, order: str, charge: Any, *,
           native: bool = False) -> np.ndarray:
    """A new array of ``dt`` and ``shape`` holding a copy of ``raw`` (in native
    byte order if ``native``, as numpy's ``ndarray.__setstate__`` does)."""
    if not isinstance(dt, np.dtype):
        raise CorruptDataError(f"{what}: expected a numpy dtype, found {type(dt).__name__}")
    if not isinstance(shape, tuple) or len(shape) > 32 \
            or not all(type(n) is int and 0 <= n < 1 << 62 for n in shape):
        raise CorruptDataError(f"{what}: invalid shape {bounded_repr(shape)}")
    if isinstance(raw, str):
        try:
            raw = raw.encode("latin1")
        except UnicodeEncodeError:
            raise CorruptDataError(f"{what}: the array data is text that is not raw bytes") from None
    if not isinstance(raw, (bytes, bytearray)):
        raise CorruptDataError(f"{what}: the array data is a {type(raw).__name__}, not bytes")
    count = 1
    for n in shape:
        count *= n
    if count * dt.itemsize != len(raw):
        raise CorruptDataError(f"{what}: shape {shape} of {dt} needs {count * dt.itemsize} bytes, "
                               f"the pickle holds {len(raw)}")
    charge(1, len(raw))
    _check_text(raw, dt)
    try:
        if count == 0:
            return np.zeros(shape, dt.newbyteorder("=") if native else dt, order=order)
        array = np.frombuffer(raw, dt).copy()
        if dt.kind == "b":  # only 0 and 1 are booleans
            array = array.view(np.uint8) != 0
        elif native and not dt.isnative:
            array = array.astype(dt.newbyteorder("="))
        return array.reshape(shape, order=order)
    except (ValueError, TypeError, MemoryError) as exc:
        raise CorruptDataError(f"{what}: {exc}") from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# -- the interpreter ---------------------------------------------------------------
class _Info:
    """What the interpreter knows of a container or holder it built."""

    __slots__ = ("obj", "items", "nbytes", "depth", "hashable", "plain", "shared", "built")

    def __init__(self, obj: Any, items: int = 1, nbytes: int = 0, depth: int = 1,
                 hashable: bool = False, plain: bool = True) -> None:
        self.obj = obj           # keeps the object alive: its id stays its own
        self.items = items       # values in its full expansion
        self.nbytes = nbytes     # bytes in its full expansion
        self.depth = depth
        self.hashable = hashable
        self.plain = plain       # holds no class references
        self.shared = False      # referenced again: no longer changed
        self.built = False       # state set (holders)


#: integers up to 4300 decimal digits, the most Python converts to text
_MAX_INT_BITS = 14_000
#: different dict keys or set members of one hash value a pickle may hold
_MAX_COLLISIONS = 64
_ATOMS = (type(None), bool, int, float, complex, str, bytes, np.generic, np.dtype)


class _Interpreter:
    def __init__(self, data: bytes, encoding: str, source: str, budget: ReadBudget) -> None:
        self.data = data
        self.pos = 0
        self.encoding = encoding
        self.source = source
        self.budget = budget
        self.max_depth = max(1, budget.max_depth - budget.depth)
        self.values = 0
        self.stack: List[Any] = []
        self.marks: List[List[Any]] = []
        self.memo: Dict[int, Any] = {}
        self.info: Dict[int, _Info] = {}
        self.hashes: Dict[int, Any] = {}
        self.collisions: Dict[int, int] = {}

    # -- reading the stream
    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise CorruptDataError("the pickle is truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def line(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise CorruptDataError("the pickle is truncated (a text argument has no end)")
        out = self.data[self.pos:end]
        self.pos = end + 1
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    # -- accounting
    def charge(self, items: int, nbytes: int, depth: int = 0) -> None:
        if depth > self.max_depth:
            raise DataTooLargeError(f"the pickle nests values more than {self.max_depth} levels deep; "
                                    "no legitimate PYME pickle nests so deep")
        self.values += items
        if self.values > MAX_PICKLE_VALUES:
            raise DataTooLargeError(
                f"the pickle expands to more than {MAX_PICKLE_VALUES} values (shared values counted "
                "each time they are used); legitimate PYME pickles are far smaller")
        self.budget.charge_items(items, "a pickle")
        self.budget.charge_bytes(nbytes, "a pickle")

    def cost(self, value: Any) -> Tuple[int, int, int]:
        """(items, bytes, depth) of the full expansion of a built value."""
        info = self.info.get(id(value))
        if info is not None:
            return info.items, info.nbytes, info.depth
        if isinstance(value, (str, bytes, bytearray)):
            return 1, len(value), 0
        if isinstance(value, np.ndarray):
            return 1, value.nbytes, 0
        if isinstance(value, int):
            return 1, value.bit_length() // 8, 0
        return 1, 0, 0

    def push_atom(self, value: Any) -> None:
        if type(value) is int and value.bit_length() > _MAX_INT_BITS:
            raise DataTooLargeError(f"the pickle holds an integer of {value.bit_length()} bits; "
                                    f"at most {_MAX_INT_BITS} are allowed")
        items, nbytes, _ = self.cost(value)
        self.charge(items, nbytes)
        self.stack.append(value)

    def new(self, obj: Any, children: List[Any], *, hashable: bool = False, plain: bool = True) -> Any:
        """Record a container or holder built from ``children`` (already charged)."""
        items, nbytes, depth = 1, 0, 0
        for child in children:
            ci, cb, cd = self.cost(child)
            items += ci
            nbytes += cb
            depth = max(depth, cd)
        self.charge(1, 0, depth + 1)
        self.info[id(obj)] = _Info(obj, items, nbytes, depth + 1, hashable, plain)
        return obj

    def grow(self, obj: Any, children: List[Any]) -> None:
        """Account for ``children`` added to the container ``obj`` in place."""
        info = self.info[id(obj)]
        for child in children:
            ci, cb, cd = self.cost(child)
            if cd + 1 > info.depth:
                self.charge(0, 0, cd + 1)
                info.depth = cd + 1
            info.items += ci
            info.nbytes += cb

    def mutable(self, obj: Any, kind: type, op: str) -> _Info:
        info = self.info.get(id(obj))
        if type(obj) is not kind or info is None:
            raise CorruptDataError(f"the pickle applies {op} to a {type(obj).__name__}")
        if info.shared:
            raise CorruptDataError(f"the pickle changes a {kind.__name__} after referring to it again "
                                   "(a cycle or a shared value being changed); refused")
        return info

    # -- values leaving the stack
    def use(self, value: Any, *, in_args: bool = False) -> Any:
        """The value to store for stack item ``value``."""
        if isinstance(value, _Pending):
            if value.kind == "dtype":
                return value.dtype
            raise CorruptDataError(f"the pickle uses a {value.kind} before setting its state")
        if not in_args:
            info = self.info.get(id(value))
            if isinstance(value, _Global) or (info is not None and not info.plain):
                raise UnsafePickleError(f"the pickle uses {value!r} as data; legitimate PYME pickles "
                                        "only call the classes they name")
        return value

    def key(self, value: Any) -> Any:
        """``value`` checked to be usable as a dict key or set member."""
        value = self.use(value)
        info = self.info.get(id(value))
        ok = info.hashable if info is not None else (
            isinstance(value, _ATOMS) and not isinstance(value, (np.void, np.dtype)))
        if not ok:
            raise CorruptDataError(f"the pickle uses a {type(value).__name__} as a dict key or set "
                                   "member; only numbers, text, bytes and tuples of them are allowed")
        if not isinstance(value, (str, bytes)):  # their hashes are randomised; numbers' are not
            h = hash(value)
            first = self.hashes.setdefault(h, value)
            if first is not value and first != value:
                self.collisions[h] = n = self.collisions.get(h, 0) + 1
                if n > _MAX_COLLISIONS:
                    raise CorruptDataError("the pickle holds many different dict keys of one hash value "
                                           "(a hash-collision attack); refused")
        return value

    def refer(self, value: Any) -> Any:
        """``value`` referred to again (memo, DUP): charged in full, frozen."""
        if isinstance(value, _Pending):
            if value.kind != "dtype":
                raise CorruptDataError(f"the pickle refers to a {value.kind} before setting its state")
            value.shared = True
            return value.dtype
        info = self.info.get(id(value))
        if info is not None:
            info.shared = True
        items, nbytes, depth = self.cost(value)
        self.charge(items, nbytes, depth)
        return value

    def pop_mark(self) -> List[Any]:
        if not self.marks:
            raise CorruptDataError("the pickle closes a group it never opened (no MARK)")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def pop(self) -> Any:
        if not self.stack:
            raise CorruptDataError("the pickle pops from an empty stack")
        return self.stack.pop()

    def text(self, raw: bytes) -> Any:
        """A Python 2 ``str``: decoded with the caller's encoding."""
        if self.encoding == "bytes":
            return raw
        try:
            return raw.decode(self.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise CorruptDataError(f"a pickled Python 2 string is not {self.encoding} text ({exc})") from None

    # -- calls
    def global_(self, module: str, name: str) -> _Global:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            where = f" in {self.source}" if self.source else ""
            raise UnsafePickleError(
                f"refusing to load the pickle{where}: it refers to {module}.{name}, which legitimate "
                "PYME files never use (nothing was executed). Only open such a file with "
                "pickle.loads if you trust its author.") from None

    def call(self, func: Any, args: Any) -> Any:
        if not isinstance(func, _Global):
            raise UnsafePickleError(f"the pickle calls a {type(func).__name__}; only the classes and "
                                    "functions of legitimate PYME files may be called")
        if not isinstance(args, tuple):
            raise CorruptDataError("the pickle calls a function with arguments that are not a tuple")
        n = len(args)
        if func is _RECONSTRUCT:
            if n == 3 and args[0] is _NDARRAY and args[1] == (0,) and args[2] in ("b", b"b"):
                return _Pending("array")
            raise UnsafePickleError("numpy _reconstruct called with unexpected arguments")
        if func is _DTYPE:
            spec = args[0] if n else None
            if isinstance(spec, bytes):
                spec = spec.decode("latin1")
            if not 1 <= n <= 3 or not all(type(a) in (int, bool) and a in (0, 1) for a in args[1:]):
                raise UnsafePickleError("numpy dtype called with unexpected arguments")
            return _Pending("dtype", _dtype(spec))
        if func is _SCALAR:
            if n != 2 or not isinstance(args[0], np.dtype):
                raise UnsafePickleError("numpy scalar called with unexpected arguments")
            dt, data = args
            if isinstance(data, str):
                data = data.encode("latin1")
            if not isinstance(data, bytes) or len(data) != dt.itemsize:
                raise CorruptDataError("pickled numpy scalar has the wrong number of bytes for its dtype")
            _check_text(data, dt)
            return np.frombuffer(data, dtype=dt)[0]
        if func is _FROMBUFFER:
            if n != 4 or args[3] not in ("C", "F"):
                raise UnsafePickleError("numpy _frombuffer called with unexpected arguments")
            return _array("a pickled numpy array", args[1], args[2], args[0], args[3], self.charge)
        if func is _ENCODE:
            enc = args[1] if n == 2 else None
            if n != 2 or not isinstance(args[0], str) or not isinstance(enc, str) \
                    or enc.replace("-", "").replace("_", "").lower() != "latin1":
                raise UnsafePickleError("_codecs.encode is allowed only for latin-1 text")
            try:
                return args[0].encode("latin1")
            except UnicodeEncodeError:
                raise CorruptDataError("_codecs.encode of text that is not latin-1") from None
        if func is _RECONSTRUCTOR:
            if n == 3 and args[0] in _CLASSES and args[0] is not _VOXELSIZE and args[1] is _OBJECT \
                    and args[2] is None:
                return self.instance(args[0], ())
            if n == 3 and args[0] is _VOXELSIZE and args[1] is _TUPLE and isinstance(args[2], tuple):
                return self.instance(_VOXELSIZE, args[2])  # how protocols 0 and 1 store a named tuple
            raise UnsafePickleError("copyreg._reconstructor is allowed only for PYME's metadata "
                                    "and spline classes")
        if func in (_SET, _FROZENSET):
            if n == 0:
                items: Any = []
            elif n == 1 and type(args[0]) in (list, tuple):
                items = args[0]
            else:
                raise UnsafePickleError(f"{func.name} called with unexpected arguments")
            keys = [self.key(k) for k in items]
            kind = set if func is _SET else frozenset
            return self.new(kind(keys), keys, hashable=kind is frozenset)
        if func is _BYTEARRAY or func is _BYTES:
            if n == 0:
                raw = b""
            elif n == 1 and isinstance(args[0], bytes):
                raw = args[0]
            elif n == 2 and isinstance(args[0], str) and args[1] in ("latin-1", "latin1"):
                raw = args[0].encode("latin1")
            else:
                raise UnsafePickleError(f"{func.name} called with unexpected arguments")
            return bytearray(raw) if func is _BYTEARRAY else raw
        if func is _COMPLEX:
            if 1 <= n <= 2 and all(type(a) in (int, float) for a in args):
                return complex(*args)
            raise UnsafePickleError("complex called with unexpected arguments")
        if func in _CLASSES:
            return self.instance(func, args)
        raise UnsafePickleError(f"the pickle calls {func.name} in a way legitimate PYME files never do")

    def instance(self, cls: _Global, args: tuple) -> Any:
        if cls is _VOXELSIZE:
            if len(args) != 3 or not all(_number(a) for a in args):
                raise CorruptDataError("a pickled VoxelSize must hold three numbers")
            return self.new(PickledVoxelSize(*args), list(args))
        if args:
            raise UnsafePickleError(f"{cls.name} called with arguments; legitimate PYME pickles pass none")
        if cls is _SPLINE:
            return _Pending("spline")
        return self.new(PickledMetadata(), [])

    # -- BUILD
    def build(self, target: Any, state: Any) -> Any:
        if isinstance(target, _Pending):
            if target.shared:
                raise CorruptDataError(f"the pickle sets the state of a {target.kind} it already "
                                       "referred to (a cycle); refused")
            if target.kind == "dtype":
                return _dtype_with_state(target.dtype, state)
            if target.kind == "array":
                if not isinstance(state, tuple) or len(state) not in (4, 5) \
                        or (len(state) == 5 and state[0] != 1) or state[-2] not in (0, 1):
                    raise CorruptDataError("a pickled numpy array has a state numpy never writes")
                shape, dt, fortran, raw = state[-4:]
                if not isinstance(dt, np.dtype):
                    raise UnsafePickleError("a pickled numpy array state holds no dtype; arrays of "
                                            "Python objects are not allowed")
                return _array("a pickled numpy array", dt, shape, raw, "F" if fortran else "C",
                              self.charge, native=True)
            return self.spline(state)
        info = self.info.get(id(target))
        if isinstance(target, PickledMetadata) and info is not None:
            if info.shared or info.built:
                raise CorruptDataError("the pickle sets the state of a metadata holder twice or "
                                       "after referring to it again (a cycle); refused")
            state = self.state_dict(state, "a pickled PYME metadata handler")
            target._attrs.update(state)
            info.built = True
            self.grow(target, [*state.keys(), *state.values()])
            return target
        raise UnsafePickleError(f"pickles may set the state of numpy arrays, dtypes and the holder "
                                f"classes only, not of {type(target).__name__}")

    def state_dict(self, state: Any, what: str) -> Dict[str, Any]:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]  # (dict, slotstate) form
        if type(state) is not dict:
            raise UnsafePickleError(f"{what} has state of type {type(state).__name__}, expected a dict; "
                                    "the file is not a legitimate PYME file")
        out = {}
        for key, value in state.items():
            if isinstance(key, bytes):
                key = key.decode("latin1")
            if not isinstance(key, str):
                raise UnsafePickleError(f"{what} has a non-text attribute name")
            out[key] = value
        return out

    def spline(self, state: Any) -> BivariateSpline:
        state = self.state_dict(state, "a pickled spline")
        try:
            tck, degrees = state["tck"], state["degrees"]
        except KeyError as exc:
            raise CorruptDataError(f"a pickled spline lacks {exc}") from None
        sp = BivariateSpline(tck, degrees, state.get("fp", 0.0))
        self.new(sp, list(sp.tck))
        return sp

    # -- the loop
    def run(self) -> Any:
        dispatch = _DISPATCH
        data = self.data
        while True:
            if self.pos >= len(data):
                raise CorruptDataError("the pickle is truncated (no STOP)")
            op = data[self.pos]
            self.pos += 1
            handler = dispatch.get(op)
            if handler is None:
                raise CorruptDataError(f"invalid pickle opcode 0x{op:02x} at byte {self.pos - 1}")
            if handler is _stop:
                value = self.use(self.pop())
                return value, self.cost(value)
            handler(self)


# -- opcode handlers ----------------------------------------------------------------
_DISPATCH: Dict[int, Any] = {}


def _op(code: bytes):
    def register(fn):
        _DISPATCH[code[0]] = fn
        return fn
    return register


def _stop(self: _Interpreter) -> None:  # handled in the loop
    raise AssertionError


_DISPATCH[ord(".")] = _stop


@_op(b"\x80")
def _proto(self: _Interpreter) -> None:
    if self.take(1)[0] > 5:
        raise CorruptDataError("unsupported pickle protocol")


@_op(b"\x95")
def _frame(self: _Interpreter) -> None:
    if self.unpack("<Q") > len(self.data) - self.pos:
        raise CorruptDataError("the pickle is truncated (frame)")


@_op(b"(")
def _mark(self: _Interpreter) -> None:
    self.charge(1, 0)
    self.marks.append(self.stack)
    self.stack = []


@_op(b"0")
def _pop(self: _Interpreter) -> None:
    if self.stack:
        self.stack.pop()
    else:
        self.pop_mark()


@_op(b"1")
def _pop_mark(self: _Interpreter) -> None:
    self.pop_mark()


@_op(b"2")
def _dup(self: _Interpreter) -> None:
    if not self.stack:
        raise CorruptDataError("the pickle duplicates an empty stack")
    self.stack.append(self.refer(self.stack[-1]))


# arguments: how each opcode stores its argument
def _u1(self: _Interpreter) -> int:
    return self.take(1)[0]


def _i4(self: _Interpreter) -> int:
    return self.unpack("<i")


def _u4(self: _Interpreter) -> int:
    return self.unpack("<I")


def _u8(self: _Interpreter) -> int:
    return self.unpack("<Q")


def _text_int(self: _Interpreter) -> int:
    return _parse(int, self.line())


def _sized(length: Callable[[_Interpreter], int]) -> Callable[[_Interpreter], bytes]:
    """Bytes preceded by their ``length``."""
    return lambda self: self.take(length(self))


def _parse(kind: Any, text: bytes) -> Any:
    try:
        return kind(text)
    except ValueError as exc:
        raise CorruptDataError(f"invalid number in a pickle: {exc}") from None


def _int_or_bool(self: _Interpreter) -> Any:
    line = self.line()
    return {b"00": False, b"01": True}[line] if line in (b"00", b"01") else _parse(int, line)


def _text_long(self: _Interpreter) -> int:
    line = self.line()
    return _parse(int, line[:-1] if line.endswith(b"L") else line)


def _register(action: Callable[[_Interpreter, Any], None],
              opcodes: Dict[bytes, Callable[[_Interpreter], Any]]) -> None:
    """Each opcode reads its argument and calls ``action`` with it."""
    for code, argument in opcodes.items():
        _DISPATCH[code[0]] = (lambda arg: lambda self: action(self, arg(self)))(argument)


_register(_Interpreter.push_atom, {
    b"N": lambda self: None, b"\x88": lambda self: True, b"\x89": lambda self: False,
    b"I": _int_or_bool, b"L": _text_long, b"F": lambda self: _parse(float, self.line()),
    b"J": _i4, b"K": _u1, b"M": lambda self: self.unpack("<H"), b"G": lambda self: self.unpack(">d"),
    b"\x8a": lambda self: int.from_bytes(self.take(_u1(self)), "little", signed=True),
    b"\x8b": lambda self: int.from_bytes(self.take(_i4(self)), "little", signed=True),
    b"B": _sized(_u4), b"C": _sized(_u1), b"\x8e": _sized(_u8),
    b"\x96": lambda self: bytearray(self.take(_u8(self))),
})


# text and bytes
@_op(b"S")
def _string(self: _Interpreter) -> None:
    line = self.line().rstrip(b"\r")
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise CorruptDataError("a pickled string is not quoted")
    try:
        raw = codecs.escape_decode(line[1:-1])[0]
    except ValueError as exc:
        raise CorruptDataError(f"a pickled string has invalid escapes ({exc})") from None
    self.push_atom(self.text(raw))


_register(lambda self, raw: self.push_atom(self.text(raw)), {b"T": _sized(_i4), b"U": _sized(_u1)})


def _unicode(self: _Interpreter, raw: bytes, codec: str = "utf-8") -> None:
    try:
        self.push_atom(raw.decode(codec, "surrogatepass"))
    except UnicodeDecodeError as exc:
        raise CorruptDataError(f"pickled text is not valid ({exc.reason})") from None


@_op(b"V")
def _unicode0(self: _Interpreter) -> None:
    try:
        self.push_atom(self.line().decode("raw-unicode-escape"))
    except UnicodeDecodeError as exc:
        raise CorruptDataError(f"pickled text is not valid ({exc.reason})") from None


_register(_unicode, {b"X": _sized(_u4), b"\x8c": _sized(_u1), b"\x8d": _sized(_u8)})


@_op(b"\x97")
def _next_buffer(self: _Interpreter) -> None:
    raise CorruptDataError("the pickle refers to out-of-band buffers, which files cannot hold")


@_op(b"\x98")
def _readonly_buffer(self: _Interpreter) -> None:
    if not self.stack or not isinstance(self.stack[-1], (bytes, bytearray)):
        raise CorruptDataError("READONLY_BUFFER without a buffer")


# containers
def _tuple(self: _Interpreter, items: List[Any]) -> None:
    items = [self.use(v, in_args=True) for v in items]
    infos = [self.info.get(id(v)) for v in items]
    plain = all(not isinstance(v, _Global) and (i is None or i.plain) for v, i in zip(items, infos))
    hashable = all(i.hashable if i is not None else (
        isinstance(v, _ATOMS) and not isinstance(v, (np.void, np.dtype))) for v, i in zip(items, infos))
    self.stack.append(self.new(tuple(items), items, hashable=hashable, plain=plain))


@_op(b"t")
def _tuple_mark(self: _Interpreter) -> None:
    _tuple(self, self.pop_mark())


@_op(b")")
def _empty_tuple(self: _Interpreter) -> None:
    _tuple(self, [])


def _tuple_n(n: int):
    def handler(self: _Interpreter) -> None:
        if len(self.stack) < n:
            raise CorruptDataError("the pickle builds a tuple from an empty stack")
        items = self.stack[len(self.stack) - n:]
        del self.stack[len(self.stack) - n:]
        _tuple(self, items)
    return handler


for _n, _code in ((1, b"\x85"), (2, b"\x86"), (3, b"\x87")):
    _op(_code)(_tuple_n(_n))


def _list(self: _Interpreter, items: List[Any]) -> None:
    items = [self.use(v) for v in items]
    self.stack.append(self.new(list(items), items))


@_op(b"]")
def _empty_list(self: _Interpreter) -> None:
    _list(self, [])


@_op(b"l")
def _list_mark(self: _Interpreter) -> None:
    _list(self, self.pop_mark())


def _extend(self: _Interpreter, items: List[Any]) -> None:
    target = self.stack[-1] if self.stack else None
    self.mutable(target, list, "APPEND")
    items = [self.use(v) for v in items]
    self.grow(target, items)
    target.extend(items)


@_op(b"a")
def _append(self: _Interpreter) -> None:
    value = self.pop()
    _extend(self, [value])


@_op(b"e")
def _appends(self: _Interpreter) -> None:
    _extend(self, self.pop_mark())


def _setitems(self: _Interpreter, items: List[Any], target: Any = None) -> None:
    if target is None:
        target = self.stack[-1] if self.stack else None
        self.mutable(target, dict, "SETITEM")
    if len(items) % 2:
        raise CorruptDataError("the pickle sets a dict item without a value")
    added = []
    for i in range(0, len(items), 2):
        key, value = self.key(items[i]), self.use(items[i + 1])
        target[key] = value
        added += (key, value)
    self.grow(target, added)


@_op(b"}")
def _empty_dict(self: _Interpreter) -> None:
    self.stack.append(self.new({}, []))


@_op(b"d")
def _dict_mark(self: _Interpreter) -> None:
    items = self.pop_mark()
    target = self.new({}, [])
    _setitems(self, items, target)
    self.stack.append(target)


@_op(b"s")
def _setitem(self: _Interpreter) -> None:
    value = self.pop()
    key = self.pop()
    _setitems(self, [key, value])


@_op(b"u")
def _setitems_mark(self: _Interpreter) -> None:
    _setitems(self, self.pop_mark())


@_op(b"\x8f")
def _empty_set(self: _Interpreter) -> None:
    self.stack.append(self.new(set(), []))


@_op(b"\x90")
def _additems(self: _Interpreter) -> None:
    items = self.pop_mark()
    target = self.stack[-1] if self.stack else None
    self.mutable(target, set, "ADDITEMS")
    keys = [self.key(k) for k in items]
    self.grow(target, keys)
    target.update(keys)


@_op(b"\x91")
def _frozenset(self: _Interpreter) -> None:
    keys = [self.key(k) for k in self.pop_mark()]
    self.stack.append(self.new(frozenset(keys), keys, hashable=True))


# memo
def _put(self: _Interpreter, index: int) -> None:
    if not self.stack:
        raise CorruptDataError("the pickle memoizes from an empty stack")
    value = self.stack[-1]
    if isinstance(value, _Pending):
        value.memo_keys.append(index)
    self.memo[index] = value


def _get(self: _Interpreter, index: int) -> None:
    try:
        value = self.memo[index]
    except KeyError:
        raise CorruptDataError(f"the pickle refers to memo entry {index}, which it never stored") from None
    self.stack.append(self.refer(value))


_register(_put, {b"p": _text_int, b"q": _u1, b"r": _u4, b"\x94": lambda self: len(self.memo)})
_register(_get, {b"g": _text_int, b"h": _u1, b"j": _u4})


# globals and calls
def _module_name(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptDataError("a pickled global name is not text") from None


@_op(b"c")
def _global(self: _Interpreter) -> None:
    module = _module_name(self.line())
    name = _module_name(self.line())
    self.charge(1, 0)
    self.stack.append(self.global_(module, name))


@_op(b"\x93")
def _stack_global(self: _Interpreter) -> None:
    name = self.pop()
    module = self.pop()
    if not isinstance(module, str) or not isinstance(name, str):
        raise CorruptDataError("STACK_GLOBAL needs text module and class names")
    self.charge(1, 0)
    self.stack.append(self.global_(module, name))


def _push_result(self: _Interpreter, value: Any) -> None:
    if isinstance(value, _Pending):
        self.charge(1, 0)
    elif id(value) not in self.info and not isinstance(value, np.ndarray):  # arrays: charged when built
        self.push_atom(value)
        return
    self.stack.append(value)


@_op(b"R")
def _reduce(self: _Interpreter) -> None:
    args = self.use(self.pop(), in_args=True)
    func = self.use(self.pop(), in_args=True)
    _push_result(self, self.call(func, args))


@_op(b"\x81")
def _newobj(self: _Interpreter) -> None:
    args = self.use(self.pop(), in_args=True)
    cls = self.use(self.pop(), in_args=True)
    if cls not in _CLASSES or not isinstance(args, tuple):
        raise UnsafePickleError(f"the pickle creates a {cls!r}; only PYME's metadata and spline "
                                "classes may be created")
    _push_result(self, self.instance(cls, args))


@_op(b"\x92")
def _newobj_ex(self: _Interpreter) -> None:
    kwargs = self.use(self.pop())
    if kwargs != {}:
        raise UnsafePickleError("the pickle creates an object with keyword arguments")
    _newobj(self)


@_op(b"o")
def _obj(self: _Interpreter) -> None:
    items = [self.use(v, in_args=True) for v in self.pop_mark()]
    if not items or items[0] not in _CLASSES:
        raise UnsafePickleError("the pickle creates an object of a class legitimate PYME files never use")
    _push_result(self, self.instance(items[0], tuple(items[1:])))


@_op(b"i")
def _inst(self: _Interpreter) -> None:
    cls = self.global_(_module_name(self.line()), _module_name(self.line()))
    items = [self.use(v, in_args=True) for v in self.pop_mark()]
    if cls not in _CLASSES:
        raise UnsafePickleError("the pickle creates an object of a class legitimate PYME files never use")
    _push_result(self, self.instance(cls, tuple(items)))


@_op(b"b")
def _build(self: _Interpreter) -> None:
    state = self.use(self.pop())
    if not self.stack:
        raise CorruptDataError("BUILD without an object")
    target = self.stack[-1]
    value = self.build(target, state)
    if value is not target:
        if isinstance(value, np.dtype):
            self.charge(1, 0)
        self.stack[-1] = value
        for index in target.memo_keys:
            if self.memo.get(index) is target:
                self.memo[index] = value


def _refuse(message: str, kind: type = UnsafePickleError):
    def handler(self: _Interpreter) -> None:
        raise kind(message)
    return handler


for _code in (b"P", b"Q"):
    _op(_code)(_refuse("pickles with persistent ids are not allowed"))
for _code in (b"\x82", b"\x83", b"\x84"):
    _op(_code)(_refuse("pickles using the copyreg extension registry are not allowed"))


def safe_loads(data: bytes, *, encoding: str = "latin1", source: str = "",
               max_decoded_size: BudgetLike = None) -> Any:
    """Interpret a pickle into inert values, allowing only what legitimate PYME files hold.

    Parameters
    ----------
    data : bytes
        The pickle (any protocol, 0 to 5).
    encoding : str, optional
        How Python 2 ``str`` objects are decoded (``'latin1'`` keeps numpy's
        raw array bytes intact; ``'bytes'`` leaves them as bytes).
    source : str, optional
        Where the pickle comes from (file name, attribute), for error messages.
    max_decoded_size : int or ReadBudget, optional
        The read's budget: items, bytes and nesting depth the result may
        use, shared values counted each time they are used (default: a new
        :class:`~pzfcodec.budget.ReadBudget`).  At most
        :data:`MAX_PICKLE_VALUES` values in any case.

    Returns
    -------
    object
        The value; PYME classes come back as the inert holders of this
        module, scipy splines as :class:`~pzfcodec.pyme.spline.BivariateSpline`.

    Raises
    ------
    pzfcodec.UnsafePickleError
        The pickle refers to a class or function legitimate files never
        use, or uses an allowed one in a way they never do.  Nothing was executed.
    pzfcodec.CorruptDataError
        The pickle is truncated, malformed or inconsistent (an array whose
        bytes do not match its shape, a cycle, an unhashable dict key).
    pzfcodec.DataTooLargeError
        The result would exceed the budget (size, count or depth).
    """
    return _loads(data, encoding=encoding, source=source, budget=ReadBudget.of(max_decoded_size))[0]


def _loads(data: bytes, *, encoding: str = "latin1", source: str = "",
           budget: ReadBudget) -> Tuple[Any, Tuple[int, int, int]]:
    """:func:`safe_loads`, also returning the (items, bytes, depth) of the result's expansion."""
    try:
        return _Interpreter(bytes(data), encoding, source, budget).run()
    except PZFError as exc:
        if source and source not in str(exc):
            raise type(exc)(f"{source}: {exc}") from None
        raise
    except (MemoryError, RecursionError) as exc:
        where = f"{source}: " if source else ""
        raise DataTooLargeError(f"{where}the pickle needs more memory than available "
                                f"({type(exc).__name__})") from None
    except (ValueError, TypeError, OverflowError, struct.error) as exc:
        where = f" {source}" if source else ""
        raise CorruptDataError(f"cannot read the pickle{where}: {type(exc).__name__}: {exc}") from None
