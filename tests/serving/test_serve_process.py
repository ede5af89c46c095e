"""The service through a real ``bentoml serve`` process on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from flows.serving_cli import serve_command
from tests.serving.conftest import GAME_DAY, USER, USER_PASSWORD, free_port

pytestmark = pytest.mark.slow
LOGS: dict[str, Path] = {}  # the log of each server the fixture started, by its URL


@pytest.fixture(scope="module")
def server(stack, tmp_path_factory):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBA_") or k == "NBA_DATA_DIR"}
    env.update(stack.env(), BENTOML_HOME=str(tmp_path_factory.mktemp("bentoml-home")))
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    proc = subprocess.Popen(
        serve_command("127.0.0.1", port),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"bentoml serve exited with {proc.returncode}: see {log.name}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"bentoml serve not ready within 180 s: see {log.name}")
            time.sleep(0.5)
        LOGS[base] = Path(log.name)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def test_a_real_server_answers_with_auth_and_request_ids(server):
    with httpx.Client(base_url=server, timeout=30) as http:
        assert (
            http.post(
                "/api/predict/simple", json={"home_team": "BOS", "away_team": "LAL"}
            ).status_code
            == 401
        )
        token = http.post(
            "/api/auth/login", json={"username": USER, "password": USER_PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "serve-test-1"}
        answer = http.post(
            "/api/predict/simple",
            json={"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-request-id"] == "serve-test-1"
        body = answer.json()
        assert body["request_id"] == "serve-test-1"
        assert body["model"]["name"] == "game-logistic"
        assert abs(body["home_win_probability"] + body["away_win_probability"] - 1) < 1e-12
        # BentoML's own /metrics is off (its spec still lists it); the service's are /api/metrics.
        assert http.get("/metrics").status_code == 404
        assert "nba_predictions_total" in http.get("/api/metrics", headers=headers).text
        spec = http.get("/docs.json").json()
        for path in (
            "/api/predict",
            "/api/predict/simple",
            "/api/predict/player",
            "/api/predict/compare",
            "/api/predict/batch",
            "/api/models",
            "/api/health",
            "/api/auth/login",
        ):
            assert path in spec["paths"], path


def test_the_server_log_has_no_progress_bars_or_library_warnings(server):
    """The models were downloaded from MLflow and a model version published to the metrics:
    the log holds the service's lines, not MLflow's download bars or prometheus_client's
    multi-process warning."""
    text = LOGS[server].read_text()
    assert "Service nba-predictions initialized" in text
    assert "Downloading artifacts" not in text
    assert "UserWarning" not in text


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (
            {"NBA_ENVIRONMENT": "production"},
            "NBA_JWT_SECRET must be set to at least 32 characters in production (missing)",
        ),
        ({"NBA_ENVIRONMENT": "prod"}, "NBA_ENVIRONMENT: Value error, environment must be"),
        ({"NBA_REDIS_URL": "127.0.0.1:6379"}, "NBA_REDIS_URL: Value error, redis_url must be"),
    ],
)
def test_plain_bentoml_serve_with_a_setting_no_worker_can_start_with_exits_2_with_its_reason(
    tmp_path, setting, reason
):
    """The container runs ``bentoml serve`` itself, without the CLI's checks: a bad setting stops
    it before any worker starts, instead of a worker restarted for ever with a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBA_")}
    env.update(setting, NBA_STATE_DIR=str(tmp_path / "state"), BENTOML_HOME=str(tmp_path / "bh"))
    done = subprocess.run(
        serve_command("127.0.0.1", free_port()),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and reason in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
