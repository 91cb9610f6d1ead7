"""Read and check the header of one MetaImage volume without loading its pixels.

A MetaImage volume (ITK's MetaIO format, as LUNA16 ships its scans) is a short text header of
``Key = Value`` lines, either with its pixels in a separate data file (``<uid>.mhd`` naming
``ElementDataFile = <uid>.raw``) or inline after the header (``.mha``, ``ElementDataFile =
LOCAL``). The geometry is read by SimpleITK (``ImageFileReader.ReadImageInformation``: origin,
spacing and the direction matrix, which MetaIO stores as ``TransformMatrix``); the header text is
parsed here only to find the data file, which SimpleITK does not look at until it reads pixels.

A volume is usable when its header parses, it is 3D with one value per voxel of a numeric type,
its data file exists and (uncompressed) holds every voxel, its spacing is finite and within
:data:`SPACING_RANGE_MM`, its origin finite, its direction orthonormal, it has at least
``ingest.min_slices`` slices, and its file name (the LUNA16 ``seriesuid``) is usable as a UID.
Otherwise :func:`read_volume_header` returns the reason (the text before its first ``:`` is the
category counted in ``reports/ingest.json``); it never raises for a bad file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import SimpleITK as sitk

from pipeline.errors import GeometryError, InputError
from pipeline.imaging.geometry import Geometry

HEADER_SUFFIXES = (".mhd", ".mha")
DATA_SUFFIXES = (".raw", ".zraw")
#: Voxel spacing a CT volume can have (mm): below it or above it the header is wrong.
SPACING_RANGE_MM = (0.05, 20.0)
#: MetaIO element types (``ElementType``) of scalar voxels and their size in bytes.
ELEMENT_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4,
                 "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8,
                 "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}
SUBSET_FOLDER = re.compile(r"subset(\d+)")
_SAFE_UID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_MAX_HEADER_BYTES = 65536


@dataclass(frozen=True)
class VolumeHeader:
    """One volume as ingest sees it.

    Attributes:
        path: the header, ``/``-separated, relative to the input root.
        series_uid: the file name without its suffix (LUNA16's ``seriesuid``).
        subset: N of a parent folder ``subsetN``, else None.
        size: ``(x, y, z)`` voxels (None when rejected before it was known).
        geometry: origin, spacing, direction (None when rejected before it was known).
        element_type: the MetaIO ``ElementType``.
        reason: why the volume cannot be used ("" when it can).
    """

    path: str
    series_uid: str
    subset: int | None
    size: tuple[int, int, int] | None = None
    geometry: Geometry | None = None
    element_type: str = ""
    reason: str = ""


def series_uid_of(rel_path: str) -> str:
    """The ``seriesuid`` a volume's file name gives: the name without ``.mhd`` / ``.mha``."""
    return PurePosixPath(rel_path).stem


def subset_of(rel_path: str) -> int | None:
    """N when the volume sits directly in a folder named ``subsetN`` (LUNA16), else None."""
    parent = PurePosixPath(rel_path).parent.name
    match = SUBSET_FOLDER.fullmatch(parent)
    return int(match.group(1)) if match else None


def parse_header_fields(path: Path) -> dict[str, str]:
    """The ``Key = Value`` fields of a MetaImage header, up to and including ``ElementDataFile``.

    Raises:
        InputError: unreadable file, a line that is not ``Key = Value`` (binary, not MetaImage),
            or no ``ElementDataFile`` line within the first 64 KiB.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(_MAX_HEADER_BYTES)
    except OSError as exc:
        raise InputError(f"unreadable MetaImage header: {exc.strerror}") from None
    fields: dict[str, str] = {}
    for number, raw in enumerate(head.split(b"\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(b"=")
        text_key = key.strip().decode("latin-1")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", text_key):
            raise InputError(f"unreadable MetaImage header: line {number} is not 'Key = Value'")
        fields[text_key] = value.strip().decode("latin-1")
        if text_key == "ElementDataFile":
            return fields
    raise InputError("unreadable MetaImage header: no ElementDataFile line")


def _check_data_file(header: Path, fields: dict[str, str], size: tuple[int, ...],
                     element_type: str) -> str:
    """'' when the voxels are where the header says and (uncompressed) all there; else why."""
    name = fields["ElementDataFile"]
    compressed = fields.get("CompressedData", "False").lower() == "true"
    expected = math.prod(size) * ELEMENT_BYTES[element_type]
    if name == "LOCAL":
        data, available = header, header.stat().st_size
    elif name == "LIST" or "%" in name or " " in name:
        return (f"unsupported MetaImage: ElementDataFile {name!r} (expected one data file per "
                "volume)")
    else:
        data = header.parent / name
        if not data.is_file():
            return f"missing data file: {name} not found beside {header.name}"
        available = data.stat().st_size
    if not compressed and available < expected:
        return (f"truncated data file: {data.name} holds {available} bytes, expected "
                f"{expected} ({'x'.join(map(str, size))} {element_type})")
    return ""


def _check_geometry(reader: sitk.ImageFileReader) -> tuple[Geometry | None, str]:
    spacing = tuple(float(v) for v in reader.GetSpacing())
    lo, hi = SPACING_RANGE_MM
    if not all(math.isfinite(s) and lo <= s <= hi for s in spacing):
        return None, (f"bad spacing: ElementSpacing {spacing} mm, expected finite values in "
                      f"[{lo}, {hi}] mm")
    origin = tuple(float(v) for v in reader.GetOrigin())
    if not all(math.isfinite(v) for v in origin):
        return None, f"bad origin: Offset {origin}, expected finite values"
    try:
        geometry = Geometry(origin=origin, spacing=spacing,  # type: ignore[arg-type]
                            direction=reader.GetDirection())
    except GeometryError:
        direction = tuple(round(float(v), 6) for v in reader.GetDirection())
        return None, f"bad direction: TransformMatrix {direction} is not orthonormal"
    return geometry, ""


def read_volume_header(root: Path, rel_path: str, min_slices: int) -> VolumeHeader:
    """Read and check the volume ``root/rel_path`` (headers only; see the module docstring)."""
    uid, subset = series_uid_of(rel_path), subset_of(rel_path)
    header = Path(root) / rel_path

    def rejected(reason: str, **known: object) -> VolumeHeader:
        return VolumeHeader(rel_path, uid, subset, reason=reason, **known)  # type: ignore[arg-type]

    if not _SAFE_UID.fullmatch(uid):
        return rejected("unsupported file name: the seriesuid (file name without .mhd) must be "
                        "letters, digits, '.', '_' or '-'")
    try:
        fields = parse_header_fields(header)
    except InputError as exc:
        return rejected(str(exc))
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(header))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        return rejected(f"unreadable MetaImage header: SimpleITK: {lines[-1] if lines else exc}")
    if reader.GetDimension() != 3:
        return rejected(f"not a 3D volume: NDims = {reader.GetDimension()}")
    size = tuple(int(v) for v in reader.GetSize())
    element_type = fields.get("ElementType", "")
    if reader.GetNumberOfComponents() != 1:
        return rejected(f"unsupported MetaImage: {reader.GetNumberOfComponents()} values per "
                        "voxel, expected 1")
    if element_type not in ELEMENT_BYTES:
        return rejected(f"unsupported MetaImage: ElementType {element_type!r}, expected one of "
                        f"{', '.join(ELEMENT_BYTES)}")
    problem = _check_data_file(header, fields, size, element_type)
    if problem:
        return rejected(problem, size=size, element_type=element_type)
    geometry, problem = _check_geometry(reader)
    if problem:
        return rejected(problem, size=size, element_type=element_type)
    if size[2] < min_slices:
        return rejected(f"too few slices: {size[2]}, expected at least ingest.min_slices = "
                        f"{min_slices}", size=size, geometry=geometry, element_type=element_type)
    return VolumeHeader(rel_path, uid, subset, size, geometry, element_type)  # type: ignore[arg-type]
