"""build_player_features: the contract, the as-of rule and the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import PLAYER_FEATURES
from features.game import game_request_frame
from features.player import build_player_features, player_request_frame
from tests.features.frames import games_from, player_games_from, team_games_from

TOL = {"check_exact": False, "rtol": 1e-9, "atol": 1e-9}
KEY = ["game_id", "player_id"]


def by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(KEY).sort_index()


def previous_mean(players: pd.DataFrame, column: str, window: int | None, by_season: bool):
    """An independent reference: the mean of the player's earlier games (shift + rolling)."""
    ordered = players.sort_values(["player_id", "game_date", "game_id"])
    keys = ["player_id", "season"] if by_season else ["player_id"]
    shifted = ordered.groupby(keys)[column].shift(1)
    groups = shifted.groupby([ordered[k] for k in keys])
    if window is None:
        means = groups.transform(lambda s: s.expanding().mean())
    else:
        means = groups.transform(lambda s: s.rolling(window, min_periods=1).mean())
    return pd.Series(means.to_numpy(), index=pd.MultiIndex.from_frame(ordered[KEY])).sort_index()


def test_one_row_per_player_row_with_contract_columns(league, league_players):
    games, team_games = league
    out = build_player_features(league_players.sample(frac=1.0, random_state=0), team_games, games)
    assert len(out) == len(league_players)
    assert out[KEY].duplicated().sum() == 0
    ordered = out.sort_values(["game_date", "game_id", "player_id"], ignore_index=True)
    pd.testing.assert_frame_equal(out, ordered)
    for name in (
        "game_id",
        "player_id",
        "team_id",
        "opponent_team_id",
        "game_date",
        "season",
        "is_home",
        "pts",
        *PLAYER_FEATURES,
        "pts_avg_season",
        "pts_avg_10",
        "min_avg_season",
    ):
        assert name in out.columns
    assert not out.loc[:, list(PLAYER_FEATURES)].isna().any().any()
    pd.testing.assert_series_equal(
        by_key(out)["pts"], by_key(league_players)["pts"].astype(float), check_dtype=False
    )


@pytest.mark.parametrize(
    ("column", "stat", "window", "by_season"),
    [
        ("pts_avg_10", "pts", 10, False),
        ("pts_avg_season", "pts", None, True),
        ("min_avg_season", "minutes", None, True),
        ("player_pts_avg_5", "pts", 5, False),
        ("player_fga_avg_10", "fga", 10, False),
    ],
)
def test_averages_equal_an_independent_shift_rolling(
    league, league_players, column, stat, window, by_season
):
    games, team_games = league
    out = by_key(build_player_features(league_players, team_games, games))
    expected = previous_mean(league_players, stat, window, by_season)
    known = expected.notna()
    np.testing.assert_allclose(out.loc[known.index[known], column], expected[known], rtol=1e-9)
    if column in ("pts_avg_10", "pts_avg_season", "min_avg_season"):
        assert out.loc[known.index[~known], column].isna().all()  # baselines keep NaN


def test_baselines_on_first_games(league, league_players):
    games, team_games = league
    out = build_player_features(league_players, team_games, games)
    player = out.loc[out["player_id"] == 100].reset_index(drop=True)
    first = player.iloc[0]
    assert np.isnan(first["pts_avg_10"]) and np.isnan(first["pts_avg_season"])
    assert np.isnan(first["min_avg_season"])
    assert player.loc[1, "pts_avg_10"] == first["pts"]
    new_season = player.loc[player["season"] == "2022-23"].iloc[0]
    assert np.isnan(new_season["pts_avg_season"])  # reset with the season
    assert not np.isnan(new_season["pts_avg_10"])  # the last 10 span seasons
    assert new_season["player_rest_days"] == 7.0
    assert new_season["player_season_games"] == 0.0


def test_rotation_minutes_separate_starters_from_the_bench(league, league_players):
    games, team_games = league
    out = build_player_features(league_players, team_games, games)
    later = out.loc[out["min_avg_season"].notna()]
    starters = later.loc[later["player_id"] % 100 == 0, "min_avg_season"]
    bench = later.loc[later["player_id"] % 100 == 2, "min_avg_season"]
    assert (starters.mean() >= 30) and (bench.mean() < 25)
    assert (later["min_avg_season"] >= 20).groupby(later["player_id"] % 100).mean()[0] > 0.9


def test_opponent_and_home_come_from_games(league, league_players):
    games, team_games = league
    out = build_player_features(league_players, team_games, games)
    g = games.set_index("game_id")
    home_team = out["game_id"].map(g["home_team_id"])
    away_team = out["game_id"].map(g["away_team_id"])
    assert (out["is_home"] == (out["team_id"] == home_team)).all()
    expected_opp = np.where(out["is_home"], away_team, home_team)
    assert (out["opponent_team_id"].to_numpy() == expected_opp).all()
    assert (out["player_is_home"] == out["is_home"].astype(float)).all()


def test_appending_a_later_game_leaves_earlier_rows_unchanged(league_specs):
    games, team_games = games_from(league_specs), team_games_from(league_specs)
    players = player_games_from(team_games, seed=2)
    base = build_player_features(players, team_games, games)
    last = league_specs[-1]
    later = [("0099900001", pd.Timestamp(last[1]) + pd.Timedelta(days=1), last[2], 1, 2, 140, 90)]
    more_tg = pd.concat([team_games, team_games_from(later)], ignore_index=True)
    more_pg = pd.concat(
        [players, player_games_from(team_games_from(later), seed=9)], ignore_index=True
    )
    more = build_player_features(more_pg, more_tg, pd.concat([games, games_from(later)]))
    assert len(more) == len(base) + 6
    pd.testing.assert_frame_equal(more.iloc[: len(base)], base, **TOL)


@pytest.mark.parametrize("position", [0, 40, 333, 700, 950])
def test_features_equal_those_from_data_cut_before_the_game(league, league_players, position):
    games, team_games = league
    full = build_player_features(league_players, team_games, games)
    target = full.iloc[position]
    date = target["game_date"]
    earlier = league_players["game_date"] < date
    this = (league_players["game_id"] == target["game_id"]) & (
        league_players["player_id"] == target["player_id"]
    )
    alone = build_player_features(
        league_players.loc[earlier | this],
        team_games.loc[team_games["game_date"] < date],
        games.loc[(games["game_date"] < date) | (games["game_id"] == target["game_id"])],
    )
    got = alone.set_index(KEY).loc[(target["game_id"], target["player_id"])]
    pd.testing.assert_series_equal(got, target.drop(KEY), check_names=False, **TOL)


def test_row_order_does_not_matter(league, league_players):
    games, team_games = league
    base = build_player_features(league_players, team_games, games)
    other = build_player_features(
        league_players.sample(frac=1.0, random_state=3),
        team_games.sample(frac=1.0, random_state=4),
        games.sample(frac=1.0, random_state=5),
    )
    pd.testing.assert_frame_equal(other, base, **TOL)


def test_same_day_rows_do_not_see_each_other(league, league_players):
    games, team_games = league
    base = build_player_features(league_players, team_games, games)
    day = league_players["game_date"].sort_values().unique()[30]
    changed = league_players.copy()
    changed.loc[changed["game_date"] == day, "pts"] += 30
    changed.loc[changed["game_date"] == day, "minutes"] -= 10
    other = build_player_features(changed, team_games, games)
    upto = base["game_date"] <= day
    cols = [*PLAYER_FEATURES, "pts_avg_season", "pts_avg_10", "min_avg_season"]
    pd.testing.assert_frame_equal(other.loc[upto, cols], base.loc[upto, cols], **TOL)
    assert not np.allclose(other.loc[~upto, "player_pts_ewm"], base.loc[~upto, "player_pts_ewm"])


@pytest.mark.parametrize("with_game_row", [True, False], ids=["game-row", "request-columns"])
def test_a_request_gets_the_features_of_the_played_row(league, league_players, with_game_row):
    games, team_games = league
    full = build_player_features(league_players, team_games, games)
    target = full.iloc[-1]
    history = league_players.drop(
        league_players.index[
            (league_players["game_id"] == target["game_id"])
            & (league_players["player_id"] == target["player_id"])
        ]
    )
    request = player_request_frame(
        target["player_id"],
        "P",
        target["team_id"],
        target["game_date"],
        target["season"],
        is_home=bool(target["is_home"]),
        opponent_team_id=target["opponent_team_id"],
    )
    tg = team_games.loc[team_games["game_date"] < target["game_date"]]
    past_games = games.loc[games["game_date"] < target["game_date"]]
    if with_game_row:
        home, away = (
            (target["team_id"], target["opponent_team_id"])
            if target["is_home"]
            else (target["opponent_team_id"], target["team_id"])
        )
        past_games = pd.concat(
            [past_games, game_request_frame(home, away, target["game_date"], target["season"])]
        )
    out = build_player_features(pd.concat([history, request]), tg, past_games)
    got = out.loc[out["pts"].isna()]
    assert len(got) == 1
    got = got.iloc[0]
    assert got["game_id"] == request["game_id"].iloc[0]
    cols = [
        *PLAYER_FEATURES,
        "pts_avg_season",
        "pts_avg_10",
        "min_avg_season",
        "is_home",
        "opponent_team_id",
    ]
    pd.testing.assert_series_equal(got[cols], target[cols], check_names=False, **TOL)


def test_games_missed_and_the_teams_scoring_gap(league, league_players):
    games, team_games = league
    team1 = team_games.loc[team_games["team_id"] == 1].sort_values("game_date")
    skipped = team1["game_id"].iloc[10:12].tolist()  # the star of team 1 misses two games
    absent = (league_players["player_id"] == 100) & league_players["game_id"].isin(skipped)
    out = build_player_features(league_players.loc[~absent], team_games, games)
    back = out.loc[(out["player_id"] == 100) & (out["game_id"] == team1["game_id"].iloc[12])]
    assert back["player_games_missed"].iloc[0] == 2.0
    teammate = out.loc[(out["player_id"] == 101) & (out["game_id"] == team1["game_id"].iloc[12])]
    assert teammate["team_scoring_gap"].iloc[0] > 10.0  # ~25 points of scoring were out
    usual = out.loc[(out["player_id"] == 101) & (out["game_id"] == team1["game_id"].iloc[10])]
    assert abs(usual["team_scoring_gap"].iloc[0]) < 5.0


def test_inputs_are_not_mutated(league, league_players):
    games, team_games = league
    before = [f.copy(deep=True) for f in (league_players, team_games, games)]
    build_player_features(league_players, team_games, games)
    for frame, copy in zip((league_players, team_games, games), before, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_player_request_frame_shape():
    request = player_request_frame(
        2544,
        "LeBron James",
        1610612747,
        "2024-01-05",
        "2023-24",
        is_home=False,
        opponent_team_id=1610612738,
    )
    assert len(request) == 1
    r = request.iloc[0]
    assert r["game_id"] == "9240105738"  # the game_request_frame ID of BOS (home) that day
    assert np.isnan(r["pts"]) and np.isnan(r["minutes"])
    assert request["game_date"].dtype == "datetime64[ns]"
    assert r["opponent_team_id"] == 1610612738 and not r["is_home"]


def test_store_dtypes_give_the_same_features(league, league_players):
    games, team_games = league
    base = build_player_features(league_players, team_games, games)
    players = league_players.copy()
    players["game_date"] = players["game_date"].dt.strftime("%Y-%m-%d")
    players["pts"] = players["pts"].astype(float)
    tg = team_games.copy()
    tg["game_date"] = tg["game_date"].astype("datetime64[us]")
    other = build_player_features(players, tg, games)
    pd.testing.assert_frame_equal(other, base, **TOL)


# --- minutes, scoring rate, previous season, league-relative opponent ------------------------


def previous_ewm(players: pd.DataFrame, column: str, halflife: float) -> pd.Series:
    """An independent reference: the EWM of the player's earlier games (ewm, then shift)."""
    ordered = players.sort_values(["player_id", "game_date", "game_id"])
    ewm = ordered.groupby("player_id")[column].transform(lambda s: s.ewm(halflife=halflife).mean())
    earlier = ewm.groupby(ordered["player_id"]).shift(1)
    return pd.Series(earlier.to_numpy(), index=pd.MultiIndex.from_frame(ordered[KEY])).sort_index()


@pytest.mark.parametrize("halflife", [3, 10])
def test_minutes_ewm_equals_an_independent_ewm(league, league_players, halflife):
    games, team_games = league
    out = by_key(build_player_features(league_players, team_games, games))
    expected = previous_ewm(league_players, "minutes", halflife)
    known = expected.notna()
    got = out.loc[known.index[known], f"player_min_ewm_{halflife}"]
    np.testing.assert_allclose(got, expected[known], rtol=1e-9)
    first = out.loc[known.index[~known], f"player_min_ewm_{halflife}"]
    assert first.between(10, 40).all()  # the league mean of earlier player-games


@pytest.mark.parametrize("halflife", [10, 20])
def test_points_per_minute_is_the_ratio_of_the_two_ewms(league, league_players, halflife):
    games, team_games = league
    out = by_key(build_player_features(league_players, team_games, games))
    pts = previous_ewm(league_players, "pts", halflife)
    minutes = previous_ewm(league_players, "minutes", halflife)
    known = pts.notna()
    np.testing.assert_allclose(
        out.loc[known.index[known], f"player_pts_per_min_ewm_{halflife}"],
        (pts / minutes)[known],
        rtol=1e-9,
    )


def test_previous_season_means_of_every_game_of_the_next_season(league, league_players):
    games, team_games = league
    out = build_player_features(league_players, team_games, games)
    first_season = league_players.loc[league_players["season"] == "2021-22"]
    totals = first_season.groupby("player_id").agg(
        pts=("pts", "mean"), minutes=("minutes", "mean"), n=("pts", "size")
    )
    later = out.loc[out["season"] == "2022-23"]
    np.testing.assert_allclose(
        later["player_pts_prev_season"], later["player_id"].map(totals["pts"]), rtol=1e-12
    )
    np.testing.assert_allclose(
        later["player_min_prev_season"], later["player_id"].map(totals["minutes"]), rtol=1e-12
    )
    assert (later["player_prev_season_games"] == later["player_id"].map(totals["n"])).all()
    earlier = out.loc[out["season"] == "2021-22"]  # no season before the data
    assert (earlier[["player_pts_prev_season", "player_prev_season_games"]] == 0.0).all().all()


def test_a_skipped_season_gives_no_previous_season(league, league_players):
    games, team_games = league
    skipped = (league_players["player_id"] == 100) & (league_players["season"] == "2021-22")
    out = build_player_features(league_players.loc[~skipped], team_games, games)
    back = out.loc[out["player_id"] == 100]
    assert (back["player_prev_season_games"] == 0.0).all()
    assert (back["player_pts_prev_season"] == 0.0).all()
    assert (back["player_min_prev_season"] == 0.0).all()


def test_previous_season_ignores_the_current_season(league, league_players):
    games, team_games = league
    base = build_player_features(league_players, team_games, games)
    changed = league_players.copy()
    current = changed["season"] == "2022-23"
    changed.loc[current, "pts"] += 20
    other = build_player_features(changed, team_games, games)
    cols = ["player_pts_prev_season", "player_min_prev_season", "player_prev_season_games"]
    pd.testing.assert_frame_equal(other[cols], base[cols], **TOL)


def trailing_league_rating(team_games: pd.DataFrame, day: pd.Timestamp) -> float:
    """Points per 100 possessions of every team-game in the 365 days ending on the last game
    day before ``day`` (possessions: the mean of both teams' estimates, as in features.team)."""
    tg = team_games.copy()
    tg["poss_own"] = tg["fga"] - tg["oreb"] + tg["tov"] + 0.44 * tg["fta"]
    tg["poss"] = tg.groupby("game_id")["poss_own"].transform("mean")
    last = tg.loc[tg["game_date"] < day, "game_date"].max()
    window = tg.loc[(tg["game_date"] <= last) & (tg["game_date"] > last - pd.Timedelta(days=365))]
    return 100.0 * window["pts"].sum() / window["poss"].sum()


def test_opponent_defence_is_compared_with_the_trailing_league(league, league_players):
    games, team_games = league
    out = build_player_features(league_players, team_games, games)
    for position in (200, 500, 900):
        r = out.iloc[position]
        expected = r["opp_def_rating_10"] - trailing_league_rating(team_games, r["game_date"])
        assert r["opp_def_rating_rel_10"] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    first = out.iloc[0]
    assert first["opp_def_rating_rel_10"] == 0.0 and first["opp_pace_rel_10"] == 0.0


NEW_COLUMNS = [
    "player_min_ewm_3",
    "player_min_ewm_10",
    "player_pts_per_min_ewm_10",
    "player_pts_per_min_ewm_20",
    "player_pts_prev_season",
    "player_min_prev_season",
    "player_prev_season_games",
    "team_pace_rel_10",
    "opp_def_rating_rel_10",
    "opp_pace_rel_10",
]


@pytest.mark.parametrize("position", [500, 720, 959])
def test_new_columns_are_as_of_the_day_before(league, league_players, position):
    """Second-season rows (previous season and trailing league both in play): the same values
    from data cut before the date, and whatever the row order of the inputs (appending a later
    day is checked for every column by test_appending_a_later_game_leaves_earlier_rows_unchanged).
    """
    games, team_games = league
    full = by_key(build_player_features(league_players, team_games, games))
    target = build_player_features(league_players, team_games, games).iloc[position]
    key = (target["game_id"], target["player_id"])
    date = target["game_date"]
    assert full.loc[key, "player_prev_season_games"] > 0
    assert full.loc[key, "opp_def_rating_rel_10"] != 0.0
    this = (league_players["game_id"] == key[0]) & (league_players["player_id"] == key[1])
    cut = build_player_features(
        league_players.loc[(league_players["game_date"] < date) | this],
        team_games.loc[team_games["game_date"] < date],
        games.loc[(games["game_date"] < date) | (games["game_id"] == key[0])],
    )
    np.testing.assert_allclose(
        by_key(cut).loc[key, NEW_COLUMNS].to_numpy(dtype=float),
        full.loc[key, NEW_COLUMNS].to_numpy(dtype=float),
        rtol=1e-9,
    )
    shuffled = by_key(
        build_player_features(
            league_players.sample(frac=1.0, random_state=11),
            team_games.sample(frac=1.0, random_state=12),
            games,
        )
    )
    pd.testing.assert_frame_equal(shuffled[NEW_COLUMNS], full[NEW_COLUMNS], **TOL)
