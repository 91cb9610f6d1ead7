"""Ingest's part of the fingerprint: how the series were acquired, as counts and distributions.

Ingest runs upstream of de-identification, so this part holds no identifier at all: no UID,
patient ID, name, date or file name, and no per-series row. It counts scanners (Manufacturer +
ManufacturerModelName, PS3.3 C.7.5.1), reconstruction kernels (ConvolutionKernel, C.8.2.1),
patient positions (C.7.3.1), transfer syntaxes, and summarises slice thickness (SliceThickness,
C.7.6.2), slice spacing (from the positions, as ingest measured it) and pixel spacing.

The acquisition attributes ingest does not keep are read from the first file of each series
(header only, a few tags). A text value that contains the series' own identity (PatientID, a
part of PatientName, an accession number, a UID; a PatientID typed into the kernel field, say)
is counted as ``withheld``, never written.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pydicom
from pydicom.tag import Tag
from pydicom.uid import UID

from pipeline.fingerprint.stats import (
    by_category,
    histogram,
    number_key,
    summary,
    value_counts,
)

FACT_KEYWORDS = ("Manufacturer", "ManufacturerModelName", "ConvolutionKernel", "SliceThickness",
                 "PatientPosition")
IDENTITY_KEYWORDS = ("PatientID", "PatientName", "OtherPatientIDs", "AccessionNumber", "StudyID",
                     "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                     "PatientBirthDate", "StudyDate", "InstitutionName")
TAGS = [Tag(k) for k in FACT_KEYWORDS + IDENTITY_KEYWORDS]
UNKNOWN = "unknown"
WITHHELD = "withheld (contains an identifier)"
PIXEL_SPACING_BIN_MM = 0.05
FACT_COLUMNS = ("manufacturer", "model", "scanner", "kernel", "slice_thickness_mm",
                "slice_spacing_mm", "pixel_spacing_mm", "transfer_syntax", "patient_position",
                "matrix", "n_slices")
_MIN_NEEDLE = 3


def _fold(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def identity_needles(ds: pydicom.Dataset) -> set[str]:
    """Folded identifying values of a header (and each part of a person name) to screen text."""
    needles: set[str] = set()
    for keyword in IDENTITY_KEYWORDS:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        values = value if isinstance(value, pydicom.multival.MultiValue) else [value]
        for v in values:
            text = str(v)
            parts = [text]
            if keyword == "PatientName":  # each part of a person name (PS3.5 6.2, PN)
                parts += text.replace("^", " ").replace("=", " ").split()
            needles.update(f for f in (_fold(p) for p in parts) if len(f) >= _MIN_NEEDLE)
    return needles


def screened(text: str, needles: set[str]) -> str:
    """``text``, or :data:`WITHHELD` when it contains any identifying value."""
    folded = _fold(text)
    if folded and any(n in folded for n in needles):
        return WITHHELD
    return text


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def header_facts(path: Path) -> dict[str, Any]:
    """Scanner, kernel, thickness and position of one DICOM file (unknown when unreadable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=TAGS, force=True)
    except Exception:  # noqa: BLE001 - a fingerprint never stops a stage; the fact is unknown
        return {"manufacturer": UNKNOWN, "model": UNKNOWN, "kernel": UNKNOWN,
                "slice_thickness_mm": math.nan, "patient_position": UNKNOWN}
    needles = identity_needles(ds)
    facts: dict[str, Any] = {name: screened(_text(ds, kw), needles) or UNKNOWN for name, kw in
             (("manufacturer", "Manufacturer"), ("model", "ManufacturerModelName"),
              ("kernel", "ConvolutionKernel"), ("patient_position", "PatientPosition"))}
    try:
        thickness = float(ds.get("SliceThickness"))
    except (TypeError, ValueError):
        thickness = math.nan
    facts["slice_thickness_mm"] = thickness if math.isfinite(thickness) and thickness > 0 \
        else math.nan
    return facts


def _syntax_name(text: str) -> str:
    names = sorted({UID(u).name for u in str(text).split("\\") if u})
    return " + ".join(names) or UNKNOWN


def series_facts(series_row: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The non-identifying facts of one ``series.csv`` row (docs/data-contracts.md)."""
    files = [f for f in str(series_row.get("files", "")).split("|") if f]
    facts = header_facts(Path(root) / files[0]) if files else header_facts(Path(root))
    maker = facts["manufacturer"]
    facts["scanner"] = f"{maker} {facts['model']}".strip()
    rows, cols = series_row.get("rows"), series_row.get("columns")
    spacing = [float(series_row[k]) for k in ("pixel_spacing_row_mm", "pixel_spacing_col_mm")
               if k in series_row and str(series_row[k]) != ""]
    facts.update({
        "slice_spacing_mm": float(series_row.get("slice_spacing_mm", math.nan)),
        "pixel_spacing_mm": sum(spacing) / len(spacing) if spacing else math.nan,
        "transfer_syntax": _syntax_name(str(series_row.get("transfer_syntax", ""))),
        "matrix": f"{rows}x{cols}" if rows and cols else UNKNOWN,
        "n_slices": int(series_row.get("n_slices", 0) or 0),
    })
    return {k: facts[k] for k in FACT_COLUMNS}


def acquisition_facts(series: pd.DataFrame, root: Path) -> pd.DataFrame:
    """One row of :data:`FACT_COLUMNS` per series of ingest's table, in no identifying order
    (sorted by the facts themselves); nothing in it names a patient, a study or a file."""
    rows = [series_facts(r, root) for r in series.to_dict("records")]
    table = pd.DataFrame(rows, columns=list(FACT_COLUMNS))
    return table.sort_values(list(FACT_COLUMNS), kind="stable").reset_index(drop=True)


def ingest_fingerprint(facts: pd.DataFrame, ingest_report: Mapping[str, Any]) -> dict[str, Any]:
    """Ingest's part: counts and distributions of :func:`acquisition_facts`, and the counts of
    rejected files and series by reason category (``reports/ingest.json``)."""
    thickness = [v for v in facts["slice_thickness_mm"] if math.isfinite(v)]
    return {
        "series": int(len(facts)),
        "manufacturers": value_counts(facts["manufacturer"]),
        "scanners": value_counts(facts["scanner"]),
        "kernels": value_counts(facts["kernel"]),
        "patient_positions": value_counts(facts["patient_position"]),
        "transfer_syntaxes": value_counts(facts["transfer_syntax"]),
        "matrix": value_counts(facts["matrix"]),
        "slices_per_series": summary(facts["n_slices"]),
        "slice_thickness_mm": {
            "counts": value_counts([number_key(v) for v in thickness]
                                   + [UNKNOWN] * (len(facts) - len(thickness))),
            "summary": summary(thickness)},
        "slice_spacing_mm": {"counts": value_counts(number_key(v)
                                                    for v in facts["slice_spacing_mm"]),
                             "summary": summary(facts["slice_spacing_mm"])},
        "pixel_spacing_mm": {"bin_mm": PIXEL_SPACING_BIN_MM,
                             "histogram": histogram(facts["pixel_spacing_mm"],
                                                    PIXEL_SPACING_BIN_MM),
                             "summary": summary(facts["pixel_spacing_mm"])},
        "rejected": {"files": int(ingest_report.get("files_rejected", 0)),
                     "series": int(ingest_report.get("series_rejected", 0)),
                     "files_by_reason": by_category(ingest_report.get(
                         "files_rejected_by_reason", {})),
                     "series_by_reason": by_category(ingest_report.get(
                         "series_rejected_by_reason", {}))},
    }
