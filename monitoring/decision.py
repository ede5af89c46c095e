"""When a check retrains: the thresholds, a cooldown and a minimum of new data (pure).

A task (games or points) *alerts* when its feature drift reaches the drifted-share threshold or
its live metric (log loss, MAE) rises above the champion's backtest figure by more than the
drop threshold. An alert starts a retrain unless the last retrain of that model is less than
``cooldown_days`` old or fewer than ``min_new_games`` games were stored since the champion was
trained: retraining on the same data cannot give a different model. Prediction drift is
reported but does not trigger on its own (it follows from feature drift or from a new model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from monitoring.performance import PerformanceSummary
from monitoring.reports import ReportResult


@dataclass(frozen=True)
class RetrainPolicy:
    cooldown_days: int = 7
    min_new_games: int = 50

    def __post_init__(self) -> None:
        if self.cooldown_days < 0 or self.min_new_games < 0:
            raise ValueError("cooldown_days and min_new_games must be >= 0")


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
    features: ReportResult | None, performance: PerformanceSummary | None
) -> list[str]:
    """Human-readable reasons, one per threshold crossed."""
    reasons = []
    if features is not None and features.drift_detected:
        reasons.append(
            f"{features.model_name} feature drift: {features.details['drifted_columns']} of "
            f"{features.details['columns']} features drifted ({features.share_drifted:.0%} >= "
            f"{features.details['threshold']:.0%}) in {features.current_window}"
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
) -> TaskDecision:
    """Whether the alerts of one task start a retrain now, and if not, why not."""
    decision = TaskDecision(task=task, model_name=model_name, reasons=list(reasons))
    if not reasons:
        return decision
    if not allowed:
        decision.blocked = "retraining is off for this check"
    elif last_retrain is not None and (as_of - last_retrain).days < policy.cooldown_days:
        decision.blocked = (
            f"cooldown: last retrain {last_retrain.isoformat()}, "
            f"{(as_of - last_retrain).days} < {policy.cooldown_days} days ago"
        )
    elif new_games is not None and new_games < policy.min_new_games:
        decision.blocked = (
            f"only {new_games} new games since the champion was trained "
            f"(< {policy.min_new_games}): a retrain would see the same data"
        )
    else:
        decision.retrain = True
    return decision
