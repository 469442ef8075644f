"""Series without dimension metadata: PYME's HDF data source takes their
frames as z slices; so do frame_index, info and convert (side by side with
PYME's HDFDataSource, run in a child process)."""
from __future__ import annotations

import numpy as np
import pytest

import pzfcodec
import pzfcodec.convert
import pzfcodec.pyme
from pyme_peer import run_pyme

WRITE = """
import tables
from PYME.IO import dataExporter, MetaDataHandler
stack = np.load("stack.npy")
md = MetaDataHandler.NestedClassMDHandler(); md["Camera.ADOffset"] = 100.0
dataExporter.H5Exporter().Export(stack, "old.h5", slice(0, 6, 1), slice(0, 5, 1), slice(0, 7, 1), md)
with tables.open_file("old.h5", "a") as f:    # a file from before PYME stored dimensions
    for key in ("DimOrder", "SizeC", "SizeZ", "SizeT"):
        f.root.ImageData._f_delattr(key)
"""

READ = """
from PYME.IO.DataSources import HDFDataSource
out = {}
for name in sys.argv[1:] if len(sys.argv) > 1 else NAMES:
    ds = HDFDataSource.DataSource(name, None)
    out[name] = {"shape": list(ds.shape), "order": ds._input_order,
                 "z2": ds[:, :, 2, 0, 0].squeeze().tolist()}
emit(out)
"""


@pytest.fixture(scope="module")
def old_h5(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames_as_z")
    stack = np.random.default_rng(3).integers(0, 60000, (6, 5, 7)).astype(np.uint16)  # x, y, 7 frames
    np.save(d / "stack.npy", stack)
    run_pyme(WRITE, d)
    return d, stack


def test_frames_are_z_as_in_pyme(old_h5, tmp_path, capsys):
    d, stack = old_h5
    with pzfcodec.open(d / "old.h5") as s:
        assert not s.has_dimensions
        assert s.shape == (7, 6, 5)
        assert (s.sizes, s.dim_order) == ({"z": 7, "t": 1, "c": 1}, "ZTC")
        assert s.frame_index(z=2) == 2
        with pytest.raises(IndexError):
            s.frame_index(t=1)
        np.testing.assert_array_equal(s[s.frame_index(z=2)], stack[:, :, 2])
    from pzfcodec.cli import main

    assert main(["info", str(d / "old.h5")]) == 0
    assert "DimOrder XYZTC, SizeZ 7, SizeT 1, SizeC 1" in capsys.readouterr().out
    for to in ("pyme", "hdf5"):
        pzfcodec.convert.convert(str(d / "old.h5"), str(tmp_path / f"{to}.h5"), to=to)
        with pzfcodec.open(tmp_path / f"{to}.h5") as s:
            assert s.has_dimensions and (s.sizes, s.dim_order) == ({"z": 7, "t": 1, "c": 1}, "ZTC")
    (tmp_path / "old.h5").write_bytes((d / "old.h5").read_bytes())
    theirs = run_pyme(READ.replace("NAMES", '["old.h5", "pyme.h5"]'), tmp_path)
    for name in ("old.h5", "pyme.h5"):   # PYME reads the input and the copy alike
        assert theirs[name]["shape"] == [6, 5, 7, 1, 1], name
        assert theirs[name]["order"] == "XYZTC", name
        np.testing.assert_array_equal(np.array(theirs[name]["z2"]), stack[:, :, 2])


def test_partial_dimension_metadata_is_frames_as_z(tmp_path):
    # PYME needs all of DimOrder, SizeC, SizeZ, SizeT; with one missing it falls back to z
    import tables
    frames = np.arange(4 * 3 * 2, dtype=np.uint16).reshape(4, 3, 2)
    pzfcodec.pyme.write_h5(tmp_path / "p.h5", frames, {"SizeT": 4})
    with tables.open_file(str(tmp_path / "p.h5"), "a") as f:
        f.root.MetaData._f_delattr("DimOrder")
    with pzfcodec.open(tmp_path / "p.h5") as s:
        assert s.metadata.get("SizeT") == 4 and "DimOrder" not in s.metadata
        assert s.sizes == {"z": 4, "t": 1, "c": 1}
