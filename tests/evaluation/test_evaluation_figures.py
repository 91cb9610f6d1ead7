"""Headline PNG figures: drawn from small plots tables, byte-identical run to run."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.errors import PlotDataError
from pipeline.evaluation.figures import (
    HEADLINE,
    confusion_cell_labels,
    confusion_counts,
    confusion_figure,
    froc_figure,
    headline_figures,
    model_card_section,
    read_dvclive_curves,
    roc_figure,
    sensitivity_at_rates,
    training_curves_figure,
)
from pipeline.evaluation.froc import FP_RATES, froc

ROC = pd.DataFrame({"fpr": [0.0, 0.0, 0.25, 0.5, 1.0], "tpr": [0.0, 0.5, 0.75, 1.0, 1.0],
                    "threshold": [1.0, 0.9, 0.7, 0.4, 0.1]})
FROC = pd.DataFrame({"threshold": [0.9, 0.8, 0.6, 0.3],
                     "fps_per_scan": [0.25, 0.5, 2.0, 6.0],
                     "sensitivity": [0.25, 0.5, 0.75, 1.0]})
CONFUSION = pd.DataFrame({"actual": ["nodule"] * 3 + ["not nodule"] * 5,
                          "predicted": ["nodule", "nodule", "not nodule",
                                        "nodule", "not nodule", "not nodule", "not nodule",
                                        "not nodule"]})
CURVES = {"train/loss": pd.DataFrame({"step": [0, 1, 2], "loss": [0.7, 0.5, 0.4]}),
          "val/loss": pd.DataFrame({"step": [0, 1, 2], "loss": [0.8, 0.6, 0.6]}),
          "val/auc": pd.DataFrame({"step": [0, 1, 2], "auc": [0.6, 0.7, 0.8]})}


def _render_all(folder):
    folder.mkdir(parents=True, exist_ok=True)
    return [roc_figure(ROC, folder / "roc.png"),
            froc_figure(FROC, folder / "froc.png"),
            training_curves_figure(CURVES, folder / "training_curves.png"),
            confusion_figure(CONFUSION, folder / "confusion.png")]


def test_renders_in_this_and_another_process_write_identical_png_bytes(tmp_path):
    paths = _render_all(tmp_path / "a")
    first = [p.read_bytes() for p in paths]
    second = [p.read_bytes() for p in _render_all(tmp_path / "b")]
    script = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
              "import test_evaluation_figures as t; t._render_all(Path(sys.argv[2]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MPLBACKEND": "svg"}
    subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent),
                    str(tmp_path / "c")], check=True, env=env)
    third = [(tmp_path / "c" / p.name).read_bytes() for p in paths]
    assert first == second == third
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in first)


def test_png_carries_no_software_metadata_and_a_fixed_size(tmp_path):
    path = roc_figure(ROC, tmp_path / "roc.png")
    with Image.open(path) as image:
        assert image.size == (500, 500)
        assert "Software" not in image.info
    assert b"matplotlib" not in path.read_bytes().lower()


def test_the_users_matplotlib_settings_do_not_change_the_bytes(tmp_path):
    default = roc_figure(ROC, tmp_path / "default.png").read_bytes()
    with matplotlib.rc_context({"lines.linewidth": 6.0, "font.size": 20.0,
                                "axes.facecolor": "#ffeeee"}):
        styled = roc_figure(ROC, tmp_path / "styled.png").read_bytes()
    assert styled == default


@pytest.mark.parametrize(("draw", "table"), [
    (roc_figure, ROC), (froc_figure, FROC), (confusion_figure, CONFUSION),
    (training_curves_figure, CURVES)])
def test_a_baseline_is_drawn_beside_the_model(tmp_path, draw, table):
    alone = draw(table, tmp_path / "alone.png").read_bytes()
    both = draw(table, tmp_path / "both.png", baseline=table, baseline_label="seed2d").read_bytes()
    assert both != alone


def test_confusion_with_baseline_gets_a_second_panel(tmp_path):
    path = confusion_figure(CONFUSION, tmp_path / "c.png", baseline=CONFUSION,
                            baseline_label="seed2d")
    with Image.open(path) as image:
        assert image.size == (840, 400)


def test_confusion_rows_are_actual_and_columns_predicted():
    counts = confusion_counts(CONFUSION, ["nodule", "not nodule"])
    assert counts.tolist() == [[2, 1], [1, 4]]


def test_confusion_cells_show_the_count_and_its_share_of_the_actual_class():
    labels = confusion_cell_labels(np.array([[2, 1], [0, 0]]))
    assert labels.tolist() == [["2\n67% of actual", "1\n33% of actual"], ["0", "0"]]


def test_a_class_outside_the_given_order_is_rejected():
    with pytest.raises(PlotDataError, match="'maybe'"):
        confusion_counts(CONFUSION.assign(predicted="maybe"), ["nodule", "not nodule"])


def test_froc_points_follow_the_rule_of_the_froc_metric():
    candidates = pd.DataFrame({
        "series_uid": ["s1", "s1", "s1", "s2", "s2", "s2"],
        "coordX": [0.0, 50.0, 80.0, 0.0, 30.0, 60.0], "coordY": [0.0] * 6, "coordZ": [0.0] * 6,
        "probability": [0.9, 0.8, 0.3, 0.7, 0.6, 0.2]})
    annotations = pd.DataFrame({"seriesuid": ["s1", "s2", "s2"], "coordX": [0.0, 0.0, 60.0],
                                "coordY": [0.0] * 3, "coordZ": [0.0] * 3,
                                "diameter_mm": [6.0] * 3})
    result = froc(candidates, annotations, n_scans=2)
    assert sensitivity_at_rates(result.curve) == result.sensitivities


def test_froc_accepts_the_metrics_operating_points(tmp_path):
    given = {f"{r:g}": 0.5 for r in FP_RATES}  # as metrics/evaluate.json spells the keys
    from_table = froc_figure(FROC, tmp_path / "a.png").read_bytes()
    from_metrics = froc_figure(FROC, tmp_path / "b.png", sensitivity_at=given).read_bytes()
    assert from_metrics != from_table


def test_missing_column_is_named(tmp_path):
    with pytest.raises(PlotDataError, match=r"ROC table \(model\).*missing \['tpr'\]"):
        roc_figure(ROC.drop(columns="tpr"), tmp_path / "roc.png")


def test_empty_table_is_rejected(tmp_path):
    with pytest.raises(PlotDataError, match="no rows"):
        froc_figure(FROC.iloc[:0], tmp_path / "froc.png")


def test_dvclive_curves_are_keyed_by_split_and_metric(tmp_path):
    for split, metric in (("train", "loss"), ("val", "loss"), ("val", "auc")):
        (tmp_path / split).mkdir(exist_ok=True)
        CURVES[f"{split}/{metric}"].to_csv(tmp_path / split / f"{metric}.tsv", sep="\t",
                                           index=False)
    curves = read_dvclive_curves(tmp_path)
    assert sorted(curves) == ["train/loss", "val/auc", "val/loss"]
    assert curves["val/auc"]["auc"].tolist() == [0.6, 0.7, 0.8]


def test_dvclive_folder_without_curves_is_rejected(tmp_path):
    with pytest.raises(PlotDataError, match="no dvclive"):
        read_dvclive_curves(tmp_path)


def test_headline_figures_from_plots_files_and_the_card_links_them(tmp_path):
    eval_dir, metrics_dir = tmp_path / "eval", tmp_path / "metrics"
    eval_dir.mkdir()
    ROC.to_csv(eval_dir / "roc.csv", index=False)
    FROC.to_csv(eval_dir / "froc.csv", index=False)
    CONFUSION.to_csv(eval_dir / "confusion.csv", index=False)
    (metrics_dir / "val").mkdir(parents=True)
    CURVES["val/auc"].to_csv(metrics_dir / "val" / "auc.tsv", sep="\t", index=False)
    written = headline_figures(eval_dir, metrics_dir, tmp_path / "figures")
    assert sorted(p.name for p in written) == sorted(HEADLINE)
    for path in written:
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            assert image.format == "PNG"
    card = "\n".join(model_card_section("figures"))
    assert all(f"(figures/{name})" in card for name in HEADLINE)
