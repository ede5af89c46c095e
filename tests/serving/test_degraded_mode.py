"""The service with the MLflow store down, and champions it cannot serve.

The outages are real: a ``mlflow server`` subprocess (one per module) stopped and started again,
and a tracking URI of a port nothing listens on. The service keeps a local copy of every version
it loads (``<state_dir>/served-models``): restarted while MLflow is down, it serves those and says
so in ``/api/health``; MLflow back, it follows the champion aliases again. A champion whose files
are gone or do not load, an alias on a missing version, a deleted champion: the old version keeps
answering and health says why. (The registry-side faults are in tests/faults/test_mlflow_faults.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from registry import load_model
from tests.servers import free_port, stop_process_group
from tests.serving.conftest import (
    GAME_DAY,
    GAME_MODELS,
    POINTS_MODEL,
    login,
    running_service,
    runtime_of,
    wait_until,
)
from tests.serving.test_model_swap import register_version

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}
PLAYER = {"player": 127380, "opponent": "LAL", "home": True, "game_date": GAME_DAY}
ALL_MODELS = sorted([*GAME_MODELS, POINTS_MODEL])


class MlflowServer:
    """``mlflow server`` on a SQLite store, on a fixed free port, stopped and started at will."""

    def __init__(self, root: Path, db: Path) -> None:
        self.root, self.db, self.port = root, db, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.uri}/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start(self, timeout: float = 180) -> None:
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with (self.root / "mlflow-server.log").open("a") as log:
            self.proc = subprocess.Popen(
                [
                    str(mlflow_bin),
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{self.db}",
                    "--default-artifact-root",
                    (self.root / "server-artifacts").as_uri(),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: self.proc.poll() is not None or self.healthy(), timeout=timeout)
        assert self.proc.poll() is None, (self.root / "mlflow-server.log").read_text()[-2000:]

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
        assert not self.healthy()


@pytest.fixture(scope="module")
def mlflow_server(stack, tmp_path_factory):
    """A server (not started yet) over a copy of the session's registry: four champions v1."""
    root = tmp_path_factory.mktemp("mlflow-server")
    shutil.copy(stack.root / "mlflow.db", root / "mlflow.db")
    server = MlflowServer(root, root / "mlflow.db")
    yield server
    if server.proc is not None:
        stop_process_group(server.proc)


def copy_version(uri: str, name: str, version: str, source: str | None = None) -> str:
    """A new version of ``name`` with the files (or ``source``) and tags of ``version``."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    old = client.get_model_version(name, version)
    files = source or client.get_model_version_download_uri(name, version)
    new = client.create_model_version(name, files, run_id=old.run_id, tags=dict(old.tags))
    return str(new.version)


def set_champion(uri: str, name: str, version: str) -> None:
    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(
        name, "champion", version
    )


def detailed_health(client) -> dict:
    return client.get("/api/health", headers=login(client)).json()


# The service and an MLflow that is down ---------------------------------------------------------
@pytest.mark.slow
def test_mlflow_down_at_start_then_back_then_down_at_restart(
    mlflow_server, stack, trained, tmp_path
):
    state = tmp_path / "state"
    copies = state / "served-models"
    env = stack.env(NBA_MLFLOW_TRACKING_URI=mlflow_server.uri, NBA_STATE_DIR=str(state))

    # 1. The first start ever, MLflow not running, nothing kept: up, not ready, 503s that say why.
    started = time.perf_counter()
    with running_service(env) as client:
        start_seconds = time.perf_counter() - started
        runtime = runtime_of(client)
        headers = login(client)
        health = client.get("/api/health", headers=headers)
        assert health.status_code == 503
        doc = health.json()
        assert doc["status"] == "unavailable" and doc["ready"] is False
        assert doc["checks"]["models"] == {}
        assert doc["checks"]["registry"]["ok"] is False
        assert "unreachable" in doc["checks"]["registry"]["error"]
        assert any("no local copy" in r for r in doc["reasons"])
        assert "no game model is answering" in doc["reasons"]
        for path, body in [
            ("/api/predict/simple", MATCHUP),
            ("/api/predict/player", PLAYER),
            ("/api/predict/batch", {"games": [MATCHUP]}),
            ("/api/predict/compare", MATCHUP),
        ]:
            answer = client.post(path, json=body, headers=headers)
            assert answer.status_code == 503, (path, answer.text)
            assert (
                "not available" in answer.json()["error"]
                or "no game model" in (answer.json()["error"])
            )
        registry_call = client.get("/api/models", headers=headers)
        assert registry_call.status_code == 503
        assert "registry unavailable" in registry_call.json()["error"]

        # 2. MLflow comes up: the next poll loads every champion and keeps a copy of each.
        mlflow_server.start()
        runtime.poll()
        doc = detailed_health(client)
        assert doc["status"] == "ok", doc["reasons"]
        assert {n: m["serving"] for n, m in doc["checks"]["models"].items()} == dict.fromkeys(
            ALL_MODELS, "1"
        )
        assert {m["source"] for m in doc["checks"]["models"].values()} == {"registry"}
        online = client.post("/api/predict/simple", json=MATCHUP, headers=headers).json()
        assert online["model"] == {"name": "game-logistic", "version": "1"}
    assert start_seconds < 60  # no minutes of MLflow client retries against a dead server

    run_ids = {
        name: MlflowClient(mlflow_server.uri, registry_uri=mlflow_server.uri)
        .get_model_version(name, "1")
        .run_id
        for name in ALL_MODELS
    }
    for name in ALL_MODELS:
        meta = json.loads((copies / name / "1" / "version.json").read_text())
        assert (meta["name"], meta["version"], meta["run_id"]) == (name, "1", run_ids[name])
        assert meta["metrics"] and meta["features"] and meta["task"] in ("game", "points")
        assert json.loads((copies / name / "serving.json").read_text())["version"] == "1"
        assert not list((copies / name).glob(".incoming-*"))

    # 3. Restart with MLflow down: the same versions answer, from the local copies; degraded.
    mlflow_server.stop()
    with running_service(env) as client:
        runtime = runtime_of(client)
        headers = login(client)
        health = client.get("/api/health", headers=headers)
        assert health.status_code == 200
        doc = health.json()
        assert doc["status"] == "degraded" and doc["ready"] is True
        assert doc["checks"]["registry"]["ok"] is False
        assert doc["checks"]["registry"]["local_copies"] == ALL_MODELS
        assert {m["source"] for m in doc["checks"]["models"].values()} == {"local copy"}
        assert any(
            "model registry unreachable" in r and "local copies" in r for r in doc["reasons"]
        )
        public = client.get("/api/health").json()
        assert public["status"] == "degraded" and "reasons" not in public
        assert "error" not in public["checks"]["registry"]
        offline = client.post("/api/predict/simple", json=MATCHUP, headers=headers)
        assert offline.status_code == 200, offline.text
        assert offline.json()["model"] == {"name": "game-logistic", "version": "1"}
        assert offline.json()["home_win_probability"] == pytest.approx(
            online["home_win_probability"], abs=1e-12
        )
        player = client.post("/api/predict/player", json=PLAYER, headers=headers)
        assert player.status_code == 200, player.text
        # the local copy keeps the version's interval by predicted points
        season = stack.frames.games["season"].max()
        assert (
            f"residuals of predictions this size on {season} ("
            in player.json()["interval"]["basis"]
        )
        compare = client.post("/api/predict/compare", json=MATCHUP, headers=headers).json()
        assert sorted(p["model"]["name"] for p in compare["predictions"]) == sorted(GAME_MODELS)

        # 4. MLflow back and a new champion: the poller follows the alias again.
        mlflow_server.start()
        logistic_model = next(m for m in trained if m.name == "game-logistic")
        new = register_version(mlflow_server.uri, stack, logistic_model)  # made champion
        runtime.poll()
        doc = detailed_health(client)
        assert doc["status"] == "ok", doc["reasons"]
        logistic = doc["checks"]["models"]["game-logistic"]
        assert (logistic["serving"], logistic["source"]) == (new, "registry")
        assert doc["checks"]["registry"]["local_copies"] == sorted(
            n for n in ALL_MODELS if n != "game-logistic"
        )
        answer = client.post("/api/predict/simple", json=MATCHUP, headers=headers).json()
        assert answer["model"] == {"name": "game-logistic", "version": new}
    assert json.loads((copies / "game-logistic" / "serving.json").read_text())["version"] == new
    assert sorted(p.name for p in (copies / "game-logistic").iterdir() if p.is_dir()) == [
        "1",
        new,
    ]


def test_a_broken_local_copy_is_reported_not_served(stack, tmp_path):
    """A copy whose files were damaged: health names it, prediction routes answer 503."""
    state = tmp_path / "state"
    with running_service(stack.env(NBA_STATE_DIR=str(state))):
        pass  # a normal start keeps the copies
    folder = state / "served-models" / "game-logistic" / "1"
    pickles = [p for p in folder.rglob("*.pkl")]
    assert pickles
    for pickle in pickles:
        pickle.write_bytes(b"not a pickle")
    dead = f"http://127.0.0.1:{free_port()}"
    with running_service(stack.env(NBA_STATE_DIR=str(state), NBA_MLFLOW_TRACKING_URI=dead)) as c:
        doc = detailed_health(c)
        logistic = doc["checks"]["models"]["game-logistic"]
        assert logistic["serving"] is None
        assert "the local copy of v1 failed to load" in logistic["error"]
        assert doc["checks"]["models"]["game-tree"]["source"] == "local copy"
        answer = c.post("/api/predict/simple", json=MATCHUP, headers=login(c))
        assert answer.status_code == 503 and "local copy" in answer.json()["error"]
        tree = c.post(
            "/api/predict/simple", json={**MATCHUP, "model": "game-tree"}, headers=login(c)
        )
        assert tree.status_code == 200 and tree.json()["model"]["version"] == "1"


# Champions that cannot be served ----------------------------------------------------------------
@pytest.fixture
def registry_copy(stack, tmp_path) -> str:
    shutil.copy(stack.root / "mlflow.db", tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_unservable_champions_keep_the_old_version_and_health_says_why(
    stack, registry_copy, tmp_path
):
    state = tmp_path / "state"
    with running_service(
        stack.env(NBA_MLFLOW_TRACKING_URI=registry_copy, NBA_STATE_DIR=str(state))
    ) as client:
        runtime = runtime_of(client)
        headers = login(client)

        def status(name: str) -> dict:
            return detailed_health(client)["checks"]["models"][name]

        def served(name: str) -> str:
            body = client.post(
                "/api/predict/simple", json={**MATCHUP, "model": name}, headers=headers
            )
            assert body.status_code == 200, body.text
            return body.json()["model"]["version"]

        # A champion whose artifacts are gone.
        gone = copy_version(registry_copy, "game-tree", "1", source=(tmp_path / "gone").as_uri())
        set_champion(registry_copy, "game-tree", gone)
        runtime.poll()
        tree = status("game-tree")
        assert (tree["serving"], tree["champion"]) == ("1", gone)
        assert f"champion v{gone} failed to load" in tree["error"]
        assert "v1 keeps answering" in tree["error"]
        assert served("game-tree") == "1"

        # A champion whose model file does not load.
        broken_dir = tmp_path / "broken"
        broken_dir.mkdir()
        load_model(registry_copy, "game-forest", "1", dst_path=broken_dir)  # its files
        for pickle in broken_dir.rglob("*.pkl"):
            pickle.write_bytes(b"\x80\x05 truncated")
        broken = copy_version(registry_copy, "game-forest", "1", source=broken_dir.as_uri())
        set_champion(registry_copy, "game-forest", broken)
        runtime.poll()
        forest = status("game-forest")
        assert forest["serving"] == "1" and f"champion v{broken} failed to load" in forest["error"]
        assert served("game-forest") == "1"
        assert not list((state / "served-models" / "game-forest").glob(".incoming-*"))
        assert not (state / "served-models" / "game-forest" / broken).exists()

        # The champion alias pointing at a version that does not exist.
        db = sqlite3.connect(registry_copy.removeprefix("sqlite:///"))
        with db:
            db.execute(
                "UPDATE registered_model_aliases SET version = 99 "
                "WHERE name = 'game-logistic' AND alias = 'champion'"
            )
        db.close()
        runtime.poll()
        logistic = status("game-logistic")
        assert (logistic["serving"], logistic["champion"]) == ("1", "99")
        assert "champion v99 failed to load" in logistic["error"]
        assert "no version 99" in logistic["error"]
        assert served("game-logistic") == "1"

        # The champion version deleted: no alias left; the version in memory keeps answering.
        client_ = MlflowClient(tracking_uri=registry_copy, registry_uri=registry_copy)
        extra = copy_version(registry_copy, "player-ridge", "1")
        set_champion(registry_copy, "player-ridge", extra)
        runtime.poll()
        assert status("player-ridge")["serving"] == extra
        client_.delete_model_version("player-ridge", extra)
        runtime.poll()
        ridge = status("player-ridge")
        assert ridge["serving"] == extra and ridge["champion"] is None
        assert ridge["error"] == f"no champion alias; v{extra} keeps answering"
        player = client.post("/api/predict/player", json=PLAYER, headers=headers)
        assert player.status_code == 200 and player.json()["model"]["version"] == extra

        doc = detailed_health(client)
        assert doc["status"] == "degraded" and doc["ready"] is True
        assert len([r for r in doc["reasons"] if r.startswith(("game-", "player-"))]) == 4
        metrics = runtime.metrics.render().decode()
        assert 'nba_model_load_failures_total{model="game-tree"} 1.0' in metrics
        assert 'nba_model_load_failures_total{model="game-forest"} 1.0' in metrics

        # Fixed: the alias moved back to a good version clears the reason.
        set_champion(registry_copy, "game-tree", "1")
        runtime.poll()
        assert "error" not in status("game-tree")


# The local copies on their own ------------------------------------------------------------------
def _kept(copies, name: str, version: str):
    staging = copies.staging(name)
    (staging / "model" / "MLmodel").write_text("flavors: {}\n")
    return copies.keep(staging, {"name": name, "version": version})


def test_local_copies_are_complete_or_absent_and_pruned(tmp_path):
    import os

    from serving.models import STALE_SECONDS, LocalCopies

    copies = LocalCopies(tmp_path / "served-models")
    assert copies.serving() == {}
    with pytest.raises(ValueError, match="folder name"):
        copies.staging("../escape")
    first = _kept(copies, "game-tree", "1")
    assert (first / "version.json").exists()
    again = _kept(copies, "game-tree", "1")  # a version never changes: the first copy stays
    assert again == first and len(list((tmp_path / "served-models" / "game-tree").iterdir())) == 1
    copies.mark_serving("game-tree", "1")
    _kept(copies, "game-tree", "2")
    (tmp_path / "served-models" / "game-tree" / "3").mkdir()  # no version.json: incomplete
    assert copies.serving() == {"game-tree": "1"}
    copies.mark_serving("game-tree", "3")
    assert copies.serving() == {}  # the answering version has no complete copy
    (tmp_path / "served-models" / "broken").mkdir()
    (tmp_path / "served-models" / "broken" / "serving.json").write_text("{not json")
    assert copies.serving() == {}
    meta, folder = copies.read("game-tree", "2")
    assert meta == {"name": "game-tree", "version": "2"} and (folder / "MLmodel").exists()

    leftover = copies.staging("game-tree")
    fresh = copies.staging("game-tree")
    old = time.time() - STALE_SECONDS - 10
    os.utime(leftover, (old, old))
    copies.prune("game-tree", {"2"})
    names = sorted(p.name for p in (tmp_path / "served-models" / "game-tree").iterdir())
    assert names == sorted(["2", fresh.name, "serving.json"])
    copies.prune("never-loaded", set())  # nothing there: nothing to do


def test_health_reasons_name_each_problem():
    from serving.runtime import health_reasons

    ok = {"ok": True}
    checks = {
        "registry": {"ok": False, "error": "RegistryUnavailable: down", "local_copies": ["a"]},
        "models": {
            "a": {"serving": "1", "task": "game", "source": "local copy"},
            "b": {"serving": None, "task": None, "error": "champion v2 failed to load (x)"},
        },
        "data": ok,
        "database": {"ok": False, "error": "OperationalError: gone"},
        "cache": ok,
    }
    assert health_reasons(checks, ready=True) == [
        "model registry unreachable (RegistryUnavailable: down); serving the local copies of a",
        "b: champion v2 failed to load (x)",
        "database: OperationalError: gone",
    ]
    checks["models"] = {}
    checks["registry"]["local_copies"] = []
    assert health_reasons(checks, ready=False)[::2] == [
        "model registry unreachable (RegistryUnavailable: down); no local copy of a model to serve",
        "database: OperationalError: gone",
    ]
    assert "no game model is answering" in health_reasons(checks, ready=False)
