"""The package's import graph follows its layers.

errors <- _core, codec <- budget, options, chunk mapping <- adapters (hdf5,
numcodecs, zarr) <- pyme <- dask <- command line.  Every ``import`` of a
pzfcodec module, at any depth of a module (functions included), is an edge;
an edge may point to the same or a lower layer, never upward, and the graph
has no cycle.  Function-level imports of pzfcodec's own modules are not
allowed (they exist only to dodge cycles), except of the adapters that need
an optional package (``OPTIONAL``: importing ``pzfcodec.dask`` must not
need Zarr); function-level imports of optional third-party packages (dask,
zarr...) are fine.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pzfcodec"

#: layer of each module, by dotted name below ``pzfcodec`` (a package's
#: entry names its ``__init__``; the first matching prefix wins)
LAYERS = [
    ("errors", 0),
    ("_core", 1), ("codec", 1), ("PZFFormat", 1),
    ("budget", 2), ("options", 2), ("chunks", 2), ("simulate", 2), ("atomic", 2),
    ("hdf5", 3), ("numcodecs", 3), ("numcodecs_pyme", 3), ("zarr", 3),
    ("pyme", 4), ("spool", 4),
    ("dask", 5),
    ("cli", 6), ("convert", 6), ("spool_command", 6), ("info", 6), ("demo", 6), ("__main__", 6),
    ("plugins", 0),
]
#: modules that import an optional package at their top: imported where used
OPTIONAL = {"zarr", "numcodecs", "numcodecs_pyme"}
LAYER_NAMES = ["errors", "core", "options and chunk mapping", "adapters", "pyme", "dask",
               "command line"]


def layer_of(module: str) -> int:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise AssertionError(f"pzfcodec.{module} has no layer in tests/test_layers.py: add it")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")) + sorted(PACKAGE.rglob("*.pyx")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = path
    return found


def resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import,
            known: set[str]) -> list[str]:
    """pzfcodec modules (dotted, below pzfcodec; "" for the package) a node imports."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n[len("pzfcodec."):] if n != "pzfcodec" else "" for n in names
                if n == "pzfcodec" or n.startswith("pzfcodec.")]
    if node.level == 0:
        if node.module is None or not (node.module == "pzfcodec"
                                       or node.module.startswith("pzfcodec.")):
            return []
        base = node.module[len("pzfcodec."):] if node.module != "pzfcodec" else ""
    else:
        parts = module.split(".") if module else []
        if not is_package:
            parts = parts[:-1]
        parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
        base = ".".join(parts + ([node.module] if node.module else []))
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}" if base else alias.name
        out.append(sub if sub in known else base)
    return out


def edges() -> list[tuple[str, str, int, bool]]:
    """(importer, imported, line, at function level) for every internal import."""
    mods = modules()
    known = set(mods)
    result = []
    for name, path in mods.items():
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        in_function = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                in_function.update(id(n) for n in ast.walk(fn))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in resolve(name, is_package, node, known):
                    if target != name:
                        result.append((name, target, node.lineno, id(node) in in_function))
    return result


def describe(edge) -> str:
    src, dst, line, _ = edge
    return (f"pzfcodec/{modules()[src].relative_to(PACKAGE)}:{line} imports "
            f"pzfcodec.{dst or '(package)'}")


def test_every_module_has_a_layer():
    for name in modules():
        if name:
            layer_of(name)


def test_no_upward_imports():
    bad = []
    for edge in edges():
        src, dst = edge[0], edge[1]
        if src == "":  # the package's __init__ is the facade over every layer
            continue
        if dst == "":
            bad.append(describe(edge) + " (the package facade: import the module instead)")
        elif layer_of(dst) > layer_of(src):
            bad.append(f"{describe(edge)}: {LAYER_NAMES[layer_of(src)]} -> "
                       f"{LAYER_NAMES[layer_of(dst)]}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_function_level_imports_of_own_modules():
    bad = [describe(e) for e in edges() if e[3] and e[0] != "" and e[1] not in OPTIONAL]
    assert not bad, "function-level imports of pzfcodec modules:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for src, dst, _, _ in edges():
        if src and dst:
            graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_checker_sees_violations(tmp_path, monkeypatch):
    """The resolver finds relative, absolute and function-level imports."""
    known = {"codec", "pyme", "pyme.writer", "dask", "errors"}
    tree = ast.parse("from ..dask import write_hdf5\nimport pzfcodec.codec\n"
                     "from . import writer\nfrom .. import errors\n")
    found = [resolve("pyme.writer", False, n, known) for n in tree.body]
    assert found == [["dask"], ["codec"], ["pyme.writer"], ["errors"]]
    assert layer_of("pyme.writer") < layer_of("dask")


BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("blocked for the test: " + name)
sys.meta_path.insert(0, Block())
"""


def test_dask_layer_and_commands_import_without_optional_packages():
    """``import pzfcodec.dask`` (and the commands) need neither numcodecs, Zarr nor Dask."""
    import subprocess
    import sys
    code = BLOCKER.format(blocked={"numcodecs", "zarr", "dask", "distributed", "tifffile"}) + (
        "import pzfcodec, pzfcodec.chunks, pzfcodec.dask, pzfcodec.convert, pzfcodec.cli\n"
        "assert not {'numcodecs', 'zarr', 'dask'} & set(sys.modules)\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
