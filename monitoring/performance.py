"""Live model performance: logged predictions joined with the games once they are played.

Pure pandas: the caller reads the prediction log and the store. Every played game (or
player-game) counts once: the last prediction made for it by the model before its day ended
(``monitoring.predictions.made_in_time``) is the one scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.intervals import coverage
from evaluation.metrics import calibration_table, game_metrics, points_metrics
from monitoring.predictions import (
    GAME,
    POINTS,
    feature_rows,
    latest_per_target,
    logged_intervals,
    made_in_time,
    predicted_values,
)

# Metrics compared with the version's backtest figures, and the direction of a drop.
WATCHED = {GAME: "log_loss", POINTS: "mae"}
ELO_COLUMN = "elo_home_prob"


def join_game_results(predictions: pd.DataFrame, games: pd.DataFrame) -> pd.DataFrame:
    """One row per played game that has a prediction: the game, ``home_win`` and the last
    prediction made for it before its day ended (``prediction``, ``model_name``,
    ``model_version``, ``created_at``, and ``elo_home_prob`` when the features were logged).

    ``predictions`` is the log of one game model (``read_predictions``), ``games`` the stored
    games (unplayed ones, without points, are left out).
    """
    columns = [
        "game_id",
        "game_date",
        "season",
        "season_type",
        "home_team_id",
        "away_team_id",
        "home_win",
        "prediction",
        "model_name",
        "model_version",
        "created_at",
        ELO_COLUMN,
    ]
    if predictions.empty or games.empty:
        return pd.DataFrame(columns=columns)
    preds = latest_per_target(predictions.loc[made_in_time(predictions)], GAME)
    preds = preds.loc[preds[["home_team_id", "away_team_id"]].notna().all(axis=1)].copy()
    preds["prediction"] = predicted_values(preds, GAME)
    preds[ELO_COLUMN] = feature_rows(preds, [ELO_COLUMN])[ELO_COLUMN]
    preds = preds.loc[preds["prediction"].notna()]
    # One prediction per game even if several model names were passed: the last made.
    preds = preds.drop_duplicates(["day", "home_team_id", "away_team_id"], keep="last")
    played = games.loc[games["home_pts"].notna() & games["away_pts"].notna()].copy()
    played["day"] = pd.to_datetime(played["game_date"]).dt.normalize().astype("datetime64[ns]")
    played["home_win"] = (played["home_pts"] > played["away_pts"]).astype(float)
    keys = ["day", "home_team_id", "away_team_id"]
    for frame in (preds, played):
        frame["home_team_id"] = frame["home_team_id"].astype("int64")
        frame["away_team_id"] = frame["away_team_id"].astype("int64")
    joined = played.drop(columns=["game_date"]).merge(
        preds[[*keys, "prediction", "model_name", "model_version", "created_at", ELO_COLUMN]],
        on=keys,
        how="inner",
        validate="one_to_one",
    )
    joined["game_date"] = joined["day"]
    return joined.sort_values(["game_date", "game_id"], ignore_index=True).loc[:, columns]


def join_points_results(predictions: pd.DataFrame, player_games: pd.DataFrame) -> pd.DataFrame:
    """One row per played player-game that has a prediction: ``pts`` and the last
    ``prediction`` made for it, its interval (``interval_low``, ``interval_high``,
    ``interval_level``; NaN when none was logged), with the model name and version."""
    logged = [
        "prediction",
        "interval_low",
        "interval_high",
        "interval_level",
        "model_name",
        "model_version",
        "created_at",
    ]
    columns = ["game_id", "game_date", "season", "player_id", "team_id", "pts", *logged]
    if predictions.empty or player_games.empty:
        return pd.DataFrame(columns=columns)
    preds = latest_per_target(predictions.loc[made_in_time(predictions)], POINTS)
    preds = preds.loc[preds["player_id"].notna()].copy()
    preds["prediction"] = predicted_values(preds, POINTS)
    preds[["interval_low", "interval_high", "interval_level"]] = logged_intervals(preds)
    preds = preds.loc[preds["prediction"].notna()]
    preds = preds.drop_duplicates(["day", "player_id"], keep="last")
    preds["player_id"] = preds["player_id"].astype("int64")
    played = player_games.loc[player_games["pts"].notna()].copy()
    played["day"] = pd.to_datetime(played["game_date"]).dt.normalize().astype("datetime64[ns]")
    played["player_id"] = played["player_id"].astype("int64")
    played = played.drop_duplicates(["day", "player_id"], keep="last")
    joined = played.drop(columns=["game_date"]).merge(
        preds[["day", "player_id", *logged]],
        on=["day", "player_id"],
        how="inner",
        validate="one_to_one",
    )
    joined["game_date"] = joined["day"]
    joined["pts"] = joined["pts"].astype(float)
    return joined.sort_values(["game_date", "game_id", "player_id"], ignore_index=True).loc[
        :, columns
    ]


@dataclass(frozen=True)
class PerformanceSummary:
    """Live metrics of one model version next to its backtest figures."""

    task: str
    n: int
    live: dict[str, float]
    backtest: dict[str, float]
    watched: str
    rise: float | None
    threshold: float
    min_rows: int
    calibration: list[dict[str, float]] = field(default_factory=list)

    @property
    def enough_rows(self) -> bool:
        return bool(self.n >= self.min_rows)

    @property
    def dropped(self) -> bool:
        """The watched metric rose above its backtest figure by more than the threshold, on
        enough rows to say so."""
        return bool(self.enough_rows and self.rise is not None and self.rise > self.threshold)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n": self.n,
            "live": self.live,
            "backtest": self.backtest,
            "watched": self.watched,
            "rise": self.rise,
            "threshold": self.threshold,
            "min_rows": self.min_rows,
            "enough_rows": self.enough_rows,
            "dropped": self.dropped,
            "calibration": self.calibration,
        }


def _finite(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``values`` (counts stay integers)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, int | float) and math.isfinite(float(value)):
            out[key] = (
                int(value) if key.startswith("n") and float(value).is_integer() else float(value)
            )
    return out


def summarize_performance(
    task: str,
    joined: pd.DataFrame,
    backtest: Mapping[str, float],
    threshold: float,
    min_rows: int,
) -> PerformanceSummary:
    """Live metrics of ``joined`` (``join_game_results`` / ``join_points_results``) against
    the backtest figures of the version that made the predictions."""
    watched = WATCHED[task]
    if joined.empty:
        live: dict[str, float] = {}
        calibration: list[dict[str, float]] = []
    elif task == GAME:
        y, p = joined["home_win"].to_numpy(float), joined["prediction"].to_numpy(float)
        live = _finite(game_metrics(y, p))
        table = calibration_table(y, p)
        calibration = [
            {k: (int(v) if k in ("bin", "count") else float(v)) for k, v in row.items()}
            for row in table.to_dict(orient="records")
        ]
    else:
        y, p = joined["pts"].to_numpy(float), joined["prediction"].to_numpy(float)
        live = _finite(points_metrics(y, p))
        live.update(live_interval_coverage(joined))
        calibration = []
    reference = _finite(dict(backtest))
    rise = None
    if watched in live and watched in reference:
        rise = live[watched] - reference[watched]
    return PerformanceSummary(
        task=task,
        n=len(joined),
        live=live,
        backtest=reference,
        watched=watched,
        rise=rise,
        threshold=threshold,
        min_rows=min_rows,
        calibration=calibration,
    )


def live_interval_coverage(joined: pd.DataFrame) -> dict[str, float]:
    """``interval_coverage``: the share of played points inside the logged interval, over the
    ``n_interval`` rows that logged one, with their ``interval_level`` (the nominal share,
    the median of the logged levels); nothing when no row logged one."""
    bounds = ["interval_low", "interval_high", "interval_level"]
    if not set(bounds) <= set(joined.columns):
        return {}
    rows = joined.loc[joined[bounds].notna().all(axis=1)]
    if rows.empty:
        return {}
    return {
        "interval_coverage": coverage(rows["pts"], rows["interval_low"], rows["interval_high"]),
        "interval_level": float(rows["interval_level"].median()),
        "n_interval": len(rows),
    }


def baseline_metrics(joined: pd.DataFrame, home_rate: float) -> dict[str, dict[str, float]]:
    """The logged predictions and two baselines scored on the same played games.

    ``home``: the home team always, with probability ``home_rate`` (the home-win share of the
    seasons the champion was trained on); ``elo``: the pre-game Elo probability logged with
    each prediction's features (rows without it are left out of all three).
    """
    rows = joined.loc[joined[ELO_COLUMN].notna()] if ELO_COLUMN in joined else joined.iloc[:0]
    if rows.empty:
        return {}
    y = rows["home_win"].to_numpy(float)
    return {
        "model": _finite(game_metrics(y, rows["prediction"].to_numpy(float))),
        "baseline-home": _finite(game_metrics(y, np.full(len(rows), float(home_rate)))),
        "baseline-elo": _finite(game_metrics(y, rows[ELO_COLUMN].to_numpy(float))),
    }
