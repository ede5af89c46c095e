"""The prediction log (table ``predictions``): read it into frames, parse it, append to it.

A row's ``inputs`` hold ``{"features": {column: value}, "request": {...}}`` and its ``outputs``
``{"home_win_probability": p, ...}`` for games or ``{"predicted_points": x, ...}`` for players,
as the service writes them. Rows name the game by ``game_date`` + ``home_team_id`` +
``away_team_id`` (a team plays at most once a day) and a player-game by ``game_date`` +
``player_id``; ``game_id`` is kept when known.

Game dates are US dates and the store has no tip-off times: a day ends at midnight US Pacific
time, ``DAY_END`` after the day's midnight UTC. A check as of a day reads the predictions made
before the day before it ended; a game is scored with the last prediction made before its own
day ended.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select

from core.db import Prediction

GAME = "game"
POINTS = "points"
OUTPUT_KEY = {GAME: "home_win_probability", POINTS: "predicted_points"}
# From a day's midnight UTC to its end at midnight US Pacific standard time (UTC-8).
DAY_END = pd.Timedelta(hours=32)
PREDICTION_COLUMNS = (
    "id",
    "request_id",
    "created_at",
    "endpoint",
    "model_name",
    "model_version",
    "game_date",
    "game_id",
    "home_team_id",
    "away_team_id",
    "player_id",
    "inputs",
    "outputs",
)


def read_predictions(
    engine: Engine,
    model_names: Sequence[str],
    start: date | None = None,
    end: date | None = None,
    made_before: date | None = None,
) -> pd.DataFrame:
    """Logged predictions of ``model_names`` whose day is in ``[start, end)``; with
    ``made_before``, only those made before the day before it ended (:func:`day_end`): a check
    as of a day does not see the predictions made after it.

    A row's day (column ``day``) is its ``game_date``, or the date it was made when it names no
    game (explicit feature vectors). Ordered by ``created_at`` then ``id``.
    """
    table = Prediction.__table__
    stmt = select(*(table.c[c] for c in PREDICTION_COLUMNS)).where(
        table.c.model_name.in_(list(model_names))
    )
    # Coarse SQL filter (a day before start: created_at is a timestamp); exact filter below.
    if start is not None:
        lower = datetime.combine(start, time.min, tzinfo=UTC) - pd.Timedelta(days=1)
        stmt = stmt.where(
            (table.c.game_date >= start)
            | (table.c.game_date.is_(None) & (table.c.created_at >= lower))
        )
    if end is not None:
        stmt = stmt.where(
            (table.c.game_date < end)
            | (
                table.c.game_date.is_(None)
                & (table.c.created_at < datetime.combine(end, time.min, tzinfo=UTC))
            )
        )
    if made_before is not None:
        stmt = stmt.where(table.c.created_at < day_end(made_before - timedelta(days=1)))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(table.c.created_at, table.c.id)).all()
    frame = pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))
    return with_day(frame, start, end)


def day_end(day: date) -> datetime:
    """When ``day`` (a US game date) ends: midnight US Pacific, as a UTC time."""
    return datetime.combine(day, time.min, tzinfo=UTC) + DAY_END


def made_in_time(frame: pd.DataFrame) -> pd.Series:
    """Mask of the predictions made before their game's day ended (``day``, ``created_at``):
    one made after its game cannot be scored as a prediction of it."""
    created = pd.to_datetime(frame["created_at"], utc=True)
    ends = pd.to_datetime(frame["day"]).dt.tz_localize(UTC) + DAY_END
    return created < ends


def with_day(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    """``frame`` with a ``day`` column (game date, else creation date) limited to the window."""
    out = frame.copy()
    created = pd.to_datetime(out["created_at"], utc=True).dt.tz_localize(None).dt.normalize()
    out["day"] = pd.to_datetime(out["game_date"]).fillna(created).astype("datetime64[ns]")
    keep = pd.Series(True, index=out.index)
    if start is not None:
        keep &= out["day"] >= pd.Timestamp(start)
    if end is not None:
        keep &= out["day"] < pd.Timestamp(end)
    return out.loc[keep].reset_index(drop=True)


def predicted_values(frame: pd.DataFrame, task: str) -> pd.Series:
    """The predicted value of every row (NaN where ``outputs`` lacks it)."""
    key = OUTPUT_KEY[task]

    def value(outputs: Any) -> float:
        if isinstance(outputs, dict):
            v = outputs.get(key)
            if isinstance(v, int | float) and math.isfinite(float(v)):
                return float(v)
        return float("nan")

    return frame["outputs"].map(value).astype(float)


def logged_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """``interval_low``, ``interval_high`` and ``interval_level`` of every points row (NaN
    where ``outputs`` holds no interval with all three numbers)."""
    keys = ("low", "high", "level")

    def bounds(outputs: Any) -> tuple[float, ...]:
        interval = outputs.get("interval") if isinstance(outputs, dict) else None
        if isinstance(interval, dict):
            values = [interval.get(k) for k in keys]
            if all(isinstance(v, int | float) and math.isfinite(float(v)) for v in values):
                return tuple(float(v) for v in values)
        return (float("nan"),) * len(keys)

    rows = [bounds(v) for v in frame["outputs"]]
    return pd.DataFrame(rows, index=frame.index, columns=[f"interval_{k}" for k in keys])


def feature_rows(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The logged feature values of every row as a frame with ``columns`` (NaN when missing)."""

    def features(inputs: Any) -> dict:
        if isinstance(inputs, dict) and isinstance(inputs.get("features"), dict):
            return inputs["features"]
        return {}

    records = [features(v) for v in frame["inputs"]]
    out = pd.DataFrame.from_records(records, index=frame.index, columns=list(columns))
    return out.apply(pd.to_numeric, errors="coerce")


def target_key(task: str) -> list[str]:
    """The columns naming what a prediction is about: a game or a player-game."""
    return ["day", "home_team_id", "away_team_id"] if task == GAME else ["day", "player_id"]


def latest_per_target(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """One prediction per game (or player-game) and model: the last one made.

    Rows that name no target (explicit feature vectors) are kept as they are. Repeated and
    cached requests for the same game therefore count once.
    """
    key = target_key(task)
    named = frame[key].notna().all(axis=1)
    ordered = frame.loc[named].sort_values(["created_at", "id"], kind="stable")
    latest = ordered.drop_duplicates([*key, "model_name"], keep="last")
    return pd.concat([latest, frame.loc[~named]]).sort_values(["created_at", "id"], kind="stable")


def json_value(value: Any) -> Any:
    """``value`` as plain JSON (numpy scalars unwrapped, NaN/inf as None, dates as ISO)."""
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    return value


def log_predictions(engine: Engine, rows: Iterable[dict[str, Any]]) -> int:
    """Append rows to ``predictions`` in one transaction; returns how many were written."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        clean = {**row, "inputs": json_value(row.get("inputs"))}
        clean["outputs"] = json_value(row.get("outputs"))
        # An executemany takes its columns from its first row: group rows by their keys.
        groups.setdefault(tuple(sorted(clean)), []).append(clean)
    if not groups:
        return 0
    with engine.begin() as conn:
        for values in groups.values():
            conn.execute(insert(Prediction.__table__), values)
    return sum(len(v) for v in groups.values())
