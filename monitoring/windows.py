"""Time windows of the monitoring reports: pure date arithmetic, no I/O.

A window is a half-open range of game days ``[start, end)``. The current window of a check run
``as_of`` a date is the ``days`` before it. The reference is *phase-matched*: the games of the
reference seasons at the same point of their season (days since the season's first game) as
the current window, so season-to-date features (games played, records, rest) compare like with
like instead of an October week against a whole season.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from ingest.schema import season_label

# A season is labelled by the year it starts in; NBA seasons start in October (or December 2020)
# and end by July (the 2019-20 bubble: October), so August is the first month of a season.
SEASON_FIRST_MONTH = 8
# The longest window: a year of game days. The reference is the same point of an earlier
# season, and a longer window would reach back past every season the champion knows.
MAX_WINDOW_DAYS = 365


def check_as_of(as_of: date, today: date, option: str = "as_of") -> date:
    """``as_of`` when it is not after tomorrow (a day ahead of ``today`` in UTC covers every
    time zone); a ValueError otherwise: a check looks back from a day that has come, and one
    dated later would report its coming days as missing games."""
    if as_of > today + timedelta(days=1):
        raise ValueError(
            f"{option} {as_of} is after today ({today}): a check looks back from a day that has come"
        )
    return as_of


def season_of(day: date) -> str:
    """The NBA season label a date belongs to (``2023-11-05`` -> ``2023-24``)."""
    return season_label(day.year if day.month >= SEASON_FIRST_MONTH else day.year - 1)


@dataclass(frozen=True)
class Window:
    """Game days ``start`` (included) to ``end`` (excluded)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start} .. {self.end}")

    @classmethod
    def trailing(cls, as_of: date, days: int) -> Window:
        """The ``days`` days before ``as_of`` (``as_of`` itself excluded)."""
        if not 1 <= days <= MAX_WINDOW_DAYS:
            raise ValueError(f"a window spans 1 to {MAX_WINDOW_DAYS} days, got {days}")
        return cls(as_of - timedelta(days=days), as_of)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        """``2023-11-01..2023-11-14`` (both days included)."""
        return f"{self.start.isoformat()}..{self.last_day.isoformat()}"

    def contains(self, days: pd.Series) -> pd.Series:
        """Mask of the dates of ``days`` inside the window."""
        values = pd.to_datetime(days).dt.normalize()
        return (values >= pd.Timestamp(self.start)) & (values < pd.Timestamp(self.end))


def season_starts(games: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """The first game day of every season in ``games`` (``season``, ``game_date`` columns)."""
    if games.empty:
        return {}
    firsts = games.groupby(games["season"].astype(str))["game_date"].min()
    return {season: pd.Timestamp(day).normalize() for season, day in firsts.items()}


def season_day(frame: pd.DataFrame, starts: dict[str, pd.Timestamp]) -> pd.Series:
    """Days since the first game of the row's season (NaN when the season start is unknown)."""
    first = frame["season"].astype(str).map(starts)
    delta = pd.to_datetime(frame["game_date"]).dt.normalize() - pd.to_datetime(first)
    return delta.dt.days.astype(float)


@dataclass(frozen=True)
class PhaseRange:
    """The season days a current window covers, e.g. days 21..34 of its season."""

    first: int
    last: int

    @property
    def label(self) -> str:
        return f"days {self.first}-{self.last}"


def phase_of(window: Window, season_start: pd.Timestamp) -> PhaseRange:
    """Season days of ``window`` for a season that started on ``season_start`` (never < 0)."""
    first = max(0, (pd.Timestamp(window.start) - season_start).days)
    last = max(first, (pd.Timestamp(window.last_day) - season_start).days)
    return PhaseRange(first, last)


def phase_span(
    reference: pd.DataFrame,
    phase: PhaseRange,
    *,
    pad_days: int = 7,
    min_rows: int = 150,
    max_pad_days: int = 60,
) -> tuple[pd.DataFrame, str] | None:
    """Rows of ``reference`` (with a ``season_day`` column) within ``phase`` widened by
    ``pad_days`` on each side; the padding doubles until at least ``min_rows`` rows are in (up
    to ``max_pad_days``). Returns the rows and the season days they cover; None when even the
    widest span holds fewer."""
    pad = pad_days
    days = reference["season_day"]
    while True:
        lo, hi = phase.first - pad, phase.last + pad
        rows = reference.loc[(days >= lo) & (days <= hi)]
        if len(rows) >= min_rows:
            # the days the rows cover (a reference cut at the window's start ends before it)
            taken = rows["season_day"]
            return rows, f"days {int(taken.min())}-{int(taken.max())}"
        if pad >= max_pad_days:
            return None
        pad = min(pad * 2, max_pad_days)


def phase_matched(
    reference: pd.DataFrame, phase: PhaseRange, **span_options: int
) -> tuple[pd.DataFrame, str]:
    """The rows of :func:`phase_span` (``span_options``: its keyword options), else every row of
    ``reference``. Returns the rows and a label of the choice."""
    span = phase_span(reference, phase, **span_options)
    return span if span is not None else (reference, "whole season")
