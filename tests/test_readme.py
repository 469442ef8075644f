"""Every code block of README.md and docs/*.md runs as written.

Each page runs in its own temporary folder, after a setup step that creates
the example files the blocks name (``series.h5``, a PYME series with camera
metadata, and ``acquisition.npy``).  Python blocks run one by one in a fresh
interpreter (``python3 block.py``), shell blocks in ``bash -e``, in the
order of the page, so later blocks see the files earlier ones wrote.
``python3`` and ``pzfcodec`` in the blocks are this interpreter and this
checkout's package (checked), whatever else is installed.  A block preceded
by ``<!-- norun: reason -->`` is not run (few: package installs, long
benchmarks); ``text`` blocks are output or lists, not code.
"""
from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pytest

import pzfcodec
from common import require_module, require_tool

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README] + sorted((ROOT / "docs").glob("*.md"))
RUN = {"python": "python", "sh": "sh", "bash": "sh"}
NOT_CODE = {"text"}
#: most blocks a page may exclude from running
MAX_NORUN = {"README.md": 3}
MAX_NORUN_DOCS = 6


class Block(NamedTuple):
    lang: str
    body: str
    line: int
    norun: str | None


def page_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, with their norun reasons."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        norun = re.fullmatch(r"<!-- norun: (.+) -->", prev.strip())
        blocks.append(Block(m.group(1), "\n".join(lines[start + 1:end]) + "\n", start + 1,
                            norun.group(1) if norun else None))
        i = end + 1
    return blocks


def make_example_files(folder: Path) -> None:
    """The files the documentation's blocks read: a PYME series and a .npy stack."""
    from pzfcodec.pyme import write_h5
    from pzfcodec.simulate import camera_frames

    frames = camera_frames(8, (128, 128), seed=1)
    metadata = {"Camera.ADOffset": 100.0, "Camera.ElectronsPerCount": 0.5,
                "Camera.ReadNoise": 1.5, "SizeZ": 2, "SizeT": 4, "SizeC": 1}
    write_h5(folder / "series.h5", frames, metadata)
    np.save(folder / "acquisition.npy", camera_frames(4, (128, 128), seed=2))


def tool_folder(folder: Path) -> dict[str, str]:
    """An environment whose ``python3``/``python``/``pzfcodec`` run this interpreter."""
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    # Wrapper scripts, not links: a link to a virtual environment's python
    # loses the environment.
    for name, args in [("python3", ""), ("python", ""), ("pzfcodec", " -m pzfcodec")]:
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}"{args} "$@"\n')
        script.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for var in ("HDF5_PLUGIN_PATH", "PYTHONPATH", "PYTHONSTARTUP"):
        env.pop(var, None)
    return env


def run_block(block: Block, folder: Path, env: dict[str, str], n: int) -> str:
    if RUN[block.lang] == "python":
        script = folder / f".block{n}.py"
        script.write_text(block.body)
        cmd = ["python3", str(script)]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.body]
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (
        f"block at line {block.line} failed (exit {proc.returncode}):\n{block.body}\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    return proc.stdout


def run_page(path: Path, folder: Path) -> list[str]:
    make_example_files(folder)
    env = tool_folder(folder)
    # The package the blocks import is the one under test, not another install.
    found = subprocess.run(["python3", "-c", "import pzfcodec; print(pzfcodec.__file__)"],
                           cwd=folder, env=env, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()) == Path(pzfcodec.__file__), found.stdout
    return [run_block(b, folder, env, n) if b.norun is None else ""
            for n, b in enumerate(page_blocks(path)) if b.lang in RUN]


def test_pages_are_found():
    assert README in PAGES and len(PAGES) >= 5
    assert any(b.lang == "python" for b in page_blocks(README))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_blocks_are_marked(page):
    """Every block names its language; few are excluded from running, each with a reason."""
    blocks = page_blocks(page)
    for b in blocks:
        assert b.lang in RUN or b.lang in NOT_CODE, f"{page.name}:{b.line}: language {b.lang!r}"
        assert b.norun is None or b.lang in RUN, f"{page.name}:{b.line}: norun on a {b.lang} block"
    norun = [b for b in blocks if b.norun]
    assert len(norun) <= MAX_NORUN.get(page.name, MAX_NORUN_DOCS), norun


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_blocks_run(page, tmp_path):
    if any(b.norun is None and RUN.get(b.lang) == "sh" and re.search(r"\bh5(dump|repack)\b", b.body)
           for b in page_blocks(page)):
        require_tool("h5dump")
        require_tool("h5repack")
    if any(b.norun is None and re.search(r"pzfcodec\.(zarr|numcodecs|dask)|--dask", b.body)
           for b in page_blocks(page)):
        require_module("zarr")
        require_module("numcodecs")
        require_module("dask")
        require_module("distributed")
    outputs = run_page(page, tmp_path)
    if page == README:
        check_readme_results(tmp_path, outputs)


def check_readme_results(folder: Path, outputs: list[str]) -> None:
    """What the README's blocks say they do, they did."""
    with h5py.File(folder / "raw.h5", "r") as f:
        raw = f["frames"][()]
    q = pzfcodec.camera_quantization(ad_offset=100, electrons_per_adu=0.5, step_sigma=1.0)
    with h5py.File(folder / "stack.h5", "r") as f:
        written = f["frames"][()]
    expected = pzfcodec.dequantize(pzfcodec.quantize(raw, q.offset, q.scale), q.offset, q.scale)
    np.testing.assert_array_equal(written, expected.reshape(raw.shape))
    # h5dump, through the plugin, printed the first 8 stored pixels.
    dump = next(o for o in outputs if "DATA {" in o)
    data = re.sub(r"\([\d,]+\):", "", dump.split("DATA {", 1)[1].split("}", 1)[0])
    assert [int(v) for v in re.findall(r"\d+", data)] == written[0, 0, :8].tolist()
    for name, lossless in [("pzf.h5", True), ("pzf-q.h5", False)]:
        with h5py.File(folder / name, "r") as f:
            ds = f["frames"]
            dcpl = ds.id.get_create_plist()
            assert [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())] == [
                pzfcodec.FILTER_ID]
            assert np.array_equal(ds[()], raw) == lossless
    for name in ("small.h5", "small-pyme.h5", "small-py.h5", "copy.h5"):
        with pzfcodec.open(folder / name) as s:
            assert s.shape == (8, 128, 128), name
    with h5py.File(folder / "acquisition.h5", "r") as f:
        assert f["frames"].shape == (4, 128, 128)


def test_readme_results_are_the_demo_output():
    """README's Results section opens with ``pzfcodec demo``'s output as
    printed: its headline line, then its table, every mode in the demo's order, with the
    headline's figures taken from that table."""
    from pzfcodec.demo import DemoRow, format_rows, headline, run_demo
    from pzfcodec.simulate import camera_frames

    section = README.read_text(encoding="utf-8").split("\n## Results\n", 1)[1]
    lines = section.split("\n## ", 1)[0].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    rows = [DemoRow(c[0], *map(float, c[1:]))
            for c in ([f.strip() for f in line.strip("|").split("|")] for line in table[2:])]
    modes = [r.mode for r in run_demo(camera_frames(1, (32, 32)))]
    assert [r.mode for r in rows] == modes
    assert format_rows(rows).splitlines() == table
    assert headline(rows) in lines


def test_readme_lists_the_ci_debian_packages():
    """The README's list of Debian packages is the one .ci/run installs."""
    ci = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ")
    installed = []
    for line in re.findall(r"apt-get install ([^\n]*)", ci):
        words = [w.strip('"') for w in line.split(">")[0].split() if not w.startswith("-")]
        installed += [re.sub(r"\$\{?\w+\}?", "N", w) for w in words]
    listed = next(b.body.split() for b in page_blocks(README)
                  if b.lang == "text" and "hdf5-tools" in b.body)
    assert sorted(listed) == sorted(installed)
