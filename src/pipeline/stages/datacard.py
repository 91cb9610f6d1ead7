"""The ``datacard`` stage: the data fingerprint's parts merged into headline metrics, distribution
plots and the data card (with, optionally, the comparison with a previous data version)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import StageReport
from pipeline.fingerprint.card import PLOTS, headline, plot_tables, render_card
from pipeline.fingerprint.figures import distribution_figure
from pipeline.fingerprint.parts import read_baseline, read_parts, read_parts_at_ref
from pipeline.fingerprint.shift import ShiftParams
from pipeline.io import read_json, write_csv, write_json, write_text


@dataclass
class DatacardReport(StageReport):
    fingerprint: dict[str, Any]
    reports: dict[str, Any]
    shift: ShiftParams
    synthetic: bool
    baseline: dict[str, Any] | None = None
    baseline_name: str = ""
    metrics: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = headline(self.fingerprint)

    def write(self, metrics: Path, plots: Path, card: Path, figures: Path) -> None:
        """Headline metrics, one plot table and PNG per distribution, the card (Markdown, its
        figures linked relative to it)."""
        write_json(metrics, self.metrics)
        tables: Mapping[str, pd.DataFrame] = plot_tables(self.fingerprint)
        before = plot_tables(self.baseline) if self.baseline else {}
        for file, table in tables.items():
            write_csv(plots / file, table)
            _, _, x, _, label = PLOTS[file]
            distribution_figure(table, x, figures / file.replace(".csv", ".png"),
                                title=label.split(" (")[0], x_label=label,
                                baseline=before.get(file),
                                baseline_label=self.baseline_name or "baseline")
        link = Path(os.path.relpath(figures, card.parent)).as_posix()
        write_text(card, render_card(self.fingerprint, self.reports, self.shift, self.baseline,
                                     self.baseline_name, self.synthetic, link))

    def summary(self) -> str:
        m = self.metrics
        return (f"data fingerprint: {m['series']} series, {m['scanners']} scanners, "
                f"{m['kernels']} kernels, lung HU median {m['lung_hu_median']}, "
                f"{m['nodules']} nodules"
                + (f" (compared with {self.baseline_name})" if self.baseline else ""))


def run(fingerprint: Path, anonymize_report: Path, folds_report: Path, shift: ShiftParams,
        synthetic: bool, baseline: Path | None = None, baseline_ref: str | None = None
        ) -> DatacardReport:
    """Read the parts in ``fingerprint`` and the stage reports; ``baseline`` (a folder of parts
    or one JSON file) or ``baseline_ref`` (a git ref of the committed parts) is the previous
    version the card compares with."""
    parts = read_parts(fingerprint)
    before, name = None, ""
    if baseline is not None:
        before, name = read_baseline(baseline), str(baseline)
    elif baseline_ref:
        before, name = read_parts_at_ref(baseline_ref, fingerprint.as_posix()), baseline_ref
    reports = {k: read_json(p) if p.is_file() else {}
               for k, p in (("anonymize", anonymize_report), ("folds", folds_report))}
    return DatacardReport(parts, reports, shift, synthetic, before, name)
