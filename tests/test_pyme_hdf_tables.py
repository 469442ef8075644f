"""pandas ``.hdf`` tables and PYME's ragged tables, read with h5py alone and
compared with what pandas and PYME's own readers return (PYME in a child
process).  PYME's tracking code saves ``DataFrame.to_hdf(filename, 'Results')``
(trackUtils imports matplotlib, so the child calls ``to_hdf`` as it does);
PYME's ragged writer (``RaggedBase.to_hdf``) fails in 26.9.3 when it batches
rows, so the child appends each JSON row with the call it makes per row,
``H5RFile._appendToTable``."""
from __future__ import annotations

import json

import numpy as np
import pytest

import pzfcodec
from common import require_module
from pyme_peer import run_pyme

ROWS = [{"a": 1, "b": [1, 2]}, [1, 2, 3], "text \u00e5", {"nested": {"x": 1.5}}, None, 2.5]

PYME_SIDE = """
import pandas as pd
from PYME.IO import h5rFile, ragged, MetaDataHandler
rng = np.random.default_rng(0)
df = pd.DataFrame({"x": rng.normal(size=20), "y": rng.normal(size=20).astype("f4"), "t": np.arange(20),
                   "clumpIndex": np.repeat([1, 2], 10).astype("i4"), "flag": np.arange(20) % 3 == 0})
df.to_hdf("track.hdf", key="Results")                                   # as trackUtils.Clump.save
df.to_hdf("track_table.hdf", key="Results", format="table")
df.to_hdf("track_table.hdf", key="Other", mode="a", format="table", data_columns=["x", "t"])
df.assign(name=[f"n{i}" for i in range(20)]).to_hdf("text_fixed.hdf", key="Results")
md = MetaDataHandler.NestedClassMDHandler(); md["voxelsize.x"] = 0.1
with h5rFile.H5RFile(os.path.abspath("ragged.h5r"), "w", keep_alive_timeout=0) as h5f:
    for row in json.loads(sys.argv[1] if len(sys.argv) > 1 else ROWS):
        h5f._appendToTable("Tracks", json.dumps(row).encode())
    h5f.updateMetadata(md)
out = {"ragged": list(ragged.RaggedVLArray(os.path.abspath("ragged.h5r"), "Tracks", copy=True)),
       "pandas": {}}
for name, key in (("track.hdf", "Results"), ("track_table.hdf", "Results"), ("track_table.hdf", "Other")):
    d = pd.read_hdf(name, key)
    out["pandas"][f"{name}:{key}"] = {c: d[c].tolist() for c in d.columns}
emit(out)
"""


@pytest.fixture(scope="module")
def pyme_tables(tmp_path_factory):
    require_module("pandas")
    d = tmp_path_factory.mktemp("hdf_tables")
    return d, run_pyme(PYME_SIDE.replace("ROWS", repr(json.dumps(ROWS))), d)


@pytest.mark.parametrize("name, key", [("track.hdf", "Results"), ("track_table.hdf", "Results"),
                                       ("track_table.hdf", "Other")])
def test_pandas_tables_equal_pandas(pyme_tables, name, key):
    d, pyme = pyme_tables
    theirs = pyme["pandas"][f"{name}:{key}"]
    with pzfcodec.open(d / name) as r:
        assert key in r.keys() and r.table_kind(key) == "pandas"
        table = r[key]
        assert list(table.dtype.names) == list(theirs)          # DataFrame column order
        for col, values in theirs.items():
            np.testing.assert_array_equal(table[col], np.array(values), err_msg=col)
        assert table["flag"].dtype == bool and table["y"].dtype == np.float32
        flat = r.flat(key)
        np.testing.assert_array_equal(flat["x"], np.array(theirs["x"])[np.argsort(theirs["t"], kind="stable")])


def test_ragged_table_equals_pyme_reader(pyme_tables, capsys):
    d, pyme = pyme_tables
    with pzfcodec.open(d / "ragged.h5r") as r:
        assert r.keys() == ["Tracks"] and r.table_kind("Tracks") == "ragged"
        assert r["Tracks"] == pyme["ragged"] == ROWS
        assert r.metadata["voxelsize.x"] == 0.1
    from pzfcodec.cli import main

    assert main(["info", str(d / "ragged.h5r")]) == 0
    out = capsys.readouterr().out
    assert "tables (ragged)" in out and "Tracks: 6 ragged rows" in out
    assert main(["info", str(d / "track.hdf")]) == 0
    assert "tables (pandas)" in capsys.readouterr().out


def test_pickled_text_columns_are_refused(pyme_tables):
    d, _ = pyme_tables
    with pzfcodec.open(d / "text_fixed.hdf") as r:
        assert r.keys() == ["Results"]
        with pytest.raises(pzfcodec.UnsupportedFormatError, match=r"\['name'\].*pickled"):
            r["Results"]


def test_hdf5_without_any_table_is_an_error_not_empty(tmp_path):
    import h5py

    with h5py.File(tmp_path / "other.hdf", "w") as f:
        f["some/array"] = np.zeros((3, 3))
    with pytest.raises(pzfcodec.UnsupportedFormatError, match="without PYME image data.*'some'"):
        pzfcodec.open(tmp_path / "other.hdf")


def test_hostile_ragged_rows(tmp_path):
    tables = require_module("tables")
    with tables.open_file(str(tmp_path / "bad.h5r"), "w") as f:
        vla = f.create_vlarray("/", "Deep", tables.VLStringAtom())
        vla.append(b"[" * 100000 + b"]" * 100000)
        vla2 = f.create_vlarray("/", "NotJson", tables.VLStringAtom())
        vla2.append(b"\xff\xfe{")
        vla3 = f.create_vlarray("/", "Pickled", tables.ObjectAtom())
        vla3.append({"a": 1})
    with pzfcodec.open(tmp_path / "bad.h5r") as r:
        assert sorted(r.keys()) == ["Deep", "NotJson", "Pickled"]
        for name in ("Deep", "NotJson"):
            with pytest.raises(pzfcodec.CorruptDataError, match=f"/{name}: row 0"):
                r[name]
        with pytest.raises(pzfcodec.UnsupportedFormatError, match="never unpickles"):
            r["Pickled"]


def test_tables_are_charged_to_the_read_budget(pyme_tables):
    d, _ = pyme_tables
    for name, key in (("track.hdf", "Results"), ("track_table.hdf", "Other"), ("ragged.h5r", "Tracks")):
        with pzfcodec.open(d / name, max_decoded_size=64) as r:
            with pytest.raises(pzfcodec.DataTooLargeError):
                r[key]
