"""Storage of PYME cluster series: local data-server roots and PYME data servers.

PYME spreads one acquisition (a ``.pcs`` series directory) over several data
servers, each serving its own root directory.  This module gives one
interface, :class:`Store`, over both ways of reaching them:

* :class:`LocalStore` (``roots=[...]``): the roots as directories on this
  machine; the same relative directory is merged across every root;
* :class:`HTTPStore` (``servers=["host:port", ...]``): PYME data servers
  over HTTP (``PUT`` write-once, ``GET``, ``GET dir/`` JSON listings).
  Servers are only ever given explicitly (or by the environment variable
  ``PZFCODEC_PYME_SERVERS``); nothing is discovered by zeroconf/mDNS.

Contract of every store (what writers such as :class:`PCSWriter` rely on)
-----------------------------------------------------------------------
* Paths are relative POSIX paths (``"2024/run_01.pcs/frame00000.pzf"``): no
  leading ``/``, no empty, ``.`` or ``..`` components, no backslash, NUL or
  control characters; anything else raises :class:`~pzfcodec.BadArgumentError`.
* ``put(path, data, target=k, durable=True)`` is **write-once**: it creates
  the file on root/server ``k`` (default 0) and returns only when the whole
  file is there under its final name -- on a local root written to a
  temporary name, fsynced, linked to its final name without replacing
  anything and the directory fsynced; on a server acknowledged with HTTP
  200.  A file of that name that already exists raises
  :class:`~pzfcodec.StorageError` and is left untouched (a server's 405).
  A half-written file is never visible under the final name.  Local
  ``durable=False`` skips the fsyncs; :meth:`Store.sync` then makes every
  such file durable.  (PYME's server itself does not fsync what it
  acknowledges: "durable" over HTTP means "acknowledged by the server".)
* ``get(path)`` returns the bytes, from ``target`` or from the first root or
  server that has the file; :class:`~pzfcodec.MissingFileError` when none
  has it.  Sizes are bounded (``max_size``) before anything is read.
* ``list(dir)`` merges the directory over every root/server:
  ``{name: FileEntry(size, targets)}``, subdirectory names ending in ``/``.
* Failures (refused or reset connections, timeouts, HTTP errors, local
  ``OSError``) raise :class:`~pzfcodec.StorageError` naming the server or
  root and the path.  HTTP requests are retried on transient failures
  (refused or reset connections, HTTP 500/502/503/504), with a short
  back-off; a retried ``PUT`` answered 405 counts as done when the server
  holds exactly the bytes sent.
* Every method is thread-safe; an :class:`HTTPStore` keeps at most
  ``connections`` open connections per server.
* Everything a server sends is hostile input: bodies are size-limited,
  listings are size-, depth- and item-limited by a
  :class:`~pzfcodec.budget.ReadBudget`.
"""
from __future__ import annotations

import errno
import http.client
import json
import os
import re
import secrets
import socket
import stat
import threading
import time
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..budget import BudgetLike, ReadBudget, loads_json
from ..codec import DEFAULT_MAX_DECODED_SIZE
from ..errors import (BadArgumentError, CorruptDataError, DataTooLargeError, MissingFileError,
                      PZFError, StorageError)

__all__ = [
    "Store", "LocalStore", "HTTPStore", "FileEntry", "PCSWriter", "open_store", "parse_servers",
    "SERVERS_ENV", "BLOCK_FRAMES", "MAX_JSON_BYTES", "frame_name", "check_relpath", "metadata_json",
    "events_json",
]

#: Environment variable naming PYME data servers: ``"host:port,host:port"``.
SERVERS_ENV = "PZFCODEC_PYME_SERVERS"
#: Frames per block: PYME's spooler sends block ``b`` (frames 50b..50b+49) to server ``b % n``.
BLOCK_FRAMES = 50
#: Size limit of a listing or JSON file read from a server or root (a listing of
#: a million frames is about 30 MB; parsed, JSON takes many times its size).
MAX_JSON_BYTES = 64 << 20
_TMP_PREFIX = ".pzfcodec-tmp-"
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_RETRY_STATUS = (500, 502, 503, 504)
#: Whether this OS opens, creates and links files relative to directory descriptors (not Windows).
_DIR_FD = {os.open, os.mkdir, os.link, os.unlink, os.stat, os.rename} <= os.supports_dir_fd


@dataclass(frozen=True)
class FileEntry:
    """One name in a merged listing.

    Attributes
    ----------
    size : int
        Size in bytes (0 for a directory), as the first root/server holding it reports.
    targets : tuple of int
        Indices of the roots/servers holding it, in order.
    """

    size: int
    targets: Tuple[int, ...]


def frame_name(frame_num: int) -> str:
    """PYME's name of a frame file: ``frame00042.pzf`` (six digits from 100000 on)."""
    return "frame%05d.pzf" % frame_num


def check_relpath(path: str, *, allow_empty: bool = False) -> str:
    """``path`` as a clean relative POSIX path, or BadArgumentError."""
    if not isinstance(path, str):
        raise BadArgumentError(f"a storage path must be a str, got {type(path).__name__}")
    path = path.strip("/") if allow_empty else path
    if path == "" and allow_empty:
        return ""
    parts = path.split("/")
    if path.startswith("/") or _BAD_CHARS.search(path) or any(p in ("", ".", "..") for p in parts):
        raise BadArgumentError(
            f"{path!r} is not a relative path of plain names (no leading '/', '.', '..', empty "
            "parts, backslashes or control characters)")
    return path


class _MetadataEncoder(json.JSONEncoder):
    """PYME's metadata encoder: numpy scalars as numbers, ``to_JSON()`` objects as text."""

    def default(self, o: Any) -> Any:
        if isinstance(o, (np.generic, np.ndarray)):
            return o.tolist()
        if isinstance(o, bytes):
            return o.decode("utf-8", "replace")
        to_json = getattr(o, "to_JSON", None)
        if callable(to_json):
            return to_json()
        return super().default(o)


def metadata_json(metadata: Mapping[str, Any]) -> bytes:
    """Metadata as PYME writes ``metadata.json``: sorted keys, ``indent=2``.

    Raises
    ------
    pzfcodec.BadArgumentError
        A key is not a string or a value cannot be written as JSON.
    """
    md = dict(metadata)
    bad = [k for k in md if not isinstance(k, str)]
    if bad:
        raise BadArgumentError(f"metadata keys must be strings, got {bad[0]!r}")
    try:
        return json.dumps(md, indent=2, sort_keys=True, cls=_MetadataEncoder).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise BadArgumentError(f"metadata cannot be written as JSON: {exc}") from None


def events_json(events: Any) -> bytes:
    """Events as PYME writes ``events.json``: a list of ``[name, description, time]``.

    ``events`` is a structured array with fields EventName, EventDescr and
    Time (as :attr:`Series.events` or PYME's events table), or None.
    """
    rows: List[List[Any]] = []
    if events is not None and len(events):
        arr = np.asarray(events)
        if arr.dtype.names is None or not {"EventName", "EventDescr", "Time"} <= set(arr.dtype.names):
            raise BadArgumentError("events must be a structured array with fields EventName, EventDescr and Time")

        def text(v: Any) -> str:
            return v.decode("utf-8", "replace") if isinstance(v, (bytes, np.bytes_)) else str(v)

        rows = [[text(e["EventName"]), text(e["EventDescr"]), float(e["Time"])] for e in arr]
    return json.dumps(rows).encode("utf-8")


# ---- stores -------------------------------------------------------------------

class Store:
    """A set of roots or servers holding files by relative path; see the module
    docstring for the contract.  Use :func:`open_store` to make one."""

    #: ``"root"`` or ``"server"``: what a target is, for messages.
    target_kind = "root"

    @property
    def targets(self) -> Tuple[str, ...]:
        """The roots or servers (``host:port``), in order."""
        raise NotImplementedError

    def describe(self, path: str = "", target: Optional[int] = None) -> str:
        """A location for messages: ``server host:port, path P`` or a local path."""
        raise NotImplementedError

    def put(self, path: str, data: bytes, *, target: int = 0, durable: bool = True) -> None:
        raise NotImplementedError

    def get(self, path: str, *, target: Optional[int] = None, max_size: Optional[int] = None) -> bytes:
        raise NotImplementedError

    def list(self, path: str = "", *, budget: BudgetLike = None) -> Dict[str, FileEntry]:
        raise NotImplementedError

    def sync(self) -> None:
        """Make every file put with ``durable=False`` durable (local roots); no-op over HTTP."""

    def exists(self, path: str) -> bool:
        """Whether the file exists on some root or server (listing its directory)."""
        head, _, name = check_relpath(path).rpartition("/")
        try:
            listing = self.list(head)
        except MissingFileError:
            return False
        return name in listing or name + "/" in listing

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _target(self, target: int) -> int:
        n = len(self.targets)
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < n:
            raise BadArgumentError(f"target must be an index of one of the {n} {self.target_kind}s, got {target!r}")
        return int(target)

    @staticmethod
    def _max_size(max_size: Optional[int]) -> int:
        return DEFAULT_MAX_DECODED_SIZE if max_size is None else int(max_size)


def _write_all(fd: int, view: memoryview) -> None:
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:done + (64 << 20)])


class LocalStore(Store):
    """Data-server roots on this machine, merged; see :func:`open_store`."""

    target_kind = "root"

    def __init__(self, roots: Sequence[Union[str, "os.PathLike[str]"]]) -> None:
        if isinstance(roots, (str, bytes, os.PathLike)) or not len(roots):
            raise BadArgumentError("roots must be a non-empty list of directories")
        self._roots = tuple(os.path.abspath(os.fspath(r)) for r in roots)
        self._unsynced: List[Tuple[int, str]] = []
        self._lock = threading.Lock()

    @property
    def targets(self) -> Tuple[str, ...]:
        return self._roots

    def describe(self, path: str = "", target: Optional[int] = None) -> str:
        if target is None:
            roots = self._roots[0] if len(self._roots) == 1 else f"{len(self._roots)} roots"
            return f"{path} (under {roots})" if path else roots
        return os.path.join(self._roots[target], *path.split("/")) if path else self._roots[target]

    def _error(self, what: str, path: str, target: int, exc: OSError) -> StorageError:
        cls = MissingFileError if isinstance(exc, FileNotFoundError) else StorageError
        return cls(f"cannot {what} {self.describe(path, target)}: {exc.strerror or exc}",
                   location=self._roots[target], path=path)

    # -- writing -------------------------------------------------------------
    def _open_dir(self, target: int, parts: Sequence[str], create: bool) -> int:
        """An fd of root/parts..., each component opened without following symlinks."""
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
        if create:
            os.makedirs(self._roots[target], exist_ok=True)
        fd = os.open(self._roots[target], os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            for part in parts:
                if create:
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                nfd = os.open(part, flags, dir_fd=fd)
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def put(self, path: str, data: bytes, *, target: int = 0, durable: bool = True) -> None:
        """Create ``path`` on root ``target`` with ``data``; write-once, see the module docstring."""
        path, target = check_relpath(path), self._target(target)
        *dirs, name = path.split("/")
        view = memoryview(data).cast("B")
        if not _DIR_FD:
            return self._put_by_path(path, view, target)
        try:
            dfd = self._open_dir(target, dirs, create=True)
        except OSError as exc:
            raise self._error("create the directory of", path, target, exc) from None
        tmp = f"{_TMP_PREFIX}{secrets.token_hex(8)}-{name}"
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_CLOEXEC", 0), 0o444, dir_fd=dfd)
                try:
                    _write_all(fd, view)
                    if durable:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                self._link(tmp, name, dfd, path, target)
            finally:
                try:
                    os.unlink(tmp, dir_fd=dfd)
                except OSError:
                    pass
            if durable:
                os.fsync(dfd)
            else:
                with self._lock:
                    self._unsynced.append((target, path))
        except StorageError:
            raise
        except OSError as exc:
            raise self._error("write", path, target, exc) from None
        finally:
            os.close(dfd)

    def _put_by_path(self, path: str, view: memoryview, target: int) -> None:
        """:meth:`put` where the OS has no directory descriptors (Windows): the same
        steps by path, each directory checked not to be a symbolic link, always fsynced."""
        *dirs, name = path.split("/")
        try:
            folder = self._roots[target]
            os.makedirs(folder, exist_ok=True)
            for part in dirs:
                folder = os.path.join(folder, part)
                try:
                    os.mkdir(folder)
                except FileExistsError:
                    pass
                if os.path.islink(folder) or not os.path.isdir(folder):
                    raise StorageError(f"{folder} is a symbolic link or not a directory; refusing to write "
                                       "through it", location=self._roots[target], path=path)
            final = os.path.join(folder, name)
            tmp = os.path.join(folder, f"{_TMP_PREFIX}{secrets.token_hex(8)}-{name}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
            try:
                try:
                    _write_all(fd, view)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if os.path.lexists(final):  # Windows' rename refuses an existing name too
                    raise FileExistsError(final)
                os.rename(tmp, final)
            finally:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
        except FileExistsError:
            raise StorageError(f"{self.describe(path, target)} already exists; series files are written "
                               "once and never replaced", location=self._roots[target], path=path) from None
        except OSError as exc:
            if isinstance(exc, StorageError):
                raise
            raise self._error("write", path, target, exc) from None

    def _link(self, tmp: str, name: str, dfd: int, path: str, target: int) -> None:
        """Give the temporary file its final name without replacing an existing file."""
        try:
            os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        except FileExistsError:
            raise StorageError(f"{self.describe(path, target)} already exists; series files are written "
                               "once and never replaced", location=self._roots[target], path=path) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV):
                raise
            # a file system without hard links: rename, after checking (not atomic against others)
            try:
                os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            else:
                raise StorageError(f"{self.describe(path, target)} already exists; series files are "
                                   "written once and never replaced", location=self._roots[target],
                                   path=path) from None

    def sync(self) -> None:
        """fsync every file put with ``durable=False`` since the last sync, and its directory."""
        with self._lock:
            pending, self._unsynced = self._unsynced, []
        dirs = set()
        try:
            for target, path in pending:
                full = self.describe(path, target)
                fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                dirs.add(os.path.dirname(full))
            for d in dirs:
                fd = os.open(d, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot make the files written under {self.describe()} durable "
                               f"({exc.filename}: {exc.strerror or exc})", location=None) from None

    # -- reading -------------------------------------------------------------
    def get(self, path: str, *, target: Optional[int] = None, max_size: Optional[int] = None) -> bytes:
        """The bytes of ``path`` from root ``target``, or from the first root holding it."""
        path = check_relpath(path)
        limit = self._max_size(max_size)
        order = range(len(self._roots)) if target is None else [self._target(target)]
        for t in order:
            full = self.describe(path, t)
            try:
                with open(full, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                        raise StorageError(f"{full} is not a regular file", location=self._roots[t], path=path)
                    if size > limit:
                        raise DataTooLargeError(
                            f"{full} holds {size} bytes, more than the {limit} allowed; if it is "
                            "trusted, pass a larger max_decoded_size")
                    data = fh.read(limit + 1)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except IsADirectoryError:
                raise StorageError(f"{full} is a directory, not a file", location=self._roots[t],
                                   path=path) from None
            except OSError as exc:
                if isinstance(exc, PZFError):
                    raise
                raise self._error("read", path, t, exc) from None
            if len(data) > limit:
                raise DataTooLargeError(f"{full} grew beyond the {limit} bytes allowed while being read")
            return data
        raise MissingFileError(f"{path} exists under none of the roots {list(self._roots)}", path=path)

    def list(self, path: str = "", *, budget: BudgetLike = None) -> Dict[str, FileEntry]:
        """Merged listing of directory ``path`` over every root (absent on a root: nothing from it)."""
        path = check_relpath(path, allow_empty=True)
        budget = ReadBudget.of(budget)
        out: Dict[str, FileEntry] = {}
        found = False
        for t in range(len(self._roots)):
            full = self.describe(path, t)
            try:
                with os.scandir(full) as it:
                    found = True
                    for entry in it:
                        if entry.name.startswith(_TMP_PREFIX):
                            continue
                        budget.charge_items(1, f"the listing of {full}")
                        is_dir = entry.is_dir()
                        name = entry.name + "/" if is_dir else entry.name
                        size = 0 if is_dir else entry.stat().st_size
                        prev = out.get(name)
                        out[name] = FileEntry(size, (t,)) if prev is None else FileEntry(prev.size, prev.targets + (t,))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise self._error("list", path, t, exc) from None
        if not found:
            raise MissingFileError(f"{path or '.'} is a directory under none of the roots {list(self._roots)}",
                                   path=path)
        return out


# ---- HTTP -------------------------------------------------------------------

def parse_servers(servers: Union[None, str, Iterable[Any]]) -> List[Tuple[str, int]]:
    """``[(host, port), ...]`` from ``"h:p,h:p"``, a list of ``"h:p"`` / ``"http://h:p"`` /
    ``(host, port)``, or None (then the ``PZFCODEC_PYME_SERVERS`` environment variable)."""
    if servers is None:
        servers = os.environ.get(SERVERS_ENV, "")
    if isinstance(servers, str):
        servers = [s for s in re.split(r"[,\s]+", servers) if s]
    out: List[Tuple[str, int]] = []
    for s in servers:
        if isinstance(s, (tuple, list)) and len(s) == 2:
            host, port = str(s[0]), s[1]
        else:
            text = str(s)
            if "://" in text:
                parsed = urllib.parse.urlsplit(text)
                if parsed.scheme.lower() != "http" or parsed.path not in ("", "/"):
                    raise BadArgumentError(f"a server is host:port or http://host:port, got {text!r}")
                text = parsed.netloc
            host, sep, port = text.rpartition(":")
            if not sep or not host:
                raise BadArgumentError(f"a server is given as host:port, got {text!r}")
            host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise BadArgumentError(f"server {s!r}: the port must be a number") from None
        if not 0 < port < 65536 or not host or _BAD_CHARS.search(host) or "/" in host:
            raise BadArgumentError(f"server {s!r}: not a valid host and port")
        if (host, port) not in out:
            out.append((host, port))
    return out


def _quick_ack(conn: http.client.HTTPConnection) -> None:
    """Acknowledge the response's segments at once (Linux): PYME's server writes the
    headers and the body separately with Nagle's algorithm on, so a delayed ACK
    would stall every response by ~40 ms."""
    opt = getattr(socket, "TCP_QUICKACK", None)
    if opt is not None and conn.sock is not None:
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, opt, 1)
        except OSError:
            pass


class _Server:
    """A bounded pool of keep-alive connections to one server."""

    def __init__(self, host: str, port: int, timeout: float, connections: int) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._slots = threading.BoundedSemaphore(connections)
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(self, method: str, url: str, body: Optional[bytes], max_body: int
                ) -> Tuple[int, str, Optional[bytes], bool]:
        """``(status, reason, body or None when over max_body, reused)``; raises OSError/HTTPException."""
        with self._slots:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                headers = {"Content-Length": str(len(body))} if body is not None else {}
                conn.request(method, url, body=body, headers=headers)
                _quick_ack(conn)
                resp = conn.getresponse()
                length = resp.getheader("Content-Length")
                data: Optional[bytes]
                if length is not None and length.isdigit() and int(length) > max_body:
                    data = None
                    resp.close()
                    conn.close()
                else:
                    data = resp.read(max_body + 1)
                    if len(data) > max_body:
                        data = None
                        conn.close()
                if resp.will_close or data is None:
                    conn.close()
                else:
                    with self._lock:
                        self._idle.append(conn)
                return resp.status, resp.reason, data, reused
            except BaseException as exc:
                conn.close()
                exc.reused_connection = reused  # type: ignore[attr-defined]
                raise

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class HTTPStore(Store):
    """PYME data servers reached over HTTP; see :func:`open_store`.

    Parameters
    ----------
    servers : list of str or (host, port)
        The servers, in order (their order decides where frame blocks go).
    timeout : float
        Seconds a connection attempt or a wait for data may take.
    retries : int
        Further attempts after a transient failure.
    connections : int
        Open connections per server at most (requests beyond wait).
    """

    target_kind = "server"

    def __init__(self, servers: Union[str, Iterable[Any]], *, timeout: float = 30.0, retries: int = 3,
                 connections: int = 4) -> None:
        addresses = parse_servers(servers)
        if not addresses:
            raise BadArgumentError("give at least one data server as host:port")
        if not timeout > 0 or retries < 0 or connections < 1:
            raise BadArgumentError("timeout must be > 0, retries >= 0 and connections >= 1")
        self.timeout, self.retries, self.connections = float(timeout), int(retries), int(connections)
        self._servers = [_Server(h, p, self.timeout, self.connections) for h, p in addresses]

    @property
    def targets(self) -> Tuple[str, ...]:
        return tuple(s.name for s in self._servers)

    def describe(self, path: str = "", target: Optional[int] = None) -> str:
        if target is None:
            where = f"server {self._servers[0].name}" if len(self._servers) == 1 else \
                f"servers {', '.join(self.targets)}"
            return f"{path} on {where}" if path else where
        return f"http://{self._servers[target].name}/{path}"

    def _request(self, target: int, method: str, path: str, body: Optional[bytes] = None,
                 max_body: int = 1 << 16, url_suffix: str = "") -> Tuple[int, Optional[bytes], int]:
        """``(status, body, attempts)`` of one request with retries; StorageError on failure."""
        server = self._servers[target]
        url = "/" + urllib.parse.quote(path) + url_suffix
        delay = 0.05
        attempt = 0
        while True:
            attempt += 1
            try:
                status, reason, data, reused = server.request(method, url, body, max_body)
            except (socket.timeout, TimeoutError):
                raise StorageError(f"server {server.name} did not answer {method} /{path}{url_suffix} within "
                                   f"{self.timeout:g} s", location=server.name, path=path) from None
            except (OSError, http.client.HTTPException) as exc:
                # a kept-alive connection the server closed meanwhile: retry at once, uncounted
                stale = getattr(exc, "reused_connection", False) and isinstance(
                    exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
                if attempt <= self.retries + (1 if stale else 0):
                    if not stale:
                        time.sleep(delay)
                        delay *= 2
                    continue
                why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise StorageError(f"server {server.name} failed on {method} /{path}{url_suffix} after "
                                   f"{attempt} attempts: {why}", location=server.name, path=path) from None
            if status in _RETRY_STATUS and attempt <= self.retries:
                time.sleep(delay)
                delay *= 2
                continue
            if data is None and status == 200:
                raise DataTooLargeError(
                    f"server {server.name} sent more than {max_body} bytes for /{path}{url_suffix}; if it is "
                    "trusted, pass a larger max_decoded_size")
            return status, data, attempt

    def _fail(self, target: int, method: str, path: str, status: int) -> StorageError:
        name = self._servers[target].name
        return StorageError(f"server {name} answered {method} /{path} with HTTP {status} "
                            f"{http.client.responses.get(status, '')}".rstrip(), location=name, path=path)

    def put(self, path: str, data: bytes, *, target: int = 0, durable: bool = True) -> None:
        """PUT ``path`` on server ``target``; returns when the server acknowledged it (HTTP 200)."""
        path, target = check_relpath(path), self._target(target)
        body = bytes(data)
        status, _, attempts = self._request(target, "PUT", path, body)
        if status == 200:
            return
        if status == 405:
            if attempts > 1:  # our earlier attempt may have stored it before the connection failed
                try:
                    if self.get(path, target=target, max_size=len(body)) == body:
                        return
                except PZFError:
                    pass
            raise StorageError(f"{self.describe(path, target)} already exists (the server answered 405); "
                               "series files are written once and never replaced",
                               location=self._servers[target].name, path=path)
        raise self._fail(target, "PUT", path, status)

    def get(self, path: str, *, target: Optional[int] = None, max_size: Optional[int] = None) -> bytes:
        """GET ``path`` from server ``target``, or from the first server that has it."""
        path = check_relpath(path)
        limit = self._max_size(max_size)
        order = range(len(self._servers)) if target is None else [self._target(target)]
        for t in order:
            status, data, _ = self._request(t, "GET", path, max_body=limit)
            if status == 200:
                assert data is not None
                return data
            if status not in (404, 301):  # 301: a directory
                raise self._fail(t, "GET", path, status)
        raise MissingFileError(f"{path} is on none of the {self.describe()}", path=path)

    def list(self, path: str = "", *, budget: BudgetLike = None) -> Dict[str, FileEntry]:
        """Merged listing of ``path/`` over every server, fetched concurrently."""
        path = check_relpath(path, allow_empty=True)
        budget = ReadBudget.of(budget)
        lock = threading.Lock()

        def one(t: int) -> Optional[Dict[str, Any]]:
            limit = min(MAX_JSON_BYTES, budget.bytes_left)
            status, data, _ = self._request(t, "GET", path, max_body=limit, url_suffix="/" if path else "")
            if status == 404:
                return None
            if status != 200:
                raise self._fail(t, "GET", path + "/", status)
            assert data is not None
            with lock:
                value = loads_json(data, f"the listing of /{path}/ from server {self._servers[t].name}", budget)
            if not isinstance(value, dict):
                raise CorruptDataError(f"server {self._servers[t].name} sent a listing of /{path}/ that is "
                                       f"not a JSON object ({type(value).__name__})")
            return value

        listings = _map(one, range(len(self._servers)), len(self._servers))
        if all(v is None for v in listings):
            raise MissingFileError(f"{path or '/'} is a directory on none of the {self.describe()}", path=path)
        out: Dict[str, FileEntry] = {}
        for t, listing in enumerate(listings):
            for name, info in (listing or {}).items():
                where = f"server {self._servers[t].name}, listing of /{path}/"
                bare = name[:-1] if name.endswith("/") else name
                if not bare or "/" in bare or bare in (".", "..") or _BAD_CHARS.search(bare):
                    raise CorruptDataError(f"{where}: invalid name {name[:100]!r}")
                size = info[1] if isinstance(info, list) and len(info) == 2 else None
                if isinstance(size, bool) or not isinstance(size, int) or size < 0 or \
                        isinstance(info[0], bool) or not isinstance(info[0], int):
                    raise CorruptDataError(f"{where}: entry {name[:100]!r} is not [flags, size]")
                if info[0] & 1 and not name.endswith("/"):  # directory flag without the slash
                    name += "/"
                prev = out.get(name)
                out[name] = FileEntry(size, (t,)) if prev is None else FileEntry(prev.size, prev.targets + (t,))
        return out

    def close(self) -> None:
        for s in self._servers:
            s.close()


def _map(fn: Any, items: Iterable[Any], workers: int) -> List[Any]:
    """``[fn(x) for x in items]`` on up to ``workers`` threads; the first error is raised."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        futures = [pool.submit(fn, x) for x in items]
        return [f.result() for f in futures]


def open_store(roots: Optional[Sequence[Any]] = None, servers: Union[None, str, Iterable[Any]] = None,
               **http_options: Any) -> Store:
    """The store for ``roots`` (local directories) or ``servers`` (``host:port``).

    With neither, the servers come from the ``PZFCODEC_PYME_SERVERS``
    environment variable.  ``http_options`` (timeout, retries, connections)
    go to :class:`HTTPStore`.

    Raises
    ------
    pzfcodec.BadArgumentError
        Both or neither given (and the environment variable unset), or a
        malformed server address.
    """
    if roots is not None and servers is not None:
        raise BadArgumentError("give either roots (local directories) or servers (host:port), not both")
    if roots is not None:
        return LocalStore(roots)
    addresses = parse_servers(servers)
    if not addresses:
        raise BadArgumentError(
            "no PYME data servers given: pass servers=['host:port', ...] or set the "
            f"{SERVERS_ENV} environment variable (pzfcodec never looks for servers by mDNS)")
    return HTTPStore(addresses, **http_options)


# ---- writing a series -----------------------------------------------------------

class PCSWriter:
    """Write one ``.pcs`` series into a :class:`Store`, in PYME's layout and order.

    Contract (what a streaming writer can rely on):

    1. :meth:`put_metadata` writes ``metadata.json`` synchronously; call it
       first, before any frame (PYME's readers need it to open the series).
    2. :meth:`put_frame` hands one PZF blob (frame ``n``, stored as
       ``frame%05d.pzf`` on root/server ``(n // 50) % len(store.targets)``,
       PYME's distribution) to a pool of ``threads`` workers and returns;
       at most ``max_pending`` puts are outstanding, beyond that it blocks
       until one finishes.  A failure of an earlier put is raised by the
       next ``put_frame``/:meth:`flush`/:meth:`finish` (and recorded in
       :attr:`error`); frames already durable are never touched again.
    3. :meth:`flush` returns when every frame handed over before it is
       durable (local: fsynced with its directory; HTTP: acknowledged) and
       returns :attr:`durable`.
    4. :meth:`finish` flushes, then writes ``final_metadata.json`` and then
       ``events.json``; ``events.json`` marks the series complete, so it is
       written only once every frame is durable.
    5. :meth:`close` (or leaving a ``with`` block) waits for outstanding puts
       and releases the workers; it does not mark the series complete.

    Parameters
    ----------
    store : Store
        Where to write (see :func:`open_store`).
    series : str
        Relative path of the series directory (``"2024/run_01.pcs"``).
    threads : int, optional
        Workers putting frames (default: 2 per root/server, at most 16).
    max_pending : int, optional
        Puts outstanding at most (default: 4 per worker).
    json_target : int, optional
        Root/server receiving the JSON files (default 0).
    """

    def __init__(self, store: Store, series: str, *, threads: Optional[int] = None,
                 max_pending: Optional[int] = None, json_target: int = 0) -> None:
        self.store = store
        self.series = check_relpath(series)
        n = len(store.targets)
        self.threads = int(threads) if threads else min(16, 2 * n)
        if self.threads < 1:
            raise BadArgumentError(f"threads must be >= 1, got {threads}")
        self.max_pending = int(max_pending) if max_pending else 4 * self.threads
        self.json_target = store._target(json_target)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="pzfcodec-pcs")
        self._slots = threading.BoundedSemaphore(self.max_pending)
        self._lock = threading.Lock()
        self._pending: Dict[int, Future] = {}
        self._acked: set = set()
        self._durable_set: set = set()
        self._durable = 0
        self._local = isinstance(store, LocalStore)
        #: The first error of a frame put, or None.
        self.error: Optional[BaseException] = None
        self._closed = False

    # -- state ---------------------------------------------------------------
    @property
    def durable(self) -> int:
        """Frames ``0 .. durable - 1`` are all durable (see the class contract)."""
        return self._durable

    @property
    def frames_durable(self) -> int:
        """Number of frames durable (whatever their numbers)."""
        return len(self._durable_set)

    @property
    def pending(self) -> int:
        """Frame puts handed over and not yet finished."""
        return len(self._pending)

    def target_of(self, frame_num: int) -> int:
        """Root/server index of frame ``frame_num``: ``(frame_num // 50) % n``, as PYME's spooler does."""
        return (int(frame_num) // BLOCK_FRAMES) % len(self.store.targets)

    def _raise_error(self) -> None:
        if self.error is not None:
            raise StorageError(f"writing {self.series} failed: {self.error}; frames 0..{self._durable - 1} "
                               "are durable" if self._durable else
                               f"writing {self.series} failed: {self.error}; no frame is durable",
                               location=getattr(self.error, "location", None),
                               path=getattr(self.error, "path", None)) from self.error

    def _mark_durable(self, frames: Iterable[int]) -> None:
        with self._lock:
            self._durable_set.update(frames)
            while self._durable in self._durable_set:
                self._durable += 1

    # -- writing -------------------------------------------------------------
    def _put_json(self, name: str, data: bytes) -> None:
        self.store.put(f"{self.series}/{name}", data, target=self.json_target)

    def put_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Write ``metadata.json`` (synchronously; before any frame)."""
        self._check_open()
        self._put_json("metadata.json", metadata_json(metadata))

    def put_frame(self, frame_num: int, blob: bytes) -> None:
        """Hand frame ``frame_num``'s PZF blob over to be written (see the contract)."""
        self._check_open()
        self._raise_error()
        if isinstance(frame_num, bool) or not isinstance(frame_num, (int, np.integer)) or \
                not 0 <= frame_num < 2**32:
            raise BadArgumentError(f"frame numbers are integers from 0 to 2**32 - 1, got {frame_num!r}")
        frame_num = int(frame_num)
        with self._lock:
            if frame_num in self._pending or frame_num in self._acked:
                raise BadArgumentError(f"frame {frame_num} was already written to {self.series}")
        self._slots.acquire()
        try:
            with self._lock:
                self._pending[frame_num] = self._pool.submit(self._put_one, frame_num, blob)
        except BaseException:
            self._slots.release()
            raise

    def _put_one(self, frame_num: int, blob: bytes) -> None:
        try:
            self.store.put(f"{self.series}/{frame_name(frame_num)}", blob,
                           target=self.target_of(frame_num), durable=not self._local)
            with self._lock:
                self._acked.add(frame_num)
            if not self._local:
                self._mark_durable([frame_num])
        except BaseException as exc:
            with self._lock:
                if self.error is None:
                    self.error = exc
            raise
        finally:
            with self._lock:
                self._pending.pop(frame_num, None)
            self._slots.release()

    def flush(self) -> int:
        """Wait until every frame handed over is durable; returns :attr:`durable`."""
        self._wait()
        if self._local:
            with self._lock:
                acked = set(self._acked) - self._durable_set
            self.store.sync()
            self._mark_durable(acked)
        self._raise_error()
        return self._durable

    def _wait(self) -> None:
        with self._lock:
            futures = list(self._pending.values())
        for f in futures:
            try:
                f.result()
            except BaseException:  # recorded in self.error
                pass

    def finish(self, metadata: Optional[Mapping[str, Any]] = None, events: Any = None) -> int:
        """Flush, then write ``final_metadata.json`` (when ``metadata`` is given) and
        ``events.json`` (marks the series complete).  Returns :attr:`durable`."""
        self._check_open()
        durable = self.flush()
        if metadata is not None:
            self._put_json("final_metadata.json", metadata_json(metadata))
        self._put_json("events.json", events_json(events))
        return durable

    def _check_open(self) -> None:
        if self._closed:
            raise BadArgumentError(f"the writer of {self.series} is closed")

    def close(self) -> None:
        """Wait for outstanding puts and stop the workers (the series is not marked complete)."""
        if self._closed:
            return
        self._closed = True
        self._wait()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "PCSWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
