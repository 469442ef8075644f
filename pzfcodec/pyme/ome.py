"""Metadata from the OME-XML of an OME-TIFF, read as PYME reads it.

PYME's OME-TIFF exporter embeds its own metadata tree in the OME-XML
(``<StructuredAnnotations><XMLAnnotation><Value><MetaData>``, the same
``<Key class=... value=.../>`` leaves as a ``.xml`` sidecar).  When that tree
is present PYME uses it alone; otherwise it takes the voxel size, frame
interval, sizes, channel names and stage position from the first image's
``<Pixels>`` element.  :func:`read_ome_metadata` does the same, never
resolving entities or DTDs.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional
from xml.parsers import expat

from ..errors import CorruptDataError, UnsupportedFormatError
from .sidecar import _XML_CLASSES, _xml_pickle

__all__ = ["read_ome_metadata"]

#: OME length units to micrometres (PYME's table; another unit leaves the number as it is).
_UNITS_TO_UM = {"m": 1e6, "mm": 1e3, "um": 1.0, "\u00b5m": 1.0, "nm": 1e-3}


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def _float(attrs: Dict[str, str], key: str) -> Optional[float]:
    try:
        return float(attrs[key])
    except (KeyError, ValueError):
        return None


def read_ome_metadata(xml_text: str, source: str = "OME-XML") -> Dict[str, Any]:
    """Flat PYME metadata from an OME-XML document.

    Parameters
    ----------
    xml_text : str
        The OME-XML (an OME-TIFF's first ImageDescription).
    source : str
        Names the document in error messages.

    Returns
    -------
    dict
        The embedded PYME ``MetaData`` tree when there is one (PYME's own
        exports); else ``voxelsize.x/y/z`` (in um, from ``PhysicalSize*`` and
        their units), ``voxelsize.units``, ``Camera.CycleTime``
        (``TimeIncrement``), ``OME.SizeX/Y/Z/T/C``, ``OME.DimensionOrder``,
        ``ChannelNames`` and ``Positioning.x/y/z`` (first plane), each when
        present.  PYME substitutes -0.1 for a missing x/y pixel size; here a
        missing value is left out.

    Raises
    ------
    CorruptDataError
        Malformed XML, a DTD or entity declaration, or a bad embedded value.
    UnsupportedFormatError
        An embedded value of unknown ``class``.
    """
    embedded: Dict[str, Any] = {}
    in_metadata = False
    stack: List[str] = []
    meta_depth = 0
    images = 0
    pixels: Optional[Dict[str, str]] = None
    pixels_depth = 0
    channels: List[str] = []
    plane: Optional[Dict[str, str]] = None
    parser = expat.ParserCreate()

    def where() -> str:
        return f"{source}: line {parser.CurrentLineNumber}"

    def forbid(*_args: Any) -> None:
        raise CorruptDataError(f"{where()}: DTDs and entity declarations are not allowed in OME-XML "
                               "(they are refused for safety)")

    def start(name: str, attrs: Dict[str, str]) -> None:
        nonlocal in_metadata, meta_depth, images, pixels, pixels_depth, plane
        name = _local(name)
        stack.append(name)
        if name == "MetaData" and not in_metadata:
            in_metadata, meta_depth = True, len(stack)
            return
        if in_metadata:
            cls = attrs.get("class")
            if cls is None:
                return
            key = ".".join(stack[meta_depth:])
            element = f"{where()}: <{name}> (key {key!r})"
            value = attrs.get("value")
            if value is None:
                raise CorruptDataError(f"{element}: missing the 'value' attribute")
            if cls == "pickle":
                embedded[key] = _xml_pickle(value, element)
                return
            convert = _XML_CLASSES.get(cls)
            if convert is None:
                raise UnsupportedFormatError(f"{element}: unknown class {cls!r}")
            try:
                embedded[key] = convert(value)
            except ValueError:
                raise CorruptDataError(f"{element}: {value!r} is not a valid {cls}") from None
            return
        if name == "Image":
            images += 1
        elif name == "Pixels" and images == 1 and pixels is None:
            pixels, pixels_depth = dict(attrs), len(stack)
        elif pixels is not None and pixels_depth and len(stack) == pixels_depth + 1:
            if name == "Channel":
                channels.append(attrs.get("Name", ""))
            elif name == "Plane" and plane is None:
                plane = dict(attrs)

    def end(name: str) -> None:
        nonlocal in_metadata, pixels_depth
        if in_metadata and len(stack) == meta_depth:
            in_metadata = False
        if pixels_depth and len(stack) == pixels_depth:
            pixels_depth = 0
        stack.pop()

    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = forbid
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(xml_text, True)
    except expat.ExpatError as exc:
        raise CorruptDataError(f"{source}: line {exc.lineno}, column {exc.offset}: malformed XML "
                               f"({expat.ErrorString(exc.code)})") from None
    if embedded or meta_depth:
        return embedded
    md: Dict[str, Any] = {}
    if pixels is None:
        return md
    for axis in "XYZ":
        size = _float(pixels, f"PhysicalSize{axis}")
        if size is not None:
            md[f"voxelsize.{axis.lower()}"] = size * _UNITS_TO_UM.get(pixels.get(f"PhysicalSize{axis}Unit"), 1.0)
    if md:
        md["voxelsize.units"] = "um"
    cycle = _float(pixels, "TimeIncrement")
    if cycle is not None:
        md["Camera.CycleTime"] = cycle
    for axis in "XYZTC":
        try:
            md[f"OME.Size{axis}"] = int(pixels[f"Size{axis}"])
        except (KeyError, ValueError):
            pass
    if "DimensionOrder" in pixels:
        md["OME.DimensionOrder"] = pixels["DimensionOrder"]
    if any(channels):
        md["ChannelNames"] = channels
    for axis in "XYZ" if plane is not None else "":
        pos = _float(plane, f"Position{axis}")
        if pos is not None:
            md[f"Positioning.{axis.lower()}"] = pos * _UNITS_TO_UM.get(plane.get(f"Position{axis}Unit"), 1.0)
    return md
