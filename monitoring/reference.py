"""The reference data of a champion: features of the last season(s) of its training window and
its own predictions on them; and the current window's features when no prediction was logged.

Pure functions over feature frames (``features.build_game_features`` /
``build_player_features``), plus a small parquet cache keyed by model version, because a
version's reference never changes (its training seasons are in the past).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.schema import REGULAR, season_start_year
from monitoring.predictions import GAME
from monitoring.windows import Window, season_day
from training.backtest import season_types

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


def regular_played(frame: pd.DataFrame, task: str) -> pd.Series:
    """Mask of regular-season rows with a known target."""
    return (season_types(frame) == REGULAR) & frame[TARGET[task]].notna()


def reference_rows(
    frame: pd.DataFrame, task: str, seasons: Sequence[str], starts: dict[str, pd.Timestamp]
) -> pd.DataFrame:
    """Played regular-season rows of ``seasons`` with their ``season_day``."""
    rows = frame.loc[frame["season"].astype(str).isin(list(seasons)) & regular_played(frame, task)]
    rows = rows.copy()
    rows["season_day"] = season_day(rows, starts)
    return rows.reset_index(drop=True)


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
    return Path(cache_dir) / f"{model_name}-v{version}-{'_'.join(seasons)}.parquet"


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
