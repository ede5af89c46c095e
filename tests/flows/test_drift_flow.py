"""``drift_flow`` under the Prefect test harness on a small synthetic league: real store, real
MLflow registry under a temp folder, real Evidently reports, real gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.db import DriftReport, ModelMetadata
from core.settings import Settings
from flows.cli import app
from flows.drift import drift_flow
from flows.ingest import ingest_flow
from flows.resources import open_store
from flows.training import training_flow
from ingest.storage import read_games, read_team_games
from monitoring.predictions import log_predictions
from registry import get_champion, get_version
from tests.builders import team_game_log, write_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")
HISTORY = ("2020-21", "2021-22", "2022-23")
CURRENT = "2023-24"
MODEL = "game-logistic"
MOVED = ("pts", "margin", "rating", "elo")  # about 60% of the game features


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    """Three seasons to train on, then a fourth whose games are predicted and played."""
    folder = tmp_path_factory.mktemp("league")
    logs = {s: team_game_log(s, n_days=30, seed=i) for i, s in enumerate((*HISTORY, CURRENT))}
    history = write_snapshot(folder / "history", {s: logs[s] for s in HISTORY}, players=False)
    full = write_snapshot(folder / "full", logs, players=False)
    return history, full


@pytest.fixture(scope="module")
def trained(league, tmp_path_factory):
    """A store trained through 2022-23 (champion v1), then the 2023-24 results ingested and
    the champion's predictions of those games logged, with the feature vectors it used."""
    history, full = league
    state = tmp_path_factory.mktemp("state")
    settings = Settings(data_dir=history, state_dir=state, default_game_model=MODEL)
    ingest_flow(source="snapshot", settings=settings)
    training_flow(models=[MODEL], settings=settings)
    settings = settings.model_copy(update={"data_dir": full})
    ingest_flow(source="snapshot", seasons=CURRENT, settings=settings)
    engine = open_store(settings)
    from features import build_game_features
    from registry import load_model

    games, team_games = read_games(engine), read_team_games(engine)
    feats = build_game_features(games, team_games)
    feats = feats.loc[feats["season"] == CURRENT].reset_index(drop=True)
    model, info = load_model(settings.resolved_mlflow_tracking_uri, MODEL)
    p = model.predict_proba(feats)[:, 1]
    return settings, engine, feats, p, info


def _log(engine, feats: pd.DataFrame, p, info, shift: float = 0.0) -> None:
    """Log one prediction per game, as the service would (features optionally shifted)."""
    rows = []
    for row, prob in zip(feats.to_dict(orient="records"), p, strict=True):
        features = {
            c: row[c] + (shift if any(k in c for k in MOVED) else 0.0) for c in info.feature_names
        }
        day = row["game_date"].date()
        rows.append(
            {
                "request_id": f"t-{row['game_id']}-{shift}",
                "created_at": datetime.combine(day, datetime.min.time(), tzinfo=UTC),
                "endpoint": "/api/predict/simple",
                "model_name": MODEL,
                "model_version": info.version,
                "game_date": day,
                "game_id": row["game_id"],
                "home_team_id": row["home_team_id"],
                "away_team_id": row["away_team_id"],
                "inputs": {"features": features},
                "outputs": {"home_win_probability": float(prob)},
            }
        )
    log_predictions(engine, rows)


def _as_of(feats: pd.DataFrame) -> date:
    return feats["game_date"].max().date() + timedelta(days=1)


def test_no_threshold_crossed_no_retrain(trained):
    settings, _, feats, *_ = trained
    calm = settings.model_copy(
        update={"drift_share_threshold": 1.0, "log_loss_drop_threshold": 10.0}
    )
    summary = drift_flow(
        as_of=_as_of(feats),
        window_days=60,
        tasks=["game", "game"],  # named twice, checked once
        min_performance_rows=10,
        html=False,  # the pages are drawn in the next test
        settings=calm,
    )
    assert summary.alerts == [] and summary.retrain is None and summary.action == "none"
    (task,) = summary.tasks
    assert task["current_source"] == "store"  # nothing logged yet: games of the window
    assert [r["kind"] for r in task["reports"]] == ["features", "predictions"]
    assert get_champion(settings.resolved_mlflow_tracking_uri, MODEL).version == "1"


def test_drift_over_threshold_starts_a_retrain_and_the_gate_decides(trained):
    settings, engine, feats, p, info = trained
    uri = settings.resolved_mlflow_tracking_uri
    _log(engine, feats, p, info, shift=25.0)  # scoring, margins, ratings moved
    summary = drift_flow(
        as_of=_as_of(feats),
        window_days=60,
        tasks=["game"],
        retrain_models=[MODEL],
        cooldown_days=7,
        min_new_games=50,
        min_performance_rows=10,
        settings=settings,
    )
    (task,) = summary.tasks
    assert task["current_source"] == "predictions"
    features = next(r for r in task["reports"] if r["kind"] == "features")
    assert (
        features["drift_detected"] and features["share_drifted"] >= settings.drift_share_threshold
    )
    assert task["decision"]["retrain"] is True
    assert summary.retrain is not None and summary.retrain["eval_season"] == CURRENT

    # Before the retrain the champion was scored on the new season, so the gate compares both
    # versions on the same games; the challenger (same data before 2023-24) is no better.
    (scored,) = summary.season_scores
    assert scored["season"] == CURRENT and scored["n"] == len(feats)
    champion = get_version(uri, MODEL, "1")
    assert f"log_loss.{CURRENT}" in champion.metrics
    (outcome,) = summary.retrain["models"]
    assert outcome["name"] == MODEL and outcome["version"] == "2"
    challenger = get_version(uri, MODEL, "2")
    assert challenger.tags["gate_decision"] == ("promote" if outcome["promoted"] else "refuse")
    assert outcome["promoted"] is False and outcome["reason"].startswith("not better")
    assert get_champion(uri, MODEL).version == "1"
    # 28 days of this league hold 28 games, under the default minimum: the season decided,
    # and the version says why
    assert "holds 28 games (< 100)" in challenger.tags["eval_window_fallback"]
    assert outcome["basis"] == "season" and "season-level: in-season window" in outcome["reason"]
    with engine.connect() as conn:
        actions = conn.execute(
            select(ModelMetadata.version, ModelMetadata.action).where(
                ModelMetadata.model_name == MODEL, ModelMetadata.action != "register"
            )
        ).all()
    assert sorted(actions) == [("1", "promote"), ("2", "refuse")]
    with Session(engine) as session:
        rows = session.scalars(select(DriftReport).order_by(DriftReport.id)).all()

    # The check's rows carry the decision and, once done, the retrain's outcome.
    mine = [r for r in rows if r.summary.get("check_id") == summary.check_id]
    assert {r.kind for r in mine} == {"features", "predictions", "performance"}
    assert all(r.summary["retrain"]["models"][0]["version"] == "2" for r in mine)
    assert all(r.model_version == "1" for r in mine)
    assert all((settings.reports_dir / r.html_path).stat().st_size > 10_000 for r in mine)
    assert (settings.reports_dir / "index.html").exists()
    # check.json names its files relative to the reports folder, as drift_reports does
    doc = json.loads((Path(summary.folder) / "check.json").read_text())
    assert doc["folder"] == Path(summary.folder).name and doc["index"] == "index.html"
    files = {r["kind"]: r["html_path"] for r in doc["tasks"][0]["reports"]}
    assert files == {r.kind: r.html_path for r in mine}
    assert json.loads((settings.reports_dir / "index.json").read_text())[0]["check_id"]

    # The champion's run holds the check's summary and the live figures.
    from registry.client import mlflow_client

    run = mlflow_client(uri).get_run(champion.run_id)
    assert run.data.metrics["monitoring.game.feature_drift_share"] == features["share_drifted"]
    assert "monitoring.game.live_log_loss" in run.data.metrics

    # A week later the same alert is held back by the cooldown.
    again = drift_flow(
        as_of=_as_of(feats) + timedelta(days=3),
        window_days=60,
        tasks=["game"],
        retrain_models=[MODEL],
        cooldown_days=7,
        min_performance_rows=10,
        html=False,
        settings=settings,
    )
    assert again.alerts and again.retrain is None and "cooldown" in again.action


def test_drift_command_prints_the_check(trained, monkeypatch):
    settings, *_ = trained
    monkeypatch.setenv("NBA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    as_of = "2023-11-20"  # 2023-11-06..19: seven game days of the league's 2023-24
    result = CliRunner().invoke(
        app, ["drift", "--as-of", as_of, "--tasks", "game", "--no-html", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output[result.output.index("{") :])
    assert doc["as_of"] == as_of and doc["tasks"][0]["model_name"] == MODEL
    kinds = [r["kind"] for r in doc["tasks"][0]["reports"]]
    assert kinds[:2] == ["features", "predictions"]  # the window's 14 games were checked
    printed = CliRunner().invoke(app, ["drift", "--as-of", as_of, "--tasks", "game", "--no-html"])
    assert printed.exit_code == 0, printed.output
    assert "index: " in printed.output and "no report made" not in printed.output
    bad = CliRunner().invoke(app, ["drift", "--as-of", "yesterday"])
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_a_retrain_stays_within_the_alerting_task():
    from flows.drift import _retrain_models
    from training.models import GAME_MODELS, POINTS_MODELS

    def every(name: str) -> bool:
        return True

    assert _retrain_models({"game"}, None, every) == list(GAME_MODELS)
    assert _retrain_models({"points"}, None, every) == list(POINTS_MODELS)
    # by default only the models with a champion: a drift alert crowns no untrained model
    assert _retrain_models({"game"}, None, lambda n: n == MODEL) == [MODEL]
    assert _retrain_models({"points"}, [MODEL], every) == []  # never "every model" by accident
    both = [MODEL, "player-ridge"]
    assert _retrain_models({"game", "points"}, both, lambda n: False) == both  # asked for


def test_prediction_drift_over_its_threshold_starts_a_retrain(trained):
    """Only the predictions' distance crosses its threshold (feature drift and performance
    thresholds are out of reach): the check alerts on it, retrains, and the gate decides, here
    on the in-season window (its minimum lowered to this league's 28 games)."""
    settings, _, feats, *_ = trained
    uri = settings.resolved_mlflow_tracking_uri
    as_of = _as_of(feats) + timedelta(days=8)  # past the 7-day cooldown of the last retrain
    quiet = settings.model_copy(
        update={
            "drift_share_threshold": 1.0,
            "log_loss_drop_threshold": 10.0,
            "prediction_drift_threshold": 0.0,  # off: measured, never triggers
            "in_season_min_games": 10,
        }
    )
    kwargs = dict(
        as_of=as_of,
        window_days=60,
        tasks=["game"],
        retrain_models=[MODEL],
        min_performance_rows=10,
        html=False,
    )
    measured = drift_flow(settings=quiet, **kwargs)
    (task,) = measured.tasks
    shift = task["prediction_shift"]
    assert shift["distance"] > 0 and shift["crossed"] is False
    assert measured.alerts == [] and measured.retrain is None
    # the predictions report records the verdict that decides (whatever Evidently's own test)
    recorded = next(r for r in task["reports"] if r["kind"] == "predictions")
    assert (recorded["drift_detected"], recorded["share_drifted"]) == (False, None)
    assert recorded["prediction_shift"] == shift and "test" in recorded

    at_threshold = quiet.model_copy(update={"prediction_drift_threshold": shift["distance"]})
    summary = drift_flow(settings=at_threshold, **kwargs)
    (reason,) = summary.alerts
    assert reason.startswith(f"{MODEL} prediction drift: normed Wasserstein distance")
    recorded = next(r for r in summary.tasks[0]["reports"] if r["kind"] == "predictions")
    assert recorded["drift_detected"] is True
    with Session(open_store(settings)) as session:
        row = session.get(DriftReport, recorded["id"])
    assert row.drift_detected is True and row.summary["prediction_shift"]["crossed"] is True
    assert summary.tasks[0]["decision"]["retrain"] is True
    (outcome,) = summary.retrain["models"]
    version = get_version(uri, MODEL, outcome["version"])
    assert version.tags["gate_decision"] == ("promote" if outcome["promoted"] else "refuse")
    assert outcome["basis"] == version.tags["gate_basis"] == "window"
    assert f"in-season window {version.tags['eval_window']}, 28 games" in outcome["reason"]
    assert get_champion(uri, MODEL).version == (outcome["version"] if outcome["promoted"] else "1")


def test_a_retrain_that_fails_part_way_records_the_models_it_registered(trained, monkeypatch):
    """One model of the retrain fails after another was registered: the check fails, and its
    reports record the failure beside the version that was registered."""
    from flows.training import TrainingIncomplete, TrainingSummary

    settings, engine, feats, *_ = trained
    done = TrainingSummary(
        eval_season=CURRENT,
        models=[{"name": MODEL, "version": "7", "promoted": False, "reason": "not better"}],
        failed=["game-tree: the data broke it"],
    )

    def part_way(*args, **kwargs):
        raise TrainingIncomplete(done, ValueError("the data broke it"))

    monkeypatch.setattr("flows.training.run_training", part_way)
    alerting = settings.model_copy(
        update={
            "drift_share_threshold": 1.0,
            "log_loss_drop_threshold": 10.0,
            "prediction_drift_threshold": 1e-9,  # always crossed
        }
    )
    with pytest.raises(TrainingIncomplete):
        drift_flow(
            as_of=_as_of(feats) + timedelta(days=20),  # past the cooldown of the retrains above
            window_days=60,
            tasks=["game"],
            retrain_models=[MODEL, "game-tree"],
            min_new_games=0,
            min_performance_rows=10,
            html=False,
            settings=alerting,
        )
    with Session(engine) as session:
        rows = session.scalars(select(DriftReport)).all()
    failed = [r.summary["retrain"] for r in rows if "error" in r.summary.get("retrain", {})]
    assert failed and all(f["models"] == done.models for f in failed)
    assert failed[0]["error"].startswith("TrainingIncomplete: 1 model(s) failed (game-tree: ")


def test_a_retrain_says_which_models_it_left_untrained_and_brings_in_none_untrained(
    trained, monkeypatch
):
    """The default retrain of an alerting task trains only its models with a champion (here
    game-logistic, not the never-trained tree and forest), and ``check.json`` and the command
    say which of them the training left alone and why."""
    from flows.training import TrainingSummary

    settings, *_, feats, _, _ = trained
    same = f"{MODEL}: v1 was trained on the same data, evaluation season and window"
    asked: list[list[str]] = []

    def unchanged(settings, eval_season=None, models=None, **kwargs):
        asked.append(models)
        return TrainingSummary(eval_season=CURRENT, unchanged=[same])

    monkeypatch.setattr("flows.training.run_training", unchanged)
    alerting = settings.model_copy(update={"prediction_drift_threshold": 1e-9})  # crossed
    summary = drift_flow(
        as_of=_as_of(feats) + timedelta(days=30),  # past the cooldown of the retrains above
        window_days=90,
        tasks=["game"],
        min_new_games=0,
        min_performance_rows=10,
        html=False,
        settings=alerting,
    )
    assert asked == [[MODEL]] and summary.action.startswith(f"retrain {MODEL} (")
    doc = json.loads((Path(summary.folder) / "check.json").read_text())
    assert doc["retrain"]["unchanged"] == [same] and doc["retrain"]["models"] == []


def test_the_features_of_some_seasons_are_those_rows_of_the_whole_table(trained):
    """A check computes the rows of the seasons it needs (reference, season scores) from every
    stored game: the same values as the whole table's rows."""
    from flows.drift import StoreData

    _, engine, *_ = trained
    data = StoreData(read_games(engine), read_team_games(engine))
    whole = data.features("game")
    part = data.features("game", [CURRENT])
    assert len(part) == (whole["season"] == CURRENT).sum() < len(whole)
    expected = whole.loc[whole["season"] == CURRENT].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.reset_index(drop=True), expected, check_exact=True)
    assert data.features("game", [CURRENT]) is part  # computed once per check


# A second store whose champion was fit through the season being checked ------------------------
@pytest.fixture(scope="module")
def current_champion(league, tmp_path_factory):
    """Every season ingested, then trained: champion v1 is fit through 2023-24 itself."""
    _, full = league
    settings = Settings(
        data_dir=full, state_dir=tmp_path_factory.mktemp("current"), default_game_model=MODEL
    )
    ingest_flow(source="snapshot", settings=settings)
    training_flow(models=[MODEL], settings=settings)
    info = get_champion(settings.resolved_mlflow_tracking_uri, MODEL)
    assert CURRENT in info.train_seasons
    return settings, open_store(settings), info


MID_SEASON = date(2023, 11, 20)  # the window 2023-11-06..19 holds 14 games of 2023-24


def test_a_champion_fit_on_the_checked_season_is_not_compared_with_its_own_games(
    current_champion,
):
    settings, *_ = current_champion
    summary = drift_flow(
        as_of=MID_SEASON,
        tasks=["game"],
        retrain=False,
        min_performance_rows=10,
        html=False,
        settings=settings,
    )
    (task,) = summary.tasks
    features = next(r for r in task["reports"] if r["kind"] == "features")
    assert features["current_window"] == "2023-11-06..2023-11-19"
    # 2023-24 before the window holds 18 games, too few at this point of the season: the
    # season before is the reference, whole (this league's seasons are 60 games)
    assert features["reference_window"] == "2022-23 whole season"
    # the rows of the season being played are never cached; the finished season is
    cached = sorted(p.name for p in (settings.reports_dir / "reference").iterdir())
    assert cached == [f"{MODEL}-v1-2022-23-past.parquet"]


def test_a_check_as_of_a_past_day_does_not_retrain_on_later_games(current_champion):
    settings, engine, _ = current_champion
    uri = settings.resolved_mlflow_tracking_uri
    alerting = settings.model_copy(update={"prediction_drift_threshold": 1e-9})  # always drifts
    summary = drift_flow(
        as_of=MID_SEASON,
        tasks=["game"],
        retrain_models=[MODEL],
        min_new_games=0,
        min_current_rows=2,
        min_performance_rows=10,
        html=False,
        settings=alerting,
    )
    (task,) = summary.tasks
    assert summary.alerts and task["decision"]["retrain"] is False
    later = sum(pd.to_datetime(read_games(engine)["game_date"]) >= pd.Timestamp(MID_SEASON))
    assert task["decision"]["blocked"].startswith(
        f"the store holds {later} played games dated on or after {MID_SEASON}"
    )
    assert summary.retrain is None and summary.season_scores == []
    assert summary.action.startswith("no retrain: game: the store holds")
    assert get_champion(uri, MODEL).version == "1"
    from registry.client import mlflow_client

    assert len(mlflow_client(uri).search_model_versions(f"name='{MODEL}'")) == 1


def test_a_check_with_no_game_in_its_window_says_so(current_champion, monkeypatch):
    settings, *_ = current_champion
    summer = date(2024, 8, 1)
    summary = drift_flow(as_of=summer, tasks=["game"], html=False, settings=settings)
    (task,) = summary.tasks
    assert task["reports"] == [] and task["skipped"].startswith("no report: features, predictions")
    assert summary.skipped == [
        "game: features, predictions: 0 game(s) in 2024-07-18..2024-07-31 (need 2)",
        "game: performance: 0 scored prediction(s) of v1 in 2024-07-04..2024-07-31",
    ]
    doc = json.loads((Path(summary.folder) / "check.json").read_text())
    assert doc["skipped"] == summary.skipped and doc["index"] is None

    monkeypatch.setenv("NBA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(
        app, ["drift", "--as-of", summer.isoformat(), "--tasks", "game", "--no-html"]
    )
    assert result.exit_code == 0, result.output
    assert "no report made" in result.output and "not reported:" in result.output
    assert result.output.count("0 game(s)") == 1  # under the table, not repeated in it
    assert "no threshold crossed" not in result.output and "index: " not in result.output


def test_a_check_on_a_store_no_ingest_has_reached_for_days_alerts(
    current_champion, receiver, monkeypatch
):
    """The daily ingest stopped: the check alerts and notifies instead of ending Completed with
    only "no report made" day after day. A check within NBA_STALE_INGEST_DAYS does not."""
    from ingest.storage import last_ingest

    settings, engine, _ = current_champion
    url, received, _ = receiver
    watched = settings.model_copy(update={"webhook_url": url, "stale_ingest_days": 3})
    with _ingests_dated_back(engine, days=3):
        fresh = drift_flow(tasks=["game"], html=False, settings=watched)  # as of today
    assert fresh.alerts == [] and received == []
    monkeypatch.setenv("NBA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    with _ingests_dated_back(engine, days=10):
        finished = last_ingest(engine)
        summary = drift_flow(tasks=["game"], html=False, settings=watched)
        result = CliRunner(env={"COLUMNS": "200"}).invoke(
            app, ["drift", "--tasks", "game", "--no-html"]
        )
    today = date.fromisoformat(summary.as_of)
    (alert,) = summary.alerts
    assert alert == (
        f"stale store: the store's last successful ingest finished {finished:%Y-%m-%d %H:%M} UTC, "
        f"10 days before {today} (NBA_STALE_INGEST_DAYS 3); its newest game is of "
        f"{read_games(engine)['game_date'].max():%Y-%m-%d}. Check the daily-ingest deployment's runs"
    )
    assert summary.notified is True and summary.action == "none"  # it retrains nothing
    (event,) = received
    assert event["body"]["reasons"] == [alert] and event["body"]["as_of"] == today.isoformat()
    assert json.loads((Path(summary.folder) / "check.json").read_text())["alerts"] == [alert]
    assert result.exit_code == 0, result.output
    assert "alert: stale store: the store's last successful ingest" in result.output


@contextmanager
def _ingests_dated_back(engine, days: int) -> Iterator[None]:
    """The store's ingest runs dated ``days`` earlier (the daily ingest stopped then), and
    put back afterwards: a check is dated today at the latest."""
    from core.db import IngestRun

    def shift(by: timedelta) -> None:
        with Session(engine) as session, session.begin():
            for run in session.scalars(select(IngestRun)):
                run.started_at -= by
                run.finished_at = run.finished_at and run.finished_at - by

    shift(timedelta(days=days))
    try:
        yield
    finally:
        shift(-timedelta(days=days))


def test_a_check_as_of_a_day_before_the_stored_games_says_so(current_champion):
    """No game of the store before the window: no reference to compare with, so nothing is
    reported, and the check says why (it used to fail naming a season nobody asked for)."""
    settings, *_ = current_champion
    summary = drift_flow(as_of=date(2019, 9, 1), tasks=["game"], html=False, settings=settings)
    (task,) = summary.tasks
    assert task["reports"] == []
    (reason,) = summary.skipped
    assert reason.startswith("game: no reference: no played regular-season game in the store")
    assert "before 2019-08-18" in reason and "2020-21" in reason  # the store starts in 2020-21


def test_a_check_with_no_champion_at_all_fails(tmp_path, monkeypatch):
    """A store never trained (or a mistyped NBA_STATE_DIR): the run ends Failed and the command
    exits 2 with one line, instead of a Completed check that watched nothing."""
    from registry.client import RegistryError

    empty = Settings(state_dir=tmp_path / "empty")
    state = drift_flow(as_of=date(2024, 1, 15), html=False, settings=empty, return_state=True)
    assert state.is_failed()
    with pytest.raises(RegistryError, match="no champion of game-logistic, player-ridge"):
        state.result()
    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "typo"))
    result = CliRunner().invoke(app, ["drift", "--as-of", "2024-01-15", "--tasks", "game"])
    assert result.exit_code == 2, result.output
    assert "the state folder" in result.output and "typo does not exist" in result.output
    assert not (tmp_path / "typo").exists()
    (tmp_path / "typo").mkdir()  # an existing folder that holds no model store
    result = CliRunner().invoke(app, ["drift", "--as-of", "2024-01-15", "--tasks", "game"])
    assert result.exit_code == 2, result.output
    assert "mlflow.db does not exist: nothing to check" in result.output
    assert list((tmp_path / "typo").iterdir()) == []  # no empty store made
    assert (tmp_path / "empty" / "mlflow.db").is_file()  # a model store without a champion
    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["drift", "--as-of", "2024-01-15", "--tasks", "game"])
    assert result.exit_code == 2, result.output
    assert "error: no champion of game-logistic in sqlite:///" in result.output
    assert not (tmp_path / "empty" / "reports" / "index.html").exists()


def test_a_task_without_a_champion_is_skipped_and_the_others_reported(current_champion):
    settings, *_ = current_champion  # a game champion, no points champion
    summary = drift_flow(
        as_of=MID_SEASON, retrain=False, min_performance_rows=10, html=False, settings=settings
    )
    game, points = summary.tasks
    assert [r["kind"] for r in game["reports"]][:2] == ["features", "predictions"]
    assert points["skipped"] == "player-ridge has no champion: train first"
    assert "points: player-ridge has no champion: train first" in summary.skipped


# A store trained through 2022-23 whose champion never saw 2023-24 --------------------------------
@pytest.fixture(scope="module")
def season_champion(league, tmp_path_factory):
    history, full = league
    settings = Settings(
        data_dir=history, state_dir=tmp_path_factory.mktemp("season"), default_game_model=MODEL
    )
    ingest_flow(source="snapshot", settings=settings)
    training_flow(models=[MODEL], settings=settings)
    settings = settings.model_copy(update={"data_dir": full})
    ingest_flow(source="snapshot", seasons=CURRENT, settings=settings)
    engine = open_store(settings)
    from features import build_game_features

    feats = build_game_features(read_games(engine), read_team_games(engine))
    feats = feats.loc[feats["season"] == CURRENT].reset_index(drop=True)
    return settings, engine, feats


def test_the_champion_is_scored_only_on_the_games_before_the_check(season_champion):
    from flows.drift import StoreData, score_champion_on_season

    settings, engine, feats = season_champion
    uri = settings.resolved_mlflow_tracking_uri
    data = StoreData(read_games(engine), read_team_games(engine))
    scored = score_champion_on_season.fn(uri, MODEL, CURRENT, data, MID_SEASON)
    before = int((feats["game_date"] < pd.Timestamp(MID_SEASON)).sum())
    assert 0 < before < len(feats)
    assert scored["n"] == before
    from registry.client import mlflow_client

    run = get_champion(uri, MODEL).run_id
    history = mlflow_client(uri).get_metric_history(run, f"log_loss.{CURRENT}")
    assert [m.step for m in history] == [before]


def test_new_games_are_those_played_after_the_fit_and_before_the_check(season_champion):
    from dataclasses import replace

    from flows.drift import StoreData, _new_games

    settings, engine, feats = season_champion
    info = get_champion(settings.resolved_mlflow_tracking_uri, MODEL)
    data = StoreData(read_games(engine))
    before = int((feats["game_date"] < pd.Timestamp(MID_SEASON)).sum())
    assert _new_games(info, data, MID_SEASON) == before < len(feats)
    untagged = replace(info, tags={k: v for k, v in info.tags.items() if k != "fit_through"})
    assert _new_games(untagged, data, MID_SEASON) == before  # from its training seasons
    refit = replace(info, tags={**info.tags, "fit_through": "2023-11-01"})
    assert _new_games(refit, data, MID_SEASON) == int(
        ((feats["game_date"] > "2023-11-01") & (feats["game_date"] < "2023-11-20")).sum()
    )


def _log_window(engine, feats, columns, version: str, made: datetime | None, tag: str) -> None:
    """One prediction per game of 2023-24 by ``version``, every feature moved far."""
    rows = []
    for row in feats.to_dict(orient="records"):
        day = row["game_date"].date()
        created = made or datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        rows.append(
            {
                "request_id": f"{tag}-{row['game_id']}",
                "created_at": created,
                "endpoint": "/api/predict/simple",
                "model_name": MODEL,
                "model_version": version,
                "game_date": day,
                "game_id": row["game_id"],
                "home_team_id": row["home_team_id"],
                "away_team_id": row["away_team_id"],
                "inputs": {"features": dict.fromkeys(columns, 1000.0)},
                "outputs": {"home_win_probability": 0.99},
            }
        )
    log_predictions(engine, rows)


@pytest.mark.parametrize(
    ("version", "made", "tag"),
    [
        ("99", None, "other-version"),  # logged by a version that is not the champion
        ("1", datetime(2030, 1, 1, tzinfo=UTC), "made-later"),  # made after the check's day
    ],
)
def test_only_the_champion_s_predictions_made_before_the_check_count(
    season_champion, version, made, tag
):
    settings, engine, feats = season_champion
    info = get_champion(settings.resolved_mlflow_tracking_uri, MODEL)
    _log_window(engine, feats, info.feature_names, version, made, tag)
    summary = drift_flow(
        as_of=_as_of(feats),
        window_days=60,
        tasks=["game"],
        retrain=False,
        min_performance_rows=10,
        html=False,
        settings=settings,
    )
    (task,) = summary.tasks
    assert task["current_source"] == "store"  # the champion logged nothing itself in time
    performance = next((r for r in task["reports"] if r["kind"] == "performance"), None)
    assert performance is None and summary.tasks[0]["performance"]["n"] == 0
