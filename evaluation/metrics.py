"""Evaluation metrics for both tasks. Pure numpy/pandas; plain ``float``/``int`` values out.

Games (probability of a home win ``p`` against ``home_win`` in {0, 1}):
``accuracy`` (predict home when p >= 0.5), ``log_loss`` (p clipped to [1e-15, 1 - 1e-15]),
``brier`` (mean squared error of p), ``roc_auc`` (NaN when only one class is present), ``ece``
(expected calibration error over 10 equal-width bins of p: the count-weighted mean of
|mean predicted - observed win rate|), ``n``.

Points (predicted against actual points): ``mae``, ``rmse``, ``r2``, ``n`` and the same MAE on
rotation players only (``mae_rotation``, ``n_rotation``; see ``rotation_mask``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

GAME_METRICS = ("accuracy", "log_loss", "brier", "roc_auc", "ece", "n")
POINTS_METRICS = ("mae", "rmse", "r2", "n", "mae_rotation", "n_rotation")
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "mae", "rmse", "mae_rotation"})
HIGHER_IS_BETTER = frozenset({"accuracy", "roc_auc", "r2"})

N_BINS = 10
ROTATION_MINUTES = 20.0
_EPS = 1e-15
_COUNTS = frozenset({"n", "n_rotation"})


def _as_arrays(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_prob, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values, predictions {p.size}")
    if np.isnan(y).any() or np.isnan(p).any():
        raise ValueError("NaN in targets or predictions: drop unplayed rows first")
    return y, p


def calibration_table(y_true, y_prob, n_bins: int = N_BINS) -> pd.DataFrame:
    """Reliability table over ``n_bins`` equal-width bins of the predicted probability.

    Columns: ``bin`` (0..n_bins-1), ``lower``, ``upper``, ``mean_predicted``, ``observed``
    (share of home wins), ``count``. Only non-empty bins are listed. ``p == 1.0`` falls in the
    last bin.
    """
    y, p = _as_arrays(y_true, y_prob)
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("probabilities must lie in [0, 1]")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    table = (
        pd.DataFrame({"bin": bins, "p": p, "y": y})
        .groupby("bin", sort=True)
        .agg(mean_predicted=("p", "mean"), observed=("y", "mean"), count=("y", "size"))
        .reset_index()
    )
    table.insert(1, "lower", table["bin"] / n_bins)
    table.insert(2, "upper", (table["bin"] + 1) / n_bins)
    return table


def expected_calibration_error(y_true, y_prob, n_bins: int = N_BINS) -> float:
    """Count-weighted mean over bins of |mean predicted - observed|."""
    table = calibration_table(y_true, y_prob, n_bins)
    if table.empty:
        return float("nan")
    gaps = (table["mean_predicted"] - table["observed"]).abs()
    return float((gaps * table["count"]).sum() / table["count"].sum())


def game_metrics(y_true, y_prob) -> dict[str, float | int]:
    """``accuracy, log_loss, brier, roc_auc, ece, n`` for P(home win) against the outcome."""
    y, p = _as_arrays(y_true, y_prob)
    n = int(y.size)
    if n == 0:
        return {m: (0 if m == "n" else float("nan")) for m in GAME_METRICS}
    pc = np.clip(p, _EPS, 1 - _EPS)
    both_classes = np.unique(y).size == 2
    return {
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
        "brier": float(np.mean((p - y) ** 2)),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else float("nan"),
        "ece": expected_calibration_error(y, p),
        "n": n,
    }


def rotation_mask(frame: pd.DataFrame) -> pd.Series:
    """Rotation player rows: season-to-date mean minutes >= 20 over at least one earlier game of
    the same season.

    ``pts_avg_season`` is NaN exactly on a player's first game of a season (CONTRACTS), so it
    marks "at least one earlier game" whatever ``min_avg_season`` holds on that first game.
    """
    minutes = pd.to_numeric(frame["min_avg_season"], errors="coerce")
    has_earlier = frame["pts_avg_season"].notna()
    return (minutes >= ROTATION_MINUTES) & has_earlier


def points_metrics(y_true, y_pred, rotation=None) -> dict[str, float | int]:
    """``mae, rmse, r2, n, mae_rotation, n_rotation``; ``rotation`` is a boolean mask (or None:
    no rotation rows)."""
    y, p = _as_arrays(y_true, y_pred)
    mask = np.zeros(y.size, bool) if rotation is None else np.asarray(rotation, dtype=bool)
    if mask.shape != y.shape:
        raise ValueError("rotation mask does not match the targets")
    n = int(y.size)
    err = p - y
    nan = float("nan")
    ss_tot = float(np.sum((y - y.mean()) ** 2)) if n else 0.0
    n_rot = int(mask.sum())
    return {
        "mae": float(np.mean(np.abs(err))) if n else nan,
        "rmse": float(np.sqrt(np.mean(err**2))) if n else nan,
        "r2": float(1 - np.sum(err**2) / ss_tot) if n > 1 and ss_tot > 0 else nan,
        "n": n,
        "mae_rotation": float(np.mean(np.abs(err[mask]))) if n_rot else nan,
        "n_rotation": n_rot,
    }


def mean_metrics(per_season: dict[str, dict[str, float | int]]) -> dict[str, float | int]:
    """Unweighted mean over seasons of every metric; counts (``n``, ``n_rotation``) are summed."""
    if not per_season:
        return {}
    keys = next(iter(per_season.values())).keys()
    out: dict[str, float | int] = {}
    for key in keys:
        values = [season[key] for season in per_season.values()]
        if key in _COUNTS:
            out[key] = int(sum(values))
        else:
            finite = [v for v in values if v is not None and not np.isnan(v)]
            out[key] = float(np.mean(finite)) if finite else float("nan")
    return out
