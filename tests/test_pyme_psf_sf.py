"""PYME point-spread functions (.psf) and shift fields (.sf), legacy and current pickles."""
import numpy as np
import pytest

import pzfcodec
from pzfcodec.pyme import BivariateSpline, VoxelSize, load_psf, load_sf
import pyme_fixtures as fx
from common import require_module

LAYOUTS = ["legacy", "legacy-io", "legacy-nounits", "modern", "modern-voxelsize"]


@pytest.fixture(scope="module")
def psf():
    rng = np.random.default_rng(3)
    return rng.random((9, 8, 7)).astype(np.float32)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_load_psf_layouts(tmp_path, psf, layout):
    path = tmp_path / f"{layout}.psf"
    path.write_bytes(fx.psf_pickle(psf, (0.07, 0.0725, 0.05), layout=layout))
    array, vs = load_psf(path)
    assert array.dtype == np.float32 and array.shape == psf.shape
    np.testing.assert_array_equal(array, psf)
    assert isinstance(vs, VoxelSize)
    assert (vs.x, vs.y, vs.z, vs.units) == (0.07, 0.0725, 0.05, "um")
    nm = vs.to_nm()
    assert nm.units == "nm"
    np.testing.assert_allclose((nm.x, nm.y, nm.z), (70.0, 72.5, 50.0))
    # pzfcodec.open picks the same reader from the extension
    array2, vs2 = pzfcodec.open(path)
    np.testing.assert_array_equal(array2, psf)
    assert vs2 == vs


def test_legacy_fortran_raw_bytes(tmp_path, psf):
    path = tmp_path / "f.psf"
    path.write_bytes(fx.psf_pickle(psf, (0.1, 0.1, 0.2), layout="legacy-io"))
    array, _ = load_psf(path)
    assert array.flags.f_contiguous
    np.testing.assert_array_equal(array, psf)


@pytest.mark.parametrize("name", sorted(fx.malicious_pickles()))
def test_malicious_psf_and_sf(tmp_path, name):
    for suffix, loader in ((".psf", load_psf), (".sf", load_sf)):
        path = tmp_path / f"evil{suffix}"
        path.write_bytes(fx.malicious_pickles()[name])
        with pytest.raises(pzfcodec.UnsafePickleError, match="evil"):
            loader(path)


def test_psf_wrong_content(tmp_path):
    path = tmp_path / "list.psf"
    path.write_bytes(b"(lp0\nI1\na.")
    with pytest.raises(pzfcodec.CorruptDataError, match="array, voxelsize"):
        load_psf(path)
    path.write_bytes(fx.psf_pickle(np.zeros((2, 2, 2), np.float32), (1, 1, 1), layout="modern")[:-20])
    with pytest.raises(pzfcodec.CorruptDataError):
        load_psf(path)


def _spline_state(rng, scale):
    """A SmoothBivariateSpline fitted by scipy, and its pickled state."""
    interpolate = require_module("scipy.interpolate")
    x = rng.uniform(947.47, 36046.5, 300)
    y = rng.uniform(755.07, 17735.67, 300)
    z = scale * np.sin(x / 7000.0) * np.cos(y / 5000.0) + rng.normal(0, 1, x.size)
    sp = interpolate.SmoothBivariateSpline(x, y, z)
    return sp, (*sp.tck, sp.degrees, sp.fp)


@pytest.mark.parametrize("legacy", [True, False])
def test_load_sf_matches_scipy(tmp_path, legacy):
    rng = np.random.default_rng(7)
    (spx, sx), (spy, sy) = _spline_state(rng, 40.0), _spline_state(rng, -25.0)
    path = tmp_path / "shift.sf"
    path.write_bytes(fx.sf_pickle([sx, sy], legacy=legacy))
    dx, dy = load_sf(path)
    assert isinstance(dx, BivariateSpline) and isinstance(dy, BivariateSpline)
    assert dx.degrees == (3, 3) and dx.fp == spx.fp
    for axis in range(3):
        np.testing.assert_array_equal(dx.tck[axis], spx.tck[axis])
    tx, ty = spx.tck[0], spx.tck[1]
    xs = np.concatenate([rng.uniform(tx[0], tx[-1], 2000), tx, [tx[0], tx[-1]]])
    ys = np.concatenate([rng.uniform(ty[0], ty[-1], 2000), np.resize(ty, tx.size), [ty[-1], ty[0]]])
    for ours, ref in ((dx, spx), (dy, spy)):
        expected = ref.ev(xs, ys)
        np.testing.assert_allclose(ours.ev(xs, ys), expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
    # outside the knot range: clamped to the edge, like scipy
    np.testing.assert_allclose(dx.ev([-1e6, 1e7], [-5.0, 1e9]), spx.ev([-1e6, 1e7], [-5.0, 1e9]), rtol=1e-9)
    # broadcasting and shape
    assert dx.ev(np.ones((2, 3)), 1000.0).shape == (2, 3)


@pytest.mark.parametrize("kx, ky", [(1, 1), (2, 3), (3, 1), (5, 5)])
def test_spline_degrees(kx, ky):
    interpolate = require_module("scipy.interpolate")
    rng = np.random.default_rng(kx * 10 + ky)
    x, y = rng.uniform(0, 10, 400), rng.uniform(-5, 5, 400)
    sp = interpolate.SmoothBivariateSpline(x, y, np.exp(-(x - 5) ** 2 / 8) * y, kx=kx, ky=ky)
    ours = BivariateSpline(sp.tck, sp.degrees, sp.fp)
    xs, ys = rng.uniform(0, 10, 1000), rng.uniform(-5, 5, 1000)
    np.testing.assert_allclose(ours.ev(xs, ys), sp.ev(xs, ys), rtol=1e-9, atol=1e-12)


def test_sf_wrong_content(tmp_path):
    path = tmp_path / "x.sf"
    path.write_bytes(fx.psf_pickle(np.zeros((2, 2, 2), np.float32), (1, 1, 1), layout="modern"))
    with pytest.raises(pzfcodec.CorruptDataError, match="splines"):
        load_sf(path)
    with pytest.raises(pzfcodec.CorruptDataError):
        BivariateSpline((np.arange(8.0), np.arange(8.0), np.zeros(3)), (3, 3))


@pytest.mark.parametrize("degrees", [(0, 3), (3, 6), (1500, 1500)])
def test_spline_degrees_outside_fitpack_refused(degrees):
    knots = np.arange(4000.0)
    with pytest.raises(pzfcodec.CorruptDataError, match="outside 1..5"):
        BivariateSpline((knots, knots, np.zeros(4000 * 4000 // 16)), degrees)
