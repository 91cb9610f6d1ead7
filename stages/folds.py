"""Assign every patient to one of cv.folds folds (stratified on nodules, deterministic).

Writes the fold table (--output) and a summary per fold (--metrics). With cv.folds_from: subset
the fold of a scan is its LUNA16 subset number, read from the series table (--series-table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.data.folds import assign_folds, fold_summary, folds_from_subsets, write_folds
from pipeline.data.params import CvParams
from pipeline.errors import InputError
from pipeline.io import read_csv, write_json
from pipeline.tables import read_table

INDEX = {"series_uid": "uid", "patient_id": "uid", "label": "class"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--series-table", type=Path, default=Path("data/interim/anonymized/series.csv"),
                   help="anonymize's series.csv (its subset column; read with cv.folds_from: "
                        "subset)")
    p.add_argument("--output", type=Path, default=Path("data/processed/folds.csv"))
    p.add_argument("--metrics", type=Path, default=Path("reports/folds.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cv = load_section(args.params, "cv", CvParams)
    index = read_table(args.patches / "index.csv", INDEX, check_duplicates=False)
    nodules = index.groupby("patient_id")["label"].sum().to_dict()
    candidates = index.groupby("patient_id").size().to_dict()
    if cv.folds_from == "subset":
        table = folds_from_subsets(_subsets(args.series_table, index), nodules, candidates,
                                   cv.folds)
    else:
        table = assign_folds(nodules, candidates, cv.folds, cv.seed)
    write_folds(args.output, table)
    summary = fold_summary(table)
    write_json(args.metrics, {"folds": cv.folds, "seed": cv.seed, "per_fold": summary})
    print(f"{len(table)} patients in {cv.folds} folds: " + ", ".join(
        f"{s['patients']} ({s['positives']} positive candidates)" for s in summary))
    return 0


def _subsets(path: Path, index) -> dict[str, list[str]]:
    """patient -> the subset cells of its series (series of index.csv, subset of series.csv)."""
    if not path.is_file():
        raise InputError(f"{path}: expected the series table (cv.folds_from: subset), not found")
    series = read_csv(path, dtype=str, keep_default_na=False)
    if "subset" not in series.columns:
        raise InputError(f"{path}: no subset column: cv.folds_from: subset needs a MetaImage "
                         "cohort in LUNA16's subsetN/ folders (data.format: metaimage)")
    subset_of = dict(zip(series["series_uid"], series["subset"], strict=True))
    pairs = index[["patient_id", "series_uid"]].drop_duplicates()
    out: dict[str, list[str]] = {}
    for patient, uid in zip(pairs["patient_id"], pairs["series_uid"], strict=True):
        out.setdefault(patient, []).append(subset_of.get(uid, ""))
    return out


def main(argv=None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
