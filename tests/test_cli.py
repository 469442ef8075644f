"""The installed ``pzfcodec`` command: demo, help and error handling."""
import shutil
import subprocess
import sys

import pytest

from common import IN_CI


def _cmd():
    exe = shutil.which("pzfcodec")
    if exe is None:
        if IN_CI:
            pytest.fail("the pzfcodec command must be installed (pip install -e .)")
        return [sys.executable, "-m", "pzfcodec"]
    return [exe]


def _run(*args, check=True):
    proc = subprocess.run(_cmd() + list(args), capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_help_lists_commands():
    out = _run("--help").stdout
    for name in ("demo", "info", "convert"):
        assert name in out


def test_demo_reports_every_mode():
    out = _run("demo", "--frames", "2", "--size", "256").stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and "mode" not in line]
    assert [r.split("|")[1].strip() for r in rows] == [
        "lossless", "sqrt, step 0.5 sigma", "sqrt, step 1.0 sigma", "sqrt 1 sigma, chunked x2",
        "context, lossless", "context, step 0.5 sigma", "context, step 1.0 sigma"]
    lossless = rows[0].split("|")
    assert float(lossless[2]) > 1.5 and float(lossless[5]) == 0.0
    step1 = rows[2].split("|")
    assert float(step1[2]) > 4 and 0.2 < float(step1[5]) < 0.35  # ~ 1/sqrt(12)
    for huffman, context in ((rows[0], rows[4]), (rows[2], rows[6])):
        assert float(context.split("|")[2]) >= float(huffman.split("|")[2])  # never larger
    assert float(rows[4].split("|")[5]) == 0.0  # lossless
    # the headline leads with the context coding's ratio, PZF Huffman's beside it
    head = next(line for line in out.splitlines() if line.startswith("Context coding: "))
    assert out.index(head) < out.index("| mode |")
    assert head.startswith(f"Context coding: {float(rows[6].split('|')[2]):.2f}x at a step of 1 "
                           f"sigma (PZF Huffman {float(rows[2].split('|')[2]):.2f}x)")


def test_library_errors_exit_nonzero(tmp_path):
    bad = tmp_path / "bad.pzf"
    bad.write_bytes(b"BD\x03" + b"\x00" * 10)
    proc = _run("info", str(bad), check=False)
    assert proc.returncode != 0
    assert "error" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (("--frames", "0"), "--frames: must be >= 1"),
    (("--size", "0"), "--size: must be >= 16"),
    (("--save", "series.txt"), "must end in .npy"),
])
def test_demo_bad_arguments(args, message):
    proc = _run("demo", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
