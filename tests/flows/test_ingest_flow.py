"""``ingest_flow`` under the Prefect test harness: real flow runs, real stores."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests
from sqlalchemy import func, select

import flows.ingest
from core.db import IngestRun, Player, PlayerGame, Team, TeamGame
from core.settings import Settings
from flows.ingest import ingest_flow, plan_ingest, schedule_flow
from flows.resources import open_store
from ingest.errors import NBAApiUnavailable, SourceDataError
from ingest.snapshot import SnapshotSource
from ingest.storage import read_team_games, store_status
from ingest.validation import BatchValidationError
from tests.builders import (
    damage_file,
    raise_error_behind_a_stop,
    team_game_log,
    with_value,
    write_snapshot,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def snapshot(tmp_path):
    return write_snapshot(
        tmp_path / "snap",
        {
            "2021-22": team_game_log("2021-22", n_days=6, seed=1),
            "2022-23": team_game_log("2022-23", n_days=8, seed=2),
        },
    )


def settings_for(tmp_path, data_dir, db_url=None) -> Settings:
    return Settings(data_dir=data_dir, state_dir=tmp_path / "state", database_url=db_url)


def test_ingest_then_rerun_changes_nothing(tmp_path, snapshot, db_url):
    settings = settings_for(tmp_path, snapshot, db_url)
    first = ingest_flow(source="snapshot", settings=settings)
    assert first.written["games"]["inserted"] == 28
    assert first.written["team_games"]["inserted"] == 56
    assert first.written["player_games"]["inserted"] == 168
    assert [b["season"] for b in first.batches] == ["2021-22", "2022-23"]
    second = ingest_flow(source="snapshot", settings=settings)
    assert all(v["inserted"] == 0 and v["updated"] == 0 for v in second.written.values())
    assert second.written["games"]["unchanged"] == 28
    assert second.unchanged_batches == ["2021-22 regular", "2022-23 regular"]
    assert second.input_hash == first.input_hash
    rows = store_status(open_store(settings))
    assert [(r["season"], r["games"]) for r in rows] == [("2021-22", 12), ("2022-23", 16)]
    assert list(settings.validation_dir.glob("*.json"))
    full = ingest_flow(source="snapshot", settings=settings, full=True)
    assert full.unchanged_batches == []
    assert full.written["team_games"] == {"inserted": 0, "updated": 0, "unchanged": 56}
    assert full.written["games"] == {"inserted": 0, "updated": 0, "unchanged": 28}
    assert full.written["player_games"] == {"inserted": 0, "updated": 0, "unchanged": 168}
    # A row edited outside the platform (its row_hash left as it was): --full compares the
    # stored values themselves and puts the snapshot's back.
    engine = open_store(settings)
    table = TeamGame.__table__
    with engine.begin() as conn:
        game_id, team_id, pts = conn.execute(
            select(table.c.game_id, table.c.team_id, table.c.pts).limit(1)
        ).one()
        key = (table.c.game_id == game_id) & (table.c.team_id == team_id)
        conn.execute(table.update().where(key).values(pts=pts + 1))
    repaired = ingest_flow(source="snapshot", settings=settings, full=True)
    assert repaired.written["team_games"] == {"inserted": 0, "updated": 1, "unchanged": 55}
    with engine.connect() as conn:
        assert conn.execute(select(table.c.pts).where(key)).scalar() == pts


def test_rerun_rewrites_what_changed_or_went_missing(tmp_path, snapshot):
    settings = settings_for(tmp_path, snapshot)
    ingest_flow(source="snapshot", settings=settings)
    later = team_game_log("2022-23", n_days=9, seed=2)  # one more day of games appended
    write_snapshot(snapshot, {"2022-23": later})
    engine = open_store(settings)
    with engine.begin() as conn:  # rows lost outside the platform are noticed
        conn.execute(PlayerGame.__table__.delete().where(PlayerGame.season == "2021-22"))
    again = ingest_flow(source="snapshot", settings=settings)
    assert again.unchanged_batches == []
    assert again.written["games"] == {"inserted": 2, "updated": 0, "unchanged": 28}
    assert again.written["player_games"]["inserted"] == 72 + 12


def test_rows_the_source_dropped_are_kept_reported_and_the_rerun_after_is_unchanged(
    tmp_path, snapshot
):
    """The source loses its last day of 2022-23: the store keeps those rows and says so, and
    the next run finds the batch unchanged (it used to be compared again on every run)."""
    settings = settings_for(tmp_path, snapshot)
    ingest_flow(source="snapshot", settings=settings)
    write_snapshot(snapshot, {"2022-23": team_game_log("2022-23", n_days=7, seed=2)})
    shorter = ingest_flow(source="snapshot", settings=settings)
    assert shorter.unchanged_batches == ["2021-22 regular"]
    assert shorter.kept == {"2022-23 regular": {"games": 2, "team_rows": 4, "player_rows": 12}}
    assert shorter.held["2022-23 regular"] == [16, 32, 96]
    again = ingest_flow(source="snapshot", settings=settings)
    assert again.unchanged_batches == ["2021-22 regular", "2022-23 regular"]
    assert again.kept == shorter.kept
    rows = store_status(open_store(settings))
    assert [(r["season"], r["games"]) for r in rows] == [("2021-22", 12), ("2022-23", 16)]


def test_a_misnamed_team_file_is_named_and_its_seasons_player_logs_are_not_dropped(
    tmp_path, snapshot
):
    """``2022-2023.csv.gz`` is not read: that season's player logs have no games to go with,
    so the run fails naming both files; a misnamed file nothing depends on is only reported."""
    team_dir = snapshot / "team_game_logs" / "regular_season"
    (team_dir / "2022-23.csv.gz").rename(team_dir / "2022-2023.csv.gz")
    settings = settings_for(tmp_path, snapshot)
    with pytest.raises(ValueError) as info:
        ingest_flow(source="snapshot", settings=settings)
    message = str(info.value)
    assert (
        "2022-23 regular: the source has player logs (player_game_logs/regular_season/"
        "2022-23.csv.gz) but no team game log (team_game_logs/regular_season/2022-23.csv.gz)"
    ) in message
    assert "not read: team_game_logs/regular_season/2022-2023.csv.gz" in message
    assert read_team_games(open_store(settings)).empty
    (snapshot / "player_game_logs" / "regular_season" / "2022-23.csv.gz").unlink()
    done = ingest_flow(source="snapshot", settings=settings)
    assert done.seasons == ["2021-22"]
    assert done.skipped == [
        "team_game_logs/regular_season/2022-2023.csv.gz: not read "
        "(season files are named like 2023-24.csv.gz)"
    ]


def test_a_season_only_recorded_is_ingested_beside_the_csv_seasons(tmp_path, snapshot, data_dir):
    """The recorded 2025-26 ``leaguegamelog`` answers a season the folder has no CSV of; asked
    for by name it is ingested, while ``all`` keeps to the CSV seasons."""
    (snapshot / "nba_api_responses").symlink_to(data_dir / "nba_api_responses")
    settings = settings_for(tmp_path, snapshot)
    summary = ingest_flow(
        source="snapshot", seasons="2025-26", season_type="regular", settings=settings
    )
    (batch,) = summary.batches
    assert (batch["season"], batch["player_rows"]) == ("2025-26", 0)
    assert summary.skipped == [
        "2025-26 regular: no player log in the source; its games have team rows only"
    ]
    assert batch["games"] > 500
    assert ingest_flow(source="snapshot", settings=settings).seasons == ["2021-22", "2022-23"]
    with pytest.raises(ValueError, match="2026-27 not in the snapshot"):
        ingest_flow(source="snapshot", seasons="2026-27", settings=settings)
    with pytest.raises(ValueError, match=r"2023-24 not in .* holds 2021-22\.\.2022-23, 2025-26,"):
        ingest_flow(source="snapshot", seasons="2023-24", settings=settings)  # a gap is named


def test_player_rows_of_a_game_the_team_log_lacks_are_refused(tmp_path, snapshot):
    import pandas as pd

    path = snapshot / "player_game_logs" / "regular_season" / "2022-23.csv.gz"
    players = pd.read_csv(path, dtype={"GAME_ID": str})
    players.loc[0, "GAME_ID"] = "0022299999"
    players.to_csv(path, index=False)
    settings = settings_for(tmp_path, snapshot)
    with pytest.raises(BatchValidationError) as info:
        ingest_flow(source="snapshot", settings=settings)
    assert "in_team_log" in str(info.value)
    assert read_team_games(open_store(settings)).empty


def test_a_bad_batch_is_refused_and_nothing_is_written(tmp_path, snapshot):
    bad = team_game_log("2023-24", n_days=3, seed=3)
    bad.loc[0, "PLUS_MINUS"] += 7  # contradicts the scores
    write_snapshot(snapshot, {"2023-24": bad})
    settings = settings_for(tmp_path, snapshot)
    with pytest.raises(BatchValidationError) as info:
        ingest_flow(source="snapshot", settings=settings)
    assert "plus_minus" in str(info.value)
    engine = open_store(settings)
    assert read_team_games(engine).empty  # the two good seasons were not written either
    with engine.connect() as conn:
        run = conn.execute(select(IngestRun.status, IngestRun.message)).one()
    assert run.status == "failed" and "plus_minus" in run.message
    saved = [json.loads(p.read_text()) for p in settings.validation_dir.glob("*.json")]
    assert any(not doc["success"] for doc in saved)


def test_a_stop_behind_another_error_is_recorded_as_a_stop(tmp_path, snapshot, monkeypatch):
    """Prefect's task engine, stopped by SIGTERM before its task run exists, raises ValueError
    from its own handler of the stop: the run is recorded as stopped, not as that error."""
    monkeypatch.setattr(flows.ingest, "validate_batches", raise_error_behind_a_stop)
    settings = settings_for(tmp_path, snapshot)
    with pytest.raises(ValueError, match="Task run is not set"):
        ingest_flow(source="snapshot", settings=settings)
    engine = open_store(settings)
    with engine.connect() as conn:
        run = conn.execute(select(IngestRun.status, IngestRun.message)).one()
    assert (run.status, run.message) == ("failed", "stopped by SIGTERM")
    assert read_team_games(engine).empty


def test_unknown_season_in_the_snapshot_is_a_clear_error(tmp_path, snapshot):
    with pytest.raises(ValueError, match="1990-91 not in the snapshot"):
        ingest_flow(source="snapshot", seasons="1990-91", settings=settings_for(tmp_path, snapshot))


def test_an_empty_data_folder_is_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError) as caught:
        ingest_flow(source="snapshot", settings=settings_for(tmp_path, empty))
    assert str(caught.value).startswith(f"nothing to ingest: the folder {empty} holds no season")
    assert not (tmp_path / "state").exists()  # refused before a store is made
    parent = tmp_path / "parent"  # a folder above the snapshot's: the same, for any season
    (parent / "nba" / "team_game_logs" / "regular_season").mkdir(parents=True)
    for seasons in (None, "2023-24"):
        with pytest.raises(ValueError, match=f"the folder {parent} holds no season files"):
            plan_ingest("snapshot", seasons, "regular", settings_for(tmp_path, parent))


def test_an_uncompressed_season_file_is_named(tmp_path, snapshot):
    plain = snapshot / "team_game_logs" / "regular_season" / "2023-24.csv"
    team_game_log("2023-24", n_days=3).to_csv(plain, index=False)
    with pytest.raises(
        ValueError, match=r"2023-24 not in the snapshot .*uncompressed .*2023-24\.csv:"
    ):
        ingest_flow(source="snapshot", seasons="2023-24", settings=settings_for(tmp_path, snapshot))


def stored(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = {
            t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Team, Player)
        }
    return {**rows, **{f"{r['season']} games": r["games"] for r in store_status(engine)}}


def runs(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(IngestRun.status).order_by(IngestRun.id)).scalars())


def test_a_failure_after_the_batches_are_written_rolls_back_everything(
    tmp_path, snapshot, db_url, monkeypatch
):
    """Batches, teams and players and the run's row are one transaction: a failure in the
    reference write leaves the store as it was and records only the failed run."""
    settings = settings_for(tmp_path, snapshot, db_url)
    engine = open_store(settings)
    write_snapshot(snapshot, {"2023-24": team_game_log("2023-24", n_days=2, seed=3)})
    real = flows.ingest.upsert_reference

    def write_then_fail(conn, teams, players):
        real(conn, teams, players)
        raise RuntimeError("players table unavailable")

    monkeypatch.setattr(flows.ingest, "upsert_reference", write_then_fail)
    with pytest.raises(RuntimeError, match="players table unavailable"):
        ingest_flow(source="snapshot", settings=settings)
    assert stored(engine) == {"teams": 0, "players": 0}
    assert runs(engine) == ["failed"]

    monkeypatch.setattr(flows.ingest, "upsert_reference", real)
    again = ingest_flow(source="snapshot", settings=settings)
    assert again.unchanged_batches == []
    assert again.written["games"]["inserted"] == 12 + 16 + 4
    after = stored(engine)
    assert after.pop("teams") == 30 and after.pop("players") > 0
    assert after == {"2021-22 games": 12, "2022-23 games": 16, "2023-24 games": 4}
    assert runs(engine) == ["failed", "ok"]


@pytest.mark.parametrize(
    ("column", "damage"),
    [
        pytest.param(None, "truncated", id="truncated"),
        pytest.param(None, "not gzip", id="not-gzip"),
        pytest.param(None, "header only", id="header-only"),
        pytest.param("PTS", "drop", id="PTS-missing"),
        pytest.param("PTS", "abc", id="PTS-abc"),
        pytest.param("TEAM_ID", None, id="TEAM_ID-empty"),
        pytest.param("GAME_DATE", "2023-02-30", id="GAME_DATE-bad"),
    ],
)
def test_a_broken_season_file_is_refused_once_naming_it_and_nothing_is_written(
    tmp_path, snapshot, monkeypatch, column, damage
):
    log = team_game_log("2023-24", n_days=2, seed=3)
    if column == "PTS" and damage == "drop":
        log = log.drop(columns=column)
    elif column is not None:
        log = with_value(log, column, damage)
    write_snapshot(snapshot, {"2023-24": log}, players=False)
    path = snapshot / "team_game_logs" / "regular_season" / "2023-24.csv.gz"
    if column is None:
        damage_file(path, damage)
    reads = []
    real = SnapshotSource.team_game_log

    def counted(self, season, season_type):
        reads.append(season)
        return real(self, season, season_type)

    monkeypatch.setattr(SnapshotSource, "team_game_log", counted)
    settings = settings_for(tmp_path, snapshot)

    with pytest.raises(SourceDataError) as caught:
        ingest_flow(source="snapshot", settings=settings)

    message = str(caught.value)
    assert message.startswith(f"{path} (2023-24 regular): ") and "\n" not in message
    if column is not None:
        assert f"(2023-24 regular): column {column}: " in message
    assert reads.count("2023-24") == 1  # a broken file is not read again by a task retry
    engine = open_store(settings)
    assert read_team_games(engine).empty
    with engine.connect() as conn:
        run = conn.execute(select(IngestRun.status, IngestRun.message)).one()
    assert run.status == "failed" and str(path) in run.message


def test_an_unreachable_scoreboard_fails_after_the_sources_own_attempts(tmp_path, monkeypatch):
    attempts = []

    def refuse(adapter, request, **kwargs):
        attempts.append(request.url)
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    settings = Settings(
        state_dir=tmp_path / "state", nba_api_retries=1, nba_api_backoff=0, nba_api_pause=0
    )
    with pytest.raises(NBAApiUnavailable, match="after 2 attempts"):
        schedule_flow(game_date=date(2024, 1, 15), settings=settings)
    assert len(attempts) == 2  # no task retry on top of the source's own


@pytest.mark.snapshot
def test_real_seasons_from_the_snapshot(tmp_path, data_dir):
    settings = settings_for(tmp_path, data_dir)
    summary = ingest_flow(source="snapshot", seasons="2012-13,2023-24", settings=settings)
    by = {(b["season"], b["season_type"]): b for b in summary.batches}
    assert by[("2012-13", "regular")]["games"] == 1229  # the cancelled game is dropped
    assert by[("2012-13", "regular")]["cancelled_team_rows"] == 2
    assert by[("2023-24", "regular")]["player_rows"] == 26401
    assert by[("2023-24", "playoffs")]["games"] == 82
    assert by[("2012-13", "playoffs")]["player_rows"] > 0  # V3 box scores, DNP rows dropped
    assert summary.reference["teams"]["inserted"] == 30


@pytest.mark.snapshot
@pytest.mark.slow
def test_all_of_the_snapshot_matches_its_readme(tmp_path, data_dir):
    """The counts of the snapshot's README: 57,590 regular and 2,340 playoff team rows (less the
    two rows of the cancelled 2012-13 game), 226,315 regular-season player rows; 24 regular
    seasons of team logs, 9 of player logs, 14 of playoffs."""
    settings = settings_for(tmp_path, data_dir)
    summary = ingest_flow(source="snapshot", settings=settings)
    rows = store_status(open_store(settings))
    regular = [r for r in rows if r["season_type"] == "regular"]
    playoffs = [r for r in rows if r["season_type"] == "playoffs"]
    assert len(regular) == 24 and len(playoffs) == 14
    assert sum(r["team_rows"] for r in regular) == 57_590 - 2
    assert sum(r["team_rows"] for r in playoffs) == 2_340
    assert sum(r["games"] for r in rows) == (57_590 - 2 + 2_340) // 2
    assert sum(r["player_rows"] for r in regular) == 226_315
    assert sum(1 for r in regular if r["player_rows"]) == 9
    assert summary.written["player_games"]["inserted"] == sum(r["player_rows"] for r in rows)


def test_kept_rows_are_described_in_words():
    from flows.ingest import describe_kept

    assert describe_kept("2022-23 regular", {"games": 1, "team_rows": 2, "player_rows": 0}) == (
        "2022-23 regular: 1 game, 2 team rows the source no longer has (ingest never deletes)"
    )
