"""Build script: the C core (a static library), the Cython extension and the
HDF5 filter plugin (a plain shared library shipped in ``pzfcodec/plugins``).

Set ``PZF_WERROR=1`` to compile the C core with warnings as errors (CI does).
"""
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_clib import build_clib
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError

HERE = Path(__file__).parent
CORE_SOURCES = sorted(
    str(p.relative_to(HERE)) for p in (HERE / "csrc").glob("*.c") if p.name != "h5z_pzf.c"
)
PLUGIN = "pzfcodec.plugins.h5pzf"


def read_version():
    """The package version: PZF_VERSION_MAJOR/MINOR/PATCH in csrc/pzf.h, its
    one source (the C core reports it as pzf_version_string(), and
    pzfcodec.__version__ is that)."""
    text = (HERE / "csrc" / "pzf.h").read_text()
    parts = [re.search(rf"^#define PZF_VERSION_{k}\s+(\d+)\s*$", text, re.M)
             for k in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        raise RuntimeError("csrc/pzf.h lacks PZF_VERSION_MAJOR/MINOR/PATCH")
    return ".".join(m.group(1) for m in parts)


def _is_msvc(compiler):
    return getattr(compiler, "compiler_type", "") == "msvc"


def core_cflags(compiler):
    """Flags of the C core for the compiler that builds it."""
    if _is_msvc(compiler):
        return ["/O2"]
    flags = ["-std=c99", "-O3", "-fvisibility=hidden", "-fno-strict-aliasing",
             "-ffp-contract=off"]
    if os.environ.get("PZF_WERROR") == "1":
        flags += ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror"]
    # Intel CPUs since Skylake slow down jumps that cross or end on a 32-byte
    # boundary (the "JCC erratum" microcode fix); without padding, the
    # decoder's and encoder's speed then depends on where the linker happens
    # to place their loops (measured: 1640-2100 MB/s for the same decoder).
    if platform.machine().lower() in ("x86_64", "amd64") and _compiler_accepts(
            compiler, _JCC_FLAG):
        flags.append(_JCC_FLAG)
    return flags


_JCC_FLAG = "-Wa,-mbranches-within-32B-boundaries"


def _compiler_accepts(compiler, flag):
    """Whether ``compiler`` (the setuptools compiler object that builds the
    extension, with its own executable and flags) compiles with ``flag``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text("int probe(int x) { return x ? x + 1 : 0; }\n")
        try:
            compiler.compile([str(src)], output_dir=tmp, extra_postargs=[flag])
        except CCompilerError:
            return False
        return True


LIBS = [] if sys.platform == "win32" else (
    ["pthread", "m"] + (["dl"] if sys.platform.startswith("linux") else []))
CORE_LIB = ("pzfcore", {"sources": CORE_SOURCES, "include_dirs": ["csrc"], "cflags": []})


class BuildClib(build_clib):
    """Build the core with flags probed on the compiler that builds it."""

    def build_libraries(self, libraries):
        for _name, info in libraries:
            info["cflags"] = core_cflags(self.compiler)
        super().build_libraries(libraries)


class BuildExt(build_ext):
    """Build the core library first; name the plugin like a C library."""

    def run(self):
        self.run_command("build_clib")
        super().run()

    def get_ext_filename(self, fullname):
        # called with the full dotted name, or with its last part alone
        if fullname not in (PLUGIN, PLUGIN.rsplit(".", 1)[1]):
            return super().get_ext_filename(fullname)
        suffix = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
        prefix = "" if sys.platform == "win32" else "lib"
        *package, name = fullname.split(".")
        return os.path.join(*package, prefix + name + suffix)

    def build_extensions(self):
        for ext in self.extensions:
            if ext.name == PLUGIN:
                ext.extra_compile_args = core_cflags(self.compiler)
        super().build_extensions()

    def get_export_symbols(self, ext):
        if ext.name == PLUGIN:
            return ["H5PLget_plugin_type", "H5PLget_plugin_info"]
        return super().get_export_symbols(ext)


extensions = cythonize(
    [Extension("pzfcodec._core", ["pzfcodec/_core.pyx"], include_dirs=["csrc"],
               libraries=["pzfcore"] + LIBS)],
    compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
)
extensions.append(
    # The core comes first so that its own dependencies (libm...) resolve.
    Extension(PLUGIN, ["csrc/h5z_pzf.c"], include_dirs=["csrc"],
              libraries=["pzfcore"] + LIBS)
)

setup(
    version=read_version(),
    libraries=[CORE_LIB],
    ext_modules=extensions,
    cmdclass={"build_clib": BuildClib, "build_ext": BuildExt},
)
