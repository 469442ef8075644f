"""Build script: the C core (a static library), the Cython extension and the
HDF5 filter plugin (a plain shared library shipped in ``pzfcodec/plugins``).

Set ``PZF_WERROR=1`` to compile the C core with warnings as errors (CI does).
"""
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
CORE_SOURCES = sorted(
    str(p.relative_to(HERE)) for p in (HERE / "csrc").glob("*.c") if p.name != "h5z_pzf.c"
)
PLUGIN = "pzfcodec.plugins.h5pzf"

if sys.platform == "win32":
    core_cflags = ["/O2"]
    libs = []
else:
    core_cflags = ["-std=c99", "-O3", "-fvisibility=hidden", "-fno-strict-aliasing",
                   "-ffp-contract=off"]
    if os.environ.get("PZF_WERROR") == "1":
        core_cflags += ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror"]
    libs = ["pthread", "m"] + (["dl"] if sys.platform.startswith("linux") else [])


def _compiler_accepts(flag):
    """Whether the C compiler (``CC``, else ``cc``) builds an object with ``flag``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text("int probe(int x) { return x ? x + 1 : 0; }\n")
        cmd = os.environ.get("CC", "cc").split() + [flag, "-c", str(src), "-o", str(Path(tmp, "probe.o"))]
        try:
            return subprocess.run(cmd, capture_output=True).returncode == 0
        except OSError:
            return False


# Intel CPUs since Skylake slow down jumps that cross or end on a 32-byte
# boundary (the "JCC erratum" microcode fix); without padding, the decoder's
# and encoder's speed then depends on where the linker happens to place
# their loops (measured here: 1640-2100 MB/s for the same decoder).
_JCC_FLAG = "-Wa,-mbranches-within-32B-boundaries"
if (sys.platform != "win32" and platform.machine().lower() in ("x86_64", "amd64")
        and _compiler_accepts(_JCC_FLAG)):
    core_cflags.append(_JCC_FLAG)


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

    def get_export_symbols(self, ext):
        if ext.name == PLUGIN:
            return ["H5PLget_plugin_type", "H5PLget_plugin_info"]
        return super().get_export_symbols(ext)


extensions = cythonize(
    [Extension("pzfcodec._core", ["pzfcodec/_core.pyx"], include_dirs=["csrc"],
               libraries=["pzfcore"] + libs)],
    compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
)
extensions.append(
    # The core comes first so that its own dependencies (libm...) resolve.
    Extension(PLUGIN, ["csrc/h5z_pzf.c"], include_dirs=["csrc"],
              libraries=["pzfcore"] + libs, extra_compile_args=core_cflags)
)

setup(
    libraries=[("pzfcore", {"sources": CORE_SOURCES, "include_dirs": ["csrc"],
                            "cflags": core_cflags})],
    ext_modules=extensions,
    cmdclass={"build_ext": BuildExt},
)
