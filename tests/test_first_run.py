"""A first run as written: bounded memory, honest summaries, plain help, a
suite that skips cleanly without optional packages."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pzfcodec
import pzfcodec.convert
from pzfcodec.demo import run_demo
from pzfcodec.simulate import CAMERA, camera_frames, iter_camera_frames

TESTS = Path(__file__).resolve().parent


def run_child(code: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


PEAK = """
import resource
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
"""


def test_demo_streams_in_bounded_memory(tmp_path):
    """``demo --save`` of 100 frames (13 MB) stays within a few frames of memory.

    Before streaming, the demo held the frames, every blob, the decoded
    frames and two float64 copies: about 30 times the frames (380 MB here).
    """
    out = run_child(PEAK + """
        import pzfcodec.cli
        base = peak_mb()
        pzfcodec.cli.main(["demo", "--frames", "100", "--size", "256", "--save", "s.npy"])
        print(peak_mb() - base)
    """.replace("\n        ", "\n"), tmp_path)
    extra_mb = float(out.splitlines()[-1])
    raw_mb = 100 * 256 * 256 * 2 / 2**20
    assert extra_mb < raw_mb / 2, f"demo grew by {extra_mb:.1f} MB for {raw_mb:.1f} MB of frames"
    saved = np.load(tmp_path / "s.npy", mmap_mode="r")
    assert saved.shape == (100, 256, 256) and saved.dtype == np.uint16
    np.testing.assert_array_equal(saved[:3], camera_frames(3, (256, 256)))
    assert not list(tmp_path.glob("*.partial"))


def test_convert_streams_in_bounded_memory(tmp_path):
    """Converting a 26 MB series in 1 MiB batches grows the process by far less."""
    frames = np.concatenate([camera_frames(50, (256, 256), seed=4)] * 4)
    pzfcodec.pyme.write_h5(tmp_path / "series.h5", frames[:2], {"Camera.ADOffset": 100.0,
                                                                 "Camera.ElectronsPerCount": 0.5})
    os.replace(tmp_path / "series.h5", tmp_path / "warm.h5")
    pzfcodec.pyme.write_h5(tmp_path / "series.h5", frames, {"Camera.ADOffset": 100.0,
                                                            "Camera.ElectronsPerCount": 0.5})
    out = run_child(PEAK + """
        import pzfcodec.convert, pzfcodec.pyme.writer
        pzfcodec.pyme.writer._BATCH_BYTES = 1 << 20
        pzfcodec.convert.convert("warm.h5", "warm-out.h5", step_sigma=1.0)   # first-use costs
        base = peak_mb()
        report = pzfcodec.convert.convert("series.h5", "out.h5", step_sigma=1.0)
        print(report.frames, peak_mb() - base)
    """.replace("\n        ", "\n"), tmp_path)
    n, extra_mb = out.split()
    raw_mb = frames.nbytes / 2**20
    assert int(n) == 200
    assert float(extra_mb) < raw_mb / 4, f"convert grew by {extra_mb} MB for {raw_mb:.1f} MB"


def test_demo_and_convert_report_the_same_error(tmp_path):
    """On the same frames, convert (told the read noise) reports the demo's rms error."""
    frames = camera_frames(3, (128, 128), seed=2)
    rows = {r.mode: r for r in run_demo(iter(frames))}
    np.save(tmp_path / "d.npy", frames)
    report = pzfcodec.convert.convert(
        tmp_path / "d.npy", tmp_path / "c.h5", step_sigma=1.0, ad_offset=CAMERA.ad_offset,
        electrons_per_adu=CAMERA.electrons_per_adu, read_noise=CAMERA.read_noise_e)
    assert report.rms_error_sigma == pytest.approx(rows["sqrt, step 1.0 sigma"].rms_error_sigma,
                                                   rel=1e-5)
    assert "read noise 1.5 e- (--read-noise)" in report.summary()
    # without it, the assumption is stated, and dark pixels weigh more
    assumed = pzfcodec.convert.convert(
        tmp_path / "d.npy", tmp_path / "c0.h5", step_sigma=1.0, ad_offset=CAMERA.ad_offset,
        electrons_per_adu=CAMERA.electrons_per_adu)
    assert "read noise 0 e- (assumed" in assumed.summary() and "--read-noise" in assumed.summary()
    assert assumed.rms_error_sigma > report.rms_error_sigma


def test_convert_reads_the_read_noise_from_metadata(tmp_path):
    frames = camera_frames(2, (64, 64), seed=3)
    pzfcodec.pyme.write_h5(tmp_path / "s.h5", frames, {
        "Camera.ADOffset": 100.0, "Camera.ElectronsPerCount": 0.5, "Camera.ReadNoise": 1.5})
    report = pzfcodec.convert.convert(tmp_path / "s.h5", tmp_path / "o.h5", step_sigma=1.0)
    assert report.read_noise_e == 1.5 and "Camera.ReadNoise" in report.summary()
    told = pzfcodec.convert.convert(tmp_path / "s.h5", tmp_path / "o2.h5", step_sigma=1.0,
                                    read_noise=1.5)
    assert told.rms_error_sigma == pytest.approx(report.rms_error_sigma)
    with pytest.raises(pzfcodec.BadArgumentError, match="read noise"):
        pzfcodec.convert.convert(tmp_path / "s.h5", tmp_path / "o3.h5", step_sigma=1.0,
                                 read_noise=-1)


def test_iter_camera_frames_are_camera_frames():
    frames = list(iter_camera_frames(4, (48, 40), seed=9))
    np.testing.assert_array_equal(np.stack(frames), camera_frames(4, (48, 40), seed=9))


@pytest.mark.parametrize("command", ["demo", "info", "convert", "spool"])
def test_help_has_no_markup(command):
    proc = subprocess.run([sys.executable, "-m", "pzfcodec", command, "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for markup in ("``", ":func:", ":class:", ":mod:", ":data:", ":meth:"):
        assert markup not in proc.stdout, (command, markup)


def test_info_explains_a_size_of_minus_one(tmp_path, capsys):
    pzfcodec.pyme.write_h5(tmp_path / "s.h5", camera_frames(5, (16, 16)))  # PYME's SizeT = -1
    pzfcodec.cli.main(["info", str(tmp_path / "s.h5")])
    out = capsys.readouterr().out
    assert "SizeT 5" in out and "SizeT = -1 (from the number of frames: 5)" in out


def test_command_errors_are_one_line(tmp_path):
    bad = tmp_path / "z.npy"
    np.savez(tmp_path / "z", a=np.zeros(3))
    os.replace(tmp_path / "z.npz", bad)
    for args in (["info", str(bad)], ["convert", str(bad), str(tmp_path / "o.h5")]):
        proc = subprocess.run([sys.executable, "-m", "pzfcodec", *args], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "error:" in proc.stderr


BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("not installed (blocked for the test): " + name)
sys.meta_path.insert(0, Block())
import pytest
sys.exit(pytest.main(ARGS))
"""


def test_suite_skips_without_optional_packages():
    """Missing optional packages skip their tests: no collection error, no crash.

    test_dask.py skips as a module without Dask; test_pyme_h5r.py's warning
    filter for PyTables' NaturalNameWarning must not need PyTables.
    """
    args = ["tests/test_dask.py", "tests/test_pyme_h5r.py::test_flatten_unsorted_no_aliases", "-q", "-rs",
            "-p", "no:cacheprovider"]
    code = BLOCK.replace("BLOCKED", repr({"dask", "distributed", "tables"})).replace(
        "ARGS", repr(args))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=TESTS.parent, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed, 1 skipped" in proc.stdout and "dask.array is not installed" in proc.stdout
