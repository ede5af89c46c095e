"""A real MLflow store per test (SQLite under tmp_path), small real sklearn models."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# No network here: MLflow telemetry would only fail and delay. Set before mlflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

FEATURES = ["home_margin_avg_10", "away_margin_avg_10", "home_rest_days"]


@pytest.fixture(scope="session")
def features() -> list[str]:
    return list(FEATURES)


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    artifact_location: str
    root: Path


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its schema migrated once (~2.5 s), copied by each test."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, empty_store_file) -> Store:
    path = tmp_path / "mlflow.db"
    shutil.copy(empty_store_file, path)
    return Store(
        tracking_uri=f"sqlite:///{path}",
        artifact_location=(tmp_path / "mlartifacts").as_uri(),
        root=tmp_path,
    )


@pytest.fixture
def app_engine(tmp_path):
    """The application database (model_metadata) on a temp SQLite file."""
    from core.db import Base, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'nba.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def games_frame() -> tuple[pd.DataFrame, pd.Series]:
    """A tiny feature frame whose home win depends on the margin difference."""
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame(
        {
            "home_margin_avg_10": rng.normal(0, 5, n),
            "away_margin_avg_10": rng.normal(0, 5, n),
            "home_rest_days": rng.integers(1, 4, n).astype(float),
        }
    )
    target = (frame["home_margin_avg_10"] - frame["away_margin_avg_10"] > 0).astype(int)
    return frame, target


@pytest.fixture(scope="session")
def logistic(games_frame):
    from sklearn.linear_model import LogisticRegression

    frame, target = games_frame
    return LogisticRegression().fit(frame, target)


@pytest.fixture
def register_with(games_frame, logistic):
    """``register_with(tracking_uri, artifact_location)``: a ``register`` for any store."""
    from registry import log_training_run

    frame, _ = games_frame

    def _bind(tracking_uri: str, artifact_location: str):
        def _register(
            metrics: dict[str, float],
            *,
            name: str = "game-logistic",
            eval_season: str = "2023-24",
            train_seasons: tuple[str, ...] = ("2021-22", "2022-23"),
            model=None,
            engine=None,
            figures=None,
            tags=None,
        ):
            return log_training_run(
                tracking_uri=tracking_uri,
                artifact_location=artifact_location,
                experiment="nba-games",
                model_name=name,
                task="game",
                model=model if model is not None else logistic,
                params={"C": 1.0, "model": {"kind": "logistic", "max_iter": 100}},
                metrics=metrics,
                feature_names=FEATURES,
                lineage={
                    "seasons": [*train_seasons, eval_season],
                    "rows": {"train": 48, "eval": 12},
                    "input_hash": "abc123",
                },
                figures=figures,
                input_example=frame.head(3),
                eval_season=eval_season,
                train_seasons=list(train_seasons),
                tags=tags,
                engine=engine,
            )

        return _register

    return _bind


@pytest.fixture
def register(store, register_with):
    """Log and register a game model with hand-set metrics; returns the RegisteredVersion."""
    return register_with(store.tracking_uri, store.artifact_location)


def make_game_metrics(season: str = "2023-24", **values: float) -> dict[str, float]:
    """Plain metrics plus their ``metric.season`` copies, as training logs them."""
    base = {"log_loss": 0.65, "brier": 0.23, "accuracy": 0.62, "roc_auc": 0.66}
    base.update(values)
    return {**base, **{f"{key}.{season}": value for key, value in base.items()}}


@pytest.fixture
def game_metrics():
    """``game_metrics(season, log_loss=...)``: a version's metrics for one evaluation season."""
    return make_game_metrics
