"""Packaging: a wheel built with build isolation installs and runs in a
fresh virtual environment, where pip compiles nothing."""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from common import IN_CI, require_module

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
    from importlib.metadata import version

    import pzfcodec
    from pzfcodec import _core

    text = (ROOT / "csrc" / "pzf.h").read_text()
    major, minor, patch = (int(re.search(rf"#define PZF_VERSION_{k} (\d+)", text).group(1))
                           for k in ("MAJOR", "MINOR", "PATCH"))
    assert pzfcodec.__version__ == _core.version() == f"{major}.{minor}.{patch}"
    assert _core.version_number() == major * 10000 + minor * 100 + patch
    assert version("pzfcodec") == pzfcodec.__version__


@pytest.mark.skipif(not IN_CI and not os.environ.get("PZF_TEST_PACKAGING"),
                    reason="builds an sdist and a wheel (about a minute; set "
                           "PZF_TEST_PACKAGING=1; always run under CI)")
def test_sdist_and_wheel_build(tmp_path):
    """``python -m build`` makes an sdist holding the C sources, then a wheel
    from that sdist; the wheel holds the extension and the HDF5 plugin, and
    auditwheel finds it consistent with a manylinux policy (the tag a
    manylinux build would get: no libraries outside the policy, no symbol
    versions too new for it)."""
    require_module("build")
    require_module("auditwheel")
    import pzfcodec
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "*.so", "_core.c", "__pycache__", ".*cache",
        ".hypothesis", ".benchmarks"))
    # no isolation: the build runs on the packages installed here (no index)
    _run([sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check",
          "--outdir", str(tmp_path / "dist"), str(src)], cwd=tmp_path)
    version = pzfcodec.__version__
    sdist, = (tmp_path / "dist").glob(f"pzfcodec-{version}.tar.gz")
    wheel, = (tmp_path / "dist").glob(f"pzfcodec-{version}-*.whl")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    core = {str(p.relative_to(ROOT)) for p in (ROOT / "csrc").iterdir()
            if p.suffix in (".c", ".h")}
    assert core <= names, core - names
    assert {"setup.py", "pyproject.toml", "README.md", "pzfcodec/_core.pyx"} <= names
    with zipfile.ZipFile(wheel) as whl:
        files = whl.namelist()
    assert any(re.fullmatch(r"pzfcodec/_core\..*\.so", f) for f in files), files
    assert "pzfcodec/plugins/libh5pzf.so" in files
    assert not any(f.startswith(("csrc/", "tests/")) for f in files)
    shown = _run([sys.executable, "-m", "auditwheel", "show", str(wheel)], cwd=tmp_path).stdout
    assert re.search(r'is consistent with the\s+following platform tag:\s+"manylinux_\d+_\d+_',
                     shown), shown
