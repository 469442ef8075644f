"""Reading PYME localisation results (.h5r)."""
import numpy as np
import pytest

import pzfcodec
from pzfcodec.pyme import EVENTS_DTYPE, H5RFile, flatten_table, open_h5r
from pzfcodec.pyme.h5r import ALIASES
import pyme_fixtures as fx

# PyTables (when installed) warns of names like "Camera.ADOffset"; matched by message so
# that the filter does not need PyTables
pytestmark = pytest.mark.filterwarnings("ignore:object name is not a valid Python identifier")


@pytest.fixture
def h5r(tmp_path):
    fit = fx.fit_results(200, seed=1)
    drift = fx.fit_results(30, seed=2)
    path = tmp_path / "results.h5r"
    fx.write_h5r(path, {"FitResults": fit, "DriftResults": drift})
    return path, fit, drift


def test_tables_with_nested_dtype(h5r):
    path, fit, drift = h5r
    with open_h5r(path) as r:
        assert sorted(r.keys()) == ["DriftResults", "FitResults"]
        assert "FitResults" in r and "Events" not in r
        got = r["FitResults"]
        assert got.dtype == fx.FIT_DTYPE and got.dtype.itemsize == 108
        np.testing.assert_array_equal(got, fit)
        tables = r.tables
        np.testing.assert_array_equal(tables["DriftResults"], drift)
        assert set(tables) == {"FitResults", "DriftResults"}
        assert r.metadata["Camera.ADOffset"] == 100.0
        assert r.metadata["Analysis.DriftIndices"].tolist() == [0, 5, 10]
        assert r.events.dtype == EVENTS_DTYPE and r.events["EventName"].tolist()[0] == "StartAq"
        with pytest.raises(KeyError, match="no table"):
            r["Nope"]


def test_open_dispatch(h5r):
    path, fit, _ = h5r
    with pzfcodec.open(path) as r:
        assert isinstance(r, H5RFile)
    h5_named = path.with_suffix(".h5")
    path.rename(h5_named)
    with pzfcodec.open(h5_named) as r:  # an .h5 without image data is a results file
        assert isinstance(r, H5RFile)
        np.testing.assert_array_equal(r["FitResults"], fit)


def test_flat_view(h5r):
    path, fit, _ = h5r
    with open_h5r(path) as r:
        flat = r.flat("FitResults")
    order = np.argsort(fit["tIndex"], kind="stable")
    np.testing.assert_array_equal(flat["fitResults_x0"], fit["fitResults"]["x0"][order])
    np.testing.assert_array_equal(flat["slicesUsed_y_stop"], fit["slicesUsed"]["y"]["stop"][order])
    np.testing.assert_array_equal(flat["x"], flat["fitResults_x0"])
    np.testing.assert_array_equal(flat["error_y"], flat["fitError_y0"])
    np.testing.assert_array_equal(flat["sig"], flat["fitResults_sigma"])
    np.testing.assert_array_equal(flat["t"], np.sort(fit["tIndex"]))
    assert "z" not in flat  # no fitResults_z0 column
    assert len([k for k in flat if k not in ALIASES]) == 27  # one per leaf column


def test_flatten_unsorted_no_aliases():
    rows = fx.fit_results(10, seed=5)[::-1]
    flat = flatten_table(rows, sort_by=None, aliases=False)
    np.testing.assert_array_equal(flat["tIndex"], rows["tIndex"])
    assert "x" not in flat


def test_h5r_without_events(tmp_path):
    path = tmp_path / "r.h5r"
    fx.write_h5r(path, {"FitResults": fx.fit_results(3)}, events=[])
    with open_h5r(path) as r:
        assert len(r.events) == 0 and r.events.dtype == EVENTS_DTYPE


def test_closed_file(h5r):
    path, fit, _ = h5r
    r = open_h5r(path)
    table = r["FitResults"]
    r.close()
    assert r["FitResults"] is table  # tables already read stay available
    for read in (lambda: r["DriftResults"], lambda: r.metadata, lambda: r.events):
        with pytest.raises(ValueError, match="closed"):
            read()
