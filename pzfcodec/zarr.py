"""PZF as a Zarr v3 array-to-bytes codec.

PZF codes typed pixel values (and quantises them), so it takes the place of
Zarr's ``bytes`` serializer::

    import zarr, pzfcodec.zarr
    z = zarr.create_array("frames.zarr", shape=(1000, 2048, 2048), chunks=(1, 2048, 2048),
                          dtype="uint16",
                          serializer=pzfcodec.zarr.PZF(offset=100, scale=0.7),
                          compressors=None)

The array metadata then names the codec and the options that decide the
stored bytes (``threads``, a run-time setting, is not stored)::

    {"name": "pzf", "configuration": {"offset": 100.0, "scale": 0.7,
     "compression": "huffman", "chunk_size": null}}

The codec is registered under the name ``"pzf"`` through Zarr's
``zarr.codecs`` entry point, so the array opens in a fresh process without
importing pzfcodec.  It also works as the inner codec of Zarr's sharding
codec (``shards=...``), which gives partial reads of large shards.

Every stored chunk is a complete PZF v3 blob (little-endian, C order), laid
out as described in :mod:`pzfcodec.chunks`; the options are those of
:class:`pzfcodec.options.Options`.  Data types other than uint8,
uint16 and float32 are coded losslessly as their little-endian bytes;
quantisation (``scale=...``) accepts uint8, uint16 and float32 only.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import parse_named_configuration
from zarr.registry import register_codec

from .chunks import TYPED, decode_chunk, encode_chunk
from .errors import BadArgumentError
from .options import Options, OptionsMixin

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.chunk_grids import ChunkGrid
    from zarr.core.dtype.wrapper import ZDType

__all__ = ["PZF", "CODEC_NAME"]

#: Name of the codec in Zarr v3 array metadata.
CODEC_NAME = "pzf"


@dataclass(frozen=True, repr=False)
class PZF(OptionsMixin, ArrayBytesCodec):
    """Zarr v3 serializer storing each chunk as a PZF v3 blob.

    Parameters
    ----------
    offset, scale, compression, threads, chunk_size
        See :class:`pzfcodec.options.Options` (lossless by default; any
        fixed-size type losslessly, uint8, uint16 and float32 quantised).
    """

    is_fixed_size = False

    options: Options

    def __init__(self, offset: Optional[float] = None, scale: Optional[float] = None, *,
                 compression: str = "huffman", threads: int = 1,
                 chunk_size: Optional[int] = None) -> None:
        object.__setattr__(self, "options", Options(offset, scale, compression=compression,
                                                    threads=threads, chunk_size=chunk_size))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PZF":
        _, configuration = parse_named_configuration(data, CODEC_NAME,
                                                     require_configuration=False)
        return cls(**Options.from_config(configuration or {}).kwargs())

    def to_dict(self) -> dict[str, Any]:
        return {"name": CODEC_NAME, "configuration": self.options.config()}

    def validate(self, *, shape: tuple[int, ...], dtype: "ZDType[Any, Any]",
                 chunk_grid: "ChunkGrid") -> None:
        native = dtype.to_native_dtype()
        if native.hasobject or native.itemsize == 0:
            raise BadArgumentError(f"PZF stores fixed-size data types only; got {native}")
        if self.scale is not None and native.newbyteorder("<") not in TYPED:
            raise BadArgumentError(
                f"square-root quantisation supports uint8, uint16 and float32 arrays; "
                f"got {native}. Use lossless PZF (no scale) for this array")

    def _encode_sync(self, chunk_array: "NDBuffer", chunk_spec: "ArraySpec") -> "Buffer":
        arr = np.ascontiguousarray(chunk_array.as_numpy_array())
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        blob = encode_chunk(arr, **self.options.kwargs())
        return chunk_spec.prototype.buffer.from_bytes(blob)

    def _decode_sync(self, chunk_bytes: "Buffer", chunk_spec: "ArraySpec") -> "NDBuffer":
        native = chunk_spec.dtype.to_native_dtype()
        nbytes = int(np.prod(chunk_spec.shape)) * native.itemsize
        flat = decode_chunk(chunk_bytes.as_numpy_array(), threads=self.threads, nbytes=nbytes)
        arr = flat.view(native.newbyteorder("<")).astype(native, copy=False)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(arr.reshape(chunk_spec.shape))

    async def _encode_single(self, chunk_array: "NDBuffer",
                             chunk_spec: "ArraySpec") -> "Buffer":
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: "Buffer",
                             chunk_spec: "ArraySpec") -> "NDBuffer":
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: "ArraySpec") -> int:
        raise NotImplementedError("PZF output size depends on the data")


register_codec(CODEC_NAME, PZF)
