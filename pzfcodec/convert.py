"""``pzfcodec convert``: recompress a PYME series (or a ``.npy`` stack) with PZF.

Three outputs:

* ``--to hdf5`` (default): PYME's ``/ImageData`` layout compressed with the
  PZF HDF5 filter, readable by any HDF5 program that has the filter plugin;
* ``--to pyme``: PYME's own ``/PZFImageData`` layout, which PYME reads with
  no extra software;
* ``--to zarr``: a Zarr v3 array ``(frames, x, y)``, one PZF chunk per frame,
  with the metadata and events in its attributes.

The input may be a PYME cluster series: a ``.pcs`` directory or a
``PYME-CLUSTER://`` / ``http://`` URL (data servers from
``PZFCODEC_PYME_SERVERS``).  Frames missing from it are an error unless
``--allow-gaps``, which writes them as zero frames and lists them in the
summary and in the output's ``pzfcodec.MissingFrames`` metadata.

Lossless by default; ``--step SIGMA`` quantises with a step of SIGMA photon
noise standard deviations, from the camera's ADU offset and electrons per
ADU (taken from the file's ``Camera.*`` metadata unless given), and
``--offset``/``--scale`` set the quantisation directly.  The output is
written to a temporary name, read back and checked frame by frame, and only
then renamed into place; the input is never overwritten.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .cli import help_text
from .codec import Quantization, as_quantization, camera_quantization, dequantize, quantize
from .dask import open_lazy, write_hdf5
from .atomic import AtomicOutput, Interrupted, check_interrupted, interrupt_handlers
from .errors import (BadArgumentError, CorruptDataError, MissingFileError, PZFError, UnsupportedFormatError,
                     one_line)
from .options import COMPRESSIONS
from .pyme import Series, open_h5, write_h5, write_h5_filtered
from .pyme import open as open_any
from .pyme.cluster import events_json, metadata_json
from .pyme.npy import load_npy
from .pyme.pcs import frame_ranges, is_pcs_location
from .pyme.sidecar import find_sidecar
from .pyme.tiles import open_tile_pyramid
from .pyme.writer import frame_batches, frame_info
from .simulate import noise_sigma_adu

__all__ = ["ConvertReport", "convert", "add_parser"]

Progress = Optional[Callable[[str, int, int], None]]


@dataclass
class ConvertReport:
    """What :func:`convert` did.

    Attributes
    ----------
    src, dst : str
        Input and output files.
    to : str
        ``"hdf5"`` or ``"pyme"``.
    frames : int
        Frames converted.
    shape : tuple of int
        ``(frames, x, y)``.
    dtype : str
        Pixel type.
    raw_bytes, src_bytes, dst_bytes : int
        Uncompressed size of the pixels, size of the input and output files.
    seconds : float
        Time spent reading, compressing and writing (verification excluded).
    verify_seconds : float
        Time spent reading back and checking the output.
    quantization : tuple of float or None
        ``(offset, scale)``, or None when lossless.
    rms_error : float
        Root-mean-square difference between output and input pixels (ADU).
    max_error : float
        Largest absolute difference (ADU).
    rms_error_sigma : float or None
        RMS of the per-pixel error divided by that pixel's noise standard
        deviation (photon + read noise, :func:`pzfcodec.simulate.noise_sigma_adu`), when the camera's
        offset and electrons per ADU are known.
    """

    src: str
    dst: str
    to: str
    frames: int
    shape: Tuple[int, ...]
    dtype: str
    raw_bytes: int
    src_bytes: int
    dst_bytes: int
    seconds: float
    verify_seconds: float
    quantization: Optional[Tuple[float, float]]
    rms_error: float
    max_error: float
    rms_error_sigma: Optional[float]
    missing_frames: int = 0
    missing: str = ""
    read_noise_e: Optional[float] = None
    read_noise_source: str = ""

    @property
    def ratio(self) -> float:
        """Uncompressed pixel bytes / output file bytes."""
        return self.raw_bytes / max(self.dst_bytes, 1)

    @property
    def mb_per_s(self) -> float:
        """Uncompressed megabytes (10^6 bytes) converted per second."""
        return self.raw_bytes / 1e6 / max(self.seconds, 1e-9)

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"converted {self.src} -> {self.dst} ({_OUTPUT_NAMES.get(self.to, self.to)})",
            f"  {self.frames} frames of {self.shape[1]} x {self.shape[2]} {self.dtype}: "
            f"{self.raw_bytes / 1e6:.1f} MB raw, input file {self.src_bytes / 1e6:.1f} MB, "
            f"output file {self.dst_bytes / 1e6:.1f} MB",
            f"  ratio {self.ratio:.2f} vs raw ({self.src_bytes / max(self.dst_bytes, 1):.2f} vs input file), "
            f"{self.mb_per_s:.1f} MB/s",
        ]
        if self.to == "ome-zarr":
            lines[1] = (f"  tile pyramid of {self.frames} levels, level 0 {self.shape[1]} x {self.shape[2]} "
                        f"{self.dtype}: {self.raw_bytes / 1e6:.1f} MB raw (tiles present), input "
                        f"{self.src_bytes / 1e6:.1f} MB, output {self.dst_bytes / 1e6:.1f} MB")
        if self.missing_frames:
            lines.append(f"  {self.missing_frames} frames missing from the input ({self.missing}): "
                         "written as zero frames")
        if self.quantization is None:
            lines.append(f"  lossless: every {'level' if self.to == 'ome-zarr' else 'frame'} verified bit-exact")
        else:
            off, scale = self.quantization
            sigma = "" if self.rms_error_sigma is None else f" = {self.rms_error_sigma:.3f} noise sigma"
            lines.append(f"  sqrt quantisation (offset {off:g} ADU, scale {scale:.4g}): rms error "
                         f"{self.rms_error:.3f} ADU{sigma}, max {self.max_error:g} ADU; every frame verified")
            if self.rms_error_sigma is not None:
                lines.append(f"  noise sigma: photon noise + read noise {self.read_noise_e:g} e- "
                             f"({self.read_noise_source})")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Camera:
    ad_offset: float
    electrons_per_adu: float
    read_noise_e: float = 0.0
    read_noise_source: str = ""


def _open_source(src: str) -> Tuple[Any, Dict[str, Any], Any, Callable[[], None]]:
    """(frames, metadata, events, close) of a convertible input."""
    if src.lower().endswith(".npy") and find_sidecar(src) is None:  # with a sidecar: PYME's export
        arr = load_npy(src)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.ndim != 3:
            raise BadArgumentError(f"{src}: a .npy input must be a (frames, x, y) stack, got shape {arr.shape}")
        return arr, {}, None, lambda: None
    obj = open_any(src)
    if not isinstance(obj, Series):
        if hasattr(obj, "close"):
            obj.close()
        raise UnsupportedFormatError(f"{src} is not an image series; convert reads PYME .h5 series, .tif stacks (+ sidecar) and .npy stacks")
    metadata = dict(obj.metadata)
    if not obj.has_dimensions:  # PYME reads the frames as z: say so in the copy
        metadata.update(obj.dimension_metadata())
    return obj, metadata, obj.events, obj.close


def _metadata_float(md: Dict[str, Any], key: str) -> Optional[float]:
    try:
        value = float(md[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _camera(md: Dict[str, Any], ad_offset: Optional[float], electrons_per_adu: Optional[float],
            read_noise: Optional[float] = None) -> Optional[_Camera]:
    if ad_offset is not None and not math.isfinite(ad_offset):
        raise BadArgumentError(f"the ADU offset must be a finite number, got {ad_offset}")
    if electrons_per_adu is not None and not (electrons_per_adu > 0 and math.isfinite(electrons_per_adu)):
        raise BadArgumentError(f"electrons per ADU must be a finite number > 0, got {electrons_per_adu}")
    off = ad_offset if ad_offset is not None else _metadata_float(md, "Camera.ADOffset")
    epa = electrons_per_adu if electrons_per_adu is not None else _metadata_float(md, "Camera.ElectronsPerCount")
    if read_noise is not None and not (read_noise >= 0 and math.isfinite(read_noise)):
        raise BadArgumentError(f"the read noise must be a finite number >= 0 (e- rms), got {read_noise}")
    if off is None or epa is None or epa <= 0:
        return None
    stored = _metadata_float(md, "Camera.ReadNoise")
    if read_noise is not None:
        return _Camera(off, epa, read_noise, "--read-noise")
    if stored is not None and stored >= 0:
        return _Camera(off, epa, stored, "the input's Camera.ReadNoise")
    return _Camera(off, epa, 0.0, "assumed: the input has no Camera.ReadNoise; give --read-noise")


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype == np.float32:
        a, b = a.view(np.uint32), b.view(np.uint32)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


_OUTPUT_NAMES = {"hdf5": "PZF HDF5 filter", "pyme": "PYME PZF", "zarr": "Zarr v3, PZF chunks",
                 "ome-zarr": "OME-Zarr multiscale, PZF"}


def _tree_bytes(path: str) -> int:
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def convert_tile_pyramid(src: "os.PathLike[str] | str", dst: "os.PathLike[str] | str", *,
                         overwrite: bool = False) -> ConvertReport:
    """Convert a PYME tile pyramid (``.tiles`` directory) to an OME-Zarr multiscale Zarr v3 group.

    Each level becomes array ``"<level>"`` (float32, axes x, y; chunks of one
    tile, each stored losslessly as a PZF blob by :class:`pzfcodec.zarr.PZF`;
    missing tiles are not stored and read as 0).  The group's ``ome``
    attribute holds OME-NGFF 0.5 ``multiscales`` with a scale of
    ``Pyramid.PixelSize * 2**level`` um and a translation of
    (``Pyramid.x0``, ``Pyramid.y0``) um; its ``pyme`` attribute holds the
    pyramid's ``metadata.json``.  The group is written to a new temporary
    folder beside ``dst`` (see :mod:`pzfcodec.atomic`), verified tile by
    tile and renamed to ``dst``.

    Returns
    -------
    ConvertReport
        ``to="ome-zarr"``, ``frames`` = number of levels, ``shape`` =
        ``(levels, x, y)`` of level 0.
    """
    import zarr

    from .zarr import PZF  # needs zarr, an optional extra

    src, dst = os.fspath(src), os.fspath(dst)
    pyramid = open_tile_pyramid(src)
    out = AtomicOutput(dst, inputs=[src], overwrite=overwrite, directory=True)
    tmp = out.path
    ts, ps = pyramid.tile_size, pyramid.pixel_size
    raw = 0
    try:
        t0 = time.perf_counter()
        group = zarr.open_group(tmp, mode="w", zarr_format=3)
        unit = {"unit": "micrometer"} if ps is not None else {}
        datasets = []
        for level in pyramid.levels:
            scale = (ps or 1.0) * 2 ** level.level
            datasets.append({"path": str(level.level), "coordinateTransformations": [
                {"type": "scale", "scale": [scale, scale]},
                {"type": "translation", "translation": list(pyramid.origin)}]})
            arr = group.create_array(str(level.level), shape=level.shape, chunks=(ts, ts), dtype="float32",
                                     serializer=PZF(), compressors=None, fill_value=0.0)
            for (x, y) in sorted(level.tiles):
                check_interrupted()
                arr[x * ts:(x + 1) * ts, y * ts:(y + 1) * ts] = level.tile(x, y)
                raw += ts * ts * 4
        group.attrs["ome"] = {"version": "0.5", "multiscales": [{
            "name": os.path.basename(os.path.normpath(src)),
            "axes": [dict({"name": a, "type": "space"}, **unit) for a in "xy"],
            "datasets": datasets,
            "metadata": {"method": "mean of 2x2 pixels per level (PYME tile pyramid)"}}]}
        group.attrs["pyme"] = {k: v for k, v in pyramid.metadata.items()}
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        check = zarr.open_group(tmp, mode="r")
        for level in pyramid.levels:
            if not _same_bits(check[str(level.level)][...], np.asarray(level)):
                raise CorruptDataError(f"verification failed: level {level.level} of {tmp} does not read back")
        verify_seconds = time.perf_counter() - t0
        if overwrite and os.path.lexists(dst) and not os.path.isdir(dst):
            os.remove(dst)
        out.commit()
    except BaseException:
        out.discard()
        raise
    return ConvertReport(
        src=src, dst=dst, to="ome-zarr", frames=len(pyramid.levels), shape=(len(pyramid.levels),) + pyramid.shape,
        dtype="float32", raw_bytes=raw, src_bytes=_tree_bytes(src), dst_bytes=_tree_bytes(dst),
        seconds=seconds, verify_seconds=verify_seconds, quantization=None, rms_error=0.0, max_error=0.0,
        rms_error_sigma=None)


def write_zarr(path: str, frames: Any, metadata: Dict[str, Any], events: Any, *, compression: str = "huffman",
               quantization: Any = None, threads: int = 1, progress: Any = None) -> int:
    """Write a ``(frames, x, y)`` stack as a Zarr v3 array, one PZF-coded chunk per frame.

    The metadata goes to the attribute ``pyme_metadata`` and the events to
    ``pyme_events`` (``[name, description, time]`` rows), as
    :class:`pzfcodec.SeriesWriter` writes them.  ``threads`` is accepted for
    symmetry with the HDF5 writers (Zarr codes chunks itself).
    """
    import json

    import zarr

    from .zarr import PZF as ZarrPZF  # needs zarr, an optional extra

    n, frame_shape, dtype = frame_info(frames)
    q = as_quantization(quantization)
    arr = zarr.create_array(path, shape=(n,) + frame_shape, chunks=(1,) + frame_shape, dtype=dtype,
                            serializer=ZarrPZF(q.offset if q else None, q.scale if q else None,
                                               compression=compression),
                            compressors=None, fill_value=0)
    arr.attrs.update({"pyme_metadata": json.loads(metadata_json(metadata)),
                      "pyme_events": json.loads(events_json(events))})
    for k0, batch in frame_batches(frames, n, frame_shape, dtype):
        arr[k0:k0 + len(batch)] = batch
        if progress is not None:
            progress(k0 + len(batch), n)
    return n


def _source_bytes(src: str, frames: Any) -> int:
    stored = getattr(frames, "stored_bytes", None)  # a cluster series: its files, as listed
    return int(stored) if stored is not None else _tree_bytes(src)


def convert(src: "os.PathLike[str] | str", dst: "os.PathLike[str] | str", *, to: str = "hdf5",
            quantization: Any = None, step_sigma: Optional[float] = None,
            ad_offset: Optional[float] = None, electrons_per_adu: Optional[float] = None,
            read_noise: Optional[float] = None,
            compression: str = "huffman", threads: int = 1, overwrite: bool = False,
            progress: Progress = None, dask: Any = None, allow_gaps: bool = False) -> ConvertReport:
    """Convert a PYME ``.h5``, ``.pcs``, ``.tif`` (+ sidecar) or ``.npy`` stack to PZF-compressed HDF5 or Zarr.

    The ``.h5`` may use either layout.  A ``.pcs`` cluster series may be a
    directory or a ``PYME-CLUSTER://`` / ``http://`` URL (see
    :func:`pzfcodec.pyme.open_pcs`); its metadata and events are copied.
    A ``.tif``/``.tiff`` stack takes its metadata (``Camera.*``...) from the
    PYME sidecar next to it (``.xml``, ``.md`` or ``.json``), if there is one.  A ``.npy`` with such a sidecar
    is PYME's export (axes x, y, z...); without one, a (frames, x, y) stack.
    A directory holding a PYME tile pyramid goes to
    :func:`convert_tile_pyramid` (an OME-Zarr, lossless).  A series without
    dimension metadata is written with PYME's reading of it (frames = z).

    Parameters
    ----------
    src, dst : path
        Input and output.  ``dst`` must differ from ``src``.
    to : {"hdf5", "pyme", "zarr"}
        Output layout: ``/ImageData`` with the PZF HDF5 filter, PYME's
        ``/PZFImageData`` + ``/PZFImageIndex``, or a Zarr v3 array with one
        PZF chunk per frame (see :func:`write_zarr`).
    quantization : Quantization or (offset, scale), optional
        Explicit square-root quantisation.
    step_sigma : float, optional
        Quantise with a step of ``step_sigma`` noise sigmas, from
        ``ad_offset`` and ``electrons_per_adu`` (default: the input's
        ``Camera.ADOffset`` / ``Camera.ElectronsPerCount`` metadata).
    ad_offset : float, optional
        Camera ADU offset, finite; overrides the input's ``Camera.ADOffset``
        metadata for ``step_sigma`` and the report's ``rms_error_sigma``.
    electrons_per_adu : float, optional
        Camera gain (photo-electrons per ADU), finite and > 0; overrides the
        input's ``Camera.ElectronsPerCount`` metadata likewise.
    read_noise : float, optional
        Camera read noise in electrons rms, >= 0, for the report's
        ``rms_error_sigma`` only; overrides the input's ``Camera.ReadNoise``
        metadata.  Without either it is taken as 0 (the summary says so),
        which overstates the error in sigmas of dark pixels.
    compression : {"huffman", "chunked", "raw", "context"}
        PZF coding ("chunked" codes big frames on several threads;
        "context" is the smallest, and --to pyme refuses it: PYME cannot
        read it).
    threads : int
        Threads (0 = all CPUs).
    overwrite : bool
        Replace an existing ``dst`` (never ``src``).
    progress : callable, optional
        ``progress(phase, done, total)``; phase is "writing" or "verifying".
    dask : str, int or distributed.Client, optional
        Compress on a Dask cluster (``to="hdf5"`` only): a scheduler address,
        a number of local worker processes, or a client.  The workers read
        the input lazily by its path, so they must see it.
    allow_gaps : bool
        A ``.pcs`` input with missing frames converts, the missing frames
        written as zeros and listed in the report and in the output's
        ``pzfcodec.MissingFrames`` metadata; without it they are an error.

    Returns
    -------
    ConvertReport

    Raises
    ------
    BadArgumentError
        Bad options, ``dst`` is ``src``, or ``dst`` exists without ``overwrite``.
    UnsupportedFormatError
        The input is not an image series of a supported kind.
    CorruptDataError
        The input is damaged, or the output did not verify (it is then deleted).
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if to not in ("hdf5", "pyme", "zarr"):
        raise BadArgumentError(f"to must be 'hdf5', 'pyme' or 'zarr', got {to!r}")
    pcs = is_pcs_location(src)
    if to == "pyme" and compression == "context":
        raise BadArgumentError(
            "--coding context cannot go --to pyme: PYME cannot read context-coded PZF frames; "
            "use --to hdf5 (the PZF filter) or zarr, or --coding huffman")
    if dask is not None and to != "hdf5":
        raise BadArgumentError("parallel compression with Dask writes --to hdf5 only")
    if quantization is not None and step_sigma is not None:
        raise BadArgumentError("give either an explicit quantization (offset, scale) or step_sigma, not both")
    if not pcs and not os.path.exists(src):
        raise FileNotFoundError(f"{src} does not exist")
    if os.path.isdir(src) and not pcs:
        if quantization is not None or step_sigma is not None or to != "hdf5" or dask is not None:
            raise BadArgumentError(f"{src} is a directory: only PYME tile pyramids convert, losslessly, "
                                   "to an OME-Zarr (no --to, --step, --offset/--scale or --dask)")
        return convert_tile_pyramid(src, dst, overwrite=overwrite)
    out = AtomicOutput(dst, inputs=[] if pcs else [src], overwrite=overwrite, directory=to == "zarr")
    tmp = out.path
    try:
        frames, md, events, close = _open_source(src)
    except BaseException:
        out.discard()
        raise

    def report(phase: str) -> Callable[[int, int], None]:
        def call(done: int, total: int) -> None:
            check_interrupted()
            if progress is not None:
                progress(phase, done, total)
        return call

    missing = getattr(frames, "missing_frames", np.empty(0, dtype=np.int64))
    try:
        if missing.size:
            if not allow_gaps:
                raise MissingFileError(
                    f"{src}: {missing.size} of the {len(frames)} frames are missing ({frame_ranges(missing)}); "
                    "pass allow_gaps=True (--allow-gaps) to write them as zero frames", path=src)
            frames.missing_fill = 0
            md = dict(md, **{"pzfcodec.MissingFrames": frame_ranges(missing, limit=10000)})
        src_bytes = _source_bytes(src, frames)
        try:
            n, frame_shape, dtype = frame_info(frames)
        except BadArgumentError as exc:
            raise BadArgumentError(f"{src}: {exc}") from None
        shape = (n,) + frame_shape
        camera = _camera(md, ad_offset, electrons_per_adu, read_noise)
        if step_sigma is not None:
            if camera is None:
                raise BadArgumentError(
                    f"{src} has no Camera.ADOffset / Camera.ElectronsPerCount metadata: give the camera's "
                    "ADU offset and electrons per ADU (--ad-offset, --electrons-per-adu)")
            quantization = camera_quantization(camera.ad_offset, camera.electrons_per_adu, step_sigma)
        q = as_quantization(quantization)
        if q is not None:  # the header stores float32: verify against what the decoder will use
            q = Quantization(float(np.float32(q.offset)), float(np.float32(q.scale)))

        writer = {"pyme": write_h5, "zarr": write_zarr}.get(to, write_h5_filtered)
        source = frames
        if dask is not None:  # the workers read the input lazily, by its path
            source = open_lazy(src).reshape(shape)  # a 2-D .npy is one frame
            writer = functools.partial(write_h5_filtered, fill=functools.partial(
                _fill_with_dask, client=dask))
        t0 = time.perf_counter()
        writer(tmp, source, md, events, compression=compression, quantization=q, threads=threads,
               progress=report("writing"))
        seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        sq_err, sq_sigma, max_err = 0.0, 0.0, 0.0
        with _open_output(tmp, to) as written:
            if written.shape != shape or written.dtype != dtype:
                raise CorruptDataError(
                    f"verification failed: wrote {written.shape} {written.dtype}, expected {shape} {dtype}")
            for k0, original in frame_batches(frames, n, frame_shape, dtype):
                decoded = written[k0:k0 + len(original)]
                expected = original if q is None else \
                    dequantize(quantize(original, q.offset, q.scale), q.offset, q.scale, dtype)
                ok = [_same_bits(a, b) for a, b in zip(decoded, expected)]
                if q is not None and compression == "context":
                    # context chunks reconstruct each symbol to its pixels' mean (chunks where
                    # Huffman was smaller, PYME's formula): the symbols must come back
                    ok = [good or np.array_equal(quantize(a, q.offset, q.scale),
                                                 quantize(b, q.offset, q.scale))
                          for good, a, b in zip(ok, decoded, original)]
                if not all(ok):
                    bad = k0 + ok.index(False)
                    raise CorruptDataError(f"verification failed: frame {bad} of {tmp} does not read back as written")
                if q is not None:
                    for dec, orig in zip(decoded, original):  # frame by frame: small float32 temporaries
                        diff = dec.astype(np.float32) - orig.astype(np.float32)
                        sq = diff * diff
                        sq_err += float(np.sum(sq, dtype=np.float64))
                        max_err = max(max_err, float(np.max(np.abs(diff))))
                        if camera is not None:
                            sigma = noise_sigma_adu(orig, camera.ad_offset, camera.electrons_per_adu,
                                                    camera.read_noise_e)
                            sq_sigma += float(np.sum(sq / (sigma * sigma)))
                report("verifying")(k0 + len(original), n)
        verify_seconds = time.perf_counter() - t0
        out.commit()
    except BaseException:
        out.discard()
        raise
    finally:
        close()

    npix = float(np.prod(shape))
    return ConvertReport(
        src=src, dst=dst, to=to, frames=n, shape=shape, dtype=str(dtype),
        raw_bytes=int(np.prod(shape)) * dtype.itemsize, src_bytes=src_bytes,
        dst_bytes=_tree_bytes(dst), seconds=seconds, verify_seconds=verify_seconds,
        quantization=None if q is None else (q.offset, q.scale),
        rms_error=math.sqrt(sq_err / npix), max_error=max_err,
        rms_error_sigma=None if q is None or camera is None else math.sqrt(sq_sigma / npix),
        read_noise_e=None if camera is None else camera.read_noise_e,
        read_noise_source="" if camera is None else camera.read_noise_source,
        missing_frames=int(missing.size), missing=frame_ranges(missing) if missing.size else "")


def _open_output(path: str, to: str) -> Any:
    """The written output, for verification: a series or a Zarr array (context manager)."""
    if to != "zarr":
        return open_h5(path)
    import zarr

    return contextlib.nullcontext(zarr.open_array(path, mode="r"))


def _fill_with_dask(frames: Any, ds: Any, progress: Any, *, client: Any) -> None:
    write_hdf5(frames, ds, client=client, progress=progress)


class _ProgressLine:
    """A one-line progress bar on stderr."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / max(total, 1))
        self.stream.write(f"\r{phase:>9} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pzfcodec convert``."""
    p = subparsers.add_parser(
        "convert", help="recompress a PYME .h5, .pcs, .tif (+ sidecar) or .npy stack, or a .tiles pyramid, with PZF",
        description=help_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="PYME .h5 (ImageData or PZFImageData), .pcs cluster series (directory, "
                               "PYME-CLUSTER:// or http:// URL), .tif (+ sidecar), .npy (frames, x, y; "
                               "with a PYME sidecar: PYME's x, y, z) or a .tiles pyramid directory")
    p.add_argument("dst", help="output .h5, or a directory for --to zarr or a .tiles pyramid's OME-Zarr "
                               "(must differ from SRC)")
    p.add_argument("--to", choices=("hdf5", "pyme", "zarr"), default="hdf5",
                   help="hdf5: /ImageData with the PZF HDF5 filter (default); "
                        "pyme: PYME's own PZF layout, opened by PYME without plugins; "
                        "zarr: a Zarr v3 array with one PZF chunk per frame")
    q = p.add_argument_group("quantisation (default: lossless)")
    q.add_argument("--step", type=float, metavar="SIGMA",
                   help="quantise with a step of SIGMA photon-noise sigmas (0.5-1 is typical)")
    q.add_argument("--ad-offset", type=float, help="camera ADU offset (default: Camera.ADOffset metadata)")
    q.add_argument("--read-noise", type=float, metavar="E",
                   help="camera read noise in e- rms, for the error in noise sigmas of the summary "
                        "(default: Camera.ReadNoise metadata, else 0)")
    q.add_argument("--electrons-per-adu", type=float,
                   help="camera gain (default: Camera.ElectronsPerCount metadata)")
    q.add_argument("--offset", type=float, help="explicit quantisation offset (ADU); with --scale")
    q.add_argument("--scale", type=float, help="explicit quantisation step in sqrt(ADU); with --offset")
    p.add_argument("--compression", "--coding", dest="compression", choices=COMPRESSIONS,
                   default="huffman",
                   help="PZF coding (default huffman; chunked is multi-threaded within a frame, "
                        "not read by PYME; context is the smallest, not read by PYME)")
    p.add_argument("--threads", type=int, default=0, help="threads (default 0 = all CPUs)")
    p.add_argument("--dask", metavar="SCHEDULER",
                   help="compress on a Dask cluster: a scheduler address (tcp://host:8786) or a "
                        "number of local worker processes (--to hdf5 only)")
    p.add_argument("--allow-gaps", action="store_true",
                   help="a .pcs series with missing frames converts, writing them as zero frames "
                        "(default: an error naming them)")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists (never SRC)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Entry point of ``pzfcodec convert``; returns the exit code."""
    if (args.offset is None) != (args.scale is None):
        print("pzfcodec convert: error: --offset and --scale go together", file=sys.stderr)
        return 2
    quantization = None if args.offset is None else (args.offset, args.scale)
    progress = None if args.quiet else _ProgressLine()
    start = time.time()
    try:
        with interrupt_handlers():
            report = convert(args.src, args.dst, to=args.to, quantization=quantization, step_sigma=args.step,
                             ad_offset=args.ad_offset, electrons_per_adu=args.electrons_per_adu,
                             read_noise=args.read_noise,
                             compression=args.compression, threads=args.threads, overwrite=args.overwrite,
                             progress=progress, dask=args.dask, allow_gaps=args.allow_gaps)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else 2
        if progress is not None:
            sys.stderr.write("\n")
        written = os.path.lexists(args.dst) and os.lstat(args.dst).st_mtime >= start
        print(f"pzfcodec convert: {exc or 'interrupted'}; "
              f"{f'after writing {args.dst}' if written else 'no output was written'}", file=sys.stderr)
        return 128 + signum
    except (PZFError, OSError) as exc:
        if progress is not None and progress.last:
            sys.stderr.write("\n")
        print(f"pzfcodec convert: error: {one_line(exc)}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(report.summary())
    return 0
