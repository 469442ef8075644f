"""PYME metadata sidecar files: ``.json``, ``.md`` and ``.xml``.

PYME stores the metadata of a TIFF stack (and of other image files) in a
file with the same base name: ``series.tif`` + ``series.json``, ``series.md``
or ``series.xml``.  Each holds flat dotted keys (``Camera.ADOffset``,
``voxelsize.x``, ...).

PYME *executes* ``.md`` files and unpickles ``.xml`` values.  This module
reads all three without running anything from the file: ``.md`` files are
parsed (never executed) and only pure-data expressions are evaluated
(literals, bounded arithmetic, earlier ``md['Key']`` values and a few known
idioms); pickled values go through the pickle interpreter of
:mod:`pzfcodec.pyme.safe_pickle`.  Every read is charged to a
:class:`~pzfcodec.budget.ReadBudget`: file size, values (a value used again
counted again), keys and nesting depth.
"""
from __future__ import annotations

import ast
import base64
import binascii
import operator
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from xml.parsers import expat

import numpy as np

from ..budget import BudgetLike, ReadBudget, loads_json
from ..errors import CorruptDataError, DataTooLargeError, UnsupportedFormatError
from . import safe_pickle

__all__ = ["SIDECAR_SUFFIXES", "MetadataWarning", "find_sidecar", "read_metadata"]

PathLike = Union[str, "os.PathLike[str]"]

#: Sidecar suffixes in the order PYME's image loader looks for them.
SIDECAR_SUFFIXES = (".xml", ".md", ".json")


class MetadataWarning(UserWarning):
    """A statement of a ``.md`` file was skipped because it is not plain metadata."""


def find_sidecar(image_path: PathLike) -> Optional[Path]:
    """Return the metadata file paired with an image file, or None.

    The sidecar has the image's base name and one of the suffixes
    ``.xml``, ``.md``, ``.json``, tried in that order (PYME's order):
    ``series.tif`` pairs with ``series.xml``, else ``series.md``, else
    ``series.json``.

    Parameters
    ----------
    image_path : str or os.PathLike
        Path of the image file (it need not exist).

    Returns
    -------
    pathlib.Path or None
        The first existing sidecar, or None if there is none.
    """
    image_path = Path(image_path)
    for suffix in SIDECAR_SUFFIXES:
        candidate = image_path.with_suffix(suffix)
        if candidate != image_path and candidate.is_file():
            return candidate
    return None


def read_metadata(path: PathLike, *, max_decoded_size: BudgetLike = None) -> Dict[str, Any]:
    """Read a PYME metadata sidecar (``.json``, ``.md`` or ``.xml``) safely.

    Parameters
    ----------
    path : str or os.PathLike
        The sidecar file; its suffix selects the format.
    max_decoded_size : int or ReadBudget, optional
        The read's budget (bytes, items, nesting depth; default: a new
        :class:`~pzfcodec.budget.ReadBudget`).  The file, its values and
        its keys are charged to it, a value used again (``md['Key']``, a
        pickle's shared values) each time.

    Returns
    -------
    dict
        Flat dotted keys (``'Camera.ADOffset'``) to values, in file order.

    Raises
    ------
    CorruptDataError
        The file is malformed; the message names the file and line/element.
    UnsupportedFormatError
        The suffix is not one of ``.json``, ``.md``, ``.xml``, or an ``.xml``
        entry uses an unknown ``class``.
    UnsafePickleError
        A pickled value refers to anything outside the allowed set (nothing
        from it is run).
    DataTooLargeError
        The file, its values or their nesting exceed the budget.

    Warns
    -----
    MetadataWarning
        For each ``.md`` statement that is not a readable metadata
        assignment (such statements are skipped, never run).
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UnsupportedFormatError(
            f"{path}: unknown metadata file type {path.suffix!r}; "
            f"expected one of {', '.join(sorted(_READERS))}"
        )
    return reader(path, ReadBudget.of(max_decoded_size))


# ---- .json ---------------------------------------------------------------

def _read_json(path: Path, budget: ReadBudget) -> Dict[str, Any]:
    # the file must fit in what is left before it is read; loads_json charges it
    value = loads_json(_read_bytes(path, ReadBudget(budget.bytes_left)), str(path), budget)
    if not isinstance(value, dict):
        raise CorruptDataError(
            f"{path}: expected one JSON object of metadata keys, found {type(value).__name__}"
        )
    return value


def _read_bytes(path: Path, budget: ReadBudget) -> bytes:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        budget.charge_bytes(size, f"{path}: the metadata file")
        return fh.read(size + 1)


# ---- .md (PYME Simple Metadata) ------------------------------------------

class _Unsupported(Exception):
    """An expression outside the whitelist (the statement is skipped)."""


# Imports that real files use before the accepted idioms; they are not run.
_IDIOM_IMPORTS = frozenset({"os", "os.path", "pickle", "cPickle"})
#: skipped statements warned about one by one; the rest are counted in one warning
_MAX_WARNINGS = 100
#: bits of an integer an expression may compute (4300 decimal digits, what Python prints)
_MAX_INT_BITS = 14_000
#: items (characters, bytes, elements) of a text or sequence an expression may compute
_MAX_COMPUTED = 1 << 20

_Cost = Tuple[int, int, int]  # (items, bytes, depth) of a value's full expansion


def _read_md(path: Path, budget: ReadBudget) -> Dict[str, Any]:
    data = _read_bytes(path, budget)
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # Python 2 era files hold raw latin-1 bytes
        source = data.decode("latin-1")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise CorruptDataError(
            f"{path}: line {exc.lineno}: not valid PYME Simple Metadata "
            f"(Python syntax error: {exc.msg})"
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CorruptDataError(f"{path}: not valid PYME Simple Metadata, or nested too deeply "
                               f"({type(exc).__name__}: {exc})") from None

    evaluator = _MdEvaluator(path, budget)
    lines = _Lines(source)
    skipped = 0
    for stmt in tree.body:
        if _is_idiom_import(stmt):
            continue
        key = _md_key(stmt)
        reason = ""
        if key is not None:
            try:
                evaluator.assign(key, stmt.value)
                continue
            except _Unsupported as exc:
                reason = f"{exc}; " if str(exc) else ""
        skipped += 1
        if skipped <= _MAX_WARNINGS:
            warnings.warn(
                f"{path}: line {stmt.lineno}: skipped ({reason}not a metadata value pzfcodec "
                f"reads without running code): {lines.text(stmt)}",
                MetadataWarning,
                stacklevel=3,
            )
    if skipped > _MAX_WARNINGS:
        warnings.warn(f"{path}: {skipped - _MAX_WARNINGS} more statements skipped", MetadataWarning,
                      stacklevel=3)
    return evaluator.metadata


class _Lines:
    """The start of a statement's source text, each line split and encoded once
    (``ast.get_source_segment`` splits the whole source on every call)."""

    def __init__(self, source: str) -> None:
        self.lines = re.split(r"\r\n|\r|\n", source)
        self.encoded: Dict[int, bytes] = {}

    def text(self, stmt: ast.stmt) -> str:
        i = stmt.lineno - 1
        if i not in self.encoded:
            self.encoded[i] = self.lines[i].encode("utf-8", "surrogatepass") if i < len(self.lines) else b""
        start = stmt.col_offset
        return self.encoded[i][start:start + 480].decode("utf-8", "replace")[:120]


def _is_idiom_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Import) and all(
        alias.name in _IDIOM_IMPORTS and alias.asname is None for alias in stmt.names
    )


def _md_name(node: ast.expr) -> Optional[str]:
    """The key of an ``md['Key']`` expression, else None."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "md"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    return None


def _md_key(stmt: ast.stmt) -> Optional[str]:
    """The key of a ``md['Key'] = value`` statement, else None."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
        return None
    return _md_name(stmt.targets[0])


def _dotted(node: ast.expr) -> Optional[str]:
    """``os.path.join`` -> 'os.path.join' for Name/Attribute chains, else None."""
    parts = []
    while isinstance(node, ast.Attribute) and len(parts) < 8:
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


_INTS = (int, np.integer)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, complex, np.integer, np.floating, np.complexfloating))


def _bits(value: Any) -> int:
    return abs(int(value)).bit_length() if isinstance(value, _INTS) else 0


def _arith(op: ast.operator, a: Any, b: Any) -> Any:
    """``a op b`` for the operators of pure-data expressions, with bounded operands."""
    if _is_number(a) and _is_number(b):
        ints = isinstance(a, _INTS) and isinstance(b, _INTS)
        if isinstance(op, ast.Mult) and ints and _bits(a) + _bits(b) > _MAX_INT_BITS:
            raise _Unsupported("the product is too large")
        if isinstance(op, ast.Pow) and isinstance(b, _INTS) and (
                abs(int(b)) > _MAX_INT_BITS or (ints and b > 0 and _bits(a) > 1
                                                and (_bits(a) - 1) * int(b) > _MAX_INT_BITS)):
            raise _Unsupported("the power is too large")
        try:
            result = _OPERATORS[type(op)](a, b)
        except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
            raise _Unsupported(f"{type(exc).__name__}: {exc}") from None
        if isinstance(result, int) and result.bit_length() > _MAX_INT_BITS:
            raise _Unsupported("the result is too large")
        return result
    seq = (str, bytes, list, tuple)
    if isinstance(op, ast.Add) and isinstance(a, seq) and type(a) is type(b):
        if len(a) + len(b) > _MAX_COMPUTED:
            raise _Unsupported("the result is too long")
        return a + b
    if isinstance(op, ast.Mult):
        if isinstance(b, seq) and type(a) in (int, bool):
            a, b = b, a
        if isinstance(a, seq) and type(b) in (int, bool):
            if len(a) * max(int(b), 0) > _MAX_COMPUTED:
                raise _Unsupported("the repetition is too long")
            return a * b
    raise _Unsupported(f"{type(op).__name__} of {type(a).__name__} and {type(b).__name__}")


_OPERATORS: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}


class _MdEvaluator:
    """Evaluates the pure-data value forms of a ``.md`` file.

    Accepted: literals (numbers, strings, ``u'...'``, booleans, None), tuples,
    lists and dicts of accepted values, indexing them with a constant,
    arithmetic ``+ - * / // % **`` on numbers with bounded operands, ``+``
    and ``*`` on texts and sequences with bounded results, unary minus and
    plus, ``md['Key']`` for keys assigned earlier in the file,
    ``pickle.loads`` of a string literal (the pickle interpreter), and string
    path expressions built with ``os.path.join``, ``os.path.split``,
    ``os.path.dirname`` and ``os.path.basename`` from ``__file__`` (the
    ``.md`` file itself) and string literals.

    Values are charged to the read's budget, a value referred to again with
    ``md['Key']`` in full each time, and nesting is bounded by its depth.
    """

    _PATH_FUNCTIONS: Dict[str, Callable[..., Any]] = {
        "os.path.join": os.path.join,
        "os.path.split": os.path.split,
        "os.path.dirname": os.path.dirname,
        "os.path.basename": os.path.basename,
    }

    def __init__(self, path: Path, budget: ReadBudget):
        self.path = path
        self.file = os.path.abspath(path)
        self.budget = budget
        self.metadata: Dict[str, Any] = {}
        self.costs: Dict[str, _Cost] = {}

    def assign(self, key: str, node: ast.expr) -> None:
        value, cost = self.eval(node, 0)
        items, nbytes, depth = cost
        where = f"{self.path}: line {node.lineno}"
        if depth > self.budget.max_depth:
            raise DataTooLargeError(f"{where}: the value is nested more than {self.budget.max_depth} "
                                    "levels deep; no legitimate metadata nests so deep")
        if items > safe_pickle.MAX_PICKLE_VALUES:
            raise DataTooLargeError(f"{where}: the value expands to {items} values (those used again "
                                    f"counted again), more than the {safe_pickle.MAX_PICKLE_VALUES} "
                                    "allowed; legitimate metadata values are far smaller")
        # a value referred to with md['Key'] is charged again in full, so the
        # values' expansion (printing, writing them) is bounded by the budget
        self.budget.charge_items(items, f"{where}: the value")
        self.budget.charge_bytes(nbytes, f"{where}: the value")
        self.metadata[key] = value
        self.costs[key] = cost

    def eval(self, node: ast.expr, level: int) -> Tuple[Any, _Cost]:
        if level >= self.budget.max_depth:
            raise DataTooLargeError(f"{self.path}: line {node.lineno}: an expression nested more than "
                                    f"{self.budget.max_depth} levels deep")
        level += 1
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, (bool, int, float, complex, type(None))):
                return value, (1, 0, 0)
            if isinstance(value, (str, bytes)):
                return value, (1, len(value), 0)
            raise _Unsupported
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand, cost = self.eval(node.operand, level)
            if isinstance(operand, bool) or not _is_number(operand):
                raise _Unsupported
            return (-operand if isinstance(node.op, ast.USub) else operand), cost
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            (a, ca), (b, cb) = self.eval(node.left, level), self.eval(node.right, level)
            value = _arith(node.op, a, b)
            if isinstance(value, (list, tuple)):
                if isinstance(node.op, ast.Add):
                    return value, (1 + ca[0] + cb[0], ca[1] + cb[1], max(ca[2], cb[2]))
                seq, cost = (a, ca) if isinstance(a, (list, tuple)) else (b, cb)
                n = len(value) // len(seq) if seq else 0
                return value, (1 + (cost[0] - 1) * n, cost[1] * n, cost[2])
            if isinstance(value, (str, bytes)):
                return value, (1, len(value), 0)
            return value, (1, 0, 0)
        if isinstance(node, (ast.Tuple, ast.List)):
            parts = [self.eval(e, level) for e in node.elts]
            value = [v for v, _ in parts]
            return (tuple(value) if isinstance(node, ast.Tuple) else value), _sum(parts)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):  # ``**spread``
                raise _Unsupported
            keys = [self.eval(k, level) for k in node.keys]
            values = [self.eval(v, level) for v in node.values]
            for k, _ in keys:
                if not isinstance(k, (str, bytes, int, float, complex, type(None))) and not (
                        isinstance(k, tuple) and all(isinstance(e, (str, bytes, int, float)) for e in k)):
                    raise _Unsupported("a dict key that is not a number, text or a flat tuple of them")
            return dict(zip((k for k, _ in keys), (v for v, _ in values))), _sum(keys + values)
        if isinstance(node, ast.Subscript):
            name = _md_name(node)
            if name is not None:
                if name not in self.metadata:
                    raise _Unsupported(f"md[{name!r}] is not set earlier in the file")
                return self.metadata[name], self.costs[name]
            return self._subscript(node, level)
        if isinstance(node, ast.Name) and node.id == "__file__":
            return self.file, (1, len(self.file), 0)
        if isinstance(node, ast.Call):
            return self._call(node, level)
        raise _Unsupported

    def _subscript(self, node: ast.Subscript, level: int) -> Tuple[Any, _Cost]:
        container, cost = self.eval(node.value, level)
        index = node.slice
        if not (
            isinstance(container, (tuple, list))
            and isinstance(index, ast.Constant)
            and type(index.value) is int
            and -len(container) <= index.value < len(container)
        ):
            raise _Unsupported
        return container[index.value], cost  # at most the container's cost

    def _call(self, node: ast.Call, level: int) -> Tuple[Any, _Cost]:
        name = _dotted(node.func)
        if node.keywords:
            raise _Unsupported
        if name in ("pickle.loads", "cPickle.loads") and len(node.args) == 1:
            return self._pickle(node)
        function = self._PATH_FUNCTIONS.get(name or "")
        if function is None:
            raise _Unsupported
        args = [self.eval(a, level)[0] for a in node.args]
        if not args or not all(isinstance(a, str) for a in args):
            raise _Unsupported
        if name != "os.path.join" and len(args) != 1:
            raise _Unsupported
        value = function(*args)
        return value, (3, sum(map(len, value)) if isinstance(value, tuple) else len(value), 1)

    def _pickle(self, node: ast.Call) -> Tuple[Any, _Cost]:
        arg = node.args[0]
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, (str, bytes))):
            raise _Unsupported
        text = arg.value
        # Python 2 read the literal as bytes: characters below 256 are those
        # bytes, and a \uXXXX escape stayed text for the pickle to decode.
        data = text if isinstance(text, bytes) else text.encode("raw_unicode_escape")
        return safe_pickle._loads(data, source=f"{self.path}: line {node.lineno}", budget=self.budget)


def _sum(parts: List[Tuple[Any, _Cost]]) -> _Cost:
    """The cost of a container of ``parts``."""
    items, nbytes, depth = 1, 0, 0
    for _, (i, b, d) in parts:
        items += i
        nbytes += b
        depth = max(depth, d)
    return items, nbytes, depth + 1


# ---- .xml ----------------------------------------------------------------

def _xml_int(value: str) -> Union[int, bool]:
    # Booleans are written with class="int"; Python 2 longs may end in "L".
    if value in ("True", "False"):
        return value == "True"
    return int(value[:-1] if value.endswith(("L", "l")) else value)


def _xml_pickle(value: str, source: str, budget: ReadBudget) -> Any:
    try:
        data = base64.b64decode(value.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CorruptDataError(f"{source}: invalid base64 pickle ({exc})") from None
    return safe_pickle.safe_loads(data, source=source, max_decoded_size=budget)


_XML_CLASSES: Dict[str, Callable[[str], Any]] = {
    "float": float,
    "int": _xml_int,
    "str": str,
    "unicode": str,
}


def _read_xml(path: Path, budget: ReadBudget) -> Dict[str, Any]:
    metadata: Dict[str, Any] = {}
    stack: list = []  # names of the open elements, root first
    parser = expat.ParserCreate()

    def where() -> str:
        return f"{path}: line {parser.CurrentLineNumber}"

    def forbid(*_args: Any) -> None:
        raise CorruptDataError(
            f"{where()}: DTDs and entity declarations are not allowed in PYME "
            "metadata files (they are refused for safety)"
        )

    def start(name: str, attrs: Dict[str, str]) -> None:
        if len(stack) >= budget.max_depth:
            raise DataTooLargeError(f"{where()}: elements nested more than {budget.max_depth} levels "
                                    "deep; no legitimate PYME metadata file nests so deep")
        stack.append(name)
        if len(stack) == 1 and name != "PYMEImageData":
            raise UnsupportedFormatError(
                f"{where()}: root element is <{name}>, not <PYMEImageData>: "
                "this is not a PYME metadata file"
            )
        cls = attrs.get("class")
        if cls is None or len(stack) < 3 or stack[1] != "MetaData":
            return
        key = ".".join(stack[2:])  # only for value elements: its length is charged
        budget.charge_items(1, f"{path}: metadata keys")
        budget.charge_bytes(len(key), f"{path}: metadata keys")
        element = f"{where()}: <{name}> (key {key!r})"
        if "value" not in attrs:
            raise CorruptDataError(f"{element}: missing the 'value' attribute")
        value = attrs["value"]
        if cls == "pickle":
            metadata[key] = _xml_pickle(value, element, budget)
            return
        convert = _XML_CLASSES.get(cls)
        if convert is None:
            raise UnsupportedFormatError(
                f"{element}: unknown class {cls!r}; expected one of "
                f"{', '.join(sorted(_XML_CLASSES))}, pickle"
            )
        try:
            metadata[key] = convert(value)
        except ValueError:
            raise CorruptDataError(f"{element}: {value!r} is not a valid {cls}") from None

    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = forbid
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: stack.pop()
    try:
        parser.Parse(_read_bytes(path, budget), True)
    except expat.ExpatError as exc:
        raise CorruptDataError(
            f"{path}: line {exc.lineno}, column {exc.offset}: malformed XML "
            f"({expat.ErrorString(exc.code)})"
        ) from None
    return metadata


_READERS: Dict[str, Callable[[Path, ReadBudget], Dict[str, Any]]] = {
    ".json": _read_json,
    ".md": _read_md,
    ".xml": _read_xml,
}
