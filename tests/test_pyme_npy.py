"""``.npy`` stacks written by PYME's NumpyExporter (array + ``.xml`` sidecar),
read side by side with PYME's image loader (in a child process)."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

import pzfcodec
import pzfcodec.convert
from pyme_peer import run_pyme

PYME_SIDE = """
from PYME.IO import dataExporter, MetaDataHandler, image
md = MetaDataHandler.NestedClassMDHandler()
md["voxelsize.x"] = 0.08; md["voxelsize.y"] = 0.09; md["Camera.ADOffset"] = 100.0
md["Sample.Notes"] = "beads"
out = {}
for name in ("xyz", "xyzc"):
    stack = np.load(name + ".src.npy")
    dataExporter.NumpyExporter().Export(stack, os.path.abspath(name + ".npy"), slice(None), slice(None),
                                        slice(None), md)
    im = image.ImageStack(filename=os.path.abspath(name + ".npy"))
    v = im.data_xyztc
    out[name] = {"shape": list(v.shape),
                 "md": {k: im.mdh[k] for k in ("voxelsize.x", "Camera.ADOffset", "Sample.Notes")}}
    np.save(name + ".pyme.npy", np.stack([np.asarray(v[:, :, z, t, c]).squeeze()
                                          for c in range(v.shape[4]) for t in range(v.shape[3])
                                          for z in range(v.shape[2])]))
emit(out)
"""


@pytest.fixture(scope="module")
def pyme_npy(tmp_path_factory):
    d = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(5)
    np.save(d / "xyz.src.npy", rng.integers(0, 4000, (9, 5, 4)).astype(np.uint16))
    np.save(d / "xyzc.src.npy", rng.normal(0, 1, (6, 7, 3, 2)).astype(np.float32))
    return d, run_pyme(PYME_SIDE, d)


@pytest.mark.parametrize("name", ["xyz", "xyzc"])
def test_frames_and_metadata_equal_pyme(pyme_npy, name):
    d, pyme = pyme_npy
    theirs = np.load(d / f"{name}.pyme.npy")
    x, y, z, t, c = pyme[name]["shape"]
    with pzfcodec.open(d / f"{name}.npy") as s:
        assert isinstance(s, pzfcodec.pyme.NpySeries) and s.kind == f".npy + {name}.xml"
        assert isinstance(s.array, np.memmap)                    # lazy
        assert s.shape == theirs.shape == (z * t * c, x, y)
        for i in range(len(s)):
            np.testing.assert_array_equal(s[i], theirs[i])
        assert s.sizes == {"z": z, "t": t, "c": c}
        np.testing.assert_array_equal(s[s.frame_index(z=z - 1, c=c - 1)], theirs[-1])
        for key, value in pyme[name]["md"].items():
            assert s.metadata[key] == value, key


def test_info_and_convert(pyme_npy, tmp_path, capsys):
    from pzfcodec.cli import main

    d, _ = pyme_npy
    assert main(["info", str(d / "xyz.npy")]) == 0
    out = capsys.readouterr().out
    assert "image series (.npy + xyz.xml)" in out and "(4, 9, 5) (frames, x, y)" in out
    assert "Camera.ADOffset = 100.0" in out
    pzfcodec.convert.convert(str(d / "xyz.npy"), str(tmp_path / "xyz.h5"), to="pyme")
    with pzfcodec.open(tmp_path / "xyz.h5") as s:
        np.testing.assert_array_equal(s[2], np.load(d / "xyz.src.npy")[:, :, 2])
        assert s.metadata["Sample.Notes"] == "beads" and s.sizes == {"z": 4, "t": 1, "c": 1}


def test_bare_npy_stays_a_frames_first_stack(tmp_path):
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    np.save(tmp_path / "demo.npy", stack)
    arr = pzfcodec.open(tmp_path / "demo.npy")
    assert isinstance(arr, np.memmap) and arr.shape == (3, 4, 5)
    pzfcodec.convert.convert(str(tmp_path / "demo.npy"), str(tmp_path / "demo.h5"))
    with pzfcodec.open(tmp_path / "demo.h5") as s:
        np.testing.assert_array_equal(s[:], stack)


def test_pickled_and_zipped_npy_are_clean_errors(tmp_path, capsys):
    from pzfcodec.cli import main

    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (tmp_path / "raw.npy").write_bytes(pickle.dumps([1, 2, 3]))
    with zipfile.ZipFile(tmp_path / "zip.npy", "w") as z:
        z.writestr("a.npy", b"")
    np.save(tmp_path / "rec.npy", np.zeros(3, [("a", "<f4"), ("b", "<i4")]))
    good = np.zeros((4, 4, 2), np.uint16)
    np.save(tmp_path / "cut.npy", good)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-10])
    for name, err in (("obj", pzfcodec.UnsupportedFormatError), ("raw", pzfcodec.UnsupportedFormatError),
                      ("zip", pzfcodec.UnsupportedFormatError), ("rec", pzfcodec.UnsupportedFormatError),
                      ("cut", pzfcodec.CorruptDataError)):
        for sidecar in (False, True):
            if sidecar:
                (tmp_path / f"{name}.json").write_text("{}")
            with pytest.raises(err, match=f"{name}.npy"):
                pzfcodec.open(tmp_path / f"{name}.npy")
            for cmd in (["info", str(tmp_path / f"{name}.npy")],
                        ["convert", str(tmp_path / f"{name}.npy"), str(tmp_path / f"{name}.h5"), "--quiet"]):
                assert main(cmd) == 1
                err_text = capsys.readouterr().err
                assert "Traceback" not in err_text and len(err_text.strip().splitlines()) == 1, err_text
