"""``nba-mlops ingest`` through its console script: SIGTERM mid-run stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import alive, descendants, kill_left_over

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("nba-mlops")


def test_sigterm_during_ingest_records_the_stop_and_leaves_no_server_behind(clean_env, data_dir):
    """Stopped while it reads the snapshot: exit 143, the temporary Prefect API server it
    started is gone, the run is recorded as stopped and nothing was written."""
    from sqlalchemy import create_engine, select

    from core.db import IngestRun, TeamGame

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_API") and k != "NBA_DATA_DIR"
    }
    env.update(
        NBA_DATA_DIR=str(data_dir),
        NBA_STATE_DIR=str(clean_env / "state"),
        PREFECT_LOGGING_LEVEL="INFO",
    )
    log_path = clean_env / "ingest.log"
    with log_path.open("wb") as log:
        command = subprocess.Popen(
            [str(CLI), "ingest", "--json"],
            cwd=clean_env,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while b"[1/" not in log_path.read_bytes() and command.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        children = descendants(command.pid)
        assert children, "the temporary Prefect API server runs as a child"
        command.send_signal(signal.SIGTERM)
        code = command.wait(60)
        output = log_path.read_text()
        assert code == 128 + signal.SIGTERM, output[-2000:]
        assert "stopped: SIGTERM" in output
        assert '{"error": "stopped by SIGTERM", "exit_code": 143}' in output  # --json's stdout
        deadline = time.monotonic() + 10
        while [pid for pid in children if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in children if alive(pid)] == []
    finally:
        if command.poll() is None:
            command.kill()
            command.wait(5)
        kill_left_over(children)
    engine = create_engine(f"sqlite:///{clean_env / 'state' / 'nba.db'}")
    with engine.connect() as conn:
        runs = conn.execute(select(IngestRun.status, IngestRun.message)).all()
        assert conn.execute(select(TeamGame.game_id).limit(1)).first() is None
    assert runs == [("failed", "stopped by SIGTERM")]
