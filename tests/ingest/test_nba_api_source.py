"""The live nba_api source: real recorded stats.nba.com answers parsed by nba_api's own endpoint
classes, equivalence with the snapshot CSVs, retries and clear errors, replay of a recorded folder.

The only fake is the network: either ``NBAStatsHTTP.send_api_request`` (the class attribute) serves
a recorded body, or ``requests``' transport adapter answers with scripted statuses and failures so
that nba_api's and requests' real code runs above it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from nba_api.stats.endpoints import LeagueGameFinder, LeagueGameLog, TeamGameLog
from nba_api.stats.library.http import NBAStatsHTTP, NBAStatsResponse

from ingest.errors import NBAApiBadResponse, NBAApiError, NBAApiUnavailable, RecordingNotFound
from ingest.nba_api_source import SCOREBOARD_COLUMNS, NbaApiSource
from ingest.recorded import RecordedResponses

REPO = Path(__file__).resolve().parents[2]

LEAGUE_GAME_LOG_2025_26 = (
    "leaguegamelog_Counter-0_Direction-ASC_PlayerOrTeam-T_Season-2025-26"
    "_SeasonType-Regular-Season_Sorter-DATE.json"
)
FINDER_TEAMS_2023_24 = (
    "leaguegamefinder_PlayerOrTeam-T_Season-2023-24_SeasonType-Regular-Season.json"
)
FINDER_LEBRON_2023_24 = "leaguegamefinder_PlayerID-2544_PlayerOrTeam-P_Season-2023-24.json"
SCOREBOARD_2026_02_22 = "scoreboardv2_DayOffset-0_GameDate-2026-02-22.json"
CELTICS, LAKERS, LEBRON = 1610612738, 1610612747, 2544


# Fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nba_data_dir() -> Path:
    path = Path(os.environ.get("NBA_DATA_DIR", REPO / "../shared/data/nba")).resolve()
    if not (path / "nba_api_responses" / "index.csv").is_file():
        pytest.skip(f"the shared NBA snapshot is absent ({path}); set NBA_DATA_DIR")
    return path


@pytest.fixture(scope="module")
def responses_dir(nba_data_dir: Path) -> Path:
    return nba_data_dir / "nba_api_responses"


def recorded_url(responses_dir: Path, name: str) -> str:
    with (responses_dir / "index.csv").open(newline="") as handle:
        return next(row["url"] for row in csv.DictReader(handle) if row["file"] == name)


def recorded_body(responses_dir: Path, name: str) -> str:
    return (responses_dir / name).read_text(encoding="utf-8")


@pytest.fixture
def serve_body(monkeypatch):
    """Patch nba_api's HTTP send (the class attribute) to answer every request with ``body``;
    returns the list of requests it saw."""

    def install(body: str, url: str = "https://stats.nba.com/stats/recorded") -> list[dict]:
        seen: list[dict] = []

        def send_api_request(
            self,
            endpoint,
            parameters,
            referer=None,
            proxy=None,
            headers=None,
            timeout=None,
            raise_exception_on_error=False,
        ):
            seen.append({"endpoint": endpoint, "parameters": dict(parameters), "timeout": timeout})
            return NBAStatsResponse(response=body, status_code=200, url=url)

        monkeypatch.setattr(NBAStatsHTTP, "send_api_request", send_api_request)
        return seen

    return install


def _http_response(request, status: int, body: str, headers: dict | None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode("utf-8")
    response.headers.update(headers or {})
    response.encoding = "utf-8"
    response.url = request.url
    response.request = request
    return response


@pytest.fixture
def network(monkeypatch):
    """Replace the network under ``requests``: each request gets the next scripted outcome (an
    exception to raise or ``(status, body, headers)``); the last outcome repeats. Returns the
    list of ``(request, adapter kwargs)`` seen."""

    def install(*outcomes) -> list:
        script = list(outcomes)
        seen: list = []

        def send(adapter, request, **kwargs):
            seen.append((request, kwargs))
            outcome = script.pop(0) if len(script) > 1 else script[0]
            if isinstance(outcome, BaseException):
                raise outcome
            status, body, headers = outcome
            return _http_response(request, status, body, headers)

        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
        return seen

    return install


def no_raw_traceback(error: BaseException) -> bool:
    """Nothing from requests or json is chained to (and printed with) the error."""
    return error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


class FakeSleep:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# 1. Real recorded answers through the real endpoint classes -------------------------------------
@pytest.mark.snapshot
def test_team_game_log_parses_the_recorded_2025_26_league_game_log(responses_dir, serve_body):
    seen = serve_body(recorded_body(responses_dir, LEAGUE_GAME_LOG_2025_26))
    frame = NbaApiSource(pause=0, timeout=12.5).team_game_log("2025-26", "regular")

    assert seen == [
        {
            "endpoint": "leaguegamelog",
            "parameters": {
                "Counter": 0,
                "Direction": "ASC",
                "LeagueID": "00",
                "PlayerOrTeam": "T",
                "Season": "2025-26",
                "SeasonType": "Regular Season",
                "Sorter": "DATE",
                "DateFrom": "",
                "DateTo": "",
            },
            "timeout": 12.5,
        }
    ]
    assert list(frame.columns) == LeagueGameLog.expected_data["LeagueGameLog"]
    assert len(frame) == 1688
    assert frame["GAME_ID"].nunique() == 844
    assert (frame.groupby("GAME_ID").size() == 2).all()
    assert frame["GAME_ID"].map(type).eq(str).all()
    assert frame["GAME_ID"].str.len().eq(10).all()
    assert frame["GAME_ID"].str.startswith("00225").all()
    assert (frame["GAME_DATE"].min(), frame["GAME_DATE"].max()) == ("2025-10-21", "2026-02-21")
    # Per game: one winner, and the margin is the points difference.
    by_game = frame.groupby("GAME_ID")
    assert (by_game["WL"].apply(lambda wl: sorted(wl) == ["L", "W"])).all()
    assert (by_game["PLUS_MINUS"].sum() == 0).all()


@pytest.mark.snapshot
def test_scoreboard_gives_the_games_of_2026_02_22(responses_dir, serve_body):
    seen = serve_body(recorded_body(responses_dir, SCOREBOARD_2026_02_22))
    games = NbaApiSource(pause=0).scoreboard(dt.date(2026, 2, 22))

    assert seen[0]["endpoint"] == "scoreboardv2"
    assert seen[0]["parameters"]["GameDate"] == "2026-02-22"
    assert seen[0]["parameters"]["DayOffset"] == 0
    assert list(games.columns) == list(SCOREBOARD_COLUMNS)
    # 13 GameHeader rows: BOS @ LAL is listed once per national broadcaster (3).
    assert len(games) == 11
    assert games["game_id"].is_unique
    assert games["game_id"].tolist()[:2] == ["0022500817", "0022500818"]
    assert (games["game_date"] == pd.Timestamp("2026-02-22")).all()
    assert games["game_date"].dtype == "datetime64[ns]"
    assert set(games["season"]) == {"2025-26"}
    assert games["home_team_id"].dtype == "int64"
    assert games["away_team_id"].dtype == "int64"
    lal_bos = games.set_index("game_id").loc["0022500823"]
    assert (lal_bos["home_team_id"], lal_bos["away_team_id"]) == (LAKERS, CELTICS)
    assert lal_bos["status"] == "6:30 pm ET"


def test_teams_and_players_come_from_the_offline_lists():
    source = NbaApiSource(send=lambda **_: pytest.fail("static lists need no request"))
    teams = source.teams()
    players = source.players()

    assert list(teams.columns) == ["team_id", "abbreviation", "full_name", "city", "nickname"]
    assert len(teams) == 30
    assert teams["team_id"].is_unique
    lakers = teams.set_index("team_id").loc[LAKERS]
    assert (lakers["abbreviation"], lakers["full_name"]) == ("LAL", "Los Angeles Lakers")
    assert list(players.columns) == ["player_id", "full_name", "is_active"]
    assert len(players) > 4000
    assert players["player_id"].is_unique
    assert players["is_active"].dtype == bool
    assert players.set_index("player_id").loc[LEBRON, "full_name"] == "LeBron James"


def test_bad_arguments_fail_before_any_request():
    sleep = FakeSleep()
    source = NbaApiSource(send=lambda **_: pytest.fail("no request expected"), sleep=sleep)
    with pytest.raises(ValueError, match="2023-24"):
        source.team_game_log("2023", "regular")
    with pytest.raises(ValueError, match="season_type"):
        source.player_game_log("2023-24", "preseason")
    assert sleep.calls == []


# 2. Equivalence with the snapshot CSVs ----------------------------------------------------------
@pytest.mark.snapshot
def test_recorded_league_game_finder_normalizes_like_the_snapshot_csv(
    nba_data_dir, responses_dir, serve_body
):
    from ingest.normalize import normalize_team_games

    serve_body(recorded_body(responses_dir, FINDER_TEAMS_2023_24))
    raw = LeagueGameFinder(
        player_or_team_abbreviation="T",
        season_nullable="2023-24",
        season_type_nullable="Regular Season",
    ).league_game_finder_results.get_data_frame()
    csv_rows = pd.read_csv(
        nba_data_dir / "team_game_logs/regular_season/2023-24.csv.gz", dtype={"GAME_ID": str}
    )
    assert raw["GAME_ID"].str.len().eq(10).all()

    api = normalize_team_games(raw, "2023-24", "regular")
    snap = normalize_team_games(csv_rows, "2023-24", "regular")

    assert len(api) == len(snap) == 2460
    # Both sources agree exactly on everything but three columns where the finder answers
    # differently from LeagueGameLog (checked separately below).
    differing = ["minutes", "tov", "plus_minus"]
    pd.testing.assert_frame_equal(api.drop(columns=differing), snap.drop(columns=differing))
    # minutes: the finder sums the players' rounded minutes (237-244 for 240).
    assert (api["minutes"] - snap["minutes"]).abs().max() <= 4
    # tov: the finder leaves out team turnovers (shot clock ...), so it is never larger.
    assert (api["tov"] <= snap["tov"]).all()
    # plus_minus: a few rows carry fractional player-average values in the finder.
    assert (api["plus_minus"] == snap["plus_minus"]).mean() > 0.99


@pytest.mark.snapshot
@pytest.mark.parametrize(
    ("file", "team_id"),
    [
        ("teamgamelog_Season-2023-24_SeasonType-Regular-Season_TeamID-1610612738.json", CELTICS),
        ("teamgamelog_Season-2023-24_SeasonType-Regular-Season_TeamID-1610612747.json", LAKERS),
    ],
)
def test_recorded_team_game_logs_match_the_snapshot_csv(
    nba_data_dir, responses_dir, serve_body, file, team_id
):
    serve_body(recorded_body(responses_dir, file))
    raw = TeamGameLog(team_id=team_id, season="2023-24").team_game_log.get_data_frame()
    csv_rows = pd.read_csv(
        nba_data_dir / "team_game_logs/regular_season/2023-24.csv.gz", dtype={"GAME_ID": str}
    )
    csv_rows = csv_rows.loc[csv_rows["TEAM_ID"] == team_id]

    merged = raw.merge(
        csv_rows,
        left_on=["Game_ID", "Team_ID"],
        right_on=["GAME_ID", "TEAM_ID"],
        how="outer",
        suffixes=("_api", "_csv"),
        indicator=True,
    )
    assert len(raw) == 82
    assert (merged["_merge"] == "both").all()
    for column in ("PTS", "FGA", "FGM", "FG3M", "FTM", "REB", "AST", "WL", "MATCHUP", "MIN"):
        assert (merged[f"{column}_api"] == merged[f"{column}_csv"]).all(), column


@pytest.mark.snapshot
def test_player_game_log_asks_for_players_and_normalizes_like_the_snapshot_csv(
    nba_data_dir, responses_dir, serve_body
):
    """No recorded LeagueGameLog (PlayerOrTeam=P) exists; LeagueGameFinder (P) answers with the
    same columns, so LeBron James' recorded 2023-24 rows are served under LeagueGameLog's
    result-set name and parsed by nba_api's LeagueGameLog."""
    from ingest.normalize import normalize_player_games

    body = json.loads(recorded_body(responses_dir, FINDER_LEBRON_2023_24))
    body["resultSets"][0]["name"] = "LeagueGameLog"
    seen = serve_body(json.dumps(body))

    raw = NbaApiSource(pause=0).player_game_log("2023-24", "regular")

    assert seen[0]["parameters"]["PlayerOrTeam"] == "P"
    assert seen[0]["parameters"]["Season"] == "2023-24"
    assert seen[0]["parameters"]["SeasonType"] == "Regular Season"
    assert {"PLAYER_ID", "PLAYER_NAME", "TEAM_ID", "GAME_ID", "MIN", "PTS"} <= set(raw.columns)
    assert raw["GAME_ID"].str.len().eq(10).all()
    regular = raw.loc[raw["GAME_ID"].str.startswith("002")]  # the finder also returns other games
    csv_rows = pd.read_csv(
        nba_data_dir / "player_game_logs/regular_season/2023-24.csv.gz", dtype={"GAME_ID": str}
    )
    csv_rows = csv_rows.loc[csv_rows["PLAYER_ID"] == LEBRON]

    api = normalize_player_games(regular, "2023-24", "regular")
    snap = normalize_player_games(csv_rows, "2023-24", "regular")

    assert len(api) == 71
    pd.testing.assert_frame_equal(api, snap)


# 3. Retries, backoff, pacing and clear errors ----------------------------------------------------
def test_timeouts_are_retried_with_growing_delays_then_unavailable(network):
    seen = network(requests.exceptions.ReadTimeout("read timed out"))
    sleep = FakeSleep()
    source = NbaApiSource(timeout=7.5, retries=3, backoff=2.0, pause=0, sleep=sleep)

    with pytest.raises(NBAApiUnavailable) as caught:
        source.team_game_log("2023-24", "regular")

    message = str(caught.value)
    assert message.startswith("stats.nba.com could not be reached for leaguegamelog (")
    assert "Season=2023-24" in message
    assert "after 4 attempts" in message
    assert "timeout" in message
    assert caught.value.attempts == 4
    assert caught.value.endpoint == "leaguegamelog"
    assert no_raw_traceback(caught.value)
    assert sleep.calls == [2.0, 4.0, 8.0]
    assert len(seen) == 4
    assert all(kwargs["timeout"] == 7.5 for _, kwargs in seen)


@pytest.mark.parametrize(
    ("status", "headers", "delays"),
    [
        (429, {"Retry-After": "3"}, [3.0, 4.0, 8.0]),  # Retry-After honoured, then the backoff
        (429, {}, [2.0, 4.0, 8.0]),
        (500, {}, [2.0, 4.0, 8.0]),
        (503, {"Retry-After": "30"}, [30.0, 30.0, 30.0]),
    ],
)
def test_busy_and_failing_server_is_retried_then_bad_response(network, status, headers, delays):
    seen = network((status, "<html>busy</html>", headers))
    sleep = FakeSleep()
    source = NbaApiSource(retries=3, backoff=2.0, pause=0, sleep=sleep)

    with pytest.raises(NBAApiBadResponse) as caught:
        source.team_game_log("2023-24", "regular")

    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value)
    assert "after 4 attempts" in str(caught.value)
    assert sleep.calls == delays
    assert len(seen) == 4


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "<html>Access Denied</html>", "not a JSON object"),
        (200, '{"resource": "leaguegamelog", "resultSets": [', "not a JSON object"),
        (200, '{"resource": "leaguegamelog", "resultSets": []}', "no result set 'LeagueGameLog'"),
        (400, "SeasonType is required", "HTTP 400"),
        (404, "not found", "HTTP 404"),
    ],
)
def test_malformed_or_refused_answers_fail_at_once(network, status, body, expected):
    seen = network((status, body, {}))
    sleep = FakeSleep()

    with pytest.raises(NBAApiBadResponse) as caught:
        NbaApiSource(retries=3, pause=0, sleep=sleep).team_game_log("2023-24", "regular")

    assert expected in str(caught.value)
    assert "leaguegamelog" in str(caught.value)
    assert no_raw_traceback(caught.value)
    assert len(seen) == 1
    assert sleep.calls == []


def test_missing_columns_are_a_bad_response(network):
    body = {"resultSets": [{"name": "LeagueGameLog", "headers": ["GAME_ID"], "rowSet": [["1"]]}]}
    network((200, json.dumps(body), {}))

    with pytest.raises(NBAApiBadResponse, match="lacks the columns SEASON_ID, TEAM_ID"):
        NbaApiSource(pause=0, sleep=FakeSleep()).team_game_log("2023-24", "regular")


@pytest.mark.snapshot
def test_success_after_one_failure_returns_the_data(responses_dir, network, caplog):
    body = recorded_body(responses_dir, LEAGUE_GAME_LOG_2025_26)
    seen = network(
        requests.exceptions.ConnectionError("Connection refused"),
        (200, body, {"Content-Type": "application/json"}),
    )
    sleep = FakeSleep()
    caplog.set_level(logging.WARNING, logger="ingest.nba_api_source")

    frame = NbaApiSource(retries=3, backoff=2.0, pause=0, sleep=sleep).team_game_log(
        "2025-26", "regular"
    )

    assert len(frame) == 1688
    assert frame["GAME_ID"].nunique() == 844
    assert len(seen) == 2
    assert sleep.calls == [2.0]
    retries = [r for r in caplog.records if r.name == "ingest.nba_api_source"]
    assert [r.levelno for r in retries] == [logging.WARNING]
    # The request went to stats.nba.com with the season's parameters.
    assert seen[1][0].url.startswith("https://stats.nba.com/stats/leaguegamelog?")
    assert "Season=2025-26" in seen[1][0].url


@pytest.mark.snapshot
def test_consecutive_requests_are_paced(responses_dir, serve_body):
    serve_body(recorded_body(responses_dir, SCOREBOARD_2026_02_22))
    sleep = FakeSleep()
    source = NbaApiSource(pause=5.0, sleep=sleep)

    source.scoreboard(dt.date(2026, 2, 22))
    assert sleep.calls == []  # the first request does not wait
    source.scoreboard(dt.date(2026, 2, 22))

    assert len(sleep.calls) == 1
    assert 4.0 < sleep.calls[0] <= 5.0


# 4. The offline error is clear and fast -----------------------------------------------------------
def _stats_nba_resolves() -> bool:
    try:
        socket.getaddrinfo("stats.nba.com", 443)
    except OSError:
        return False
    return True


def test_offline_error_is_clear_and_fast():
    if _stats_nba_resolves():
        pytest.skip("stats.nba.com resolves here: this test checks the offline error only")
    source = NbaApiSource(timeout=5.0, retries=1, backoff=0.05, pause=0)

    started = time.monotonic()
    with pytest.raises(NBAApiUnavailable) as caught:
        source.team_game_log("2023-24", "regular")
    elapsed = time.monotonic() - started

    assert elapsed < 5.0
    message = str(caught.value)
    assert message.startswith("stats.nba.com could not be reached for leaguegamelog (")
    assert "after 2 attempts" in message
    assert "Traceback" not in message and "HTTPSConnectionPool" not in message


# 6. Recorded responses as the transport -----------------------------------------------------------
@pytest.mark.snapshot
def test_recorded_folder_replays_the_2025_26_team_log_without_patching(responses_dir):
    sleep = FakeSleep()
    source = NbaApiSource(send=RecordedResponses(responses_dir), pause=0, sleep=sleep)

    frame = source.team_game_log("2025-26", "regular")
    games = source.scoreboard(dt.date(2026, 2, 22))

    assert len(frame) == 1688
    assert frame["GAME_ID"].nunique() == 844
    assert frame["GAME_ID"].str.startswith("00225").all()
    assert len(games) == 11
    assert sleep.calls == []


@pytest.mark.snapshot
def test_recorded_folder_without_the_request_raises_a_clear_lookup_error(responses_dir):
    sleep = FakeSleep()
    source = NbaApiSource(send=RecordedResponses(responses_dir), sleep=sleep)

    with pytest.raises(RecordingNotFound) as caught:
        source.team_game_log("1999-00", "regular")

    assert isinstance(caught.value, LookupError)
    assert isinstance(caught.value, NBAApiError)
    assert "leaguegamelog" in str(caught.value)
    assert "Season=1999-00" in str(caught.value)
    assert sleep.calls == []  # not retried: the folder will not change


@pytest.mark.snapshot
def test_recorded_lookup_ignores_empty_values_league_id_and_key_case(responses_dir):
    recorded = RecordedResponses(responses_dir)

    found = recorded.find(
        "ScoreboardV2", {"gamedate": "2026-02-22", "DAYOFFSET": 0, "LeagueID": "00", "x": None}
    )
    assert found is not None
    assert found.file == SCOREBOARD_2026_02_22
    assert found.url == recorded_url(responses_dir, SCOREBOARD_2026_02_22)
    assert recorded.find("scoreboardv2", {"GameDate": "2026-02-22", "DayOffset": 1}) is None
    assert recorded.find("scoreboardv2", {"GameDate": "2026-02-22", "LeagueID": "10"}) is None

    response = recorded("scoreboardv2", {"GameDate": "2026-02-22", "DayOffset": "0"})
    assert "GameHeader" in response.get_data_sets()
