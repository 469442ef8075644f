"""Run PYME's own code (python-microscopy) in a child process, side by side.

PYME writes ``~/.PYME`` when imported and its cluster code may start
zeroconf, so each run gets its own HOME and TMPDIR under the test's
temporary directory, and the scripts import only PYME's file readers and
writers (never its cluster client).  Under ``CI=true`` a missing PYME fails
the test (as ``common.require_module`` does), and PYME is never imported in
the test process itself.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from common import IN_CI

PRELUDE = """
import json, os, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
import logging; logging.disable(logging.CRITICAL)
def emit(obj):
    with open(os.environ["PYME_PEER_OUT"], "w") as fh:
        json.dump(obj, fh, default=lambda o: o.item() if hasattr(o, "item") else str(o))
"""


def run_pyme(code: str, workdir: Path, timeout: float = 180) -> Any:
    """Run ``code`` (after a prelude defining ``emit(obj)``) with PYME in a
    child process in ``workdir``; returns what it emitted (JSON), or None."""
    if importlib.util.find_spec("PYME") is None:   # never imported here: it writes ~/.PYME
        if IN_CI:
            pytest.fail("python-microscopy (PYME) must be installed under CI")
        pytest.skip("python-microscopy (PYME) is not installed")
    workdir = Path(workdir)
    home = workdir / "pyme-home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    out = workdir / "pyme-peer-out.json"
    if out.exists():
        out.unlink()
    env = dict(os.environ, HOME=str(home), TMPDIR=str(home / "tmp"), PYME_PEER_OUT=str(out),
               MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"PYME child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text()) if out.exists() else None
