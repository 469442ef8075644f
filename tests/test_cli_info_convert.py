"""``pzfcodec info`` and ``pzfcodec convert``: the function and the installed command."""
import math
import subprocess

import numpy as np
import pytest

import pzfcodec
import pzfcodec.simulate
from pzfcodec.convert import convert
from pzfcodec.info import describe
from pzfcodec.pyme import open_h5
import pyme_fixtures as fx
from common import require_tool

# PyTables (when installed) warns of names like "Camera.ADOffset"; matched by message so
# that the filter does not need PyTables
pytestmark = pytest.mark.filterwarnings("ignore:object name is not a valid Python identifier")
CAM = pzfcodec.simulate.CAMERA


@pytest.fixture(scope="module")
def frames():
    return pzfcodec.simulate.camera_frames(12, (96, 80), seed=11)


@pytest.fixture
def src(tmp_path, frames):
    md = dict(fx.METADATA, **{"Camera.ADOffset": CAM.ad_offset, "Camera.ElectronsPerCount": CAM.electrons_per_adu,
                              "Camera.ReadNoise": CAM.read_noise_e})
    path = tmp_path / "zlib.h5"
    fx.write_image_h5(path, frames, md=md)
    return path


@pytest.fixture
def pzf_src(tmp_path, frames):
    path = tmp_path / "pzf.h5"
    blobs = [fx.pzf_blob(f, frame_num=i, compression="huffman") for i, f in enumerate(frames)]
    fx.write_pzf_h5(path, blobs, order=np.random.default_rng(0).permutation(len(frames)))
    return path


@pytest.mark.parametrize("to", ["hdf5", "pyme"])
def test_convert_lossless(tmp_path, src, frames, to):
    dst = tmp_path / "out.h5"
    report = convert(src, dst, to=to)
    assert report.frames == 12 and report.quantization is None
    assert report.rms_error == 0 and report.max_error == 0
    assert report.raw_bytes == frames.nbytes and report.dst_bytes == dst.stat().st_size
    assert report.ratio == pytest.approx(frames.nbytes / dst.stat().st_size)
    assert report.mb_per_s > 0 and "lossless" in report.summary()
    with open_h5(dst) as s:
        assert s.kind == ("ImageData" if to == "hdf5" else "PZFImageData")
        np.testing.assert_array_equal(np.asarray(s), frames)
        assert s.metadata["Sample.Creator"] == "Zoë Ångström"
        assert s.metadata["Camera.ROI"] == [0, 0, 64, 48]
        assert s.events["EventName"].tolist() == [e[0] for e in fx.EVENTS]
    assert not list(tmp_path.glob(".pzfcodec-partial-*"))


@pytest.mark.parametrize("step", [0.5, 1.0, 2.0])
def test_convert_camera_quantisation_from_metadata(tmp_path, src, frames, step):
    dst = tmp_path / "q.h5"
    report = convert(src, dst, to="pyme", step_sigma=step)
    q = pzfcodec.camera_quantization(CAM.ad_offset, CAM.electrons_per_adu, step)
    assert report.quantization == pytest.approx((q.offset, q.scale), rel=1e-6)
    with open_h5(dst) as s:
        decoded = np.asarray(s).astype(np.float64)
    diff = decoded - frames
    assert report.rms_error == pytest.approx(math.sqrt(np.mean(diff ** 2)))
    assert report.max_error == np.abs(diff).max()
        # error in noise sigmas (photon + read noise, the demo's unit): uniform quantisation in
    # the sqrt domain gives about step / sqrt(12)
    var = np.maximum(frames - CAM.ad_offset, 0) / CAM.electrons_per_adu \
        + (CAM.read_noise_e / CAM.electrons_per_adu) ** 2
    assert report.rms_error_sigma == pytest.approx(math.sqrt(np.mean(diff ** 2 / var)))
    assert 0.1 * step < report.rms_error_sigma < 0.5 * step
    assert "noise sigma" in report.summary()


def test_convert_explicit_quantisation_and_npy(tmp_path, frames):
    npy = tmp_path / "stack.npy"
    np.save(npy, frames)
    dst = tmp_path / "q.h5"
    report = convert(npy, dst, quantization=(100.0, 0.5))
    assert report.rms_error_sigma is None  # no camera metadata in a .npy
    expected = pzfcodec.dequantize(pzfcodec.quantize(frames, 100.0, 0.5), 100.0, 0.5, np.uint16)
    with open_h5(dst) as s:
        np.testing.assert_array_equal(np.asarray(s), expected)
    with pytest.raises(pzfcodec.BadArgumentError, match="electrons-per-adu"):
        convert(npy, tmp_path / "x.h5", step_sigma=1.0)
    report = convert(npy, tmp_path / "y.h5", step_sigma=1.0, ad_offset=100.0, electrons_per_adu=0.5)
    assert report.rms_error_sigma is not None


def test_convert_pzf_series(tmp_path, pzf_src, frames):
    dst = tmp_path / "out.h5"
    convert(pzf_src, dst, to="hdf5")
    with open_h5(dst) as s:
        np.testing.assert_array_equal(np.asarray(s), frames)


def test_convert_never_overwrites(tmp_path, src):
    before = src.read_bytes()
    with pytest.raises(pzfcodec.BadArgumentError, match="input"):
        convert(src, src, overwrite=True)
    link = tmp_path / "link.h5"
    link.symlink_to(src)
    with pytest.raises(pzfcodec.BadArgumentError, match="input"):
        convert(src, link, overwrite=True)
    assert src.read_bytes() == before
    dst = tmp_path / "exists.h5"
    dst.write_bytes(b"keep")
    with pytest.raises(pzfcodec.BadArgumentError, match="exists"):
        convert(src, dst)
    assert dst.read_bytes() == b"keep"
    convert(src, dst, overwrite=True)
    with open_h5(dst) as s:
        assert len(s) == 12


def test_convert_damaged_input_leaves_nothing(tmp_path, frames):
    blobs = [fx.pzf_blob(f, frame_num=i, compression="huffman") for i, f in enumerate(frames)]
    blobs[5] = blobs[5][:100]
    path = tmp_path / "bad.h5"
    fx.write_pzf_h5(path, blobs)
    with pytest.raises(pzfcodec.CorruptDataError, match="frame 5"):
        convert(path, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists() and not list(tmp_path.glob(".pzfcodec-partial-*"))


def test_describe(tmp_path, src, pzf_src):
    text = describe(src)
    assert "image series (ImageData)" in text and "(12, 96, 80)" in text and "uint16" in text
    assert "shuffle" in text and "Camera.ADOffset = 100.0" in text and "StartAq" in text
    assert "DimOrder XYCZT" in text and "SizeT 12" in text
    assert "Analysis.Params" not in text and "Analysis.Params" in describe(src, metadata=True)
    text = describe(pzf_src)
    assert "PZFImageData" in text and "PZF huffman" in text and "lossless" in text
    h5r = tmp_path / "r.h5r"
    fx.write_h5r(h5r, {"FitResults": fx.fit_results(7)})
    text = describe(h5r)
    assert "localisation results" in text and "FitResults: 7 rows" in text
    psf = tmp_path / "p.psf"
    psf.write_bytes(fx.psf_pickle(np.zeros((3, 4, 5), np.float32), (0.07, 0.0725, 0.05), layout="legacy"))
    text = describe(psf)
    assert "point-spread function" in text and "70 x 72.5 x 50 nm" in text
    pzf = tmp_path / "f.pzf"
    pzf.write_bytes(fx.pzf_blob(np.ones((4, 6), np.uint16), compression="huffman", quant=(1.0, 0.5), frame_num=3))
    text = describe(pzf)
    assert "PZF frame" in text and "huffman" in text and "frame 3" in text and "offset 1" in text


# -- the installed command ------------------------------------------------------
def run(*args):
    exe = require_tool("pzfcodec")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_cli_info(src):
    result = run("info", src)
    assert result.returncode == 0, result.stderr
    assert "image series" in result.stdout and "(12, 96, 80)" in result.stdout


def test_cli_convert(tmp_path, src, frames):
    dst = tmp_path / "out.h5"
    result = run("convert", src, dst, "--to", "pyme", "--step", "1")
    assert result.returncode == 0, result.stderr
    assert "ratio" in result.stdout and "MB/s" in result.stdout and "noise sigma" in result.stdout
    assert "verifying" in result.stderr  # the progress bar
    with open_h5(dst) as s:
        assert s.shape == frames.shape
    again = run("convert", src, dst)
    assert again.returncode != 0 and "exists" in again.stderr
    same = run("convert", src, src, "--overwrite")
    assert same.returncode != 0 and "input" in same.stderr
    partial = run("convert", src, tmp_path / "x.h5", "--offset", "100")
    assert partial.returncode != 0


def test_cli_errors(tmp_path):
    bad = tmp_path / "evil.psf"
    bad.write_bytes(fx.malicious_pickles()["os.system"])
    result = run("info", bad)
    assert result.returncode != 0 and "os.system" in result.stderr and "Traceback" not in result.stderr
    result = run("info", tmp_path / "missing.h5")
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_convert_big_endian_npy(tmp_path, frames):
    np.save(tmp_path / "be.npy", frames.astype(">u2"))
    for to in ("pyme", "hdf5"):
        result = run("convert", tmp_path / "be.npy", tmp_path / f"{to}.h5", "--to", to)
        assert result.returncode == 0, result.stderr
        with open_h5(tmp_path / f"{to}.h5") as s:
            np.testing.assert_array_equal(s[:], frames)
    result = run("convert", tmp_path / "be.npy", tmp_path / "q.h5", "--step", "1",
                 "--ad-offset", "100", "--electrons-per-adu", "0.5")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("stack, options, message", [
    (np.zeros((2, 8, 8), np.int16), ("--offset", "0", "--scale", "1"), "uint8, uint16 or float32"),
    (np.zeros((2, 0, 8), np.uint16), ("--to", "pyme"), "hold no pixels"),
    (np.zeros((2, 0, 8), np.uint16), (), "hold no pixels"),
    (np.array([[1, "a"]], dtype=object), (), "arrays of numbers"),
    (np.zeros((2, 8, 8), np.uint16), ("--dask", "foo"), "scheduler address"),
    (np.zeros((2, 8, 8), np.uint16), ("--step", "1", "--ad-offset", "100",
                                      "--electrons-per-adu", "0"), "electrons per ADU"),
])
def test_cli_convert_bad_input(tmp_path, stack, options, message):
    np.save(tmp_path / "in.npy", stack, allow_pickle=True)
    result = run("convert", tmp_path / "in.npy", tmp_path / "out.h5", *options)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("out.h5*"))  # nothing left behind


def test_describe_says_lossless_or_lossy(tmp_path, frames):
    np.save(tmp_path / "s.npy", frames)
    assert "numpy array" in describe(tmp_path / "s.npy")
    convert(tmp_path / "s.npy", tmp_path / "lossless.h5")
    convert(tmp_path / "s.npy", tmp_path / "lossy.h5", quantization=(100, 0.7))
    assert "compression: pzf lossless (huffman)" in describe(tmp_path / "lossless.h5")
    lossy = describe(tmp_path / "lossy.h5")
    assert "lossy" in lossy and "offset 100, scale 0.7" in lossy
