"""Outputs written atomically, under names pzfcodec created (issue 10 items
4, 5, 11 and 15): the input is never touched, a temporary never takes a name
that is not ours, a full disk and SIGINT/SIGTERM leave nothing behind and
print one line.

The full-disk test mounts a small tmpfs, which needs root: it is skipped
elsewhere, except under CI (CI=true), where it must run.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from common import IN_CI
from pzfcodec.atomic import TEMP_PREFIX, AtomicOutput
from pzfcodec.errors import BadArgumentError

CLI = [sys.executable, "-m", "pzfcodec"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stack(path: Path, frames: int = 20, size: int = 64, seed: int = 0) -> Path:
    np.save(path, np.random.default_rng(seed).integers(0, 4000, (frames, size, size)).astype(np.uint16))
    return path


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# -- items 4, 5: names that are not ours ---------------------------------------
@pytest.mark.parametrize("case", ["partial-name-is-input", "symlink-at-old-partial-name",
                                  "dst-symlink-to-input"])
def test_convert_never_writes_through_the_input(tmp_path, case):
    src = _stack(tmp_path / "in.npy")
    before = _digest(src)
    if case == "partial-name-is-input":  # `pzfcodec convert X.partial X`
        from pzfcodec.pyme import write_h5

        write_h5(tmp_path / "out.h5.partial", np.load(src))
        src.unlink()
        src, dst = tmp_path / "out.h5.partial", tmp_path / "out.h5"
        before = _digest(src)
    elif case == "symlink-at-old-partial-name":
        dst = tmp_path / "out.h5"
        (tmp_path / "out.h5.partial").symlink_to(src)
    else:
        dst = tmp_path / "out.h5"
        dst.symlink_to(src)
    proc = subprocess.run([*CLI, "convert", "-q", str(src), str(dst)], capture_output=True, text=True,
                          timeout=120)
    assert _digest(src) == before, "the input changed"
    if case == "dst-symlink-to-input":
        assert proc.returncode == 1 and "input" in _one_line(proc.stderr)
    else:
        assert proc.returncode == 0, proc.stderr
        assert dst.is_file() and not dst.is_symlink()
    assert _leftovers(tmp_path) == []


def test_atomic_output_unit(tmp_path):
    src = _stack(tmp_path / "in.npy")
    dst = tmp_path / "out.npy"
    out = AtomicOutput(dst, inputs=[src])
    assert Path(out.path).name.startswith(TEMP_PREFIX) and Path(out.path).parent == tmp_path
    assert os.path.getsize(out.path) == 0 and not dst.exists()
    Path(out.path).write_bytes(b"data")
    dst.write_bytes(b"someone else's")  # appeared meanwhile: never clobbered
    with pytest.raises(BadArgumentError, match="exists"):
        out.commit()
    assert dst.read_bytes() == b"someone else's"
    out.discard()
    assert _leftovers(tmp_path) == []
    dst.unlink()
    # a temporary swapped for a symlink is neither committed nor deleted through
    with AtomicOutput(dst) as out:
        os.unlink(out.path)
        os.symlink(src, out.path)
        with pytest.raises(Exception, match="replaced"):
            out.commit()
    assert Path(out.path).is_symlink() and not dst.exists()
    os.unlink(out.path)
    with pytest.raises(BadArgumentError, match="input"):
        AtomicOutput(src, inputs=[src], overwrite=True)
    with AtomicOutput(dst, overwrite=True) as out:
        Path(out.path).write_bytes(b"ok")
        out.commit()
    assert dst.read_bytes() == b"ok" and _leftovers(tmp_path) == []


# -- item 11: a full disk -------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs (root only; required under CI)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                          capture_output=True, text=True) if os.geteuid() == 0 else None
    if proc is None or proc.returncode != 0:
        why = "not root" if proc is None else proc.stderr.strip()
        if IN_CI:
            pytest.fail(f"the full-disk test must run under CI, but cannot mount a tmpfs: {why}")
        pytest.skip(f"cannot mount a tmpfs ({why})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("to", ["hdf5", "pyme"])
@pytest.mark.parametrize("frames", [40, 64, 300])  # fits; fills the disk late; mid-way
def test_convert_full_disk(small_disk, tmp_path, to, frames):
    src = _stack(tmp_path / "in.npy", frames=frames, size=256)
    before = _digest(src)
    dst = small_disk / "out.h5"
    proc = subprocess.run([*CLI, "convert", "-q", "--to", to, str(src), str(dst)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode >= 0, f"crashed with signal {-proc.returncode}: {proc.stderr[-3000:]}"
    assert _digest(src) == before
    assert _leftovers(small_disk) == []
    if proc.returncode == 0:  # it fitted: a complete, verified output
        import pzfcodec

        with pzfcodec.open(dst) as s:
            assert s.shape == (frames, 256, 256)
    else:
        assert proc.returncode == 1
        assert "No space left on device" in _one_line(proc.stderr)
        assert not dst.exists()


# -- item 15: SIGINT / SIGTERM at random times ----------------------------------------
INTERRUPT_RUNS = int(os.environ.get("PZF_INTERRUPT_RUNS", "4"))


@pytest.mark.parametrize("to", ["hdf5", "pyme"])
def test_convert_interrupted_at_random_times(tmp_path, to):
    src = _stack(tmp_path / "in.npy", frames=400, size=128)
    before = _digest(src)
    rng = random.Random(1234)
    outcomes = []
    for run in range(INTERRUPT_RUNS):
        dst = tmp_path / f"out{run}.h5"
        sig = (signal.SIGINT, signal.SIGTERM)[run % 2]
        proc = subprocess.Popen([*CLI, "convert", "-q", "--to", to, str(src), str(dst)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60  # from the moment its temporary exists
        while not _leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 1.5))
        sent = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"run {run}: {sig.name} did not stop the conversion within 30 s")
        stopped = time.monotonic() - sent
        assert _digest(src) == before
        assert not [n for n in _leftovers(tmp_path)], _leftovers(tmp_path)
        if dst.exists():  # finished before the signal, or while exiting
            assert proc.returncode in (0, 128 + sig, -sig), (proc.returncode, err)
            import pzfcodec

            with pzfcodec.open(dst) as s:
                assert s.shape == (400, 128, 128)
            outcomes.append("finished")
            continue
        assert proc.returncode == 128 + sig, (proc.returncode, err)
        assert sig.name in _one_line(err) and "no output was written" in err
        assert stopped < 10, f"took {stopped:.1f} s to stop"
        outcomes.append(sig.name)
    assert any(o != "finished" for o in outcomes), outcomes


def test_sigkill_leaves_only_a_recognisable_temporary(tmp_path):
    """SIGKILL cannot be handled: the temporary may stay, under our prefix,
    never under the output's name."""
    src = _stack(tmp_path / "in.npy", frames=400, size=128)
    dst = tmp_path / "out.h5"
    proc = subprocess.Popen([*CLI, "convert", "-q", str(src), str(dst)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert not dst.exists()
    left = _leftovers(tmp_path)
    assert all(name.startswith(TEMP_PREFIX) for name in left)
    # a second conversion is not disturbed by the leftover
    again = subprocess.run([*CLI, "convert", "-q", str(src), str(dst)], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert _leftovers(tmp_path) == left
