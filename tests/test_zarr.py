"""The Zarr v3 serializer pzfcodec.zarr.PZF."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pzfcodec
from pzfcodec.simulate import camera_frames
from common import ADAPTERS, CONTRACT, require_module

zarr = require_module("zarr")
from zarr.storage import LocalStore, WrapperStore  # noqa: E402

from pzfcodec.zarr import PZF  # noqa: E402


def make(path, data, chunks, codec=None, **kwargs):
    z = zarr.create_array(path, shape=data.shape, chunks=chunks, dtype=data.dtype,
                          serializer=codec or PZF(), compressors=None, **kwargs)
    z[...] = data
    return z


def run_fresh(code, *args):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
def test_codec_contract(check):
    check(ADAPTERS["zarr"]())


def test_write_then_read_in_new_process(tmp_path):
    data = camera_frames(6, (50, 40), seed=5)
    path = tmp_path / "a.zarr"
    make(path, data, (2, 32, 32))
    np.save(tmp_path / "expected.npy", data)
    out = run_fresh("""
        import sys
        import numpy as np, zarr
        assert "pzfcodec" not in sys.modules
        z = zarr.open_array(sys.argv[1], mode="r")
        expected = np.load(sys.argv[2])
        np.testing.assert_array_equal(z[:], expected)
        np.testing.assert_array_equal(z[3, 10:45, 5:], expected[3, 10:45, 5:])
        print(type(z.metadata.codecs[0]).__module__)
    """, path, tmp_path / "expected.npy")
    assert out.strip() == "pzfcodec.zarr"


@pytest.mark.parametrize("codec", [PZF(), PZF(offset=100, scale=0.7),
                                   PZF(compression="chunked", threads=2, chunk_size=4096),
                                   PZF.from_camera(100, 0.5, 0.5, compression="raw")])
def test_metadata_names_codec_and_configuration(tmp_path, codec):
    data = camera_frames(2, (16, 16), seed=0)
    make(tmp_path / "m.zarr", data, (1, 16, 16), codec)
    meta = json.loads((tmp_path / "m.zarr" / "zarr.json").read_text())
    assert meta["codecs"] == [{"name": "pzf", "configuration": {
        "offset": codec.offset, "scale": codec.scale, "compression": codec.compression,
        "chunk_size": codec.chunk_size}}]  # threads: a run-time setting, not stored
    reopened = zarr.open_array(tmp_path / "m.zarr", mode="r")
    assert reopened.metadata.codecs[0] == codec
    assert PZF.from_dict(codec.to_dict()) == codec


@pytest.mark.parametrize("dtype", ["u1", "u2", "f4", "i2", "i4", "u8", "f8", "bool", "c8"])
def test_lossless_round_trip_dtypes(tmp_path, dtype):
    rng = np.random.default_rng(1)
    data = (rng.normal(50, 20, (5, 33, 21)) * 3).astype(dtype)
    z = make(tmp_path / "d.zarr", data, (2, 16, 16))
    np.testing.assert_array_equal(z[:], data)


def test_each_chunk_is_a_pzf_blob(tmp_path):
    data = camera_frames(3, (40, 24), seed=4)
    make(tmp_path / "b.zarr", data, (2, 16, 16))
    blob = (tmp_path / "b.zarr" / "c" / "1" / "2" / "1").read_bytes()  # an edge chunk
    header = pzfcodec.read_header(blob)
    assert header.version == 3 and tuple(header.shape) == (2, 16, 16)
    chunk = pzfcodec.decompress(blob)
    np.testing.assert_array_equal(chunk[:1, :8, :8], data[2:, 32:, 16:])


def test_quantised_values(tmp_path):
    data = camera_frames(4, (64, 64), seed=7)
    codec = PZF.from_camera(100, 0.5, 1.0)
    z = make(tmp_path / "q.zarr", data, (1, 64, 64), codec)
    expected = pzfcodec.dequantize(pzfcodec.quantize(data, codec.offset, codec.scale),
                                   codec.offset, codec.scale, data.dtype).reshape(data.shape)
    np.testing.assert_array_equal(z[:], expected)
    stored = z.nbytes_stored()
    assert stored < data.nbytes / 3


def test_quantisation_refuses_other_dtypes(tmp_path):
    with pytest.raises(pzfcodec.BadArgumentError, match="uint16"):
        zarr.create_array(tmp_path / "x.zarr", shape=(4, 4), dtype="i4",
                          serializer=PZF(offset=0, scale=1), compressors=None)


class CountingStore(WrapperStore):
    """Records the bytes each read returns."""

    def __init__(self, store):
        super().__init__(store)
        self.reads = []

    async def get(self, key, prototype, byte_range=None):
        buf = await super().get(key, prototype, byte_range)
        if buf is not None and not key.endswith("zarr.json"):
            self.reads.append((key, len(buf)))
        return buf


def test_partial_reads_touch_only_needed_chunks(tmp_path):
    data = camera_frames(4, (64, 64), seed=8)
    make(tmp_path / "p.zarr", data, (1, 32, 32))
    store = CountingStore(LocalStore(tmp_path / "p.zarr", read_only=True))
    z = zarr.open_array(store, mode="r")
    np.testing.assert_array_equal(z[2, 40:50, 3:9], data[2, 40:50, 3:9])
    assert [key for key, _ in store.reads] == ["c/2/1/0"]


def test_sharded_partial_reads(tmp_path):
    data = camera_frames(8, (64, 64), seed=9)
    make(tmp_path / "s.zarr", data, (1, 32, 32), shards=(8, 64, 64))
    shard_size = (tmp_path / "s.zarr" / "c" / "0" / "0" / "0").stat().st_size
    store = CountingStore(LocalStore(tmp_path / "s.zarr", read_only=True))
    z = zarr.open_array(store, mode="r")
    np.testing.assert_array_equal(z[5, 33:40, 2:30], data[5, 33:40, 2:30])
    np.testing.assert_array_equal(z[:], data)
    first_read = sum(n for _, n in store.reads[:2])  # shard index, then one inner chunk
    assert first_read < shard_size / 8


def test_corrupt_chunk_fails_alone(tmp_path):
    data = camera_frames(2, (32, 32), seed=10)
    make(tmp_path / "c.zarr", data, (1, 32, 32))
    chunk = tmp_path / "c.zarr" / "c" / "1" / "0" / "0"
    blob = bytearray(chunk.read_bytes())
    chunk.write_bytes(bytes(blob[: len(blob) // 3]))
    z = zarr.open_array(tmp_path / "c.zarr", mode="r")
    np.testing.assert_array_equal(z[0], data[0])
    with pytest.raises(pzfcodec.CorruptDataError):
        z[1]
    blob[20:24] = (999).to_bytes(4, "little")  # Width no longer matches the chunk
    chunk.write_bytes(bytes(blob))
    with pytest.raises(pzfcodec.CorruptDataError, match="chunk"):
        z[1]
