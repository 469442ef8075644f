"""PYME cluster series (.pcs): storage layer, reader, writer, against PYME's own
data server, acquisition backend and reader (python-microscopy)."""
from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import time

import numpy as np
import pytest

import pzfcodec
from pzfcodec import BadArgumentError, CorruptDataError, DataTooLargeError, MissingFileError, StorageError
from pzfcodec.pyme import make_events, open_pcs, write_pcs
from pzfcodec.pyme.cluster import (HTTPStore, LocalStore, PCSWriter, frame_name, metadata_json,
                                   open_store)
from pzfcodec.pyme.pcs import frame_ranges, is_pcs_location
from common import require_module
from pyme_servers import result_line, run_pyme

EVENTS = make_events(["StartAq", "ProtocolFocus"], ["0", "10, 1.25"], [1700000000.25, 1700000000.5])
MD = {"Camera.ADOffset": 100.0, "Camera.ElectronsPerCount": 0.5, "voxelsize.x": np.float32(0.105)}


def _frames(n=120, shape=(24, 20), seed=0):
    return (np.random.default_rng(seed).poisson(30, (n,) + shape) + 100).astype(np.uint16)


def _pzf(frame, num):
    return pzfcodec.compress(frame, frame_num=num)


def _remove(path):
    os.chmod(path, 0o644)
    os.remove(path)


# ---- local roots ------------------------------------------------------------

@pytest.mark.parametrize("quantization", [None, (100.0, 0.5)])
def test_local_series_round_trip(tmp_path, quantization):
    frames = _frames()
    dst = tmp_path / "run.pcs"
    assert write_pcs(dst, frames, MD, EVENTS, quantization=quantization) == 120
    names = sorted(os.listdir(dst))
    assert names[:2] == ["events.json", "final_metadata.json"] and names[-1] == "metadata.json"
    assert names[2:-1] == [frame_name(i) for i in range(120)]
    text = (dst / "metadata.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True)  # PYME's formatting
    assert json.loads((dst / "events.json").read_text())[1] == ["ProtocolFocus", "10, 1.25", 1700000000.5]
    assert is_pcs_location(str(dst)) and is_pcs_location("PYME-CLUSTER://x/a") and not is_pcs_location("a.h5")
    with pzfcodec.open(dst) as s:
        assert s.shape == (120, 24, 20) and s.dtype == np.uint16 and s.complete
        expected = frames if quantization is None else pzfcodec.dequantize(
            pzfcodec.quantize(frames, *quantization), *quantization, np.uint16)
        assert np.array_equal(np.asarray(s), expected)
        assert np.array_equal(s[5], expected[5]) and np.array_equal(s[[3, 1]], expected[[3, 1]])
        assert s.metadata["voxelsize.x"] == pytest.approx(0.105) and s.metadata["SizeT"] == -1
        assert s.final_metadata == s.start_metadata == s.metadata
        assert s.events.dtype == pzfcodec.pyme.EVENTS_DTYPE and list(s.events["EventName"]) == ["StartAq", "ProtocolFocus"]
        assert s.frame_index(t=7) == 7 and s.missing_frames.size == 0
        assert ("quantised" in s.storage) == (quantization is not None)
    with pytest.raises(BadArgumentError, match="already exists"):
        write_pcs(dst, frames)


def test_roots_get_blocks_of_50_frames_and_merge(tmp_path):
    frames = _frames(130)
    roots = [tmp_path / "r0", tmp_path / "r1"]
    write_pcs("2024/u/run.pcs", frames, MD, EVENTS, roots=roots)
    held = [sorted(int(n[5:-4]) for n in os.listdir(r / "2024/u/run.pcs") if n.endswith(".pzf")) for r in roots]
    assert held[0] == list(range(50)) + list(range(100, 130)) and held[1] == list(range(50, 100))
    for loc in ("2024/u/run.pcs", "PYME-CLUSTER://anything/2024/u/run.pcs", roots[1] / "2024/u/run.pcs"):
        with open_pcs(loc, roots=roots) as s:
            assert np.array_equal(s[:], frames) and s.complete and len(s.events) == 2


def test_gaps_are_reported_and_named(tmp_path):
    frames = _frames(60)
    write_pcs(tmp_path / "g.pcs", frames, MD)
    for i in (7, 8, 9, 30):
        _remove(tmp_path / "g.pcs" / frame_name(i))
    with open_pcs(tmp_path / "g.pcs") as s:
        assert len(s) == 60 and list(s.missing_frames) == [7, 8, 9, 30]
        assert frame_ranges(s.missing_frames) == "7-9, 30"
        with pytest.raises(MissingFileError, match=r"frame 8 is missing \(frame00008.pzf"):
            s[8]
        with pytest.raises(MissingFileError, match="frame 7 is missing"):
            s[:20]
        assert np.array_equal(s[10:20], frames[10:20]) and np.array_equal(s[59], frames[59])
        s.missing_fill = 0
        got = np.asarray(s)
        assert not got[[7, 8, 9, 30]].any() and np.array_equal(got[31:], frames[31:])


def test_missing_events_and_final_metadata(tmp_path):
    write_pcs(tmp_path / "a.pcs", _frames(5), MD, EVENTS)
    _remove(tmp_path / "a.pcs/events.json")
    _remove(tmp_path / "a.pcs/metadata.json")
    with open_pcs(tmp_path / "a.pcs") as s:
        assert not s.complete and len(s.events) == 0 and s.start_metadata is None
        assert s.metadata["Camera.ADOffset"] == 100.0  # from final_metadata.json
    _remove(tmp_path / "a.pcs/final_metadata.json")
    with open_pcs(tmp_path / "a.pcs") as s:
        assert s.metadata == {} and s.final_metadata is None and len(s) == 5


def test_six_digit_frame_numbers_order_by_number(tmp_path):
    frames = _frames(4, (8, 6))
    store = LocalStore([tmp_path])
    with PCSWriter(store, "big.pcs") as w:
        w.put_metadata(MD)
        for k, num in enumerate((99998, 99999, 100000, 100001)):
            w.put_frame(num, _pzf(frames[k], num))
        w.finish(MD, None)
    assert (tmp_path / "big.pcs/frame100000.pzf").exists() and (tmp_path / "big.pcs/frame99999.pzf").exists()
    (tmp_path / "big.pcs/frame000003.pzf").write_bytes(_pzf(frames[0], 3))  # not a name PYME writes: ignored
    with open_pcs(tmp_path / "big.pcs") as s:
        assert len(s) == 100002 and s.missing_frames.size == 99998
        assert list(s.frame_numbers) == [99998, 99999, 100000, 100001]
        assert np.array_equal(s[99998:], frames)
        assert pzfcodec.read_header(store.get("big.pcs/frame100000.pzf")).frame_num == 100000


def test_growing_series_refresh(tmp_path):
    frames = _frames(20)
    store = LocalStore([tmp_path / "r0", tmp_path / "r1"])
    w = PCSWriter(store, "grow.pcs")
    w.put_metadata(MD)
    for i in range(10):
        w.put_frame(i, _pzf(frames[i], i))
    assert w.flush() == 10 and w.durable == 10
    with open_pcs("grow.pcs", roots=store.targets) as s:
        assert len(s) == 10 and not s.complete and len(s.events) == 0
        for i in range(10, 20):
            w.put_frame(i, _pzf(frames[i], i))
        w.finish(MD, EVENTS)
        w.close()
        assert len(s) == 10
        assert s.refresh() == 20 and s.complete and len(s.events) == 2
        assert np.array_equal(s[:], frames)


def test_corrupt_frames_fail_alone(tmp_path):
    frames = _frames(6)
    write_pcs(tmp_path / "c.pcs", frames)
    for i, data in ((0, b"garbage"), (3, _pzf(frames[3], 3)[:-5]), (4, _pzf(frames[4][:10], 4))):
        _remove(tmp_path / "c.pcs" / frame_name(i))
        (tmp_path / "c.pcs" / frame_name(i)).write_bytes(data)
    with open_pcs(tmp_path / "c.pcs") as s:  # frame 0 is garbage: the layout comes from frame 1
        assert s.shape == (6, 24, 20)
        for i, pattern in ((0, "frame 0 "), (3, "frame 3 "), (4, r"frame 4 is \(10, 20\)")):
            with pytest.raises(CorruptDataError, match=pattern):
                s[i]
        for i in (1, 2, 5):
            assert np.array_equal(s[i], frames[i])


@pytest.mark.parametrize("name, content, error", [
    ("metadata.json", b"[" * 100000 + b"]" * 100000, (CorruptDataError, DataTooLargeError)),  # too deep
    ("metadata.json", b"[1, 2]", CorruptDataError),
    ("metadata.json", b"\xff\xfe{}", CorruptDataError),
    ("events.json", b'{"a": 1}', CorruptDataError),
    ("events.json", b'[["StartAq", "0"]]', CorruptDataError),
    ("events.json", b'[["StartAq", ["x"], 1.0]]', CorruptDataError),
    ("events.json", b"[" + b"[]," * 200000 + b"[]]", DataTooLargeError),  # more items than allowed
], ids=["deep", "not-object", "not-utf8", "events-object", "short-row", "bad-descr", "too-many"])
def test_hostile_json(tmp_path, name, content, error):
    write_pcs(tmp_path / "h.pcs", _frames(2))
    _remove(tmp_path / "h.pcs" / name)
    (tmp_path / "h.pcs" / name).write_bytes(content)
    with open_pcs(tmp_path / "h.pcs", max_decoded_size=pzfcodec.pyme.cluster.ReadBudget(max_items=100000)) as s:
        with pytest.raises(error):
            s.metadata if name == "metadata.json" else s.events
        assert s[1].shape == (24, 20)


@pytest.mark.parametrize("dir_fd", [True, False], ids=["dir-fd", "by-path"])
def test_write_once_and_no_symlinks(tmp_path, monkeypatch, dir_fd):
    monkeypatch.setattr(pzfcodec.pyme.cluster, "_DIR_FD", dir_fd)  # False: as on Windows
    store = LocalStore([tmp_path / "root"])
    store.put("a/b.pzf", b"one")
    with pytest.raises(StorageError, match="already exists"):
        store.put("a/b.pzf", b"two", target=0)
    assert store.get("a/b.pzf") == b"one"
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "root" / "link")
    with pytest.raises(StorageError):
        store.put("link/x.pzf", b"data")
    assert not os.listdir(outside) and not [n for n in os.listdir(tmp_path / "root/a") if n != "b.pzf"]
    for bad in ("../x", "/abs", "a//b", "a/./b", "a\\b", "a/\x00"):
        with pytest.raises(BadArgumentError):
            store.put(bad, b"")
    with pytest.raises(MissingFileError):
        store.get("a/none.pzf")


def test_locations_need_explicit_servers(monkeypatch):
    monkeypatch.delenv("PZFCODEC_PYME_SERVERS", raising=False)
    with pytest.raises(BadArgumentError, match="PZFCODEC_PYME_SERVERS"):
        open_pcs("PYME-CLUSTER://lab/2024/run.pcs")
    with pytest.raises(BadArgumentError, match="scheme"):
        open_pcs("https://host:1/run.pcs")
    with pytest.raises(BadArgumentError):
        open_store(servers=["nohost"])
    monkeypatch.setenv("PZFCODEC_PYME_SERVERS", "127.0.0.1:1, [::1]:2")
    assert open_store().targets == ("127.0.0.1:1", "[::1]:2")
    assert metadata_json({"b": np.int64(3), "a": np.arange(2)}) == b'{\n  "a": [\n    0,\n    1\n  ],\n  "b": 3\n}'


def test_info_and_convert(tmp_path, capsys):
    from pzfcodec.cli import main

    zarr = require_module("zarr")
    frames = _frames(60)
    src = tmp_path / "run.pcs"
    write_pcs(src, frames, MD, EVENTS)
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out
    assert "image series (pcs)" in out and "60 stored, 0 missing (none); complete" in out and "ProtocolFocus" in out
    for to, name in (("hdf5", "a.h5"), ("pyme", "b.h5"), ("zarr", "c.zarr")):
        assert main(["convert", str(src), str(tmp_path / name), "--to", to, "-q"]) == 0
        if to == "zarr":
            arr = zarr.open_array(str(tmp_path / name), mode="r")
            got, md, ev = arr[:], arr.attrs["pyme_metadata"], arr.attrs["pyme_events"]
        else:
            with pzfcodec.open(tmp_path / name) as s:
                got, md, ev = s[:], s.metadata, _events_list(s.events)
        assert np.array_equal(got, frames) and md["Camera.ADOffset"] == 100.0
        assert ev == _events_list(EVENTS)
    for i in (20, 21, 22, 40):
        _remove(src / frame_name(i))
    assert main(["info", str(src)]) == 0
    assert "56 stored, 4 missing (20-22, 40); complete" in capsys.readouterr().out
    assert main(["convert", str(src), str(tmp_path / "gaps.h5")]) == 1
    assert "4 of the 60 frames are missing (20-22, 40); pass allow_gaps=True (--allow-gaps)" in capsys.readouterr().err
    assert not (tmp_path / "gaps.h5").exists()
    assert main(["convert", str(src), str(tmp_path / "gaps.h5"), "--allow-gaps"]) == 0
    assert "4 frames missing from the input (20-22, 40): written as zero frames" in capsys.readouterr().out
    with pzfcodec.open(tmp_path / "gaps.h5") as s:
        assert not s[[20, 21, 22, 40]].any() and np.array_equal(s[41:], frames[41:])
        assert s.metadata["pzfcodec.MissingFrames"] == "20-22, 40"


# ---- a hostile HTTP server ------------------------------------------------------

class _Hostile(http.server.BaseHTTPRequestHandler):
    """Answers from ``responses_by_path``: a value, or a list consumed one answer per
    request; an answer is ``(status, body, headers)``, ``"drop"`` (close without
    answering) or ``("sleep", seconds)``.  PUT bodies are kept in ``puts``."""

    protocol_version = "HTTP/1.1"
    responses_by_path: dict = {}
    puts: dict = {}

    def _answer(self):
        answer = self.responses_by_path.get(self.path, (404, b"", {}))
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    def do_PUT(self):  # noqa: N802
        self.puts[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        answer = self._answer()
        if answer == "drop":  # stored, but the answer is lost
            self.close_connection = True
            return
        self._send(*answer)

    def do_GET(self):  # noqa: N802
        answer = self._answer()
        if answer == "drop":
            self.close_connection = True
            return
        if answer[0] == "sleep":
            time.sleep(answer[1])
            answer = (200, b"late", {})
        self._send(*answer)

    def _send(self, status, body, headers):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("listing, error", [
    (b"[1, 2]", CorruptDataError),
    (b'{"../x.pzf": [0, 1]}', CorruptDataError),
    (b'{"frame00000.pzf": "big"}', CorruptDataError),
    (b'{"frame00000.pzf": [0, -5]}', CorruptDataError),
    (b"{" * 50000, CorruptDataError),
    (b'{"a": [0, 1]}', DataTooLargeError),  # claims 10 GB in Content-Length
], ids=["list", "dotdot", "not-pair", "negative", "deep", "huge"])
def test_hostile_listings(hostile_server, listing, error):
    headers = {"Content-Length": str(10**10)} if error is DataTooLargeError else {}
    _Hostile.responses_by_path = {"/s.pcs/": (200, listing, headers)}
    with pytest.raises(error):
        open_pcs(f"http://127.0.0.1:{hostile_server.server_port}/s.pcs", max_decoded_size=1 << 20)


def test_huge_listing_refused_before_parsing(hostile_server):
    """60 MB of tiny listing entries (millions of Python objects if parsed): a child
    process under a memory limit gets a clean error from the item budget."""
    from hostile import expect_clean

    body = b"{" + b",".join(b'"f%07d":[0,0]' % i for i in range(3_500_000)) + b"}"
    _Hostile.responses_by_path = {"/s.pcs/": (200, body, {})}
    url = f"http://127.0.0.1:{hostile_server.server_port}/s.pcs"
    res = expect_clean(f"open_pcs({url!r}, max_decoded_size=ReadBudget(max_items=1_000_000))",
                       setup="from pzfcodec.pyme import open_pcs\nfrom pzfcodec.budget import ReadBudget\n",
                       memory_mb=1024, timeout=120)
    assert not res["ok"] and res["library"] and res["type"] == "DataTooLargeError", res


def test_hostile_frame_number_span(hostile_server):
    _Hostile.responses_by_path = {"/s.pcs/": (200, b'{"frame4000000000.pzf": [0, 100]}', {})}
    with pytest.raises(DataTooLargeError, match="frame numbers"):
        open_pcs(f"http://127.0.0.1:{hostile_server.server_port}/s.pcs")


def test_retries_timeouts_and_write_once_over_http(hostile_server):
    port = hostile_server.server_port
    store = HTTPStore([f"127.0.0.1:{port}"], timeout=0.5, retries=2)
    _Hostile.responses_by_path = {"/a.pzf": [(503, b"", {}), (502, b"", {}), (200, b"data", {})],
                                  "/b.pzf": ["drop", (200, b"again", {})],
                                  "/slow.pzf": [("sleep", 2.0)],
                                  "/put1.pzf": ["drop", (405, b"", {}), (200, b"mine", {})],
                                  "/put2.pzf": [(405, b"", {})]}
    assert store.get("a.pzf") == b"data"  # 5xx retried
    assert store.get("b.pzf") == b"again"  # a dropped connection retried
    with pytest.raises(StorageError, match=rf"127.0.0.1:{port} did not answer GET /slow.pzf within 0.5 s"):
        store.get("slow.pzf")
    # a PUT whose answer was lost, answered 405 on the retry: done if the server holds our bytes
    store.put("put1.pzf", b"mine")
    _Hostile.responses_by_path["/put1.pzf"] = ["drop", (405, b"", {}), (200, b"other", {})]
    with pytest.raises(StorageError, match="already exists"):
        store.put("put1.pzf", b"mine")
    with pytest.raises(StorageError, match="already exists"):  # a first answer 405: never ours
        store.put("put2.pzf", b"mine")


def test_writer_reports_failed_puts(hostile_server):
    port = hostile_server.server_port
    _Hostile.responses_by_path = {"/s.pcs/metadata.json": (200, b"", {})}
    _Hostile.puts = {}
    for i in range(6):
        _Hostile.responses_by_path[f"/s.pcs/{frame_name(i)}"] = (500, b"", {}) if i == 4 else (200, b"", {})
    w = PCSWriter(HTTPStore([f"127.0.0.1:{port}"], retries=0), "s.pcs", threads=1)
    w.put_metadata(MD)
    for i in range(4):
        w.put_frame(i, b"blob")
    assert w.flush() == 4
    w.put_frame(5, b"blob")
    w.put_frame(4, b"blob")
    with pytest.raises(StorageError, match=r"HTTP 500.*frames 0\.\.3 are durable"):
        w.finish(MD, EVENTS)
    assert w.frames_durable == 5 and w.durable == 4
    assert "/s.pcs/frame00003.pzf" in _Hostile.puts and "/s.pcs/events.json" not in _Hostile.puts
    w.close()


def test_server_errors_name_server_and_path(hostile_server):
    port = hostile_server.server_port
    _Hostile.responses_by_path = {"/s.pcs/": (503, b"", {})}
    store = HTTPStore([f"127.0.0.1:{port}"], retries=1)
    with pytest.raises(StorageError, match=rf"127.0.0.1:{port} answered GET /s.pcs/ with HTTP 503"):
        store.list("s.pcs")
    with pytest.raises(StorageError, match=r"127.0.0.1:1 failed on GET /x after 2 attempts"):
        HTTPStore(["127.0.0.1:1"], retries=1).get("x")


# ---- PYME's own data server, spooler and reader --------------------------------

SPOOL = r'''
import json, time, numpy as np
from PYME.IO import acquisition_backends, PZFFormat, clusterIO
def dist_fcn(n_servers, i=None):  # as PYME's HTTPSpooler configures the backend: blocks of 50 frames
    return int(i / 50) % n_servers if i is not None else 0
for series, quant, path in JOBS:
    frames = np.load(path)
    settings = {"compression": PZFFormat.DATA_COMP_HUFFCODE, "quantization": PZFFormat.DATA_QUANT_NONE}
    if quant:
        settings.update(quantization=PZFFormat.DATA_QUANT_SQRT, quantizationOffset=100.0, quantizationScale=0.5)
    b = acquisition_backends.ClusterBackend(series, distribution_fcn=dist_fcn, compression_settings=settings,
                                            serverfilter=FILTER, shape=[-1, -1, 1, -1, 1])
    b.mdh["Camera.ADOffset"] = 100.0
    b.mdh["Camera.ElectronsPerCount"] = 0.5
    b.mdh["voxelsize.x"] = 0.105
    b.initialise()
    b.event_logger.logEvent("StartAq", "0", timestamp=1700000000.25)
    for i, f in enumerate(frames):
        b.store_frame(i, f)
        if i == 3:
            b.event_logger.logEvent("ProtocolFocus", "10, 1.25", timestamp=1700000000.5)
    deadline = time.time() + 60  # PYME's streams can drop frames not yet acknowledged when they close
    while time.time() < deadline and sum(f.endswith(".pzf") for f in clusterIO.listdir(series, FILTER)) < len(frames):
        time.sleep(0.2)
    b.finalise()
print("@@RESULT " + json.dumps({"ok": True}))
'''

READ = r'''
import json, numpy as np
from PYME.IO.DataSources.ClusterPZFDataSource import DataSource
out = {}
for k, url in enumerate(URLS):
    ds = DataSource(url)
    n = ds.getNumSlices()
    np.save("%s/%d.npy" % (OUT, k), np.stack([ds.getSlice(i) for i in range(n)]))
    md = ds.getMetadata()
    out[url] = {"n": int(n), "metadata": {k: md[k] for k in md.getEntryNames()}, "complete": bool(ds.is_complete),
                "events": [[e["EventName"].decode(), e["EventDescr"].decode(), float(e["Time"])] for e in ds.getEvents()]}
print("@@RESULT " + json.dumps(out))
'''


def pyme_read(urls, servers, tmp_path):
    """What PYME's ClusterPZFDataSource reads: ``{url: (frames, info)}``."""
    out = tmp_path / "pyme-read"
    out.mkdir(exist_ok=True)
    info = result_line(run_pyme(f"URLS = {list(urls)!r}\nOUT = {str(out)!r}\n" + READ, servers))
    return {url: (np.load(out / f"{k}.npy"), info[url]) for k, url in enumerate(urls)}


def _events_list(events):
    return [[str(e["EventName"]), str(e["EventDescr"]), float(e["Time"])] for e in events]


def test_series_spooled_by_pyme_read_like_pyme(pyme_servers, tmp_path, monkeypatch, capsys):
    frames = {"lossless": _frames(120, seed=1), "quantised": _frames(120, seed=2)}
    jobs = []
    for kind, f in frames.items():
        np.save(tmp_path / f"{kind}.npy", f)
        jobs.append((f"2024/spooled/{kind}.pcs", kind == "quantised", str(tmp_path / f"{kind}.npy")))
    run_pyme(f"JOBS = {jobs!r}\n" + SPOOL, pyme_servers)
    urls = [f"PYME-CLUSTER://pzfcodec-test/{series}" for series, _, _ in jobs]
    pyme = pyme_read(urls, pyme_servers, tmp_path)
    addresses = [s.address for s in pyme_servers]
    roots = [s.root for s in pyme_servers]
    for (series, quant, _), url in zip(jobs, urls):
        pyme_frames, info = pyme[url]
        assert info["n"] == 120 and info["complete"]
        if not quant:
            assert np.array_equal(pyme_frames, frames["lossless"])
        held = [sorted(int(n[5:-4]) for n in os.listdir(r / series) if n.endswith(".pzf")) for r in roots]
        assert sorted(held) == [list(range(50)) + list(range(100, 120)), list(range(50, 100))]
        monkeypatch.setenv("PZFCODEC_PYME_SERVERS", addresses[1])
        for s in (open_pcs(url, servers=addresses), open_pcs(series, roots=roots),
                  pzfcodec.open(f"http://{addresses[0]}/{series}")):
            with s:
                assert s.shape == pyme_frames.shape and s.complete
                for i in range(len(s)):
                    assert np.array_equal(s[i], pyme_frames[i]), i
                assert np.array_equal(np.asarray(s), pyme_frames)
                assert s.metadata == info["metadata"]
                assert _events_list(s.events) == info["events"]
                assert ("quantised" in s.storage) == quant
    # the command line on a spooled series: info and convert straight from the servers
    from pzfcodec.cli import main

    monkeypatch.setenv("PZFCODEC_PYME_SERVERS", ",".join(addresses))
    assert main(["info", urls[1]]) == 0
    assert "120 stored, 0 missing (none); complete" in capsys.readouterr().out
    assert main(["convert", urls[1], str(tmp_path / "spooled.h5")]) == 0
    print(capsys.readouterr().out, file=sys.stderr)  # the summary, for the record (pytest -s)
    with pzfcodec.open(tmp_path / "spooled.h5") as s:
        assert np.array_equal(s[:], pyme[urls[1]][0]) and _events_list(s.events) == pyme[urls[1]][1]["events"]


def test_write_pcs_opens_in_pyme(pyme_servers, tmp_path):
    frames = _frames(75, seed=3)
    addresses = [s.address for s in pyme_servers]
    write_pcs("2024/written/http.pcs", frames, MD, EVENTS, servers=addresses, quantization=(100.0, 0.5), threads=2)
    write_pcs("2024/written/disk.pcs", frames, MD, EVENTS, roots=[s.root for s in pyme_servers])
    with pytest.raises(BadArgumentError, match="already exists"):
        write_pcs("2024/written/http.pcs", frames, servers=addresses)
    urls = ["PYME-CLUSTER://pzfcodec-test/2024/written/http.pcs", "PYME-CLUSTER://pzfcodec-test/2024/written/disk.pcs"]
    pyme = pyme_read(urls, pyme_servers, tmp_path)
    for url in urls:
        pyme_frames, info = pyme[url]
        with open_pcs(url, servers=addresses) as s:
            assert np.array_equal(pyme_frames, np.asarray(s))
            assert info["n"] == 75 and info["complete"] and info["metadata"] == s.metadata
            assert info["events"] == _events_list(EVENTS)
    assert np.array_equal(pyme[urls[1]][0], frames)


def test_put_is_write_once_on_servers(pyme_servers):
    store = HTTPStore([s.address for s in pyme_servers])
    store.put("once/a.pzf", b"first", target=1)
    with pytest.raises(StorageError, match="already exists"):
        store.put("once/a.pzf", b"second", target=1)
    assert store.get("once/a.pzf") == b"first" and store.list("once")["a.pzf"].targets == (1,)


def test_growing_series_on_servers(pyme_servers):
    frames = _frames(70, seed=5)
    addresses = [s.address for s in pyme_servers]
    with PCSWriter(HTTPStore(addresses), "2024/growing.pcs") as w:
        w.put_metadata(MD)
        for i in range(30):
            w.put_frame(i, _pzf(frames[i], i))
        assert w.flush() == 30
        with open_pcs("PYME-CLUSTER://lab/2024/growing.pcs", servers=addresses) as s:
            assert len(s) == 30 and not s.complete and s.final_metadata is None
            assert np.array_equal(s[:], frames[:30])
            for i in range(30, 70):
                w.put_frame(i, _pzf(frames[i], i))
            w.finish(MD, EVENTS)
            deadline = time.monotonic() + 10  # PYME's server caches a listing for about a second
            while s.refresh() < 70 or not s.complete:
                assert time.monotonic() < deadline, (len(s), s.complete)
                time.sleep(0.2)
            assert np.array_equal(np.asarray(s), frames) and len(s.events) == 2 and s.final_metadata


def test_server_dying_mid_read(pyme_server_factory, tmp_path):
    servers = [pyme_server_factory(), pyme_server_factory()]
    frames = _frames(100, seed=4)
    write_pcs("d.pcs", frames, MD, servers=[s.address for s in servers])
    with open_pcs("d.pcs", servers=[s.address for s in servers]) as s:
        assert np.array_equal(s[:10], frames[:10])
        servers[1].kill()
        assert np.array_equal(s[:50], frames[:50])  # on the living server
        with pytest.raises(StorageError, match=rf"{servers[1].address} failed on GET /d.pcs/frame00060.pzf"):
            s[60]
        with pytest.raises(StorageError, match=servers[1].address):
            s[40:70]
        with pytest.raises(StorageError, match=servers[1].address):
            s.refresh()
