"""The reference data of a champion: features of the last season(s) of its training window and
its own predictions on them; and the current window's features when no prediction was logged.

The reference never holds a row of the current window: only rows dated before the window's start
(and on or before the version's ``fit_through`` when it records one) are taken. A champion fit
on the season being checked would otherwise be compared with its own games.

Pure functions over feature frames (``features.build_game_features`` /
``build_player_features``), plus a small parquet cache keyed by model version and seasons. Only
the reference of seasons that are over (earlier than the season of the window) is cached: the
rows of a season still being played change every day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.normalize import season_types
from ingest.schema import REGULAR, season_label, season_start_year
from monitoring.predictions import GAME
from monitoring.windows import PhaseRange, Window, phase_span, season_day, season_of

TARGET = {GAME: "home_win", "points": "pts"}
PREDICTION = "prediction"


def reference_seasons(train_seasons: Sequence[str], eval_season: str | None, n: int) -> list[str]:
    """The last ``n`` seasons of a version's training window (its eval season if none is
    recorded)."""
    if n < 1:
        raise ValueError(f"reference_seasons must be >= 1, got {n}")
    seasons = sorted(set(train_seasons), key=season_start_year)
    if not seasons and eval_season:
        seasons = [eval_season]
    if not seasons:
        raise ValueError("the champion records no training season: cannot pick a reference")
    return seasons[-n:]


def seasons_before(seasons: Sequence[str]) -> list[str]:
    """The same number of seasons, one season earlier (``["2023-24"]`` -> ``["2022-23"]``)."""
    return [season_label(season_start_year(s) - 1) for s in seasons]


def reference_cutoff(window_start: date, fit_through: pd.Timestamp | None) -> pd.Timestamp:
    """The first day a reference row may not have: the window's start, or the day after the
    version's ``fit_through`` when that is earlier."""
    cutoff = pd.Timestamp(window_start)
    if fit_through is not None and not pd.isna(fit_through):
        cutoff = min(cutoff, pd.Timestamp(fit_through).normalize() + pd.Timedelta(days=1))
    return cutoff


def is_past(seasons: Sequence[str], window_start: date) -> bool:
    """Whether every season of ``seasons`` ended before the season of ``window_start`` began
    (its rows can no longer change: the reference may be cached)."""
    current = season_start_year(season_of(window_start))
    return all(season_start_year(s) < current for s in seasons)


def regular_played(frame: pd.DataFrame, task: str) -> pd.Series:
    """Mask of regular-season rows with a known target."""
    return (season_types(frame) == REGULAR) & frame[TARGET[task]].notna()


def reference_rows(
    frame: pd.DataFrame,
    task: str,
    seasons: Sequence[str],
    starts: dict[str, pd.Timestamp],
    before: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Played regular-season rows of ``seasons`` dated before ``before`` (when given) with their
    ``season_day``."""
    keep = frame["season"].astype(str).isin(list(seasons)) & regular_played(frame, task)
    if before is not None:
        keep &= pd.to_datetime(frame["game_date"]).dt.normalize() < pd.Timestamp(before)
    rows = frame.loc[keep].copy()
    rows["season_day"] = season_day(rows, starts)
    return rows.reset_index(drop=True)


def truncated_too_far(rows: pd.DataFrame, whole: int, phase: PhaseRange) -> bool:
    """Whether the cutoff removed rows (``len(rows) < whole``) and what is left holds too few
    rows in the phase-matched span of ``phase``: then the season before is the reference."""
    return len(rows) < whole and phase_span(rows, phase) is None


def model_predictions(model, frame: pd.DataFrame, task: str) -> np.ndarray:
    """P(home win) or points of ``model`` on ``frame`` (columns selected by the model)."""
    if frame.empty:
        return np.empty(0)
    if task == GAME:
        return np.asarray(model.predict_proba(frame))[:, 1].astype(float)
    return np.asarray(model.predict(frame), dtype=float)


def with_predictions(frame: pd.DataFrame, model, task: str) -> pd.DataFrame:
    out = frame.copy()
    out[PREDICTION] = model_predictions(model, frame, task)
    return out


def window_rows(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Rows of a feature frame whose game day is inside ``window`` (played or not)."""
    return frame.loc[window.contains(frame["game_date"])].reset_index(drop=True)


def cache_path(cache_dir: Path, model_name: str, version: str, seasons: Sequence[str]) -> Path:
    """Where the reference of seasons that are over is kept (``past`` in the name: files written
    before the cutoff existed may hold rows of a season then being played, and are never read)."""
    return Path(cache_dir) / f"{model_name}-v{version}-{'_'.join(seasons)}-past.parquet"


def load_cached(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError):
        return None


def save_cached(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
