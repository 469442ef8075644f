"""Packaging: a wheel built with build isolation installs and runs in a
fresh virtual environment, where pip compiles nothing."""
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from common import IN_CI

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.skipif(not IN_CI and not os.environ.get("PZF_TEST_PACKAGING"),
                    reason="builds a wheel and two virtual environments (set "
                           "PZF_TEST_PACKAGING=1; always run under CI)")
def test_wheel_installs_without_compiler(tmp_path):
    builder = tmp_path / "build-env"
    venv.create(builder, with_pip=True)
    bpy = builder / "bin" / "python"
    _run([str(bpy), "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"),
          str(ROOT)])  # isolated build: setuptools and Cython come from the index
    wheel, = (tmp_path / "dist").glob("pzfcodec-*.whl")
    user = tmp_path / "user-env"
    venv.create(user, with_pip=True)
    upy = user / "bin" / "python"
    # no compiler on the path: a wheel must install as it is
    env = {**os.environ, "CC": "false", "CXX": "false"}
    _run([str(upy), "-m", "pip", "install", str(wheel)], env=env)
    out = _run([str(user / "bin" / "pzfcodec"), "demo", "--frames", "1", "--size", "128"],
               cwd=tmp_path).stdout
    assert "lossless" in out and "sqrt, step 1.0 sigma" in out
    check = ("import pzfcodec, os; "
             "assert os.path.exists(os.path.join(pzfcodec.PLUGIN_PATH, 'libh5pzf.so')); "
             "print(pzfcodec.__file__)")
    assert str(user) in _run([str(upy), "-c", check], cwd=tmp_path).stdout
    assert sys.executable  # the suite's own interpreter is untouched


def test_one_version_everywhere():
    """csrc/pzf.h's PZF_VERSION_* macros are the one source: the C core
    reports them, pzfcodec.__version__ is that, and the installed
    distribution's metadata (setup.py reads the header) agrees."""
    import re
    from importlib.metadata import version

    import pzfcodec
    from pzfcodec import _core

    text = (ROOT / "csrc" / "pzf.h").read_text()
    major, minor, patch = (int(re.search(rf"#define PZF_VERSION_{k} (\d+)", text).group(1))
                           for k in ("MAJOR", "MINOR", "PATCH"))
    assert pzfcodec.__version__ == _core.version() == f"{major}.{minor}.{patch}"
    assert _core.version_number() == major * 10000 + minor * 100 + patch
    assert version("pzfcodec") == pzfcodec.__version__
