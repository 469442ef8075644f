"""The pickle interpreter: loads what legitimate PYME files hold, refuses the rest."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import pzfcodec
from pzfcodec.pyme.safe_pickle import PickledMetadata, safe_loads
import pyme_fixtures as fx
from common import require_module

# protocol-0 pickle text observed in PYME metadata, and what it stands for
METADATA_PICKLES = [
    (b"(lp0\nI0\naI0\naI64\naI48\na.", [0, 0, 64, 48]),
    (b"(lp0\nF0.5\naF12.25\na.", [0.5, 12.25]),
    (b"(lp0\nVCy5\np1\naVCy3\np2\na.", ["Cy5", "Cy3"]),
    (b"(F0.45\nF0.9\ntp0\n.", (0.45, 0.9)),
    (b"(dp0\nVthreshold\np1\nF1.5\nsVfit\np2\nVLatGaussFitFR\np3\ns.",
     {"threshold": 1.5, "fit": "LatGaussFitFR"}),
    (b"(lp0\nVZo\xeb\np1\naVbeads\np2\naI1\naI-2\naL1099511627776L\naI01\naNaF1.5e-07\na(lp3\nI1\naI2\naa"
     b"(I3\ntp4\na(dp5\nVk\np6\nVv\np7\nsa.",
     ["Zoë", "beads", 1, -2, 2 ** 40, True, None, 1.5e-7, [1, 2], (3,), {"k": "v"}]),
]


@pytest.mark.parametrize("data, expected", METADATA_PICKLES)
def test_metadata_pickles(data, expected):
    value = safe_loads(data)
    assert value == expected
    assert type(value) is type(expected)


def test_numpy_scalars_in_list():
    data = pickle.dumps([np.float64(1.5), np.float64(-2.25)], protocol=0)
    assert b"scalar" in data and b"_codecs" in data
    value = safe_loads(data)
    assert value == [1.5, -2.25]
    assert all(type(v) is np.float64 for v in value)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["<f4", "<u2", ">f8", "<i8", "S5", "<U3", "|b1"])
def test_arrays_round_trip(protocol, order, dtype):
    a = np.asarray(np.arange(24).reshape(2, 3, 4), order=order).astype(dtype, order=order)
    data = pickle.dumps(a, protocol=protocol)
    b = safe_loads(data)
    assert b.dtype == pickle.loads(data).dtype  # our own pickle: numpy's answer is the reference
    assert b.shape == a.shape
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("name", sorted(fx.malicious_pickles()))
def test_malicious_pickles_refused(name, monkeypatch):
    data = fx.malicious_pickles()[name]
    calls = []
    monkeypatch.setattr("os.system", lambda *a: calls.append(a))
    monkeypatch.setattr("subprocess.Popen", lambda *a, **k: calls.append(a))
    with pytest.raises(pzfcodec.UnsafePickleError):
        safe_loads(data, source="evil.psf")
    assert calls == []


def test_error_names_global_and_source():
    with pytest.raises(pzfcodec.UnsafePickleError, match=r"os\.system") as info:
        safe_loads(fx.malicious_pickles()["os.system"], source="evil.psf")
    assert "evil.psf" in str(info.value)
    assert isinstance(info.value, pzfcodec.PZFError)


def test_no_code_runs_for_reduce_on_allowed_but_wrong_arguments():
    # _reconstruct with a shape other than (0,) would allocate: refused
    data = (fx.PROTO2 + fx.op_global("numpy.core.multiarray", "_reconstruct")
            + fx.op_tuple([fx.op_global("numpy", "ndarray"), fx.op_tuple([fx.op_int(10 ** 9)]),
                           fx.op_binstring(b"b")]) + fx.REDUCE + fx.STOP)
    with pytest.raises(pzfcodec.UnsafePickleError):
        safe_loads(data)


@pytest.mark.parametrize("data", [b"", b"(lp0\nI0\na", b"\x80\x02X\xff\xff\xff\x7f", b"garbage."])
def test_corrupt_pickles(data):
    with pytest.raises(pzfcodec.CorruptDataError):
        safe_loads(data)


def test_metadata_handler_holder():
    data = (fx.PROTO2 + fx.op_global("PYME.IO.MetaDataHandler", "NestedClassMDHandler") + fx.EMPTY_TUPLE
            + fx.NEWOBJ + fx.op_dict({"x": fx.op_float(0.07), "units": fx.op_unicode("um")}, key=fx.op_unicode)
            + fx.BUILD + fx.STOP)
    md = safe_loads(data)
    assert isinstance(md, PickledMetadata)
    assert md.x == 0.07 and md.units == "um"
    assert md.as_dict() == {"x": 0.07, "units": "um"}


def test_scipy_pickles_map_to_numpy_spline():
    interpolate = require_module("scipy.interpolate")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 100, 200), rng.uniform(0, 50, 200)
    sp = interpolate.SmoothBivariateSpline(x, y, np.sin(x / 20) + y / 10)
    for protocol in (0, 2):
        ours = safe_loads(pickle.dumps(sp, protocol=protocol))
        assert type(ours) is pzfcodec.pyme.BivariateSpline
        np.testing.assert_array_equal(ours.ev(x, y), sp.ev(x, y))


class _Reduce:
    """Pickles as ``func(*args)`` followed by BUILD ``state``."""

    def __init__(self, func, args, state):
        self.value = (func, args, state)

    def __reduce__(self):
        return self.value


# dtype states numpy never writes for the type named: a field far outside the
# item, object flags, a changed item size; each would reach numpy unchecked
BAD_DTYPE_STATES = {
    "field offset": ("V8", (3, "|", None, ("a",), {"a": (np.dtype("<u8"), 1 << 30)}, 8, 1, 0)),
    "object flags": ("u8", (3, "<", None, None, None, -1, -1, 63)),
    "item size": ("S5", (3, "|", None, None, None, 1 << 40, 1, 0)),
    "byte order": ("f4", (3, "x", None, None, None, -1, -1, 0)),
}


@pytest.mark.parametrize("name", sorted(BAD_DTYPE_STATES))
@pytest.mark.parametrize("protocol", [0, 2])
def test_dtype_state_beyond_byte_order_refused(name, protocol):
    spec, state = BAD_DTYPE_STATES[name]
    dtype = _Reduce(np.dtype, (spec, False, True), state)
    array = _Reduce(np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"),
                    (1, (2,), dtype, False, b"\x01" * 16))
    for obj in (dtype, array):
        with pytest.raises(pzfcodec.UnsafePickleError, match="dtype"):
            safe_loads(pickle.dumps(obj, protocol=protocol))


def test_build_on_a_class_refused():
    """BUILD on an allowed class (not an instance) would set class attributes."""
    data = b"cPYME.IO.MetaDataHandler\nNestedClassMDHandler\n(dp0\nVas_dict\np1\nI1\nsb."
    with pytest.raises(pzfcodec.UnsafePickleError, match="state"):
        safe_loads(data)
    assert callable(PickledMetadata.as_dict)


def test_pickles_of_pymes_own_classes(tmp_path):
    """Metadata handlers and VoxelSize pickled by PYME's own classes, every protocol."""
    require_module("PYME")
    code = (
        "import pickle, sys\n"
        "from PYME.IO import MetaDataHandler as M\n"
        "md = M.NestedClassMDHandler()\n"
        "md['voxelsize.x'] = 0.07; md['voxelsize.units'] = 'um'; md['Camera.ROI'] = [0, 0, 10, 10]\n"
        "vs = M.VoxelSize(0.07, 0.0725, 0.05)\n"
        "pickle.dump([pickle.dumps((md, vs), p) for p in range(6)], open(sys.argv[1], 'wb'))\n")
    out = tmp_path / "pickles"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, capture_output=True, timeout=120,
                   env=dict(os.environ, HOME=str(tmp_path), PYTHONWARNINGS="ignore"), cwd=tmp_path)
    for data in pickle.loads(out.read_bytes()):  # our own file
        md, vs = safe_loads(data)
        assert md.as_dict() == {"voxelsize.x": 0.07, "voxelsize.units": "um", "Camera.ROI": [0, 0, 10, 10]}
        assert md.voxelsize.units == "um"
        assert vs == (0.07, 0.0725, 0.05) and type(vs).__name__ == "PickledVoxelSize"
