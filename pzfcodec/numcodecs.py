"""PZF as a numcodecs codec (Zarr v2 arrays, numcodecs pipelines).

``PZF`` is registered under the codec id ``"pzf"`` through the
``numcodecs.codecs`` entry point, so an array written with it opens in any
process where pzfcodec is installed, without importing pzfcodec first::

    import zarr, pzfcodec.numcodecs
    z = zarr.create_array("frames.zarr", shape=(1000, 2048, 2048), chunks=(1, 2048, 2048),
                          dtype="uint16", zarr_format=2,
                          compressors=pzfcodec.numcodecs.PZF(offset=100, scale=0.7))

Every encoded chunk is a complete PZF v3 blob (``pzfcodec.decompress``
reads a stored chunk directly), laid out as :mod:`pzfcodec.chunks`
describes.  The options are those of :class:`pzfcodec.options.Options`; the
codec's configuration stores all of them but ``threads``.
"""
from __future__ import annotations

from typing import Any, Optional

from numcodecs.abc import Codec
from numcodecs.registry import register_codec

from .chunks import decode_chunk, encode_chunk
from .options import Options, OptionsMixin

__all__ = ["PZF"]


class PZF(OptionsMixin, Codec):
    """numcodecs codec storing each chunk as a PZF v3 blob.

    Parameters
    ----------
    offset, scale, compression, threads, chunk_size
        See :class:`pzfcodec.options.Options` (lossless by default).

    Attributes
    ----------
    options : pzfcodec.options.Options
        The validated options.

    Notes
    -----
    :meth:`decode` returns a flat array of the stored data type (uint8 for
    types coded as bytes); reshape it with the chunk shape, as Zarr does.
    """

    codec_id = "pzf"

    def __init__(self, offset: Optional[float] = None, scale: Optional[float] = None, *,
                 compression: str = "huffman", threads: int = 1,
                 chunk_size: Optional[int] = None):
        self.options = Options(offset, scale, compression=compression, threads=threads,
                               chunk_size=chunk_size)

    @classmethod
    def from_config(cls, config: dict) -> "PZF":
        """The codec of a stored configuration; a ``threads`` entry (stored by
        earlier versions) is ignored: threads are a run-time setting."""
        return cls(**{k: v for k, v in config.items() if k not in ("id", "threads")})

    def get_config(self) -> dict:
        """``{"id": "pzf", "offset": ..., "scale": ..., "compression": ..., "chunk_size": ...}``."""
        return {"id": self.codec_id, **self.options.config()}

    def encode(self, buf: Any) -> bytes:
        """Encode ``buf`` (array or buffer) as one PZF v3 blob.

        See :func:`pzfcodec.chunks.encode_chunk`, which does it with this
        codec's options.
        """
        return encode_chunk(buf, **self.options.kwargs())

    def decode(self, buf: Any, out: Any = None) -> Any:
        """Decode a blob (any PZF blob), into ``out`` when given.

        See :func:`pzfcodec.chunks.decode_chunk`.
        """
        return decode_chunk(buf, out, threads=self.options.threads)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PZF) and other.options == self.options

    def __hash__(self) -> int:
        return hash(self.options)


register_codec(PZF)
