"""``nba-mlops ingest`` through its console script: SIGTERM or Ctrl-C mid-run stops it cleanly."""

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


def ingest_then_sigterm(
    folder: Path, data_dir: Path, ctrl_c: bool = False
) -> tuple[int, str, list[int]]:
    """Start ``ingest --json`` on the snapshot with its state in ``folder``, send SIGTERM once
    it has read its first batch (with ``ctrl_c``, SIGINT to its whole process group, as a
    terminal's Ctrl-C does); its exit code, its merged output and the children it had."""
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
            # Ctrl-C's default action, whatever this process inherited (a background job's is off)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while b"[1/" not in log_path.read_bytes() and command.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        children = descendants(command.pid)
        assert children, "the temporary Prefect API server runs as a child"
        if ctrl_c:
            os.killpg(command.pid, signal.SIGINT)
        else:
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


def stored_runs(folder: Path) -> list[tuple[str, str]]:
    """The (status, message) of each ingest run in ``folder``'s store, which holds no game."""
    from sqlalchemy import create_engine, select

    from core.db import IngestRun, TeamGame

    engine = create_engine(f"sqlite:///{folder / 'state' / 'nba.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(TeamGame.game_id).limit(1)).first() is None
        runs = conn.execute(select(IngestRun.status, IngestRun.message)).all()
    engine.dispose()
    return [tuple(run) for run in runs]


def test_sigterm_during_ingest_records_the_stop_and_leaves_no_server_behind(clean_env, data_dir):
    """Stopped while it reads the snapshot: exit 143, the temporary Prefect API server it
    started is gone, the run is recorded as stopped and nothing was written. (A SIGTERM that
    lands inside a finalizer is covered in tests/core/test_processes.py.)"""
    code, output, children = ingest_then_sigterm(clean_env, data_dir)
    assert code == STOPPED, output[-2000:]
    assert "stopped: SIGTERM" in output
    assert '{"error": "stopped by SIGTERM", "exit_code": 143}' in output  # --json's stdout
    assert [pid for pid in children if alive(pid)] == []
    assert stored_runs(clean_env) == [("failed", "stopped by SIGTERM")]


def test_ctrl_c_during_ingest_stops_it_and_the_server_it_started(clean_env, data_dir):
    """A terminal's Ctrl-C reaches the whole foreground process group. The temporary Prefect API
    server runs in a session of its own, so it is still there while the command records the
    stopped run, then stopped with it. (When it got the Ctrl-C too, it died first and the
    command hung on the dead API's retries for good.)"""
    code, output, children = ingest_then_sigterm(clean_env, data_dir, ctrl_c=True)
    assert code == 128 + signal.SIGINT, output[-2000:]
    assert [pid for pid in children if alive(pid)] == []
    assert stored_runs(clean_env) == [("failed", "stopped by Ctrl-C")]
