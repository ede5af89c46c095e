"""build_game_features: the contract, the as-of rule (no leakage) and hand-checked values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features import GAME_FEATURES
from features.elo import EloParams, run_elo, win_probability
from features.game import build_game_features, game_request_frame, request_game_id
from features.team import build_team_log, played_games
from tests.features.frames import games_from, team_games_from

TOL = {"check_exact": False, "rtol": 1e-9, "atol": 1e-9}


def row(features: pd.DataFrame, game_id: str) -> pd.Series:
    return features.set_index("game_id").loc[game_id]


def team_view(features: pd.DataFrame, game_id: str, team_id: int, name: str) -> float:
    """The feature ``name`` of ``team_id`` in game ``game_id``, whichever side it is on."""
    r = row(features, game_id)
    side = "home" if r["home_team_id"] == team_id else "away"
    return float(r[f"{side}_{name}"])


# --- the contract -------------------------------------------------------------------------------


def test_one_row_per_game_in_contract_order(league):
    games, team_games = league
    shuffled = games.sample(frac=1.0, random_state=0)
    out = build_game_features(shuffled, team_games)
    expected = games.sort_values(["game_date", "game_id"])["game_id"].tolist()
    assert out["game_id"].tolist() == expected
    fixed = ["game_id", "game_date", "season", "season_type", "home_team_id", "away_team_id"]
    assert list(out.columns[: len(fixed)]) == fixed
    for name in (*GAME_FEATURES, "home_win", "neutral_site", "home_win_pct", "away_win_pct"):
        assert name in out.columns
    assert "elo_home_prob" in out.columns
    assert not out.columns.duplicated().any()


def test_game_features_have_no_nan_even_without_history(league):
    games, team_games = league
    out = build_game_features(games, team_games)
    assert not out.loc[:, list(GAME_FEATURES)].isna().any().any()
    first = out.iloc[0]
    assert first["home_win_pct"] == 0.5
    assert first["home_elo"] == 1505.0
    assert first["home_rest_days"] == 7.0


def test_home_win_is_the_result_and_nan_for_requests(hand_frames):
    games, team_games = hand_frames
    request = game_request_frame(1, 2, "2023-10-22", "2023-24")
    out = build_game_features(pd.concat([games, request], ignore_index=True), team_games)
    assert row(out, "0022200001")["home_win"] == 1.0
    assert row(out, "0022200002")["home_win"] == 1.0
    assert row(out, "0022200007")["home_win"] == 0.0
    assert np.isnan(row(out, request_game_id(1, "2023-10-22"))["home_win"])


def test_game_id_keeps_its_leading_zeros(hand_frames):
    out = build_game_features(*hand_frames)
    assert out["game_id"].map(len).eq(10).all()
    assert out["game_id"].iloc[0] == "0022200001"


def test_inputs_are_not_mutated(league):
    games, team_games = league
    games_before, team_before = games.copy(deep=True), team_games.copy(deep=True)
    shuffled = games.sample(frac=1.0, random_state=1)
    shuffled_before = shuffled.copy(deep=True)
    build_game_features(shuffled, team_games)
    pd.testing.assert_frame_equal(games, games_before)
    pd.testing.assert_frame_equal(team_games, team_before)
    pd.testing.assert_frame_equal(shuffled, shuffled_before)


def test_missing_column_is_refused(hand_frames):
    games, team_games = hand_frames
    with pytest.raises(ValueError, match="fga"):
        build_game_features(games, team_games.drop(columns=["fga"]))


# --- the as-of rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("played", [True, False], ids=["played", "request"])
def test_appending_a_later_game_leaves_earlier_rows_unchanged(league_specs, played):
    base = build_game_features(games_from(league_specs), team_games_from(league_specs))
    last_date = pd.Timestamp(league_specs[-1][1])
    later = ("0099900001", last_date + pd.Timedelta(days=2), league_specs[-1][2], 1, 2, 150, 80)
    specs = [*league_specs, later]
    games = games_from(specs if played else [*league_specs, (*later[:5], None, None)])
    team_games = team_games_from(specs if played else league_specs)
    more = build_game_features(games, team_games)
    assert len(more) == len(base) + 1
    pd.testing.assert_frame_equal(more.iloc[: len(base)], base, **TOL)


@pytest.mark.parametrize("position", [0, 5, 37, 80, 121, 159])
def test_features_equal_those_from_data_cut_before_the_game(league, position):
    games, team_games = league
    full = build_game_features(games, team_games)
    target = full.iloc[position]
    cut = team_games.loc[team_games["game_date"] < target["game_date"]]
    alone = build_game_features(games.loc[games["game_id"] == target["game_id"]], cut)
    pd.testing.assert_series_equal(alone.iloc[0], target, check_names=False, **TOL)


def test_row_order_of_inputs_does_not_matter(league):
    games, team_games = league
    base = build_game_features(games, team_games)
    shuffled = build_game_features(
        games.sample(frac=1.0, random_state=7), team_games.sample(frac=1.0, random_state=8)
    )
    pd.testing.assert_frame_equal(shuffled, base, **TOL)


def test_same_day_games_do_not_see_each_other(league_specs):
    day = pd.Timestamp(league_specs[60][1])
    flipped = [(*s[:5], s[6], s[5]) if pd.Timestamp(s[1]) == day else s for s in league_specs]
    base = build_game_features(games_from(league_specs), team_games_from(league_specs))
    other = build_game_features(games_from(flipped), team_games_from(flipped))
    upto = base["game_date"] <= day
    cols = list(GAME_FEATURES)
    pd.testing.assert_frame_equal(other.loc[upto, cols], base.loc[upto, cols], **TOL)
    after = base["game_date"] > day
    assert not np.allclose(other.loc[after, "home_elo"], base.loc[after, "home_elo"])


def test_an_unplayed_game_feeds_no_state_and_gets_the_same_features(league_specs):
    position = 90
    spec = league_specs[position]
    unplayed = [*league_specs[:position], (*spec[:5], None, None), *league_specs[position + 1 :]]
    played_out = build_game_features(games_from(league_specs), team_games_from(league_specs))
    pending = [s for s in unplayed if s[5] is not None]
    pending_out = build_game_features(games_from(unplayed), team_games_from(pending))
    cols = list(GAME_FEATURES)
    pd.testing.assert_series_equal(
        row(pending_out, spec[0])[cols], row(played_out, spec[0])[cols], **TOL
    )
    later = played_out["game_date"] > pd.Timestamp(spec[1])
    assert not np.allclose(pending_out.loc[later, "home_elo"], played_out.loc[later, "home_elo"])


def test_a_request_after_the_last_game_sees_every_played_game(hand_frames):
    games, team_games = hand_frames
    request = game_request_frame(1, 3, "2023-10-25", "2023-24")
    out = build_game_features(pd.concat([games, request], ignore_index=True), team_games)
    r = row(out, request_game_id(1, "2023-10-25"))
    assert r["home_season_games"] == 1.0  # the 2023-10-20 game
    assert r["home_win_pct"] == 1.0
    assert r["home_rest_days"] == 5.0
    assert r["away_season_games"] == 1.0


# --- hand-checked values (team 1 of HAND_SPECS) -------------------------------------------------


def test_rolling_margins_over_the_last_games(hand_frames):
    out = build_game_features(*hand_frames)
    # before 2022-11-05 team 1's last five margins were -5, +20, +10, -1, +5
    assert row(out, "0022200009")["home_margin_avg_5"] == pytest.approx(29 / 5)
    assert row(out, "0022200009")["home_margin_avg_10"] == pytest.approx(39 / 6)
    # before 2022-10-24: +10, -5, +20 (fewer games than the window)
    assert team_view(out, "0022200005", 1, "margin_avg_5") == pytest.approx(25 / 3)
    assert team_view(out, "0022200005", 1, "pts_for_avg_5") == pytest.approx(330 / 3)
    # windows span seasons: the first game of 2023-24 sees the last five of 2022-23
    assert row(out, "0022300001")["home_margin_avg_5"] == pytest.approx(40 / 5)


@pytest.mark.parametrize(
    ("game_id", "rest", "b2b", "three_in_four"),
    [
        ("0022200001", 7.0, 0.0, 0.0),  # first game of the season: the cap
        ("0022200002", 1.0, 1.0, 0.0),
        ("0022200004", 2.0, 0.0, 1.0),  # 10-20, 10-21, 10-23
        ("0022200005", 1.0, 1.0, 1.0),  # 10-21, 10-23, 10-24: third game in four nights
        ("0022200007", 3.0, 0.0, 0.0),
        ("0022200009", 7.0, 0.0, 0.0),  # 7 days, capped at 7
        ("0022300001", 7.0, 0.0, 0.0),  # new season
    ],
)
def test_rest_days_and_back_to_backs(hand_frames, game_id, rest, b2b, three_in_four):
    out = build_game_features(*hand_frames)
    assert team_view(out, game_id, 1, "rest_days") == rest
    assert team_view(out, game_id, 1, "b2b") == b2b
    assert team_view(out, game_id, 1, "three_in_four") == three_in_four


@pytest.mark.parametrize(
    ("game_id", "streak", "win_pct"),
    [
        ("0022200001", 0.0, 0.5),
        ("0022200002", 1.0, 1.0),
        ("0022200004", -1.0, 0.5),
        ("0022200005", 1.0, 2 / 3),
        ("0022200007", 2.0, 3 / 4),
        ("0022200008", -1.0, 3 / 5),
        ("0022200009", 1.0, 4 / 6),
        ("0022300001", 0.0, 0.5),  # both reset with the season
    ],
)
def test_streak_sign_and_season_win_pct(hand_frames, game_id, streak, win_pct):
    out = build_game_features(*hand_frames)
    assert team_view(out, game_id, 1, "streak") == streak
    assert team_view(out, game_id, 1, "win_pct") == pytest.approx(win_pct)


def test_season_games_and_baseline_win_pct_columns(hand_frames):
    out = build_game_features(*hand_frames)
    r = row(out, "0022200009")
    assert r["home_season_games"] == 6.0
    assert r["away_win_pct"] == pytest.approx(1 / 3)  # team 2: W (10-21), L, L
    assert r["diff_win_pct"] == pytest.approx(4 / 6 - 1 / 3)


def test_head_to_head_from_the_home_side(hand_frames):
    out = build_game_features(*hand_frames)
    first = row(out, "0022200001")
    assert (first["h2h_games"], first["h2h_home_win_pct"], first["h2h_home_margin_avg"]) == (
        0.0,
        0.5,
        0.0,
    )
    # before 2022-11-05 teams 1 and 2 met twice: 1 won by 10 (home) and by 10 (away)
    r = row(out, "0022200009")
    assert r["h2h_games"] == 2.0
    assert r["h2h_home_win_pct"] == 1.0
    assert r["h2h_home_margin_avg"] == pytest.approx(10.0)
    # team 3 hosted team 1 and won; then team 1 hosted team 3 and lost: from team 1's side
    assert row(out, "0022200007")["h2h_home_win_pct"] == 0.0
    assert row(out, "0022200007")["h2h_home_margin_avg"] == pytest.approx(-5.0)


def test_margin_trend_is_the_least_squares_slope():
    specs = [
        (
            f"00222{i:05d}",
            pd.Timestamp("2022-10-20") + pd.Timedelta(days=2 * i),
            "2022-23",
            1,
            2,
            100 + 2 * i,
            100,
        )
        for i in range(1, 13)
    ]  # team 1's margins grow by 2 a game
    specs[0] = (*specs[0][:5], 101, 100)
    out = build_game_features(games_from(specs), team_games_from(specs))
    assert row(out, specs[-1][0])["home_margin_trend_10"] == pytest.approx(2.0)
    assert row(out, specs[-1][0])["away_margin_trend_10"] == pytest.approx(-2.0)
    assert row(out, specs[2][0])["home_margin_trend_10"] == 0.0  # fewer than 3 games


def test_ratings_per_100_possessions(hand_frames):
    games, team_games = hand_frames
    out = build_game_features(games, team_games)
    g1 = team_games.loc[team_games["game_id"] == "0022200001"].set_index("team_id")
    poss = 0.5 * sum(
        g1.loc[t, "fga"] - g1.loc[t, "oreb"] + g1.loc[t, "tov"] + 0.44 * g1.loc[t, "fta"]
        for t in (1, 2)
    )
    r = row(out, "0022200002")  # team 1 (away) has one earlier game: 110-100
    assert r["away_off_rating_10"] == pytest.approx(100 * 110 / poss)
    assert r["away_def_rating_10"] == pytest.approx(100 * 100 / poss)
    assert r["away_net_rating_10"] == pytest.approx(100 * 10 / poss)
    assert r["away_pace_10"] == pytest.approx(poss * 48 / 48)


# --- Elo ----------------------------------------------------------------------------------------


def expected_first_update(margin: float, hfa: float, k: float = 20.0) -> float:
    """An independent hand computation of one Elo update between two 1505 teams."""
    diff = hfa if margin > 0 else -hfa
    p_home = 1 / (1 + 10 ** (-hfa / 400))
    mult = (abs(margin) + 3) ** 0.8 / (7.5 + 0.006 * diff)
    return k * mult * ((1.0 if margin > 0 else 0.0) - p_home)


def test_elo_update_direction_and_size(hand_frames):
    out = build_game_features(*hand_frames)
    delta = expected_first_update(10, 100.0)
    assert delta > 0
    r = row(out, "0022200002")  # team 3 (home, no game yet) vs team 1 (won its first game)
    assert r["away_elo"] == pytest.approx(1505 + delta)
    assert team_view(out, "0022200003", 2, "elo") == pytest.approx(1505 - delta)
    assert r["elo_home_prob"] == pytest.approx(
        win_probability(1505 - (1505 + delta) + r["elo_home_adv"])
    )


def test_elo_regresses_a_quarter_to_the_mean_between_seasons(hand_frames):
    games, team_games = hand_frames
    end = game_request_frame(1, 4, "2022-11-06", "2022-23")
    out = build_game_features(pd.concat([games, end], ignore_index=True), team_games)
    last_rating = row(out, request_game_id(1, "2022-11-06"))["home_elo"]
    assert last_rating > 1505
    new_season = row(out, "0022300001")["home_elo"]
    assert new_season == pytest.approx(0.75 * last_rating + 0.25 * 1505)


def test_home_advantage_is_learned_and_absent_at_neutral_sites():
    specs = [
        ("0022200001", "2022-10-20", "2022-23", 1, 2, 110, 100),
        ("0022200002", "2022-10-22", "2022-23", 3, 4, 100, 90),
        ("0022200003", "2022-10-24", "2022-23", 1, 3, 104, 100, True),
        ("0022200004", "2022-10-26", "2022-23", 2, 4, 100, 101),
    ]
    out = build_game_features(games_from(specs), team_games_from(specs))
    neutral = row(out, "0022200003")
    assert neutral["home_court"] == 0.0
    assert neutral["elo_home_adv"] == 0.0
    assert neutral["elo_home_prob"] == pytest.approx(
        win_probability(neutral["home_elo"] - neutral["away_elo"])
    )
    # two home wins raised the league home advantage above its start
    assert row(out, "0022200004")["elo_home_adv"] > 100.0
    assert row(out, "0022200001")["elo_home_adv"] == 100.0


def test_a_neutral_site_win_moves_elo_by_the_no_advantage_update():
    specs = [("0022200001", "2022-10-20", "2022-23", 1, 2, 110, 100, True)]
    games = played_games(build_team_log(team_games_from(specs)))
    assert games["neutral_site"].tolist() == [True]
    elo = run_elo(games, EloParams())
    gain = elo["home_elo_post"].iloc[0] - 1505
    assert gain == pytest.approx(expected_first_update(10, 0.0))
    assert gain == pytest.approx(20 * 13**0.8 / 7.5 * 0.5)
    assert elo["away_elo_post"].iloc[0] == pytest.approx(1505 - gain)
    home = run_elo(played_games(build_team_log(team_games_from([specs[0][:7]]))), EloParams())
    assert home["home_elo_post"].iloc[0] - 1505 < gain  # a home win was expected more


def test_elo_lookup_matches_the_sequential_pass(league):
    games, team_games = league
    out = build_game_features(games, team_games).set_index("game_id")
    played = played_games(build_team_log(team_games))
    elo = pd.concat([played, run_elo(played)], axis=1).set_index("game_id")
    np.testing.assert_allclose(out.loc[elo.index, "home_elo"], elo["home_elo_pre"], rtol=1e-12)
    np.testing.assert_allclose(out.loc[elo.index, "away_elo"], elo["away_elo_pre"], rtol=1e-12)
    np.testing.assert_allclose(out.loc[elo.index, "elo_home_adv"], elo["hfa_pre"], rtol=1e-12)


def test_game_request_frame_has_the_games_shape():
    request = game_request_frame(1610612738, 1610612747, "2024-01-05", "2023-24", neutral_site=True)
    assert list(request.columns) == [
        "game_id",
        "season",
        "season_type",
        "game_date",
        "home_team_id",
        "away_team_id",
        "home_pts",
        "away_pts",
        "neutral_site",
    ]
    r = request.iloc[0]
    assert r["game_id"] == "9240105738" and len(r["game_id"]) == 10
    assert r["game_date"] == pd.Timestamp("2024-01-05")
    assert request["game_date"].dtype == "datetime64[ns]"
    assert math.isnan(r["home_pts"]) and bool(r["neutral_site"]) is True


def test_store_dtypes_give_the_same_features(league):
    """Frames read back from a database: string or microsecond dates, 0/1 flags, float stats."""
    games, team_games = league
    base = build_game_features(games, team_games)
    g, tg = games.copy(), team_games.copy()
    g["game_date"] = g["game_date"].dt.strftime("%Y-%m-%d")
    g["neutral_site"] = g["neutral_site"].astype(int)
    tg["game_date"] = tg["game_date"].astype("datetime64[us]")
    tg["is_home"] = tg["is_home"].astype(int)
    tg[["pts", "fga", "fta"]] = tg[["pts", "fga", "fta"]].astype(float)
    pd.testing.assert_frame_equal(build_game_features(g, tg), base, **TOL)
