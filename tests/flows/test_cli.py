"""The ``nba-mlops`` command line: summaries, the stable status JSON, clear failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from core.settings import Settings
from flows.cli import (
    EXIT_BAD_DATA,
    EXIT_BAD_INPUT,
    EXIT_UNAVAILABLE,
    _recent_seasons,
    app,
    metric_text,
)
from tests.builders import team_game_log, write_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner()


@pytest.fixture
def env(clean_env, monkeypatch):
    snap = write_snapshot(clean_env / "snap", {"2022-23": team_game_log("2022-23", n_days=4)})
    monkeypatch.setenv("NBA_DATA_DIR", str(snap))
    return snap


@pytest.mark.parametrize("command", ["ingest", "status", "schedule", "db-upgrade", "demo"])
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_ingest_then_status_json(env):
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 0, result.output
    assert "team_games" in result.output and "8 games in 1 batches, 1 validated" in result.output
    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    assert set(doc) == {"database", "seasons", "totals"}
    assert doc["seasons"][0] == {
        "season": "2022-23",
        "season_type": "regular",
        "games": 8,
        "team_rows": 16,
        "player_rows": 48,
        "first_date": "2022-10-20",
        "last_date": "2022-10-26",
    }
    assert doc["totals"] == {"games": 8, "team_rows": 16, "player_rows": 48}


def test_finished_tasks_are_not_logged_one_by_one_but_failures_are(env):
    """Prefect logs "Finished in state Completed()" for every task run (an ingest of the whole
    snapshot has a hundred): the commands drop that line, not the line of a failed task."""
    import logging

    task_runs = logging.getLogger("prefect.task_runs")
    kept: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: kept.append(record.getMessage())
    task_runs.addHandler(handler)
    try:
        result = runner.invoke(app, ["ingest"])
    finally:
        task_runs.removeHandler(handler)
    assert result.exit_code == 0, result.output
    assert not [m for m in kept if m.startswith("Finished in state Completed(")], kept

    def passes(message: str) -> bool:
        return bool(task_runs.filter(logging.makeLogRecord({"msg": message})))

    assert not passes("Finished in state Completed()")
    assert passes("Finished in state Failed('Task run encountered an exception: ValueError')")
    gx = logging.getLogger("great_expectations.data_context.types.base")
    assert not gx.filter(logging.makeLogRecord({"msg": "Created temporary directory '/tmp/x'"}))


def test_a_season_not_in_the_snapshot_exits_2_before_anything_is_written(env, clean_env):
    assert runner.invoke(app, ["ingest", "--seasons", "2022-23"]).exit_code == 0
    before = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    result = runner.invoke(app, ["ingest", "--seasons", "2022-23,1990-91"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert (
        "1990-91 not in the snapshot" in result.output
        and "(it holds 2022-23, regular" in result.output
    )
    assert json.loads(runner.invoke(app, ["status", "--json"]).stdout) == before


def test_train_with_an_empty_model_list_exits_with_a_reason(env):
    result = runner.invoke(app, ["train", "--models", " , "])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "--models names no model" in result.output


def test_bad_season_spec_exits_with_a_reason(env):
    result = runner.invoke(app, ["ingest", "--seasons", "2023-25"])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "error:" in result.output and "2023-25" in result.output
    assert "Traceback" not in result.output
    # with --json the failure is a JSON document on stdout as well
    result = runner.invoke(app, ["ingest", "--seasons", "2023-25", "--json"])
    assert result.exit_code == EXIT_BAD_INPUT
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == EXIT_BAD_INPUT and "2023-25" in doc["error"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NBA_NBA_API_TIMEOUT", "-1", "NBA_NBA_API_TIMEOUT: Input should be greater than 0"),
        ("NBA_LOG_LEVEL", "LOUD", "NBA_LOG_LEVEL"),
        ("NBA_ENVIRONMENT", "prod", "NBA_ENVIRONMENT"),
        ("NBA_DRIFT_SHARE_THRESHOLD", "0", "NBA_DRIFT_SHARE_THRESHOLD"),
        ("NBA_WEBHOOK_URL", "notaurl", "NBA_WEBHOOK_URL: Value error, webhook_url must be"),
        ("NBA_DEFAULT_GAME_MODEL", "game-elo", "default_game_model must be one of game-logistic"),
        ("NBA_DEFAULT_GAME_MODEL", "player-ridge", "NBA_DEFAULT_GAME_MODEL: Value error"),
        ("NBA_DEFAULT_POINTS_MODEL", "game-tree", "default_points_model must be one of player-"),
        ("NBA_RATE_LIMIT", "lots", "NBA_RATE_LIMIT: Value error, rate_limit must be a rate"),
        ("NBA_LOGIN_RATE_LIMIT", "5 per", "NBA_LOGIN_RATE_LIMIT: Value error, login_rate_limit"),
        ("NBA_RATE_LIMIT", "0/minute", "(at least 1), got '0/minute'"),
        ("NBA_REDIS_URL", "127.0.0.1:6379", "NBA_REDIS_URL: Value error, redis_url must be a"),
        ("NBA_REDIS_URL", "http://127.0.0.1:6379/0", "unix:// URL such as redis://127.0."),
        ("NBA_REDIS_URL", "redis://127.0.0.1:6379/abc", "must be a database number"),
        ("NBA_REDIS_URL", "redis://127.0.0.1:port/0", "redis_url has a port that is not a"),
        ("NBA_MLFLOW_TRACKING_URI", "foo", "got a path (MLflow refuses a folder store)"),
        ("NBA_MLFLOW_TRACKING_URI", "file:///tmp/mlruns", "mlflow_tracking_uri must be a"),
        ("NBA_DATABASE_URL", "foo", "Could not parse SQLAlchemy URL"),
        ("NBA_DATABASE_URL", "mysql://nba@127.0.0.1/nba", "no database driver for mysql://"),
    ],
)
def test_a_bad_setting_exits_2_with_one_line(env, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_bad_setting_with_json_prints_the_error_as_json(env, monkeypatch):
    monkeypatch.setenv("NBA_LOG_LEVEL", "LOUD")
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == EXIT_BAD_INPUT and "NBA_LOG_LEVEL" in doc["error"]


def flow_runs(name: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        only = FlowFilter(name=FlowFilterName(any_=[name]))
        return len(client.read_flow_runs(flow_filter=only))


@pytest.mark.parametrize(
    ("args", "flow", "message"),
    [
        (["ingest", "--seasons", "bogus"], "ingest", "season must look like '2023-24'"),
        (["ingest", "--seasons", "2022-23,1990-91"], "ingest", "1990-91 not in the snapshot"),
        (["ingest", "--season-type", "finals"], "ingest", "season type must be regular"),
        (["ingest", "--source", "ftp"], "ingest", "unknown source 'ftp'"),
        (["ingest", "--source", "nba_api"], "ingest", "--seasons is required with the nba_api"),
        (["train", "--models", "game-bogus"], "training", "unknown model(s) ['game-bogus']"),
        (["train", "--eval-season", "2023"], "training", "season must look like '2023-24'"),
    ],
)
def test_a_bad_argument_exits_2_before_a_flow_runs_or_a_store_is_made(
    env, clean_env, args, flow, message
):
    before = flow_runs(flow)
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in result.output and "Traceback" not in result.output
    assert flow_runs(flow) == before  # refused before Prefect was asked to run anything
    assert not (clean_env / "state").exists()


@pytest.mark.parametrize("command", ["status", "models"])
def test_status_and_models_on_a_state_folder_that_does_not_exist_create_nothing(clean_env, command):
    result = runner.invoke(app, [command, "--json"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    doc = json.loads(result.stdout)
    assert "the state folder" in doc["error"] and "does not exist" in doc["error"]
    assert "NBA_STATE_DIR" in doc["error"]
    assert not (clean_env / "state").exists()


@pytest.mark.parametrize("command", ["status", "models", "ingest"])
def test_a_damaged_store_file_is_one_line_and_exit_2(env, clean_env, command):
    """A file that is not a database where the store or the registry should be (damaged, or
    another file copied there): one line saying so, never a traceback."""
    state = clean_env / "state"
    state.mkdir()
    for name in ("nba.db", "mlflow.db"):
        (state / name).write_text("not a database\n")
    result = runner.invoke(app, [command, "--json"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert json.loads(result.stdout) == {
        "error": "database: DatabaseError: file is not a database",
        "exit_code": EXIT_BAD_INPUT,
    }
    assert "Traceback" not in result.output


def test_a_database_of_another_schema_is_named_and_left_unchanged(clean_env, monkeypatch):
    """NBA_DATABASE_URL at another application's alembic-managed database (MLflow's store is
    the easy mistake): exit 2 naming it; nothing is written to it."""
    import sqlite3

    other = clean_env / "mlflow.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('dc11669786a5')")
    monkeypatch.setenv("NBA_DATABASE_URL", f"sqlite:///{other}")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert f"the database sqlite:///{other} is not this project's store" in result.output
    assert "Can't locate revision identified by 'dc11669786a5'" in result.output
    with sqlite3.connect(other) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"alembic_version"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tasks", "foo"], "--tasks must be game, points or game,points, got 'foo'"),
        (["--tasks", "game,foo"], "--tasks must be"),
        (["--window-days", "0"], "--window-days must be at least 1 day, got 0"),
        (["--performance-days", "-3"], "--performance-days must be at least 1 day, got -3"),
        # a reference reaching back to 1750 was the answer; now a clear bound
        (
            ["--window-days", "100000"],
            "--window-days must be at most 365 days (a year), got 100000",
        ),
        (["--as-of", "yesterday"], "--as-of must be a date"),
        (["--as-of", "2999-01-01"], "--as-of 2999-01-01 is after today"),
    ],
)
def test_a_bad_drift_option_exits_2_before_the_flow_runs(clean_env, options, message):
    before = flow_runs("drift-check")
    result = runner.invoke(app, ["drift", *options])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert f"error: {message}" in result.output and "Traceback" not in result.output
    assert flow_runs("drift-check") == before  # no flow run was started, so none failed


@pytest.mark.parametrize(
    "args",
    [
        ["promote", "game-logistic", "1"],
        ["promote", "player-ridge", "2", "--force", "--reason", "r"],
        ["rollback", "game-tree"],
    ],
)
def test_promote_and_rollback_without_a_model_store_create_nothing(clean_env, args):
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "the state folder" in result.output and "no model is registered" in result.output
    assert "Traceback" not in result.output
    assert not (clean_env / "state").exists()
    (clean_env / "state").mkdir()  # a state folder without a model store
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "mlflow.db does not exist: no model is registered" in result.output
    assert list((clean_env / "state").iterdir()) == []


def test_the_mlflow_ui_on_a_state_folder_that_does_not_exist_creates_nothing(clean_env):
    from tests.servers import free_port

    result = runner.invoke(app, ["mlflow-ui", "--port", str(free_port())])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "the state folder" in result.output and "does not exist" in result.output
    assert not (clean_env / "state").exists()


def test_read_only_commands_on_a_state_folder_without_a_store_create_nothing(
    clean_env, monkeypatch
):
    """status and train read the store: on a state folder that holds none, or an
    NBA_DATABASE_URL naming a SQLite file that does not exist, they stop with the reason and
    make no empty store; a blank NBA_STATE_DIR is the default folder, not the current one."""
    state = clean_env / "state"
    state.mkdir()
    for command in (["status", "--json"], ["train", "--json"]):
        result = runner.invoke(app, command)
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert json.loads(result.stdout)["error"] == (
            f"no store in {state}: nothing is stored (run `nba-mlops ingest` first)"
        )
    assert list(state.iterdir()) == []
    missing = clean_env / "typo" / "nba.db"
    monkeypatch.setenv("NBA_DATABASE_URL", f"sqlite:///{missing}")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert f"no store at {missing}" in result.output and "NBA_DATABASE_URL" in result.output
    assert not missing.parent.exists()
    monkeypatch.delenv("NBA_DATABASE_URL")
    monkeypatch.setenv("NBA_STATE_DIR", " ")
    assert Settings().state_dir == Path(".nba-mlops").resolve()


def test_train_on_a_store_without_games_exits_2_before_a_flow_runs(clean_env):
    from flows.resources import open_store

    open_store(Settings()).dispose()  # the tables, no games
    before = flow_runs("training")
    result = runner.invoke(app, ["train"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "error: the store holds no games: run `nba-mlops ingest` first" in result.output
    assert flow_runs("training") == before


def test_a_setting_its_source_cannot_parse_exits_2(clean_env, monkeypatch):
    """A list setting that is not JSON fails in pydantic-settings' parsing, before validation:
    the same one-line reason and exit 2 as any bad setting."""
    monkeypatch.setenv("NBA_CORS_ORIGINS", "http://a")
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    doc = json.loads(result.stdout)
    assert doc["error"].startswith("invalid setting: NBA_CORS_ORIGINS: ")
    assert "Traceback" not in result.output


def test_drift_on_a_state_folder_that_does_not_exist_creates_nothing(clean_env):
    result = runner.invoke(app, ["drift", "--no-html"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "the state folder" in result.output and "does not exist" in result.output
    assert not (clean_env / "state").exists()


def test_refused_batch_exits_with_the_failed_expectation(env):
    good = team_game_log("2023-24", n_days=2)
    write_snapshot(env, {"2023-24": pd.concat([good, good.iloc[[0]]])})  # a duplicated row
    result = runner.invoke(app, ["ingest", "--seasons", "2023-24"])
    assert result.exit_code == EXIT_BAD_DATA, result.output
    assert "team_id" in result.output


def test_a_refused_batch_names_the_column_in_brackets(env):
    bad = team_game_log("2023-24", n_days=2)
    bad.loc[0, "PTS"] = -12
    write_snapshot(env, {"2023-24": bad})
    result = runner.invoke(app, ["ingest", "--seasons", "2023-24"])
    assert result.exit_code == EXIT_BAD_DATA, result.output
    # The reason is printed as text, not as console markup that would swallow "[pts]".
    error = result.output[result.output.index("error:") :]
    assert "expect_column_values_to_be_between [pts]" in error


def test_live_source_offline_fails_fast_and_clearly(env, monkeypatch):
    monkeypatch.setenv("NBA_NBA_API_RETRIES", "0")
    monkeypatch.setenv("NBA_NBA_API_TIMEOUT", "3")
    start = time.perf_counter()
    result = runner.invoke(app, ["ingest", "--source", "nba_api", "--seasons", "2023-24"])
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert "stats.nba.com" in result.output
    assert time.perf_counter() - start < 30


def test_recent_seasons_are_finished_ones():
    from datetime import date

    assert _recent_seasons(3, date(2026, 11, 24)) == "2023-24:2025-26"
    assert _recent_seasons(3, date(2026, 3, 1)) == "2022-23:2024-25"


@pytest.mark.parametrize("command", ["serve", "mlflow-ui"])
def test_a_server_on_a_port_in_use_or_out_of_range_exits_2_before_it_starts(clean_env, command):
    import socket

    (clean_env / "state").mkdir()  # an existing store (the MLflow UI never makes one)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, [command, "--port", str(port)])
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert f"127.0.0.1:{port} is in use" in result.output
    for bad in ("0", "70647"):
        result = runner.invoke(app, [command, "--port", bad])
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert "Invalid value for '--port'" in result.output


def test_a_state_folder_that_is_a_file_is_a_bad_setting(clean_env, monkeypatch):
    afile = clean_env / "afile"
    afile.write_text("")
    monkeypatch.setenv("NBA_STATE_DIR", str(afile))
    for command in (["ingest"], ["train"], ["status"]):
        result = runner.invoke(app, command)
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert f"NBA_STATE_DIR: Value error, {afile} is not a folder" in result.output


def _temporary_api(home):
    """Prefect settings as a command sees them without PREFECT_API_URL, with ``home``."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    return temporary_settings(updates={PREFECT_HOME: home}, restore_defaults={PREFECT_API_URL})


def test_a_prefect_home_that_cannot_be_made_stops_the_command_at_once(env, clean_env):
    afile = clean_env / "afile"
    afile.write_text("")
    before = flow_runs("ingest")
    with _temporary_api(afile / "prefect"):
        start = time.perf_counter()
        result = runner.invoke(app, ["ingest", "--json"])
        seconds = time.perf_counter() - start
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    error = f"PREFECT_HOME {afile / 'prefect'} cannot be made (Not a directory)"
    assert json.loads(result.stdout)["error"] == error
    assert seconds < 30  # not the temporary server's start-up timeout (120 s)
    assert flow_runs("ingest") == before
    assert not (clean_env / "state").exists()  # no store was made


def test_a_prefect_home_is_made_with_its_parents(clean_env):
    from flows.cli import _prefect_home_ready

    home = clean_env / "not" / "yet" / "prefect"
    with _temporary_api(home):
        _prefect_home_ready()
    assert home.is_dir()
    assert oct(home.stat().st_mode & 0o777) == "0o700"


def test_backtest_refuses_an_out_that_is_a_file_before_the_flow_runs(env, clean_env):
    afile = clean_env / "afile"
    afile.write_text("")
    before = flow_runs("backtest")
    args = ["backtest", "--data-dir", str(env), "--test-seasons", "2022-23", "--out", str(afile)]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert f"--out {afile} is not a folder" in result.output
    assert flow_runs("backtest") == before


def test_train_checks_the_store_and_the_evaluation_season_before_the_flow_runs(env, clean_env):
    before = flow_runs("training")
    nothing = runner.invoke(app, ["train"])
    assert nothing.exit_code == EXIT_BAD_INPUT, nothing.output
    assert "nothing is stored (run `nba-mlops ingest` first)" in nothing.output
    assert not (clean_env / "state").exists()
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    for season, message in (
        ("2021-22", "evaluation season 2021-22 is not in the store (2022-23)"),
        ("2022-23", "evaluation season 2022-23 is the oldest in the store: no earlier season"),
        (None, "the store holds one season (2022-23): training scores each model on a season"),
    ):
        asked = ["--eval-season", season] if season else []  # None: the default season
        result = runner.invoke(app, ["train", *asked, "--json"])
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert message in json.loads(result.stdout)["error"]
    assert flow_runs("training") == before


def test_schedule_names_the_option_of_a_date_that_is_not_one(env):
    result = runner.invoke(app, ["schedule", "--date", "2024-01-45"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "--date must be a date like 2024-01-31, got '2024-01-45'" in " ".join(
        result.output.split()
    )


def _commands(group, prefix=()):
    """Every command path of a Typer/Click group."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_no_help_text_shows_docstring_markup():
    """Command help comes from docstrings: reST's double backticks must not reach the reader."""
    import typer.main

    group = typer.main.get_command(app)
    paths = list(_commands(group))
    assert ("users", "password") in paths and ("serve",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        assert "``" not in result.output, (path, result.output)


def test_models_prints_row_counts_in_full_and_metrics_to_four_digits():
    assert metric_text("n", 26401.0) == "n 26,401"
    assert metric_text("n_rotation", 15312.0) == "n_rotation 15,312"
    assert metric_text("log_loss", 0.612345) == "log_loss 0.6123"
    assert metric_text("mae", 4.5) == "mae 4.5"
    assert metric_text("ndcg", 0.5) == "ndcg 0.5"  # not a count: not an integer


def test_every_command_is_listed_on_one_line_of_the_help(clean_env, monkeypatch):
    """A command's summary (its docstring's first paragraph) fits one line of ``--help``."""
    monkeypatch.setenv("COLUMNS", "160")
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    box = result.output.split("Commands")[1]
    listed = [line.strip("│ ") for line in box.splitlines() if line.startswith("│")]
    commands = sorted(typer.main.get_command(app).commands)
    assert {"replay", "demo", "promote"} <= set(commands)
    # one line per command: no line continues the summary above it
    assert sorted(line.split()[0] for line in listed) == commands, listed
