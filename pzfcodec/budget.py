"""One read budget for every reader of untrusted files.

Sizes stored in a file are claims, not facts.  Every reader of pzfcodec
(PZF blobs, PYME ``.h5``/``.h5r`` tables and metadata, pickles, sidecars,
TIFF pages, chunk codecs) charges what a file makes it allocate or visit
to a :class:`ReadBudget` *before* doing the work, so a small hostile file
cannot make it allocate gigabytes, walk an exponential graph or recurse
until the interpreter crashes.

A budget counts three things:

* ``bytes``: memory the read allocates for decoded data (arrays, strings,
  tables), by default :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE`;
* ``items``: units of work (rows, keys, list elements, tree nodes, pickle
  opcodes, HDF5 objects visited), by default :data:`DEFAULT_MAX_ITEMS`;
* ``depth``: nesting (containers within containers, groups within groups),
  by default :data:`DEFAULT_MAX_DEPTH`, far below Python's recursion limit.

Readers take ``max_decoded_size=`` (an int, or a :class:`ReadBudget` for
full control) and pass one budget down through everything one call reads.
:func:`loads_json` parses untrusted JSON (sidecars, cluster listings and
series files) within such a budget.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator, Optional, Union

from .codec import DEFAULT_MAX_DECODED_SIZE
from .errors import BadArgumentError, CorruptDataError, DataTooLargeError

__all__ = ["ReadBudget", "BudgetLike", "loads_json", "DEFAULT_MAX_ITEMS", "DEFAULT_MAX_DEPTH"]

#: Default number of work units (rows, keys, nodes, opcodes) one read may use.
DEFAULT_MAX_ITEMS = 50_000_000
#: Default nesting depth one read may reach.
DEFAULT_MAX_DEPTH = 200


class ReadBudget:
    """What one read may allocate, visit and nest; charged before the work.

    Parameters
    ----------
    max_bytes : int, optional
        Bytes of decoded data (default :data:`pzfcodec.DEFAULT_MAX_DECODED_SIZE`).
    max_items : int, optional
        Units of work: rows, keys, elements, nodes (default :data:`DEFAULT_MAX_ITEMS`).
    max_depth : int, optional
        Nesting depth (default :data:`DEFAULT_MAX_DEPTH`).

    Raises
    ------
    pzfcodec.DataTooLargeError
        From :meth:`charge_bytes`, :meth:`charge_items` and :meth:`nested`
        when a limit would be exceeded; nothing has been allocated then.
    """

    __slots__ = ("max_bytes", "max_items", "max_depth", "used_bytes", "used_items", "depth")

    def __init__(self, max_bytes: Optional[int] = None, *, max_items: Optional[int] = None,
                 max_depth: Optional[int] = None) -> None:
        self.max_bytes = _limit("max_bytes", max_bytes, DEFAULT_MAX_DECODED_SIZE)
        self.max_items = _limit("max_items", max_items, DEFAULT_MAX_ITEMS)
        self.max_depth = _limit("max_depth", max_depth, DEFAULT_MAX_DEPTH)
        self.used_bytes = 0
        self.used_items = 0
        self.depth = 0

    @classmethod
    def of(cls, budget: "BudgetLike" = None) -> "ReadBudget":
        """The budget to use for ``budget``: itself, a new one of that many
        bytes (an int), or a default one (None)."""
        if isinstance(budget, ReadBudget):
            return budget
        return cls(budget)

    @property
    def bytes_left(self) -> int:
        """Bytes that may still be charged."""
        return self.max_bytes - self.used_bytes

    def charge_bytes(self, n: int, what: str) -> int:
        """Charge ``n`` bytes for ``what`` (a phrase naming the data); return ``n``."""
        n = int(n)
        if n < 0 or n > self.max_bytes - self.used_bytes:
            raise DataTooLargeError(
                f"{what} would need {n} bytes, more than the {self.bytes_left} left of this "
                f"read's budget of {self.max_bytes} bytes; if the file is trusted, pass a larger "
                "max_decoded_size")
        self.used_bytes += n
        return n

    def charge_items(self, n: int, what: str) -> int:
        """Charge ``n`` units of work for ``what``; return ``n``."""
        n = int(n)
        if n < 0 or n > self.max_items - self.used_items:
            raise DataTooLargeError(
                f"{what} would need {n} more rows, keys or nodes; this read allows "
                f"{self.max_items} in all (a ReadBudget with a larger max_items allows more "
                "for a trusted file)")
        self.used_items += n
        return n

    @contextlib.contextmanager
    def nested(self, what: str) -> Iterator[None]:
        """Context manager for one more level of nesting inside ``what``."""
        if self.depth >= self.max_depth:
            raise DataTooLargeError(
                f"{what} is nested more than {self.max_depth} levels deep; "
                "no legitimate file nests so deep")
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def __repr__(self) -> str:
        return (f"ReadBudget(bytes {self.used_bytes}/{self.max_bytes}, "
                f"items {self.used_items}/{self.max_items}, depth {self.depth}/{self.max_depth})")


BudgetLike = Union[None, int, ReadBudget]


def _limit(name: str, value: Optional[int], default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise BadArgumentError(f"{name} must be a non-negative integer; got {value!r}")
    value = int(value)
    if value < 0:
        raise BadArgumentError(f"{name} must be a non-negative integer; got {value}")
    return value


def _check_depth(value: Any, budget: ReadBudget, what: str) -> None:
    if isinstance(value, (dict, list)):
        with budget.nested(what):
            for v in value.values() if isinstance(value, dict) else value:
                _check_depth(v, budget, what)


def loads_json(data: bytes, what: str, budget: BudgetLike = None) -> Any:
    """Parse untrusted JSON (``what`` names it in errors), bounded by ``budget``.

    Before parsing, the text's size is charged as bytes and an upper bound of
    its values (commas, colons and brackets) as items, so a huge listing is
    refused before Python builds its objects; the nesting is then limited
    to the budget's depth.

    Raises
    ------
    pzfcodec.CorruptDataError
        Not UTF-8 JSON, or absurdly nested.
    pzfcodec.DataTooLargeError
        Larger than the budget allows, or than the memory left.
    """
    budget = ReadBudget.of(budget)
    data = bytes(data)
    budget.charge_bytes(len(data), what)
    budget.charge_items(1 + sum(data.count(c) for c in (b",", b":", b"[", b"{")), what)
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise CorruptDataError(f"{what}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise CorruptDataError(f"{what}: not UTF-8 text ({exc.reason})") from None
    except (RecursionError, ValueError) as exc:  # absurd nesting, numbers of 4300+ digits
        raise CorruptDataError(f"{what}: not valid JSON ({type(exc).__name__}: {exc})") from None
    except MemoryError:
        raise DataTooLargeError(f"{what}: {len(data)} bytes of JSON need more memory than is left; "
                                "pass a ReadBudget with a smaller max_items to refuse it sooner") from None
    _check_depth(value, budget, what)
    return value
