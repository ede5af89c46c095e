"""PostgreSQL going away during an ingest: the command fails with a reason, the store is left as
it was, and the same command succeeds once the server is back. The outage is real (an own
PostgreSQL server, stopped mid-write). A broken snapshot file is refused like a failed batch."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

import ingest.storage
from flows.cli import EXIT_BAD_DATA, EXIT_UNAVAILABLE, app
from tests.builders import damage_file, team_game_log, with_value, write_snapshot
from tests.servers import own_postgres

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner()


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("games", "team_games", "player_games")
            }
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_lost_mid_ingest_leaves_the_store_as_it_was(clean_env, monkeypatch):
    snap = write_snapshot(clean_env / "snap", {"2021-22": team_game_log("2021-22", n_days=5)})
    monkeypatch.setenv("NBA_DATA_DIR", str(snap))
    with own_postgres() as server:
        admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE nba"))
        admin.dispose()
        url = server.admin_url.rsplit("/", 1)[0] + "/nba"
        monkeypatch.setenv("NBA_DATABASE_URL", url)
        first = runner.invoke(app, ["ingest"])
        assert first.exit_code == 0, first.output
        before = counts(url)
        assert before == {"games": 10, "team_games": 20, "player_games": 60}

        write_snapshot(snap, {"2022-23": team_game_log("2022-23", n_days=4, seed=5)})
        real_upsert = ingest.storage.upsert_frame
        calls = []

        def upsert_then_lose_the_server(conn, *args, **kwargs):
            calls.append(1)
            written = real_upsert(conn, *args, **kwargs)
            if len(calls) == 1:
                server.stop()  # the first table of the new season is written, uncommitted
            return written

        monkeypatch.setattr(ingest.storage, "upsert_frame", upsert_then_lose_the_server)
        failed = runner.invoke(app, ["ingest"])
        assert failed.exit_code == EXIT_UNAVAILABLE, failed.output
        assert "error:" in failed.output and "Traceback" not in failed.output

        monkeypatch.setattr(ingest.storage, "upsert_frame", real_upsert)
        server.start()
        assert counts(url) == before  # nothing of the failed run landed

        again = runner.invoke(app, ["ingest"])
        assert again.exit_code == 0, again.output
        assert counts(url) == {"games": 18, "team_games": 36, "player_games": 108}


@pytest.mark.postgres
def test_postgres_down_from_the_start_is_a_clear_failure(clean_env, monkeypatch):
    snap = write_snapshot(clean_env / "snap", {"2021-22": team_game_log("2021-22", n_days=2)})
    monkeypatch.setenv("NBA_DATA_DIR", str(snap))
    with own_postgres() as server:
        url = server.admin_url
        server.stop()
        monkeypatch.setenv("NBA_DATABASE_URL", url)
        result = runner.invoke(app, ["ingest"])
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert "Connection refused" in result.output or "connection" in result.output.lower()
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert line.startswith("error: database: OperationalError:")
    assert "sqlalche.me" not in result.output  # one line, no SQLAlchemy documentation link


@pytest.mark.parametrize(("column", "damage"), [(None, "truncated"), ("PTS", "abc")])
def test_a_broken_snapshot_file_exits_3_with_one_line_naming_it(
    clean_env, monkeypatch, column, damage
):
    log = team_game_log("2021-22", n_days=2)
    if column is not None:
        log = with_value(log, column, damage)
    snap = write_snapshot(clean_env / "snap", {"2021-22": log}, players=False)
    path = snap / "team_game_logs" / "regular_season" / "2021-22.csv.gz"
    if column is None:
        damage_file(path, damage)
    monkeypatch.setenv("NBA_DATA_DIR", str(snap))

    result = runner.invoke(app, ["ingest"])

    assert result.exit_code == EXIT_BAD_DATA, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path} (2021-22 regular): ")
    if column is not None:
        assert f"column {column}: " in errors[0]
    assert "Traceback" not in result.output
