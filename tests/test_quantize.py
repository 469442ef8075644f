"""Square-root quantiser and de-quantiser.

The quantiser must equal, bit for bit and for every kernel (scalar, AVX2,
AVX-512), the exact definition

    q(x) = min(255, floor(sqrt(x - offset) / scale + 1/2)),  0 if x <= offset,

evaluated in exact rational arithmetic on the exact values of x and of the
float32 offset and scale (ties round up, NaN -> 0, +inf -> 255).  The
references below use ``fractions.Fraction`` and ``math.isqrt`` only.
"""
from __future__ import annotations

import math
import platform
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pzfcodec
from pzfcodec import _core

ALL_ISAS = {"scalar": _core.ISA_SCALAR, "avx2": _core.ISA_AVX2, "avx512": _core.ISA_AVX512}
ISAS = {name: isa for name, isa in ALL_ISAS.items() if isa <= _core.cpu_isa()}
ISA_PARAMS = pytest.mark.parametrize("isa", list(ISAS.values()), ids=list(ISAS))

SCALES = [0.5, 0.7, 1.0, 1.3, 2.0, 7.3, 0.5 / math.sqrt(0.5), 0.05, 60.0]
OFFSETS = [0.0, 90.0, 100.0, 100.5, 1000.0, -37.25, 99.9]
F32_MAX = float(np.finfo(np.float32).max)
SCALE_MIN, SCALE_MAX = 2.0**-40, 2.0**40


def q_exact(x: float, offset: float, scale: float) -> int:
    """The definition, on the exact values of x and of float32 offset/scale."""
    x = float(x)
    if math.isnan(x) or x == -math.inf:
        return 0
    if x == math.inf:
        return 255
    d = Fraction(x) - Fraction(float(np.float32(offset)))
    if d <= 0:
        return 0
    # floor(sqrt(t) + 1/2) = floor((isqrt(floor(4t)) + 1) / 2), t = d / scale^2
    t4 = 4 * d / Fraction(float(np.float32(scale))) ** 2
    return min(255, (math.isqrt(t4.numerator // t4.denominator) + 1) // 2)


def thresholds(offset: float, scale: float) -> list[Fraction]:
    """T_k = offset + ((k - 1/2) scale)^2, k = 1..255: q(x) = #{k : x >= T_k}."""
    o, s = Fraction(float(np.float32(offset))), Fraction(float(np.float32(scale)))
    return [o + ((k - Fraction(1, 2)) * s) ** 2 for k in range(1, 256)]


def q_exact_integers(x: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """Vectorised reference for integer inputs via U_k = ceil(T_k)."""
    u = np.array([min(max(math.ceil(t), 0), 1 << 17) for t in thresholds(offset, scale)])
    return np.searchsorted(u, x.astype(np.int64), side="right").astype(np.uint8)


FORMATS = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.float32): 2}


def quantize(x: np.ndarray, offset: float, scale: float, isa: int) -> np.ndarray:
    """Quantise with the kernel of instruction set ``isa``."""
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape, np.uint8)
    _core.quantize(x.reshape(-1).view(np.uint8), FORMATS[x.dtype], offset, scale,
                   out.reshape(-1), isa)
    return out


def near_threshold_floats(offset: float, scale: float) -> np.ndarray:
    """float32 values at and next to (1 and 2 ulps) every exact threshold."""
    base = np.array([float(t) for t in thresholds(offset, scale)], dtype=np.float32)
    vals = [base]
    up, down = base.copy(), base.copy()
    for _ in range(2):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(-np.inf))
        vals += [up, down]
    return np.concatenate(vals)


SPECIAL_FLOATS = np.array(
    [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-40, 1.1754942e-38,
     1.0, 65535.0, 65536.0, 1e9, 3e38, -3e38, F32_MAX, -F32_MAX],
    dtype=np.float32,
)


# ---- the references agree with each other ----------------------------

def test_references_agree():
    rng = np.random.default_rng(1)
    for offset, scale in [(100.0, 1.0), (100.5, 1.3), (-37.25, 0.7)]:
        x = np.concatenate([rng.integers(0, 65536, 300),
                            [math.ceil(t) + d for t in thresholds(offset, scale)[:40]
                             for d in (-1, 0)]])
        x = x[(x >= 0) & (x < 65536)]
        expected = [q_exact(v, offset, scale) for v in x]
        assert q_exact_integers(x, offset, scale).tolist() == expected


def test_reference_examples():
    # sqrt(4159 - 0) = 64.49 -> 64; sqrt(4160.25) = 64.5 exactly -> 65 (ties up)
    assert q_exact(4159, 0, 1) == 64
    assert q_exact(4160.25, 0, 1) == 65
    assert q_exact(4161, 0, 1) == 65
    assert q_exact(100, 100, 1) == 0
    assert q_exact(100.25, 100, 1) == 1
    assert q_exact(1e9, 100, 1) == 255


# ---- every integer input, many parameters -----------------------------

@ISA_PARAMS
@pytest.mark.parametrize("offset", OFFSETS)
def test_every_uint16_and_uint8_value(isa, offset):
    every = np.arange(65536, dtype=np.uint16)
    # n >= 2**17 also takes the table-driven scalar path
    large = np.concatenate([every, every[::-1], every])
    for scale in SCALES:
        expected = q_exact_integers(every, offset, scale)
        np.testing.assert_array_equal(quantize(every, offset, scale, isa), expected,
                                      err_msg=f"uint16 offset={offset} scale={scale}")
        np.testing.assert_array_equal(
            quantize(large, offset, scale, isa),
            np.concatenate([expected, expected[::-1], expected]))
        u8 = every[:256].astype(np.uint8)
        np.testing.assert_array_equal(quantize(u8, offset, scale, isa), expected[:256])


@ISA_PARAMS
def test_pyme_faults_fixed(isa):
    """Values PYME's quantiser gets wrong (non-monotonic, wrapping, zeroing)."""
    x = np.array([4159, 4160, 4161, 32768 + 100, 65535] * 7, dtype=np.uint16)
    q = quantize(x, 100.0, 1.0, isa)
    assert q.tolist() == [q_exact(v, 100.0, 1.0) for v in x]
    assert q[4] == 255 and q[3] == 181
    assert np.all(np.diff(q[:3].astype(int)) >= 0)


# ---- float32 inputs ----------------------------------------------------

@ISA_PARAMS
@pytest.mark.parametrize("offset,scale", [(0.0, 1.0), (100.0, 1.3), (100.5, 0.7), (1000.0, 7.3),
                                          (-37.25, 2.0), (1e-3, 0.01), (1e30, 1.0),
                                          (-1e30, 3.0), (-3e38, 1e3),
                                          (0.0, SCALE_MIN), (5.0, SCALE_MAX)])
def test_float32_exact(isa, offset, scale):
    rng = np.random.default_rng(2)
    o = np.float32(offset)
    span = float(thresholds(offset, scale)[-1] - Fraction(float(o)))
    x = np.concatenate([
        near_threshold_floats(offset, scale),
        SPECIAL_FLOATS,
        np.nextafter(o, np.float32([np.inf, -np.inf])).astype(np.float32),
        [o],
        (float(o) + rng.uniform(-0.1, 1.2, 500) * span).astype(np.float32),
        rng.standard_normal(100).astype(np.float32) * np.float32(1e6),
    ]).astype(np.float32)
    rng.shuffle(x)
    expected = np.array([q_exact(v, offset, scale) for v in x], dtype=np.uint8)
    np.testing.assert_array_equal(quantize(x, offset, scale, isa), expected)


finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
any_f32 = st.floats(width=32)
scales = st.floats(min_value=SCALE_MIN, max_value=SCALE_MAX, width=32)


@settings(max_examples=300, deadline=None)
@given(offset=finite_f32, scale=scales, data=st.lists(any_f32, min_size=1, max_size=40))
def test_float32_exact_hypothesis(offset, scale, data):
    # Add values next to thresholds, where rounding decides.
    ts = thresholds(offset, scale)
    near = [float(np.float32(float(ts[k]))) for k in (0, 1, 63, 254)]
    x = np.array(data + near, dtype=np.float32)
    expected = np.array([q_exact(v, offset, scale) for v in x], dtype=np.uint8)
    for isa in ISAS.values():
        np.testing.assert_array_equal(quantize(x, offset, scale, isa), expected)


@settings(max_examples=200, deadline=None)
@given(offset=st.floats(-1e5, 7e4, width=32), scale=scales,
       data=st.lists(st.integers(0, 65535), min_size=1, max_size=40))
def test_uint16_exact_hypothesis(offset, scale, data):
    x = np.array(data, dtype=np.uint16)
    expected = q_exact_integers(x, offset, scale)
    for isa in ISAS.values():
        np.testing.assert_array_equal(quantize(x, offset, scale, isa), expected)


# ---- all kernels identical on odd lengths and unaligned starts ---------

@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_kernels_identical(dtype):
    rng = np.random.default_rng(3)
    offset, scale = 100.0, 0.5 / math.sqrt(0.5)
    if dtype == np.float32:
        pool = np.concatenate([near_threshold_floats(offset, scale), SPECIAL_FLOATS,
                               rng.uniform(-10, 70000, 2000).astype(np.float32)])
    else:
        top = np.iinfo(dtype).max
        pool = np.concatenate([
            [min(math.ceil(t) + d, top) for t in thresholds(offset, scale) for d in (-1, 0)],
            rng.integers(0, top, 2000, endpoint=True)]).clip(0, top).astype(dtype)
    lengths = list(range(1, 101)) + [1000 + 7, 100003, 300001]
    for n in lengths:
        buf = rng.choice(pool, size=n + 16)
        start = int(rng.integers(0, 16))
        x = buf[start:start + n]
        results = {name: quantize(x, offset, scale, isa) for name, isa in ISAS.items()}
        ref = results["scalar"]
        assert ref.shape == (n,)
        for name, q in results.items():
            np.testing.assert_array_equal(q, ref, err_msg=f"{name} n={n} start={start}")
        if n <= 100 or n == 1007:
            np.testing.assert_array_equal(
                ref, np.array([q_exact(v, offset, scale) for v in x], np.uint8))


# ---- properties --------------------------------------------------------

@ISA_PARAMS
def test_monotonic_and_saturating(isa):
    rng = np.random.default_rng(4)
    x = np.sort(np.concatenate([rng.uniform(-1e3, 2e5, 20000).astype(np.float32),
                                near_threshold_floats(100.0, 1.3), [np.inf, -np.inf]]))
    q = quantize(x.astype(np.float32), 100.0, 1.3, isa)
    assert np.all(np.diff(q.astype(int)) >= 0)
    assert q[0] == 0 and q[-1] == 255
    assert np.all(q[x <= np.float32(100.0)] == 0)
    assert np.all(q[x >= 100.0 + (255.5 * 1.3) ** 2 + 1] == 255)
    assert quantize(np.array([np.nan] * 40, np.float32), 100.0, 1.3, isa).max() == 0


@ISA_PARAMS
def test_error_at_most_half_a_step(isa):
    """(q - 1/2) s <= sqrt(x - o) < (q + 1/2) s for every unsaturated value."""
    rng = np.random.default_rng(5)
    for offset, scale in [(100.0, 1.3), (-37.25, 0.7), (0.0, 7.3)]:
        x = np.concatenate([rng.integers(0, 65536, 400),
                            [math.ceil(t) for t in thresholds(offset, scale)]]).clip(0, 65535)
        x = x.astype(np.uint16)
        q = quantize(x, offset, scale, isa)
        o, s = Fraction(float(np.float32(offset))), Fraction(float(np.float32(scale)))
        for xi, qi in zip(x.tolist(), q.tolist()):
            d = max(Fraction(xi) - o, Fraction(0))
            if qi == 255:
                assert d >= (Fraction(509, 2) * s) ** 2
                continue
            assert d < ((qi + Fraction(1, 2)) * s) ** 2
            if qi > 0:
                assert d >= ((qi - Fraction(1, 2)) * s) ** 2


# ---- public API --------------------------------------------------------

def test_public_quantize():
    x = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    q = pzfcodec.quantize(x, 100.0, 1.3)
    assert q.dtype == np.uint8 and q.shape == x.shape
    np.testing.assert_array_equal(q.ravel(), q_exact_integers(x.ravel(), 100.0, 1.3))
    f = np.asfortranarray(x.astype(np.float32))
    np.testing.assert_array_equal(pzfcodec.quantize(f, 100.0, 1.3), q)


@pytest.mark.parametrize("offset,scale", [
    (100.0, 0.0), (100.0, -1.0), (100.0, float("nan")), (100.0, float("inf")),
    (float("inf"), 1.0), (float("-inf"), 1.0), (float("nan"), 1.0),
    (0.0, SCALE_MIN / 2), (0.0, SCALE_MAX * 2)])
def test_bad_parameters(offset, scale):
    with pytest.raises(pzfcodec.BadArgumentError):
        pzfcodec.quantize(np.zeros(8, np.uint16), offset, scale)


def test_cpu_isa_matches_cpu_flags():
    isa = _core.cpu_isa()
    assert isa in ALL_ISAS.values()
    if not (sys.platform.startswith("linux") and platform.machine() == "x86_64"):
        return
    with open("/proc/cpuinfo") as fh:
        flags = next((line.split(":", 1)[1].split() for line in fh
                      if line.startswith("flags")), [])
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        assert isa == _core.ISA_AVX512
    elif "avx2" in flags:
        assert isa == _core.ISA_AVX2
    else:
        assert isa == _core.ISA_SCALAR


# ---- de-quantiser ------------------------------------------------------

def pyme_dequantize(q: np.ndarray, offset: float, scale: float, dtype) -> np.ndarray:
    """PYME's float32 formula, saturated to the output type instead of wrapped."""
    with np.errstate(over="ignore"):
        v = (q.astype(np.float32) * np.float32(scale)) ** 2 + np.float32(offset)
    if dtype == np.float32:
        return v
    info = np.iinfo(dtype)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(v), 0, np.clip(np.trunc(v), 0, info.max)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("offset,scale", [(100.0, 1.3), (1000.0, 7.3), (0.0, 0.5), (-50.5, 0.7),
                                          (100.0, 1.0), (99.9, 0.7071), (3e38, 1e20)])
def test_dequantize_matches_pyme(dtype, offset, scale):
    q = np.arange(256, dtype=np.uint8)
    out = pzfcodec.dequantize(q, offset, scale, dtype)
    expected = pyme_dequantize(q, offset, scale, dtype)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out.view(np.uint8), expected.view(np.uint8))
    if dtype != np.float32:
        # in range, it is PYME's unsaturated conversion
        v = pyme_dequantize(q, offset, scale, np.float32)
        ok = (v >= 0) & (v < np.iinfo(dtype).max)
        np.testing.assert_array_equal(out[ok], v[ok].astype(dtype))


def test_dequantize_examples():
    q = np.array([10, 35], np.uint8)
    assert pzfcodec.dequantize(q[:1], 100.0, 1.3, np.uint16)[0] == 269
    assert pzfcodec.dequantize(q[1:], 1000.0, 7.3, np.uint16)[0] == 65535  # PYME: 744
    assert pzfcodec.dequantize(q[1:], 1000.0, 7.3, np.uint8)[0] == 255
    assert pzfcodec.dequantize(q[:1], -1000.0, 1.0, np.uint16)[0] == 0


@ISA_PARAMS
def test_roundtrip_within_half_step(isa):
    """De-quantised symbols land in the sqrt-domain cell of their input."""
    x = np.arange(100, 30000, 7, dtype=np.uint16)
    q = quantize(x, 100.0, 1.0, isa)
    assert q.max() < 255
    back = pzfcodec.dequantize(q, 100.0, 1.0, np.float32).astype(np.float64)
    err = np.abs(np.sqrt(back - 100.0) - np.sqrt(x - 100.0))
    assert err.max() <= 0.5 + 1e-6


def test_large_uint16_lookup_paths():
    """Large uint16 inputs go through a table; AVX-512 looks it up 32 values at
    a time from a window placed per block.  Data that fits the window, data
    that mostly misses it (full range, bright after dark starts, values at the
    top of the range) and odd lengths/unaligned starts all equal the scalar
    kernel and the exact formula."""
    from pzfcodec.simulate import camera_frames

    rng = np.random.default_rng(33)
    n = (1 << 17) + 77
    camera = camera_frames(1, (400, 400), seed=5)[0].reshape(-1)
    blocks = np.full(n, 60000, np.uint16)
    blocks[::1024] = 0                                   # each block starts dark
    inputs = {
        "camera": np.resize(camera, n),
        "full range": rng.integers(0, 65536, n, dtype=np.uint16),
        "top": rng.integers(65400, 65536, n, dtype=np.uint16),
        "dark starts": blocks + rng.integers(0, 300, n, dtype=np.uint16),
    }
    for name, x in inputs.items():
        exact = q_exact_integers(x, 90.0, 0.7)
        for start in (0, 1):
            for isa in ISAS.values():
                np.testing.assert_array_equal(quantize(x[start:], 90.0, 0.7, isa),
                                              exact[start:], err_msg=f"{name} {isa}")
