"""A real store, real models and the real service for the serving tests.

Session-wide (built once, ~20 s): synthetic game logs of three seasons (``tests.builders``),
normalized and written to a fresh PostgreSQL database; features built with ``features/``; four
models trained with the real training code and registered in a temporary MLflow store, each the
champion of its name; two users (bcrypt cost 12). Each test module starts the service
in-process (``PredictionService.to_asgi()`` + Starlette's TestClient) with its own settings.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.builders import TEAMS, player_game_log, team_game_log
from tests.conftest import BCRYPT_TEST_COST, PG_ADMIN_URL
from tests.servers import free_port

SEASONS = ("2020-21", "2021-22", "2022-23")
EVAL_SEASON = "2022-23"
GAME_MODELS = ("game-logistic", "game-tree", "game-forest")
POINTS_MODEL = "player-ridge"
USER, USER_PASSWORD = "alice", "alice-password-1"
ADMIN, ADMIN_PASSWORD = "root-admin", "admin-password-1"
JWT_SECRET = "test-secret-" + "x" * 40
# A date inside the last stored season, after most of its games.
GAME_DAY = "2022-12-01"


def user_claims(**overrides) -> dict:
    """The claims of a valid 5-minute token of ``USER``, with ``overrides`` applied."""
    now = datetime.now(UTC)
    return {"sub": USER, "role": "user", "iat": now, "exp": now + timedelta(minutes=5)} | overrides


@dataclass(frozen=True)
class Frames:
    games: pd.DataFrame
    team_games: pd.DataFrame
    player_games: pd.DataFrame


@dataclass(frozen=True)
class Stack:
    """Where the session's store, registry and users live."""

    database_url: str
    tracking_uri: str
    artifact_location: str
    root: Path
    frames: Frames
    versions: dict[str, str]

    def env(self, **overrides: str) -> dict[str, str]:
        base = {
            "NBA_STATE_DIR": str(self.root / f"state-{uuid.uuid4().hex[:6]}"),
            "NBA_DATABASE_URL": self.database_url,
            "NBA_MLFLOW_TRACKING_URI": self.tracking_uri,
            "NBA_JWT_SECRET": JWT_SECRET,
            "NBA_RATE_LIMIT": "100000/minute",
            "NBA_LOGIN_RATE_LIMIT": "1000/minute",
            "NBA_CHAMPION_POLL_SECONDS": "3600",
            "NBA_LOG_LEVEL": "WARNING",
        }
        base.update(overrides)
        return base


def synthetic_frames() -> Frames:
    from ingest.normalize import (
        games_from_team_games,
        normalize_player_games,
        normalize_team_games,
    )

    team_rows, player_rows = [], []
    for i, season in enumerate(SEASONS):
        raw = team_game_log(season, n_days=30, seed=i)
        team_rows.append(normalize_team_games(raw, season, "regular"))
        player_rows.append(normalize_player_games(player_game_log(raw), season, "regular"))
    team_games = pd.concat(team_rows, ignore_index=True)
    return Frames(
        games_from_team_games(team_games),
        team_games,
        pd.concat(player_rows, ignore_index=True),
    )


@pytest.fixture(scope="session")
def frames() -> Frames:
    return synthetic_frames()


def season_batch(frames: Frames, season: str):
    """One regular season of ``frames`` as an ingest batch."""
    from ingest.storage import Batch

    return Batch(
        season=season,
        season_type="regular",
        team_games=frames.team_games.loc[frames.team_games["season"] == season],
        games=frames.games.loc[frames.games["season"] == season],
        player_games=frames.player_games.loc[frames.player_games["season"] == season],
    )


def write_store(url: str, frames: Frames) -> None:
    """Migrate ``url`` and write the frames, the teams and the players (as ingestion does)."""
    from core.db import make_engine
    from core.migrate import upgrade
    from ingest.storage import write_batches, write_reference

    engine = make_engine(url)
    upgrade(engine)
    write_batches(engine, [season_batch(frames, season) for season in SEASONS])
    teams = pd.DataFrame(
        {
            "team_id": [t[0] for t in TEAMS],
            "abbreviation": [t[1] for t in TEAMS],
            "full_name": [t[2] for t in TEAMS],
            "city": [t[2].rsplit(" ", 1)[0] for t in TEAMS],
            "nickname": [t[2].rsplit(" ", 1)[1] for t in TEAMS],
        }
    )
    players = (
        frames.player_games[["player_id", "player_name"]]
        .drop_duplicates("player_id")
        .rename(columns={"player_name": "full_name"})
        .assign(is_active=True)
    )
    write_reference(engine, teams, players)
    engine.dispose()


def add_users(url: str) -> None:
    from core.db import make_engine
    from serving.auth import add_user

    engine = make_engine(url)
    add_user(engine, USER, USER_PASSWORD, "user", cost=BCRYPT_TEST_COST)
    add_user(engine, ADMIN, ADMIN_PASSWORD, "admin", cost=BCRYPT_TEST_COST)
    engine.dispose()


@contextmanager
def pg_database(prefix: str = "nba_serving") -> Iterator[str]:
    """A fresh database on the shared PostgreSQL server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fast_params():
    from training.params import DEFAULT_PARAMS, GameForestParams, GameTreeParams

    return {
        **DEFAULT_PARAMS,
        "game-tree": GameTreeParams(max_depth=3, min_samples_leaf=10, calibration_folds=3),
        "game-forest": GameForestParams(
            n_estimators=20, max_depth=4, min_samples_leaf=5, n_jobs=2, calibration_folds=3
        ),
    }


@pytest.fixture(scope="session")
def trained(frames):
    """The four models, trained with the real training code on the synthetic store."""
    from features import build_game_features, build_player_features
    from training.train import train_final

    game_frame = build_game_features(frames.games, frames.team_games)
    player_frame = build_player_features(frames.player_games, frames.team_games, frames.games)
    return train_final(
        game_frame,
        player_frame,
        eval_season=EVAL_SEASON,
        params=fast_params(),
        models=[*GAME_MODELS, POINTS_MODEL],
        make_figures=False,
    )


def register(stack_uri: str, artifacts: str, trained_model) -> str:
    """Log and register one trained model; make it champion through the gate."""
    from registry import gate_and_promote, log_training_run
    from registry.versions import POINTS_INTERVAL_TAG

    interval = trained_model.interval
    version = log_training_run(
        tracking_uri=stack_uri,
        artifact_location=artifacts,
        experiment="nba-serving-tests",
        model_name=trained_model.name,
        task=trained_model.task,
        model=trained_model.model,
        params=trained_model.params,
        metrics=trained_model.metrics,
        feature_names=list(trained_model.feature_names),
        lineage={"seasons": list(SEASONS)},
        figures=None,
        input_example=trained_model.input_example,
        eval_season=trained_model.eval_season,
        train_seasons=list(trained_model.train_seasons),
        tags={POINTS_INTERVAL_TAG: interval.to_json()} if interval is not None else None,
    )
    gate_and_promote(stack_uri, trained_model.name, version.version)
    return version.version


@pytest.fixture(scope="session")
def stack(tmp_path_factory, frames, trained) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("serving")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = (root / "mlartifacts").as_uri()
    versions = {m.name: register(tracking_uri, artifacts, m) for m in trained}
    with pg_database() as url:
        write_store(url, frames)
        add_users(url)
        yield Stack(url, tracking_uri, artifacts, root, frames, versions)


@contextmanager
def running_service(env: dict[str, str]) -> Iterator:
    """The service in-process over HTTP (to_asgi + TestClient) with ``env`` as its settings."""
    from starlette.testclient import TestClient

    from serving.service import PredictionService

    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("NBA_") and k != "NBA_DATA_DIR"]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        with TestClient(PredictionService.to_asgi(), raise_server_exceptions=False) as client:
            yield client


def runtime_of(client):
    import bentoml

    return bentoml.get_current_service().runtime


def login(client, username: str = USER, password: str = USER_PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def service(stack) -> Iterator:
    """The service with the default test settings (memory cache, a generous rate limit)."""
    with running_service(stack.env()) as client:
        yield client


@pytest.fixture(scope="module")
def user_headers(service) -> dict[str, str]:
    return login(service)


@pytest.fixture(scope="module")
def admin_headers(service) -> dict[str, str]:
    return login(service, ADMIN, ADMIN_PASSWORD)


def start_of_a_limit_window(needed: float, period: float = 60.0) -> None:
    """Sleep, if need be, until the current rate-limit window has ``needed`` seconds left.

    The limits library's sliding-window counters use windows aligned to multiples of the period
    since the epoch and weigh the previous window's count by the share of it still inside the
    sliding window: hits just before a boundary count a little less just after it. A test that
    counts hits up to a limit runs within one window, so its counts are exact."""
    left = period - time.time() % period
    if left < needed:
        time.sleep(left + 0.05)


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@contextmanager
def redis_server() -> Iterator[tuple[str, int, callable]]:
    """An own redis-server on a free port (never the shared one): (url, port, restart)."""
    port = free_port()
    args = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    procs = []

    def start():
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        wait_until(lambda: _port_open(port), timeout=10)
        return proc

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", port, start, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


REPORT_ROW = {
    "created_at": datetime(2020, 1, 1, tzinfo=UTC),
    "kind": "ui-test",
    "model_name": "game-logistic",
    "model_version": "1",
    "reference_window": "2021-22",
    "current_window": "2022-10-01..2022-12-01",
    "share_drifted": 0.25,
    "drift_detected": False,
    "failed_tests": 0,
    "html_path": None,
    "json_path": None,
    "summary": {},
}


@contextmanager
def drift_reports(database_url: str, *rows: dict) -> Iterator[list[int]]:
    """``drift_reports`` rows (``REPORT_ROW`` with ``rows``' values), deleted afterwards: other
    modules count the table's rows."""
    from sqlalchemy import create_engine, delete

    from core.db import DriftReport

    engine = create_engine(database_url)
    table = DriftReport.__table__
    with engine.begin() as conn:
        ids = [
            conn.execute(
                table.insert().values(**{**REPORT_ROW, **row}).returning(table.c.id)
            ).scalar_one()
            for row in rows
        ]
    try:
        yield ids
    finally:
        with engine.begin() as conn:
            conn.execute(delete(DriftReport).where(DriftReport.id.in_(ids)))
        engine.dispose()
