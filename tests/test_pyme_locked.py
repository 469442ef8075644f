"""An HDF5 file held open for writing by another process (HDF5 file locking)."""
from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import pzfcodec
import pzfcodec.pyme

HOLD = """
import sys, time, h5py
f = h5py.File(sys.argv[1], "a")      # a live writer: HDF5 locks the file
print("open", flush=True)
sys.stdin.readline()
f.close()
"""


@pytest.fixture
def locked_h5(tmp_path):
    path = tmp_path / "live.h5"
    pzfcodec.pyme.write_h5(path, np.arange(2 * 4 * 3, dtype=np.uint16).reshape(2, 4, 3), {"SizeT": 2})
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "open"
        yield path
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def test_locked_file_says_so(locked_h5, monkeypatch, capsys):
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)
    with pytest.raises(pzfcodec.FileLockedError, match="HDF5_USE_FILE_LOCKING=FALSE") as info:
        pzfcodec.open(locked_h5)
    assert "truncated" not in str(info.value) and isinstance(info.value, OSError)
    from pzfcodec.cli import main

    assert main(["info", str(locked_h5)]) != 0
    err = capsys.readouterr().err
    assert "locked" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_advice_works(locked_h5):
    # the way out the message names: a fresh process with locking turned off reads the file
    code = "import pzfcodec, sys; s = pzfcodec.open(sys.argv[1]); print(s.shape)"
    proc = subprocess.run([sys.executable, "-c", code, str(locked_h5)], capture_output=True, text=True,
                          env=dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(2, 4, 3)"
