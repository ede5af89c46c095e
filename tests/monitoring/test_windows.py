"""Windows of the monitoring reports: season labels, trailing windows, phase matching."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from monitoring.windows import (
    PhaseRange,
    Window,
    check_as_of,
    phase_matched,
    phase_of,
    season_day,
    season_of,
    season_starts,
)


@pytest.mark.parametrize(
    ("day", "season"),
    [
        (date(2023, 10, 24), "2023-24"),
        (date(2024, 4, 14), "2023-24"),
        (date(2024, 6, 17), "2023-24"),
        (date(2020, 12, 22), "2020-21"),
        (date(2020, 8, 15), "2020-21"),
        (date(2000, 1, 5), "1999-00"),
    ],
)
def test_season_of_a_date(day, season):
    assert season_of(day) == season


def test_a_check_may_be_dated_up_to_tomorrow():
    today = date(2026, 12, 7)
    assert check_as_of(date(2024, 1, 15), today) == date(2024, 1, 15)
    assert check_as_of(date(2026, 12, 8), today) == date(2026, 12, 8)  # UTC ahead of the US
    with pytest.raises(ValueError, match="--as-of 2026-12-09 is after today"):
        check_as_of(date(2026, 12, 9), today, "--as-of")


def test_trailing_window_excludes_the_check_day():
    window = Window.trailing(date(2023, 11, 15), 14)
    assert window.label == "2023-11-01..2023-11-14"
    days = pd.Series(pd.to_datetime(["2023-10-31", "2023-11-01", "2023-11-14", "2023-11-15"]))
    assert window.contains(days).tolist() == [False, True, True, False]
    assert Window.trailing(date(2023, 11, 15), 365).label == "2022-11-15..2023-11-14"
    for days in (0, 366):
        with pytest.raises(ValueError, match=f"a window spans 1 to 365 days, got {days}"):
            Window.trailing(date(2023, 11, 15), days)


def test_season_day_counts_from_each_season_first_game():
    games = pd.DataFrame(
        {
            "season": ["2022-23", "2022-23", "2023-24", "2023-24"],
            "game_date": pd.to_datetime(["2022-10-18", "2022-11-01", "2023-10-24", "2023-10-30"]),
        }
    )
    starts = season_starts(games)
    assert season_day(games, starts).tolist() == [0.0, 14.0, 0.0, 6.0]
    window = Window(date(2023, 11, 7), date(2023, 11, 21))
    assert phase_of(window, starts["2023-24"]) == PhaseRange(14, 27)


def test_phase_matching_widens_until_enough_rows():
    reference = pd.DataFrame({"season_day": list(range(100)) * 3})
    rows, label = phase_matched(reference, PhaseRange(40, 49), pad_days=5, min_rows=30)
    assert label == "days 35-54" and len(rows) == 60
    rows, label = phase_matched(reference, PhaseRange(40, 49), pad_days=5, min_rows=80)
    assert label == "days 30-59" and len(rows) == 90  # padding doubled once
    rows, label = phase_matched(reference, PhaseRange(40, 49), pad_days=5, min_rows=1000)
    assert label == "whole season" and len(rows) == 300
