"""Prediction rows survive a PostgreSQL outage: buffered, then all written when it returns.

The outage is real: the test runs its own PostgreSQL 15 server (initdb / pg_ctl as the
``postgres`` user, on a free port) and stops it mid-test; the shared server is never touched.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select, text

from core.db import AuditLog, Prediction
from serving.records import RecordWriter
from tests.servers import own_postgres
from tests.serving.conftest import (
    GAME_DAY,
    add_users,
    login,
    running_service,
    runtime_of,
    wait_until,
    write_store,
)

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def count_rows(url: str, request_ids: list[str]) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Prediction.request_id, func.count())
                .where(Prediction.request_id.in_(request_ids))
                .group_by(Prediction.request_id)
            ).all()
    finally:
        engine.dispose()
    return dict(rows)


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_down_then_back_loses_no_prediction_row(stack):
    with own_postgres() as pg:
        admin = create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "nba"'))
        admin.dispose()
        url = pg.admin_url.rsplit("/", 1)[0] + "/nba"
        write_store(url, stack.frames)
        add_users(url)
        with running_service(stack.env(NBA_DATABASE_URL=url)) as client:
            runtime = runtime_of(client)
            headers = login(client)
            ids = [f"outage-{i:03d}" for i in range(30)]

            def ask(request_id: str):
                response = client.post(
                    "/api/predict/simple",
                    json=MATCHUP,
                    headers={**headers, "X-Request-ID": request_id},
                )
                assert response.status_code == 200, response.text
                return response

            for request_id in ids[:5]:
                ask(request_id)
            assert runtime.records.flush()
            assert count_rows(url, ids) == dict.fromkeys(ids[:5], 1)

            pg.stop()
            started = time.perf_counter()
            for request_id in ids[5:]:
                ask(request_id)  # answered while the database is down
            per_request = (time.perf_counter() - started) / 25
            assert not runtime.records.flush()
            health = client.get("/api/health", headers=headers).json()
            assert health["status"] == "degraded" and health["ready"] is True
            assert health["checks"]["database"]["ok"] is False
            assert "error" in health["checks"]["database"]
            assert health["checks"]["database"]["pending_rows"] >= 25
            assert per_request < 0.5  # no request waits for the database
            refused = client.post("/api/auth/login", json={"username": "x", "password": "y"})
            assert refused.status_code == 503  # users cannot be checked: unavailable, not a 500

            pg.start()
            wait_until(lambda: runtime.records.flush(), timeout=30)
            assert count_rows(url, ids) == dict.fromkeys(ids, 1)  # every row, once
            assert client.get("/api/health").json()["checks"]["database"]["ok"] is True
            engine = create_engine(url)
            with engine.connect() as conn:
                logins = conn.execute(
                    select(func.count()).select_from(AuditLog).where(AuditLog.action == "login")
                ).scalar()
            engine.dispose()
            assert logins == 1


def test_rows_are_spooled_at_shutdown_and_written_back(tmp_path):
    """A database still down at shutdown: the rows go to disk, and in on the next start."""
    from core.db import make_engine
    from core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'records.db'}"
    broken = RecordWriter(
        lambda: make_engine(
            "postgresql+psycopg2://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
        ),
        tmp_path / "spool",
        flush_seconds=60,
    )
    broken.add(
        "predictions",
        {"request_id": "spooled-1", "endpoint": "simple", "model_name": "m", "model_version": "1"},
    )
    broken.add("audit_logs", {"request_id": "spooled-2", "action": "login"})
    broken.stop(timeout=2)
    assert broken.spooled_rows() == 2
    healthy = RecordWriter(lambda: make_engine(url), tmp_path / "spool", prepare=upgrade)
    assert healthy.pending == 2
    assert healthy.flush()
    assert healthy.pending == 0
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(Prediction.request_id)).scalars().all() == ["spooled-1"]
        assert conn.execute(select(AuditLog.action)).scalars().all() == ["login"]
    engine.dispose()
