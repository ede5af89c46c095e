"""Champions picked up without a restart: hot swap, a failing version, the load endpoint.

These tests register new versions, so they work on a copy of the session's MLflow store.
"""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, select

from core.db import AuditLog
from registry import log_training_run, promote
from tests.serving.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    GAME_DAY,
    login,
    running_service,
    runtime_of,
)

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


@pytest.fixture(scope="module")
def registry(stack, tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("registry-copy")
    shutil.copy(stack.root / "mlflow.db", root / "mlflow.db")
    return f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture(scope="module")
def swap_service(stack, registry):
    with running_service(stack.env(NBA_MLFLOW_TRACKING_URI=registry)) as client:
        yield client


def register_version(
    uri: str, stack, trained_model, model=None, features=None, example=None
) -> str:
    version = log_training_run(
        tracking_uri=uri,
        artifact_location=stack.artifact_location,
        experiment="nba-serving-tests",
        model_name=trained_model.name,
        task=trained_model.task,
        model=model if model is not None else trained_model.model,
        params=trained_model.params,
        metrics=trained_model.metrics,
        feature_names=list(features or trained_model.feature_names),
        lineage={"seasons": ["2020-21"]},
        figures=None,
        input_example=example if example is not None else trained_model.input_example,
        eval_season=trained_model.eval_season,
        train_seasons=list(trained_model.train_seasons),
    )
    promote(uri, trained_model.name, version.version, actor="test", reason="new champion")
    return version.version


def by_name(trained, name):
    return next(m for m in trained if m.name == name)


def test_a_new_champion_swaps_in_without_failed_requests_and_misses_the_cache(
    swap_service, stack, registry, trained
):
    runtime = runtime_of(swap_service)
    headers = login(swap_service)
    ask = lambda: swap_service.post("/api/predict/simple", json=MATCHUP, headers=headers)  # noqa: E731
    first, again = ask().json(), ask().json()
    assert first["model"]["version"] == "1" and not first["cached"]
    assert again["cached"] is True

    new = register_version(registry, stack, by_name(trained, "game-logistic"))
    assert new == "2"
    poller = threading.Thread(target=runtime.poll)
    poller.start()
    answers = []
    while poller.is_alive() or len(answers) < 3:
        answers.append(ask())
        if not poller.is_alive():
            answers.append(ask())
    poller.join()
    assert all(a.status_code == 200 for a in answers), [
        a.text for a in answers if a.status_code != 200
    ]
    versions = [a.json()["model"]["version"] for a in answers]
    assert versions[-1] == "2" and set(versions) <= {"1", "2"}
    assert versions == sorted(versions)  # never back to the old one
    after = [a.json() for a in answers if a.json()["model"]["version"] == "2"]
    assert after[0]["cached"] is False  # the new version's answer is computed, never stale
    assert ask().json()["cached"] is True
    runtime.records.flush()
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditLog.details).where(
                AuditLog.action == "promotion", AuditLog.target == "game-logistic:v2"
            )
        ).all()
    engine.dispose()
    assert rows and rows[-1].details == {"model": "game-logistic", "from": "1", "to": "2"}


def test_a_failing_version_keeps_the_old_one_and_health_says_why(
    swap_service, stack, registry, trained
):
    from sklearn.linear_model import LogisticRegression

    runtime = runtime_of(swap_service)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 2)), columns=["mystery_a", "mystery_b"])
    odd = LogisticRegression().fit(frame, (frame["mystery_a"] > 0).astype(int))
    bad = register_version(
        registry,
        stack,
        by_name(trained, "game-tree"),
        model=odd,
        features=["mystery_a", "mystery_b"],
        example=frame.head(3),
    )
    runtime.poll()
    headers = login(swap_service)
    health = swap_service.get("/api/health", headers=headers).json()
    tree = health["checks"]["models"]["game-tree"]
    assert tree["serving"] == "1" and tree["champion"] == bad
    assert f"champion v{bad} failed to load" in tree["error"] and "mystery_a" in tree["error"]
    assert "v1 keeps answering" in tree["error"]
    assert health["status"] == "degraded" and health["ready"] is True
    public = swap_service.get("/api/health").json()  # without a token: no error texts
    assert public["status"] == "degraded" and "error" not in public["checks"]["models"]["game-tree"]
    assert public["checks"]["models"]["game-tree"]["serving"] == "1"
    compare = swap_service.post("/api/predict/compare", json=MATCHUP, headers=headers)
    assert compare.status_code == 200
    assert {p["model"]["name"]: p["model"]["version"] for p in compare.json()["predictions"]}[
        "game-tree"
    ] == "1"
    metrics = runtime.metrics.render().decode()
    assert 'nba_model_load_failures_total{model="game-tree"} 1.0' in metrics
    admin = login(swap_service, ADMIN, ADMIN_PASSWORD)
    refused = swap_service.post(f"/api/models/game-tree/{bad}/load", headers=admin)
    assert refused.status_code == 422 and "mystery_a" in refused.json()["error"]

    # A good champion after the failing one: health is clean from the swap on.
    good = register_version(registry, stack, by_name(trained, "game-tree"))
    runtime.poll()
    tree = swap_service.get("/api/health", headers=headers).json()["checks"]["models"]["game-tree"]
    assert tree["serving"] == good and tree["champion"] == good
    assert "error" not in tree, tree
    assert (
        runtime.metrics.render().decode().count('nba_model_load_failing{model="game-tree"} 0') == 1
    )


def test_the_load_endpoint_serves_a_new_champion_at_once(swap_service, stack, registry, trained):
    runtime = runtime_of(swap_service)
    new = register_version(registry, stack, by_name(trained, "game-forest"))
    assert runtime.models.get("game-forest").version == "1"  # no poll yet
    admin = login(swap_service, ADMIN, ADMIN_PASSWORD)
    loaded = swap_service.post(f"/api/models/game-forest/{new}/load", headers=admin)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["serving"] is True and loaded.json()["loaded_versions"] == ["1", new]
    headers = login(swap_service)
    answer = swap_service.post(
        "/api/predict/simple", json={**MATCHUP, "model": "game-forest"}, headers=headers
    ).json()
    assert answer["model"] == {"name": "game-forest", "version": new}
    pinned = swap_service.post(
        "/api/predict/simple",
        json={**MATCHUP, "model": "game-forest", "model_version": "1"},
        headers=headers,
    ).json()
    assert pinned["model"] == {"name": "game-forest", "version": "1"}
    unloaded = swap_service.delete("/api/models/game-forest/1/unload", headers=admin)
    assert unloaded.status_code == 200
    gone = swap_service.post(
        "/api/predict/simple",
        json={**MATCHUP, "model": "game-forest", "model_version": "1"},
        headers=headers,
    )
    assert gone.status_code == 400, gone.text
    # a registered version: the answer says how to load it
    assert "game-forest v1 is not loaded (POST /api/models/game-forest/1/load)" in gone.text
    assert runtime.metrics.render().decode().count('nba_model_serving{model="game-forest"') == 1
