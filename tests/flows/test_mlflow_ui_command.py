"""``nba-mlops mlflow-ui`` through its console script: SIGTERM stops the UI's whole tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import alive, descendants, free_port, http_ok, kill_left_over

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("nba-mlops")


def test_sigterm_stops_the_ui_and_its_workers(clean_env):
    port = free_port()
    (clean_env / "state").mkdir()  # the UI shows an existing store; it never makes one
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    log = (clean_env / "ui.log").open("wb")
    command = subprocess.Popen(
        [str(CLI), "mlflow-ui", "--port", str(port)],
        cwd=clean_env,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    health = f"http://127.0.0.1:{port}/health"
    children: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while not http_ok(health) and command.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert http_ok(health), (clean_env / "ui.log").read_text()[-2000:]
        children = descendants(command.pid)
        assert len(children) >= 2  # mlflow ui and its uvicorn

        command.send_signal(signal.SIGTERM)

        code = command.wait(15)
        assert [pid for pid in children if alive(pid)] == []
        assert not http_ok(health)
        assert code == 128 + signal.SIGTERM
    finally:
        if command.poll() is None:
            command.kill()
            command.wait(5)
        kill_left_over(children)
        log.close()
