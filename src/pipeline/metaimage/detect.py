"""Decide what a raw folder holds: DICOM or MetaImage volumes (``data.format: auto``).

MetaImage: a ``.mhd``/``.mha`` header directly in the folder or in one of its ``subsetN/``
folders (:func:`pipeline.metaimage.scan.list_volume_files`). DICOM: any file anywhere below it,
other than MetaImage headers and data files, that starts as DICOM (the ``DICM`` marker, or a data
set without preamble; :func:`pipeline.dicom.read.looks_like_dicom`). The walk stops at the first
DICOM file, so a DICOM tree costs one small read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.dicom.read import looks_like_dicom
from pipeline.dicom.scan import walk_files
from pipeline.errors import ConfigError, InputError
from pipeline.metaimage.header import DATA_SUFFIXES, HEADER_SUFFIXES
from pipeline.metaimage.scan import list_volume_files

Format = Literal["dicom", "metaimage"]


@dataclass(frozen=True)
class FolderSurvey:
    """What a folder holds: MetaImage headers where volumes are looked for; any DICOM file."""

    metaimage_headers: int
    has_dicom: bool


def survey_folder(root: Path) -> FolderSurvey:
    """Count the MetaImage headers of ``root`` and look for one DICOM file below it."""
    root = Path(root)
    headers = list_volume_files(root)[0]
    skip = HEADER_SUFFIXES + DATA_SUFFIXES
    has_dicom = any(looks_like_dicom(root / rel) for rel in walk_files(root)[0]
                    if Path(rel).suffix.lower() not in skip)
    return FolderSurvey(len(headers), has_dicom)


def resolve_format(root: Path, configured: str, how_to_choose: str) -> Format:
    """The format of ``root``: ``configured`` unless it is ``auto``, else what the folder holds.

    Args:
        root: the raw folder (``data.dicom_dir``).
        configured: ``auto``, ``dicom`` or ``metaimage``.
        how_to_choose: what the user sets to decide (named in the error), e.g. ``set data.format
            in params.yaml``.

    Raises:
        InputError: ``root`` is missing or empty.
        ConfigError: ``auto`` and the folder holds both formats or neither.
    """
    root = Path(root)
    if not root.is_dir() or not any(root.iterdir()):
        raise InputError(f"{root}: expected a folder of DICOM files or MetaImage volumes, found "
                         f"{'an empty folder' if root.is_dir() else 'nothing'}")
    if configured in ("dicom", "metaimage"):
        return configured  # type: ignore[return-value]
    if configured != "auto":
        raise ConfigError(f"data.format must be auto, dicom or metaimage, got {configured!r}")
    survey = survey_folder(root)
    if survey.has_dicom and survey.metaimage_headers:
        raise ConfigError(f"{root}: holds both DICOM files and {survey.metaimage_headers} "
                          f"MetaImage volumes (.mhd/.mha); {how_to_choose} to dicom or metaimage")
    if survey.has_dicom:
        return "dicom"
    if survey.metaimage_headers:
        return "metaimage"
    raise ConfigError(f"{root}: holds neither DICOM files nor MetaImage volumes (.mhd/.mha "
                      f"directly in it or in subsetN/ folders); {how_to_choose} to dicom or "
                      "metaimage, or point at the right folder")
