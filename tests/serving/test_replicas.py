"""Two replicas of the service (two ``bentoml serve`` processes, as behind the load balancer of
deploy/compose.yaml) on one Redis and one PostgreSQL database: a prediction cached by one is a
cache hit on the other, and the rate limit is one count across both.

The replicas use the shared Redis at 127.0.0.1:6379 in a database number of their own
(``REDIS_DB``); the keys they write there (the ``nba:pred:`` cache and the ``nba-limits`` rate
limit prefixes) are removed before and after. Each replica has its own state folder, as on two
machines.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving.cache import KEY_PREFIX as CACHE_PREFIX
from serving.ratelimit import KEY_PREFIX as LIMIT_PREFIX
from tests.servers import bentoml_servers
from tests.serving.conftest import GAME_DAY, USER, USER_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

REDIS_DB = 11
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
# Per day, so that no window boundary falls inside the test (a sliding window counter carries
# a share of the previous window's count over).
LIMIT = 8
RATE_LIMIT = f"{LIMIT}/day"
GAME = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def _clear_keys() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for pattern in (f"{CACHE_PREFIX}*", f"{LIMIT_PREFIX}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis at 127.0.0.1:6379 is required for this test: {exc}")
    finally:
        client.close()


@pytest.fixture(scope="module")
def replicas(stack, tmp_path_factory) -> Iterator[list[str]]:
    _clear_keys()
    env = {"NBA_REDIS_URL": REDIS_URL, "NBA_RATE_LIMIT": RATE_LIMIT}
    try:
        with bentoml_servers(
            [stack.env(**env), stack.env(**env)], tmp_path_factory.mktemp("replicas")
        ) as bases:
            yield bases
    finally:
        _clear_keys()


def _client(base: str, source: str) -> httpx.Client:
    """A client whose requests come from ``source`` (a loopback address): the rate limit is
    counted per client address, so each test counts from an address of its own."""
    return httpx.Client(
        base_url=base, timeout=30, transport=httpx.HTTPTransport(local_address=source)
    )


def _token(http: httpx.Client) -> str:
    answer = http.post("/api/auth/login", json={"username": USER, "password": USER_PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _counter(http: httpx.Client, headers: dict[str, str], name: str, endpoint: str) -> float:
    answer = http.get("/api/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == f"{name}_total" and sample.labels.get("endpoint") == endpoint:
                return sample.value
    return 0.0


def test_a_prediction_cached_by_one_replica_is_a_hit_on_the_other(replicas):
    a_base, b_base = replicas
    with _client(a_base, "127.0.0.1") as a, _client(b_base, "127.0.0.1") as b:
        headers = {"Authorization": f"Bearer {_token(a)}"}  # one JWT secret: valid on both
        hits_before = _counter(b, headers, "nba_cache_hits", "simple")

        first = a.post("/api/predict/simple", json=GAME, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["cached"] is False
        second = b.post("/api/predict/simple", json=GAME, headers=headers)
        assert second.status_code == 200, second.text
        assert second.json()["cached"] is True
        assert second.json()["home_win_probability"] == first.json()["home_win_probability"]
        assert second.json()["model"] == first.json()["model"]

        hits_after = _counter(b, headers, "nba_cache_hits", "simple")
        assert hits_after == hits_before + 1
        assert _counter(a, headers, "nba_cache_hits", "simple") == 0
        assert _counter(a, headers, "nba_cache_misses", "simple") == 1


def test_one_rate_limit_is_counted_across_both_replicas(replicas):
    a_base, b_base = replicas
    source = "127.0.0.2"  # a client address no other test counts from
    with _client(a_base, source) as a, _client(b_base, source) as b:
        headers = {"Authorization": f"Bearer {_token(a)}"}  # the login is request 1
        statuses = []
        for i in range(2 * LIMIT):
            replica = a if i % 2 == 0 else b
            statuses.append(replica.post("/api/predict/simple", json=GAME, headers=headers))
        codes = [r.status_code for r in statuses]
        # LIMIT - 1 predictions fit beside the login; each replica alone would allow LIMIT.
        assert codes == [200] * (LIMIT - 1) + [429] * (LIMIT + 1), codes
        refused = statuses[LIMIT - 1]
        assert int(refused.headers["Retry-After"]) >= 1
        assert "rate limit exceeded" in refused.json()["error"]
        # Both replicas refused once the shared count was reached.
        assert {statuses[LIMIT - 1].url.port, statuses[LIMIT].url.port} == {
            httpx.URL(a_base).port,
            httpx.URL(b_base).port,
        }


def test_the_probes_of_the_deploy_files_answer_on_both_replicas(replicas):
    """The k8s probes and the compose healthcheck point at routes a ready replica answers."""
    import yaml

    from tests.conftest import REPO

    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/service.yaml").read_text()) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    paths = {
        container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    compose = yaml.safe_load((REPO / "deploy/compose.yaml").read_text())
    healthcheck = " ".join(compose["services"]["service"]["healthcheck"]["test"])
    paths.add("/" + healthcheck.split("127.0.0.1:3000/", 1)[1].split("'")[0])
    assert paths == {"/livez", "/readyz"}
    for base in replicas:
        for path in sorted(paths):
            assert httpx.get(f"{base}{path}", timeout=10).status_code == 200, (base, path)
        assert httpx.get(f"{base}/no-such-route", timeout=10).status_code == 404
