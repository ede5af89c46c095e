"""Data tests for the Great Expectations gate: valid batches pass, broken ones are refused with the
right expectation named and the right count of offending rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ingest.schema import (
    GAME_ID_PREFIX,
    PLAYER_GAME_COLUMNS,
    PLAYOFFS,
    REGULAR,
    TEAM_GAME_COLUMNS,
)
from ingest.validation import (
    BatchValidationError,
    BatchValidator,
    ValidationReport,
    raise_for_failures,
    validate_batches,
)

REPO = Path(__file__).resolve().parents[2]
SEASON = "2023-24"

NOT_NULL = "expect_column_values_to_not_be_null"
OF_TYPE = "expect_column_values_to_be_of_type"
UNIQUE = "expect_compound_columns_to_be_unique"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
REGEX = "expect_column_values_to_match_regex"
COLUMNS = "expect_table_columns_to_match_set"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"
MIN = "expect_column_min_to_be_between"


# --------------------------------------------------------------------------------------------
# Hand-built normalized frames


def _shooting(pts: int) -> dict[str, int]:
    """Box-score shooting lines that add up to ``pts`` (2 * fgm + fg3m + ftm == pts)."""
    fg3m = min(10, pts // 6)
    ftm = min(15, pts - 3 * fg3m)
    ftm += (pts - fg3m - ftm) % 2
    fgm = (pts - fg3m - ftm) // 2
    return {
        "fgm": fgm,
        "fga": fgm + 40,
        "fg3m": fg3m,
        "fg3a": fg3m + 20,
        "ftm": ftm,
        "fta": ftm + 4,
    }


def make_team_games(
    n_games: int = 6, *, season: str = SEASON, season_type: str = REGULAR
) -> pd.DataFrame:
    """``n_games`` games, two consistent rows each (scores, plus_minus, W/L, dates in season).

    Every third game goes to overtime (265 player-minutes); the away team wins the odd games.
    """
    start = int(season[:4])
    first_day = (
        pd.Timestamp(start, 10, 24) if season_type == REGULAR else pd.Timestamp(start + 1, 4, 20)
    )
    rows = []
    for g in range(n_games):
        game_id = f"{GAME_ID_PREFIX[season_type]}{start % 100:02d}{g + 1:05d}"
        home, away = 1610612737 + (2 * g) % 30, 1610612737 + (2 * g + 1) % 30
        home_pts, away_pts = (112 + g, 104 + g) if g % 2 == 0 else (99 + g, 108 + g)
        for team, opp, pts, opp_pts, is_home in (
            (home, away, home_pts, away_pts, True),
            (away, home, away_pts, home_pts, False),
        ):
            abbr, opp_abbr = f"T{team % 100:02d}", f"T{opp % 100:02d}"
            rows.append(
                {
                    "game_id": game_id,
                    "team_id": team,
                    "season": season,
                    "season_type": season_type,
                    "game_date": first_day + pd.Timedelta(days=g),
                    "team_abbreviation": abbr,
                    "matchup": f"{abbr} vs. {opp_abbr}" if is_home else f"{abbr} @ {opp_abbr}",
                    "is_home": is_home,
                    "neutral_site": False,
                    "wl": "W" if pts > opp_pts else "L",
                    "minutes": 265.0 if g % 3 == 2 else 240.0,
                    **_shooting(pts),
                    "oreb": 10,
                    "dreb": 33,
                    "reb": 43,
                    "ast": 25,
                    "stl": 7,
                    "blk": 5,
                    "tov": 13,
                    "pf": 19,
                    "pts": pts,
                    "plus_minus": pts - opp_pts,
                }
            )
    frame = pd.DataFrame(rows, columns=list(TEAM_GAME_COLUMNS))
    frame["game_date"] = frame["game_date"].astype("datetime64[ns]")
    return frame


def make_player_games(team_games: pd.DataFrame, players_per_team: int = 3) -> pd.DataFrame:
    """Player rows for every team row: distinct ids per team, points adding up below the team's."""
    rows = []
    for r in team_games.itertuples(index=False):
        for k in range(players_per_team):
            pts = r.pts // (players_per_team + 1) + k
            player_id = 200000 + (r.team_id % 100) * 10 + k
            rows.append(
                {
                    "game_id": r.game_id,
                    "player_id": player_id,
                    "player_name": f"Player {player_id}",
                    "team_id": r.team_id,
                    "season": r.season,
                    "season_type": r.season_type,
                    "game_date": r.game_date,
                    "minutes": 36.5 - 4 * k,
                    **_shooting(pts),
                    "oreb": 1,
                    "dreb": 4,
                    "reb": 5,
                    "ast": 3,
                    "stl": 1,
                    "blk": 0,
                    "tov": 2,
                    "pf": 2,
                    "pts": pts,
                    "plus_minus": r.plus_minus - k,
                }
            )
    frame = pd.DataFrame(rows, columns=list(PLAYER_GAME_COLUMNS))
    frame["game_date"] = frame["game_date"].astype("datetime64[ns]")
    return frame


@pytest.fixture(scope="module")
def validator() -> BatchValidator:
    return BatchValidator()


@pytest.fixture
def team_games() -> pd.DataFrame:
    return make_team_games()


@pytest.fixture
def player_games() -> pd.DataFrame:
    return make_player_games(make_team_games())


def failures_of(report: ValidationReport) -> list[tuple[str, str | None, int]]:
    """Sorted (expectation, column, unexpected count) of the expectations that ran and failed."""
    return sorted(
        (f.expectation, f.column, f.unexpected_count) for f in report.failures if f.error is None
    )


def expected_failures(expected: dict[tuple, int]) -> list[tuple[str, str | None, int]]:
    """{(expectation, column[, tag]): count} -> the sorted triples of ``failures_of``; the tag lets
    one (expectation, column) pair fail twice (e.g. two regexes on game_id)."""
    return sorted((key[0], key[1], count) for key, count in expected.items())


def test_a_frame_validated_again_reuses_its_result_and_any_change_runs_the_suites():
    """The suites are deterministic: the same columns, dtypes and values (a retrain on an
    unchanged store) get the remembered result; a changed value or dtype is validated anew."""
    validator = BatchValidator()
    teams = make_team_games()
    first = validator.validate_team_games(teams, batch_name="first")
    runs = validator.suite_runs
    assert first.success and runs == 3  # rows, games, derived
    again = validator.validate_team_games(teams.copy(), batch_name="again")
    assert validator.suite_runs == runs
    assert (again.batch_name, again.success, again.n_expectations) == (
        "again",
        True,
        first.n_expectations,
    )
    changed = teams.copy()
    changed.loc[0, "pts"] = 999
    report = validator.validate_team_games(changed, batch_name="changed")
    assert validator.suite_runs == 2 * runs and not report.success
    assert ("expect_column_values_to_be_between", "pts", 1) in failures_of(report)
    retyped = teams.astype({"pts": "float64"})
    assert not validator.validate_team_games(retyped, batch_name="retyped").success
    assert validator.suite_runs == 3 * runs
    players = make_player_games(teams)
    assert validator.validate_player_games(players, team_games=teams, batch_name="p").success
    runs = validator.suite_runs
    # the player rows are checked against the team log: another team log is another check
    other = validator.validate_player_games(players, team_games=changed, batch_name="p2")
    assert validator.suite_runs > runs and other.batch_name == "p2"


# --------------------------------------------------------------------------------------------
# Valid batches pass


@pytest.mark.parametrize("season_type", [REGULAR, PLAYOFFS])
def test_valid_batches_pass(validator, season_type):
    teams = make_team_games(season_type=season_type)
    players = make_player_games(teams)

    reports = validate_batches(validator, teams, players, batch_name=f"valid-{season_type}")

    assert [r.kind for r in reports] == ["team_games", "player_games"]
    for report in reports:
        assert report.success, report.summary()
        assert report.failures == [] and report.skipped == []
        assert report.n_expectations > 50
        assert f"all {report.n_expectations} expectations passed" in report.summary()
    assert reports[0].n_rows == len(teams) and reports[1].n_rows == len(players)
    raise_for_failures(reports)  # does not raise


def test_validation_does_not_modify_the_batch(validator, team_games):
    before = team_games.copy()
    validator.validate_team_games(team_games, batch_name="untouched")
    pd.testing.assert_frame_equal(team_games, before)


def test_only_the_given_frames_are_validated(validator, team_games):
    reports = validate_batches(validator, team_games, None, batch_name="t")
    assert [r.kind for r in reports] == ["team_games"]
    with pytest.raises(ValueError, match="against the team games"):
        validate_batches(validator, None, make_player_games(team_games), batch_name="p")


# --------------------------------------------------------------------------------------------
# Broken team batches are refused


def _set(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    frame = frame.copy()
    if value is None and pd.api.types.is_integer_dtype(frame[column]):
        frame[column] = frame[column].astype("float64")  # what a null does to an int column
        value = float("nan")
    frame.loc[row, column] = value
    return frame


def _third_team_row(frame: pd.DataFrame) -> pd.DataFrame:
    extra = frame.iloc[[1]].assign(team_id=1610612766, team_abbreviation="T66", wl="L")
    return pd.concat([frame, extra], ignore_index=True)


def _both_rows_of_first_game(column: str, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def corrupt(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[frame["game_id"] == frame.loc[0, "game_id"], column] = value
        return frame

    return corrupt


TEAM_CORRUPTIONS = {
    # name: (corruption, {(expectation, column[, tag]): unexpected count} of every failure)
    "null game_id": (
        lambda f: _set(f, 0, "game_id", None),
        # row 0 also leaves its game: two "games" of one row, the one left has no win
        {(NOT_NULL, "game_id"): 1, (IN_SET, "n_rows"): 2, (IN_SET, "n_wins"): 1},
    ),
    "null team_id": (
        lambda f: _set(f, 0, "team_id", None),
        {(NOT_NULL, "team_id"): 1, (OF_TYPE, "team_id"): 1},
    ),
    "duplicated row": (
        lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
        {(UNIQUE, "game_id, team_id"): 2, (IN_SET, "n_rows"): 1, (IN_SET, "n_wins"): 1},
    ),
    "score contradicts plus_minus": (
        lambda f: _set(f, 0, "pts", f.loc[0, "pts"] + 3),
        {(BETWEEN, "pts_diff_minus_plus_minus"): 2},
    ),
    "game with three rows": (_third_team_row, {(IN_SET, "n_rows"): 1}),
    "game with two wins": (lambda f: _set(f, 1, "wl", "W"), {(IN_SET, "n_wins"): 1}),
    "game with a tie": (lambda f: _set(f, 1, "wl", "T"), {(IN_SET, "wl"): 1}),
    "date outside the season": (
        lambda f: _set(f, 0, "game_date", pd.Timestamp("2024-11-01")),
        {(IN_SET, "date_in_season"): 1},
    ),
    "date before the season": (
        lambda f: _set(f, 3, "game_date", pd.Timestamp("2023-08-31")),
        {(IN_SET, "date_in_season"): 1},
    ),
    "playoff game_id in a regular batch": (
        _both_rows_of_first_game("game_id", "0042300001"),
        {(REGEX, "game_id"): 2},
    ),
    "game_id without its leading zeros": (
        _both_rows_of_first_game("game_id", "22300001"),
        # the 10-digit rule and the 002-prefix rule
        {(REGEX, "game_id"): 2, (REGEX, "game_id", "again"): 2},
    ),
    "negative points": (
        lambda f: _set(f, 0, "pts", -5),
        {(BETWEEN, "pts"): 1, (BETWEEN, "pts_diff_minus_plus_minus"): 2},
    ),
    "implausible minutes": (lambda f: _set(f, 2, "minutes", 48.0), {(BETWEEN, "minutes"): 1}),
    "more makes than attempts": (
        lambda f: _set(f, 0, "fgm", f.loc[0, "fga"] + 1),
        {(PAIR, "fga, fgm"): 1},
    ),
    "rebounds do not add up": (
        lambda f: _set(f, 0, "reb", 50),
        {(BETWEEN, "reb_minus_oreb_dreb"): 1},
    ),
    "negative steals": (lambda f: _set(f, 0, "stl", -1), {(MIN, "stl"): 1}),
    "unknown season_type": (
        lambda f: _set(f, 0, "season_type", "preseason"),
        {(IN_SET, "season_type"): 1},
    ),
    "game_id stored as a number": (
        lambda f: _set(f.astype({"game_id": object}), 0, "game_id", 22300001),
        # not a string, not 10 digits, not 002...; and no longer the same game as its opponent
        {
            (OF_TYPE, "game_id"): 1,
            (REGEX, "game_id"): 1,
            (REGEX, "game_id", "again"): 1,
            (IN_SET, "n_rows"): 2,
            (IN_SET, "n_wins"): 1,
        },
    ),
}


@pytest.mark.parametrize("case", list(TEAM_CORRUPTIONS))
def test_broken_team_batch_is_refused(validator, team_games, case):
    corrupt, expected = TEAM_CORRUPTIONS[case]

    report = validator.validate_team_games(corrupt(team_games), batch_name=case)

    assert not report.success
    assert failures_of(report) == expected_failures(expected), report.summary()
    assert not [f for f in report.failures if f.error], report.summary()
    summary = report.summary()
    for expectation, column, *_ in expected:
        assert f"{expectation} [{column}]" in summary
    with pytest.raises(BatchValidationError):
        raise_for_failures([report])


def test_game_id_without_leading_zeros_fails_both_format_rules(validator, team_games):
    broken = _both_rows_of_first_game("game_id", "22300001")(team_games)

    report = validator.validate_team_games(broken, batch_name="zeros")

    regex = {f.description: f for f in report.failures if f.expectation == REGEX}
    assert set(regex) == {"game_id is a 10-digit string", "regular game_id starts with 002"}
    for failure in regex.values():
        assert failure.unexpected_count == 2
        assert {e["game_id"] for e in failure.examples} == {"22300001"}


def test_playoff_game_id_in_regular_batch_names_the_prefix_rule(validator, team_games):
    broken = _both_rows_of_first_game("game_id", "0042300001")(team_games)

    report = validator.validate_team_games(broken, batch_name="prefix")

    [failure] = report.failures
    assert failure.description == "regular game_id starts with 002"
    assert "0042300001" in report.summary()


def test_regular_game_id_in_playoff_batch_is_refused(validator):
    playoffs = make_team_games(season_type=PLAYOFFS)
    broken = _both_rows_of_first_game("game_id", "0022300001")(playoffs)

    report = validator.validate_team_games(broken, batch_name="po")

    assert failures_of(report) == [(REGEX, "game_id", 2)]
    assert report.failures[0].description == "playoffs game_id starts with 004"


def test_examples_identify_the_offending_rows(validator, team_games):
    broken = _set(team_games, 4, "pts", 250)

    report = validator.validate_team_games(broken, batch_name="examples")

    [pts] = [f for f in report.failures if f.column == "pts"]
    assert pts.examples == [
        {
            "game_id": team_games.loc[4, "game_id"],
            "team_id": int(team_games.loc[4, "team_id"]),
            "pts": 250,
        }
    ]
    assert "250" in report.summary()


def test_many_offending_rows_are_counted_and_five_shown(validator):
    teams = make_team_games(n_games=20)
    teams["game_date"] = pd.Timestamp("2025-01-15")  # next season's dates

    report = validator.validate_team_games(teams, batch_name="wrong season")

    [failure] = report.failures
    assert failure.column == "date_in_season" and failure.unexpected_count == 40
    assert len(failure.examples) == 5
    line = next(line for line in report.summary().splitlines() if "e.g." in line)
    assert line.count("game_id") == 5


@pytest.mark.parametrize(
    ("change", "mismatch"),
    [
        (lambda f: f.rename(columns={"pts": "points"}), ["missing pts", "unexpected points"]),
        (lambda f: f.drop(columns=["ast"]), ["missing ast"]),
        (lambda f: f.assign(fg_pct=0.5), ["unexpected fg_pct"]),
    ],
    ids=["wrong", "missing", "extra"],
)
def test_wrong_columns_are_refused(validator, team_games, change, mismatch):
    report = validator.validate_team_games(change(team_games), batch_name="columns")

    [columns] = [f for f in report.failures if f.expectation == COLUMNS]
    assert columns.unexpected_count == len(mismatch)
    assert sorted(columns.examples) == sorted(mismatch)
    assert not report.success
    # the checks on a missing column could not run, and say so; no other check failed
    missing = {m.split()[1] for m in mismatch if m.startswith("missing")}
    assert {f.column for f in report.failures if f.error} <= missing
    assert all(f.error for f in report.failures if f.expectation != COLUMNS)
    assert "expect_table_columns_to_match_set" in report.summary()


def test_missing_input_of_a_derived_check_is_reported_as_not_checked(validator, team_games):
    report = validator.validate_team_games(team_games.drop(columns=["wl"]), batch_name="no wl")

    assert not report.success
    assert any(s.startswith("team_games.games") for s in report.skipped)
    assert "not checked: team_games.games" in report.summary()


# --------------------------------------------------------------------------------------------
# Broken player batches are refused

PLAYER_CORRUPTIONS = {
    "null player_id": (
        lambda f: _set(f, 0, "player_id", None),
        {(NOT_NULL, "player_id"): 1, (OF_TYPE, "player_id"): 1},
    ),
    "null player_name": (lambda f: _set(f, 2, "player_name", None), {(NOT_NULL, "player_name"): 1}),
    "duplicated row": (
        lambda f: pd.concat([f, f.iloc[[5]]], ignore_index=True),
        {(UNIQUE, "game_id, player_id"): 2},
    ),
    "negative points": (lambda f: _set(f, 0, "pts", -2), {(BETWEEN, "pts"): 1}),
    "implausible points": (lambda f: _set(f, 0, "pts", 101), {(BETWEEN, "pts"): 1}),
    "implausible minutes": (lambda f: _set(f, 0, "minutes", 70.5), {(BETWEEN, "minutes"): 1}),
    "negative minutes": (lambda f: _set(f, 0, "minutes", -1.0), {(BETWEEN, "minutes"): 1}),
    "date outside the season": (
        lambda f: _set(f, 0, "game_date", pd.Timestamp("2022-12-25")),
        {(IN_SET, "date_in_season"): 1, (IN_SET, "in_team_log"): 1},
    ),
    "playoff game_id in a regular batch": (
        lambda f: _set(f, 0, "game_id", "0042300001"),
        {(REGEX, "game_id"): 1, (IN_SET, "in_team_log"): 1},
    ),
    "a game the team log does not hold": (
        lambda f: _set(f, 0, "game_id", "0022399999"),
        {(IN_SET, "in_team_log"): 1},
    ),
    "a team that did not play that game": (
        lambda f: _set(f, 0, "team_id", 1610612999),
        {(IN_SET, "in_team_log"): 1},
    ),
    "another date than the team log's": (
        lambda f: _set(f, 0, "game_date", f.loc[0, "game_date"] + pd.Timedelta(days=1)),
        {(IN_SET, "in_team_log"): 1},
    ),
    "more threes than field goals": (
        lambda f: _set(_set(f, 0, "fg3m", 30), 0, "fg3a", 30),
        {(PAIR, "fgm, fg3m"): 1},
    ),
    "free throws made above attempts": (
        lambda f: _set(f, 0, "ftm", f.loc[0, "fta"] + 1),
        {(PAIR, "fta, ftm"): 1},
    ),
    "season in the wrong format": (
        lambda f: _set(f, 0, "season", "2023"),
        {(REGEX, "season"): 1, (IN_SET, "date_in_season"): 1},
    ),
}


@pytest.mark.parametrize("case", list(PLAYER_CORRUPTIONS))
def test_broken_player_batch_is_refused(validator, player_games, case):
    corrupt, expected = PLAYER_CORRUPTIONS[case]

    report = validator.validate_player_games(
        corrupt(player_games), team_games=make_team_games(), batch_name=case
    )

    assert not report.success
    assert failures_of(report) == expected_failures(expected), report.summary()
    for expectation, column, *_ in expected:
        assert f"{expectation} [{column}]" in report.summary()


# --------------------------------------------------------------------------------------------
# Reports and the error


def test_report_saves_json_that_round_trips_and_a_self_contained_html(
    validator, team_games, tmp_path
):
    broken = pd.concat([team_games, team_games.iloc[[0]]], ignore_index=True)
    report = validator.validate_team_games(broken, batch_name="2023-24 regular/nightly")
    now = datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=UTC)

    path = report.save(tmp_path / "reports", now=now)

    assert (
        path
        == tmp_path / "reports" / "20240102T030405.000678Z_2023-24_regular_nightly_team_games.json"
    )
    data = json.loads(path.read_text())
    assert data == report.to_dict()
    assert data["success"] is False and data["n_rows"] == len(broken)
    assert set(data["raw"]) == {"team_games.rows", "team_games.games", "team_games.derived"}
    assert ValidationReport.load(path) == report
    page = path.with_suffix(".html").read_text()
    assert "expect_compound_columns_to_be_unique" in page and "FAILED" in page
    assert "http://" not in page and "https://" not in page  # no external resources


def test_reports_of_one_batch_do_not_overwrite_each_other(validator, team_games, tmp_path):
    now = datetime(2024, 1, 2, tzinfo=UTC)
    reports = validate_batches(
        validator, team_games, make_player_games(team_games), batch_name="same"
    )
    paths = {r.save(tmp_path, now=now) for r in reports}
    assert len(paths) == 2 and all(p.exists() for p in paths)


def test_error_lists_the_failed_expectations_of_failed_reports(validator, team_games):
    bad_teams = _set(team_games, 1, "wl", "W")
    reports = validate_batches(
        validator, bad_teams, make_player_games(team_games), batch_name="nightly"
    )

    with pytest.raises(BatchValidationError) as caught:
        raise_for_failures(reports)

    assert caught.value.reports == reports
    assert caught.value.failed == [reports[0]]
    message = str(caught.value)
    assert "batch 'nightly' (team_games)" in message
    assert "expect_column_values_to_be_in_set [n_wins]: 1 unexpected" in message
    assert "player_games" not in message  # the passing report is not listed


def test_importing_the_module_does_not_import_great_expectations():
    code = (
        "import sys, ingest.validation as v; v.BatchValidator(); "
        "sys.exit(1 if 'great_expectations' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()


def test_validator_builds_its_suites_once(validator, team_games):
    validator.validate_team_games(team_games, batch_name="a")
    first = validator._validation_definitions()
    validator.validate_player_games(
        make_player_games(team_games), team_games=team_games, batch_name="b"
    )
    assert validator._validation_definitions() is first


# --------------------------------------------------------------------------------------------
# A real season from the snapshot


def _snapshot_dir() -> Path:
    return Path(os.environ.get("NBA_DATA_DIR", REPO / ".." / "shared" / "data" / "nba"))


@pytest.fixture(scope="module")
def real_season() -> tuple[pd.DataFrame, pd.DataFrame]:
    from ingest.normalize import normalize_player_games, normalize_team_games

    data = _snapshot_dir()
    team_file = data / "team_game_logs" / "regular_season" / f"{SEASON}.csv.gz"
    player_file = data / "player_game_logs" / "regular_season" / f"{SEASON}.csv.gz"
    if not (team_file.exists() and player_file.exists()):
        pytest.skip(f"NBA snapshot {SEASON} not found under {data} (set NBA_DATA_DIR)")
    teams = normalize_team_games(pd.read_csv(team_file, dtype={"GAME_ID": str}), SEASON, REGULAR)
    players = normalize_player_games(
        pd.read_csv(player_file, dtype={"GAME_ID": str}), SEASON, REGULAR
    )
    return teams, players


@pytest.mark.snapshot
def test_a_real_season_passes_every_expectation(validator, real_season):
    teams, players = real_season

    reports = validate_batches(validator, teams, players, batch_name=SEASON)

    assert [r.n_rows for r in reports] == [2460, 26401]
    for report in reports:
        assert report.success, report.summary()


@pytest.mark.snapshot
def test_a_real_playoff_season_passes_every_expectation(validator):
    from ingest.normalize import normalize_team_games

    path = _snapshot_dir() / "team_game_logs" / "playoffs" / f"{SEASON}.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found (set NBA_DATA_DIR)")
    teams = normalize_team_games(pd.read_csv(path, dtype={"GAME_ID": str}), SEASON, PLAYOFFS)

    report = validator.validate_team_games(teams, batch_name=f"{SEASON}-playoffs")

    assert report.success, report.summary()


@pytest.mark.snapshot
def test_a_corrupted_real_season_is_refused(validator, real_season):
    teams = real_season[0].copy()
    loser = teams.index[teams["wl"].eq("L")][100]
    teams.loc[loser, "wl"] = "W"
    teams.loc[teams.index[500], "plus_minus"] += 1

    report = validator.validate_team_games(teams, batch_name="corrupted")

    assert failures_of(report) == expected_failures(
        {(IN_SET, "n_wins"): 1, (BETWEEN, "pts_diff_minus_plus_minus"): 1}
    )
    [wins] = [f for f in report.failures if f.column == "n_wins"]
    assert wins.examples[0]["game_id"] == teams.loc[loser, "game_id"]
