"""Simulated camera stacks as lazy Dask arrays (demonstrations, benchmarks)."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ..simulate import camera_frames

__all__ = ["simulated_stack"]


def simulated_stack(n_frames: int, shape: Tuple[int, int] = (2048, 2048), *,
                    frames_per_block: int = 16, seed: int = 0) -> Any:
    """A lazy stack of simulated camera frames (:mod:`pzfcodec.simulate`).

    Block ``i`` holds ``camera_frames(k, shape, seed=seed + i)``, so any
    block can be recomputed on its own; the stack is never in memory.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : (int, int), optional
        Frame shape (x, y); default ``(2048, 2048)``.
    frames_per_block : int, optional
        Frames per Dask block (default 16); the last block holds the
        remainder (``k`` above is the block's frame count).
    seed : int, optional
        Seed of the first block; block ``i`` uses ``seed + i``.  Equal
        arguments give equal stacks.

    Returns
    -------
    dask.array.Array
        uint16, shape ``(n_frames,) + shape``, blocks of ``frames_per_block``
        frames.
    """
    import dask.array as da

    counts = [min(frames_per_block, n_frames - i) for i in range(0, n_frames, frames_per_block)]
    return da.map_blocks(_simulated_block, dtype=np.uint16,
                         chunks=(tuple(counts), (shape[0],), (shape[1],)),
                         shape=tuple(shape), seed=seed)


def _simulated_block(shape: Tuple[int, int], seed: int, block_info: Any = None) -> np.ndarray:
    info = block_info[None]
    n = info["chunk-shape"][0]
    return camera_frames(n, shape, seed=seed + info["chunk-location"][0])
