"""``training_flow``, ``retrain_flow`` and ``backtest_flow`` under the Prefect test harness, end
to end on a small synthetic league: real store, real MLflow registry under a temp folder, real
gate, and a local Dask cluster of worker processes reached by its address (its task stream shows
where each task ran)."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import pandas as pd
import pytest
from dask.utils import key_split
from distributed import Client, LocalCluster, get_task_stream
from sqlalchemy import select
from typer.testing import CliRunner

from core.db import ModelMetadata
from core.settings import Settings
from evaluation.intervals import PointsInterval
from evaluation.metrics import game_metrics, points_metrics
from flows.cli import EXIT_BAD_INPUT, app
from flows.ingest import ingest_flow
from flows.resources import open_store
from flows.training import (
    backtest_flow,
    build_features,
    gate_policy,
    load_store,
    retrain_flow,
    run_backtest,
    task_runner_for,
    training_flow,
    training_threads,
    with_new_games,
)
from registry import get_champion, list_registered
from registry.client import mlflow_client
from tests.builders import small_league
from training.backtest import plan_backtest, walk_forward
from training.models import GAME_MODELS, POINTS_MODELS

pytestmark = pytest.mark.usefixtures("prefect_harness")
SEASONS = ("2020-21", "2021-22", "2022-23")


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    return small_league(tmp_path_factory.mktemp("league") / "snap", SEASONS)


@pytest.fixture(scope="module")
def trained(league, tmp_path_factory):
    """One store, ingested, then trained twice on the same data, with the figures (the
    platform's default; the other tests' runs go without them)."""
    state = tmp_path_factory.mktemp("state")
    settings = Settings(data_dir=league, state_dir=state, training_figures=True)
    ingest_flow(source="snapshot", settings=settings)
    first = training_flow(settings=settings)
    second = training_flow(models=["game-logistic", "player-ridge"], settings=settings, force=True)
    return settings, first, second


@pytest.fixture(scope="module")
def cluster():
    """A Dask cluster of two worker processes, as ``NBA_DASK_ADDRESS`` would name one."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def _ran_on_workers(stream, function: str, cluster) -> list[dict]:
    """The task-stream records of ``function``'s tasks, each checked to have run on a worker
    of ``cluster``."""
    records = [r for r in stream.data if key_split(r["key"]) == function]
    workers = set(cluster.scheduler_info["workers"])
    assert all(r["worker"] in workers for r in records), (records, workers)
    return records


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
        logged = mlflow_client(uri).list_artifacts(champion.run_id, "figures")
        drawn = {a.path.removeprefix("figures/").removesuffix(".png") for a in logged}
        task_figures = {"calibration", "roc"} if name in GAME_MODELS else {"residuals"}
        assert drawn - task_figures in ({"importances"}, {"coefficients"}), (name, drawn)
        assert task_figures <= drawn
        # a points version carries the interval the service returns; a game version none
        if name in POINTS_MODELS:
            interval = PointsInterval.from_json(champion.points_interval)
            assert interval.level == 0.8 and interval.basis.startswith("residuals on 2022-23 ")
        else:
            assert champion.points_interval is None


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


def test_training_again_on_the_same_data_trains_nothing(trained):
    """Every model's champion or challenger was trained on this very store with the same
    parameters and features: nothing is trained or registered, and the summary says why."""
    settings, _, _ = trained
    again = training_flow(settings=settings)
    assert again.models == []
    assert len(again.unchanged) == 6
    assert "game-tree: champion v1 was trained on the same data" in again.unchanged[1]
    # the champions were fit on every stored game: no in-season window applies, so other
    # window settings would fit the same model and judge it the same way
    for days in (0, 7):
        other_window = training_flow(models=["game-tree"], settings=settings, window_days=days)
        assert other_window.models == [] and len(other_window.unchanged) == 1


def test_no_more_models_train_at_once_than_the_machine_has_cores(league, tmp_path, monkeypatch):
    """The models of a run are parallel tasks, but on threads at most ``training_threads()``
    fit at once: more only share the cores and hold more copies of the feature frames. Each
    fit here waits a second first, so the tasks the pool lets run do overlap."""
    import training.train

    fit = training.train.train_final
    lock, running, most = threading.Lock(), [0], [0]

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(1)
            return fit(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(training.train, "train_final", counted)
    settings = Settings(data_dir=league, state_dir=tmp_path / "state")
    ingest_flow(source="snapshot", settings=settings)
    models = ["game-logistic", "game-tree", "player-ridge"]
    summary = training_flow(models=models, settings=settings)
    assert sorted(m["name"] for m in summary.models) == sorted(models)
    assert most[0] == min(len(models), training_threads())


def test_training_threads_are_prefect_s_setting_or_the_cores(monkeypatch):
    from prefect.settings import PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS, temporary_settings

    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert training_threads() == 6
    with temporary_settings(updates={PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS: 3}):
        assert training_threads() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown
    assert training_threads() == 2


def test_the_gate_margin_comes_from_the_settings():
    settings = Settings(game_gate_margin=0.05, points_gate_margin=0.2)
    assert gate_policy("game", settings).margin == 0.05
    assert gate_policy("points", settings).margin == 0.2
    assert gate_policy("game", settings).primary_metric == "log_loss"


def test_an_evaluation_season_not_in_the_store_is_named(trained):
    settings, _, _ = trained
    with pytest.raises(ValueError, match="1999-00 is not in the store"):
        training_flow(eval_season="1999-00", models=["game-logistic"], settings=settings)


def test_unknown_model_is_a_clear_error_before_anything_is_read(tmp_path):
    """Checked first: an empty state folder (no store, no MLflow) gives the same error."""
    settings = Settings(state_dir=tmp_path / "nothing-here")
    with pytest.raises(ValueError, match="unknown model"):
        training_flow(models=["game-xgboost"], settings=settings)
    with pytest.raises(ValueError, match="season"):
        training_flow(eval_season="2023-2024", settings=settings)
    assert not (tmp_path / "nothing-here" / "nba.db").exists()


def test_backtest_writes_the_documented_json(league, tmp_path, monkeypatch):
    # The user's own store and MLflow store: the backtest must neither read nor write them.
    mine = tmp_path / "mine"
    monkeypatch.setenv("NBA_DATABASE_URL", f"sqlite:///{mine / 'nba.db'}")
    monkeypatch.setenv("NBA_MLFLOW_TRACKING_URI", f"sqlite:///{mine / 'mlflow.db'}")
    doc = backtest_flow(data_dir=str(league), test_seasons=["2022-23"], out=str(tmp_path / "bt"))
    assert not mine.exists() or not any(mine.iterdir())
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
    report = (tmp_path / "bt" / "backtest.md").read_text()
    assert "baseline-home" in report
    # every figure the report shows is a PNG beside it
    shown = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", report)
    assert shown == [
        "game_calibration.png",
        "game_log_loss.png",
        "points_mae_rotation.png",
        "points_residuals.png",
        "points_interval_coverage.png",
    ]
    for name in shown:
        assert (tmp_path / "bt" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the saved predictions are the ones scored: the metrics come back from them
    games = pd.read_csv(tmp_path / "bt" / "predictions_game.csv.gz", dtype={"game_id": str})
    assert len(games) == 60 and games["game_id"].is_unique
    for name in (*GAME_MODELS, "baseline-home", "baseline-record", "baseline-elo"):
        again = game_metrics(games["home_win"], games[name])
        assert again["log_loss"] == pytest.approx(
            doc["game"][name]["2022-23"]["log_loss"], abs=1e-3
        )
    players = pd.read_csv(tmp_path / "bt" / "predictions_points.csv.gz")
    assert len(players) == doc["points"]["player-ridge"]["2022-23"]["n"]
    for name in (*POINTS_MODELS, "baseline-season-avg", "baseline-last10"):
        again = points_metrics(players["pts"], players[name])
        assert again["mae"] == pytest.approx(doc["points"][name]["2022-23"]["mae"], abs=1e-3)


@pytest.mark.slow
def test_the_retrain_flow_trains_on_the_dask_cluster_of_the_environment(
    league, trained, cluster, clean_env, monkeypatch
):
    """The scheduled retrain applies NBA_TASK_RUNNER / NBA_DASK_ADDRESS: its models are fit on
    the cluster's workers, with the metrics of the default thread runner."""
    assert type(task_runner_for(Settings(task_runner="dask"))).__name__ == "DaskTaskRunner"
    monkeypatch.setenv("NBA_DATA_DIR", str(league))
    monkeypatch.setenv("NBA_TASK_RUNNER", "dask")
    monkeypatch.setenv("NBA_DASK_ADDRESS", cluster.scheduler_address)
    ingest_flow(source="snapshot", settings=Settings())
    names = ["game-logistic", "game-forest", "player-ridge"]
    with Client(cluster) as client, get_task_stream(client) as stream:
        on_dask = retrain_flow(models=names)
    assert len(_ran_on_workers(stream, "train_model", cluster)) == 3
    _, threads, _ = trained

    def metrics(summary):
        return {m["name"]: m.get("log_loss", m.get("mae")) for m in summary.models}

    expected = {k: v for k, v in metrics(threads).items() if k in names}
    assert metrics(on_dask) == pytest.approx(expected, rel=1e-12)  # float summation order only
    assert len(expected) == 3
    assert all(m["version"] == "1" and m["promoted"] for m in on_dask.models)


def _metrics(doc: dict) -> dict[tuple[str, ...], float | int | None]:
    return {
        (task, name, season, metric): value
        for task, per_task in doc.items()
        for name, per_name in per_task.items()
        for season, per_season in per_name.items()
        for metric, value in per_season.items()
    }


@pytest.mark.slow
def test_a_backtest_on_dask_workers_scores_like_walk_forward(league, trained, cluster, tmp_path):
    """``nba-mlops backtest`` with NBA_TASK_RUNNER=dask: every model x test season is a task on
    the cluster, and the report is the one of ``walk_forward`` in this process."""
    settings, _, _ = trained
    features = build_features.fn(load_store.fn(open_store(settings)))  # the same snapshot
    seasons = ["2022-23"]
    on_dask = Settings(
        state_dir=tmp_path / "state", task_runner="dask", dask_address=cluster.scheduler_address
    )
    with Client(cluster) as client, get_task_stream(client) as stream:
        doc = run_backtest(on_dask, str(league), seasons, str(tmp_path / "bt"))
    folds = _ran_on_workers(stream, "backtest_fold", cluster)
    assert len(folds) == len(plan_backtest(*features, seasons).folds()) == 6 + 5
    in_process = walk_forward(*features, seasons)
    got, expected = _metrics(doc), _metrics(in_process.to_dict())
    assert got.keys() == expected.keys()
    # game-forest's trees are averaged on 1 thread on a worker, on 2 here: the last bits differ
    assert got == pytest.approx(expected, rel=1e-12, abs=0)
    # Splits, pooled predictions (calibration tables) and rounded metrics: the same report.
    figures = {name: caption for name, (caption, _) in in_process.figures().items()}
    assert (tmp_path / "bt" / "backtest.md").read_text() == in_process.to_markdown(figures)


def test_models_promote_and_rollback_commands(trained, monkeypatch):
    settings, _, _ = trained
    monkeypatch.setenv("NBA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOGNAME", "dana")  # the login name getpass finds first
    monkeypatch.delenv("COLUMNS", raising=False)  # pytest-xdist's workers have COLUMNS=80
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "--json"])
    assert listed.exit_code == 0, listed.output
    names = {m["name"]: m for m in json.loads(listed.stdout)}
    assert names["game-tree"]["champion"] == "1"
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0 and "game-forest" in table.output
    # Not a terminal: laid out wider than rich's 80 columns, so no cell is cut.
    assert "game-logistic" in table.output and "…" not in table.output

    for forced in ([], ["--force", "--reason", "keep it"]):  # the champion: nothing to do
        again = runner.invoke(app, ["promote", "game-logistic", "1", *forced])
        assert again.exit_code == 0 and "already champion" in again.output, again.output
    refused = runner.invoke(app, ["promote", "game-logistic", "challenger"])  # v2, by its alias
    assert refused.exit_code == 1 and "refused: game-logistic v2: " in refused.output
    forced = runner.invoke(
        app, ["promote", "game-logistic", "2", "--force", "--reason", "tested by hand"]
    )
    assert forced.exit_code == 0, forced.output
    uri = settings.resolved_mlflow_tracking_uri
    assert get_champion(uri, "game-logistic").version == "2"
    back = runner.invoke(app, ["rollback", "game-logistic", "--reason", "wrong call"])
    assert back.exit_code == 0 and "v1" in back.output
    assert get_champion(uri, "game-logistic").version == "1"
    no_reason = runner.invoke(app, ["promote", "game-logistic", "2", "--force"])
    assert no_reason.exit_code == EXIT_BAD_INPUT and "--reason" in no_reason.output
    gated_reason = runner.invoke(app, ["promote", "game-logistic", "2", "--reason", "x"])
    assert gated_reason.exit_code == EXIT_BAD_INPUT, gated_reason.output
    assert "--reason goes with --force" in gated_reason.output
    both = ["promote", "game-logistic", "2", "--gate", "--force", "--reason", "x"]
    for given in (both, [*both[:3], "--force", "--gate", "--reason", "x"]):  # in either order
        conflict = runner.invoke(app, given)
        assert conflict.exit_code == EXIT_BAD_INPUT, conflict.output
        assert "--gate and --force exclude each other" in conflict.output
    assert get_champion(uri, "game-logistic").version == "1"
    nothing_left = runner.invoke(app, ["rollback", "game-logistic"])
    assert nothing_left.exit_code == EXIT_BAD_INPUT, nothing_left.output
    assert "Traceback" not in nothing_left.output and "previous champion" in nothing_left.output
    for args in (["promote", "game-logistic", "99", "--force", "--reason", "r"], ["rollback", "x"]):
        missing = runner.invoke(app, args)
        assert missing.exit_code == EXIT_BAD_INPUT, (args, missing.output)
        assert "Traceback" not in missing.output
    for args in (["promote", "x", "1", "--force", "--reason", "r"], ["rollback", "x"]):
        assert "unknown model 'x'" in runner.invoke(app, args).output
    with open_store(settings).connect() as conn:
        actors = conn.execute(
            select(ModelMetadata.action, ModelMetadata.actor).where(
                ModelMetadata.model_name == "game-logistic",
                ModelMetadata.action.in_(["promote", "rollback"]),
                ModelMetadata.version == "2",
            )
        ).all()
        reasons = (
            conn.execute(select(ModelMetadata.reason).where(ModelMetadata.action == "rollback"))
            .scalars()
            .all()
        )
    assert ("promote", "dana") in actors
    assert "rollback from v2: wrong call" in reasons


def test_a_retrain_keeps_the_models_whose_champions_have_not_seen_every_game(trained):
    from dataclasses import replace

    settings, _, _ = trained
    uri = settings.resolved_mlflow_tracking_uri
    games = load_store(open_store(settings)).games
    current = get_champion(uri, "game-logistic")
    older = replace(current, tags={**current.tags, "fit_through": "2022-11-01"})
    untagged = replace(current, tags={k: v for k, v in current.tags.items() if k != "fit_through"})
    kept, skipped = with_new_games(
        {"game-logistic": current, "game-tree": older, "game-forest": None, "x": untagged}, games
    )
    assert kept == ["game-tree", "game-forest"]  # new games since its fit; no champion yet
    assert skipped == [
        f"game-logistic: no game played since champion v{current.version}'s fit",
        f"x: no game played since champion v{current.version}'s fit",  # its seasons are all
    ]


# Last in the module: a forced retrain adds a version.
def test_the_weekly_retrain_registers_nothing_without_new_games(trained, clean_env, monkeypatch):
    """The store holds no game after the champions' fit: the scheduled retrain trains and
    registers nothing (and leaves ``challenger`` where it is), unless forced."""
    settings, _, _ = trained
    monkeypatch.setenv("NBA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    uri = settings.resolved_mlflow_tracking_uri

    def versions() -> dict[str, list[str]]:
        return {m["name"]: [v["version"] for v in m["versions"]] for m in list_registered(uri)}

    before = versions()
    state = retrain_flow(models=["game-logistic", "player-ridge"], return_state=True)
    assert state.is_completed() and state.result() is None
    assert versions() == before
    forced = retrain_flow(models=["game-tree"], force=True)
    assert [m["name"] for m in forced.models] == ["game-tree"]
    added = set(versions()["game-tree"]) - set(before["game-tree"])
    assert added == {forced.models[0]["version"]}
