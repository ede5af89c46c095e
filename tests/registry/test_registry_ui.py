"""The MLflow UI command: built right, and it really serves the configured store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from registry import mlflow_ui_command, mlflow_ui_env


def test_command_targets_the_store():
    command = mlflow_ui_command(
        "postgresql+psycopg2://u@db:5432/mlflow",
        port=5055,
        artifact_location="file:///srv/mlartifacts",
    )
    assert command[:4] == [sys.executable, "-m", "mlflow", "ui"]
    options = dict(zip(command[4::2], command[5::2], strict=True))
    assert options == {
        "--backend-store-uri": "postgresql+psycopg2://u@db:5432/mlflow",
        "--host": "127.0.0.1",
        "--port": "5055",
        "--workers": "1",
        "--default-artifact-root": "file:///srv/mlartifacts",
    }
    assert mlflow_ui_env()["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


def test_command_refuses_a_remote_server():
    with pytest.raises(ValueError, match="already a tracking server"):
        mlflow_ui_command("http://mlflow.internal:5000")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_ui_serves_the_configured_store(store, tmp_path):
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=store.tracking_uri).create_registered_model("game-ui-check")
    port = _free_port()
    command = mlflow_ui_command(
        store.tracking_uri, port=port, artifact_location=store.artifact_location
    )
    log = (tmp_path / "ui.log").open("wb")
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, **mlflow_ui_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the workers are stopped with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status, deadline = None, time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _ = _get(f"{base}/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert status == 200, (tmp_path / "ui.log").read_text()[-2000:]
        status, body = _get(f"{base}/ajax-api/2.0/mlflow/registered-models/search?max_results=10")
        assert status == 200
        names = [model["name"] for model in json.loads(body)["registered_models"]]
        assert names == ["game-ui-check"]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        log.close()
