"""Run one read of a hostile file in a child process with hard limits.

A hostile input may crash the interpreter (a C stack overflow, a segfault),
exhaust memory or never finish; a test must observe that rather than die
with it.  :func:`run_limited` runs a snippet of Python in a fresh
interpreter under an address-space limit and a wall-clock timeout and
reports what happened, so a test can assert "a clean library error (or a
correct result) within bounded memory and time".

The snippet's last expression statement is not special: the snippet prints
what it wants; :func:`expect_clean` wraps the common case of calling one
function and classifying its outcome.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Outcome", "run_limited", "expect_clean"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    """How a limited child process ended."""

    returncode: int          # negative: killed by that signal
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        """Killed by a signal (SIGSEGV, SIGBUS, SIGABRT...) rather than exiting."""
        return self.returncode < 0 and not self.timed_out

    def result(self) -> dict:
        """The JSON object printed by :func:`expect_clean`'s wrapper."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("@@RESULT "):
                return json.loads(line[len("@@RESULT "):])
        raise AssertionError(
            f"child printed no result (rc={self.returncode}, timed_out={self.timed_out})\n"
            f"stdout:\n{self.stdout[-2000:]}\nstderr:\n{self.stderr[-4000:]}")


def run_limited(code: str, *, memory_mb: int = 1536, timeout: float = 60.0,
                cwd: os.PathLike | str | None = None) -> Outcome:
    """Run ``code`` (Python source) in a child interpreter with limits.

    Parameters
    ----------
    code : str
        Source to run; dedented first.
    memory_mb : int
        Address-space limit of the child (``RLIMIT_AS``), in MiB.  numpy,
        h5py and the HDF5 library need a few hundred MiB of address space
        to import, so keep it above ~700.
    timeout : float
        Wall-clock limit in seconds; the child is killed after it.
    """
    limit = memory_mb * 1024 * 1024
    prelude = (
        "import resource, faulthandler\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
        "faulthandler.enable()\n"
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                              capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Outcome(-9, True, out, err)
    return Outcome(proc.returncode, False, proc.stdout, proc.stderr)


def expect_clean(call: str, *, setup: str = "", memory_mb: int = 1536,
                 timeout: float = 60.0) -> dict:
    """Run ``call`` (one Python expression) after ``setup`` in a limited child.

    Returns ``{"ok": True, "repr": ...}`` when the call returned, or
    ``{"ok": False, "type": "CorruptDataError", "library": True, "message": ...}``
    when it raised; ``library`` tells whether the exception is a
    :class:`pzfcodec.PZFError`.  Fails the calling test (AssertionError) when
    the child crashed, ran out of time, or ended without a result, which is
    never acceptable for hostile input.
    """
    code = textwrap.dedent(setup) + textwrap.dedent(f"""
        import json as _json
        import pzfcodec as _pzf
        try:
            _value = ({call})
            _res = {{"ok": True, "repr": repr(_value)[:2000]}}
        except BaseException as _exc:
            _res = {{"ok": False, "type": type(_exc).__name__,
                    "library": isinstance(_exc, _pzf.PZFError), "message": str(_exc)[:2000]}}
        print("@@RESULT " + _json.dumps(_res), flush=True)
        """)
    outcome = run_limited(code, memory_mb=memory_mb, timeout=timeout)
    if outcome.timed_out:
        raise AssertionError(f"{call} did not finish within {timeout} s\n{outcome.stderr[-4000:]}")
    if outcome.crashed:
        raise AssertionError(
            f"{call} crashed the interpreter (signal {-outcome.returncode})\n{outcome.stderr[-4000:]}")
    return outcome.result()
