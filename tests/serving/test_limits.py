"""Rate limits (429 + Retry-After) and CORS limited to the configured origins."""

from __future__ import annotations

import asyncio
import json

import pytest

from serving.ratelimit import RateLimits
from tests.serving.conftest import (
    GAME_DAY,
    login,
    redis_server,
    running_service,
    runtime_of,
    start_of_a_limit_window,
)

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}
ALLOWED = "https://app.example.org"


@pytest.fixture(scope="module")
def limited(stack):
    env = stack.env(NBA_RATE_LIMIT="6/minute", NBA_CORS_ORIGINS=json.dumps([ALLOWED]))
    with running_service(env) as client:
        yield client


def test_the_request_limit_answers_429_with_retry_after(limited):
    start_of_a_limit_window(needed=15)
    headers = login(limited)  # the login counts too: 1 of 6
    answers = [
        limited.post("/api/predict/simple", json=MATCHUP, headers=headers).status_code
        for _ in range(6)
    ]
    assert answers == [200] * 5 + [429]
    refused = limited.post("/api/predict/simple", json=MATCHUP, headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["retry_after"] == int(refused.headers["retry-after"])
    assert refused.headers["x-request-id"]
    # health stays reachable for probes
    assert limited.get("/api/health").status_code == 200
    metrics = runtime_of(limited).metrics.render().decode()
    assert 'nba_rate_limited_total{limit="requests"} 2.0' in metrics
    assert 'nba_errors_total{endpoint="/api/predict/simple",status="429"} 2.0' in metrics


def test_cors_allows_only_the_configured_origins(limited):
    preflight = limited.options(
        "/api/predict/simple",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    foreign = limited.options(
        "/api/predict/simple",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    simple = limited.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    allowed = limited.get("/api/health", headers={"Origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()


def test_no_cors_headers_without_configured_origins(service):
    response = service.get("/api/health", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers


def test_limits_are_shared_in_redis_and_survive_its_outage():
    async def scenario(url, procs):
        first = RateLimits("3/minute", "2/minute", url)
        second = RateLimits("3/minute", "2/minute", url)  # another worker
        assert [(await first.hit("10.0.0.1")).allowed for _ in range(2)] == [True, True]
        assert (await second.hit("10.0.0.1")).allowed
        refused = await second.hit("10.0.0.1")  # the count is shared
        assert not refused.allowed and 1 <= refused.retry_after <= 60
        assert (await first.hit("10.0.0.2")).allowed  # per client
        procs[-1].terminate()
        procs[-1].wait(10)
        # Redis down: counted in-process, neither blocked nor unlimited
        answers = [(await first.hit("10.0.0.3")).allowed for _ in range(4)]
        assert answers == [True, True, True, False]
        assert first.status() == {"backend": "redis", "ok": False}

    with redis_server() as (url, _port, _start, procs):
        start_of_a_limit_window(needed=20)
        asyncio.run(scenario(url, procs))


def test_failed_logins_are_limited_over_any_rolling_minute(monkeypatch):
    """Five failures a minute means five in any 60 s: three just before a minute starts and
    two just after it leave no sixth try (a window counter would weigh the earlier three down
    and allow it)."""
    import time

    clock = [60 * 16_666_667 + 58.0]  # two seconds before a minute starts
    monkeypatch.setattr(time, "time", lambda: clock[0])

    async def scenario():
        limits = RateLimits("100/minute", "5/minute")
        for _ in range(3):
            await limits.login_failed("10.0.0.5")
        clock[0] += 3
        for _ in range(2):
            assert (await limits.login_allowed("10.0.0.5")).allowed
            await limits.login_failed("10.0.0.5")
        refused = await limits.login_allowed("10.0.0.5")
        assert not refused.allowed and refused.retry_after == 57  # the first failure ages out
        assert (await limits.login_allowed("10.0.0.6")).allowed  # per client
        clock[0] += 57
        assert (await limits.login_allowed("10.0.0.5")).allowed

    asyncio.run(scenario())


def test_bad_limit_settings_name_the_setting():
    with pytest.raises(ValueError, match="NBA_RATE_LIMIT"):
        RateLimits("lots", "5/minute")
    with pytest.raises(ValueError, match="NBA_LOGIN_RATE_LIMIT"):
        RateLimits("5/minute", "5 per fortnight")


def test_a_redis_socket_url_serves_the_limits_and_the_cache(tmp_path):
    """``unix://`` (redis-py's spelling, which limits spells ``redis+unix://``) reaches Redis
    through its socket for both the limits and the cache."""
    import subprocess

    from core.settings import Settings
    from serving.cache import make_cache
    from tests.serving.conftest import wait_until

    sock = tmp_path / "redis.sock"
    args = ["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", ""]
    proc = subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_until(sock.exists, timeout=10)
        url = Settings(redis_url=f"unix://{sock}?db=3").redis_url

        async def scenario():
            limits = RateLimits("2/minute", "2/minute", url)
            answers = [(await limits.hit("10.0.0.9")).allowed for _ in range(3)]
            assert answers == [True, True, False]
            assert limits.status() == {"backend": "redis", "ok": True}

        asyncio.run(scenario())
        cache = make_cache(url, 60)
        cache.set("k", {"p": 0.5})
        assert cache.get("k") == {"p": 0.5} and cache.status()["ok"]
        cache.close()
    finally:
        proc.terminate()
        proc.wait(10)
