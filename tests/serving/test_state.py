"""Request features from the precomputed state equal the training builders' (no skew)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import (
    build_game_features,
    build_player_features,
    game_request_frame,
    player_request_frame,
)
from serving.state import GAME_OUTPUT, PLAYER_OUTPUT, FeatureState, season_of

# Before any game, a season's first days, mid-season, between seasons, after the last game.
GAME_DAYS = [
    "2019-06-01",
    "2020-10-20",
    "2020-10-22",
    "2021-11-15",
    "2021-07-01",
    "2022-12-01",
    "2023-03-01",
]
PLAYER_DAYS = ["2020-10-20", "2020-11-15", "2021-10-20", "2021-11-01", "2022-11-03", "2023-01-15"]


@pytest.fixture(scope="module")
def state(frames) -> FeatureState:
    return FeatureState(frames.games, frames.team_games, frames.player_games)


@pytest.mark.parametrize("day", GAME_DAYS)
def test_game_features_equal_build_game_features(frames, state, day):
    season = state.season_of(pd.Timestamp(day))
    teams = state.team_ids
    requests = [
        game_request_frame(h, a, day, season, neutral_site=n).assign(game_id=f"9{k:09d}")
        for k, (h, a, n) in enumerate(
            (h, a, n) for h in teams for a in teams if h != a for n in (False, True)
        )
    ]
    reference = build_game_features(
        pd.concat([frames.games, *requests], ignore_index=True),
        frames.team_games,
        player_games=frames.player_games,
    ).set_index("game_id")
    for k, request in enumerate(requests):
        row = state.game_row(
            int(request.home_team_id[0]),
            int(request.away_team_id[0]),
            day,
            bool(request.neutral_site[0]),
        )
        expected = reference.loc[f"9{k:09d}", list(GAME_OUTPUT)].to_numpy(dtype=float)
        np.testing.assert_array_equal(row.vector, expected)
        assert row.season == season


@pytest.mark.parametrize("day", PLAYER_DAYS)
def test_player_features_equal_build_player_features(frames, state, day):
    season = state.season_of(pd.Timestamp(day))
    players = sorted(frames.player_games["player_id"].unique())
    for player_id in players[::3]:
        team = state.player_team_on(player_id, pd.Timestamp(day))
        if team is None:
            team = int(
                frames.player_games.loc[frames.player_games.player_id == player_id, "team_id"].iloc[
                    0
                ]
            )
        opponent = [t for t in state.team_ids if t != team][player_id % 3]
        for home in (True, False):
            ask = player_request_frame(
                player_id, "x", team, day, season, is_home=home, opponent_team_id=opponent
            )
            reference = build_player_features(
                pd.concat([frames.player_games, ask], ignore_index=True),
                frames.team_games,
                frames.games,
            )
            expected = reference.loc[reference["pts"].isna()].iloc[0]
            got_season, got = state.player_row(player_id, team, opponent, day, home)
            assert got_season == season
            for name in PLAYER_OUTPUT:
                np.testing.assert_equal(got[name], float(expected[name]), err_msg=name)


def test_a_later_game_does_not_change_earlier_features(frames):
    """Append a game dated after D: the features of D stay the same (as of the day before)."""
    before = FeatureState(frames.games, frames.team_games).game_row(
        frames.games.home_team_id.iloc[0], frames.games.away_team_id.iloc[0], "2021-11-15"
    )
    late = frames.team_games.loc[frames.team_games.game_date == frames.team_games.game_date.max()]
    extra = late.assign(
        game_id=lambda f: "009" + f["game_id"].str[3:], game_date=pd.Timestamp("2023-06-01")
    )
    grown = FeatureState(frames.games, pd.concat([frames.team_games, extra], ignore_index=True))
    after = grown.game_row(
        frames.games.home_team_id.iloc[0], frames.games.away_team_id.iloc[0], "2021-11-15"
    )
    np.testing.assert_array_equal(before.vector, after.vector)
    # ... while a date after the appended game sees it.
    team, other = (int(t) for t in extra["team_id"].iloc[:2])
    base = FeatureState(frames.games, frames.team_games).game_row(team, other, "2023-07-01")
    assert not np.array_equal(base.vector, grown.game_row(team, other, "2023-07-01").vector)


def test_season_of_prefers_stored_seasons_then_the_calendar():
    ranges = {"2019-20": (pd.Timestamp("2019-10-22"), pd.Timestamp("2020-10-11"))}
    assert season_of(pd.Timestamp("2020-10-01"), ranges) == "2019-20"  # the bubble
    assert season_of(pd.Timestamp("2020-12-22"), ranges) == "2020-21"
    assert season_of(pd.Timestamp("2024-03-01"), ranges) == "2023-24"
    assert season_of(pd.Timestamp("2024-09-15"), ranges) == "2024-25"


def test_date_tables_are_kept_and_bounded(frames):
    state = FeatureState(frames.games, frames.team_games, cache_dates=2)
    assert not state.has_table("2022-12-01")
    state.game_row(
        frames.games.home_team_id.iloc[0], frames.games.away_team_id.iloc[0], "2022-12-01"
    )
    assert state.has_table("2022-12-01")
    for day in ("2022-12-02", "2022-12-03"):
        state.date_table(pd.Timestamp(day))
    assert not state.has_table("2022-12-01")
    assert state.has_table("2022-12-03")


def test_a_team_without_games_gets_the_fills(frames):
    state = FeatureState(frames.games, frames.team_games, team_ids=[1610612999])
    newcomer = state.game_row(1610612999, int(frames.games.home_team_id.iloc[0]), "2022-12-01")
    named = dict(zip(GAME_OUTPUT, newcomer.vector, strict=True))
    assert named["home_elo"] == 1505.0
    assert named["home_win_pct"] == 0.5
    assert named["home_season_games"] == 0.0
