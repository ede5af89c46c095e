"""Roster strength features (``features.roster``): hand-checked values and the as-of rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import GAME_FEATURES
from features.catalog import GAME_INTERACTION_FEATURES, GAME_ROSTER_FEATURES
from features.game import build_game_features
from features.roster import ROSTER_WINDOW, build_roster_state, game_scores, roster_features
from tests.features.frames import games_from, player_games_from, team_games_from

TOL = {"check_exact": False, "rtol": 1e-9, "atol": 1e-9}
ROSTER = list(GAME_ROSTER_FEATURES)
FROM_ROSTER = [*ROSTER, *GAME_INTERACTION_FEATURES]

# Teams 1 and 2 meet three times in one season, then once in the next.
SPECS = [
    ("0022200001", "2022-10-20", "2022-23", 1, 2, 110, 100),
    ("0022200002", "2022-10-22", "2022-23", 2, 1, 105, 100),
    ("0022200003", "2022-10-25", "2022-23", 1, 2, 99, 101),
    ("0022300001", "2023-10-20", "2023-24", 1, 2, 99, 97),
]


def only_points(team_games: pd.DataFrame, points: dict[tuple[str, int], float]) -> pd.DataFrame:
    """One player row per (game_id, player_id) with only points scored (game score = points)."""
    teams = team_games.set_index("game_id")
    rows = []
    for (game_id, player_id), pts in points.items():
        frame = player_games_from(team_games.loc[team_games["game_id"] == game_id], per_team=1)
        row = frame.iloc[0].copy()
        row[["fga", "fgm", "fta", "fg3a", "tov"]] = 0
        row["pts"], row["player_id"] = pts, player_id
        row["team_id"] = player_id // 100
        row["game_date"] = teams.loc[game_id, "game_date"].iloc[0]
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)


@pytest.fixture
def hand() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    team_games = team_games_from(SPECS)
    # Team 1: players 100 and 101; 101 misses game 3. Team 2: player 200 only.
    points = {
        ("0022200001", 100): 20.0,
        ("0022200001", 101): 10.0,
        ("0022200001", 200): 30.0,
        ("0022200002", 100): 30.0,
        ("0022200002", 101): 20.0,
        ("0022200002", 200): 10.0,
        ("0022200003", 100): 10.0,
        ("0022200003", 200): 20.0,
        ("0022300001", 100): 5.0,
        ("0022300001", 200): 5.0,
    }
    return games_from(SPECS), team_games, only_points(team_games, points)


def by_game(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("game_id")


def test_game_score_is_hollinger():
    box = pd.DataFrame(
        {
            "pts": [20],
            "fgm": [8],
            "fga": [15],
            "fta": [5],
            "ftm": [3],
            "oreb": [2],
            "dreb": [6],
            "stl": [1],
            "ast": [4],
            "blk": [1],
            "pf": [3],
            "tov": [2],
        }
    )
    expected = 20 + 3.2 - 10.5 - 0.8 + 1.4 + 1.8 + 1 + 2.8 + 0.7 - 1.2 - 2
    assert game_scores(box)[0] == pytest.approx(expected)


def test_roster_features_are_in_the_game_contract():
    assert set(ROSTER) <= set(GAME_FEATURES)


def test_strength_sums_the_levels_of_the_previous_game_players(hand):
    games, team_games, players = hand
    f = by_game(build_game_features(games, team_games, player_games=players))
    # First game of a season: no previous game this season, unknown.
    for game_id in ("0022200001", "0022300001"):
        assert f.loc[game_id, ROSTER].tolist() == [0.0, 0.0, 0.0, 0.0]
    # Game 2 (team 2 at home): after game 1, levels are the game-1 points.
    assert f.loc["0022200002", "home_roster_gs"] == pytest.approx(30.0)
    assert f.loc["0022200002", "away_roster_gs"] == pytest.approx(20.0 + 10.0)
    # Game 3: both of team 1's players played game 2; their means over games 1-2.
    assert f.loc["0022200003", "home_roster_gs"] == pytest.approx(25.0 + 15.0)
    assert f.loc["0022200003", "away_roster_gs"] == pytest.approx(20.0)
    assert f.loc["0022200003", "diff_roster_gs"] == pytest.approx(20.0)
    assert f.loc["0022200003", "roster_known"] == 1.0


def test_a_missing_player_lowers_the_next_strength(hand):
    players = hand[2]
    later = ("0022200004", "2022-10-27", "2022-23", 2, 1, 100, 90)
    specs = [*SPECS, later]
    extra = only_points(team_games_from(specs), {("0022200004", 200): 10.0})
    f = by_game(
        build_game_features(
            games_from(specs),
            team_games_from(specs),
            player_games=pd.concat([players, extra], ignore_index=True),
        )
    )
    # Team 1's previous game (3) was played by player 100 only: mean of 20, 30, 10.
    assert f.loc["0022200004", "away_roster_gs"] == pytest.approx(20.0)


def test_a_previous_game_without_player_rows_is_unknown(hand):
    games, team_games, players = hand
    without_game_2 = players.loc[players["game_id"] != "0022200002"]
    f = by_game(build_game_features(games, team_games, player_games=without_game_2))
    assert f.loc["0022200003", ROSTER].tolist() == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("given", ["none", "empty"])
def test_without_player_logs_every_roster_is_unknown(league, league_players, given):
    games, team_games = league
    players = None if given == "none" else league_players.iloc[0:0]
    f = build_game_features(games, team_games, player_games=players)
    assert (f[FROM_ROSTER].to_numpy() == 0.0).all()
    with_logs = build_game_features(games, team_games, player_games=league_players)
    others = [c for c in f.columns if c not in FROM_ROSTER]
    pd.testing.assert_frame_equal(with_logs[others], f[others])


def test_the_elo_interaction_is_the_elo_difference_where_rosters_are_known(league, league_players):
    games, team_games = league
    f = build_game_features(games, team_games, player_games=league_players)
    known = f["roster_known"] == 1.0
    assert 0 < known.sum() < len(f), "the slice needs games with and without known rosters"
    assert (f.loc[~known, "diff_elo_roster_known"] == 0.0).all()
    np.testing.assert_array_equal(
        f.loc[known, "diff_elo_roster_known"].to_numpy(), f.loc[known, "diff_elo"].to_numpy()
    )
    assert (f.loc[known, "diff_elo"] != 0.0).any()


def test_requests_and_rows_without_minutes_feed_no_state(hand):
    _, team_games, players = hand
    base = build_roster_state(players, team_games)
    noise = players.iloc[:2].copy()
    noise["player_id"] = [900, 901]
    noise["pts"] = [np.nan, 40.0]
    noise["minutes"] = [30.0, 0.0]
    grown = build_roster_state(pd.concat([players, noise], ignore_index=True), team_games)
    pd.testing.assert_frame_equal(grown, base)


def test_a_player_level_covers_his_last_games_only():
    start = pd.Timestamp("2022-10-20")
    specs = [
        (f"00222{i:05d}", start + pd.Timedelta(days=2 * i), "2022-23", 1, 2, 100 + i, 90)
        for i in range(ROSTER_WINDOW + 2)
    ]
    team_games = team_games_from(specs)
    first = {(specs[0][0], 100): 100.0}
    rest = {(s[0], 100): 10.0 for s in specs[1:]}
    players = only_points(team_games, {**first, **rest})
    state = build_roster_state(players, team_games)
    team_1 = state.loc[state["team_id"] == 1, "roster_gs"].to_numpy()
    assert team_1[ROSTER_WINDOW - 1] == pytest.approx(
        (100.0 + 10.0 * (ROSTER_WINDOW - 1)) / ROSTER_WINDOW
    )
    assert team_1[ROSTER_WINDOW] == pytest.approx(10.0)  # the 100-point game left the window


# --- the as-of rule -----------------------------------------------------------------------------


def test_appending_a_later_game_leaves_earlier_rows_unchanged(league_specs, league_players):
    base = build_game_features(
        games_from(league_specs), team_games_from(league_specs), player_games=league_players
    )
    last = league_specs[-1]
    later = ("0099900001", last[1] + pd.Timedelta(days=2), last[2], 1, 2, 150, 80)
    specs = [*league_specs, later]
    team_games = team_games_from(specs)
    players = pd.concat(
        [
            league_players,
            player_games_from(team_games.loc[team_games["game_id"] == later[0]], seed=5),
        ],
        ignore_index=True,
    )
    more = build_game_features(games_from(specs), team_games, player_games=players)
    assert len(more) == len(base) + 1
    pd.testing.assert_frame_equal(more.iloc[: len(base)], base, **TOL)
    assert more[ROSTER].iloc[: len(base)]["roster_known"].sum() > 0


@pytest.mark.parametrize("position", [10, 37, 80, 121, 159])
def test_features_equal_those_from_data_cut_before_the_game(league, league_players, position):
    games, team_games = league
    full = build_game_features(games, team_games, player_games=league_players)
    target = full.iloc[position]
    day = target["game_date"]
    alone = build_game_features(
        games.loc[games["game_id"] == target["game_id"]],
        team_games.loc[team_games["game_date"] < day],
        player_games=league_players.loc[league_players["game_date"] < day],
    )
    pd.testing.assert_series_equal(alone.iloc[0], target, check_names=False, **TOL)


def test_row_order_of_inputs_does_not_matter(league, league_players):
    games, team_games = league
    base = build_game_features(games, team_games, player_games=league_players)
    shuffled = build_game_features(
        games.sample(frac=1.0, random_state=1),
        team_games.sample(frac=1.0, random_state=2),
        player_games=league_players.sample(frac=1.0, random_state=3),
    )
    pd.testing.assert_frame_equal(shuffled, base, **TOL)


def test_roster_features_without_state_are_unknown(league):
    games, _ = league
    out = roster_features(games.assign(game_date=pd.to_datetime(games["game_date"])), None)
    assert list(out.columns) == ROSTER
    assert (out.to_numpy() == 0.0).all()
