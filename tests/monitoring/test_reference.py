"""The reference of a champion never holds a row of the window it is compared with: real game
features of the 2022-23 season, cut at the window's start (and the version's ``fit_through``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from monitoring.reference import (
    cache_path,
    is_past,
    reference_cutoff,
    reference_rows,
    seasons_before,
    truncated_too_far,
)
from monitoring.windows import Window, phase_matched, phase_of, season_starts

SEASON = "2022-23"
FIT_THROUGH = pd.Timestamp("2023-04-09")  # a champion fit through the whole 2022-23 season


def test_a_champion_fit_on_the_checked_season_is_compared_with_earlier_games(season_features):
    starts = season_starts(season_features)
    window = Window.trailing(date(2023, 1, 15), 14)  # days 75-88 of 2022-23
    whole = reference_rows(season_features, "game", [SEASON], starts)
    assert window.contains(whole["game_date"]).any()  # uncut, it holds the checked games
    rows = reference_rows(
        season_features,
        "game",
        [SEASON],
        starts,
        before=reference_cutoff(window.start, FIT_THROUGH),
    )
    assert rows["game_date"].max() < pd.Timestamp(window.start)
    assert 0 < len(rows) < len(whole)
    phase = phase_of(window, starts[SEASON])
    # mid-season the games before the window fill the phase-matched span: no fallback
    assert not truncated_too_far(rows, len(whole), phase)
    matched, label = phase_matched(rows, phase)
    assert not window.contains(matched["game_date"]).any()
    assert label == f"days {int(matched['season_day'].min())}-{int(matched['season_day'].max())}"
    assert matched["season_day"].max() < phase.first


def test_early_in_the_season_the_cut_leaves_too_few_rows(season_features):
    starts = season_starts(season_features)
    window = Window.trailing(date(2022, 11, 10), 14)  # the season's third week
    whole = reference_rows(season_features, "game", [SEASON], starts)
    rows = reference_rows(
        season_features, "game", [SEASON], starts, before=pd.Timestamp(window.start)
    )
    assert truncated_too_far(rows, len(whole), phase_of(window, starts[SEASON]))
    assert seasons_before([SEASON]) == ["2021-22"]
    # a reference nothing was cut from keeps its season, however few rows it has
    assert not truncated_too_far(whole.head(10), 10, phase_of(window, starts[SEASON]))


@pytest.mark.parametrize(
    ("fit_through", "cutoff"),
    [
        (None, "2024-01-01"),
        (pd.Timestamp("2024-04-14"), "2024-01-01"),  # fit after the window: the window cuts
        (pd.Timestamp("2023-12-20"), "2023-12-21"),  # fit before it: nothing after the fit
    ],
)
def test_the_cutoff_is_the_window_start_or_the_day_after_the_fit(fit_through, cutoff):
    assert reference_cutoff(date(2024, 1, 1), fit_through) == pd.Timestamp(cutoff)


def test_only_seasons_that_are_over_are_cached():
    assert is_past(["2022-23"], date(2024, 1, 1))
    assert not is_past(["2023-24"], date(2024, 1, 1))  # still being played
    assert not is_past(["2022-23", "2023-24"], date(2024, 1, 1))
    # files of the former layout (possibly rows of a season then being played) are never read
    path = cache_path(Path("ref"), "game-logistic", "3", ["2022-23"])
    assert path != Path("ref") / "game-logistic-v3-2022-23.parquet"
