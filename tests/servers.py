"""Throwaway servers for fault tests: an own PostgreSQL 15 on a free port, stopped and started at
will. The shared servers at 127.0.0.1:5432 and :6379 are never stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnPostgres:
    """A PostgreSQL cluster in a temp folder (initdb / pg_ctl run as the ``postgres`` user)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "data"
        self.log = root / "server.log"

    def _run(self, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="nba-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    server = OwnPostgres(root, free_port())
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def http_ok(url: str) -> bool:
    """Whether GET ``url`` answers 200 (a refused or failed connection is False)."""
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session``), then SIGKILL."""
    import signal

    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextmanager
def bentoml_servers(
    envs: list[dict[str, str]], log_dir: Path, timeout: float = 180
) -> Iterator[list[str]]:
    """One ``bentoml serve`` process of the prediction service per environment in ``envs``
    (``NBA_*`` settings, merged into the caller's environment less its own ``NBA_*``), each on a
    free 127.0.0.1 port, started together and waited for until ``/api/health`` answers 200.
    Yields their base URLs; every process group is stopped on exit."""
    import time

    from flows.serving_cli import serve_command
    from tests.conftest import KEPT_SETTINGS

    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith("NBA_") or k in KEPT_SETTINGS
    }
    started: list[tuple[subprocess.Popen, str, Path]] = []
    try:
        for i, env in enumerate(envs):
            port = free_port()
            log_path = log_dir / f"serve-{i}.log"
            with log_path.open("w") as log:
                proc = subprocess.Popen(
                    serve_command("127.0.0.1", port),
                    env={**base_env, "BENTOML_HOME": str(log_dir / f"bentoml-{i}"), **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append((proc, f"http://127.0.0.1:{port}", log_path))
        deadline = time.monotonic() + timeout
        waiting = list(started)
        while waiting:
            for item in list(waiting):
                proc, base, log_path = item
                if proc.poll() is not None:
                    pytest.fail(f"bentoml serve exited with {proc.returncode}: see {log_path}")
                if http_ok(f"{base}/api/health"):
                    waiting.remove(item)
            if waiting and time.monotonic() > deadline:
                pytest.fail(f"bentoml serve not ready within {timeout} s: see {log_dir}")
            time.sleep(0.5)
        yield [base for _, base, _ in started]
    finally:
        for proc, _, _ in started:
            stop_process_group(proc)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid`` from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = text.rsplit(")", 1)[1].split()[:2]  # the name in parentheses may hold spaces
    return state, int(ppid)


def descendants(pid: int) -> list[int]:
    """Every live process under ``pid`` (children, grandchildren...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return [child for child in found if alive(child)]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def kill_left_over(pids: list[int]) -> None:
    """SIGKILL those of ``pids`` (processes a test started) that still run."""
    import signal

    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
