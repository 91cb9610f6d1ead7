"""What anonymize does with a MetaImage cohort: pass it through, checked, without rewriting it.

LUNA16's volumes are already de-identified (MetaImage headers carry geometry and pixel type, no
patient data) and its tables' ``seriesuid`` values are LUNA16's own; copying 120 GB to rename
nothing would be wrong. So the volumes stay where they are (resample reads them from the raw
folder through ``series.csv``), and anonymize writes: ``series.csv`` (anonymize's columns plus
``format`` and ``subset``; ``files`` relative to the raw folder), the checked tables with the rows
of series ingest did not keep dropped and counted (as the DICOM path does), an empty
``quarantine.csv`` and ``dicom/README.txt`` (resample's dvc.yaml dependency, saying why there is no
DICOM), and a report with ``skipped: true`` and the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.dicom.deid.cohort import QUARANTINE
from pipeline.errors import InputError
from pipeline.io import write_csv, write_text
from pipeline.tables import ANONYMIZED_METAIMAGE_SERIES

log = logging.getLogger(__name__)

FORMAT = "metaimage"
#: anonymize's series.csv columns + format, subset (``tables.ANONYMIZED_METAIMAGE_SERIES``)
SERIES_COLUMNS = ANONYMIZED_METAIMAGE_SERIES.names
SKIP_REASON = ("MetaImage input (LUNA16) is already de-identified: volumes not rewritten, "
               "tables' seriesuids kept")
README = """\
No DICOM here: this cohort is MetaImage (data.format: metaimage, e.g. LUNA16), already
de-identified, so anonymize did not copy or rewrite its volumes. resample reads them from the raw
folder (params data.dicom_dir); ../series.csv lists them (files relative to that folder).
"""


def is_metaimage_table(series: pd.DataFrame) -> bool:
    """True for an ingest series table made from MetaImage volumes (its ``format`` column).

    Raises:
        InputError: the table mixes formats (it was not written by one ingest run).
    """
    if "format" not in series.columns:
        return False
    formats = set(series["format"].astype(str))
    if formats == {FORMAT}:
        return True
    raise InputError(f"series table: expected one format, got {sorted(formats)}; rerun ingest")


@dataclass(frozen=True)
class Passthrough:
    """What anonymize writes for a MetaImage cohort."""

    series: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    dropped: dict[str, int]


def pass_through(series: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> Passthrough:
    """Keep the series table's anonymize columns and each table's rows of the kept series.

    Args:
        series: ingest's series table (MetaImage, see :mod:`pipeline.metaimage.scan`).
        tables: name -> LUNA16 table already validated (:func:`pipeline.tables.read_table`).
    """
    missing = [c for c in SERIES_COLUMNS if c not in series.columns]
    if missing:
        raise InputError(f"series table: expected columns {list(SERIES_COLUMNS)}, missing "
                         f"{missing}")
    if series.empty:
        raise InputError("series table: no series (header only)")
    kept = set(series["series_uid"].astype(str))
    out, dropped = {}, {}
    for name, frame in tables.items():
        keep = frame["seriesuid"].astype(str).isin(kept)
        out[name] = frame.loc[keep].reset_index(drop=True)
        dropped[name] = int((~keep).sum())
        if dropped[name]:
            log.warning("%s: %d rows name series ingest did not keep (dropped)", name,
                        dropped[name])
    table = series.loc[:, list(SERIES_COLUMNS)].sort_values("series_uid", kind="stable")
    return Passthrough(table.reset_index(drop=True), out, dropped)


def write_passthrough(output_dir: Path, result: Passthrough) -> None:
    """Write the pass-through outputs into ``output_dir`` (a temporary folder of ``atomic_dir``)."""
    for name, frame in result.tables.items():
        write_csv(output_dir / f"{name}.csv", frame)
    ANONYMIZED_METAIMAGE_SERIES.write(output_dir / ANONYMIZED_METAIMAGE_SERIES.file,
                                      result.series)
    QUARANTINE.write(output_dir / QUARANTINE.file, QUARANTINE.frame())
    write_text(output_dir / "dicom" / "README.txt", README)


def passthrough_report(result: Passthrough) -> dict[str, Any]:
    """``reports/anonymize.json`` of a skipped run: counts only."""
    subsets = sorted({str(s) for s in result.series["subset"].astype(str) if s})
    return {"skipped": True, "reason": SKIP_REASON, "format": FORMAT,
            "series": int(len(result.series)), "files": 0,
            "subsets": subsets, "rows_dropped": result.dropped,
            "rows": {name: int(len(frame)) for name, frame in result.tables.items()}}
