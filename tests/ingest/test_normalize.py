"""Normalization of raw stats.nba.com frames, and the real-data quirks it handles on purpose."""

from __future__ import annotations

import pandas as pd
import pytest

from ingest.errors import SourceDataError
from ingest.normalize import (
    games_from_team_games,
    normalize_game_id,
    normalize_player_games,
    normalize_team_games,
    season_types,
)
from ingest.schema import PLAYER_GAME_COLUMNS, TEAM_GAME_COLUMNS, parse_seasons, season_spans
from tests.builders import player_game_log, team_game_log, with_value

V3_STATS = (
    "fieldGoalsMade",
    "fieldGoalsAttempted",
    "threePointersMade",
    "threePointersAttempted",
    "freeThrowsMade",
    "freeThrowsAttempted",
    "reboundsOffensive",
    "reboundsDefensive",
    "reboundsTotal",
    "assists",
    "steals",
    "blocks",
    "turnovers",
    "foulsPersonal",
    "points",
    "plusMinusPoints",
)


def test_team_rows_get_the_schema_and_keep_game_id_zeros():
    tg = normalize_team_games(team_game_log(), "2022-23", "regular")
    assert tuple(tg.columns) == TEAM_GAME_COLUMNS
    assert tg["game_id"].map(len).eq(10).all()
    assert tg["game_id"].str.startswith("00222").all()
    assert tg["is_home"].sum() == len(tg) // 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (41500212, "0041500212"),
        ("0022300061", "0022300061"),
        ("22300061", "0022300061"),
        (41500212.0, "0041500212"),
    ],
)
def test_game_id_is_a_ten_character_string(raw, expected):
    assert normalize_game_id(pd.Series([raw])).iloc[0] == expected


def test_cancelled_game_with_empty_wl_is_dropped():
    raw = team_game_log(n_days=3)
    cancelled = raw["GAME_ID"] == raw["GAME_ID"].iloc[0]
    raw.loc[cancelled, "WL"] = None
    raw.loc[cancelled, ["PTS", "PLUS_MINUS", "FGM", "FGA"]] = 0
    tg = normalize_team_games(raw, "2022-23", "regular")
    assert raw["GAME_ID"].iloc[0] not in set(tg["game_id"])
    assert len(tg) == len(raw) - 2


def test_neutral_site_game_has_no_home_team():
    raw = team_game_log(n_days=2)
    gid = raw["GAME_ID"].iloc[0]
    rows = raw["GAME_ID"] == gid
    raw.loc[rows, "MATCHUP"] = raw.loc[rows, "MATCHUP"].str.replace("vs.", "@", regex=False)
    tg = normalize_team_games(raw, "2022-23", "regular")
    neutral = tg[tg["game_id"] == gid]
    assert neutral["neutral_site"].all() and not neutral["is_home"].any()
    assert not tg.loc[tg["game_id"] != gid, "neutral_site"].any()
    games = games_from_team_games(tg)
    game = games.set_index("game_id").loc[gid]
    assert bool(game["neutral_site"])
    assert game["home_team_id"] == neutral["team_id"].min()  # the documented stable choice
    assert game["home_pts"] == neutral.set_index("team_id").loc[game["home_team_id"], "pts"]


def test_games_pair_home_and_away_rows():
    tg = normalize_team_games(team_game_log(n_days=4), "2022-23", "regular")
    games = games_from_team_games(tg)
    assert len(games) == len(tg) // 2
    home = tg[tg["is_home"]].set_index("game_id")
    g = games.set_index("game_id")
    assert (g["home_team_id"] == home.loc[g.index, "team_id"]).all()
    assert (g["home_pts"] - g["away_pts"] == home.loc[g.index, "plus_minus"]).all()


def test_playoff_team_logs_in_game_minutes_are_scaled():
    raw = team_game_log(prefix="004")
    raw["MIN"] = 48.0
    raw["GAME_DATE"] = raw["GAME_DATE"] + "T00:00:00"
    tg = normalize_team_games(raw, "2022-23", "playoffs")
    assert (tg["minutes"] == 240.0).all()
    assert tg["season_type"].eq("playoffs").all() and tg["game_id"].str.startswith("004").all()
    assert tg["game_date"].dt.hour.eq(0).all()


def test_player_log_rows_keep_zero_minute_appearances():
    raw = player_game_log(team_game_log(n_days=1))
    raw.loc[0, "MIN"] = 0
    pg = normalize_player_games(raw, "2022-23", "regular")
    assert tuple(pg.columns) == PLAYER_GAME_COLUMNS
    assert len(pg) == len(raw)
    assert pg["minutes"].min() == 0


def test_v3_box_scores_drop_dnp_rows_and_parse_clock_minutes():
    raw = pd.DataFrame(
        {
            "gameId": [41500212, 41500212],
            "teamId": [1610612738, 1610612738],
            "personId": [1, 2],
            "personName": ["A", "B"],
            "game_date": ["2016-05-01"] * 2,
            "minutes": ["34:30", None],
            "comment": [None, "DNP - Coach's Decision"],
            **{c: [5, 0] for c in V3_STATS},
        }
    )
    pg = normalize_player_games(raw, "2015-16", "playoffs")
    assert len(pg) == 1
    assert pg.loc[0, "game_id"] == "0041500212"
    assert pg.loc[0, "minutes"] == pytest.approx(34.5)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("PTS", "abc", "not a number in 1 of 8 rows, e.g. 'abc'"),
        ("MIN", "abc", "not a number in 1 of 8 rows, e.g. 'abc'"),
        ("TEAM_ID", None, "not a number in 1 of 8 rows, e.g. empty"),
        ("GAME_DATE", "2022-13-45", "not a date (YYYY-MM-DD) in 1 of 8 rows, e.g. '2022-13-45'"),
        ("GAME_DATE", None, "not a date (YYYY-MM-DD) in 1 of 8 rows, e.g. empty"),
    ],
)
def test_a_team_log_value_of_the_wrong_kind_is_refused_naming_file_season_and_column(
    column, value, problem
):
    raw = with_value(team_game_log(n_days=2), column, value)
    raw.attrs["source"] = "team/2022-23.csv.gz"
    with pytest.raises(SourceDataError) as caught:
        normalize_team_games(raw, "2022-23", "regular")
    assert str(caught.value) == f"team/2022-23.csv.gz (2022-23 regular): column {column}: {problem}"
    assert caught.value.column == column


@pytest.mark.parametrize(("column", "value"), [("PTS", "abc"), ("PLAYER_ID", None)])
def test_a_player_log_value_of_the_wrong_kind_is_refused(column, value):
    raw = with_value(player_game_log(team_game_log(n_days=1)), column, value)
    with pytest.raises(SourceDataError, match=f"2022-23 regular.*column {column}: not a number"):
        normalize_player_games(raw, "2022-23", "regular")


def test_missing_columns_are_named():
    raw = team_game_log(n_days=1).drop(columns=["PTS", "REB"])
    with pytest.raises(SourceDataError) as caught:
        normalize_team_games(raw, "2022-23", "regular")
    assert str(caught.value).endswith("(2022-23 regular): columns REB, PTS: missing from the file")


def test_a_v3_box_score_error_names_the_column_as_in_the_file():
    raw = pd.DataFrame(
        {
            "gameId": [41500212],
            "teamId": [1610612738],
            "personId": [1],
            "personName": ["A"],
            "game_date": ["2016-05-01"],
            "minutes": ["34:30"],
            **{c: [5] for c in V3_STATS},
        }
    )
    with pytest.raises(SourceDataError, match="column points: missing from the file"):
        normalize_player_games(raw.drop(columns="points"), "2015-16", "playoffs")
    with pytest.raises(SourceDataError, match="column points: not a number in 1 of 1 rows"):
        normalize_player_games(with_value(raw, "points", "x", row=0), "2015-16", "playoffs")


@pytest.mark.parametrize(
    ("spec", "available", "expected"),
    [
        (None, ["2001-02", "2000-01"], ["2000-01", "2001-02"]),
        ("all", ["2000-01"], ["2000-01"]),
        ("2021-22:2023-24", [], ["2021-22", "2022-23", "2023-24"]),
        ("2023-24, 2021-22,2023-24", [], ["2021-22", "2023-24"]),
    ],
)
def test_parse_seasons(spec, available, expected):
    assert parse_seasons(spec, available) == expected


@pytest.mark.parametrize(
    "spec", ["2023", "2023-25", "2024-25:2023-24", ",", "20x3-24", "abcd-ef", "2023-2x"]
)
def test_parse_seasons_rejects_bad_specs(spec):
    with pytest.raises(ValueError, match="season"):  # a message about seasons, not int()
        parse_seasons(spec, [])


@pytest.mark.parametrize(
    ("seasons", "expected"),
    [
        ([], "none"),
        (["2023-24"], "2023-24"),
        (["2022-23", "2021-22", "2023-24"], "2021-22..2023-24"),
        (
            ["2025-26", "1999-00", "2000-01", "2023-24", "2022-23"],
            "1999-00..2000-01, 2022-23..2023-24, 2025-26",
        ),
        (["2023-24", "2023-24"], "2023-24"),
    ],
)
def test_season_spans_name_every_gap(seasons, expected):
    assert season_spans(seasons) == expected


@pytest.mark.snapshot
def test_real_quirks_in_the_snapshot(data_dir):
    """The cancelled 2012-13 game, 2019-20's incomplete player logs, playoff IDs."""
    from ingest.snapshot import SnapshotSource

    src = SnapshotSource(data_dir)
    tg = normalize_team_games(src.team_game_log("2012-13", "regular"), "2012-13", "regular")
    assert "0021201214" not in set(tg["game_id"])
    assert tg["game_id"].nunique() == 1229
    po = normalize_team_games(src.team_game_log("2023-24", "playoffs"), "2023-24", "playoffs")
    assert po["game_id"].str.startswith("004").all() and po["game_id"].nunique() == 82
    assert po["minutes"].between(240, 400).all()
    pg = normalize_player_games(src.player_game_log("2019-20", "regular"), "2019-20", "regular")
    team_1920 = src.team_game_log("2019-20", "regular")
    assert pg["game_id"].nunique() == 971  # the bubble's 88 games are missing in the source
    assert team_1920["GAME_ID"].nunique() == 1059
    box = normalize_player_games(src.player_game_log("2022-23", "playoffs"), "2022-23", "playoffs")
    assert box["game_id"].str.startswith("004").all() and (box["minutes"] >= 0).all()


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        ("2026-11-24", "2026-27"),
        ("2027-03-01", "2026-27"),
        ("2027-06-20", "2026-27"),
        ("2027-08-01", "2027-28"),
    ],
)
def test_current_season_spec(today, expected):
    from datetime import date

    assert parse_seasons("current", [], today=date.fromisoformat(today)) == [expected]


def test_season_types_come_from_the_column_else_from_the_game_id():
    games = pd.DataFrame({"game_id": ["0022300001"], "season_type": ["playoffs"]})
    assert season_types(games).tolist() == ["playoffs"]  # the column wins
    players = pd.DataFrame({"game_id": ["0022300001", "0042300101", "0012300001"]})
    assert season_types(players).tolist() == ["regular", "playoffs", "other"]
