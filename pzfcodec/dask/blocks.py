"""Dask blocks made of whole storage chunks (Zarr or HDF5 chunks)."""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..errors import BadArgumentError

__all__ = ["BLOCK_BYTES", "chunk_shape", "align", "block_shape"]

#: Default bytes per Dask block (a whole number of storage chunks).
BLOCK_BYTES = 64 << 20


def chunk_shape(shape: Tuple[int, ...], chunks: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """Storage chunk shape: ``chunks`` clipped to the array, default one frame."""
    if chunks is None:
        chunks = (1,) + tuple(shape[1:]) if len(shape) > 1 else shape
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(shape) or min(chunks, default=1) < 1:
        raise BadArgumentError(
            f"chunks must give {len(shape)} positive sizes for an array of shape {shape}; "
            f"got {chunks}")
    return tuple(min(c, max(n, 1)) for c, n in zip(chunks, shape))


def align(stack: Any, chunks: Tuple[int, ...]) -> Any:
    """Rechunk ``stack`` so that every block holds whole storage chunks."""
    if all(all(n % c == 0 for n in blocks[:-1]) for blocks, c in zip(stack.chunks, chunks)):
        return stack
    return stack.rechunk(block_shape(stack.shape, chunks, stack.dtype))


def block_shape(shape: Tuple[int, ...], chunks: Tuple[int, ...], dtype: Any) -> Tuple[int, ...]:
    """Dask block shape: whole chunks, stacked along the first axis up to BLOCK_BYTES."""
    if not shape:
        return ()
    chunk_bytes = math.prod(chunks) * np.dtype(dtype).itemsize
    k = max(1, BLOCK_BYTES // max(chunk_bytes, 1))
    return (min(chunks[0] * k, max(shape[0], 1)),) + tuple(chunks[1:])
