"""The simulated camera and the information floor that benchmarks measure against."""
import numpy as np
import pytest

import pzfcodec
from pzfcodec import simulate
from common import require_module


def test_camera_frames_reproducible():
    a = simulate.camera_frames(2, (64, 48), seed=5)
    assert a.shape == (2, 64, 48) and a.dtype == np.uint16
    assert np.array_equal(a, simulate.camera_frames(2, (64, 48), seed=5))
    assert not np.array_equal(a, simulate.camera_frames(2, (64, 48), seed=6))


@pytest.mark.parametrize("name", list(simulate.SCENES))
def test_scene_background_range_and_truth(name):
    truth = simulate.scene_frames(name, 2, (256, 192), seed=1)
    scene = simulate.SCENES[name]
    lo, hi = scene.background_e
    assert truth.frames.shape == truth.rate_e.shape == (2, 256, 192)
    # the background spans the scene's range; spots only add photons
    assert truth.rate_e.min() == pytest.approx(lo, rel=0.02)
    assert lo + 0.8 * (hi - lo) <= np.percentile(truth.rate_e, 99) <= hi * 1.1
    assert np.any(truth.rate_e[0] != truth.rate_e[1])  # spots blink
    # the frames follow the rate: mean ADU over the frame within 1% of the model
    expected = truth.rate_e / truth.electrons_per_adu + truth.offset_adu
    assert truth.frames.mean() == pytest.approx(expected.mean(), rel=0.01)
    assert (np.ndim(truth.offset_adu) == 2) == scene.fixed_pattern


def test_fixed_pattern_statistics():
    truth = simulate.scene_frames("scmos-fpn", 1, (256, 256), seed=2)
    assert np.std(truth.offset_adu) == pytest.approx(3.0, rel=0.05)
    rel_gain = truth.electrons_per_adu / simulate.CAMERA.electrons_per_adu - 1
    assert np.std(rel_gain) == pytest.approx(0.03, rel=0.05)


def _empirical_entropy(symbols):
    counts = np.bincount(symbols.ravel())
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


@pytest.mark.parametrize("rate, scale", [(40.0, None), (40.0, 0.7071), (900.0, 0.3536)])
def test_information_floor_matches_sampling(rate, scale):
    """The floor equals the entropy of many sampled readings of one pixel."""
    require_module("scipy")
    cam = simulate.CAMERA
    shape = (1, 1, 1)
    truth = simulate.SceneFrames(np.zeros(shape, np.uint16), np.full(shape, rate, np.float32),
                                 cam.ad_offset, cam.electrons_per_adu, cam.read_noise_e,
                                 simulate.SCENES["flat"])
    rng = np.random.default_rng(0)
    electrons = rng.poisson(rate, 1_000_000) + rng.normal(0, cam.read_noise_e, 1_000_000)
    x = np.clip(np.rint(electrons / cam.electrons_per_adu + cam.ad_offset), 0, 65535)
    x = x.astype(np.uint16)
    q = None if scale is None else (cam.ad_offset, scale)
    sampled = _empirical_entropy(x if q is None else pzfcodec.quantize(x, *q))
    assert simulate.information_floor(truth, q) == pytest.approx(sampled, abs=0.01)


@pytest.mark.parametrize("rate, step", [(40.0, 1.0), (150.0, 0.5), (40.0, None)])
def test_floor_with_unknown_pattern_matches_sampling(rate, step):
    """Given the rate alone, the floor of a fixed-pattern scene equals the
    entropy of many simulated pixels of that rate, each with its own random
    offset and gain, and lies above the floor of a coder that knows them."""
    require_module("scipy")
    scene = simulate.Scene("one-rate", (rate, rate), structure=False, fixed_pattern=True,
                           camera=simulate.Camera(spot_photons=0.0))
    truth = simulate.scene_frames(scene, 1, (500, 500), seed=4)
    assert np.allclose(truth.rate_e, rate, rtol=1e-4)
    cam = scene.camera
    q = None if step is None else pzfcodec.camera_quantization(
        cam.ad_offset, cam.electrons_per_adu, step)
    q = None if q is None else (q.offset, q.scale)
    x = truth.frames[0]
    sampled = _empirical_entropy(x if q is None else pzfcodec.quantize(x, *q))
    unknown = simulate.information_floor(truth, q)
    assert unknown == pytest.approx(sampled, abs=0.01)
    known = simulate.information_floor(truth, q, pattern_known=True, max_pixels=2048)
    assert unknown > known + 0.03


def test_floor_pattern_known_only_matters_with_a_pattern():
    require_module("scipy")
    for name in ("gradient", "scmos-fpn"):
        truth = simulate.scene_frames(name, 1, (96, 96), seed=3)
        q = pzfcodec.camera_quantization(100, 0.5, 1.0)
        unknown = simulate.information_floor(truth, (q.offset, q.scale))
        known = simulate.information_floor(truth, (q.offset, q.scale), pattern_known=True)
        if name == "gradient":
            assert unknown == known
        else:  # the offset and gain spreads add about 0.05 bits at 20-60 e-
            assert 0.03 < unknown - known < 0.1


def test_floor_refuses_a_pattern_without_its_distribution():
    require_module("scipy")
    truth = simulate.scene_frames("scmos-fpn", 1, (16, 16), seed=1)
    truth.scene = simulate.SCENES["gradient"]  # per-pixel maps, but no distribution
    with pytest.raises(ValueError, match="no fixed pattern"):
        simulate.information_floor(truth)
    assert simulate.information_floor(truth, pattern_known=True) > 4


def test_information_floor_below_what_pzf_stores():
    require_module("scipy")
    truth = simulate.scene_frames("bright", 1, (128, 128), seed=3)
    cam = truth.scene.camera
    q = pzfcodec.camera_quantization(cam.ad_offset, cam.electrons_per_adu, 1.0)
    floor = simulate.information_floor(truth, (q.offset, q.scale))
    stored = len(pzfcodec.compress(truth.frames[0], quantization=q)) * 8 / truth.frames[0].size
    assert 2.0 < floor < stored
    assert simulate.information_floor(truth) > floor + 3  # lossless needs far more


def test_unknown_scene():
    with pytest.raises(ValueError, match="unknown scene"):
        simulate.scene_frames("dark")
