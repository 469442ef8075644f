"""The options of PZF-coded chunks, shared by every adapter.

:class:`Options` is the one home of what a PZF chunk codec is set to: the
square-root quantisation (``offset``, ``scale``), the payload coding
(``compression``), the piece size of chunked coding (``chunk_size``) and
the run-time ``threads``.  It validates them once, derives them from camera
parameters (:meth:`Options.from_camera`) and converts them to and from the
HDF5 filter's parameters (:meth:`Options.cd_values`) and the stored
configuration of the numcodecs and Zarr codecs (:meth:`Options.config`).
The adapters (:class:`pzfcodec.PZF`, :class:`pzfcodec.numcodecs.PZF`,
:class:`pzfcodec.zarr.PZF`) take the same arguments and hold an
:class:`Options`.

Only what decides the stored bytes is stored: ``threads`` changes the speed,
never the output, so it is neither part of a Zarr or numcodecs
configuration nor of an adapter's equality.  (The HDF5 filter's parameters
keep a threads slot, which the plugin reads when it codes a chunk.)
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .codec import COMPRESSIONS, MAX_THREADS, Quantization, camera_quantization
from .errors import BadArgumentError

__all__ = ["COMPRESSIONS", "MAX_THREADS", "Options", "OptionsMixin"]

#: Names of the stored configuration, in order.
CONFIG_KEYS = ("offset", "scale", "compression", "chunk_size")


@dataclass(frozen=True)
class Options:
    """Validated options of a PZF chunk codec.

    Parameters
    ----------
    offset, scale : float, optional
        Square-root quantisation ``q = round(sqrt(x - offset) / scale)``:
        offset in ADU, step in sqrt(ADU) (stored as float32).  Give both
        for lossy storage of uint8, uint16 or float32 data, or neither
        (default) for lossless storage of any fixed-size type.
        :meth:`from_camera` derives them from the camera.
    compression : str
        Payload coding, one of :data:`COMPRESSIONS`: ``"huffman"``
        (default), ``"raw"``, ``"chunked"`` (independent pieces of
        ``chunk_size`` decoded bytes, coded and decoded on ``threads``
        threads) or ``"context"`` (pzfcodec's own context-modelled coding,
        bands on ``threads`` threads; PYME cannot read it).
    threads : int
        Threads per chunk, 1 to :data:`MAX_THREADS`; more than 1 needs
        ``compression="chunked"`` or ``"context"``.  A run-time setting: it
        is not stored.
    chunk_size : int, optional
        Stream bytes per piece with ``compression="chunked"`` (default
        128 KiB); values per band with ``"context"`` (default 262144).

    Raises
    ------
    pzfcodec.BadArgumentError
        Any option out of range, or only one of offset and scale.
    """

    offset: Optional[float] = None
    scale: Optional[float] = None
    compression: str = "huffman"
    threads: int = field(default=1, compare=False)
    chunk_size: Optional[int] = None

    def __post_init__(self) -> None:
        if (self.offset is None) != (self.scale is None):
            raise BadArgumentError(
                "give both offset and scale for square-root quantisation, or neither for lossless")
        if self.scale is not None:
            q = Quantization(self.offset, self.scale)  # numbers, in the float32 range
            object.__setattr__(self, "offset", q.offset)
            object.__setattr__(self, "scale", q.scale)
        if self.compression not in COMPRESSIONS:
            raise BadArgumentError(f"compression must be one of "
                                   f"{', '.join(map(repr, COMPRESSIONS))}; got {self.compression!r}")
        if not _is_int(self.threads) or not 1 <= self.threads <= MAX_THREADS:
            raise BadArgumentError(
                f"threads must be an integer in 1..{MAX_THREADS}; got {self.threads!r}")
        object.__setattr__(self, "threads", int(self.threads))
        if self.threads > 1 and self.compression not in ("chunked", "context"):
            raise BadArgumentError("threads > 1 needs compression='chunked' or 'context'")
        if self.chunk_size is not None:
            if self.compression not in ("chunked", "context"):
                raise BadArgumentError(
                    "chunk_size applies only to compression='chunked' (stream bytes per "
                    "chunk) or 'context' (values per band)")
            if not _is_int(self.chunk_size) or not 1 <= self.chunk_size < 2**32:
                raise BadArgumentError(f"chunk_size must be an integer in 1..{2**32 - 1} bytes; "
                                       f"got {self.chunk_size!r}")
            object.__setattr__(self, "chunk_size", int(self.chunk_size))

    @classmethod
    def from_camera(cls, ad_offset: float, electrons_per_adu: float, step_sigma: float = 1.0,
                    **kwargs: Any) -> "Options":
        """Quantised options whose step is ``step_sigma`` photon-noise sigmas.

        See :func:`pzfcodec.camera_quantization`; ``kwargs`` are the other
        options (``compression``, ``threads``, ``chunk_size``).
        """
        q = camera_quantization(ad_offset, electrons_per_adu, step_sigma)
        return cls(q.offset, q.scale, **kwargs)

    @property
    def quantization(self) -> Optional[Quantization]:
        """The quantisation, or None when lossless."""
        return None if self.scale is None else Quantization(self.offset, self.scale)

    def kwargs(self) -> dict[str, Any]:
        """Every option as keyword arguments (of an adapter, or of the chunk coder)."""
        return dict(offset=self.offset, scale=self.scale, compression=self.compression,
                    threads=self.threads, chunk_size=self.chunk_size)

    # --- numcodecs and Zarr configuration ---------------------------------

    def config(self) -> dict[str, Any]:
        """The stored configuration: JSON-serialisable, without ``threads``."""
        return {key: getattr(self, key) for key in CONFIG_KEYS}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], threads: int = 1) -> "Options":
        """Options from a stored configuration (:meth:`config`).

        A ``threads`` entry, which earlier versions stored, is ignored in
        favour of the ``threads`` argument; unknown entries are refused.
        """
        unknown = set(config) - set(CONFIG_KEYS) - {"threads"}
        if unknown:
            raise BadArgumentError(f"unknown PZF codec configuration entries: {sorted(unknown)}")
        return cls(**{k: config[k] for k in CONFIG_KEYS if k in config}, threads=threads)

    # --- HDF5 filter parameters ---------------------------------------------

    def cd_values(self) -> tuple[int, ...]:
        """The HDF5 filter's parameters (see the table in :mod:`pzfcodec.hdf5`)."""
        quantised = self.scale is not None
        bits = struct.unpack("<2I", struct.pack("<2f", self.offset, self.scale)) \
            if quantised else (0, 0)
        return (COMPRESSIONS.index(self.compression), int(quantised), *bits, self.threads,
                self.chunk_size or 0)

    @classmethod
    def from_cd_values(cls, cd_values: Sequence[int]) -> "Options":
        """The inverse of :meth:`cd_values`.

        Missing values take their defaults; values after the first six (the
        ones the plugin adds) are ignored.

        Raises
        ------
        pzfcodec.BadArgumentError
            Values that no :class:`Options` produces (an unknown compression
            code, a scale out of range...).
        """
        comp, quant, offset_bits, scale_bits, threads, chunk = \
            (tuple(int(v) for v in cd_values) + _DEFAULT_CD_VALUES[len(cd_values):])[:6]
        if comp >= len(COMPRESSIONS):
            raise BadArgumentError(
                f"unknown PZF compression code {comp} in the filter's parameters")
        offset = scale = None
        if quant:
            offset, scale = struct.unpack("<2f", struct.pack("<2I", offset_bits, scale_bits))
        # threads and chunk size mean something only to chunked and context coding
        chunked = COMPRESSIONS[comp] in ("chunked", "context")
        return cls(offset, scale, compression=COMPRESSIONS[comp],
                   threads=min(max(threads, 1), MAX_THREADS) if chunked else 1,
                   chunk_size=(chunk or None) if chunked else None)

    # --- text -----------------------------------------------------------------

    def arguments(self) -> str:
        """The non-default options as Python arguments, for an adapter's repr."""
        args = []
        if self.scale is not None:
            args += [f"offset={self.offset!r}", f"scale={self.scale!r}"]
        args.append(f"compression={self.compression!r}")
        if self.threads > 1:
            args.append(f"threads={self.threads}")
        if self.chunk_size:
            args.append(f"chunk_size={self.chunk_size}")
        return ", ".join(args)


def _option(name: str) -> property:
    return property(lambda self: getattr(self.options, name),
                    doc=f"The ``{name}`` of :attr:`options` (read-only).")


class OptionsMixin:
    """What the three PZF adapters share: their :class:`Options` and its views.

    An adapter sets ``self.options`` in its constructor, whose arguments
    are those of :class:`Options`; this mixin gives it ``from_camera``, the
    options as read-only attributes and its repr.
    """

    options: Options

    offset = _option("offset")
    scale = _option("scale")
    compression = _option("compression")
    threads = _option("threads")
    chunk_size = _option("chunk_size")

    @classmethod
    def from_camera(cls, ad_offset: float, electrons_per_adu: float, step_sigma: float = 1.0,
                    **kwargs: Any) -> Any:
        """Quantised with a step of ``step_sigma`` photon-noise sigmas.

        See :meth:`Options.from_camera`; ``kwargs`` are the other options
        (``compression``, ``threads``, ``chunk_size``).
        """
        return cls(**Options.from_camera(ad_offset, electrons_per_adu, step_sigma,
                                         **kwargs).kwargs())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options.arguments()})"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


#: The user's part of the cd_values when nothing is given: lossless Huffman.
_DEFAULT_CD_VALUES = Options().cd_values()
