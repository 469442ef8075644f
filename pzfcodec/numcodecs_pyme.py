"""The ``"pyme-pzf"`` numcodecs codec id of PYME (python-microscopy).

Recent PYME writes Zarr v2 descriptions (``.zarray``) of its tile pyramids
whose chunks are PZF blobs as written by ``PYME.IO.PZFFormat.dumps``, with
the compressor ``{"id": "pyme-pzf"}`` and no parameters, and registers a
read-only codec under that id.  :class:`PymePZF` registers the same id (and
config) through the ``numcodecs.codecs`` entry point, so such arrays open
with pzfcodec installed and no PYME.  It decodes any PZF blob (every version
PYME writes) and encodes losslessly (Huffman), which PYME reads.
"""
from __future__ import annotations

from typing import Any, Dict

from numcodecs.registry import register_codec

from .numcodecs import PZF

__all__ = ["PymePZF"]


class PymePZF(PZF):
    """PZF blobs under PYME's codec id ``"pyme-pzf"`` (config ``{"id": "pyme-pzf"}``).

    Decoding is that of :class:`pzfcodec.numcodecs.PZF` (a flat array of the
    blob's data type, in its memory order, checked against the chunk size
    when Zarr gives an output buffer); encoding is lossless Huffman.  The
    codec takes no parameters, as PYME's.
    """

    codec_id = "pyme-pzf"

    def __init__(self) -> None:
        super().__init__()

    def get_config(self) -> Dict[str, Any]:
        return {"id": self.codec_id}

    def __repr__(self) -> str:
        return "PymePZF()"


register_codec(PymePZF)
