"""The benchmark suites run (once each, on few frames), so they never rot.

Speed targets are not checked here; run the suites themselves for figures
(see docs/benchmarks.md).
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_once(tmp_path):
    env = {**os.environ, "PZF_BENCH_FRAMES": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "benchmarks"), "-q", "-x",
         "--benchmark-disable", "-p", "no:cacheprovider", f"--rootdir={ROOT}"],
        capture_output=True, text=True, timeout=1800, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
