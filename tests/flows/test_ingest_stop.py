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
STOPPED = 128 + signal.SIGTERM


def ingest_then_sigterm(folder: Path, data_dir: Path) -> tuple[int, str, list[int]]:
    """Start ``ingest --json`` on the snapshot with its state in ``folder``, send SIGTERM once
    it has read its first batch; its exit code, its merged output and the children it had."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_API") and k != "NBA_DATA_DIR"
    }
    env.update(
        NBA_DATA_DIR=str(data_dir),
        NBA_STATE_DIR=str(folder / "state"),
        PREFECT_LOGGING_LEVEL="INFO",
    )
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "ingest.log"
    with log_path.open("wb") as log:
        command = subprocess.Popen(
            [str(CLI), "ingest", "--json"],
            cwd=folder,
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
        deadline = time.monotonic() + 10
        while [pid for pid in children if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        return code, log_path.read_text(), children
    finally:
        if command.poll() is None:
            command.kill()
            command.wait(5)
        kill_left_over(children)


def test_sigterm_during_ingest_records_the_stop_and_leaves_no_server_behind(clean_env, data_dir):
    """Stopped while it reads the snapshot: exit 143, the temporary Prefect API server it
    started is gone, the run is recorded as stopped and nothing was written. (A SIGTERM that
    lands inside a finalizer is covered in tests/core/test_processes.py.)"""
    from sqlalchemy import create_engine, select

    from core.db import IngestRun, TeamGame

    code, output, children = ingest_then_sigterm(clean_env, data_dir)
    assert code == STOPPED, output[-2000:]
    assert "stopped: SIGTERM" in output
    assert '{"error": "stopped by SIGTERM", "exit_code": 143}' in output  # --json's stdout
    assert [pid for pid in children if alive(pid)] == []
    engine = create_engine(f"sqlite:///{clean_env / 'state' / 'nba.db'}")
    with engine.connect() as conn:
        runs = conn.execute(select(IngestRun.status, IngestRun.message)).all()
        assert conn.execute(select(TeamGame.game_id).limit(1)).first() is None
    assert runs == [("failed", "stopped by SIGTERM")]
