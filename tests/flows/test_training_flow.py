"""``training_flow`` and ``backtest_flow`` under the Prefect test harness, end to end on a small
synthetic league: real store, real MLflow registry under a temp folder, real gate."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.db import ModelMetadata
from core.settings import Settings
from flows.cli import EXIT_BAD_INPUT, app
from flows.ingest import ingest_flow
from flows.resources import open_store
from flows.training import (
    backtest_flow,
    gate_policy,
    run_training,
    task_runner_for,
    training_flow,
)
from registry import get_champion, list_registered
from tests.builders import team_game_log, write_snapshot
from training.models import GAME_MODELS, POINTS_MODELS

pytestmark = pytest.mark.usefixtures("prefect_harness")
SEASONS = ("2020-21", "2021-22", "2022-23")


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    folder = tmp_path_factory.mktemp("league")
    logs = {s: team_game_log(s, n_days=30, seed=i) for i, s in enumerate(SEASONS)}
    return write_snapshot(folder / "snap", logs)


@pytest.fixture(scope="module")
def trained(league, tmp_path_factory):
    """One store, ingested, then trained twice on the same data."""
    state = tmp_path_factory.mktemp("state")
    settings = Settings(data_dir=league, state_dir=state)
    ingest_flow(source="snapshot", settings=settings)
    first = training_flow(settings=settings)
    second = training_flow(models=["game-logistic", "player-ridge"], settings=settings)
    return settings, first, second


def test_six_models_registered_and_first_versions_promoted(trained):
    settings, first, _ = trained
    assert first.eval_season == "2022-23"
    assert first.lineage["seasons"] == list(SEASONS)
    assert {m["name"] for m in first.models} == set(GAME_MODELS) | set(POINTS_MODELS)
    assert all(m["version"] == "1" and m["promoted"] for m in first.models)
    uri = settings.resolved_mlflow_tracking_uri
    for name in (*GAME_MODELS, *POINTS_MODELS):
        champion = get_champion(uri, name)
        assert champion is not None and champion.version == "1"
        assert champion.eval_season == "2022-23"


def test_an_equal_challenger_is_refused_and_recorded(trained):
    settings, _, second = trained
    assert [m["version"] for m in second.models] == ["2", "2"]
    assert not any(m["promoted"] for m in second.models)
    assert all(m["reason"].startswith("not better") for m in second.models)  # same data
    uri = settings.resolved_mlflow_tracking_uri
    assert get_champion(uri, "game-logistic").version == "1"
    registered = {m["name"]: m for m in list_registered(uri)}
    aliases = {v["version"]: v["aliases"] for v in registered["player-ridge"]["versions"]}
    assert "champion" in aliases["1"] and "challenger" in aliases["2"]
    with open_store(settings).connect() as conn:
        actions = conn.execute(
            select(ModelMetadata.version, ModelMetadata.action).where(
                ModelMetadata.model_name == "game-logistic", ModelMetadata.action != "register"
            )
        ).all()
    assert sorted(actions) == [("1", "promote"), ("2", "refuse")]


def test_the_gate_margin_comes_from_the_settings():
    settings = Settings(game_gate_margin=0.05, points_gate_margin=0.2)
    assert gate_policy("game", settings).margin == 0.05
    assert gate_policy("points", settings).margin == 0.2
    assert gate_policy("game", settings).primary_metric == "log_loss"


def test_unknown_model_is_a_clear_error(trained):
    settings, _, _ = trained
    with pytest.raises(ValueError, match="unknown model"):
        training_flow(models=["game-xgboost"], settings=settings)


def test_backtest_writes_the_documented_json(league, tmp_path):
    doc = backtest_flow(data_dir=str(league), test_seasons=["2022-23"], out=str(tmp_path / "bt"))
    saved = json.loads((tmp_path / "bt" / "backtest.json").read_text())
    assert saved == doc
    assert set(doc) == {"game", "points"}
    for name in (*GAME_MODELS, "baseline-home", "baseline-record", "baseline-elo"):
        season = doc["game"][name]["2022-23"]
        assert set(season) == {"accuracy", "log_loss", "brier", "roc_auc", "ece", "n"}
        assert season["n"] == 60
    for name in (*POINTS_MODELS, "baseline-season-avg", "baseline-last10"):
        assert set(doc["points"][name]["2022-23"]) == {
            "mae",
            "rmse",
            "r2",
            "n",
            "mae_rotation",
            "n_rotation",
        }
        assert "mean" in doc["points"][name]
    assert "baseline-home" in (tmp_path / "bt" / "backtest.md").read_text()


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


@pytest.mark.slow
def test_a_dask_cluster_trains_the_same_models(league, trained, tmp_path):
    """The training flow on a local Dask cluster (prefect-dask, worker processes) registers
    models with the metrics of the default thread runner."""
    settings = Settings(data_dir=league, state_dir=tmp_path / "state", task_runner="dask")
    ingest_flow(source="snapshot", settings=settings)
    assert type(task_runner_for(settings)).__name__ == "DaskTaskRunner"
    on_dask = run_training(settings, models=["game-logistic", "game-forest", "player-ridge"])
    _, threads, _ = trained

    def metrics(summary):
        return {m["name"]: m.get("log_loss", m.get("mae")) for m in summary.models}

    expected = {k: v for k, v in metrics(threads).items() if k in metrics(on_dask)}
    assert metrics(on_dask) == pytest.approx(expected, rel=1e-12)  # float summation order only
    assert len(expected) == 3


def test_models_promote_and_rollback_commands(trained, monkeypatch):
    settings, _, _ = trained
    monkeypatch.setenv("NBA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "--json"])
    assert listed.exit_code == 0, listed.output
    names = {m["name"]: m for m in json.loads(listed.stdout)}
    assert names["game-tree"]["champion"] == "1"
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0 and "game-forest" in table.output

    refused = runner.invoke(app, ["promote", "game-logistic", "2"])
    assert refused.exit_code == 1 and "refused" in refused.output
    forced = runner.invoke(
        app, ["promote", "game-logistic", "2", "--force", "--reason", "tested by hand"]
    )
    assert forced.exit_code == 0, forced.output
    uri = settings.resolved_mlflow_tracking_uri
    assert get_champion(uri, "game-logistic").version == "2"
    back = runner.invoke(app, ["rollback", "game-logistic"])
    assert back.exit_code == 0 and "v1" in back.output
    assert get_champion(uri, "game-logistic").version == "1"
    missing = runner.invoke(app, ["promote", "game-logistic", "99", "--force"])
    assert missing.exit_code != 0
