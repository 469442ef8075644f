"""Parallel compression with Dask (pzfcodec.dask) on a 2-worker LocalCluster."""
import pickle
import resource
import sys

import numpy as np
import pytest

import pzfcodec
from pzfcodec.simulate import camera_frames
from common import require_module

da = require_module("dask.array")
distributed = require_module("distributed")
zarr = require_module("zarr")
h5py = require_module("h5py")
cloudpickle = require_module("cloudpickle")

import pzfcodec.dask as pzd  # noqa: E402

# Workers cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def expected_quantised(data, offset, scale):
    q = pzfcodec.quantize(data, offset, scale)
    return pzfcodec.dequantize(q, offset, scale, data.dtype).reshape(data.shape)


@pytest.fixture
def npy(tmp_path):
    data = camera_frames(13, (70, 50), seed=11)
    path = tmp_path / "stack.npy"
    np.save(path, data)
    return path, data


def test_lazy_file_travels_by_path(npy):
    path, data = npy
    lazy = pzd.LazyFile(path)
    assert (lazy.shape, lazy.dtype) == (data.shape, data.dtype)
    np.asarray(lazy[3:5])  # opens the memory map
    assert len(pickle.dumps(lazy)) < 1000
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy))[2:4, 5], data[2:4, 5])
    stack = pzd.open_lazy(path)
    assert stack.chunks[1:] == ((70,), (50,))
    np.testing.assert_array_equal(stack[7].compute(), data[7])


def test_open_lazy_pyme_and_hdf5(tmp_path):
    data = camera_frames(5, (32, 24), seed=12)
    pyme = require_module("pzfcodec.pyme")
    pyme.write_h5(tmp_path / "series.h5", data)
    np.testing.assert_array_equal(pzd.open_lazy(tmp_path / "series.h5").compute(), data)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = data
    stack = pzd.open_lazy(tmp_path / "plain.h5", "x", chunks=(2, 32, 24))
    np.testing.assert_array_equal(stack.compute(), data)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_to_zarr_lossless(client, npy, tmp_path, zarr_format):
    path, data = npy
    z = pzd.to_zarr(pzd.open_lazy(path), tmp_path / "out.zarr", chunks=(2, 32, 32),
                    zarr_format=zarr_format, client=client)
    reopened = zarr.open_array(tmp_path / "out.zarr", mode="r")
    np.testing.assert_array_equal(reopened[:], data)
    assert z.chunks == (2, 32, 32)
    if zarr_format == 3:
        assert reopened.metadata.codecs[0].to_dict()["name"] == "pzf"


def test_to_zarr_quantised_sharded(client, npy, tmp_path):
    path, data = npy
    pzd.to_zarr(path, tmp_path / "q.zarr", offset=100, scale=0.7, chunks=(1, 70, 50),
                shards=(4, 70, 50), client=client)
    z = zarr.open_array(tmp_path / "q.zarr", mode="r")
    np.testing.assert_array_equal(z[:], expected_quantised(data, 100, 0.7))


def test_to_zarr_threads_without_cluster(npy, tmp_path):
    path, data = npy
    z = pzd.to_zarr(np.load(path), tmp_path / "t.zarr")
    np.testing.assert_array_equal(z[:], data)


def test_to_zarr_scheduler_address_and_worker_count(client, npy, tmp_path):
    path, data = npy
    pzd.to_zarr(path, tmp_path / "a.zarr", client=client.scheduler.address)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "a.zarr", mode="r")[:], data)
    pzd.to_zarr(path, tmp_path / "n.zarr", client="1")
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "n.zarr", mode="r")[:], data)


@pytest.mark.parametrize("options", [{}, dict(offset=100, scale=0.7)])
def test_to_hdf5(client, npy, tmp_path, options):
    path, data = npy
    out = tmp_path / "out.h5"
    stored = pzd.to_hdf5(pzd.open_lazy(path), out, "frames", chunks=(3, 32, 32), client=client,
                         in_flight=2, **options)
    expected = expected_quantised(data, 100, 0.7) if options else data
    with h5py.File(out, "r") as f:
        dset = f["frames"]
        assert dset.id.get_create_plist().get_filter(0)[0] == pzfcodec.FILTER_ID
        assert dset.chunks == (3, 32, 32)
        np.testing.assert_array_equal(dset[:], expected)
        total = 0
        for index in np.ndindex(5, 3, 2):
            offset = tuple(i * c for i, c in zip(index, dset.chunks))
            _, blob = dset.id.read_direct_chunk(offset)
            total += len(blob)
            chunk = pzfcodec.decompress(blob)
            region = expected[offset[0]:offset[0] + 3, offset[1]:offset[1] + 32,
                              offset[2]:offset[2] + 32]
            np.testing.assert_array_equal(chunk[tuple(slice(0, n) for n in region.shape)],
                                          region)
    assert stored == total


def test_to_hdf5_other_dtype_and_1d(client, tmp_path):
    data = np.arange(1000, dtype=np.int32) * 7
    pzd.to_hdf5(data, tmp_path / "i.h5", "v", chunks=(300,), client=client)
    with h5py.File(tmp_path / "i.h5", "r") as f:
        np.testing.assert_array_equal(f["v"][:], data)


def test_write_hdf5_uses_the_dataset_filter(client, npy, tmp_path):
    path, data = npy
    calls = []
    with h5py.File(tmp_path / "w.h5", "w") as f:
        dset = f.create_dataset("x", shape=data.shape, dtype=data.dtype, chunks=(1, 70, 50),
                                **pzfcodec.PZF(100, 0.7, compression="chunked", chunk_size=999))
        pzd.write_hdf5(pzd.open_lazy(path, chunks=(4, 70, 50)), dset, client=client,
                       progress=lambda done, total: calls.append((done, total)))
        _, blob = dset.id.read_direct_chunk((5, 0, 0))
        header = pzfcodec.read_header(blob)
        assert header.compression == "chunked"
        assert header.quantization.scale == pytest.approx(0.7)
        np.testing.assert_array_equal(dset[:], expected_quantised(data, 100, 0.7))
        plain = f.create_dataset("plain", shape=data.shape, dtype=data.dtype, chunks=True)
        with pytest.raises(pzfcodec.BadArgumentError, match="PZF filter"):
            pzd.write_hdf5(data, plain, client=client)
    assert len(calls) == 4 and calls[-1] == (13, 13)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_write_hdf5_dtype_must_match(client, tmp_path):
    data = (np.arange(6 * 8 * 8) % 500).astype("<u2").reshape(6, 8, 8)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        big = f.create_dataset("big", shape=data.shape, dtype=">u2", chunks=(1, 8, 8),
                               **pzfcodec.PZF())
        pzd.write_hdf5(data, big, client=client)  # byte order only: converted
        np.testing.assert_array_equal(big[()], data)
        for dtype in ("<i2", "<f4", "<u4"):
            other = f.create_dataset(f"x{dtype}", shape=data.shape, dtype=dtype,
                                     chunks=(1, 8, 8), **pzfcodec.PZF())
            with pytest.raises(pzfcodec.BadArgumentError, match="dtype"):
                pzd.write_hdf5(data, other, client=client)


def test_simulated_stack_blocks_are_reproducible():
    stack = pzd.simulated_stack(10, (16, 12), frames_per_block=4, seed=3)
    assert stack.chunks[0] == (4, 4, 2)
    np.testing.assert_array_equal(stack[8:].compute(), camera_frames(2, (16, 12), seed=5))


def test_bad_arguments(npy, tmp_path):
    path, _ = npy
    with pytest.raises(pzfcodec.BadArgumentError):
        pzd.to_zarr(path, tmp_path / "x.zarr", chunks=(1, 2))
    with pytest.raises(pzfcodec.BadArgumentError):
        pzd.to_zarr(path, tmp_path / "x.zarr", zarr_format=4)
    with pytest.raises(pzfcodec.BadArgumentError):
        pzd.to_zarr(path, tmp_path / "x.zarr", offset=1)


# -- a stack larger than memory allows ---------------------------------------
GIB_FRAMES, GIB_SHAPE, GIB_BLOCK = 2048, (256, 1024), 64
OFFSET, SCALE = 100.0, 0.7


def lazy_block(block_id):
    """Block ``block_id`` of the generated stack, from its own seed."""
    rng = np.random.default_rng(1000 + block_id)
    base = rng.integers(95, 180, size=(GIB_BLOCK,) + GIB_SHAPE, dtype=np.uint16)
    base[:, ::7, ::5] += 800  # bright pixels
    return base


def generated_block(block_info=None):
    return lazy_block(block_info[None]["chunk-location"][0])


def verify_block(store, block_id):
    z = zarr.open_array(store, mode="r")
    lo = block_id * GIB_BLOCK
    stored = z[lo:lo + GIB_BLOCK]
    return bool(np.array_equal(stored, expected_quantised(lazy_block(block_id), OFFSET, SCALE)))


def peak_rss_mib():
    """Peak resident memory of this process's address space, MiB.

    VmHWM belongs to the address space, so unlike ``ru_maxrss`` it does not
    inherit the peak of the parent that started the worker.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB


def test_gib_stack_compressed_with_bounded_memory(client, tmp_path):
    stack = da.map_blocks(generated_block, dtype=np.uint16,
                          chunks=((GIB_BLOCK,) * (GIB_FRAMES // GIB_BLOCK),) + tuple(
                              (n,) for n in GIB_SHAPE))
    assert stack.nbytes >= 2**30
    store = str(tmp_path / "gib.zarr")
    z = pzd.to_zarr(stack, store, chunks=(4,) + GIB_SHAPE, offset=OFFSET, scale=SCALE,
                    client=client)
    assert z.nbytes_stored() < stack.nbytes / 4
    results = client.gather(client.map(verify_block, [store] * stack.numblocks[0],
                                       range(stack.numblocks[0])))
    assert all(results) and len(results) == GIB_FRAMES // GIB_BLOCK
    peaks = client.run(peak_rss_mib)
    assert len(peaks) == 2
    # Each worker holds a few 64 MiB blocks at a time (about 230 MiB peak
    # with the interpreter), never the stack: together less than its size.
    assert max(peaks.values()) < stack.nbytes / 2 / 2**20, peaks


def test_convert_with_dask(client, tmp_path):
    from pzfcodec.convert import convert
    import pyme_fixtures as fx

    data = camera_frames(9, (64, 48), seed=13)
    src = tmp_path / "series.h5"
    fx.write_image_h5(src, data, md=dict(fx.METADATA, **{"Camera.ADOffset": 100.0,
                                                         "Camera.ElectronsPerCount": 0.5}))
    calls = []
    report = convert(src, tmp_path / "out.h5", step_sigma=1.0, dask=client,
                     progress=lambda phase, done, total: calls.append((phase, done, total)))
    q = pzfcodec.camera_quantization(100.0, 0.5, 1.0)
    with pzfcodec.open(tmp_path / "out.h5") as s:
        np.testing.assert_array_equal(np.asarray(s), expected_quantised(data, q.offset, q.scale))
        assert s.metadata["Camera.ADOffset"] == 100.0
    assert report.frames == 9 and ("writing", 9, 9) in calls
    with pytest.raises(pzfcodec.BadArgumentError, match="hdf5"):
        convert(src, tmp_path / "p.h5", to="pyme", dask=client)


def test_convert_command_with_dask_workers(tmp_path):
    from pzfcodec.cli import main

    data = camera_frames(6, (40, 30), seed=14)
    np.save(tmp_path / "s.npy", data)
    assert main(["convert", str(tmp_path / "s.npy"), str(tmp_path / "o.h5"),
                 "--dask", "2", "--quiet"]) == 0
    with h5py.File(tmp_path / "o.h5", "r") as f:
        np.testing.assert_array_equal(f["ImageData"][:], data)
