"""Exception classes of pzfcodec.

Every error the library raises on purpose is a :class:`PZFError`; the
subclasses tell what went wrong so callers can react precisely.  Those that
describe bad input also derive from :class:`ValueError`.
"""

__all__ = [
    "PZFError",
    "CorruptDataError",
    "UnsupportedFormatError",
    "BadArgumentError",
    "DataTooLargeError",
    "UnsafePickleError",
    "FileLockedError",
    "SpoolError",
    "one_line",
    "QueueFullError",
    "StorageError",
    "MissingFileError",
]


class PZFError(Exception):
    """Base class of every error raised by pzfcodec."""


class CorruptDataError(PZFError, ValueError):
    """The data is malformed, truncated or inconsistent with its header."""


class UnsupportedFormatError(PZFError, ValueError):
    """The data is well formed but uses a variant pzfcodec does not handle."""


class BadArgumentError(PZFError, ValueError):
    """A caller passed an invalid argument (wrong dtype, shape, option...)."""


class DataTooLargeError(PZFError, ValueError):
    """A header claims more decoded data than the allowed maximum."""


class UnsafePickleError(PZFError):
    """A pickle refers to something outside the allowed set; nothing was run."""


class FileLockedError(PZFError, OSError):
    """Another program holds the file open for writing and has locked it."""


class SpoolError(PZFError):
    """Writing a spooled series failed (disk full, server gone, permission...).

    Attributes
    ----------
    durable : int
        Frames, counted from the first, that were durable before the failure;
        they read back intact.
    """

    def __init__(self, message: str, durable: int = 0) -> None:
        super().__init__(message)
        self.durable = durable


class QueueFullError(SpoolError):
    """:meth:`SeriesWriter.append` with ``on_full="raise"`` found the queue full;
    the frame was not taken."""


class StorageError(PZFError, OSError):
    """Reading or writing a storage location failed: a PYME data server
    refused, timed out or could not be reached, or a local root could not
    be written.  The message names the server (or root) and the path.

    Attributes
    ----------
    location : str or None
        The server (``host:port``) or local root involved, when known.
    path : str or None
        The path within it.
    """

    def __init__(self, message: str, *, location: "str | None" = None,
                 path: "str | None" = None) -> None:
        super().__init__(message)
        self.location = location
        self.path = path


class MissingFileError(StorageError):
    """A file (for example one frame of a ``.pcs`` series) exists on none of
    the roots or servers; it is absent, not damaged."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (HDF5's messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__
