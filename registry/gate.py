"""The promotion gate: a challenger replaces the champion only if it is better on the same games.

The comparison itself (:func:`compare_metrics`) is pure; :func:`evaluate_gate` reads both
versions' run metrics from MLflow. Metric keys follow docs/CONTRACTS.md: ``"{metric}.{season}"``
per evaluation season and the plain ``"{metric}"`` for the version's own evaluation season.

A version whose evaluation season has games its champion was not fit on may carry an
*in-season window*: its tag ``eval_window`` names the days, ``window.{metric}`` are the scores of
the same estimator fit on the games before the window, and ``window.champion.{metric}`` those of
the champion version in ``eval_window_champion_version``, served as it is, on the same games. When that version is still
the champion the gate compares on the window; otherwise (or without a window) on the season, and
the reason says why.

When the champion has no metrics for the candidate's evaluation season (it was evaluated on an
earlier one) and was fit before that season began, training scores it, as served, on the same
rows as the candidate's walk-forward evaluation: ``champion.{metric}.{season}`` on the candidate,
with the tags ``eval_season_champion_version`` and ``eval_season_champion_games``. The gate uses
them for that season when they are of the current champion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.versions import ModelVersionInfo

# True when a higher value is better. Metrics not listed are taken as lower-is-better.
METRIC_HIGHER_IS_BETTER: Mapping[str, bool] = MappingProxyType(
    {
        "log_loss": False,
        "brier": False,
        "ece": False,
        "accuracy": True,
        "roc_auc": True,
        "mae": False,
        "mae_rotation": False,
        "rmse": False,
        "r2": True,
    }
)

_EPS = 1e-12  # float noise allowed on margins and tolerances
# "log_loss.2023-24"; other dotted keys (e.g. "baseline.baseline-elo.log_loss") are not seasons
_SEASON_KEY = re.compile(r"^(?P<metric>\w+)\.(?P<season>\d{4}-\d{2})$")
# The in-season window: metric key prefixes and version tags (written by training_flow).
WINDOW_PREFIX = "window."
CHAMPION_WINDOW_PREFIX = "window.champion."
WINDOW_TAG = "eval_window"
WINDOW_CHAMPION_TAG = "eval_window_champion_version"
WINDOW_FIT_TAG = "eval_window_fit_through"
WINDOW_GAMES_TAG = "eval_window_games"
WINDOW_FALLBACK_TAG = "eval_window_fallback"
FIT_THROUGH_TAG = "fit_through"
# The champion as served on the candidate's evaluation season (written by training_flow).
SEASON_CHAMPION_PREFIX = "champion."
SEASON_CHAMPION_TAG = "eval_season_champion_version"
SEASON_CHAMPION_GAMES_TAG = "eval_season_champion_games"
SEASON_CHAMPION_FALLBACK_TAG = "eval_season_champion_fallback"
SEASON, WINDOW = "season", "window"


@dataclass(frozen=True)
class GatePolicy:
    """What a challenger must achieve against the champion to be promoted.

    ``margin`` is the absolute improvement of ``primary_metric`` required (at least, and always
    more than nothing); ``tolerances`` maps other metrics to the largest absolute worsening
    allowed. The direction of those other metrics comes from ``higher_is_better``.
    """

    primary_metric: str
    lower_is_better: bool = True
    margin: float = 0.0
    tolerances: Mapping[str, float] = field(default_factory=dict)
    higher_is_better: Mapping[str, bool] = field(default_factory=lambda: METRIC_HIGHER_IS_BETTER)

    def __post_init__(self) -> None:
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        if any(tolerance < 0 for tolerance in self.tolerances.values()):
            raise ValueError(f"tolerances must be >= 0, got {dict(self.tolerances)}")
        object.__setattr__(self, "tolerances", MappingProxyType(dict(self.tolerances)))
        object.__setattr__(self, "higher_is_better", MappingProxyType(dict(self.higher_is_better)))

    def improvement(self, metric: str, challenger: float, champion: float) -> float:
        """How much better ``challenger`` is than ``champion`` on ``metric`` (negative: worse)."""
        if metric == self.primary_metric:
            higher = not self.lower_is_better
        else:
            higher = self.higher_is_better.get(metric, False)
        return challenger - champion if higher else champion - challenger


DEFAULT_POLICIES: Mapping[str, GatePolicy] = MappingProxyType(
    {
        "game": GatePolicy(
            "log_loss",
            margin=0.001,
            tolerances={"brier": 0.002, "accuracy": 0.01, "roc_auc": 0.01},
        ),
        "points": GatePolicy("mae", margin=0.01, tolerances={"rmse": 0.05, "r2": 0.01}),
    }
)


@dataclass(frozen=True)
class GateDecision:
    """The outcome of the gate for one candidate version."""

    promote: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None
    season: str
    version: str = ""
    champion_version: str | None = None
    basis: str = SEASON  # what was compared: the season, or the in-season window
    window: str = ""  # the window's days when ``basis`` is the window

    def as_record(self) -> dict:
        """The metrics part of an audit row."""
        return {
            "season": self.season,
            "basis": self.basis,
            "window": self.window,
            "challenger": self.challenger,
            "champion": self.champion,
            "champion_version": self.champion_version,
        }


def season_metrics(
    metrics: Mapping[str, float], eval_season: str | None = None
) -> dict[str, dict[str, float]]:
    """``{season: {metric: value}}`` from ``metric.season`` keys (seasons like ``2023-24``).

    The plain ``metric`` keys belong to ``eval_season``; they fill in that season's values only
    where no ``metric.eval_season`` key exists. Other dotted keys are ignored.
    """
    by_season: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if match := _SEASON_KEY.match(key):
            by_season.setdefault(match["season"], {})[match["metric"]] = value
    if eval_season:
        own = by_season.setdefault(eval_season, {})
        for key, value in metrics.items():
            if "." not in key:
                own.setdefault(key, value)
        if not own:
            del by_season[eval_season]
    return by_season


def window_metrics(metrics: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """``window.{metric}`` (the challenger's) and ``window.champion.{metric}`` (the champion's
    on the same games) as two ``{metric: value}`` dicts."""
    challenger, champion = {}, {}
    for key, value in metrics.items():
        if key.startswith(CHAMPION_WINDOW_PREFIX):
            champion[key[len(CHAMPION_WINDOW_PREFIX) :]] = value
        elif key.startswith(WINDOW_PREFIX):
            challenger[key[len(WINDOW_PREFIX) :]] = value
    return challenger, champion


def served_season_metrics(
    candidate: ModelVersionInfo, champion: ModelVersionInfo, primary_metric: str
) -> tuple[dict[str, dict[str, float]], str]:
    """``{season: {metric: value}}`` of the champion as served, recorded on the candidate
    (``champion.{metric}.{season}``), when they are of this champion version and hold
    ``primary_metric``; and a note on what they are or why there are none."""
    scored = candidate.tags.get(SEASON_CHAMPION_TAG)
    if not scored:
        return {}, candidate.tags.get(SEASON_CHAMPION_FALLBACK_TAG, "")
    if scored != champion.version:
        return {}, (
            f"the champion's scores on the evaluation season are of v{scored}, "
            f"the champion is now v{champion.version}"
        )
    served = season_metrics(
        {
            key[len(SEASON_CHAMPION_PREFIX) :]: value
            for key, value in candidate.metrics.items()
            if key.startswith(SEASON_CHAMPION_PREFIX)
        }
    )
    served = {season: values for season, values in served.items() if primary_metric in values}
    if not served:
        return {}, f"the champion's scores on the evaluation season have no {primary_metric}"
    games = candidate.tags.get(SEASON_CHAMPION_GAMES_TAG, "?")
    seasons = ", ".join(sorted(served))
    return served, f"champion v{champion.version} as served on {seasons} ({games} games)"


def choose_season(
    challenger: Mapping[str, Mapping[str, float]],
    champion: Mapping[str, Mapping[str, float]],
    primary_metric: str,
    preferred: str | None,
) -> str | None:
    """The season to compare on: ``preferred`` if both have the primary metric for it, else the
    latest season both have it for, else None."""
    common = sorted(
        season
        for season in set(challenger) & set(champion)
        if primary_metric in challenger[season] and primary_metric in champion[season]
    )
    if preferred in common:
        return preferred
    return common[-1] if common else None


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def compare_metrics(
    challenger: Mapping[str, float],
    champion: Mapping[str, float],
    policy: GatePolicy,
    season: str,
) -> tuple[bool, str]:
    """Whether ``challenger`` beats ``champion`` (one season's metrics) under ``policy``; why."""
    primary = policy.primary_metric
    new, old = challenger.get(primary), champion.get(primary)
    if new is None or old is None or not (math.isfinite(new) and math.isfinite(old)):
        return False, (
            f"{primary}.{season} is missing or not finite (challenger {new}, champion {old})"
        )
    gain = policy.improvement(primary, new, old)
    change = f"{primary}.{season} {_fmt(old)} -> {_fmt(new)}"
    if gain <= _EPS:
        return False, f"not better: {change} (improvement {gain:+.4f})"
    if gain < policy.margin - _EPS:
        return False, f"improvement below margin: {change} ({gain:+.4f} < {policy.margin})"
    checked = []
    for metric, tolerance in policy.tolerances.items():
        new_value, old_value = challenger.get(metric), champion.get(metric)
        if new_value is None or old_value is None:
            checked.append(f"{metric} not compared (missing)")
            continue
        worsening = -policy.improvement(metric, new_value, old_value)
        if not math.isfinite(worsening) or worsening > tolerance + _EPS:
            return False, (
                f"{primary} better ({change}) but {metric}.{season} worse beyond tolerance: "
                f"{_fmt(old_value)} -> {_fmt(new_value)} (worsened {worsening:.4f} > {tolerance})"
            )
        checked.append(f"{metric} within {tolerance} ({_fmt(old_value)} -> {_fmt(new_value)})")
    details = "; ".join(checked)
    reason = f"better: {change} (improvement {gain:+.4f} >= margin {policy.margin})"
    return True, f"{reason}; {details}" if details else reason


def decide(
    candidate: ModelVersionInfo, champion: ModelVersionInfo | None, policy: GatePolicy
) -> GateDecision:
    """The gate's decision for ``candidate`` against ``champion`` (pure: no MLflow calls)."""
    challenger_seasons = season_metrics(candidate.metrics, candidate.eval_season)
    own_season = candidate.eval_season or ""
    if champion is None:
        return GateDecision(
            promote=True,
            reason="no champion yet",
            challenger=challenger_seasons.get(own_season, candidate.summary_metrics()),
            champion=None,
            season=own_season,
            version=candidate.version,
        )
    if champion.version == candidate.version:
        return GateDecision(
            promote=False,
            reason=f"version {candidate.version} is already the champion",
            challenger=challenger_seasons.get(own_season, {}),
            champion=challenger_seasons.get(own_season, {}),
            season=own_season,
            version=candidate.version,
            champion_version=champion.version,
        )
    on_window, fallback = decide_on_window(candidate, champion, policy)
    if on_window is not None:
        return on_window
    versions = f"challenger v{candidate.version} vs champion v{champion.version}"
    if fallback:
        versions += f"; season-level: {fallback}"
    champion_seasons = season_metrics(champion.metrics, champion.eval_season)
    served, served_note = served_season_metrics(candidate, champion, policy.primary_metric)
    for served_season, values in served.items():
        if policy.primary_metric not in champion_seasons.get(served_season, {}):
            champion_seasons[served_season] = values
    season = choose_season(
        challenger_seasons, champion_seasons, policy.primary_metric, candidate.eval_season
    )
    if season is None:
        return GateDecision(
            promote=False,
            reason=(
                f"no evaluation season with {policy.primary_metric} in both versions: "
                f"challenger v{candidate.version} has {sorted(challenger_seasons)}, "
                f"champion v{champion.version} has {sorted(champion_seasons)}"
                + (f" (season-level: {fallback})" if fallback else "")
                + (f" ({served_note})" if served_note else "")
            ),
            challenger=challenger_seasons.get(own_season, {}),
            champion=None,
            season="",
            version=candidate.version,
            champion_version=champion.version,
        )
    promote, reason = compare_metrics(
        challenger_seasons[season], champion_seasons[season], policy, season
    )
    if season in served and champion_seasons[season] is served[season]:
        versions += f"; {served_note}"
    return GateDecision(
        promote=promote,
        reason=f"{reason} ({versions})",
        challenger=challenger_seasons[season],
        champion=champion_seasons[season],
        season=season,
        version=candidate.version,
        champion_version=champion.version,
    )


def decide_on_window(
    candidate: ModelVersionInfo, champion: ModelVersionInfo, policy: GatePolicy
) -> tuple[GateDecision | None, str]:
    """The decision on the candidate's in-season window, or None and why the season decides:
    no window (the reason recorded at training), or the window's scores are of another
    champion version than the current one, or the primary metric is missing."""
    tags = candidate.tags
    label = tags.get(WINDOW_TAG)
    if not label:
        return None, tags.get(WINDOW_FALLBACK_TAG, "")
    scored = tags.get(WINDOW_CHAMPION_TAG)
    if scored != champion.version:
        return None, (
            f"the in-season window {label} scored champion v{scored}, "
            f"the champion is now v{champion.version}"
        )
    challenger, served = window_metrics(candidate.metrics)
    primary = policy.primary_metric
    if primary not in challenger or primary not in served:
        return None, f"the in-season window {label} has no {primary} for both versions"
    promote, reason = compare_metrics(challenger, served, policy, WINDOW)
    how = (
        f"in-season window {label}, {tags.get(WINDOW_GAMES_TAG, '?')} games: challenger fit "
        f"through {tags.get(WINDOW_FIT_TAG, '?')}, champion v{champion.version} as served; "
        f"v{candidate.version} is that estimator refit through {tags.get(FIT_THROUGH_TAG, '?')}"
    )
    return (
        GateDecision(
            promote=promote,
            reason=f"{reason} ({how}; challenger v{candidate.version} vs champion "
            f"v{champion.version})",
            challenger=challenger,
            champion=served,
            season=candidate.eval_season or "",
            version=candidate.version,
            champion_version=champion.version,
            basis=WINDOW,
            window=label,
        ),
        "",
    )


def policy_for(candidate: ModelVersionInfo, policy: GatePolicy | None) -> GatePolicy:
    """``policy``, or the default policy of the candidate's ``task`` tag."""
    if policy is not None:
        return policy
    task = candidate.task
    if task not in DEFAULT_POLICIES:
        raise ValueError(
            f"{candidate.name} v{candidate.version} has task tag {task!r}; pass a policy or tag "
            f"the version with one of {sorted(DEFAULT_POLICIES)}"
        )
    return DEFAULT_POLICIES[task]


def evaluate_gate(
    tracking_uri: str, name: str, version: str | int, policy: GatePolicy | None = None
) -> GateDecision:
    """Compare version ``version`` of ``name`` with the current champion (read-only).

    ``policy`` defaults to ``DEFAULT_POLICIES[task]`` from the version's ``task`` tag.
    """
    from registry.versions import get_champion, get_version

    candidate = get_version(tracking_uri, name, version)
    return decide(candidate, get_champion(tracking_uri, name), policy_for(candidate, policy))
