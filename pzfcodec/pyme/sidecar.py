"""PYME metadata sidecar files: ``.json``, ``.md`` and ``.xml``.

PYME stores the metadata of a TIFF stack (and of other image files) in a
file with the same base name: ``series.tif`` + ``series.json``, ``series.md``
or ``series.xml``.  Each holds flat dotted keys (``Camera.ADOffset``,
``voxelsize.x``, ...).

PYME *executes* ``.md`` files and unpickles ``.xml`` values.  This module
reads all three without running anything from the file: ``.md`` files are
parsed (never executed) and only literal values and a few known idioms are
evaluated; pickled values go through the restricted unpickler of
:mod:`pzfcodec.pyme.safe_pickle`.
"""
from __future__ import annotations

import ast
import base64
import binascii
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union
from xml.parsers import expat

from ..errors import CorruptDataError, UnsupportedFormatError

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


def read_metadata(path: PathLike) -> Dict[str, Any]:
    """Read a PYME metadata sidecar (``.json``, ``.md`` or ``.xml``) safely.

    Parameters
    ----------
    path : str or os.PathLike
        The sidecar file; its suffix selects the format.

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
    return reader(path)


# ---- .json ---------------------------------------------------------------

def _read_json(path: Path) -> Dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise CorruptDataError(
            f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})"
        ) from None
    except UnicodeDecodeError as exc:
        raise CorruptDataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except (RecursionError, ValueError) as exc:  # absurd nesting, numbers of 4300+ digits
        raise CorruptDataError(f"{path}: not PYME metadata ({type(exc).__name__}: {exc})") from None
    if not isinstance(value, dict):
        raise CorruptDataError(
            f"{path}: expected one JSON object of metadata keys, found {type(value).__name__}"
        )
    return value


# ---- .md (PYME Simple Metadata) ------------------------------------------

class _Unsupported(Exception):
    """An expression outside the whitelist (the statement is skipped)."""


# Imports that real files use before the accepted idioms; they are not run.
_IDIOM_IMPORTS = frozenset({"os", "os.path", "pickle", "cPickle"})


def _read_md(path: Path) -> Dict[str, Any]:
    data = path.read_bytes()
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
        raise CorruptDataError(f"{path}: not valid PYME Simple Metadata ({exc})") from None

    evaluator = _MdEvaluator(path)
    metadata: Dict[str, Any] = {}
    for stmt in tree.body:
        if _is_idiom_import(stmt):
            continue
        key = _md_key(stmt)
        if key is not None:
            try:
                metadata[key] = evaluator.eval(stmt.value)
                continue
            except _Unsupported:
                pass
        text = (ast.get_source_segment(source, stmt) or "").partition("\n")[0]
        warnings.warn(
            f"{path}: line {stmt.lineno}: skipped (not a metadata value pzfcodec "
            f"reads without running code): {text[:120]}",
            MetadataWarning,
            stacklevel=3,
        )
    return metadata


def _is_idiom_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Import) and all(
        alias.name in _IDIOM_IMPORTS and alias.asname is None for alias in stmt.names
    )


def _md_key(stmt: ast.stmt) -> Optional[str]:
    """The key of a ``md['Key'] = value`` statement, else None."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
        return None
    target = stmt.targets[0]
    if (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and target.value.id == "md"
        and isinstance(target.slice, ast.Constant)
        and isinstance(target.slice.value, str)
    ):
        return target.slice.value
    return None


def _dotted(node: ast.expr) -> Optional[str]:
    """``os.path.join`` -> 'os.path.join' for Name/Attribute chains, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _MdEvaluator:
    """Evaluates the whitelisted value forms of a ``.md`` file.

    Accepted: literals (numbers, strings, ``u'...'``, booleans, None), unary
    minus/plus on numbers, tuples, lists and dicts of accepted values,
    indexing them with a constant, ``pickle.loads('''...''')`` (restricted
    unpickler), and string path expressions built with ``os.path.join``,
    ``os.path.split``, ``os.path.dirname`` and ``os.path.basename`` from
    ``__file__`` (the ``.md`` file itself) and string literals.
    """

    _PATH_FUNCTIONS: Dict[str, Callable[..., Any]] = {
        "os.path.join": os.path.join,
        "os.path.split": os.path.split,
        "os.path.dirname": os.path.dirname,
        "os.path.basename": os.path.basename,
    }

    def __init__(self, path: Path):
        self.path = path
        self.file = os.path.abspath(path)

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float, complex, str, type(None))):
                return node.value
            raise _Unsupported
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.eval(node.operand)
            if isinstance(operand, bool) or not isinstance(operand, (int, float, complex)):
                raise _Unsupported
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(e) for e in node.elts)
        if isinstance(node, ast.List):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):  # ``**spread``
                raise _Unsupported
            try:
                return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values)}
            except TypeError:  # unhashable key
                raise _Unsupported from None
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Name) and node.id == "__file__":
            return self.file
        if isinstance(node, ast.Call):
            return self._call(node)
        raise _Unsupported

    def _subscript(self, node: ast.Subscript) -> Any:
        container = self.eval(node.value)
        index = node.slice
        if not (
            isinstance(container, (tuple, list))
            and isinstance(index, ast.Constant)
            and type(index.value) is int
            and -len(container) <= index.value < len(container)
        ):
            raise _Unsupported
        return container[index.value]

    def _call(self, node: ast.Call) -> Any:
        name = _dotted(node.func)
        if node.keywords:
            raise _Unsupported
        if name in ("pickle.loads", "cPickle.loads") and len(node.args) == 1:
            return self._pickle(node)
        function = self._PATH_FUNCTIONS.get(name or "")
        if function is None:
            raise _Unsupported
        args = [self.eval(a) for a in node.args]
        if not args or not all(isinstance(a, str) for a in args):
            raise _Unsupported
        if name != "os.path.join" and len(args) != 1:
            raise _Unsupported
        return function(*args)

    def _pickle(self, node: ast.Call) -> Any:
        arg = node.args[0]
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, (str, bytes))):
            raise _Unsupported
        text = arg.value
        # Python 2 read the literal as bytes: characters below 256 are those
        # bytes, and a \uXXXX escape stayed text for the pickle to decode.
        data = text if isinstance(text, bytes) else text.encode("raw_unicode_escape")
        return _safe_loads(data, f"{self.path}: line {node.lineno}")


def _safe_loads(data: bytes, source: str) -> Any:
    from .safe_pickle import safe_loads  # the pickle machinery is loaded only when needed

    return safe_loads(data, encoding="latin1", source=source)


# ---- .xml ----------------------------------------------------------------

def _xml_int(value: str) -> Union[int, bool]:
    # Booleans are written with class="int"; Python 2 longs may end in "L".
    if value in ("True", "False"):
        return value == "True"
    return int(value[:-1] if value.endswith(("L", "l")) else value)


def _xml_pickle(value: str, source: str) -> Any:
    try:
        data = base64.b64decode(value.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CorruptDataError(f"{source}: invalid base64 pickle ({exc})") from None
    return _safe_loads(data, source)


_XML_CLASSES: Dict[str, Callable[[str], Any]] = {
    "float": float,
    "int": _xml_int,
    "str": str,
    "unicode": str,
}


def _read_xml(path: Path) -> Dict[str, Any]:
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
        stack.append(name)
        if len(stack) == 1 and name != "PYMEImageData":
            raise UnsupportedFormatError(
                f"{where()}: root element is <{name}>, not <PYMEImageData>: "
                "this is not a PYME metadata file"
            )
        cls = attrs.get("class")
        if cls is None or len(stack) < 3 or stack[1] != "MetaData":
            return
        key = ".".join(stack[2:])
        element = f"{where()}: <{name}> (key {key!r})"
        if "value" not in attrs:
            raise CorruptDataError(f"{element}: missing the 'value' attribute")
        value = attrs["value"]
        if cls == "pickle":
            metadata[key] = _xml_pickle(value, element)
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
        parser.Parse(path.read_bytes(), True)
    except expat.ExpatError as exc:
        raise CorruptDataError(
            f"{path}: line {exc.lineno}, column {exc.offset}: malformed XML "
            f"({expat.ErrorString(exc.code)})"
        ) from None
    return metadata


_READERS: Dict[str, Callable[[Path], Dict[str, Any]]] = {
    ".json": _read_json,
    ".md": _read_md,
    ".xml": _read_xml,
}
