"""Merge the fingerprint parts into headline metrics, distribution tables and the data card.

``metrics/data_fingerprint.json`` holds a few numbers per data version (so ``dvc metrics diff``
shows them on one screen); ``plots/data/*.csv`` hold the distributions on fixed bins (so ``dvc
plots diff`` overlays two versions); ``reports/data_card.md`` says in prose what the data are and,
given a baseline fingerprint, how they differ from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from importlib import resources
from string import Template
from typing import Any

import pandas as pd

from pipeline.fingerprint.shift import ShiftParams, cohort_shift, training_ranges

#: plots/data/<file>: (part, key in the part, column of the bin, column of the count, bin label)
PLOTS: dict[str, tuple[str, str, str, str, str]] = {
    "slice_thickness.csv": ("ingest", "slice_thickness_mm", "slice_thickness_mm", "series",
                            "Slice thickness (mm)"),
    "pixel_spacing.csv": ("ingest", "pixel_spacing_mm", "pixel_spacing_mm", "series",
                          "Pixel spacing (mm, 0.05 mm bins)"),
    "lung_hu.csv": ("resample", "lung_hu", "hu", "voxels", "HU inside the lung mask (10 HU bins)"),
    "nodule_diameter.csv": ("patches", "nodule_diameter_mm", "diameter_mm", "nodules",
                            "Nodule diameter (mm, 2 mm bins)"),
    "candidates_per_scan.csv": ("patches", "candidates_per_scan", "candidates", "scans",
                                "Candidates per scan (bins of 5)"),
}


def _names(counts: Mapping[str, int]) -> list[str]:
    return [k for k in counts if k not in ("unknown", "withheld (contains an identifier)")]


def headline(fp: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics/data_fingerprint.json``: the few numbers that tell two data versions apart."""
    ing, res, pat = fp["ingest"], fp["resample"], fp["patches"]
    return {
        "series": ing["series"],
        "scanners": len(_names(ing["scanners"])),
        "kernels": len(_names(ing["kernels"])),
        "slice_thickness_mm": ing["slice_thickness_mm"]["summary"],
        "slice_spacing_mm": ing["slice_spacing_mm"]["summary"],
        "pixel_spacing_mm": ing["pixel_spacing_mm"]["summary"],
        "lung_hu_median": res["lung_hu"]["p50"],
        "body_hu_median": res["body_hu"]["p50"],
        "lung_volume_ml_median": res["lung_volume_ml"]["median"],
        "nodules": pat["nodules"],
        "nodule_diameter_mm_median": pat["nodule_diameter_mm"]["summary"]["median"],
        "candidates": pat["candidates"],
        "positives": pat["candidates_by_class"]["nodule"],
        "candidates_per_scan_median": pat["candidates_per_scan"]["summary"]["median"],
        "rejected_series": ing["rejected"]["series"] + res["rejected"]["series"],
    }


def plot_tables(fp: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The distributions as ``plots/data/*.csv`` tables: bin, count, fraction of the total."""
    tables = {}
    for name, (part, key, x, count, _) in PLOTS.items():
        entry = fp[part][key]
        counts = entry.get("histogram", entry.get("counts", {}))
        rows = [(float(k), int(n)) for k, n in counts.items() if _is_number(k)]
        total = sum(n for _, n in rows)
        table = pd.DataFrame(rows, columns=[x, count]).sort_values(x, kind="stable")
        table["fraction"] = [round(n / total, 6) if total else 0.0 for n in table[count]]
        tables[name] = table.reset_index(drop=True)
    return tables


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"a.b": number}`` of the numeric leaves of nested mappings."""
    out: dict[str, float] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value
    return out


def _counts_line(counts: Mapping[str, int]) -> str:
    items = sorted(counts.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    return ", ".join(f"{k} ({n})" for k, n in items) or "none"


def _range(s: Mapping[str, Any], unit: str) -> str:
    if s.get("min") is None:
        return "unknown"
    return f"{s['min']:g}-{s['max']:g} {unit} (median {s['median']:g})"


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:g}"


def comparison(current: Mapping[str, Any], baseline: Mapping[str, Any],
               params: ShiftParams) -> tuple[list[str], list[str]]:
    """Markdown rows of the headline numbers that changed, and the shift findings."""
    now, then = flatten(headline(current)), flatten(headline(baseline))
    rows = []
    for key in sorted(set(now) | set(then)):
        a, b = then.get(key), now.get(key)
        if a == b:
            continue
        change = f"{b - a:+g}" if a is not None and b is not None else "n/a"
        rows.append(f"| {key} | {_num(a)} | {_num(b)} | {change} |")
    findings = cohort_shift(current, training_ranges(baseline), params)
    for kind in ("scanners", "kernels"):
        gone = [n for n in _names(baseline["ingest"][kind])
                if n not in current["ingest"][kind]]
        if gone:
            findings.append(f"{kind} no longer present: {', '.join(gone)}")
    return rows, findings


def render_card(fp: Mapping[str, Any], reports: Mapping[str, Any], params: ShiftParams,
                baseline: Mapping[str, Any] | None = None, baseline_name: str = "",
                synthetic: bool = True, figures: str = "data_figures") -> str:
    """The data card's Markdown from the template ``templates/data_card.md``.

    Args:
        fp: the merged fingerprint (:func:`read_parts`).
        reports: ``{"anonymize": reports/anonymize.json, "folds": reports/folds.json}`` (either
            may be empty).
        params: the shift thresholds.
        baseline: the previous version's fingerprint, or None (no comparison section).
        baseline_name: how the card names the baseline (a git ref or a file).
        synthetic: params ``data.synthetic`` (what the data are).
        figures: the PNGs' folder relative to the card.
    """
    ing, res, pat = fp["ingest"], fp["resample"], fp["patches"]
    anon, folds = reports.get("anonymize") or {}, reports.get("folds") or {}
    fold_rows = [f"| {f['fold']} | {f['patients']} | {f['candidates']} | {f['positives']} |"
                 for f in folds.get("per_fold", [])]
    rejected = [f"| ingest | files | {_counts_line(ing['rejected']['files_by_reason'])} |",
                f"| ingest | series | {_counts_line(ing['rejected']['series_by_reason'])} |",
                f"| anonymize | files quarantined | "
                f"{_counts_line(anon.get('quarantine_by_reason', {}))} |",
                f"| anonymize | table rows dropped | "
                f"{_counts_line({k: v for k, v in anon.get('rows_dropped', {}).items() if v})} |",
                f"| resample | series | {_counts_line(res['rejected']['by_reason'])} |",
                f"| patches | candidates | {_counts_line(pat['rejected']['by_reason'])} |"]
    compared = ""
    if baseline is not None:
        rows, findings = comparison(fp, baseline, params)
        table = ("| figure | baseline | this version | change |\n|---|---|---|---|\n"
                 + "\n".join(rows)) if rows else "The headline figures are the same."
        shift = "\n".join(f"- {f}" for f in findings) if findings else \
            "- none beyond the thresholds (`shift:` in params.yaml)"
        compared = (f"\n## Compared with the previous version ({baseline_name or 'baseline'})\n\n"
                    f"{table}\n\nShift (thresholds: lung HU median "
                    f"+-{params.lung_hu_median_delta:g} HU, spacing ranges widened by "
                    f"{100 * params.range_margin:g}%, unseen scanner {params.unseen_scanner}, "
                    f"unseen kernel {params.unseen_kernel}):\n\n{shift}\n")
    by = pat.get("nodules_by", {})
    mapping = {
        "source": ("The embedded synthetic cohort (phantoms written as DICOM; no patient)"
                   if synthetic else "CT series read from DICOM (params `data.dicom_dir`)"),
        "series": ing["series"], "scans": res["scans"],
        "nodules": pat["nodules"], "candidates": pat["candidates"],
        "positives": pat["candidates_by_class"]["nodule"],
        "negatives": pat["candidates_by_class"]["non_nodule"],
        "deid": ", ".join(anon.get("profile", {}).get("codes", [])) or "n/a",
        "deid_options": ", ".join(anon.get("profile", {}).get("options", [])) or "none",
        "scanners": _counts_line(ing["scanners"]), "kernels": _counts_line(ing["kernels"]),
        "positions": _counts_line(ing["patient_positions"]),
        "syntaxes": _counts_line(ing["transfer_syntaxes"]),
        "matrix": _counts_line(ing["matrix"]),
        "thickness": _range(ing["slice_thickness_mm"]["summary"], "mm"),
        "spacing": _range(ing["slice_spacing_mm"]["summary"], "mm"),
        "pixel": _range(ing["pixel_spacing_mm"]["summary"], "mm"),
        "resampled": _num(res["spacing_mm"]["median"]),
        "lung_hu": f"{_num(res['lung_hu']['p50'])} HU (p05 {_num(res['lung_hu']['p05'])}, "
                   f"p95 {_num(res['lung_hu']['p95'])})",
        "body_hu": f"{_num(res['body_hu']['p50'])} HU (p05 {_num(res['body_hu']['p05'])}, "
                   f"p95 {_num(res['body_hu']['p95'])})",
        "lung_ml": _range(res["lung_volume_ml"], "ml"),
        "no_lung": res["scans_without_lung"],
        "size": " x ".join(_num(res["volume_size"][a]["median"]) for a in "xyz"),
        "diameter": _range(pat["nodule_diameter_mm"]["summary"], "mm"),
        "small": pat["nodule_diameter_mm"]["under_6mm"],
        "per_scan": _range(pat["candidates_per_scan"]["summary"], "candidates"),
        "nodules_by": "\n".join(f"- by {k}: {_counts_line(v)}" for k, v in by.items())
                      or "- texture and location: not in the annotation table",
        "folds": folds.get("folds", "n/a"), "cv_seed": folds.get("seed", "n/a"),
        "folds_table": "\n".join(fold_rows) or "| n/a | | | |",
        "rejected_table": "\n".join(rejected),
        "figures": figures, "compared": compared,
    }
    text = resources.files("pipeline.fingerprint").joinpath("templates/data_card.md").read_text(
        encoding="utf-8")
    return Template(text).substitute(mapping)
