"""PZF as a Zarr v3 array-to-bytes codec.

PZF codes typed pixel values (and quantises them), so it takes the place of
Zarr's ``bytes`` serializer::

    import zarr, pzfcodec.zarr
    z = zarr.create_array("frames.zarr", shape=(1000, 2048, 2048), chunks=(1, 2048, 2048),
                          dtype="uint16",
                          serializer=pzfcodec.zarr.PZF(offset=100, scale=0.7),
                          compressors=None)

The array metadata then names the codec::

    {"name": "pzf", "configuration": {"offset": 100.0, "scale": 0.7,
     "compression": "huffman", "threads": 1, "chunk_size": null}}

The codec is registered under the name ``"pzf"`` through Zarr's
``zarr.codecs`` entry point, so the array opens in a fresh process without
importing pzfcodec.  It also works as the inner codec of Zarr's sharding
codec (``shards=...``), which gives partial reads of large shards.

Every stored chunk is a complete PZF v3 blob (little-endian, C order), laid
out as described in :mod:`pzfcodec.numcodecs`.  Data types other than uint8,
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

from .errors import BadArgumentError
from .numcodecs import TYPED, decode_chunk, encode_chunk
from .options import check_options

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.chunk_grids import ChunkGrid
    from zarr.core.dtype.wrapper import ZDType

__all__ = ["PZF", "CODEC_NAME"]

#: Name of the codec in Zarr v3 array metadata.
CODEC_NAME = "pzf"


@dataclass(frozen=True)
class PZF(ArrayBytesCodec):
    """Zarr v3 serializer storing each chunk as a PZF v3 blob.

    Parameters
    ----------
    offset, scale : float, optional
        Square-root quantisation: offset in ADU, step in sqrt(ADU).  Give
        both for lossy storage of uint8, uint16 or float32 arrays, or neither
        (default) for lossless storage of any fixed-size type.
    compression : {'huffman', 'chunked', 'raw'}
        Payload coding; 'chunked' Huffman-codes pieces on ``threads`` threads.
    threads : int
        Threads for chunked coding and decoding of one chunk (1 to 256;
        more than 1 needs ``compression='chunked'``).
    chunk_size : int, optional
        Stream bytes per piece in chunked mode (default 128 KiB).
    """

    is_fixed_size = False

    offset: Optional[float]
    scale: Optional[float]
    compression: str
    threads: int
    chunk_size: Optional[int]

    def __init__(self, offset: Optional[float] = None, scale: Optional[float] = None, *,
                 compression: str = "huffman", threads: int = 1,
                 chunk_size: Optional[int] = None) -> None:
        for key, value in check_options(offset, scale, compression, threads, chunk_size).items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_camera(cls, ad_offset: float, electrons_per_adu: float, step_sigma: float = 1.0,
                    **kwargs: Any) -> "PZF":
        """Quantised codec whose step is ``step_sigma`` photon-noise standard deviations."""
        from . import camera_quantization

        q = camera_quantization(ad_offset, electrons_per_adu, step_sigma)
        return cls(offset=q.offset, scale=q.scale, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PZF":
        _, configuration = parse_named_configuration(data, CODEC_NAME,
                                                     require_configuration=False)
        return cls(**(configuration or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"name": CODEC_NAME, "configuration": self._options()}

    def _options(self) -> dict[str, Any]:
        return {"offset": self.offset, "scale": self.scale, "compression": self.compression,
                "threads": self.threads, "chunk_size": self.chunk_size}

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
        blob = encode_chunk(arr, **self._options())
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
