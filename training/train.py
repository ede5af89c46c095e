"""Models for serving: evaluate on one season walk-forward, then refit through that season.

``train_final`` returns ``TrainedModel`` objects and writes nothing; the caller (a flow, through
``registry/``) logs the model, its params, metrics, tags and figures.

Metric keys (CONTRACTS, registry): ``"{metric}"`` and ``"{metric}.{eval_season}"`` for the model
trained on the seasons *before* ``eval_season`` and scored on its regular season, and
``"baseline.{name}.{metric}"`` for every baseline of the task on the same rows. Metrics that are
undefined (NaN) are left out. The returned ``model`` is then refitted on every season up to and
including ``eval_season`` (``train_seasons``), so it is the model to serve for the next season.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.pipeline import Pipeline

from evaluation.intervals import PointsInterval, fit_interval
from ingest.normalize import season_types
from ingest.schema import PLAYOFFS, REGULAR, season_label, season_start_year
from training.backtest import (
    TARGET,
    BacktestResult,
    Progress,
    eval_rows,
    fit_estimator,
    predict,
    score,
    time_order,
    train_rows,
    walk_forward,
)
from training.baselines import BASELINES
from training.models import GAME, POINTS, feature_importances, importance_kind, task_of
from training.params import DEFAULT_PARAMS, ModelParams
from training.plots import calibration_figure, importance_figure, residuals_figure, roc_figure

INPUT_EXAMPLE_ROWS = 5


@dataclass
class TrainedModel:
    """A fitted pipeline with everything a registry needs to log it."""

    name: str
    task: str
    model: Pipeline
    params: dict[str, Any]
    metrics: dict[str, float]
    train_seasons: tuple[str, ...]
    eval_season: str
    feature_names: tuple[str, ...]
    input_example: pd.DataFrame
    figures: dict[str, Figure] = field(default_factory=dict)
    fit_through: str = ""  # ISO date of the newest training row of ``model``
    # Points models: the interval served with each prediction, from the evaluation season's
    # residuals of the model fit before it (``evaluation.intervals``).
    interval: PointsInterval | None = None


def _metric_keys(result: BacktestResult, task: str, name: str, season: str) -> dict[str, float]:
    out: dict[str, float] = {}

    def put(key: str, value: float | int) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out[key] = float(value)

    for metric, value in result.metrics[task][name][season].items():
        put(metric, value)
        put(f"{metric}.{season}", value)
    for baseline in BASELINES[task]:
        for metric, value in result.metrics[task][baseline][season].items():
            put(f"baseline.{baseline}.{metric}", value)
    return out


def _figures(
    name: str, task: str, model: Pipeline, result: BacktestResult, season: str
) -> dict[str, Figure]:
    preds = result.predictions[task]
    preds = preds.loc[preds["season"] == season]
    y = preds[TARGET[task]].to_numpy()
    label = f"{name}, {season} (trained on earlier seasons)"
    kind = importance_kind(model)
    figures = {
        f"{kind}s": importance_figure(
            feature_importances(model), kind, f"{name}: {kind}s (final model)"
        )
    }
    if task == GAME:
        figures["calibration"] = calibration_figure(y, preds[name], f"Calibration: {label}")
        figures["roc"] = roc_figure(y, preds[name], f"ROC: {label}")
    else:
        figures["residuals"] = residuals_figure(y, preds[name], f"Residuals: {label}")
    return figures


def train_final(
    game_frame: pd.DataFrame | None,
    player_frame: pd.DataFrame | None,
    *,
    eval_season: str,
    params: Mapping[str, ModelParams] = DEFAULT_PARAMS,
    models: Sequence[str] | None = None,
    game_features: Sequence[str] | None = None,
    player_features: Sequence[str] | None = None,
    train_playoffs: bool = False,
    max_train_seasons: int | None = None,
    make_figures: bool = True,
    progress: Progress | None = None,
) -> list[TrainedModel]:
    """Evaluate every chosen model on ``eval_season`` (trained on the seasons before it), then
    refit it on all seasons through ``eval_season``. One ``TrainedModel`` per model, in
    ``GAME_MODELS + POINTS_MODELS`` order; a task is skipped when its frame is None."""
    result = walk_forward(
        game_frame,
        player_frame,
        [eval_season],
        params=params,
        models=models,
        progress=progress,
        game_features=game_features,
        player_features=player_features,
        train_playoffs=train_playoffs,
        max_train_seasons=max_train_seasons,
        # The served interval comes from the evaluation season's residuals (``_interval``),
        # not from a calibration on the season before it.
        intervals=False,
    )
    all_params = {**DEFAULT_PARAMS, **params}
    frames = {GAME: game_frame, POINTS: player_frame}
    # Everything up to and including eval_season = everything before the season after it.
    next_season = season_label(season_start_year(eval_season) + 1)
    trained: list[TrainedModel] = []
    for task in (GAME, POINTS):
        if task not in result.metrics:
            continue
        frame = frames[task]
        rows = train_rows(
            frame,
            task,
            next_season,
            train_playoffs=train_playoffs,
            max_train_seasons=max_train_seasons,
        )
        final_train = time_order(frame.loc[rows])
        seasons = tuple(sorted(final_train["season"].astype(str).unique(), key=season_start_year))
        names = result.feature_names[task]
        example = final_train.loc[:, list(names)].tail(INPUT_EXAMPLE_ROWS).reset_index(drop=True)
        for name in result.metrics[task]:
            if name.startswith("baseline-") or task_of(name) != task:
                continue
            if progress is not None:
                progress(
                    f"{task}: refitting {name} on {len(final_train):,} rows through {eval_season}"
                )
            model = fit_estimator(name, final_train, params=all_params[name], feature_names=names)
            trained.append(
                TrainedModel(
                    name=name,
                    task=task,
                    model=model,
                    params=all_params[name].as_dict(),
                    metrics=_metric_keys(result, task, name, eval_season),
                    train_seasons=seasons,
                    eval_season=eval_season,
                    feature_names=names,
                    input_example=example,
                    figures=_figures(name, task, model, result, eval_season)
                    if make_figures
                    else {},
                    fit_through=final_train["game_date"].max().date().isoformat(),
                    interval=_interval(result, name, eval_season) if task == POINTS else None,
                )
            )
    return trained


def _interval(result: BacktestResult, name: str, eval_season: str) -> PointsInterval:
    """The points interval from ``name``'s residuals on the evaluation season (it was fit on
    the seasons before): what the version serves for the season after it."""
    rows = result.predictions[POINTS]
    basis = f"residuals on {eval_season} ({len(rows):,} player-games) of the fit before it"
    return fit_interval(rows[TARGET[POINTS]], rows[name], basis=basis)


# New data since a version's fit -----------------------------------------------------------------
def games_after_fit(
    games: pd.DataFrame,
    fit_through: pd.Timestamp | None,
    train_seasons: Sequence[str],
    before: pd.Timestamp | None = None,
) -> int | None:
    """Played games (both scores stored) a version was not fit on: dated after ``fit_through``
    (without it: of seasons outside ``train_seasons``), and before ``before`` when given. None
    when the version records neither. Retraining with none gives the same model."""
    played = games.loc[games["home_pts"].notna() & games["away_pts"].notna()]
    days = pd.to_datetime(played["game_date"]).dt.normalize()
    if fit_through is not None:
        new = days > fit_through.normalize()
    elif train_seasons:
        new = ~played["season"].astype(str).isin(list(train_seasons))
    else:
        return None
    if before is not None:
        new &= days < before
    return int(new.sum())


# In-season evaluation window -------------------------------------------------------------------
@dataclass(frozen=True)
class EvalWindow:
    """The played regular-season rows of ``season`` dated after ``fit_through`` and up to
    ``through`` (days). A challenger scored on it is fit on rows dated up to ``fit_through``."""

    season: str
    fit_through: pd.Timestamp
    through: pd.Timestamp

    @property
    def first_day(self) -> pd.Timestamp:
        return self.fit_through + pd.Timedelta(days=1)

    @property
    def label(self) -> str:
        return f"{self.first_day.date().isoformat()}..{self.through.date().isoformat()}"


@dataclass(frozen=True)
class WindowScores:
    """A challenger (fit through the window's start) and a served champion on the same window."""

    window: EvalWindow
    n_games: int
    n_train: int
    challenger: dict[str, float]
    champion: dict[str, float]


def window_mask(frame: pd.DataFrame, task: str, window: EvalWindow) -> pd.Series:
    """Mask of the rows scored on ``window``: regular season of its season, target known,
    dated in (``fit_through``, ``through``]."""
    dates = frame["game_date"]
    return (
        eval_rows(frame, task, window.season)
        & (dates > window.fit_through)
        & (dates <= window.through)
    )


def rows_through(
    frame: pd.DataFrame, task: str, day: pd.Timestamp, *, train_playoffs: bool = False
) -> pd.Series:
    """Mask of the played rows dated up to ``day`` (regular season, plus playoffs if asked)."""
    allowed = (REGULAR, PLAYOFFS) if train_playoffs else (REGULAR,)
    return (
        (frame["game_date"] <= day)
        & season_types(frame).isin(allowed)
        & frame[TARGET[task]].notna()
    )


def choose_window(
    frame: pd.DataFrame,
    task: str,
    season: str,
    *,
    champion_fit_through: pd.Timestamp,
    days: int,
    min_games: int,
) -> tuple[EvalWindow | None, str]:
    """The in-season window of ``season``, or None, and why.

    The window ends on D, the last played day of ``season``, and starts after
    ``max(D - days, champion_fit_through)``: no row of it is one the champion was fit on. When
    that start leaves the challenger no game the champion was not fit on (every game since the
    champion's fit falls in the window), the challenger would be the champion's own fit and
    score the same: the window is then the later half of the game days since the champion's
    fit, and the challenger is fit on the earlier half. None when ``days`` is 0, no game was
    played after the champion's fit (or on one day only), or the window holds fewer than
    ``min_games`` games.
    """
    if days <= 0:
        return None, "in-season window off"
    played = frame.loc[eval_rows(frame, task, season)]
    if played.empty:
        return None, f"no played regular-season game of {season}"
    through = played["game_date"].max()
    if through <= champion_fit_through:
        return None, (
            f"no game of {season} after the champion's fit ({champion_fit_through.date()})"
        )
    start = max(through - pd.Timedelta(days=days), champion_fit_through)
    new_days = np.sort(played.loc[played["game_date"] > champion_fit_through, "game_date"].unique())
    halved = not (new_days <= start).any()
    if halved:
        if len(new_days) < 2:
            return None, (
                f"one game day of {season} since the champion's fit: none to fit a challenger "
                "on before a window"
            )
        start = pd.Timestamp(new_days[len(new_days) // 2 - 1])
    window = EvalWindow(season=season, fit_through=start, through=through)
    n_games = played.loc[window_mask(played, task, window), "game_id"].nunique()
    if n_games < min_games:
        return None, f"in-season window {window.label} holds {n_games} games (< {min_games})"
    why = f"in-season window {window.label}: {n_games} games"
    if halved:
        why += (
            f" (the later half of the {len(new_days)} game days since the champion's fit: "
            "the challenger is fit on the earlier half)"
        )
    return window, why


def _finite(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def score_window(
    name: str,
    frame: pd.DataFrame,
    window: EvalWindow,
    champion: Any,
    *,
    params: Mapping[str, ModelParams] = DEFAULT_PARAMS,
    feature_names: Sequence[str] | None = None,
    train_playoffs: bool = False,
) -> WindowScores:
    """Fit ``name`` on the rows dated up to the window's start, then score it and the fitted
    ``champion`` (as it is) on the window's rows. Raises when a training row is not strictly
    older than every scored row."""
    task = task_of(name)
    test = time_order(frame.loc[window_mask(frame, task, window)])
    train = time_order(
        frame.loc[rows_through(frame, task, window.fit_through, train_playoffs=train_playoffs)]
    )
    if test.empty or train.empty:
        raise ValueError(f"window {window.label}: {len(train)} training rows, {len(test)} scored")
    if train["game_date"].max() >= test["game_date"].min():
        raise ValueError(f"window {window.label}: a training row is not older than the window")
    all_params = {**DEFAULT_PARAMS, **params}
    model = fit_estimator(name, train, params=all_params[name], feature_names=feature_names)
    return WindowScores(
        window=window,
        n_games=int(test["game_id"].nunique()),
        n_train=len(train),
        challenger=_finite(score(task, test, predict(model, test, task))),
        champion=_finite(score(task, test, predict(champion, test, task))),
    )


# The champion on a season it never saw ----------------------------------------------------------
@dataclass(frozen=True)
class SeasonScores:
    """A served champion scored on the regular season a challenger was evaluated on."""

    season: str
    n_games: int
    champion: dict[str, float]


def season_unseen_by(
    frame: pd.DataFrame, task: str, season: str, champion_fit_through: pd.Timestamp
) -> str:
    """Why the champion cannot be scored on ``season``'s evaluation rows, or "" when it can:
    there are some, and all are dated after ``champion_fit_through``."""
    dates = frame.loc[eval_rows(frame, task, season), "game_date"]
    if dates.empty:
        return f"no played regular-season game of {season}"
    if dates.min() <= champion_fit_through:
        return (
            f"the champion was fit through {champion_fit_through.date()}, "
            f"on games of {season} (from {dates.min().date()})"
        )
    return ""


def score_on_season(frame: pd.DataFrame, task: str, season: str, champion: Any) -> SeasonScores:
    """The fitted ``champion``, as it is, on the rows a challenger evaluated on ``season`` is
    scored on (``eval_rows``); the caller checks with ``season_unseen_by`` first."""
    test = time_order(frame.loc[eval_rows(frame, task, season)])
    return SeasonScores(
        season=season,
        n_games=int(test["game_id"].nunique()),
        champion=_finite(score(task, test, predict(champion, test, task))),
    )
