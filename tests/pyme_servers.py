"""PYME's own data server and client code, run by the tests on 127.0.0.1 only.

* :class:`PymeServer` starts ``python -m PYME.cluster.HTTPDataServer -a local
  -p 0 -r ROOT -f NAME`` with its own root, HOME and TMPDIR (so its local
  name registry is private), reads the port it bound from its log, and stops
  it by its process id.  With ``-a local`` the server binds 127.0.0.1 and
  advertises itself only in that private SQLite registry, never by mDNS.
* :func:`run_pyme` runs a snippet of Python that uses PYME's *client* code
  (its acquisition backend, its cluster reader) in a child process whose
  server discovery is replaced by the explicit list of servers: PYME's
  client would otherwise start zeroconf (multicast) on import.  The patch
  also makes any attempt to create a ``zeroconf.Zeroconf`` fail loudly.
* Fixtures (shared through ``conftest.py``): ``pyme_servers`` (two servers
  for the whole test session) and ``pyme_server_factory`` (extra servers a
  test may kill).

Reused by every test that needs PYME data servers (``.pcs`` reading and
writing, streaming writers).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from common import require_module

__all__ = ["PymeServer", "run_pyme", "pyme_servers", "pyme_server_factory", "CLIENT_PRELUDE"]

_PORT_LINE = re.compile(rb"Serving HTTP on 127\.0\.0\.1 port (\d+)")


class PymeServer:
    """One PYME data server on 127.0.0.1 serving ``root``.

    Parameters
    ----------
    base : path
        A private directory: the server gets ``base/root``, ``base/home``
        and ``base/tmp``.
    name : str
        Its server filter (cluster name).
    """

    def __init__(self, base: os.PathLike, name: str = "pzfcodec-test") -> None:
        require_module("PYME")
        require_module("ujson")  # PYME's server imports it
        self.base = Path(base)
        self.root = self.base / "root"
        self.name = name
        for d in ("root", "home", "tmp"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        self.log_path = self.base / "server.log"
        env = dict(os.environ, HOME=str(self.base / "home"), TMPDIR=str(self.base / "tmp"),
                   PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        env.pop("PZFCODEC_PYME_SERVERS", None)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "PYME.cluster.HTTPDataServer", "-a", "local", "-p", "0",
             "-r", str(self.root), "-f", name],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=str(self.base))
        self.port = self._wait_for_port()

    def _wait_for_port(self, timeout: float = 90.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = _PORT_LINE.search(self.log_path.read_bytes())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PYME's data server did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process id, SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL to its process id), as a crash would."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


#: Prepended to every :func:`run_pyme` snippet: PYME's server discovery replaced by
#: ``SERVERS`` (a list of ``(host, port)``), zeroconf forbidden.
CLIENT_PRELUDE = r'''
import socket, sys, types
sys.modules.setdefault("sphinx", types.ModuleType("sphinx"))  # PYME starts no discovery thread then
import zeroconf
def _no_zeroconf(*args, **kwargs):
    raise RuntimeError("zeroconf (multicast) is not allowed in pzfcodec's tests")
zeroconf.Zeroconf.__init__ = _no_zeroconf

class _Info:
    def __init__(self, host, port):
        self.address, self.port = socket.inet_aton(host), port

class _FixedNS:
    """PYME's name-server interface, answering with the explicit servers only."""
    def get_advertised_services(self):
        return [("PYMEDataServer [%s] %d" % (FILTER, i), _Info(h, p)) for i, (h, p) in enumerate(SERVERS)]
    def list(self, filterby=""):
        return [n for n, _ in self.get_advertised_services()]

from PYME.misc import hybrid_ns, pyme_zeroconf
hybrid_ns.nsd["_pyme-http"] = pyme_zeroconf.nsd["_pyme-http"] = _FixedNS()
from PYME.IO import cluster_directory
cluster_directory._ns = _FixedNS()
'''


def run_pyme(code: str, servers: Sequence[PymeServer], *, timeout: float = 120.0,
             cwd: Optional[os.PathLike] = None) -> str:
    """Run ``code`` with PYME's client code talking to ``servers`` only; returns its stdout.

    ``SERVERS`` and ``FILTER`` are defined for the snippet.  A non-zero exit
    fails the calling test with the child's output.
    """
    servers = list(servers)
    with tempfile.TemporaryDirectory(prefix="pyme-client-") as home:
        head = (f"SERVERS = {[('127.0.0.1', s.port) for s in servers]!r}\n"
                f"FILTER = {servers[0].name!r}\n")
        env = dict(os.environ, HOME=home, TMPDIR=home, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        env.pop("PZFCODEC_PYME_SERVERS", None)
        proc = subprocess.run([sys.executable, "-c", head + CLIENT_PRELUDE + textwrap.dedent(code)],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=cwd or home, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f"PYME client code failed (rc={proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc.stdout


def result_line(stdout: str) -> dict:
    """The JSON object a :func:`run_pyme` snippet printed after ``@@RESULT ``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("@@RESULT "):
            return json.loads(line[len("@@RESULT "):])
    raise AssertionError(f"no result printed:\n{stdout[-3000:]}")


@pytest.fixture(scope="session")
def pyme_servers(tmp_path_factory) -> List[PymeServer]:
    """Two PYME data servers on 127.0.0.1 for the test session (same cluster name)."""
    base = tmp_path_factory.mktemp("pyme-servers")
    servers: List[PymeServer] = []
    try:
        for i in range(2):
            servers.append(PymeServer(base / f"server{i}"))
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture
def pyme_server_factory(tmp_path):
    """``make()`` starts one more server (stopped at the end of the test)."""
    started: List[PymeServer] = []

    def make(name: str = "pzfcodec-test") -> PymeServer:
        s = PymeServer(tmp_path / f"extra-server{len(started)}", name)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
