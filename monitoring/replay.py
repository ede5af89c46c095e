"""The summary of a season replay: the logged predictions scored against the results, next to
the baselines on the same games, and every check, retrain and promotion (pure; no I/O).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.metrics import points_metrics
from monitoring.performance import ELO_COLUMN, baseline_metrics, live_interval_coverage

GAME_METRICS_SHOWN = ("accuracy", "log_loss", "brier", "roc_auc", "ece", "n")


def home_win_rate(games: pd.DataFrame, seasons: Sequence[str]) -> float:
    """Share of home wins over the played regular-season games of ``seasons`` (what the home
    baseline predicts for every game; 0.5 when there is none)."""
    rows = games.loc[
        games["season"].isin(list(seasons))
        & (games["season_type"] == "regular")
        & games["home_pts"].notna()
        & ~games["neutral_site"].astype(bool)
    ]
    if rows.empty:
        return 0.5
    return float((rows["home_pts"] > rows["away_pts"]).mean())


def monthly_metrics(joined: pd.DataFrame, home_rate: float) -> list[dict[str, Any]]:
    """Model and baselines month by month (accuracy and log loss)."""
    out = []
    if joined.empty:
        return out
    months = pd.to_datetime(joined["game_date"]).dt.to_period("M")
    for month, rows in joined.groupby(months, sort=True):
        scored = baseline_metrics(rows, home_rate)
        if not scored:
            continue
        out.append(
            {
                "month": str(month),
                "n": int(scored["model"]["n"]),
                **{
                    f"{who}_{metric}": scored[who].get(metric)
                    for who in ("model", "baseline-home", "baseline-elo")
                    for metric in ("accuracy", "log_loss")
                },
            }
        )
    return out


def points_summary(joined: pd.DataFrame) -> dict[str, Any]:
    """MAE / RMSE of the logged points predictions (and how often their logged intervals held
    the points), and of the player's season average so far (``player_pts_avg_season`` as
    logged, when ``joined`` carries it) on the same rows."""
    if joined.empty:
        return {}
    y = joined["pts"].to_numpy(float)
    model = points_metrics(y, joined["prediction"].to_numpy(float))
    doc: dict[str, Any] = {"model": _clean({**model, **live_interval_coverage(joined)})}
    if "player_pts_avg_season" in joined:
        avg = joined["player_pts_avg_season"].to_numpy(float)
        ok = np.isfinite(avg)
        if ok.any():
            doc["baseline-season-avg"] = _clean(points_metrics(y[ok], avg[ok]))
    return doc


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not (isinstance(v, float) and not math.isfinite(v))}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The replay summary as Markdown."""
    lines = [
        f"# Season replay {doc['season']} (champions trained through {doc['trained_through']})",
        "",
        f"{doc['days']} game days from {doc['first_day']} to {doc['last_day']}: "
        f"{doc['games_predicted']} games predicted before they were played, "
        f"{doc['player_predictions']} player-games; results ingested after each day; "
        f"a drift check every {doc['drift_every_days']} days ({len(doc['checks'])} checks). "
        f"Wall time {doc['seconds']:.0f} s.",
        "",
        "## Games: logged predictions against the results",
        "",
        f"Scored on the {doc['games']['n']} played games that had a prediction and a logged "
        f"Elo probability. Home baseline: P(home win) = {doc['games']['home_rate']:.3f}, the "
        "home-win share of the training seasons, for every game; Elo baseline: the pre-game Elo "
        "probability.",
        "",
        "| predictor | accuracy | log loss | Brier | ROC AUC | n |",
        "|---|---|---|---|---|---|",
    ]
    for who, metrics in doc["games"]["metrics"].items():
        lines.append(
            f"| {who} | {_fmt(metrics.get('accuracy'))} | {_fmt(metrics.get('log_loss'))} | "
            f"{_fmt(metrics.get('brier'))} | {_fmt(metrics.get('roc_auc'))} | "
            f"{metrics.get('n', '')} |"
        )
    if doc["games"].get("monthly"):
        lines += [
            "",
            "By month (accuracy / log loss):",
            "",
            "| month | games | model | home | Elo |",
            "|---|---|---|---|---|",
        ]
        for m in doc["games"]["monthly"]:
            lines.append(
                f"| {m['month']} | {m['n']} | {_fmt(m['model_accuracy'], 3)} / "
                f"{_fmt(m['model_log_loss'])} | {_fmt(m['baseline-home_accuracy'], 3)} / "
                f"{_fmt(m['baseline-home_log_loss'])} | {_fmt(m['baseline-elo_accuracy'], 3)} / "
                f"{_fmt(m['baseline-elo_log_loss'])} |"
            )
    if doc.get("points"):
        header = "| predictor | MAE | RMSE | n | interval held |"
        lines += ["", "## Player points", "", header, "|---|---|---|---|---|"]
        for who, metrics in doc["points"].items():
            held = metrics.get("interval_coverage")
            held_text = (
                f"{held:.1%} of {metrics['n_interval']:,} ({metrics['interval_level']:.0%} "
                "intervals)"
                if held is not None
                else ""
            )
            lines.append(
                f"| {who} | {_fmt(metrics.get('mae'), 3)} | {_fmt(metrics.get('rmse'), 3)} | "
                f"{metrics.get('n', '')} | {held_text} |"
            )
    lines += ["", "## Champions", "", "| from | model | version | how |", "|---|---|---|---|"]
    for c in doc["champions"]:
        lines.append(f"| {c['from']} | {c['model']} | {c['version']} | {c['how']} |")
    lines += [
        "",
        "## Drift checks",
        "",
        "Feature drift: share of drifted features; prediction drift: Evidently's test on the "
        "predicted P(home win), and the normed Wasserstein distance that triggers a retrain.",
        "",
        "| as of | feature drift | prediction drift (distance) | live log loss (n) | alerts "
        "| action |",
        "|---|---|---|---|---|---|",
    ]
    for c in doc["checks"]:
        lines.append(
            f"| {c['as_of']} | {_fmt(c.get('feature_drift_share'), 2)} | "
            f"{'yes' if c.get('prediction_drift') else 'no'} "
            f"({_fmt(c.get('prediction_shift'), 3)}) | "
            f"{_fmt(c.get('live_log_loss'))} ({c.get('live_n', 0)}) | {len(c['alerts'])} | "
            f"{c['action']} |"
        )
    lines += ["", "## Retrains and promotions", ""]
    if not doc["retrains"]:
        lines.append("No retrain was started.")
    for r in doc["retrains"]:
        lines.append(
            f"- **{r['as_of']}**, evaluated on {r['eval_season']}: {'; '.join(r['reasons'])}"
        )
        for m in r["models"]:
            verdict = "promoted" if m["promoted"] else "refused"
            lines.append(f"  - {m['name']} v{m['version']}: {verdict}: {m['reason']}")
    lines += ["", "## Time", ""]
    for key, value in doc["timings"].items():
        lines.append(f"- {key}: {value:.1f} s")
    return "\n".join(lines) + "\n"


def check_row(check: Mapping[str, Any], task: str = "game") -> dict[str, Any]:
    """One line of the checks table from a ``DriftCheckSummary.as_dict()``."""
    row: dict[str, Any] = {
        "as_of": check["as_of"],
        "alerts": list(check.get("alerts", [])),
        "action": check.get("action", "none"),
    }
    for t in check.get("tasks", []):
        if t["task"] != task:
            continue
        for r in t.get("reports", []):
            if r["kind"] == "features":
                row["feature_drift_share"] = r.get("share_drifted")
            elif r["kind"] == "predictions":
                row["prediction_drift"] = r.get("drift_detected")
        row["prediction_shift"] = (t.get("prediction_shift") or {}).get("distance")
        perf = t.get("performance") or {}
        row["live_n"] = perf.get("n", 0)
        row["live_log_loss"] = (perf.get("live") or {}).get("log_loss")
    return row


__all__ = [
    "ELO_COLUMN",
    "check_row",
    "home_win_rate",
    "monthly_metrics",
    "points_summary",
    "render_markdown",
]
