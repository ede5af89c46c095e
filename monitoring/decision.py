"""When a check retrains: the thresholds, a cooldown and a minimum of new data (pure).

A task (games or points) *alerts* when its feature drift reaches the drifted-share threshold,
when its predictions drift (the normed Wasserstein distance between the reference's and the
window's predicted values reaches the prediction-drift threshold), or when its live metric
(log loss, MAE) rises above the champion's backtest figure by more than the drop threshold.
Prediction drift counts on its own: the model's outputs can move while no single feature
crosses its test (many small shifts in the same direction), and the distance measures how far
they moved, not only whether a test rejects. An alert starts a retrain unless the last retrain
of that model is less than ``cooldown_days`` old or fewer than ``min_new_games`` played games
are dated after the champion's fit (and before the check's day): retraining on the same data
cannot give a different model. A check made "as of" a past day never retrains while the store
holds games played on or after that day: training reads the whole store, so the new model
would see games the check has not reached yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np

from monitoring.performance import PerformanceSummary
from monitoring.reports import ReportResult


@dataclass(frozen=True)
class RetrainPolicy:
    cooldown_days: int = 7
    min_new_games: int = 50

    def __post_init__(self) -> None:
        if self.cooldown_days < 0 or self.min_new_games < 0:
            raise ValueError("cooldown_days and min_new_games must be >= 0")


@dataclass(frozen=True)
class PredictionShift:
    """How far the window's predicted values moved from the reference's."""

    model_name: str
    distance: float  # normed Wasserstein distance
    threshold: float  # 0: never triggers
    n_reference: int
    n_current: int
    current_window: str
    min_rows: int = 30

    @property
    def crossed(self) -> bool:
        return (
            self.threshold > 0
            and self.n_current >= self.min_rows
            and self.distance >= self.threshold
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "crossed": self.crossed}


def normed_wasserstein(reference: Sequence[float], current: Sequence[float]) -> float:
    """Wasserstein-1 distance between the two samples over the reference's standard deviation
    (floored at 0.001), the score of Evidently's ``wasserstein`` drift method."""
    from scipy.stats import wasserstein_distance

    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) < 2 or len(cur) < 1:
        raise ValueError("need at least 2 reference and 1 current values")
    return float(wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001))


@dataclass
class TaskDecision:
    """What one task's reports call for."""

    task: str
    model_name: str
    reasons: list[str] = field(default_factory=list)
    retrain: bool = False
    blocked: str | None = None

    @property
    def alert(self) -> bool:
        return bool(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "alert": self.alert}


def alert_reasons(
    features: ReportResult | None,
    performance: PerformanceSummary | None,
    predictions: PredictionShift | None = None,
) -> list[str]:
    """Human-readable reasons, one per threshold crossed."""
    reasons = []
    if features is not None and features.drift_detected:
        reasons.append(
            f"{features.model_name} feature drift: {features.details['drifted_columns']} of "
            f"{features.details['columns']} features drifted ({features.share_drifted:.0%} >= "
            f"{features.details['threshold']:.0%}) in {features.current_window}"
        )
    if predictions is not None and predictions.crossed:
        reasons.append(
            f"{predictions.model_name} prediction drift: normed Wasserstein distance "
            f"{predictions.distance:.3f} >= {predictions.threshold} between the predictions of "
            f"{predictions.current_window} (n={predictions.n_current}) and the reference "
            f"(n={predictions.n_reference})"
        )
    if performance is not None and performance.dropped:
        metric = performance.watched
        reasons.append(
            f"{metric} {performance.live[metric]:.4f} on {performance.n} scored rows vs backtest "
            f"{performance.backtest[metric]:.4f} (+{performance.rise:.4f} > "
            f"{performance.threshold})"
        )
    return reasons


def decide(
    task: str,
    model_name: str,
    reasons: list[str],
    *,
    as_of: date,
    last_retrain: date | None,
    new_games: int | None,
    policy: RetrainPolicy,
    allowed: bool = True,
    later_games: int = 0,
) -> TaskDecision:
    """Whether the alerts of one task start a retrain now, and if not, why not.
    ``later_games``: played games in the store dated on or after ``as_of``."""
    decision = TaskDecision(task=task, model_name=model_name, reasons=list(reasons))
    if not reasons:
        return decision
    if not allowed:
        decision.blocked = "retraining is off for this check"
    elif later_games > 0:
        decision.blocked = (
            f"the store holds {later_games} played games dated on or after "
            f"{as_of.isoformat()}: training uses the whole store, so a retrain as of "
            f"{as_of.isoformat()} would see them"
        )
    elif last_retrain is not None and (as_of - last_retrain).days < policy.cooldown_days:
        decision.blocked = (
            f"cooldown: last retrain {last_retrain.isoformat()}, "
            f"{(as_of - last_retrain).days} < {policy.cooldown_days} days ago"
        )
    elif new_games is not None and new_games < policy.min_new_games:
        decision.blocked = (
            f"only {new_games} new games played since the champion's fit "
            f"(< {policy.min_new_games}): a retrain would see the same data"
        )
    else:
        decision.retrain = True
    return decision
