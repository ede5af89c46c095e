"""Diagnostic figures as ``matplotlib.figure.Figure`` objects on an Agg canvas.

No pyplot: nothing touches matplotlib's global figure registry, so figures are garbage-collected
with their owner and nothing leaks between runs. A caller saves them (``fig.savefig(path)``) or
logs them (``mlflow.log_figure``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from evaluation.intervals import bin_index
from evaluation.metrics import N_BINS, calibration_table, expected_calibration_error

MAX_BARS = 30
MAX_POINTS = 20_000


def new_figure(width: float = 6.0, height: float = 4.5) -> Figure:
    """A figure bound to its own Agg canvas (no pyplot state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def calibration_figure(y_true, y_prob, title: str = "Calibration") -> Figure:
    """Reliability diagram (10 equal-width bins) over a histogram of the predictions."""
    table = calibration_table(y_true, y_prob, N_BINS)
    ece = expected_calibration_error(y_true, y_prob, N_BINS)
    fig = new_figure(6.0, 6.0)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    top.plot(table["mean_predicted"], table["observed"], marker="o", label=f"model (ECE {ece:.3f})")
    top.set_ylabel("observed home-win rate")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(loc="upper left")
    top.set_title(title)
    bottom.bar(
        (table["lower"] + table["upper"]) / 2, table["count"], width=1 / N_BINS, edgecolor="white"
    )
    bottom.set_xlabel("predicted P(home win)")
    bottom.set_ylabel("games")
    return fig


def roc_figure(y_true, y_prob, title: str = "ROC") -> Figure:
    """ROC curve with its AUC."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    fpr, tpr, _ = roc_curve(y, p)
    fig = new_figure(5.0, 5.0)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, p):.3f}")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return fig


def importance_figure(
    importances: pd.Series, kind: str = "importance", title: str = "Features"
) -> Figure:
    """Horizontal bars of the largest |values| (coefficients keep their sign)."""
    top = importances.reindex(importances.abs().sort_values(ascending=False).index)[:MAX_BARS]
    top = top.iloc[::-1]
    fig = new_figure(7.0, max(3.0, 0.28 * len(top) + 1.2))
    ax = fig.subplots()
    colors = ["tab:red" if v < 0 else "tab:blue" for v in top.to_numpy()]
    ax.barh([str(i) for i in top.index], top.to_numpy(), color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    label = "coefficient (standardised inputs)" if kind == "coefficient" else "impurity importance"
    ax.set_xlabel(label)
    ax.set_title(title)
    return fig


def residuals_figure(y_true, y_pred, title: str = "Residuals") -> Figure:
    """Predicted vs actual (a random sample of at most 20k points) and the residual histogram."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    if y.size > MAX_POINTS:
        keep = np.random.default_rng(0).choice(y.size, MAX_POINTS, replace=False)
        ys, ps = y[keep], p[keep]
    else:
        ys, ps = y, p
    fig = new_figure(10.0, 4.5)
    left, right = fig.subplots(1, 2)
    left.scatter(ps, ys, s=3, alpha=0.2)
    hi = float(max(np.max(y, initial=1.0), np.max(p, initial=1.0)))
    left.plot([0, hi], [0, hi], linestyle="--", color="grey")
    left.set_xlabel("predicted points")
    left.set_ylabel("actual points")
    left.set_title(title)
    resid = y - p
    right.hist(resid, bins=60)
    right.axvline(0, color="black", linewidth=0.8)
    right.set_xlabel("actual - predicted")
    right.set_ylabel("rows")
    right.set_title(f"MAE {np.mean(np.abs(resid)):.2f}, bias {np.mean(resid):+.2f}")
    return fig


def reliability_figure(
    y_true, probabilities: Mapping[str, Any], title: str = "Calibration"
) -> Figure:
    """Reliability diagrams of several probability columns on the same outcomes (baselines
    dashed), over the histogram of each column's predictions (10 equal-width bins)."""
    fig = new_figure(6.5, 6.5)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    for name, y_prob in probabilities.items():
        table = calibration_table(y_true, y_prob, N_BINS)
        ece = expected_calibration_error(y_true, y_prob, N_BINS)
        style = "--" if name.startswith("baseline-") else "-"
        (line,) = top.plot(
            table["mean_predicted"],
            table["observed"],
            marker="o",
            markersize=4,
            linestyle=style,
            label=f"{name} (ECE {ece:.3f})",
        )
        bottom.hist(
            np.asarray(y_prob, dtype=float),
            bins=edges,
            histtype="step",
            linestyle=style,
            color=line.get_color(),
        )
    top.set_ylabel("observed home-win rate")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize="small")
    top.set_title(title)
    bottom.set_xlabel("predicted P(home win)")
    bottom.set_ylabel("games")
    return fig


def season_metric_figure(
    values: Mapping[str, Mapping[str, float]], metric: str, title: str | None = None
) -> Figure:
    """One metric per test season, a line per model and a dashed line per baseline
    (``values[name][season]``); seasons in the order of the first name's."""
    fig = new_figure(7.0, 4.5)
    ax = fig.subplots()
    seasons = list(next(iter(values.values()), {}))
    for name, per_season in values.items():
        style = "--" if name.startswith("baseline-") else "-"
        ax.plot(
            seasons,
            [per_season.get(s, np.nan) for s in seasons],
            marker="o",
            linestyle=style,
            label=name,
        )
    ax.set_xlabel("test season")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per test season")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.grid(axis="y", alpha=0.3)
    return fig


def interval_coverage_figure(
    actual,
    predicted,
    intervals: Mapping[str, tuple[Any, Any]],
    edges,
    level: float,
    title: str = "Interval coverage",
) -> Figure:
    """Share of actual values inside each interval (``intervals[label] = (low, high)``) by bin
    of the predicted value (``edges``: upper edges), against the nominal ``level``; the rows
    per bin below."""
    y = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    which = bin_index(p, edges)
    bounds = [-np.inf, *edges, np.inf]
    labels = [
        f"< {bounds[1]:g}"
        if b == 0
        else f"{bounds[b]:g}+"
        if b == len(edges)
        else f"{bounds[b]:g}-{bounds[b + 1]:g}"
        for b in range(len(edges) + 1)
    ]
    fig = new_figure(7.5, 5.5)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    x = np.arange(len(labels))
    for label, (low, high) in intervals.items():
        inside = (y >= np.asarray(low)) & (y <= np.asarray(high))
        share = [inside[which == b].mean() if (which == b).any() else np.nan for b in x]
        top.plot(x, share, marker="o", label=label)
    top.axhline(level, linestyle="--", color="grey", label=f"nominal {level:.0%}")
    top.set_ylim(0.5, 1.0)
    top.set_ylabel("share of actual points inside")
    top.set_title(title)
    top.legend(fontsize="small", loc="lower left")
    top.grid(axis="y", alpha=0.3)
    bottom.bar(x, np.bincount(which, minlength=len(labels)))
    bottom.set_xticks(x, labels)
    bottom.set_xlabel("predicted points")
    bottom.set_ylabel("rows")
    return fig
