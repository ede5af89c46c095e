"""Training and backtest requests through the CLI on stores and folders of their own: what is
refused before a flow run, what is trained when some data is missing (a season's player logs,
every player log) and what a failing model leaves registered. Apart from
``test_training_flow.py`` so the two modules' stores are built on separate test processes."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from core.settings import Settings
from flows.cli import EXIT_BAD_INPUT, app
from registry import get_champion, list_registered
from tests.builders import raise_error_behind_a_stop, small_league, team_game_log, write_snapshot
from training.models import GAME_MODELS

pytestmark = pytest.mark.usefixtures("prefect_harness")
SEASONS = ("2020-21", "2021-22", "2022-23")


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    return small_league(tmp_path_factory.mktemp("league") / "snap", SEASONS)


def test_a_backtest_season_without_player_logs_is_scored_for_games(tmp_path, clean_env):
    """The test season has team logs but no player logs (the earlier seasons have both): the
    games are scored and written, the points task is skipped, and the console and backtest.md
    say why."""
    folder = tmp_path / "snap"
    logs = {s: team_game_log(s, n_days=30, seed=i) for i, s in enumerate(SEASONS)}
    write_snapshot(folder, {s: logs[s] for s in SEASONS[:-1]})
    write_snapshot(folder, {SEASONS[-1]: logs[SEASONS[-1]]}, players=False)
    args = ["--data-dir", str(folder), "--test-seasons", SEASONS[-1], "--out", str(tmp_path / "bt")]
    # An earlier backtest into the same folder scored points: its points files go.
    earlier = ["predictions_points.csv.gz", "points_residuals.png", "game_log_loss.png"]
    (tmp_path / "bt").mkdir()
    for name in [*earlier, "notes.txt"]:
        (tmp_path / "bt" / name).write_text("earlier")
    result = CliRunner().invoke(app, ["backtest", *args])
    assert result.exit_code == 0, result.output
    left = sorted(p.name for p in (tmp_path / "bt").iterdir())
    assert "predictions_points.csv.gz" not in left and "points_residuals.png" not in left
    assert {"predictions_game.csv.gz", "game_log_loss.png", "notes.txt"} <= set(left)
    assert (tmp_path / "bt" / "game_log_loss.png").read_bytes().startswith(b"\x89PNG")
    console = " ".join(result.output.split())
    assert f"points not scored on {SEASONS[-1]}: no player logs for {SEASONS[-1]}" in console
    doc = json.loads((tmp_path / "bt" / "backtest.json").read_text())
    assert doc["points"] == {}
    for name in (*GAME_MODELS, "baseline-home", "baseline-record", "baseline-elo"):
        assert doc["game"][name][SEASONS[-1]]["n"] == 60
    report = (tmp_path / "bt" / "backtest.md").read_text()
    assert f"- points {SEASONS[-1]}: no player logs for {SEASONS[-1]} in {folder}" in report
    assert "## Player points" not in report


def test_a_newest_season_without_player_logs_evaluates_the_points_models_on_the_one_before(
    tmp_path, clean_env, monkeypatch
):
    """The newest season's team logs are in, its player logs not yet: by default the game
    models are evaluated on it and the points models on the newest season with player logs;
    asking for that season for a points model is refused before anything is trained."""
    folder = tmp_path / "snap"
    logs = {s: team_game_log(s, n_days=30, seed=i) for i, s in enumerate(SEASONS)}
    write_snapshot(folder, {s: logs[s] for s in SEASONS[:-1]})
    write_snapshot(folder, {SEASONS[-1]: logs[SEASONS[-1]]}, players=False)
    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NBA_DATA_DIR", str(folder))
    monkeypatch.delenv("COLUMNS", raising=False)  # pytest-xdist's workers have COLUMNS=80
    runner = CliRunner()
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    pair = "game-logistic,player-ridge"
    done = runner.invoke(app, ["train", "--models", pair, "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["eval_seasons"] == {"game": SEASONS[-1], "points": SEASONS[-2]}
    evaluated = {m["name"]: m["eval_season"] for m in summary["models"]}
    assert evaluated == {"game-logistic": SEASONS[-1], "player-ridge": SEASONS[-2]}
    uri = Settings().resolved_mlflow_tracking_uri
    assert get_champion(uri, "player-ridge").eval_season == SEASONS[-2]
    table = runner.invoke(app, ["train", "--models", pair, "--force"])
    assert table.exit_code == 0, table.output
    assert re.search(rf"player-ridge\s.*\s2\s.*\s{SEASONS[-2]}\s", table.output), table.output

    def no_flow_run(*args, **kwargs):
        raise AssertionError("the request is refused before a flow run starts")

    monkeypatch.setattr("flows.training.run_training", no_flow_run)
    refused = runner.invoke(app, ["train", "--models", pair, "--eval-season", SEASONS[-1]])
    assert refused.exit_code == EXIT_BAD_INPUT, refused.output
    message = " ".join(refused.output.split())
    assert f"evaluation season {SEASONS[-1]} has no player game logs in the store" in message
    assert f"evaluated on {SEASONS[-2]}" in message
    versions = {m["name"]: len(m["versions"]) for m in list_registered(uri)}
    assert versions == {"game-logistic": 2, "player-ridge": 2}


def test_points_models_on_a_store_without_player_logs_say_why_they_are_not_trained(
    tmp_path, clean_env, monkeypatch
):
    """Asked for alone, a points model the store has no rows for is a bad request (exit 2);
    beside a game model, it is reported as not trained and the game model is."""
    folder = tmp_path / "snap"
    write_snapshot(
        folder, {s: team_game_log(s, n_days=30, seed=i) for i, s in enumerate(SEASONS)}, False
    )
    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NBA_DATA_DIR", str(folder))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    alone = runner.invoke(app, ["train", "--models", "player-ridge"])
    assert alone.exit_code == EXIT_BAD_INPUT, alone.output
    why = "player-ridge: the store holds no player game logs"
    assert f"error: nothing trained: {why}" in " ".join(alone.output.split())
    both = runner.invoke(app, ["train", "--models", "player-ridge,game-logistic", "--json"])
    assert both.exit_code == 0, both.output
    summary = json.loads(both.stdout)
    assert [m["name"] for m in summary["models"]] == ["game-logistic"]
    assert [line.split(" (")[0] for line in summary["skipped"]] == [why]


def test_a_stop_behind_a_model_s_error_stops_the_training(league, clean_env, monkeypatch):
    """SIGTERM reaches a model's training and Prefect's task engine raises another error from
    its handler of the stop: the command stops (143) instead of going on as if that one model
    had failed."""
    import training.train

    real = training.train.train_final

    def stopped(*args, models, **kwargs):
        if models == ["game-tree"]:
            raise_error_behind_a_stop()
        return real(*args, models=models, **kwargs)

    monkeypatch.setattr(training.train, "train_final", stopped)
    monkeypatch.setenv("NBA_DATA_DIR", str(league))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    result = runner.invoke(app, ["train", "--models", "game-tree,game-logistic", "--json"])
    assert result.exit_code == 143, result.output
    assert json.loads(result.stdout) == {"error": "stopped by SIGTERM", "exit_code": 143}
    # game-tree's result is taken first: nothing is registered after the stop
    assert list_registered(Settings().resolved_mlflow_tracking_uri) == []


def test_a_model_that_fails_leaves_the_others_registered_and_reported(
    league, tmp_path, clean_env, monkeypatch
):
    """game-tree fails in training: game-logistic is still registered and promoted, and the
    command shows both (table or JSON) before it exits non-zero with the failure."""
    import training.train

    real = training.train.train_final

    def failing(*args, models, **kwargs):
        if models == ["game-tree"]:
            raise ValueError("game-tree: the data broke it")
        return real(*args, models=models, **kwargs)

    monkeypatch.setattr(training.train, "train_final", failing)
    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NBA_DATA_DIR", str(league))
    monkeypatch.delenv("COLUMNS", raising=False)  # pytest-xdist's workers have COLUMNS=80
    runner = CliRunner()
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    pair = ["train", "--models", "game-tree,game-logistic"]
    result = runner.invoke(app, [*pair, "--json"])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    summary = json.loads(result.stdout)
    assert [(m["name"], m["version"], m["promoted"]) for m in summary["models"]] == [
        ("game-logistic", "1", True)
    ]
    assert summary["failed"] == ["game-tree: game-tree: the data broke it"]
    assert "registered before that or since: game-logistic v1" in summary["error"]
    assert get_champion(Settings().resolved_mlflow_tracking_uri, "game-logistic").version == "1"
    table = runner.invoke(app, [*pair, "--force"])
    assert table.exit_code == EXIT_BAD_INPUT
    text = " ".join(table.output.split())
    assert "failed: game-tree: game-tree: the data broke it" in text
    assert re.search(r"game-logistic\s.*\s2\s", table.output), table.output
    # nothing registered: the failure itself, as before
    alone = runner.invoke(app, ["train", "--models", "game-tree"])
    assert alone.exit_code == EXIT_BAD_INPUT
    assert "error: game-tree: the data broke it" in " ".join(alone.output.split())


def test_backtest_cli_refuses_a_season_not_in_the_folder(league, tmp_path, clean_env):
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--data-dir",
            str(league),
            "--test-seasons",
            "2024-25",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == EXIT_BAD_INPUT
    assert "2024-25" in result.output and "not in" in result.output


def test_backtest_cli_refuses_a_bad_request_before_a_flow_runs(
    league, tmp_path, clean_env, monkeypatch
):
    """No test season before the folder's oldest; an --out that cannot be a folder: exit 2 with
    the reason, before anything is ingested (no flow run, no Prefect server)."""

    def never(*args, **kwargs):
        raise AssertionError("the backtest flow ran")

    monkeypatch.setattr("flows.training.run_backtest", never)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = {
        (SEASONS[0], str(tmp_path / "bt")): f"test season {SEASONS[0]} is the oldest in",
        (SEASONS[-1], str(blocker / "bt")): f"--out {blocker / 'bt'}: cannot create the folder",
        ("2024-25", str(tmp_path / "bt")): "2024-25 not in",
    }
    for (season, out), reason in cases.items():
        args = ["backtest", "--data-dir", str(league), "--test-seasons", season, "--out", out]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert reason in " ".join(result.output.split())
        assert not (tmp_path / "bt").exists()


def test_backtest_cli_names_an_uncompressed_test_season_file(tmp_path, clean_env):
    folder = write_snapshot(tmp_path / "snap", {"2022-23": team_game_log("2022-23", n_days=5)})
    plain = folder / "team_game_logs" / "regular_season" / "2023-24.csv"
    team_game_log("2023-24", n_days=5).to_csv(plain, index=False)
    args = ["backtest", "--data-dir", str(folder), "--test-seasons", "2023-24"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bt")])
    assert result.exit_code == EXIT_BAD_INPUT
    message = " ".join(result.output.split())  # the console wraps long lines
    assert "2023-24 not in" in message
    assert "uncompressed team_game_logs/regular_season/2023-24.csv" in message
    assert ".csv.gz" in message
