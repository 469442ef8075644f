"""SeriesWriter: targets, queue policy, counters, durability, crashes (SIGKILL), full disks."""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import pzfcodec
from common import IN_CI, assert_bits_equal, require_module
from pyme_peer import run_pyme
from pyme_servers import result_line
from pyme_servers import run_pyme as run_pyme_client
from pzfcodec.spool import recover, spool_status
from spool_child import QUANT, frame

CHILD = Path(__file__).parent / "spool_child.py"
TARGETS = {"pyme": "run.h5", "filter": "run.hdf5", "zarr": "run.zarr", "pcs": "run.pcs"}
#: SIGKILL runs per local target and mode; more with PZF_SPOOL_CRASH_RUNS
CRASH_RUNS = int(os.environ.get("PZF_SPOOL_CRASH_RUNS", "2"))


def expected(i, q):
    f = frame(i)
    return f if q is None else pzfcodec.decompress(pzfcodec.compress(f, quantization=q))


def read_back(loc):
    """Every frame a reader sees: {index: array or the PZFError it raised}."""
    if str(loc).endswith(".zarr"):
        zarr = require_module("zarr")
        a = zarr.open_array(str(loc), mode="r")
        return {i: a[i] for i in range(a.shape[0])}
    out = {}
    with pzfcodec.open(str(loc)) as s:
        for i in range(len(s)):
            try:
                out[i] = s[i]
            except pzfcodec.PZFError as exc:
                out[i] = exc
    return out


READ_ELSEWHERE = """
import json, sys, numpy as np, pzfcodec
sys.path.insert(0, sys.argv[2])
from test_spool import read_back
got = read_back(sys.argv[1])
print(json.dumps({i: "refused" if isinstance(f, Exception) else f.tobytes().hex()[:64] + str(f.sum())
                  for i, f in got.items()}))
"""


def read_back_elsewhere(loc):
    """:func:`read_back` in another process: ``{index: a digest of the frame}``."""
    r = subprocess.run([sys.executable, "-c", READ_ELSEWHERE, str(loc), str(Path(__file__).parent)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {int(k): v for k, v in json.loads(r.stdout).items()}


def pyme_frames(path, n):
    """Frames 0..n-1 as PYME's own reader returns them, and its frame count."""
    out = run_pyme(f"""
        from PYME.IO.DataSources.HDFDataSource import DataSource
        ds = DataSource({str(path)!r})
        np.save("pyme-frames.npy", np.array([ds.getSlice(i) for i in range({n})]))
        emit(ds.getNumSlices())
        ds.release()
        """, Path(path).parent)
    return np.load(Path(path).parent / "pyme-frames.npy"), out


# -- targets and round trips --------------------------------------------------------------------
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("q", [None, QUANT], ids=["lossless", "quantised"])
def test_round_trip(tmp_path, target, q):
    loc = tmp_path / TARGETS[target]
    with pzfcodec.SeriesWriter(loc, {"Camera.ADOffset": 100.0, "Sample.Notes": "beads"},
                               quantization=q, threads=2) as w:
        for i in range(30):
            assert w.append(frame(i)) == i
            if i == 4:
                w.event("ProtocolFocus", "10, 1.25", timestamp=1700000000.25)
        assert w.flush() == 30 == w.durable
    st = w.stats
    assert (st.appended, st.coded, st.written, st.durable, st.queue_frames) == (30, 30, 30, 30, 0)
    assert st.raw_bytes == 30 * frame(0).nbytes and st.ratio > 1 and st.mb_per_s > 0
    assert spool_status(loc) == pzfcodec.spool.SpoolStatus(True, 30)
    got = read_back(loc)
    assert len(got) == 30
    for i in range(30):
        assert_bits_equal(got[i], expected(i, q))
    if target != "zarr":
        with pzfcodec.open(str(loc)) as s:
            assert s.metadata["Camera.ADOffset"] == 100.0 and s.metadata["SizeT"] == -1
            ev = s.events
            assert list(ev["EventName"]) == ["ProtocolFocus"] and ev["Time"][0] == 1700000000.25
    else:
        attrs = require_module("zarr").open_array(str(loc), mode="r").attrs
        assert attrs["pyme_events"] == [["ProtocolFocus", "10, 1.25", 1700000000.25]]
        assert attrs["pyme_metadata"]["Sample.Notes"] == "beads"


@pytest.mark.parametrize("q", [None, QUANT], ids=["lossless", "quantised"])
def test_pyme_reads_pyme_target(tmp_path, q):
    loc = tmp_path / "run.h5"
    with pzfcodec.SeriesWriter(loc, {"Camera.ADOffset": 100.0}, quantization=q) as w:
        for i in range(12):
            w.append(frame(i))
        w.event("ProtocolFocus", "10, 1.25")
    frames, n = pyme_frames(loc, 12)
    assert n == 12
    for i, f in enumerate(frames):
        assert_bits_equal(f.astype(np.uint16), expected(i, q))
    tables = require_module("tables")
    with tables.open_file(str(loc)) as t:  # PYME's HDF5 layer sees PYME's node types
        assert t.root.PZFImageData.attrs.CLASS == "VLARRAY"
        assert t.root.PZFImageIndex.nrows == 12 and t.root.Events.nrows == 1


@pytest.mark.parametrize("compression", pzfcodec.options.COMPRESSIONS)
def test_every_compression(tmp_path, compression):
    for name in ("a.hdf5", "a.zarr", "a.h5", "a.pcs"):
        loc = tmp_path / name
        pyme_ok = compression in ("huffman", "raw")
        if name in ("a.h5", "a.pcs") and not pyme_ok:
            with pytest.raises(pzfcodec.BadArgumentError, match="PYME cannot read"):
                pzfcodec.SeriesWriter(loc, compression=compression)
            assert not loc.exists()
            continue
        with pzfcodec.SeriesWriter(loc, compression=compression) as w:
            for i in range(3):
                w.append(frame(i))
        got = read_back(loc)
        for i in range(3):
            assert_bits_equal(got[i], frame(i))


def test_caller_may_reuse_its_buffer(tmp_path):
    buf = np.empty_like(frame(0))
    with pzfcodec.SeriesWriter(tmp_path / "a.h5", threads=1) as w:
        for i in range(40):
            buf[...] = frame(i)  # one camera buffer, refilled at once
            w.append(buf)
        w.append(frame(40), copy=False)  # handed over: not copied
    got = read_back(tmp_path / "a.h5")
    for i in range(41):
        assert_bits_equal(got[i], frame(i))


def test_other_byte_order_and_layout(tmp_path):
    with pzfcodec.SeriesWriter(tmp_path / "a.hdf5") as w:
        w.append(frame(0).astype(">u2"), copy=False)
        w.append(np.asfortranarray(frame(1)), copy=False)
        w.append(frame(2)[:, ::-1][:, ::-1], copy=False)
    got = read_back(tmp_path / "a.hdf5")
    for i in range(3):
        assert_bits_equal(got[i], frame(i))


def test_pyme_refuses_raw_quantised(tmp_path):
    with pytest.raises(pzfcodec.BadArgumentError, match="PYME cannot read"):
        pzfcodec.SeriesWriter(tmp_path / "a.h5", compression="raw", quantization=QUANT)


def test_named_dataset_and_other_types(tmp_path):
    loc = tmp_path / "a.h5"
    frames = np.random.default_rng(1).random((4, 16, 8), dtype=np.float32)
    with pzfcodec.SeriesWriter(loc, dataset="/data/frames") as w:
        for f in frames:
            w.append(f)
    with h5py.File(loc, "r") as f:
        assert_bits_equal(f["data/frames"][()], frames)
        assert f["data/frames"].chunks == (1, 16, 8)


def test_bad_arguments(tmp_path):
    with pytest.raises(pzfcodec.BadArgumentError, match="target"):
        pzfcodec.SeriesWriter(tmp_path / "a.tif")
    with pytest.raises(pzfcodec.BadArgumentError, match="on_full"):
        pzfcodec.SeriesWriter(tmp_path / "a.h5", on_full="drop")
    with pytest.raises(pzfcodec.BadArgumentError, match="threads"):
        pzfcodec.SeriesWriter(tmp_path / "a.h5", threads=0)
    with pzfcodec.SeriesWriter(tmp_path / "b.h5") as w:
        w.append(frame(0))
        with pytest.raises(pzfcodec.BadArgumentError, match="like the first"):
            w.append(frame(0)[:10])
        with pytest.raises(pzfcodec.BadArgumentError, match="uint8, uint16 or float32"):
            w.append(frame(0).astype(np.int32))
        with pytest.raises(pzfcodec.BadArgumentError, match="2-D"):
            w.append(frame(0)[None])
    with pytest.raises(pzfcodec.SpoolError, match="closed"):
        w.append(frame(1))
    with pytest.raises(FileExistsError):
        pzfcodec.SeriesWriter(tmp_path / "b.h5")
    pzfcodec.SeriesWriter(tmp_path / "b.h5", overwrite=True).close()


def test_queue_full_raise_and_block(tmp_path):
    gate = threading.Event()
    with pzfcodec.SeriesWriter(tmp_path / "a.hdf5", max_queue_frames=3, on_full="raise") as w:
        target_encode = w._target.encode
        w._target.encode = lambda f, i: (gate.wait(), target_encode(f, i))[1]  # stall the coders
        for i in range(3):
            w.append(frame(i))
        assert w.stats.queue_frames == 3
        with pytest.raises(pzfcodec.QueueFullError, match="full") as info:
            w.append(frame(3))
        assert info.value.durable == 0
        gate.set()
        w.flush()
        assert w.append(frame(3)) == 3
    assert len(read_back(tmp_path / "a.hdf5")) == 4
    # block: the caller waits until the writer makes room
    gate.clear()
    with pzfcodec.SeriesWriter(tmp_path / "b.h5", max_queue_frames=2, threads=1,
                               max_queue_bytes=frame(0).nbytes) as w:
        target_encode = w._target.encode
        w._target.encode = lambda f, i: (gate.wait(), target_encode(f, i))[1]
        w.append(frame(0))
        t = threading.Thread(target=w.append, args=(frame(1),))
        t.start()
        time.sleep(0.2)
        assert t.is_alive() and w.stats.appended == 1  # blocked on the byte bound
        gate.set()
        t.join(10)
        assert not t.is_alive() and w.stats.appended == 2


def wait_durable(w, n):
    deadline = time.monotonic() + 10
    while w.durable < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return w.durable


def test_automatic_flush(tmp_path):
    with pzfcodec.SeriesWriter(tmp_path / "a.h5", flush_frames=1000, flush_seconds=0.1) as w:
        for i in range(5):
            w.append(frame(i))
        assert wait_durable(w, 5) == 5  # without flush(): after flush_seconds
        assert spool_status(tmp_path / "a.h5") == pzfcodec.spool.SpoolStatus(False, 5)
    with pzfcodec.SeriesWriter(tmp_path / "b.h5", flush_frames=4, flush_seconds=1000) as w:
        for i in range(9):
            w.append(frame(i))
        assert wait_durable(w, 8) == 8  # every flush_frames frames


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_read_while_writing(tmp_path, target):
    loc = tmp_path / TARGETS[target]
    with pzfcodec.SeriesWriter(loc, flush_seconds=1000, flush_frames=1000) as w:
        for i in range(6):
            w.append(frame(i))
        w.flush()
        for i in range(6, 9):
            w.append(frame(i))  # not flushed: not visible
        got = read_back_elsewhere(loc)  # another process, as a viewer would
        got = {i: v for i, v in got.items() if v != "refused"}  # PYME rows not yet indexed
        if target == "pcs":  # files appear whole as they are stored, fsynced at the flush
            assert set(range(6)) <= set(got)
        else:  # frames appear when durable
            assert sorted(got) == list(range(6))
        for i in got:
            assert got[i] == frame(i).tobytes().hex()[:64] + str(frame(i).sum())
        assert not spool_status(loc).complete
    assert len(read_back(loc)) == 9 and spool_status(loc).complete


def test_reader_refresh_sees_new_frames(tmp_path):
    loc = tmp_path / "a.h5"
    child = subprocess.Popen([sys.executable, str(CHILD), str(loc), "lossless", "20"],
                             stdout=subprocess.PIPE, text=True)
    try:
        first = int(child.stdout.readline().split()[1])
        with pzfcodec.open(str(loc)) as s:  # opened while another process writes it
            assert len(s) >= first
            second = int(child.stdout.readline().split()[1])
            assert s.refresh() >= second > first
            assert_bits_equal(s[second - 1], frame(second - 1))
    finally:
        child.kill()
        child.wait()


# -- write errors -------------------------------------------------------------------------------
def test_write_error_reported_with_durable_count(tmp_path):
    w = pzfcodec.SeriesWriter(tmp_path / "a.h5", flush_seconds=1000)
    for i in range(4):
        w.append(frame(i))
    assert w.flush() == 4

    def fail(events):
        raise OSError(28, "No space left on device")

    w._target.commit = fail
    w.append(frame(4))
    with pytest.raises(pzfcodec.SpoolError, match="after 4 durable frames") as info:
        w.flush()
    assert info.value.durable == 4 and isinstance(info.value.__cause__, OSError)
    with pytest.raises(pzfcodec.SpoolError, match="No space left"):
        w.append(frame(5))
    with pytest.raises(pzfcodec.SpoolError):
        w.close()
    got = read_back(tmp_path / "a.h5")
    for i in range(4):
        assert_bits_equal(got[i], frame(i))
    assert spool_status(tmp_path / "a.h5") == pzfcodec.spool.SpoolStatus(False, 4)


def _mount_tmpfs(path):
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or "mount failed")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_disk_full(tmp_path, target):
    mnt = tmp_path / "small"
    mnt.mkdir()
    why = _mount_tmpfs(mnt)
    if why:
        if IN_CI:
            pytest.fail(f"cannot mount a 16 MiB tmpfs under CI: {why}")
        pytest.skip(f"cannot mount a 16 MiB tmpfs: {why}")
    try:
        loc = mnt / TARGETS[target]
        noise = np.random.default_rng(7).integers(0, 65535, (40, 256, 256), dtype=np.uint16)
        durable, err = 0, None
        w = pzfcodec.SeriesWriter(loc, flush_frames=5, flush_seconds=1000)
        try:
            for i in range(400):  # 50 MiB of incompressible frames into 16 MiB
                w.append(noise[i % 40])
                if i % 5 == 4:
                    durable = w.flush()
        except pzfcodec.SpoolError as exc:
            err = exc
        with pytest.raises(pzfcodec.SpoolError, match="durable frames"):
            w.close()  # the failure stays reported
        assert err is not None and err.durable == durable == w.durable > 0
        assert "durable frames" in str(err)
        got = read_back(loc)
        assert len(got) >= durable
        for i in range(len(got)):
            if i < durable or not isinstance(got[i], Exception):
                assert_bits_equal(got[i], noise[i % 40])
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# -- crashes ------------------------------------------------------------------------------------
CRASH_TOTALS = {"runs": 0, "checked": 0, "lost": 0}


def _spool_and_kill(loc, mode, rng):
    """Start the child, SIGKILL it at a random moment; the last durable count it printed."""
    proc = subprocess.Popen([sys.executable, str(CHILD), str(loc), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(Path(loc).parent))
    counts = []
    first = threading.Event()

    def read():
        for line in proc.stdout:
            if line.startswith("durable "):
                counts.append(int(line.split()[1]))
                first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first.wait(60), proc.stderr.read() if proc.poll() is not None else "no output"
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        reader.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    return max(counts)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("mode", ["lossless", "quantised"])
def test_sigkill_loses_no_durable_frame(tmp_path, target, mode):
    rng = random.Random(f"{target}-{mode}-{os.getpid()}")
    q = QUANT if mode == "quantised" else None
    for run in range(CRASH_RUNS):
        loc = tmp_path / f"{run}-{TARGETS[target]}"
        durable = _spool_and_kill(loc, mode, rng)
        st = spool_status(loc)  # opens; knows it was not closed
        assert not st.complete and st.durable >= durable
        got = read_back(loc)
        assert len(got) >= durable
        lost = 0
        for i, f in got.items():
            if isinstance(f, Exception):
                assert i >= durable, f"durable frame {i} of {durable} unreadable: {f}"
                lost += i < durable
            else:  # whatever decodes is the frame written there, never a half-written one
                assert_bits_equal(f, expected(i, q))
        if target == "pyme":
            if run == 0:  # PYME's reader needs the open-for-writing mark cleared
                r = subprocess.run([sys.executable, "-m", "pzfcodec", "spool", "--recover", str(loc)],
                                   capture_output=True, text=True, timeout=120)
                assert r.returncode == 0 and "incomplete" in r.stdout and "cleared" in r.stdout
            else:
                assert recover(loc)
            frames, _ = pyme_frames(loc, durable)
            for i, f in enumerate(frames):
                assert_bits_equal(f.astype(np.uint16), expected(i, q))
        CRASH_TOTALS["runs"] += 1
        CRASH_TOTALS["checked"] += durable
        CRASH_TOTALS["lost"] += lost
    print(f"\ncrash totals so far: {CRASH_TOTALS}")


def test_status_of_other_files(tmp_path):
    pzfcodec.pyme.write_h5(tmp_path / "plain.h5", np.stack([frame(0)]))
    with pytest.raises(pzfcodec.UnsupportedFormatError, match="not written by SeriesWriter"):
        spool_status(tmp_path / "plain.h5")
    (tmp_path / "x.zarr").mkdir()
    for text in ('{"attributes": {"pzfcodec_spool": {"complete": "yes", "durable": -1}}}', "[1]", "{"):
        (tmp_path / "x.zarr" / "zarr.json").write_text(text)
        with pytest.raises((pzfcodec.UnsupportedFormatError, pzfcodec.CorruptDataError)):
            spool_status(tmp_path / "x.zarr")


def test_recover_clears_only_the_mark(tmp_path):
    loc = tmp_path / "a.h5"
    with pzfcodec.SeriesWriter(loc) as w:
        w.append(frame(0))
    assert recover(loc) is False  # closed cleanly: nothing to clear
    data = bytearray(loc.read_bytes())
    data[11] = 5
    loc.write_bytes(bytes(data))
    with pytest.raises(pzfcodec.CorruptDataError, match="checksum"):
        recover(loc)
    with pytest.raises(pzfcodec.UnsupportedFormatError):
        (tmp_path / "x.h5").write_bytes(b"not hdf5" * 10)
        recover(tmp_path / "x.h5")


# -- the spool command --------------------------------------------------------------------------
def test_spool_command(tmp_path):
    loc = tmp_path / "cmd.hdf5"
    r = subprocess.run([sys.executable, "-m", "pzfcodec", "spool", str(loc), "--frames", "30",
                        "--size", "64", "--fps", "0", "--lossless"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "done: 30 frames durable" in r.stdout and "ratio" in r.stdout
    assert len(read_back(loc)) == 30 and spool_status(loc).complete
    r = subprocess.run([sys.executable, "-m", "pzfcodec", "spool", str(loc), "--frames", "3"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "exists" in r.stderr and "--overwrite" in r.stderr
    assert "Traceback" not in r.stderr


def test_spool_command_ctrl_c(tmp_path):
    loc = tmp_path / "cmd.h5"
    proc = subprocess.Popen([sys.executable, "-m", "pzfcodec", "spool", str(loc), "--size", "64",
                             "--fps", "500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines = [proc.stdout.readline(), proc.stdout.readline()]  # header, a first progress line
    assert "durable" in lines[1], lines
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("stopped: ") and "Traceback" not in err
    n = int(last.split()[1])
    assert n > 0 and len(read_back(loc)) == n and spool_status(loc) == pzfcodec.spool.SpoolStatus(True, n)


# -- .pcs on PYME data servers ------------------------------------------------------------------
PYME_CLUSTER_READ = r"""
import json, numpy as np
from PYME.IO.DataSources.ClusterPZFDataSource import DataSource
ds = DataSource(URL)
n = ds.getNumSlices()
np.save(OUT, np.stack([ds.getSlice(i) for i in range(n)]))
print("@@RESULT " + json.dumps({"n": int(n), "complete": bool(ds.is_complete),
      "events": [e["EventName"].decode() for e in ds.getEvents()]}))
"""


def test_pcs_on_pyme_servers(pyme_servers, tmp_path):
    addresses = [s.address for s in pyme_servers]
    url = "PYME-CLUSTER://pzfcodec-test/spool/run01.pcs"
    with pzfcodec.SeriesWriter(url, {"Camera.ADOffset": 100.0}, quantization=QUANT,
                               servers=addresses, flush_frames=20) as w:
        for i in range(120):
            w.append(frame(i))
            if i == 30:
                w.event("ProtocolFocus", "10, 1.25")
                assert w.flush() == 31  # acknowledged by the servers
    assert spool_status(url, servers=addresses) == pzfcodec.spool.SpoolStatus(True, 120)
    with pzfcodec.pyme.open_pcs(url, servers=addresses) as s:
        assert len(s) == 120 and s.complete
        for i in (0, 49, 50, 119):
            assert_bits_equal(s[i], expected(i, QUANT))
    # PYME's spooling layout: blocks of 50 frames alternate between the servers
    held = [sorted(int(n[5:-4]) for n in os.listdir(s.root / "spool/run01.pcs") if n.endswith(".pzf"))
            for s in pyme_servers]
    assert held == [list(range(50)) + list(range(100, 120)), list(range(50, 100))]
    out = tmp_path / "pyme.npy"
    info = result_line(run_pyme_client(f"URL = {url!r}\nOUT = {str(out)!r}\n" + PYME_CLUSTER_READ,
                                       pyme_servers))
    assert info == {"n": 120, "complete": True, "events": ["ProtocolFocus"]}
    pyme = np.load(out)
    for i in range(120):
        assert_bits_equal(pyme[i].reshape(frame(i).shape).astype(np.uint16), expected(i, QUANT))


def test_pcs_server_stopped_mid_run(pyme_server_factory):
    servers = [pyme_server_factory(), pyme_server_factory()]
    addresses = [s.address for s in servers]
    w = pzfcodec.SeriesWriter("spool/stopped.pcs", servers=addresses, flush_frames=1000)
    durable, err = 0, None
    try:
        for i in range(400):
            if i == 60:
                servers[1].kill()  # holds frames 50-99, 150-199, ...
            w.append(frame(i))
            if i % 10 == 9:
                durable = w.flush()
    except pzfcodec.SpoolError as exc:
        err = exc
    with pytest.raises(pzfcodec.SpoolError):
        w.close()
    assert err is not None and err.durable == durable == w.durable and 50 <= durable <= 60
    assert "durable frames" in str(err) and servers[1].address in str(err)
    # nothing durable is lost: the servers' roots hold every durable frame
    with pzfcodec.pyme.open_pcs("spool/stopped.pcs", roots=[s.root for s in servers]) as s:
        assert not s.complete
        for i in range(durable):
            assert_bits_equal(s[i], frame(i))


def test_spool_command_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pzfcodec", "spool", str(tmp_path / "t.h5"),
                             "--frames", "400", "--size", "64", "--fps", "400"],
                            stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(60) == 0, proc.stderr.read()
    text = out.decode()
    assert text.count("\x1b[K") >= 2  # one line, rewritten in place (every 0.2 s)
    assert text.count("\n") <= 4 and "done: 400 frames durable" in text
