"""The demo's serving step: a real server, a demo user, every kind of prediction, then stop."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import create_engine

from core.settings import Settings
from flows.demo import pick_examples, run_demo
from flows.serving_cli import settings_env


def test_examples_come_from_the_store(stack):
    engine = create_engine(stack.database_url)
    examples = pick_examples(engine)
    engine.dispose()
    last = stack.frames.games["game_date"].max().date().isoformat()
    assert examples.day == last
    assert examples.games and all(g["game_date"] == last for g in examples.games)
    assert {g["actual"] for g in examples.games} <= {"BOS", "LAL", "GSW", "NYK"}
    assert examples.player is not None and examples.player["actual"] >= 0


def test_settings_reach_the_server_process_unchanged(tmp_path):
    settings = Settings(
        state_dir=tmp_path, cors_origins=["https://a.example"], rate_limit="7/minute"
    )
    env = settings_env(settings)
    assert env["NBA_CORS_ORIGINS"] == '["https://a.example"]'
    assert env["NBA_RATE_LIMIT"] == "7/minute"
    assert env["NBA_STATE_DIR"] == str(tmp_path)
    assert "NBA_REDIS_URL" not in env


@pytest.mark.slow
def test_run_demo_predicts_each_kind_and_stops(stack, capsys, monkeypatch):
    monkeypatch.delenv("NBA_JWT_SECRET", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps long lines at the terminal width
    env = stack.env()
    settings = Settings(
        state_dir=env["NBA_STATE_DIR"],
        database_url=stack.database_url,
        mlflow_tracking_uri=stack.tracking_uri,
        log_level="WARNING",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_demo(settings, keep_running=False, port=port)
    out = capsys.readouterr().out
    assert "games of 2022-12-17" in out
    assert "every game model" in out and "game-forest v1" in out
    assert "batch:" in out and "explicit feature vector" in out
    # today is years after the synthetic league's last game, and the answer says so
    assert "warning: the stored games stop " in out and " days before " in out
    assert "points (80.0% interval" in out and "he scored" in out
    with socket.socket() as s:  # stopped: the port is free again
        s.bind(("127.0.0.1", port))
