"""Vectorized building blocks for as-of features: grouped rolling sums and strict as-of lookups.

Every history table here follows one pattern: values are computed per row *including* the row
(a team's game, a player's game), the last row of each (key, date) is kept as the state "at the
end of that day", and a target looks the state up with a strictly earlier date. A feature of a
game dated D therefore only sees rows dated before D, never the same day.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise ValueError naming the ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}")


def as_dates(values: pd.Series) -> pd.Series:
    """Dates as ``datetime64[ns]`` at midnight, whatever came in (strings, other resolutions)."""
    if values.dtype != "datetime64[ns]":  # converting an already-typed column is not free
        values = pd.to_datetime(values)
    return values.dt.normalize().astype("datetime64[ns]")


def group_positions(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """0, 1, 2, ... within each group of ``keys`` (``frame`` sorted so groups are contiguous)."""
    return frame.groupby(list(keys), sort=False).cumcount().to_numpy()


def rolling_sums(
    frame: pd.DataFrame, keys: Sequence[str], columns: Sequence[str], window: int
) -> np.ndarray:
    """Sum of ``columns`` over the last ``window`` rows of each group, the row included.

    ``frame`` must be sorted so each group is contiguous and in time order. Uses a grouped
    cumulative sum minus the cumulative sum ``window`` rows back (same group), so the result of a
    row depends on its own group's rows only. Returns an array of shape (len(frame), len(columns)).
    """
    values = frame[list(columns)].astype(float)
    csum = values.groupby([frame[k] for k in keys], sort=False).cumsum().to_numpy()
    pos = group_positions(frame, keys)
    back = np.arange(len(frame)) - window
    earlier = np.where((pos >= window)[:, None], csum[np.maximum(back, 0)], 0.0)
    return csum - earlier


def rolling_counts(frame: pd.DataFrame, keys: Sequence[str], window: int) -> np.ndarray:
    """Number of rows in the last ``window`` rows of each group (the row included)."""
    return np.minimum(group_positions(frame, keys) + 1, window).astype(float)


def rolling_slope(log: pd.DataFrame, keys: Sequence[str], column: str, window: int) -> np.ndarray:
    """Least-squares slope of ``column`` against the row number over the last ``window`` rows of
    each group (0 with fewer than 3 rows). Integer inputs give exact sums."""
    x = log.groupby(list(keys), sort=False).cumcount().astype(float)
    frame = log[list(keys)].assign(x=x, xx=x * x, y=log[column], xy=x * log[column])
    sx, sxx, sy, sxy = rolling_sums(frame, keys, ["x", "xx", "y", "xy"], window).T
    n = rolling_counts(frame, keys, window)
    denom = n * sxx - sx * sx
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n >= 3) & (denom > 0), (n * sxy - sx * sy) / denom, 0.0)


def end_of_day(frame: pd.DataFrame, keys: Sequence[str], date: str = "game_date") -> pd.DataFrame:
    """The last row of each (keys, date): the state once that day's rows are in."""
    last = ~frame.duplicated([*keys, date], keep="last")
    return frame.loc[last].sort_values(date, kind="stable", ignore_index=True)


def lookup_before(
    targets: pd.DataFrame,
    state: pd.DataFrame,
    by: Sequence[str],
    date: str = "game_date",
) -> pd.DataFrame:
    """For each target row, the latest ``state`` row of the same ``by`` keys dated strictly before.

    Returns a frame aligned with ``targets`` (same index and order) holding the state columns
    (NaN where nothing earlier exists). ``state`` must carry ``by`` and ``date``.
    """
    left = targets[[*by, date]].copy()
    left["_row"] = np.arange(len(left))
    left = left.sort_values(date, kind="stable")
    right = state.sort_values(date, kind="stable")
    merged = pd.merge_asof(
        left,
        right,
        on=date,
        by=list(by),
        allow_exact_matches=False,
        direction="backward",
    )
    merged = merged.sort_values("_row", kind="stable")
    merged.index = targets.index
    return merged.drop(columns=["_row", *by, date])


def days_between(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    """Whole days from ``earlier`` to ``later`` as floats (NaN where ``earlier`` is missing)."""
    delta = pd.to_timedelta(pd.to_datetime(later).to_numpy() - pd.to_datetime(earlier).to_numpy())
    return np.asarray(delta / pd.Timedelta(days=1), dtype=float)
