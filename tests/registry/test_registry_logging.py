"""Logging and registering a trained model in a real MLflow store."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from registry import (
    RegistryError,
    get_champion,
    get_version,
    list_registered,
    load_model,
    log_training_run,
)
from registry.client import fluent_tracking


def _artifact_dir(uri: str) -> Path:
    return Path(urlparse(uri).path)


def test_log_and_register_gives_version_one_with_everything(
    store, register, game_metrics, games_frame, logistic, features
):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlflow import MlflowClient

    figure, axes = plt.subplots()
    axes.plot([0, 1], [0, 1])
    metrics = {**game_metrics("2023-24", log_loss=0.61), "log_loss.2022-23": 0.63}

    registered = register(metrics, figures={"calibration": figure}, tags={"git_sha": "deadbeef"})
    plt.close(figure)

    assert (registered.name, registered.version) == ("game-logistic", "1")
    assert registered.model_uri == "models:/game-logistic/1"
    client = MlflowClient(tracking_uri=store.tracking_uri)
    version = client.get_model_version("game-logistic", "1")
    assert version.run_id == registered.run_id
    assert version.tags["task"] == "game"
    assert version.tags["eval_season"] == "2023-24"
    assert version.tags["train_seasons"] == "2021-22,2022-23"
    assert version.tags["features"] == ",".join(features)
    assert version.tags["git_sha"] == "deadbeef"
    assert "2021-22, 2022-23" in version.description
    assert "season 2023-24, which was held out of the fit" in version.description

    run = client.get_run(registered.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["log_loss"] == pytest.approx(0.61)
    assert run.data.metrics["log_loss.2023-24"] == pytest.approx(0.61)
    assert run.data.metrics["log_loss.2022-23"] == pytest.approx(0.63)
    assert run.data.params["C"] == "1.0"
    assert run.data.params["model.kind"] == "logistic"
    assert run.data.params["data.input_hash"] == "abc123"
    assert run.data.params["data.rows.train"] == "48"
    assert json.loads(run.data.params["data.seasons"]) == ["2021-22", "2022-23", "2023-24"]
    assert run.data.tags["features"] == ",".join(features)

    artifacts = _artifact_dir(run.info.artifact_uri)
    assert str(artifacts).startswith(str(store.root / "mlartifacts"))
    assert json.loads((artifacts / "features.json").read_text())["features"] == features
    assert json.loads((artifacts / "lineage.json").read_text())["input_hash"] == "abc123"
    assert (artifacts / "figures" / "calibration.png").read_bytes()[:4] == b"\x89PNG"

    model_dir = _artifact_dir(client.get_model_version_download_uri("game-logistic", "1"))
    requirements = (model_dir / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements
    assert "cloudpickle" in (model_dir / "MLmodel").read_text()

    model, info = load_model(store.tracking_uri, "game-logistic", "1")
    frame, _ = games_frame
    np.testing.assert_allclose(model.predict_proba(frame), logistic.predict_proba(frame))
    assert info.version == "1"
    assert info.eval_season == "2023-24"
    assert info.train_seasons == ["2021-22", "2022-23"]
    assert info.feature_names == features


def test_tree_model_is_saved_with_cloudpickle(store, register, game_metrics, games_frame):
    from sklearn.tree import DecisionTreeClassifier

    frame, target = games_frame
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(frame, target)

    registered = register(game_metrics(), name="game-tree", model=tree)

    model, _ = load_model(store.tracking_uri, "game-tree", registered.version)
    assert isinstance(model, DecisionTreeClassifier)
    np.testing.assert_array_equal(model.predict_proba(frame), tree.predict_proba(frame))


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_mlflows_routine_notices_are_not_logged_with_every_model(register, game_metrics):
    """Saving a model, MLflow logs a pickle caution and (without pip in the environment) a pip
    notice, every time: dropped; its other messages pass."""
    from registry.runs import ROUTINE_NOTICES

    kept = _Kept()
    loggers = [logging.getLogger(name) for name in ROUTINE_NOTICES]
    for logger in loggers:
        logger.addHandler(kept)
    try:
        register(game_metrics())
        for logger, notice in zip(loggers, ROUTINE_NOTICES.values(), strict=True):
            logger.warning("%s, as MLflow says it", notice)
            logger.warning("anything else MLflow says")
    finally:
        for logger in loggers:
            logger.removeHandler(kept)
    assert kept.messages == ["anything else MLflow says"] * 2


def test_mlflow_generic_loader_answers_what_the_platform_serves(
    store, register, game_metrics, games_frame, logistic
):
    """A game model's signature and pyfunc answer are P(home win) (``predict_proba``), not the
    0/1 class: `mlflow models serve` on a registered version gives the service's numbers."""
    import mlflow

    frame, _ = games_frame
    version = register(game_metrics())
    with fluent_tracking(store.tracking_uri):
        loaded = mlflow.pyfunc.load_model(f"models:/game-logistic/{version.version}")
    answer = np.asarray(loaded.predict(frame.head(4)))
    np.testing.assert_allclose(answer, logistic.predict_proba(frame.head(4)))
    (output,) = loaded.metadata.get_output_schema().inputs
    assert str(output.type) == "float64" and output.shape == (-1, 2)  # the class was int64


def test_second_run_of_same_name_is_version_two(store, register, game_metrics):
    register(game_metrics())
    second = register(game_metrics(log_loss=0.6))
    assert second.version == "2"
    assert get_version(store.tracking_uri, "game-logistic", 2).metrics["log_loss"] == 0.6


def test_fluent_state_is_restored(register, game_metrics, monkeypatch):
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////nonexistent/elsewhere.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    before_registry = registry_utils._registry_uri

    register(game_metrics())

    assert mlflow.get_tracking_uri() == "sqlite:////nonexistent/elsewhere.db"
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////nonexistent/elsewhere.db"
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert registry_utils._registry_uri == before_registry
    assert mlflow.active_run() is None


def test_input_example_must_match_feature_names(
    store, games_frame, logistic, game_metrics, features
):
    frame, _ = games_frame
    with pytest.raises(ValueError, match="feature names"):
        log_training_run(
            tracking_uri=store.tracking_uri,
            artifact_location=store.artifact_location,
            experiment="nba-games",
            model_name="game-logistic",
            task="game",
            model=logistic,
            params={},
            metrics=game_metrics(),
            feature_names=[*features, "home_elo"],
            lineage={},
            figures=None,
            input_example=frame.head(2),
            eval_season="2023-24",
            train_seasons=["2022-23"],
        )
    assert list_registered(store.tracking_uri) == []


def test_register_writes_model_metadata_row(register, game_metrics, app_engine):
    from sqlalchemy import select

    from core.db import ModelMetadata, session_scope

    register(game_metrics(log_loss=0.61), engine=app_engine)

    with session_scope(app_engine) as session:
        rows = session.scalars(select(ModelMetadata)).all()
    assert [(row.model_name, row.version, row.action, row.actor) for row in rows] == [
        ("game-logistic", "1", "register", "training_flow")
    ]
    assert rows[0].metrics["log_loss.2023-24"] == pytest.approx(0.61)
    assert "2023-24" in rows[0].reason


def test_list_registered_summarises_models(store, register, game_metrics):
    from registry import gate_and_promote

    register(game_metrics(log_loss=0.64))
    register(game_metrics(log_loss=0.60))
    gate_and_promote(store.tracking_uri, "game-logistic", "1")
    register(game_metrics(log_loss=0.60), name="game-tree")

    summary = list_registered(store.tracking_uri)

    assert [model["name"] for model in summary] == ["game-logistic", "game-tree"]
    logistic = summary[0]
    assert logistic["champion"] == "1"
    assert logistic["aliases"] == {"champion": "1", "challenger": "1"}
    assert logistic["latest_version"] == "2"
    assert [version["version"] for version in logistic["versions"]] == ["2", "1"]
    newest = logistic["versions"][0]
    assert newest["metrics"]["log_loss"] == pytest.approx(0.60)
    assert "log_loss.2023-24" not in newest["metrics"]
    assert newest["eval_season"] == "2023-24"
    assert newest["trained_at"] is not None
    assert logistic["versions"][1]["gate_decision"] == "promote"
    assert summary[1]["champion"] is None


def test_reading_a_missing_model(store):
    assert get_champion(store.tracking_uri, "no-such-model") is None
    with pytest.raises(RegistryError, match="no registered model"):
        load_model(store.tracking_uri, "no-such-model", "champion")


def test_importing_registry_loads_no_mlflow():
    code = (
        "import sys, registry\n"
        "from registry import GatePolicy, DEFAULT_POLICIES, mlflow_ui_command\n"
        "print(sorted(m for m in ('mlflow', 'sklearn', 'sqlalchemy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
