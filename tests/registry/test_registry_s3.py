"""The registry against a real MLflow tracking server: PostgreSQL backend store, artifacts in an
S3-compatible bucket (moto's server), as deploy/compose.yaml runs it with MinIO.

The project's own code path is used end to end: the artifact location comes from ``Settings``
pointed at the server, the model is logged, registered and promoted through ``registry/``, and
loaded back through it; the objects are then listed in the bucket with boto3.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.servers import free_port, http_ok, stop_process_group
from tests.serving.conftest import pg_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BUCKET = "nba-mlflow"
PREFIX = "mlartifacts"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",  # dummy keys: moto accepts any
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server on a free 127.0.0.1 port, with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint, **_boto_keys()).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def _boto_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": AWS_ENV["AWS_DEFAULT_REGION"],
    }


@pytest.fixture(scope="module")
def backend_store_uri() -> Iterator[str]:
    """A fresh database for MLflow's backend store on the shared PostgreSQL, dropped after."""
    with pg_database("mlflow_s3") as url:
        yield url


@pytest.fixture(scope="module")
def tracking_server(s3_endpoint, backend_store_uri, tmp_path_factory) -> Iterator[str]:
    """``mlflow server`` proxying artifacts to ``s3://BUCKET/PREFIX``; its URL."""
    port = free_port()
    root = tmp_path_factory.mktemp("mlflow-server")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        f"s3://{BUCKET}/{PREFIX}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {
        **os.environ,
        **AWS_ENV,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log_path)
            yield url
        finally:
            stop_process_group(process, timeout=20)


def _wait_healthy(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited: {log_path.read_text()[-3000:]}")
        if http_ok(f"{url}/health"):
            return
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy in {timeout} s: {log_path.read_text()[-3000:]}")


def _bucket_keys(endpoint: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_keys())
    keys, token = [], None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX + "/", **extra)
        keys += [item["Key"] for item in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not token:
            return keys


def test_register_promote_and_load_through_a_server_with_s3_artifacts(
    tracking_server, s3_endpoint, tmp_path, register_with, game_metrics, games_frame, logistic
):
    from core.settings import Settings
    from registry import gate_and_promote, get_champion, list_registered, load_model

    # What a training worker does when NBA_MLFLOW_TRACKING_URI names the server.
    settings = Settings(mlflow_tracking_uri=tracking_server, state_dir=tmp_path / "state")
    tracking_uri = settings.resolved_mlflow_tracking_uri
    register = register_with(tracking_uri, settings.mlflow_artifact_location)

    first = register(game_metrics(log_loss=0.66))
    assert gate_and_promote(tracking_uri, "game-logistic", first.version).promote
    second = register(game_metrics(log_loss=0.62))
    decision = gate_and_promote(tracking_uri, "game-logistic", second.version)
    assert decision.promote, decision

    champion = get_champion(tracking_uri, "game-logistic")
    assert champion.version == second.version == "2"
    assert list_registered(tracking_uri)[0]["champion"] == "2"

    model, info = load_model(tracking_uri, "game-logistic", "champion")
    frame, _ = games_frame
    np.testing.assert_allclose(model.predict_proba(frame), logistic.predict_proba(frame))
    assert info.version == "2"

    # The artifacts are in the bucket, and nothing was written to the local state folder.
    keys = _bucket_keys(s3_endpoint)
    model_files = [key for key in keys if key.endswith("/MLmodel")]
    assert len(model_files) == 2, keys
    assert any(key.endswith("/features.json") for key in keys), keys
    assert any(key.endswith("/lineage.json") for key in keys), keys
    assert not (tmp_path / "state" / "mlartifacts").exists()


@pytest.mark.usefixtures("clean_env")
def test_train_json_on_a_tracking_server_prints_the_json_alone(
    tracking_server, tmp_path, monkeypatch
):
    """MLflow writes a "View run" link to stdout for every run on a server; with ``--json`` it
    goes to stderr and stdout holds the summary alone (``ingest --json`` likewise)."""
    import json

    from typer.testing import CliRunner

    from flows.cli import app
    from tests.builders import team_game_log, write_snapshot

    seasons = ("2021-22", "2022-23")
    logs = {s: team_game_log(s, n_days=20, seed=i) for i, s in enumerate(seasons)}
    monkeypatch.setenv("NBA_DATA_DIR", str(write_snapshot(tmp_path / "snap", logs)))
    monkeypatch.setenv("NBA_MLFLOW_TRACKING_URI", tracking_server)
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["seasons"] == list(seasons)
    trained = runner.invoke(app, ["train", "--models", "game-logistic", "--json"])
    assert trained.exit_code == 0, trained.output
    (model,) = json.loads(trained.stdout)["models"]
    assert model["name"] == "game-logistic"
    assert "View run" in trained.stderr and "View run" not in trained.stdout
