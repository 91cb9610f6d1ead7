"""Read back what a TID 1500 measurement report says: its findings and the series it cites.

The node only needs a few facts from the SR that ``predict`` writes (PS3.16 TID 1500,
"Measurement Report"): how many findings (TID 1411 measurement groups, concept
``(125007, DCM, "Measurement Group")``), where they are (SCOORD3D points in the patient frame)
and which series are its evidence (``CurrentRequestedProcedureEvidenceSequence``, PS3.3 C.17.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

MEASUREMENT_GROUP = "125007"


def _items(seq_owner: Dataset) -> Iterator[Dataset]:
    for item in seq_owner.get("ContentSequence", []):
        yield item
        yield from _items(item)


def _concept(item: Dataset) -> str:
    names = item.get("ConceptNameCodeSequence", [])
    return str(names[0].CodeValue) if names else ""


def measurement_groups(ds: Dataset) -> list[Dataset]:
    """The measurement groups with a region (one per finding) anywhere in the content tree; the
    region-less group of a "no nodule detected" report is not a finding."""
    return [it for it in _items(ds)
            if it.get("ValueType") == "CONTAINER" and _concept(it) == MEASUREMENT_GROUP
            and any(sub.get("ValueType") in ("SCOORD3D", "SCOORD") for sub in _items(it))]


def finding_summary(ds: Dataset, decimals: int = 3) -> list[tuple[tuple[float, ...], ...]]:
    """Per finding, its SCOORD3D coordinates and numeric values, rounded; sorted.

    Two reports with the same summary state the same findings, whatever their UIDs and times.
    """
    out = []
    for group in measurement_groups(ds):
        points: list[tuple[float, ...]] = []
        numbers: list[float] = []
        for it in _items(group):
            if it.get("ValueType") == "SCOORD3D":
                points.append(tuple(round(float(v), decimals) for v in it.GraphicData))
            elif it.get("ValueType") == "NUM":
                for mv in it.get("MeasuredValueSequence", []):
                    numbers.append(round(float(mv.NumericValue), decimals))
        out.append((*sorted(points), tuple(sorted(numbers))))
    return sorted(out)


def referenced_series(ds: Dataset) -> set[str]:
    """Series Instance UIDs the SR lists as its evidence (or, failing that, as predecessors)."""
    uids = set()
    for key in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(key, []):
            for series in study.get("ReferencedSeriesSequence", []):
                uids.add(str(series.SeriesInstanceUID))
    return uids


def count_findings(path: Path) -> int:
    return len(measurement_groups(pydicom.dcmread(path)))
