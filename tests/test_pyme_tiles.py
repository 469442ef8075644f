"""PYME tile pyramids written by PYME's own ImagePyramid, read side by side
with PYME's reader (PyramidLayer, in a child process); the ``pyme-pzf``
numcodecs id on PYME's Zarr description of the same tiles."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pzfcodec
import pzfcodec.pyme
from pzfcodec.pyme.tiles import open_tile_pyramid
from common import require_module
from pyme_peer import run_pyme

PYME_SIDE = """
from PYME.Analysis.tile_pyramid import ImagePyramid
out = {}
for name, mdh in (("scan.tiles", None), ("legacy.tiles", {})):
    P = ImagePyramid(os.path.abspath(name), pyramid_tile_size=16, mdh=mdh, x0=1.5, y0=-2.0, pixel_size=0.1)
    rng = np.random.default_rng(0)
    for x, y in [(0, 0), (20, 5), (40, 30)]:              # three frames; some tiles never imaged
        P.update_base_tiles_from_frame(x, y, rng.normal(100, 10, (24, 20)))
    P.update_pyramid()
    with open(os.path.join(P.base_dir, "metadata.json"), "w") as f:
        f.write(P.mdh.to_JSON())
    if mdh is None:
        P.save_zarr_metadata()                          # .zgroup/.zattrs/<level>/.zarray, codec pyme-pzf
    R = ImagePyramid.load_existing(os.path.abspath(name))   # PYME's reader
    shapes = []
    for layer in R.layers:
        plane = np.asarray(layer[:, :]).squeeze(axis=(2, 3, 4))
        np.save(f"{name}.level{layer.layer}.npy", plane)
        shapes.append(list(plane.shape))
    out[name] = {"depth": R.depth, "shapes": shapes}
emit(out)
"""


@pytest.fixture(scope="module")
def pyme_pyramids(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiles")
    return d, run_pyme(PYME_SIDE, d)


@pytest.mark.parametrize("name", ["scan.tiles", "legacy.tiles"])
def test_levels_equal_pyme_reader(pyme_pyramids, name):
    d, pyme = pyme_pyramids
    with pzfcodec.open(d / name) as p:
        assert isinstance(p, pzfcodec.pyme.TilePyramid)
        assert p.tile_size == 16 and p.pixel_size == 0.1 and p.origin == (1.5, -2.0)
        assert len(p.levels) == pyme[name]["depth"] + 1 == 4
        for level, theirs_shape in zip(p.levels, pyme[name]["shapes"]):
            theirs = np.load(d / f"{name}.level{level.level}.npy")
            w, h = theirs.shape
            # PYME's layer is NTilesX * TileSize wide; ours spans every tile present (its .zarray does too)
            assert level.shape[0] >= w and level.shape[1] >= h
            np.testing.assert_array_equal(level[:w, :h], theirs)
            np.testing.assert_array_equal(np.asarray(level)[:w, :h], theirs)
        level0 = p.levels[0]
        assert level0.shape == (80, 64)
        assert (0, 3) not in level0.tiles and not level0[0:16, 48:64].any()   # never imaged: zeros
        np.testing.assert_array_equal(level0[5:40:3, 50], np.asarray(level0)[5:40:3, 50])
        np.testing.assert_array_equal(level0[-1, ::-7], np.asarray(level0)[-1, ::-7])
        assert level0[70, 40] == np.asarray(level0)[70, 40]


def test_level_shapes_equal_pyme_zarr_description(pyme_pyramids):
    d, _ = pyme_pyramids
    with pzfcodec.open(d / "scan.tiles") as p:
        for level in p.levels:
            zarray = json.loads((d / "scan.tiles" / str(level.level) / ".zarray").read_text())
            assert zarray["shape"] == [1, *level.shape]
            assert zarray["compressor"] == {"id": "pyme-pzf"}


def test_info_and_convert_to_ome_zarr(pyme_pyramids, tmp_path, capsys):
    zarr = require_module("zarr")
    from pzfcodec.cli import main

    d, _ = pyme_pyramids
    assert main(["info", str(d / "scan.tiles")]) == 0
    out = capsys.readouterr().out
    assert "PYME tile pyramid" in out and "level 0: (80, 64)" in out and "level 3: (16, 16)" in out
    dst = tmp_path / "scan.zarr"
    assert main(["convert", str(d / "scan.tiles"), str(dst), "--quiet"]) == 0
    group = zarr.open_group(str(dst), mode="r")
    ms = group.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["x", "y"]
    with open_tile_pyramid(d / "scan.tiles") as p:
        for k, level in enumerate(p.levels):
            ds = ms["datasets"][k]
            assert ds["coordinateTransformations"][0] == {"type": "scale", "scale": [0.1 * 2 ** k] * 2}
            arr = group[ds["path"]]
            assert arr.shape == level.shape and arr.dtype == np.float32
            np.testing.assert_array_equal(arr[:], np.asarray(level))       # lossless


def test_pyme_pzf_codec_reads_pyme_tiles_through_zarr(pyme_pyramids, tmp_path):
    """PYME's .zarray (compressor {"id": "pyme-pzf"}) over PYME's tile blobs, at zarr's chunk keys,
    opens with zarr + pzfcodec in a process where PYME was never imported."""
    require_module("zarr")
    d, _ = pyme_pyramids
    src = d / "scan.tiles"
    store = tmp_path / "scan.zarr"
    store.mkdir()
    for name in (".zgroup", ".zattrs"):
        shutil.copy(src / name, store / name)
    with open_tile_pyramid(src) as p:
        for level in p.levels:
            (store / str(level.level)).mkdir()
            shutil.copy(src / str(level.level) / ".zarray", store / str(level.level) / ".zarray")
            for (x, y), path in level.tiles.items():        # the key mapping of PYME's zarr store
                key = store / str(level.level) / "0" / str(x) / str(y)
                key.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, key)
        for level in p.levels:
            np.save(tmp_path / f"expected{level.level}.npy", np.asarray(level))
    # a fresh process in which PYME cannot be imported: the codec comes from pzfcodec's entry point
    code = textwrap.dedent("""
        import sys; sys.modules["PYME"] = None
        import numpy as np, zarr, numcodecs
        group = zarr.open_group(sys.argv[1], mode="r", zarr_format=2)
        for name in sorted(group.array_keys()):
            np.testing.assert_array_equal(group[name][0], np.load(f"{sys.argv[2]}/expected{name}.npy"))
        print(type(numcodecs.get_codec({"id": "pyme-pzf"})).__module__, len(list(group.array_keys())))
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(store), str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["pzfcodec.numcodecs_pyme", "4"]


def test_pyme_pzf_codec_config_and_round_trip():
    numcodecs = require_module("numcodecs")
    codec = numcodecs.get_codec({"id": "pyme-pzf"})
    assert codec.get_config() == {"id": "pyme-pzf"}
    tile = np.random.default_rng(1).normal(100, 10, (16, 16)).astype(np.float32)
    blob = codec.encode(tile)
    np.testing.assert_array_equal(pzfcodec.decompress(blob), tile)
    np.testing.assert_array_equal(codec.decode(blob).reshape(16, 16), tile)
    out = np.empty((16, 16), np.float32)
    codec.decode(blob, out=out)
    np.testing.assert_array_equal(out, tile)
    with pytest.raises(pzfcodec.PZFError):
        codec.decode(b"BD" + b"\xff" * 70)


def test_damaged_and_hostile_tiles(pyme_pyramids, tmp_path):
    d, _ = pyme_pyramids
    bad = tmp_path / "bad.tiles"
    shutil.copytree(d / "scan.tiles", bad)
    with open_tile_pyramid(bad) as p:
        victim = p.levels[0].tiles[(1, 1)]
    huge = bytearray(open(victim, "rb").read())
    huge[20:24] = (1 << 20).to_bytes(4, "little")            # Width claims a million
    open(victim, "wb").write(bytes(huge))
    with open_tile_pyramid(bad) as p:
        with pytest.raises(pzfcodec.CorruptDataError, match="001_img.pzf"):
            p.levels[0][:, :]
        assert p.levels[0][40:, 40:].shape == (40, 24)       # the other tiles still read
        with pytest.raises(pzfcodec.DataTooLargeError):
            open_tile_pyramid(bad, max_decoded_size=1000).levels[0][:, :]
    md = json.loads((bad / "metadata.json").read_text())
    for key, value, err in (("Pyramid.TileSize", 10 ** 9, pzfcodec.CorruptDataError),
                            ("Pyramid.KeySchema", "{level:d}/{__class__}", pzfcodec.UnsupportedFormatError),
                            ("Pyramid.Backend", "SqliteTileIO", pzfcodec.UnsupportedFormatError)):
        (bad / "metadata.json").write_text(json.dumps(dict(md, **{key: value})))
        with pytest.raises(err):
            open_tile_pyramid(bad)


def test_other_directories_are_a_clean_error(tmp_path, capsys):
    from pzfcodec.cli import main

    (tmp_path / "plain").mkdir()
    with pytest.raises(pzfcodec.UnsupportedFormatError, match="not a PYME tile pyramid"):
        pzfcodec.open(tmp_path / "plain")
    assert main(["info", str(tmp_path / "plain")]) == 1
    assert "not a PYME tile pyramid" in capsys.readouterr().err
