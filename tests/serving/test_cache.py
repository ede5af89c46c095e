"""The prediction cache: hits and misses, Redis stopped mid-test and back."""

from __future__ import annotations

import json
import time

import pytest

from serving.cache import MemoryCache, cache_key
from tests.serving.conftest import GAME_DAY, login, redis_server, running_service, runtime_of

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def _cache_warnings(runtime) -> list[dict]:
    path = runtime.settings.state_dir / "logs" / "serving.log"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["logger"] == "serving.cache"]


def test_memory_cache_hit_and_miss(service, user_headers):
    first = service.post(
        "/api/predict/simple", json={**MATCHUP, "game_date": "2022-11-30"}, headers=user_headers
    )
    time.sleep(0.01)  # timestamps have milliseconds
    second = service.post(
        "/api/predict/simple", json={**MATCHUP, "game_date": "2022-11-30"}, headers=user_headers
    )
    assert first.json()["cached"] is False
    assert second.json()["cached"] is True
    assert second.json()["home_win_probability"] == first.json()["home_win_probability"]
    assert second.json()["timestamp"] > first.json()["timestamp"]  # when it was answered
    assert (
        second.json()["request_id"] == second.headers["x-request-id"] != first.json()["request_id"]
    )
    # the same game written differently is the same request
    third = service.post(
        "/api/predict/simple",
        json={
            "home_team": "bos",
            "away_team": "lal",
            "game_date": "2022-11-30",
            "neutral_site": False,
        },
        headers=user_headers,
    )
    assert third.json()["cached"] is True


@pytest.mark.parametrize("endpoint", ["batch", "compare"])
def test_a_cached_answer_and_its_predictions_are_this_requests(service, user_headers, endpoint):
    body = {"games": [MATCHUP]} if endpoint == "batch" else MATCHUP
    first = service.post(f"/api/predict/{endpoint}", json=body, headers=user_headers).json()
    time.sleep(0.01)
    response = service.post(f"/api/predict/{endpoint}", json=body, headers=user_headers)
    second = response.json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["request_id"] == response.headers["x-request-id"]
    for was, now in zip(first["predictions"], second["predictions"], strict=True):
        assert now["cached"] is True
        assert now["request_id"] == second["request_id"]
        assert now["timestamp"] > was["timestamp"]
        assert now["home_win_probability"] == was["home_win_probability"]


def test_keys_cover_endpoint_request_model_version_and_data():
    base = cache_key("simple", {"home": "BOS"}, [("game-logistic", "1")], "d1")
    assert base == cache_key("simple", {"home": "BOS"}, [("game-logistic", "1")], "d1")
    assert base != cache_key("batch", {"home": "BOS"}, [("game-logistic", "1")], "d1")
    assert base != cache_key("simple", {"home": "LAL"}, [("game-logistic", "1")], "d1")
    assert base != cache_key("simple", {"home": "BOS"}, [("game-logistic", "2")], "d1")
    assert base != cache_key("simple", {"home": "BOS"}, [("game-tree", "1")], "d1")
    assert base != cache_key("simple", {"home": "BOS"}, [("game-logistic", "1")], "d2")


def test_memory_entries_expire(monkeypatch):
    cache = MemoryCache(ttl_seconds=5)
    cache.set("k", {"v": 1})
    assert cache.get("k") == {"v": 1}
    later = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert cache.get("k") is None


@pytest.mark.redis
def test_redis_stopped_mid_test_serves_uncached_then_resumes(stack):
    with (
        redis_server() as (url, _port, start, procs),
        running_service(stack.env(NBA_REDIS_URL=url)) as client,
    ):
        runtime = runtime_of(client)
        headers = login(client)
        ask = lambda: client.post("/api/predict/simple", json=MATCHUP, headers=headers)  # noqa: E731
        assert ask().json()["cached"] is False
        assert ask().json()["cached"] is True
        assert runtime.cache.backend == "redis"

        procs[-1].terminate()
        procs[-1].wait(10)
        stopped = time.monotonic()
        during = [ask() for _ in range(5)]
        assert [r.status_code for r in during] == [200] * 5
        assert all(r.json()["cached"] is False for r in during)
        health = client.get("/api/health", headers=headers).json()
        assert health["status"] == "degraded"
        assert health["checks"]["cache"]["ok"] is False
        assert "error" in health["checks"]["cache"]
        errors = runtime.metrics.cache_errors._value.get()
        # counted; and one failed call per retry interval at most (plus the health ping),
        # not one per request
        elapsed = time.monotonic() - stopped
        assert 1 <= errors <= 2 + elapsed / runtime.cache.retry_seconds

        start()  # the same port again
        time.sleep(runtime.cache.retry_seconds + 0.1)
        assert ask().json()["cached"] is False  # empty again: stored now
        assert ask().json()["cached"] is True
        assert client.get("/api/health").json()["checks"]["cache"]["ok"] is True
        levels = [(r["level"], r["message"]) for r in _cache_warnings(runtime)]
        assert [lvl for lvl, _ in levels] == ["WARNING", "WARNING"]  # down once, back once
