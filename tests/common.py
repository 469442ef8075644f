"""Helpers shared by every test module.

``CONTRACT`` is the contract every PZF adapter (``pzfcodec.PZF``,
``pzfcodec.numcodecs.PZF``, ``pzfcodec.zarr.PZF``) keeps; the test module of
each adapter runs each check on it, as numcodecs' codecs share its helpers.

``require_module`` / ``require_tool`` skip a test (or, called at the top of
a module, the whole module) when an optional peer is missing on a
developer's machine, but fail it under CI (``CI=true``), where everything
must be installed.
"""
from __future__ import annotations

import array
import importlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pzfcodec.errors import BadArgumentError

DATA = Path(__file__).parent / "data"
VECTORS = DATA / "vectors"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_module(name: str):
    """Import and return module ``name``; skip (locally) or fail (CI) if absent."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} must be installed under CI: {exc}")
        pytest.skip(f"{name} is not installed", allow_module_level=True)


def require_tool(name: str) -> str:
    """Return the path of command ``name``; skip (locally) or fail (CI) if absent."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"command {name!r} must be installed under CI")
        pytest.skip(f"command {name!r} is not installed", allow_module_level=True)
    return path


def vector_cases(kind: str | None = None) -> list[dict]:
    """Cases of the golden-vector manifest, optionally of one kind (pzf/huffman)."""
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    return [c for c in manifest["cases"] if kind is None or c["kind"] == kind]


def load_vector(case: dict, role: str):
    """Load a case file: ``role`` is 'input', 'expected' (arrays) or 'blob' (bytes)."""
    path = VECTORS / case["files"][role]
    return path.read_bytes() if role == "blob" else np.load(path)


def assert_bits_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal dtype, shape and bits (float32 compared as uint32, so NaN/-0 count)."""
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if actual.dtype == np.float32:
        actual, expected = actual.view(np.uint32), expected.view(np.uint32)
    np.testing.assert_array_equal(actual, expected)


# --- codec helpers (our own, in the style of numcodecs' test helpers) -----------

def compare_arrays(arr: np.ndarray, res, precision: int | None = None) -> None:
    """``res`` (an array or buffer) holds ``arr``'s values in ``arr``'s memory order."""
    res = res if isinstance(res, np.ndarray) else np.frombuffer(res, dtype=np.uint8)
    res = res.reshape(-1, order="A").view(arr.dtype)
    res = res.reshape(arr.shape, order="F" if arr.flags.f_contiguous else "C")
    if precision is None:
        np.testing.assert_array_equal(arr, res)
    else:
        np.testing.assert_array_almost_equal(arr, res, decimal=precision)


def check_encode_decode(arr: np.ndarray, codec) -> None:
    """A numcodecs-style codec round-trips ``arr`` through every kind of buffer."""
    raw = arr.tobytes(order="A")
    for source in (arr, raw, bytearray(raw), array.array("b", raw)):
        compare_arrays(arr, codec.decode(codec.encode(source)))
    enc = bytes(codec.encode(arr))
    for blob in (enc, bytearray(enc), array.array("b", enc), np.frombuffer(enc, np.uint8)):
        compare_arrays(arr, codec.decode(blob))
    out = np.empty_like(arr)
    codec.decode(enc, out=out)
    compare_arrays(arr, out)
    out = bytearray(arr.nbytes)
    codec.decode(enc, out=out)
    compare_arrays(arr, out)


def check_encode_decode_array(arr: np.ndarray, codec) -> None:
    """Decoded values equal ``arr``'s, also when decoded into ``out``."""
    enc = codec.encode(arr)
    np.testing.assert_array_equal(np.asarray(codec.decode(enc)).reshape(arr.shape), arr)
    out = np.empty_like(arr)
    codec.decode(enc, out=out)
    np.testing.assert_array_equal(out, arr)


def check_config(codec) -> None:
    """The configuration survives JSON and gives back an equal codec."""
    numcodecs = importlib.import_module("numcodecs")
    config = json.loads(json.dumps(codec.get_config()))
    assert numcodecs.get_codec(config) == codec


def check_err_encode_object_buffer(codec) -> None:
    with pytest.raises(TypeError):
        codec.encode(np.array(["foo", "bar", "baz"], dtype=object))


def check_err_decode_object_buffer(codec) -> None:
    enc = codec.encode(np.arange(10))
    with pytest.raises(TypeError):
        codec.decode(enc, out=np.empty(10, dtype=object))


# --- the contract of the three PZF adapters (HDF5 filter, numcodecs, Zarr) -------

class Adapter:
    """How the shared contract drives one adapter class holding ``options``.

    ``store(codec, arr)`` writes ``arr`` as one chunk through the adapter and
    returns ``(stored chunk bytes, array read back through the adapter)``;
    ``reload(codec)`` gives the codec the stored configuration describes;
    ``refused`` are the exceptions that storing data the codec refuses raises.
    """

    name = ""
    cls: Any = None
    refused: tuple = ()
    stores_threads = False

    def store(self, codec, arr: np.ndarray) -> tuple[bytes, np.ndarray]:
        raise NotImplementedError

    def reload(self, codec):
        raise NotImplementedError


class HDF5Adapter(Adapter):
    name = "hdf5"
    refused = (ValueError, OSError)
    stores_threads = True  # the plugin reads the threads slot of its parameters

    def __init__(self):
        import pzfcodec.hdf5
        self.cls = pzfcodec.hdf5.PZF

    def store(self, codec, arr):
        import h5py
        with h5py.File(io.BytesIO(), "w") as f:
            ds = f.create_dataset("x", data=arr, chunks=arr.shape, compression=codec)
            self.cd_values = ds.id.get_create_plist().get_filter(0)[2]
            _, blob = ds.id.read_direct_chunk((0,) * arr.ndim)
            return bytes(blob), ds[()]

    def reload(self, codec):
        from pzfcodec.options import Options
        self.store(codec, np.zeros((4, 4), np.uint16))
        return self.cls(**Options.from_cd_values(self.cd_values).kwargs())


class NumcodecsAdapter(Adapter):
    name = "numcodecs"
    refused = (BadArgumentError,)

    def __init__(self):
        require_module("numcodecs")
        import pzfcodec.numcodecs
        self.cls = pzfcodec.numcodecs.PZF

    def store(self, codec, arr):
        blob = codec.encode(arr)
        return bytes(blob), np.asarray(codec.decode(blob)).view(arr.dtype).reshape(arr.shape)

    def reload(self, codec):
        import numcodecs
        config = json.loads(json.dumps(codec.get_config()))
        assert "threads" not in config
        return numcodecs.get_codec(config)


class ZarrAdapter(Adapter):
    name = "zarr"
    refused = (BadArgumentError,)

    def __init__(self):
        require_module("zarr")
        import pzfcodec.zarr
        self.cls = pzfcodec.zarr.PZF

    def store(self, codec, arr):
        import zarr
        from zarr.storage import MemoryStore
        stored: dict = {}
        z = zarr.create_array(MemoryStore(stored), shape=arr.shape, chunks=arr.shape,
                              dtype=arr.dtype, serializer=codec, compressors=None)
        z[...] = arr
        key = "c/" + "/".join("0" * arr.ndim)
        return stored[key].to_bytes(), z[...]

    def reload(self, codec):
        import zarr
        from zarr.storage import MemoryStore
        stored: dict = {}
        zarr.create_array(MemoryStore(stored), shape=(4, 4), chunks=(4, 4), dtype="u2",
                          serializer=codec, compressors=None)
        meta = json.loads(stored["zarr.json"].to_bytes())
        (entry,) = meta["codecs"]
        assert "threads" not in entry["configuration"]
        return self.cls.from_dict(json.loads(json.dumps(entry)))


ADAPTERS = {a.name: a for a in (HDF5Adapter, NumcodecsAdapter, ZarrAdapter)}

#: options every adapter accepts, and options every adapter refuses
GOOD_OPTIONS = [dict(), dict(offset=100, scale=0.7), dict(compression="raw"),
                dict(offset=0, scale=2.5, compression="raw"),
                dict(compression="chunked", threads=2, chunk_size=4096),
                dict(offset=100, scale=0.7, compression="chunked", chunk_size=1000),
                dict(compression="context", threads=2, chunk_size=300),
                dict(offset=100, scale=0.7, compression="context")]
BAD_OPTIONS = [dict(offset=100), dict(scale=1), dict(offset=0, scale=0), dict(offset=0, scale=-1),
               dict(offset=0, scale=float("nan")), dict(offset=float("inf"), scale=1),
               dict(compression="zstd"), dict(threads=0), dict(threads=2), dict(threads=1.5),
               dict(compression="chunked", threads=257), dict(chunk_size=1000),
               dict(compression="chunked", chunk_size=0)]


def _frames() -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.poisson(200, (3, 40, 30)) + 100).astype(np.uint16)


def contract_round_trip(adapter: Adapter) -> None:
    """Stored chunks are PZF blobs; data reads back exact, or as the quantiser says."""
    import pzfcodec
    data = _frames()
    for kwargs in GOOD_OPTIONS:
        codec = adapter.cls(**kwargs)
        blob, back = adapter.store(codec, data)
        header = pzfcodec.read_header(blob)
        # a context request is written as PZF Huffman where that is no larger
        assert header.compression == codec.options.compression or (
            codec.options.compression == "context" and header.compression == "huffman")
        expected = data
        if codec.options.scale is not None:
            q = codec.options.quantization
            assert header.quantization.scale == np.float32(q.scale)
            if header.compression == "context":  # levels decode to their pixels' mean
                np.testing.assert_array_equal(pzfcodec.quantize(back, q.offset, q.scale),
                                              pzfcodec.quantize(data, q.offset, q.scale))
                continue
            expected = pzfcodec.dequantize(pzfcodec.quantize(data, q.offset, q.scale),
                                           q.offset, q.scale, data.dtype).reshape(data.shape)
        np.testing.assert_array_equal(back, expected)
        np.testing.assert_array_equal(
            pzfcodec.decompress(blob).reshape(-1, order="A"), expected.reshape(-1))


def contract_config_round_trip(adapter: Adapter) -> None:
    """The stored configuration gives back an equal codec (threads: a run-time setting)."""
    for kwargs in GOOD_OPTIONS:
        codec = adapter.cls(**kwargs)
        again = adapter.reload(codec)
        assert type(again) is adapter.cls and again == codec
        if adapter.stores_threads:  # the filter's parameters, float32s included
            assert again.filter_options == codec.filter_options
        else:  # the configuration, as given, less the threads
            assert again.options.config() == codec.options.config() and again.threads == 1


def contract_repr(adapter: Adapter) -> None:
    for kwargs in GOOD_OPTIONS:
        codec = adapter.cls(**kwargs)
        assert repr(codec).startswith("PZF(")
        assert eval(repr(codec), {"PZF": adapter.cls}) == codec


def contract_from_camera(adapter: Adapter) -> None:
    import pzfcodec
    for step in (0.5, 1.0):
        codec = adapter.cls.from_camera(100, 0.5, step)
        q = pzfcodec.camera_quantization(100, 0.5, step)
        assert (codec.offset, codec.scale) == (q.offset, q.scale)
        assert codec == adapter.cls(q.offset, q.scale)
    chunked = adapter.cls.from_camera(100, 0.5, 1.0, compression="chunked", threads=2)
    assert (chunked.compression, chunked.threads) == ("chunked", 2)


def contract_refusals(adapter: Adapter) -> None:
    """Bad options at construction; quantisation of other types when storing."""
    for kwargs in BAD_OPTIONS:
        with pytest.raises(BadArgumentError):
            adapter.cls(**kwargs)
    with pytest.raises(adapter.refused):
        adapter.store(adapter.cls(offset=0, scale=1), np.zeros((4, 4), np.int32))
    blob, back = adapter.store(adapter.cls(), np.arange(16, dtype=np.int32).reshape(4, 4))
    np.testing.assert_array_equal(back, np.arange(16).reshape(4, 4))


def contract_threads_are_not_stored(adapter: Adapter) -> None:
    """Codecs differing only in threads store the same bytes."""
    data = _frames()
    one = adapter.cls(compression="chunked", chunk_size=1000)
    four = adapter.cls(compression="chunked", chunk_size=1000, threads=4)
    assert adapter.store(one, data)[0] == adapter.store(four, data)[0]
    if not adapter.stores_threads:
        assert one == four


#: The shared codec contract: each test module of an adapter runs every check.
CONTRACT = [contract_round_trip, contract_config_round_trip, contract_repr,
            contract_from_camera, contract_refusals, contract_threads_are_not_stored]
