"""Walk-forward backtest: for each test season, fit on the seasons before it, score on it.

Protocol (``walk_forward``):
- Test rows: the test season's *regular-season* rows with a known target (``home_win`` for
  games, ``pts`` for players).
- Training rows: played rows of every season strictly before the test season (by start year),
  regular season by default; ``train_playoffs=True`` adds the playoff rows of those earlier
  seasons (they end before the test season starts, so no look-ahead). ``max_train_seasons`` keeps
  only the most recent N earlier seasons.
- Models and baselines are fitted on the same training rows and scored on the same test rows.
- A task with no test rows in a test season (a folder without that season's player logs) is
  skipped for that season, with the reason kept in the plan and the report, unless its models
  were named: then the backtest fails.
- Training rows are passed in time order (the calibration folds of the tree models are
  contiguous stretches of the training seasons); nothing is calibrated on a test row.

The result holds the per-season metrics, the split of every test season (train seasons, row
counts), every row's predictions (for plots) and renders the CONTRACTS JSON and a Markdown report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator

from evaluation.intervals import (
    EDGES,
    MIN_ROWS,
    PointsInterval,
    bin_index,
    constant_interval,
    coverage,
    fit_interval,
)
from evaluation.metrics import (
    GAME_METRICS,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    POINTS_METRICS,
    calibration_table,
    game_metrics,
    mean_metrics,
    points_metrics,
    rotation_mask,
)
from ingest.normalize import season_types
from ingest.schema import PLAYOFFS, REGULAR, season_start_year
from training.baselines import BASELINES, make_baseline
from training.models import (
    GAME,
    GAME_MODELS,
    POINTS,
    POINTS_MODELS,
    default_feature_names,
    is_calibrated,
    make_model,
    task_of,
)
from training.params import DEFAULT_PARAMS, ModelParams
from training.plots import (
    interval_coverage_figure,
    reliability_figure,
    residuals_figure,
    season_metric_figure,
)

TASKS = (GAME, POINTS)
TARGET = {GAME: "home_win", POINTS: "pts"}
MODELS = {GAME: GAME_MODELS, POINTS: POINTS_MODELS}
METRICS = {GAME: GAME_METRICS, POINTS: POINTS_METRICS}
_ID_COLUMNS = {
    GAME: ("game_id", "game_date", "season", "home_team_id", "away_team_id"),
    POINTS: ("game_id", "game_date", "season", "player_id", "team_id"),
}

Progress = Callable[[str], None]


# Row selection ---------------------------------------------------------------------------------
def _start_years(frame: pd.DataFrame) -> pd.Series:
    seasons = frame["season"].astype(str)
    years = {s: season_start_year(s) for s in seasons.unique()}
    return seasons.map(years)


def eval_rows(frame: pd.DataFrame, task: str, test_season: str) -> pd.Series:
    """Mask of the rows scored for ``test_season``: its regular season, target known."""
    return (
        (frame["season"].astype(str) == test_season)
        & (season_types(frame) == REGULAR)
        & frame[TARGET[task]].notna()
    )


def train_rows(
    frame: pd.DataFrame,
    task: str,
    test_season: str,
    *,
    train_playoffs: bool = False,
    max_train_seasons: int | None = None,
) -> pd.Series:
    """Mask of the rows a model for ``test_season`` may learn from: played rows of earlier
    seasons only (regular season, plus playoffs if ``train_playoffs``)."""
    start = season_start_year(test_season)
    years = _start_years(frame)
    allowed = (REGULAR, PLAYOFFS) if train_playoffs else (REGULAR,)
    mask = (years < start) & season_types(frame).isin(allowed) & frame[TARGET[task]].notna()
    if max_train_seasons is not None:
        mask &= years >= start - max_train_seasons
    return mask


def time_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by date (then game and player id), stable."""
    keys = [c for c in ("game_date", "game_id", "player_id") if c in frame.columns]
    return frame.sort_values(keys, kind="stable")


# Fitting ---------------------------------------------------------------------------------------
def fit_estimator(
    name: str,
    train: pd.DataFrame,
    *,
    params: ModelParams | None = None,
    feature_names: Sequence[str] | None = None,
) -> BaseEstimator:
    """Fit a model or a baseline by name on ``train`` (rows in time order, target known)."""
    task = _task(name)
    if name.startswith("baseline-"):
        estimator = make_baseline(name)
    else:
        estimator = make_model(name, params, feature_names)
    return estimator.fit(train, train[TARGET[task]].astype(float).to_numpy())


def predict(estimator: BaseEstimator, frame: pd.DataFrame, task: str) -> np.ndarray:
    """P(home win) for games, predicted points for players."""
    if task == GAME:
        return np.asarray(estimator.predict_proba(frame))[:, 1]
    return np.asarray(estimator.predict(frame), dtype=float)


def _task(name: str) -> str:
    for task, names in BASELINES.items():
        if name in names:
            return task
    return task_of(name)


def score(task: str, frame: pd.DataFrame, predicted: np.ndarray) -> dict[str, float | int]:
    """The task's metrics for predictions on ``frame`` (which holds the target)."""
    y = frame[TARGET[task]].astype(float).to_numpy()
    if task == GAME:
        return game_metrics(y, predicted)
    return points_metrics(y, predicted, rotation_mask(frame).to_numpy())


# Result ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeasonSplit:
    """What one test season of one task was trained and scored on."""

    task: str
    test_season: str
    train_seasons: tuple[str, ...]
    n_train: int
    n_test: int


def _clean(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(value: Any, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if metric in ("n", "n_rotation"):
        return f"{int(value):,}"
    if metric == "accuracy":
        return f"{100 * value:.1f}%"
    if metric in ("mae", "rmse", "mae_rotation"):
        return f"{value:.3f}"
    return f"{value:.4f}"


def _best(rows: Mapping[str, Mapping[str, Any]], metric: str) -> set[str]:
    values = {
        name: m.get(metric)
        for name, m in rows.items()
        if m.get(metric) is not None and not math.isnan(m.get(metric))
    }
    if not values or metric not in LOWER_IS_BETTER | HIGHER_IS_BETTER:
        return set()
    target = min(values.values()) if metric in LOWER_IS_BETTER else max(values.values())
    return {name for name, v in values.items() if math.isclose(v, target, rel_tol=1e-12)}


def _season_span(seasons: Sequence[str]) -> str:
    if not seasons:
        return "(none)"
    if len(seasons) <= 2:
        return ", ".join(seasons)
    return f"{seasons[0]} … {seasons[-1]} ({len(seasons)} seasons)"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


@dataclass
class BacktestResult:
    """Metrics per task, model/baseline and test season, with the predictions behind them.

    ``metrics[task][name][season]`` holds the metric dict; ``predictions[task]`` one row per
    scored row (ids, target, ``rotation`` for points) and one column per model and baseline.
    ``skipped[(task, season)]`` says why a task was not scored on a test season.
    """

    test_seasons: tuple[str, ...]
    metrics: dict[str, dict[str, dict[str, dict[str, float | int]]]]
    splits: list[SeasonSplit]
    predictions: dict[str, pd.DataFrame]
    feature_names: dict[str, tuple[str, ...]]
    params: dict[str, dict[str, Any]]
    calibrated: dict[str, bool]
    train_playoffs: bool = False
    max_train_seasons: int | None = None
    fit_seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    # intervals[model][season]: the points interval calibrated before that season and the
    # one-size rule's half-width on the same rows (``calibrate_interval``).
    intervals: dict[str, dict[str, tuple[PointsInterval, float]]] = field(default_factory=dict)

    @property
    def game(self) -> dict[str, dict[str, dict[str, float | int]]]:
        return self.metrics.get(GAME, {})

    @property
    def points(self) -> dict[str, dict[str, dict[str, float | int]]]:
        return self.metrics.get(POINTS, {})

    def mean(self, task: str, name: str) -> dict[str, float | int]:
        """Mean over the test seasons (counts summed) of one model's metrics."""
        return mean_metrics(self.metrics[task][name])

    def seasons(self, task: str) -> tuple[str, ...]:
        """The test seasons ``task`` was scored on."""
        return tuple(s for s in self.test_seasons if (task, s) not in self.skipped)

    def to_dict(self) -> dict[str, dict[str, dict[str, dict[str, float | int | None]]]]:
        """The CONTRACTS JSON: ``{"game": {NAME: {SEASON: {...}, "mean": {...}}}, "points":
        {...}}``, models then baselines; NaN (e.g. no rotation rows) becomes ``None``."""
        out: dict[str, dict[str, dict[str, dict[str, float | int | None]]]] = {}
        for task in TASKS:
            out[task] = {}
            for name, per_season in self.metrics.get(task, {}).items():
                entry = {s: {k: _clean(v) for k, v in m.items()} for s, m in per_season.items()}
                entry["mean"] = {k: _clean(v) for k, v in mean_metrics(per_season).items()}
                out[task][name] = entry
        return out

    def calibration_tables(self) -> dict[str, pd.DataFrame]:
        """Reliability table per game model and baseline over all test seasons pooled."""
        frame = self.predictions.get(GAME)
        if frame is None:
            return {}
        y = frame[TARGET[GAME]].to_numpy()
        return {name: calibration_table(y, frame[name]) for name in self.game}

    def interval_coverage(self) -> dict[str, dict[str, dict[str, float | int]]]:
        """Per points model and test season: how often the actual points fell inside the
        interval (all rows, rotation players, and the lowest and highest share over the bins of
        predicted points holding ``MIN_ROWS`` rows or more) and its mean width, for the binned
        interval (``coverage``, ``coverage_rotation``, ``coverage_bin_min``,
        ``coverage_bin_max``, ``width``) and the one-size rule (the same with ``_one_size``),
        both calibrated before the season."""
        frame = self.predictions.get(POINTS)
        out: dict[str, dict[str, dict[str, float | int]]] = {}
        for name, per_season in self.intervals.items():
            out[name] = {}
            for season, (interval, half_width) in per_season.items():
                rows = frame.loc[frame["season"].astype(str) == season]
                y = rows[TARGET[POINTS]].to_numpy()
                rotation = rows["rotation"].to_numpy(dtype=bool)
                low, high = rows[f"{name}.low"].to_numpy(), rows[f"{name}.high"].to_numpy()
                p = rows[name].to_numpy()
                one_low, one_high = np.maximum(0.0, p - half_width), p + half_width
                out[name][season] = {
                    "level": interval.level,
                    "coverage": coverage(y, low, high),
                    "coverage_rotation": coverage(y[rotation], low[rotation], high[rotation]),
                    "width": float(np.mean(high - low)),
                    "coverage_one_size": coverage(y, one_low, one_high),
                    "coverage_rotation_one_size": coverage(
                        y[rotation], one_low[rotation], one_high[rotation]
                    ),
                    "width_one_size": float(np.mean(one_high - one_low)),
                    "n": len(y),
                }
                for suffix, (lo, hi) in (("", (low, high)), ("_one_size", (one_low, one_high))):
                    by_bin = _coverage_by_bin(y, p, lo, hi)
                    out[name][season][f"coverage_bin_min{suffix}"] = min(by_bin)
                    out[name][season][f"coverage_bin_max{suffix}"] = max(by_bin)
        return out

    def best_model(self, task: str) -> str:
        """The model (not a baseline) with the best mean primary metric: log loss for games,
        rotation-player MAE for points (all-rows MAE when no row is a rotation player's)."""
        models = [n for n in self.metrics[task] if n in MODELS[task]]
        if task == GAME:
            return min(models, key=lambda n: self.mean(task, n)["log_loss"])
        rotation = [n for n in models if not math.isnan(self.mean(task, n)["mae_rotation"])]
        key = "mae_rotation" if rotation else "mae"
        return min(rotation or models, key=lambda n: self.mean(task, n)[key])

    def figures(self) -> dict[str, tuple[str, Figure]]:
        """The report's figures by file name, each with its caption (the caller saves them):
        game calibration (models and Elo, test seasons pooled) and log loss per test season;
        rotation-player MAE per test season and the best points model's residuals."""
        out: dict[str, tuple[str, Figure]] = {}
        if self.game:
            frame = self.predictions[GAME]
            shown = [n for n in self.game if n in GAME_MODELS or n == "baseline-elo"]
            caption = "Calibration of the game models and Elo, test seasons pooled (ECE of the pooled games)"
            out["game_calibration.png"] = (
                caption,
                reliability_figure(
                    frame[TARGET[GAME]], {n: frame[n] for n in shown}, title=caption
                ),
            )
            caption = "Game log loss per test season (lower is better)"
            out["game_log_loss.png"] = (
                caption,
                self._season_figure(GAME, "log_loss", "log loss", caption),
            )
        if self.points:
            caption = "Rotation-player MAE per test season (lower is better)"
            out["points_mae_rotation.png"] = (
                caption,
                self._season_figure(POINTS, "mae_rotation", "MAE, rotation players", caption),
            )
            best = self.best_model(POINTS)
            frame = self.predictions[POINTS]
            caption = f"{best}: predicted against actual points, test seasons pooled"
            out["points_residuals.png"] = (
                caption,
                residuals_figure(frame[TARGET[POINTS]], frame[best], title=best),
            )
            if best in self.intervals:
                out["points_interval_coverage.png"] = (
                    f"{best}: how often the {self._level():.0%} interval held the actual points, "
                    "by predicted points, test seasons pooled",
                    self._coverage_figure(best),
                )
        return out

    def _level(self) -> float:
        return next(i.level for per in self.intervals.values() for i, _ in per.values())

    def _coverage_figure(self, name: str) -> Figure:
        frame = self.predictions[POINTS]
        rows = frame.loc[frame["season"].astype(str).isin(self.intervals[name])]
        half = rows["season"].astype(str).map({s: w for s, (_, w) in self.intervals[name].items()})
        p = rows[name].to_numpy()
        one_size = (np.maximum(0.0, p - half.to_numpy()), p + half.to_numpy())
        return interval_coverage_figure(
            rows[TARGET[POINTS]],
            p,
            {
                "by predicted points (served)": (rows[f"{name}.low"], rows[f"{name}.high"]),
                "one size: ± z x RMSE": one_size,
            },
            EDGES,
            self._level(),
            title=name,
        )

    def _season_figure(self, task: str, metric: str, label: str, title: str) -> Figure:
        values = {
            name: {s: float(per[s][metric]) for s in self.seasons(task) if s in per}
            for name, per in self.metrics[task].items()
        }
        return season_metric_figure(values, label, title)

    def to_markdown(self, figures: Mapping[str, str] | None = None) -> str:
        """A readable report: protocol, splits, a table per task, the figures (``figures``:
        file name -> caption, saved beside the report), calibration tables."""
        lines = ["# Walk-forward backtest", ""]
        kinds = "regular-season and playoff" if self.train_playoffs else "regular-season"
        window = (
            f"the {self.max_train_seasons} seasons" if self.max_train_seasons else "all seasons"
        )
        lines += [
            f"Test seasons: {', '.join(self.test_seasons)}. For each test season S, every model "
            f"and baseline is fitted on the played {kinds} rows of {window} before S and scored "
            "on S's regular-season rows with a known result. Features are as-of (only earlier "
            "dates feed a row). Tree and forest probabilities are calibrated with a sigmoid on "
            "contiguous folds of the training seasons; no test row is used for fitting or "
            "calibration. Means are unweighted over test seasons; `n` is summed. Best value per "
            "column in **bold**.",
            "",
            "## Splits",
            "",
        ]
        rows = [
            [
                s.task,
                s.test_season,
                _season_span(s.train_seasons),
                f"{s.n_train:,}",
                f"{s.n_test:,}",
            ]
            for s in self.splits
        ]
        lines += _markdown_table(
            ["task", "test season", "train seasons", "train rows", "test rows"], rows
        )
        if self.skipped:
            lines += ["", "## Skipped", ""]
            lines += [f"- {task} {season}: {why}" for (task, season), why in self.skipped.items()]
        for task, title in ((GAME, "Games (P(home win))"), (POINTS, "Player points")):
            if not self.metrics.get(task):
                continue
            lines += ["", f"## {title}", ""]
            lines += self._task_tables(task)
            lines += ["", "Features: " + ", ".join(f"`{f}`" for f in self.feature_names[task])]
        if figures:
            lines += ["", "## Figures", ""]
            for name, caption in figures.items():
                lines += [f"![{caption}]({name})", ""]
            lines.pop()
        if self.intervals:
            lines += ["", *self._interval_lines()]
        if self.game:
            lines += ["", "## Calibration (test seasons pooled, 10 equal-width bins)"]
            for name, table in self.calibration_tables().items():
                if name not in GAME_MODELS:
                    continue
                calibrated = "sigmoid calibrator" if self.calibrated.get(name) else "uncalibrated"
                lines += ["", f"### {name} ({calibrated})", ""]
                lines += _markdown_table(
                    ["bin", "mean predicted", "observed", "count"],
                    [
                        [
                            f"{r.lower:.1f}-{r.upper:.1f}",
                            f"{r.mean_predicted:.3f}",
                            f"{r.observed:.3f}",
                            f"{int(r.count):,}",
                        ]
                        for r in table.itertuples()
                    ],
                )
        return "\n".join(lines) + "\n"

    def _interval_lines(self) -> list[str]:
        level = self._level()
        lines = [
            f"## Points intervals ({level:.0%})",
            "",
            "For each test season, each points model is also fit on the training seasons before "
            "the last one; its residuals on the last one's regular season give the interval: "
            "their quantiles within bins of the predicted points (what the service returns), "
            "and, for comparison, one width for every prediction (± z x RMSE). Coverage: the "
            "share of the test season's actual points inside the interval; by predicted points: the "
            "lowest and highest share over the bins of predicted points (below 5, 5-10, ..., 30 "
            f"and more) that hold {MIN_ROWS} rows or more.",
            "",
        ]
        rows = []
        for name, per_season in self.interval_coverage().items():
            for season, c in per_season.items():
                rows.append(
                    [
                        name,
                        season,
                        f"{c['coverage']:.1%}",
                        f"{c['coverage_rotation']:.1%}",
                        _percent_range(c["coverage_bin_min"], c["coverage_bin_max"]),
                        f"{c['width']:.1f}",
                        f"{c['coverage_one_size']:.1%}",
                        f"{c['coverage_rotation_one_size']:.1%}",
                        _percent_range(
                            c["coverage_bin_min_one_size"], c["coverage_bin_max_one_size"]
                        ),
                        f"{c['width_one_size']:.1f}",
                    ]
                )
        lines += _markdown_table(
            [
                "model",
                "test season",
                "coverage",
                "coverage, rotation",
                "coverage by predicted points",
                "mean width",
                "one size: coverage",
                "one size: rotation",
                "one size: by predicted points",
                "one size: width",
            ],
            rows,
        )
        skipped = [
            f"{name} {season}"
            for name in self.metrics.get(POINTS, {})
            if name in POINTS_MODELS
            for season in self.seasons(POINTS)
            if season not in self.intervals.get(name, {})
        ]
        if skipped:
            lines += ["", "No interval (a single training season): " + ", ".join(skipped)]
        return lines

    def _task_tables(self, task: str) -> list[str]:
        metrics = METRICS[task]
        means = {name: mean_metrics(per) for name, per in self.metrics[task].items()}
        seasons = self.seasons(task)
        lines = [f"Mean over {len(seasons)} test season(s):", ""]
        best = {m: _best(means, m) for m in metrics}
        rows = []
        for name, m in means.items():
            cells = [_fmt(m[k], k) for k in metrics]
            cells = [
                f"**{c}**" if name in best[k] else c for c, k in zip(cells, metrics, strict=True)
            ]
            kind = "baseline" if name.startswith("baseline-") else "model"
            rows.append([name, kind, *cells])
        lines += _markdown_table(["name", "kind", *metrics], rows)
        key = ("accuracy", "log_loss", "brier") if task == GAME else ("mae", "mae_rotation")
        header = ["name"] + [f"{k} {s}" for s in seasons for k in key]
        rows = []
        per_season_best = {
            (s, k): _best({n: per[s] for n, per in self.metrics[task].items() if s in per}, k)
            for s in seasons
            for k in key
        }
        for name, per in self.metrics[task].items():
            cells = []
            for s in seasons:
                for k in key:
                    cell = _fmt(per.get(s, {}).get(k), k)
                    cells.append(f"**{cell}**" if name in per_season_best[(s, k)] else cell)
            rows.append([name, *cells])
        lines += ["", "Per test season:", ""]
        lines += _markdown_table(header, rows)
        return lines


def _percent_range(low: float, high: float) -> str:
    return f"{100 * low:.0f}-{100 * high:.0f}%"


def _coverage_by_bin(y, predicted, low, high) -> list[float]:
    """Coverage within each bin of the predicted points (``EDGES``) holding ``MIN_ROWS`` rows
    or more (all rows as one bin when none does)."""
    which = bin_index(predicted)
    shares = [
        coverage(y[which == b], low[which == b], high[which == b])
        for b in range(len(EDGES) + 1)
        if (which == b).sum() >= MIN_ROWS
    ]
    return shares or [coverage(y, low, high)]


# Walk-forward ----------------------------------------------------------------------------------
def _resolve_models(models: Sequence[str] | None, frames: Mapping[str, pd.DataFrame | None]):
    if models is None:
        return {t: MODELS[t] for t in TASKS if frames[t] is not None}
    unknown = [m for m in models if m not in GAME_MODELS + POINTS_MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}")
    chosen = {t: tuple(m for m in MODELS[t] if m in models) for t in TASKS}
    for task, names in chosen.items():
        if names and frames[task] is None:
            raise ValueError(f"models {names} need the {task} frame")
    return {t: names for t, names in chosen.items() if names}


_BASELINE_INPUTS = {
    GAME: ("home_win_pct", "away_win_pct", "elo_home_prob"),
    POINTS: ("pts_avg_season", "pts_avg_10", "min_avg_season"),
}


def _require_columns(frame: pd.DataFrame, task: str, feature_names: Sequence[str]) -> None:
    needed = ("season", "game_id", TARGET[task], *_BASELINE_INPUTS[task], *feature_names)
    missing = sorted(set(needed) - set(frame.columns))
    if missing:
        raise ValueError(f"the {task} frame lacks columns {missing}")


@dataclass(frozen=True)
class BacktestPlan:
    """What a walk-forward runs: the test seasons, the models of each task, their features and
    parameters, and the training window. Small: it is sent along with every fold."""

    test_seasons: tuple[str, ...]
    models: dict[str, tuple[str, ...]]
    feature_names: dict[str, tuple[str, ...]]
    params: dict[str, ModelParams]
    train_playoffs: bool = False
    max_train_seasons: int | None = None
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    intervals: bool = True  # calibrate each points model's interval (``calibrate_interval``)

    def seasons(self, task: str) -> tuple[str, ...]:
        """The test seasons ``task`` is scored on: all but those it is skipped for."""
        return tuple(s for s in self.test_seasons if (task, s) not in self.skipped)

    def estimators(self, task: str) -> tuple[str, ...]:
        """The task's models, then its baselines."""
        return (*self.models[task], *BASELINES[task])

    def folds(self) -> list[tuple[str, str, str]]:
        """Every ``(task, test season, model or baseline)``: the independent units of work."""
        return [
            (task, season, name)
            for task in self.models
            for season in self.seasons(task)
            for name in self.estimators(task)
        ]


def plan_backtest(
    game_frame: pd.DataFrame | None,
    player_frame: pd.DataFrame | None,
    test_seasons: Sequence[str],
    *,
    params: Mapping[str, ModelParams] = DEFAULT_PARAMS,
    models: Sequence[str] | None = None,
    game_features: Sequence[str] | None = None,
    player_features: Sequence[str] | None = None,
    train_playoffs: bool = False,
    max_train_seasons: int | None = None,
    skip: Mapping[tuple[str, str], str] | None = None,
    intervals: bool = True,
) -> BacktestPlan:
    """The plan of ``walk_forward`` (same arguments). ``skip`` names ``(task, test season)``
    pairs the caller already knows hold no test rows, with the reason (e.g. a folder without
    that season's player logs). ``intervals=False`` leaves the points intervals out (one fit
    less per points model and test season).

    A task is skipped for a test season its frame has no test rows of (or ``skip`` names); the
    reason is kept in the plan. Without ``models`` such a task is dropped from a season (from the
    plan when no season is left); models named in ``models`` must be scored on every test
    season. Raises ValueError on no test season, an unknown model, a missing frame, missing
    columns, a named model's task without test rows, or nothing left to score."""
    if not test_seasons:
        raise ValueError("no test seasons")
    seasons = tuple(sorted(dict.fromkeys(test_seasons), key=season_start_year))
    frames = {GAME: game_frame, POINTS: player_frame}
    chosen = _resolve_models(models, frames)
    feature_names = {
        task: tuple(
            (game_features if task == GAME else player_features) or default_feature_names(task)
        )
        for task in chosen
    }
    for task in chosen:
        _require_columns(frames[task], task, feature_names[task])
    skipped = _skipped_seasons(frames, chosen, seasons, skip or {})
    if models is not None:
        skipped = {key: why for key, why in skipped.items() if key[0] in chosen}
        if skipped:
            (task, season), why = next(iter(skipped.items()))
            raise ValueError(f"{task}: no test rows for test season {season} ({why})")
    chosen = {
        t: names for t, names in chosen.items() if any((t, s) not in skipped for s in seasons)
    }
    if not chosen:
        raise ValueError("nothing to score: " + "; ".join(skipped.values()))
    return BacktestPlan(
        test_seasons=seasons,
        models=chosen,
        feature_names=feature_names,
        params={**DEFAULT_PARAMS, **params},
        train_playoffs=train_playoffs,
        max_train_seasons=max_train_seasons,
        skipped=skipped,
        intervals=intervals,
    )


def _skipped_seasons(
    frames: Mapping[str, pd.DataFrame | None],
    tasks: Sequence[str],
    seasons: Sequence[str],
    skip: Mapping[tuple[str, str], str],
) -> dict[tuple[str, str], str]:
    """``skip`` (its entries of ``seasons``) plus every ``(task, season)`` of ``tasks`` whose
    frame holds no test rows of that season, each with its reason, in task and season order."""
    skipped = {}
    for task in TASKS:
        for season in seasons:
            if (task, season) in skip:
                skipped[(task, season)] = skip[(task, season)]
            elif task in tasks and not eval_rows(frames[task], task, season).any():
                target = TARGET[task]
                skipped[(task, season)] = (
                    f"no regular-season rows with a known {target} in {season}"
                )
    return skipped


def scored_rows(frame: pd.DataFrame, task: str, test_season: str) -> pd.DataFrame:
    """The rows scored for ``test_season``, in time order."""
    return time_order(frame.loc[eval_rows(frame, task, test_season)])


def season_split(
    frame: pd.DataFrame, task: str, test_season: str, plan: BacktestPlan
) -> tuple[SeasonSplit, pd.DataFrame, pd.DataFrame]:
    """The split of one test season and its training and test rows, in time order; raises
    ValueError when either is empty."""
    train = time_order(
        frame.loc[
            train_rows(
                frame,
                task,
                test_season,
                train_playoffs=plan.train_playoffs,
                max_train_seasons=plan.max_train_seasons,
            )
        ]
    )
    test = scored_rows(frame, task, test_season)
    if train.empty or test.empty:
        which = "training" if train.empty else "test"
        raise ValueError(f"{task}: no {which} rows for test season {test_season}")
    train_seasons = tuple(sorted(train["season"].astype(str).unique(), key=season_start_year))
    return SeasonSplit(task, test_season, train_seasons, len(train), len(test)), train, test


@dataclass(frozen=True)
class FoldScore:
    """One model or baseline fitted on a split's training rows and scored on its test rows."""

    name: str
    split: SeasonSplit
    metrics: dict[str, float | int]
    predicted: np.ndarray
    fit_seconds: float
    # A points model's interval, calibrated before the test season (see ``calibrate_interval``),
    # and the half-width of the one-size rule on the same rows; None for the rest.
    interval: PointsInterval | None = None
    constant_half_width: float | None = None


def calibrate_interval(
    name: str, train: pd.DataFrame, plan: BacktestPlan
) -> tuple[PointsInterval, float] | None:
    """The interval of a points model for a test season, from training rows only: the model is
    fit on the training seasons before the last one and its residuals on the last one's regular
    season give the quantiles (``fit_interval``) and the one-size half-width. None with a
    single training season."""
    last = max(train["season"].astype(str).unique(), key=season_start_year)
    earlier = _start_years(train) < season_start_year(last)
    held = eval_rows(train, POINTS, last)
    if not earlier.any() or not held.any():
        return None
    fitted = fit_estimator(
        name,
        train.loc[earlier],
        params=plan.params.get(name),
        feature_names=plan.feature_names[POINTS],
    )
    rows = train.loc[held]
    actual = rows[TARGET[POINTS]].astype(float).to_numpy()
    predicted = predict(fitted, rows, POINTS)
    basis = f"residuals on {last} ({len(rows):,} player-games) of a fit on the seasons before"
    return fit_interval(actual, predicted, basis=basis), constant_interval(actual, predicted)


def score_fold(
    name: str, split: SeasonSplit, train: pd.DataFrame, test: pd.DataFrame, plan: BacktestPlan
) -> FoldScore:
    """Fit ``name`` on ``train``, predict and score ``test`` (the work of one fold); a points
    model's interval is calibrated on the training rows too."""
    started = time.perf_counter()
    fitted = fit_estimator(
        name, train, params=plan.params.get(name), feature_names=plan.feature_names[split.task]
    )
    seconds = time.perf_counter() - started
    predicted = predict(fitted, test, split.task)
    fold = FoldScore(name, split, score(split.task, test, predicted), predicted, seconds)
    if plan.intervals and name in POINTS_MODELS:
        calibrated = calibrate_interval(name, train, plan)
        if calibrated is not None:
            fold = replace(fold, interval=calibrated[0], constant_half_width=calibrated[1])
    return fold


def run_fold(
    frame: pd.DataFrame, task: str, test_season: str, name: str, plan: BacktestPlan
) -> FoldScore:
    """One fold on its own, from the task's whole frame: split, fit, score."""
    split, train, test = season_split(frame, task, test_season, plan)
    return score_fold(name, split, train, test, plan)


def collect_backtest(
    plan: BacktestPlan,
    tests: Mapping[tuple[str, str], pd.DataFrame],
    scores: Sequence[FoldScore],
) -> BacktestResult:
    """The result of every fold of ``plan``; ``tests[(task, season)]`` holds the test rows."""
    by_fold = {(s.split.task, s.split.test_season, s.name): s for s in scores}
    missing = [fold for fold in plan.folds() if fold not in by_fold]
    if missing:
        raise ValueError(f"no score for folds {missing}")
    metrics: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    predictions: dict[str, pd.DataFrame] = {}
    splits: list[SeasonSplit] = []
    fit_seconds: dict[str, float] = {}
    intervals: dict[str, dict[str, tuple[PointsInterval, float]]] = {}
    for task in plan.models:
        estimators = plan.estimators(task)
        metrics[task] = {name: {} for name in estimators}
        pieces = []
        for season in plan.seasons(task):
            test = tests[(task, season)]
            splits.append(by_fold[(task, season, estimators[0])].split)
            out = test.loc[:, [c for c in _ID_COLUMNS[task] if c in test.columns]].copy()
            out[TARGET[task]] = test[TARGET[task]].astype(float)
            if task == POINTS:
                out["rotation"] = rotation_mask(test)
            for name in estimators:
                fold = by_fold[(task, season, name)]
                out[name] = fold.predicted
                metrics[task][name][season] = fold.metrics
                fit_seconds[f"{name}.{season}"] = fold.fit_seconds
                if fold.interval is not None:
                    out[f"{name}.low"], out[f"{name}.high"] = fold.interval.bounds(fold.predicted)
                    intervals.setdefault(name, {})[season] = (
                        fold.interval,
                        fold.constant_half_width,
                    )
            pieces.append(out)
        predictions[task] = pd.concat(pieces, ignore_index=True)
    used = [n for names in plan.models.values() for n in names]
    return BacktestResult(
        test_seasons=plan.test_seasons,
        metrics=metrics,
        splits=splits,
        predictions=predictions,
        feature_names=plan.feature_names,
        params={n: plan.params[n].as_dict() for n in used},
        calibrated={n: is_calibrated(n, plan.params[n]) for n in used if n in GAME_MODELS},
        train_playoffs=plan.train_playoffs,
        max_train_seasons=plan.max_train_seasons,
        fit_seconds=fit_seconds,
        skipped=plan.skipped,
        intervals=intervals,
    )


def walk_forward(
    game_frame: pd.DataFrame | None,
    player_frame: pd.DataFrame | None,
    test_seasons: Sequence[str],
    *,
    params: Mapping[str, ModelParams] = DEFAULT_PARAMS,
    models: Sequence[str] | None = None,
    progress: Progress | None = None,
    game_features: Sequence[str] | None = None,
    player_features: Sequence[str] | None = None,
    train_playoffs: bool = False,
    max_train_seasons: int | None = None,
    skip: Mapping[tuple[str, str], str] | None = None,
    intervals: bool = True,
) -> BacktestResult:
    """Walk-forward evaluation of the models (default: all models of every task whose frame is
    given) and every baseline of those tasks on ``test_seasons``, in this process.

    ``params`` may be partial: missing names take ``DEFAULT_PARAMS``. ``game_features`` /
    ``player_features`` default to ``features.GAME_FEATURES`` / ``PLAYER_FEATURES``. Inputs are
    not modified. A task without test rows in a test season is skipped for it (see
    ``plan_backtest``; a named model's task fails instead). Raises ValueError when a test season
    has no training rows.
    Each season is split once and every fold of it scored with ``score_fold``; a flow can run
    the folds elsewhere with ``run_fold`` and assemble them with ``collect_backtest``.
    """
    plan = plan_backtest(
        game_frame,
        player_frame,
        test_seasons,
        params=params,
        models=models,
        game_features=game_features,
        player_features=player_features,
        train_playoffs=train_playoffs,
        max_train_seasons=max_train_seasons,
        skip=skip,
        intervals=intervals,
    )
    frames = {GAME: game_frame, POINTS: player_frame}
    tests: dict[tuple[str, str], pd.DataFrame] = {}
    scores: list[FoldScore] = []
    for task in plan.models:
        for season in plan.seasons(task):
            split, train, test = season_split(frames[task], task, season, plan)
            tests[(task, season)] = test
            for name in plan.estimators(task):
                if progress is not None:
                    progress(f"{task} {season}: fitting {name} on {len(train):,} rows")
                scores.append(score_fold(name, split, train, test, plan))
    return collect_backtest(plan, tests, scores)
