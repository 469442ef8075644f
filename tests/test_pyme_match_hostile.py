"""Hostile inputs to the readers of issue 15's files, each read in a limited
child process: a clean library error within bounded memory and time."""
from __future__ import annotations

import json
import os

import numpy as np

import pzfcodec
from hostile import expect_clean


def test_npy_header_claiming_terabytes(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4, 2), np.uint16))
    raw = (tmp_path / "a.npy").read_bytes().replace(b"(4, 4, 2)", b"(9999999, 9999999, 2)")
    (tmp_path / "a.npy").write_bytes(raw)
    (tmp_path / "a.json").write_text("{}")
    res = expect_clean(f"_pzf.open({str(tmp_path / 'a.npy')!r})", memory_mb=512)
    assert not res["ok"] and res["library"] and res["type"] == "CorruptDataError", res


def _pyramid(root, names, tile_size=16):
    root.mkdir()
    (root / "metadata.json").write_text(json.dumps({
        "Pyramid.TileSize": tile_size, "Pyramid.Depth": 0, "Pyramid.Backend": "PZFTileIO",
        "Pyramid.KeySchema": "{level:d}/{z:03d}/{x:03d}/{y:03d}_{suff}{ext}"}))
    blob = pzfcodec.compress(np.zeros((tile_size, tile_size), np.float32))
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(blob)


def test_pyramid_tile_named_far_away(tmp_path):
    _pyramid(tmp_path / "far.tiles", ["0/000/000/000_img.pzf", "0/000/999999999/999999999_img.pzf"])
    path = str(tmp_path / "far.tiles")
    res = expect_clean(f"_pzf.open({path!r}).levels[0][:, :]", memory_mb=512)
    assert not res["ok"] and res["type"] == "DataTooLargeError", res
    res = expect_clean(f"_pzf.open({path!r}).levels[0][:20, :20].sum()", memory_mb=512)
    assert res["ok"] and res["repr"] in ("np.float32(0.0)", "0.0"), res


def test_pyramid_tile_that_is_a_fifo(tmp_path):
    _pyramid(tmp_path / "fifo.tiles", ["0/000/000/000_img.pzf"])
    os.mkfifo(tmp_path / "fifo.tiles" / "0" / "000" / "000" / "001_img.pzf")
    res = expect_clean(f"_pzf.open({str(tmp_path / 'fifo.tiles')!r}).levels[0][:, :]", timeout=30)
    assert not res["ok"] and res["type"] == "CorruptDataError" and "regular file" in res["message"], res


def test_ome_xml_entity_expansion(tmp_path):
    laughs = ('<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY a "aaaaaaaaaa">'
              + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
              + ']><OME><Image><Pixels PhysicalSizeX="&j;"/></Image></OME>')
    tifffile = __import__("tifffile")
    tifffile.imwrite(tmp_path / "lol.tif", np.zeros((2, 4, 4), np.uint16), description=laughs, metadata=None)
    res = expect_clean(f"__import__('pzfcodec.pyme.ome').pyme.ome.read_ome_metadata({laughs!r})",
                       memory_mb=512, timeout=30)
    assert not res["ok"] and res["type"] == "CorruptDataError" and "DTD" in res["message"], res
    # through the TIFF reader (tifffile parses OME-XML too): clean either way
    res = expect_clean(f"_pzf.open({str(tmp_path / 'lol.tif')!r}).metadata", memory_mb=512, timeout=30)
    assert res["ok"] or res["library"], res
