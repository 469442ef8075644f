"""The README's HDF5 walk-through, run as a newcomer would run it.

The Python block of the README's "HDF5" section writes a file with h5py; the
shell block then reads it with h5dump and compresses an uncompressed file
with h5repack through ``HDF5_PLUGIN_PATH``.  Only the frame size is made
smaller (2048 becomes 64) so the dump stays short.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

import pzfcodec
from common import require_tool

README = Path(__file__).resolve().parents[1] / "README.md"


def section_blocks(title: str) -> dict[str, list[str]]:
    """Fenced code blocks of one ``## title`` section, by language."""
    text = README.read_text()
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        blocks.setdefault(lang, []).append(body)
    return blocks


def test_readme_hdf5_walkthrough(tmp_path):
    require_tool("h5dump")
    require_tool("h5repack")
    blocks = section_blocks("HDF5")
    write_py = blocks["python"][0].replace("2048", "64")
    shell = blocks["sh"][0].replace("2048", "64")

    stack = np.arange(2 * 64 * 64, dtype=np.uint16).reshape(2, 64, 64) * 7 + 100
    np.save(tmp_path / "stack.npy", stack)
    prelude = "import numpy as np\nstack = np.load('stack.npy')\n"
    subprocess.run([sys.executable, "-c", prelude + write_py], cwd=tmp_path, check=True)
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f["frames"] = stack

    # "python3" in the shell block is this interpreter.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env.pop("HDF5_PLUGIN_PATH", None)
    proc = subprocess.run(["bash", "-e", "-c", shell], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

    with h5py.File(tmp_path / "stack.h5", "r") as f:
        written = f["frames"][()]
    q = pzfcodec.camera_quantization(ad_offset=100, electrons_per_adu=0.5, step_sigma=1.0)
    expected = pzfcodec.dequantize(pzfcodec.quantize(stack, q.offset, q.scale), q.offset, q.scale)
    np.testing.assert_array_equal(written, expected.reshape(stack.shape))
    data = proc.stdout.split("DATA {", 1)[1].split("}", 1)[0]
    dumped = [int(v) for v in re.findall(r"\d+", re.sub(r"\([\d,]+\):", "", data))]
    assert dumped == written.ravel().tolist()

    with h5py.File(tmp_path / "pzf.h5", "r") as f:
        ds = f["frames"]
        dcpl = ds.id.get_create_plist()
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
        assert filters == [pzfcodec.FILTER_ID]
        np.testing.assert_array_equal(ds[()], stack)
