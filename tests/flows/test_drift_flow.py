"""``drift_flow`` under the Prefect test harness on a small synthetic league: real store, real
MLflow registry under a temp folder, real Evidently reports, real gate."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

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
        tasks=["game"],
        min_performance_rows=10,
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
    assert (settings.reports_dir / "index.html").exists()
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
        settings=settings,
    )
    assert again.alerts and again.retrain is None and "cooldown" in again.action


def test_drift_command_prints_the_check(trained, monkeypatch):
    settings, *_ = trained
    monkeypatch.setenv("NBA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("NBA_DATA_DIR", str(settings.data_dir))
    as_of = "2024-01-01"
    result = CliRunner().invoke(
        app, ["drift", "--as-of", as_of, "--tasks", "game", "--no-html", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output[result.output.index("{") :])
    assert doc["as_of"] == as_of and doc["tasks"][0]["model_name"] == MODEL
    bad = CliRunner().invoke(app, ["drift", "--as-of", "yesterday"])
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_a_retrain_stays_within_the_alerting_task():
    from flows.drift import _retrain_models
    from training.models import GAME_MODELS, POINTS_MODELS

    assert _retrain_models({"game"}, None) == list(GAME_MODELS)
    assert _retrain_models({"points"}, None) == list(POINTS_MODELS)
    assert _retrain_models({"points"}, [MODEL]) == []  # never "every model" by accident
    assert _retrain_models({"game", "points"}, [MODEL, "player-ridge"]) == [MODEL, "player-ridge"]


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

    at_threshold = quiet.model_copy(update={"prediction_drift_threshold": shift["distance"]})
    summary = drift_flow(settings=at_threshold, **kwargs)
    (reason,) = summary.alerts
    assert reason.startswith(f"{MODEL} prediction drift: normed Wasserstein distance")
    assert summary.tasks[0]["decision"]["retrain"] is True
    (outcome,) = summary.retrain["models"]
    version = get_version(uri, MODEL, outcome["version"])
    assert version.tags["gate_decision"] == ("promote" if outcome["promoted"] else "refuse")
    assert outcome["basis"] == version.tags["gate_basis"] == "window"
    assert f"in-season window {version.tags['eval_window']}, 28 games" in outcome["reason"]
    assert get_champion(uri, MODEL).version == (outcome["version"] if outcome["promoted"] else "1")


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
