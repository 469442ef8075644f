"""Outputs written atomically, under names pzfcodec created itself.

Every file or directory pzfcodec writes for a command (``convert``, ``demo
--save``) goes through :class:`AtomicOutput`:

* the data is written to a new temporary in the destination's folder,
  created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, or ``mkdir``) under
  a random name starting with :data:`TEMP_PREFIX`, so it can never be an
  existing file, a symbolic link planted there, or the input;
* the caller verifies it, then :meth:`AtomicOutput.commit` checks that the
  temporary is still the object created (same device and inode) and moves
  it into place: a hard link that fails if the destination appeared
  meanwhile (no overwrite), or ``os.replace`` (overwrite);
* on any failure or interrupt the temporary is removed, and only if it is
  still the object created.

A process killed outright (``SIGKILL``, power loss) cannot clean up: it may
leave a ``.pzfcodec-partial-*`` file or folder beside the destination, never
under the destination's name.  Such leftovers are safe to delete.

Interrupts: :func:`interrupt_handlers` makes ``SIGINT`` and ``SIGTERM``
raise :class:`Interrupted` (a ``KeyboardInterrupt``) for the duration of a
command, and remembers the signal, so that :func:`check_interrupted`, called
between batches of work, raises it again even when the first raise landed
somewhere that swallows exceptions (a weak-reference callback of h5py, whose
report of the swallowed exception is silenced).
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import stat
import sys
import threading
from typing import Iterable, Iterator, Optional, Union

from .errors import BadArgumentError, PZFError

__all__ = ["TEMP_PREFIX", "AtomicOutput", "Interrupted", "interrupt_handlers", "check_interrupted"]

PathLike = Union[str, "os.PathLike[str]"]

#: Start of the name of every temporary output (hidden, never a destination name).
TEMP_PREFIX = ".pzfcodec-partial-"


def _same_object(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class AtomicOutput:
    """A temporary output that becomes ``dst`` only when committed.

    Parameters
    ----------
    dst : path
        The destination.
    inputs : iterable of paths
        Files the output must never be (compared by name and by device and
        inode, following links).
    overwrite : bool
        Replace an existing ``dst``; without it an existing ``dst`` is an error,
        checked now and again, atomically, when committing.
    directory : bool
        The output is a directory (e.g. a Zarr store) rather than a file.

    Attributes
    ----------
    path : str
        The temporary to write; it exists (an empty file or folder).

    Raises
    ------
    pzfcodec.BadArgumentError
        ``dst`` is an input, or exists without ``overwrite``.
    OSError
        The temporary cannot be created (e.g. no permission).

    Examples
    --------
    >>> with AtomicOutput("out.npy") as out:           # doctest: +SKIP
    ...     numpy.save(out.path, data); out.commit()
    """

    def __init__(self, dst: PathLike, *, inputs: Iterable[PathLike] = (), overwrite: bool = False,
                 directory: bool = False) -> None:
        self.dst = os.fspath(dst)
        self.overwrite = overwrite
        self.directory = directory
        self.committed = False
        inputs = [os.fspath(p) for p in inputs]
        for src in inputs:
            if os.path.abspath(src) == os.path.abspath(self.dst) or (
                    os.path.exists(self.dst) and os.path.exists(src) and os.path.samefile(src, self.dst)):
                raise BadArgumentError(f"refusing to overwrite the input {src}; choose another output name")
        self._check_free()
        folder = os.path.dirname(os.path.abspath(self.dst))
        base = os.path.basename(self.dst)[:120]
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
            getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        for _ in range(100):
            path = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(8)}-{base}")
            try:
                if directory:
                    os.mkdir(path)
                else:
                    os.close(os.open(path, flags, 0o666))
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100 collisions of 64 random bits
            raise BadArgumentError(f"cannot create a temporary output in {folder}")
        self.path = path
        self._created = os.lstat(path)
        for src in inputs:  # cannot happen (a new object), checked all the same
            if os.path.exists(src) and _same_object(os.stat(src), self._created):
                self.discard()
                raise BadArgumentError(f"the temporary output {path} is the input {src}")

    def _check_free(self) -> None:
        if not self.overwrite and os.path.lexists(self.dst):
            raise BadArgumentError(f"{self.dst} exists; remove it, or allow replacing it "
                                   "(--overwrite on the command line, overwrite=True in Python)")

    def _ours(self) -> bool:
        """Whether :attr:`path` is still the object created (not replaced)."""
        try:
            now = os.lstat(self.path)
        except OSError:
            return False
        return _same_object(now, self._created) and stat.S_IFMT(now.st_mode) == stat.S_IFMT(self._created.st_mode)

    def commit(self) -> None:
        """Move the verified temporary to ``dst``.

        Raises
        ------
        pzfcodec.PZFError
            The temporary was replaced by another object while it was written.
        pzfcodec.BadArgumentError
            ``dst`` appeared meanwhile and ``overwrite`` is False.
        """
        if not self._ours():
            raise PZFError(f"the temporary output {self.path} was replaced while it was written; "
                           f"nothing was written to {self.dst}")
        if self.overwrite:
            if self.directory and os.path.isdir(self.dst) and not os.path.islink(self.dst):
                shutil.rmtree(self.dst)
            os.replace(self.path, self.dst)
        elif self.directory:
            self._check_free()
            os.rename(self.path, self.dst)  # fails on a non-empty directory
        else:
            try:
                os.link(self.path, self.dst)  # fails if dst exists
            except FileExistsError:
                self._check_free()
                raise
            except OSError:  # no hard links on this file system
                self._check_free()
                os.replace(self.path, self.dst)
            else:
                os.unlink(self.path)
        self.committed = True

    def discard(self) -> None:
        """Remove the temporary (if it is still ours and not committed); a
        second interrupt arriving meanwhile waits until it is gone."""
        if self.committed or not self._ours():
            return
        with _signals_deferred():
            if self.directory:
                shutil.rmtree(self.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)

    def __enter__(self) -> "AtomicOutput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while inside (where the platform can)."""
    sigs = {signal.SIGINT, getattr(signal, "SIGTERM", signal.SIGINT)}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Interrupted(KeyboardInterrupt):
    """A command was interrupted by ``SIGINT`` or ``SIGTERM``.

    Attributes
    ----------
    signum : int
        The signal; the command line exits with ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


_pending: Optional[int] = None


def check_interrupted() -> None:
    """Raise :class:`Interrupted` if a signal arrived under :func:`interrupt_handlers`."""
    if _pending is not None:
        raise Interrupted(_pending)


def _handler(signum: int, frame: object) -> None:
    global _pending
    _pending = signum
    raise Interrupted(signum)


@contextlib.contextmanager
def interrupt_handlers() -> Iterator[None]:
    """Turn ``SIGINT`` and ``SIGTERM`` into :class:`Interrupted` while inside.

    Only the main thread can install signal handlers; elsewhere this does
    nothing.  The previous handlers are restored on exit.
    """
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {s: signal.signal(s, _handler) for s in signums}
    previous_hook = sys.unraisablehook

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        # an interrupt raised inside a callback that cannot propagate it:
        # check_interrupted() raises it again at the next batch of work
        if not isinstance(unraisable.exc_value, Interrupted):
            previous_hook(unraisable)

    sys.unraisablehook = hook
    _pending = None
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sys.unraisablehook = previous_hook
        _pending = None
