"""An HDF5 file held open for writing by another process (HDF5 file locking):
h5py, and PYME's own HDF writer (H5RFile, PyTables) as its data server holds
the files it appends to."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import pzfcodec
import pzfcodec.pyme
from common import IN_CI

HOLD = {
    "h5py": """
import sys, h5py
f = h5py.File(sys.argv[1], "a")      # a live writer: HDF5 locks the file
""",
    # PYME's own HDF writer (PyTables), as its data server holds an aggregate .h5 it appends to
    "pyme": """
import sys, logging
logging.disable(logging.CRITICAL)
from PYME.IO import h5rFile
f = h5rFile.H5RFile(sys.argv[1], "a", keep_alive_timeout=3600)
""",
}
WAIT = """
print("open", flush=True)
sys.stdin.readline()
"""


@pytest.fixture(params=sorted(HOLD))
def locked_h5(request, tmp_path):
    if request.param == "pyme" and importlib.util.find_spec("PYME") is None:
        if IN_CI:
            pytest.fail("python-microscopy (PYME) must be installed under CI")
        pytest.skip("python-microscopy (PYME) is not installed")
    path = tmp_path / "live.h5"
    pzfcodec.pyme.write_h5(path, np.arange(2 * 4 * 3, dtype=np.uint16).reshape(2, 4, 3), {"SizeT": 2})
    home = tmp_path / "home"
    home.mkdir()
    child = subprocess.Popen([sys.executable, "-c", HOLD[request.param] + WAIT, str(path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, HOME=str(home)))
    try:
        assert child.stdout.readline().strip() == "open"
        yield path
    finally:
        child.kill()  # its own process, started above
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
