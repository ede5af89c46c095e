"""The live-state metrics the alert rules watch: readiness, Redis, the database pool, model loads."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.pool import NullPool, QueuePool

from serving.metrics import pool_usage
from tests.serving.conftest import (
    GAME_DAY,
    login,
    redis_server,
    running_service,
    runtime_of,
    wait_until,
)

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def scrape(client, headers) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/api/metrics`` as {(name, sorted labels): value}."""
    response = client.get("/api/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_pool_usage_follows_checkouts_up_to_exhaustion():
    pool = QueuePool(lambda: sqlite3.connect(":memory:"), pool_size=2, max_overflow=1)
    assert pool_usage(pool) == (0, 3.0)
    held = [pool.connect() for _ in range(3)]
    assert pool_usage(pool) == (3, 3.0)  # exhausted: the next checkout would wait
    held.pop().close()
    assert pool_usage(pool) == (2, 3.0)
    for conn in held:
        conn.close()


def test_pool_usage_unbounded_and_unpooled():
    unbounded = QueuePool(lambda: sqlite3.connect(":memory:"), pool_size=1, max_overflow=-1)
    assert pool_usage(unbounded) == (0, float("inf"))
    assert pool_usage(NullPool(lambda: sqlite3.connect(":memory:"))) is None


def test_ready_service_exports_backends_pool_and_model_state(service, user_headers):
    runtime = runtime_of(service)
    before = scrape(service, user_headers)
    assert value(before, "nba_ready") == 1.0
    assert value(before, "nba_backend_up", component="cache", backend="memory") == 1.0
    assert value(before, "nba_backend_up", component="rate_limits", backend="memory") == 1.0
    assert value(before, "nba_database_pool_capacity") == 10.0  # pool_size 5 + max_overflow 5
    for name in runtime.models.status():
        assert value(before, "nba_model_load_failing", model=name) == 0.0
    engine = runtime.engine()
    held = [engine.connect() for _ in range(3)]
    try:
        during = value(scrape(service, user_headers), "nba_database_pool_checked_out")
    finally:
        for conn in held:
            conn.close()
    assert during >= 3.0
    # the record writer may hold a connection for a moment; once it is idle, the 3 are back
    wait_until(
        lambda: value(scrape(service, user_headers), "nba_database_pool_checked_out") <= during - 3
    )


def test_the_last_ingest_time_is_exported_for_the_stale_store_alert(service, user_headers):
    """0 while no successful ingest is recorded (the alert rule then fires), the finish time of
    the newest successful one once the store is polled again."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import delete, insert

    from core.db import IngestRun

    runtime = runtime_of(service)
    name = "nba_store_last_ingest_timestamp_seconds"
    assert value(scrape(service, user_headers), name) == 0.0
    finished = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    run = {"source": "snapshot", "seasons": "m", "season_type": "regular"}
    engine = runtime.engine()
    with engine.begin() as conn:
        conn.execute(insert(IngestRun.__table__).values(**run, status="ok", finished_at=finished))
        later = {**run, "status": "failed", "finished_at": finished + timedelta(days=1)}
        conn.execute(insert(IngestRun.__table__).values(**later))  # a failed run does not count
    try:
        runtime.refresh_data()
        assert value(scrape(service, user_headers), name) == finished.timestamp()
    finally:
        with engine.begin() as conn:
            conn.execute(delete(IngestRun.__table__).where(IngestRun.seasons == "m"))
        runtime.refresh_data()


def test_models_that_do_not_load_show_as_failing_and_not_ready(stack, monkeypatch):
    import registry

    def broken(*_args, **_kwargs):
        raise OSError("model file unreadable")

    monkeypatch.setattr(registry, "load_model", broken)
    with running_service(stack.env()) as client:
        headers = login(client)
        samples = scrape(client, headers)
        health = client.get("/api/health")
    assert health.status_code == 503
    assert value(samples, "nba_ready") == 0.0
    for name in stack.versions:
        assert value(samples, "nba_model_load_failing", model=name) == 1.0
        assert value(samples, "nba_model_load_failures_total", model=name) == 1.0


@pytest.mark.redis
def test_redis_down_shows_as_backend_down_until_it_returns(stack):
    with (
        redis_server() as (url, _port, start, procs),
        running_service(stack.env(NBA_REDIS_URL=url)) as client,
    ):
        runtime = runtime_of(client)
        headers = login(client)

        def redis_up(state: float) -> bool:
            """A prediction (cache and rate limiter call Redis), then both gauges at ``state``."""
            assert client.post("/api/predict/simple", json=MATCHUP, headers=headers).is_success
            samples = scrape(client, headers)
            return all(
                value(samples, "nba_backend_up", component=c, backend="redis") == state
                for c in ("cache", "rate_limits")
            )

        # a slow answer of Redis (0.25 s) counts as down too, so on a busy machine: retry
        wait_until(lambda: redis_up(1.0), timeout=20, interval=0.5)

        procs[-1].terminate()
        procs[-1].wait(10)
        assert client.post("/api/predict/simple", json=MATCHUP, headers=headers).status_code == 200
        down = scrape(client, headers)
        assert value(down, "nba_backend_up", component="cache", backend="redis") == 0.0
        assert value(down, "nba_backend_up", component="rate_limits", backend="redis") == 0.0
        assert value(down, "nba_cache_errors_total") >= 1.0

        start()
        time.sleep(max(runtime.cache.retry_seconds, runtime.limits.retry_seconds) + 0.1)
        wait_until(lambda: redis_up(1.0), timeout=20, interval=0.5)


# As under ``bentoml serve``: prometheus_client in multi-process mode, every warning an error.
SWAP_UNDER_BENTOML = """
from serving.metrics import ServiceMetrics
metrics = ServiceMetrics()
metrics.set_serving({"game-logistic": "1"}, 1)
metrics.set_serving({"game-logistic": "2"}, 1)  # a promotion reached the service
print(metrics.render().decode())
"""


def test_a_model_swap_under_bentoml_serve_logs_no_warning(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", SWAP_UNDER_BENTOML],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    serving = [line for line in done.stdout.splitlines() if line.startswith("nba_model_serving{")]
    assert serving == ['nba_model_serving{model="game-logistic",version="2"} 1.0']
