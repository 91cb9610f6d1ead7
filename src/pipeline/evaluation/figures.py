"""The headline figures as PNG files: ROC, FROC, training curves and the confusion matrix.

They are drawn from the same tables `dvc plots show` renders (``plots/eval/*.csv`` and dvclive's
``plots/train/plots/metrics/{train,val}/*.tsv``), so the model card shows them without a browser.
Each function takes the table(s), the output path and, optionally, a second series drawn beside or
over the first (the seed2d baseline, or out-of-fold curves) with its label.

The PNG bytes are identical run to run: fixed figure size and dpi, matplotlib's default style
whatever the user's matplotlibrc says, and no software/version metadata in the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.errors import PlotDataError
from pipeline.evaluation.froc import FP_RATES
from pipeline.io import write_bytes

DPI = 100
PNG_METADATA: dict[str, str | None] = {"Software": None}  # else matplotlib writes its version
MODEL_STYLE: dict[str, Any] = {"color": "#1f4e99", "linestyle": "-"}
BASELINE_STYLE: dict[str, Any] = {"color": "#d95f02", "linestyle": "--"}
CURVE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
RATE_LABELS = {0.125: "1/8", 0.25: "1/4", 0.5: "1/2", 1.0: "1", 2.0: "2", 4.0: "4", 8.0: "8"}

# File names under the output folder, and the caption each gets in the model card.
HEADLINE = {
    "roc.png": "ROC curve, test candidates",
    "froc.png": "FROC, test scans (CPM = mean sensitivity at the marked 1/8..8 FPs per scan)",
    "training_curves.png": "Training curves (loss; validation AUC, sensitivity, specificity)",
    "confusion.png": "Confusion matrix, test candidates (threshold chosen on validation)",
}

PathArg = str | PathLike[str]
T = TypeVar("T")


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PlotDataError(f"{what}: expected columns {list(columns)}, missing {missing}")
    if table.empty:
        raise PlotDataError(f"{what}: no rows")


def _series(table: T, label: str, baseline: T | None, baseline_label: str
            ) -> list[tuple[str, T, dict[str, Any]]]:
    """[(label, table, line style)] for the model and, when given, the baseline."""
    series = [(label, table, MODEL_STYLE)]
    if baseline is not None:
        series.append((baseline_label, baseline, BASELINE_STYLE))
    return series


@contextmanager
def _figure(width_in: float, height_in: float) -> Iterator[Figure]:
    """A figure of fixed size in matplotlib's default style (the user's matplotlibrc ignored)."""
    with matplotlib.style.context("default"):
        fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig


def _save(fig: Figure, path: PathArg) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=PNG_METADATA)
    write_bytes(path, buf.getvalue())
    return Path(path)


def roc_figure(roc: pd.DataFrame, path: PathArg, *, label: str = "model",
               baseline: pd.DataFrame | None = None, baseline_label: str = "baseline",
               title: str = "ROC curve (test candidates)") -> Path:
    """Write the ROC curve(s) of ``fpr, tpr`` tables; the legend gives each curve's area."""
    series = _series(roc, label, baseline, baseline_label)
    for name, table, _ in series:
        _require(table, ("fpr", "tpr"), f"ROC table ({name})")
    with _figure(5.0, 5.0) as fig:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1.0, label="chance")
        for name, table, style in series:
            fpr = table["fpr"].to_numpy(dtype=np.float64)
            tpr = table["tpr"].to_numpy(dtype=np.float64)
            order = np.lexsort((tpr, fpr))
            fpr, tpr = fpr[order], tpr[order]
            full = fpr[0] == 0.0 and fpr[-1] == 1.0
            text = f"{name} (AUC {np.trapezoid(tpr, fpr):.3f})" if full else name
            ax.plot(fpr, tpr, linewidth=1.8, label=text, **style)
        ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", title=title,
               xlabel="False positive rate (1 - specificity)",
               ylabel="True positive rate (sensitivity)")
        ax.grid(True, color="0.9")
        ax.legend(loc="lower right")
        return _save(fig, path)


def sensitivity_at_rates(froc: pd.DataFrame, rates: Sequence[float] | np.ndarray = FP_RATES
                         ) -> dict[float, float]:
    """Highest sensitivity with at most ``r`` false positives per scan, per rate (0 when none).

    The rule of :func:`pipeline.evaluation.froc.froc`, on a ``fps_per_scan, sensitivity`` table.
    """
    fps = froc["fps_per_scan"].to_numpy(dtype=np.float64)
    sens = froc["sensitivity"].to_numpy(dtype=np.float64)
    return {float(r): float(sens[fps <= r + 1e-12].max(initial=0.0)) for r in rates}


def froc_figure(froc: pd.DataFrame, path: PathArg, *, label: str = "model",
                sensitivity_at: Mapping[float, float] | None = None,
                baseline: pd.DataFrame | None = None, baseline_label: str = "baseline",
                baseline_sensitivity_at: Mapping[float, float] | None = None,
                title: str = "FROC (test scans)") -> Path:
    """Write the FROC step curve(s) on a log axis from 1/8 to 8 FPs per scan.

    The seven CPM operating points are marked and their mean (the CPM) is in the legend. Pass
    ``sensitivity_at`` (``metrics["froc"]["sensitivity_at"]``) when the table lacks rows the
    metrics used (e.g. operating points at 0 FPs per scan, which a log axis cannot show);
    otherwise the points are read off the table by the LUNA16 rule.
    """
    series = [(label, froc, MODEL_STYLE, sensitivity_at)]
    if baseline is not None:
        series.append((baseline_label, baseline, BASELINE_STYLE, baseline_sensitivity_at))
    lo, hi = FP_RATES[0], FP_RATES[-1]
    with _figure(6.4, 4.8) as fig:
        ax = fig.add_subplot()
        for name, table, style, given in series:
            _require(table, ("fps_per_scan", "sensitivity"), f"FROC table ({name})")
            fps = table["fps_per_scan"].to_numpy(dtype=np.float64)
            grid = np.unique(np.concatenate([[lo, hi], fps[(fps > lo) & (fps < hi)]]))
            points = ({float(k): float(v) for k, v in given.items()} if given is not None
                      else sensitivity_at_rates(table))
            curve = sensitivity_at_rates(table, grid)
            # Sensitivity never falls as the rate grows, so the curve is at least the given point
            # at or left of x: exact where the table lacks rows the metrics used (0 FPs/scan).
            floor = [max([v for r, v in points.items() if r <= x], default=0.0) for x in grid]
            ax.step(grid, np.maximum([curve[float(x)] for x in grid], floor), where="post",
                    linewidth=1.8, **style)
            rates = sorted(points)
            cpm = float(np.mean([points[r] for r in rates]))
            ax.plot(rates, [points[r] for r in rates], marker="o", linestyle="none",
                    color=style["color"], clip_on=False, label=f"{name} (CPM {cpm:.3f})")
        ax.set_xscale("log")
        ax.set_xticks(list(FP_RATES), [RATE_LABELS.get(r, f"{r:g}") for r in FP_RATES])
        ax.minorticks_off()
        ax.set(xlim=(lo, hi), ylim=(0, 1), title=title,
               xlabel="False positives per scan (log scale)",
               ylabel="Sensitivity (nodules found)")
        ax.grid(True, color="0.9")
        ax.legend(loc="lower right")
        return _save(fig, path)


def read_dvclive_curves(metrics_dir: PathArg) -> dict[str, pd.DataFrame]:
    """``{"train/loss": table, "val/auc": ...}`` from dvclive's ``<split>/<metric>.tsv`` files."""
    curves = {}
    for tsv in sorted(Path(metrics_dir).glob("*/*.tsv")):
        table = pd.read_csv(tsv, sep="\t")
        _require(table, ("step", tsv.stem), str(tsv))
        curves[f"{tsv.parent.name}/{tsv.stem}"] = table
    if not curves:
        raise PlotDataError(f"{metrics_dir}: no dvclive <split>/<metric>.tsv files")
    return curves


def _curve_panel(ax: Axes, keys: list[str], series, colours: Mapping[str, str]) -> None:
    for name, curves, style in series:
        for key in keys:
            if key not in curves:
                continue
            split, metric = key.split("/", 1)
            table = curves[key].sort_values("step", kind="stable")
            text = f"{split} {metric}" + (f" ({name})" if len(series) > 1 else "")
            ax.plot(table["step"], table[metric], color=colours[key],
                    linestyle=style["linestyle"], linewidth=1.6, label=text)
    ax.set_xlabel("Epoch (0-based)")
    ax.grid(True, color="0.9")
    ax.legend(fontsize=8)


def training_curves_figure(curves: Mapping[str, pd.DataFrame], path: PathArg, *,
                           label: str = "model",
                           baseline: Mapping[str, pd.DataFrame] | None = None,
                           baseline_label: str = "baseline",
                           title: str = "Training curves") -> Path:
    """Write loss (left) and the other validation metrics (right) per epoch.

    ``curves`` maps ``"<split>/<metric>"`` to a ``step, <metric>`` table
    (:func:`read_dvclive_curves`); the baseline's curves are dashed, in the same colours.
    """
    series = _series(curves, label, baseline, baseline_label)
    for name, tables, _ in series:
        if not tables:
            raise PlotDataError(f"training curves ({name}): no curves")
        for key, table in tables.items():
            if "/" not in key:
                raise PlotDataError(f"training curves ({name}): key {key!r} is not split/metric")
            _require(table, ("step", key.split("/", 1)[1]), f"training curve {key} ({name})")
    keys = sorted({key for _, tables, _ in series for key in tables})
    colours = {key: CURVE_COLOURS[i % len(CURVE_COLOURS)] for i, key in enumerate(keys)}
    loss = [k for k in keys if k.split("/", 1)[1] == "loss"]
    other = [k for k in keys if k not in loss]
    panels = [(ks, ylabel) for ks, ylabel in ((loss, "Loss (cross-entropy)"), (other, "Value"))
              if ks]
    with _figure(5.0 * len(panels), 4.2) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (ks, ylabel) in zip(axes, panels, strict=True):
            _curve_panel(ax, ks, series, colours)
            ax.set_ylabel(ylabel)
            if ks is other:
                ax.set_ylim(0, 1.02)
        fig.suptitle(title)
        return _save(fig, path)


def confusion_counts(confusion: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """``counts[i, j]``: candidates of actual class ``classes[i]`` predicted ``classes[j]``."""
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for actual, predicted in zip(confusion["actual"], confusion["predicted"], strict=True):
        if actual not in index or predicted not in index:
            raise PlotDataError(f"confusion table: class {actual!r}/{predicted!r} not in "
                                f"{list(classes)}")
        counts[index[actual], index[predicted]] += 1
    return counts


def confusion_cell_labels(counts: np.ndarray) -> np.ndarray:
    """The text of each cell: its count and, below, its share of the actual class (the row)."""
    labels = np.empty(counts.shape, dtype=object)
    for (i, j), n in np.ndenumerate(counts):
        row = int(counts[i].sum())
        labels[i, j] = f"{n}\n{n / row:.0%} of actual" if row else f"{n}"
    return labels


def confusion_figure(confusion: pd.DataFrame, path: PathArg, *, label: str = "model",
                     baseline: pd.DataFrame | None = None, baseline_label: str = "baseline",
                     classes: Sequence[str] | None = None,
                     title: str = "Confusion matrix (test candidates)") -> Path:
    """Write the confusion matrix of an ``actual, predicted`` table (one row per candidate).

    Rows are the actual class, columns the predicted one; each cell shows its count and its share
    of the row. ``classes`` fixes the order (default: sorted class names). The baseline's matrix
    is drawn to the right, on the same colour scale.
    """
    series = _series(confusion, label, baseline, baseline_label)
    for name, table, _ in series:
        _require(table, ("actual", "predicted"), f"confusion table ({name})")
    if classes is None:
        classes = sorted({str(v) for _, t, _ in series for v in (*t["actual"], *t["predicted"])})
    matrices = [(name, confusion_counts(table.astype(str), classes)) for name, table, _ in series]
    vmax = max(int(m.max()) for _, m in matrices) or 1
    with _figure(4.2 * len(matrices), 4.0) as fig:
        axes = fig.subplots(1, len(matrices), squeeze=False)[0]
        for ax, (name, counts) in zip(axes, matrices, strict=True):
            ax.imshow(counts, cmap="Blues", vmin=0, vmax=vmax)
            for (i, j), text in np.ndenumerate(confusion_cell_labels(counts)):
                ax.text(j, i, text, ha="center", va="center", fontsize=10,
                        color="white" if counts[i, j] > vmax / 2 else "black")
            ticks = range(len(classes))
            ax.set_xticks(ticks, list(classes))
            ax.set_yticks(ticks, [f"{c}\n(n={int(counts[i].sum())})"
                                  for i, c in enumerate(classes)])
            ax.set(xlabel="Predicted", ylabel="Actual", title=name if len(matrices) > 1 else "")
        fig.suptitle(title)
        return _save(fig, path)


def headline_figures(eval_dir: PathArg, train_metrics_dir: PathArg, out_dir: PathArg, *,
                     sensitivity_at: Mapping[float, float] | None = None,
                     label: str = "model") -> list[Path]:
    """Write the four :data:`HEADLINE` PNGs into ``out_dir`` from the DVC plots files.

    ``eval_dir`` holds ``roc.csv``, ``froc.csv`` and ``confusion.csv`` (``plots/eval``);
    ``train_metrics_dir`` dvclive's ``train/``, ``val/`` TSVs (``plots/train/plots/metrics``).
    """
    eval_dir, out = Path(eval_dir), Path(out_dir)
    tables = {}
    for name in ("roc", "froc", "confusion"):
        if not (eval_dir / f"{name}.csv").is_file():
            raise PlotDataError(f"{eval_dir / f'{name}.csv'}: missing (run the evaluate stage)")
        tables[name] = pd.read_csv(eval_dir / f"{name}.csv")
    return [
        roc_figure(tables["roc"], out / "roc.png", label=label),
        froc_figure(tables["froc"], out / "froc.png", label=label, sensitivity_at=sensitivity_at),
        training_curves_figure(read_dvclive_curves(train_metrics_dir),
                               out / "training_curves.png", label=label),
        confusion_figure(tables["confusion"], out / "confusion.png", label=label),
    ]


def model_card_section(folder: str = "figures") -> list[str]:
    """Markdown lines that show the :data:`HEADLINE` PNGs (paths relative to the card)."""
    lines = ["## Figures", ""]
    for name, caption in HEADLINE.items():
        lines += [f"![{caption}]({folder}/{name})", ""]
    return lines
