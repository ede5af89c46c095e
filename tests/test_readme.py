"""Every command in the README's fenced ``bash`` blocks is run here for real, or is on the short
list of commands covered elsewhere (``COVERED_ELSEWHERE``, each with the reason).

The commands run in order, as a reader would type them, in a sandbox:

- ``NBA_DATA_DIR``: a folder of links to the regular seasons 2022-23 and 2023-24 of the shared
  snapshot (real teams, players and dates); ``NBA_STATE_DIR``: a temporary folder whose SQLite
  store holds them (ingested by ``ingest_flow``) and whose MLflow store has ``game-logistic``
  and ``player-ridge`` champions (``run_training``, evaluated on 2023-24); a temporary
  ``PREFECT_HOME`` and no ``PREFECT_API_URL`` until the README exports one;
- each port the README names (``127.0.0.1:3000``, ``--port 4200``...) is replaced by a free port,
  and each database a ``createdb`` makes by a fresh name (dropped afterwards);
- long-running commands (``nba-mlops serve``, ``nba-mlops mlflow-ui``, ``prefect server start``,
  ``prefect worker start``) start in the background and are waited for (health URL), and the
  commands after them talk to them; they must still be alive at the end, and every flow run a
  command created must have completed on the worker;
- shell variables (``export X=...``, ``TOKEN=$(...)``) carry over to the next commands;
- ``curl`` runs with ``--fail-with-body`` (from a sandbox ``.curlrc``): an HTTP error fails it;
- every other command must exit 0.

Only the programs in ``RUNNABLE`` are run; a command using another one fails the test unless it
is listed in ``COVERED_ELSEWHERE``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_ADMIN_URL, REPO
from tests.servers import free_port, stop_process_group

README = REPO / "README.md"

# Commands the sandbox does not run, with where they are run instead. Keys are regular
# expressions matched against the whole command (comments removed, ``.venv/bin/`` dropped).
COVERED_ELSEWHERE = {
    r"make demo": "the demo itself: `nba-mlops demo` on the whole snapshot takes minutes; its "
    "serving step is tests/serving/test_demo.py, its ingest and training flows tests/flows/",
    r"make test": "what CI runs (.ci/run): the whole suite, this test included",
}

# Programs the sandbox may run (at the start of a command, after `|`, `&&`, `;` or `$(`).
RUNNABLE = frozenset(
    {"nba-mlops", "prefect", "curl", "createdb", "dropdb", "python3", "export", "echo"}
)

# Long-running commands: started in the background; the URL (on the command's port) says
# when they are ready. Servers that come before any `export`/assignment in the README are
# started early, all at once (the ones reading the platform's state once it is built), and
# waited for where the README has them.
BACKGROUND = (
    (re.compile(r"^nba-mlops serve\b"), "http://127.0.0.1:{port}/api/health"),
    (re.compile(r"^nba-mlops mlflow-ui\b"), "http://127.0.0.1:{port}/health"),
    (re.compile(r"^prefect server start\b"), "http://127.0.0.1:{port}/api/health"),
    (re.compile(r"^prefect worker start\b(?!.*--run-once)"), None),
)


def background_url(command: Command) -> str | bool | None:
    """The health URL of a long-running command, None if it has none, False if not one."""
    return next((url for rx, url in BACKGROUND if rx.search(command.plain)), False)


def early_servers(commands: list[Command]) -> list[Command]:
    """Servers (with a health URL) before any command that sets a variable."""
    early = []
    for command in commands:
        if "export" in programs(command.plain):
            break
        if background_url(command):
            early.append(command)
    return early


DEFAULT_PORTS = {"nba-mlops serve": 3000, "nba-mlops mlflow-ui": 5000, "prefect server start": 4200}
COMMAND_TIMEOUT = 180
READY_TIMEOUT = 180
_PORT_IN_URL = re.compile(r"(?:127\.0\.0\.1|localhost):(\d{4,5})\b")
_PORT_OPTION = re.compile(r"--port[ =](\d{4,5})\b")
_CREATEDB = re.compile(r"^createdb\b.*\s(\w+)\s*$")


@dataclass
class Command:
    text: str  # as in the README, continuation lines joined
    line: int  # where it starts in README.md

    @property
    def plain(self) -> str:
        """Without comments and the ``.venv/bin/`` prefix: what the rules match."""
        return re.sub(r"(?<![\w/])\.venv/bin/", "", strip_comment(self.text)).strip()


def strip_comment(text: str) -> str:
    """``text`` without a trailing ``# comment`` (a ``#`` outside quotes after a blank)."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip()
    return text


def readme_commands(markdown: str) -> list[Command]:
    """The commands of every fenced bash/sh/shell block, continuation lines joined."""
    commands: list[Command] = []
    in_block, pending, start = False, "", 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = re.match(r"^\s*```\s*(\w*)", line)
        if fence:
            if in_block:
                assert not pending, f"README.md:{start}: a command ends with a backslash"
                in_block = False
            else:
                in_block = fence.group(1) in ("bash", "sh", "shell")
            continue
        if not in_block:
            continue
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.strip()[:-1].rstrip() + " "
            continue
        commands.append(Command(pending + line.strip(), start))
        pending = ""
    return commands


_SEPARATORS = frozenset({"|", "||", "&&", ";", "(", ")", "&"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def shell_tokens(plain: str) -> list[str]:
    lexer = shlex.shlex(plain, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def programs(plain: str) -> set[str]:
    """The programs a command runs: the first word of each simple command in it (leading
    ``VAR=value`` assignments skipped), including inside ``$(...)``; a command of assignments
    only counts as ``export``."""
    found: set[str] = set()
    at_start, assigned = True, False
    for token in [*shell_tokens(plain), ";"]:
        if token in _SEPARATORS:
            if at_start and assigned:
                found.add("export")
            at_start, assigned = True, False
        elif at_start and _ASSIGNMENT.match(token):
            assigned = True
        elif at_start:
            found.add(token)
            at_start = False
    return found


def covered_elsewhere(command: Command) -> str | None:
    for pattern, reason in COVERED_ELSEWHERE.items():
        if re.fullmatch(pattern, command.plain):
            return reason
    return None


def unrunnable(commands: list[Command]) -> list[str]:
    """Why each command that is neither runnable in the sandbox nor covered elsewhere fails."""
    problems = []
    for command in commands:
        if covered_elsewhere(command):
            continue
        if {"<<", "<<-"} & set(shell_tokens(command.plain)):
            problems.append(f"README.md:{command.line}: heredocs are not supported: {command.text}")
        unknown = programs(command.plain) - RUNNABLE
        if unknown:
            problems.append(
                f"README.md:{command.line}: {sorted(unknown)} cannot run in the sandbox; "
                f"add the command to COVERED_ELSEWHERE with a reason: {command.text}"
            )
    return problems


def test_every_readme_command_is_runnable_or_covered_elsewhere():
    """Fast and without servers: a README command the sandbox cannot run and no one covers
    fails here, with its line."""
    commands = readme_commands(README.read_text())
    assert commands, "no fenced bash block in README.md"
    problems = unrunnable(commands)
    assert not problems, "\n".join(problems)


def test_an_uncovered_command_is_refused():
    markdown = (
        "```bash\nmake test\ndocker compose -f deploy/compose.yaml up -d\n"
        "nba-mlops status && kubectl get pods\ncat <<EOF\n```\n"
    )
    problems = unrunnable(readme_commands(markdown))
    assert len(problems) == 4, problems
    assert "['docker']" in problems[0] and "README.md:3" in problems[0]
    assert "['kubectl']" in problems[1]
    assert "heredocs" in problems[2] and "['cat']" in problems[3]


def test_the_parser_sees_commands_comments_and_continuations():
    markdown = (
        "text\n```bash\nmake demo   # a comment\n\n# a comment line\ncurl -s http://x \\\n"
        '  -d \'{"a": "#1"}\'\n```\n```json\n{"not": "a command"}\n```\n'
        "```python\nprint(1)\n```\n```sh\nTOKEN=$(curl -s u | python3 -c 'x') \n```\n"
    )
    commands = readme_commands(markdown)
    assert [c.plain for c in commands] == [
        "make demo",
        'curl -s http://x -d \'{"a": "#1"}\'',
        "TOKEN=$(curl -s u | python3 -c 'x')",
    ]
    assert [c.line for c in commands] == [3, 6, 16]
    assert programs(commands[2].plain) == {"export", "curl", "python3"}
    assert programs("NBA_X=1 .venv/bin/nba-mlops ingest") == {".venv/bin/nba-mlops"}
    assert programs("export A=b") == {"export"}
    assert covered_elsewhere(commands[0])
    assert not covered_elsewhere(commands[1])


# The sandbox ---------------------------------------------------------------------------------


@dataclass
class Sandbox:
    root: Path
    env: dict[str, str]
    ports: dict[str, str] = field(default_factory=dict)  # README port -> free port
    databases: dict[str, str] = field(default_factory=dict)  # README name -> fresh name
    background: list[tuple[Command, subprocess.Popen, Path]] = field(default_factory=list)
    prefect_api: str | None = None
    logs: list[str] = field(default_factory=list)
    ready_urls: dict[int, str] = field(default_factory=dict)  # README line -> health URL
    launched_at: dict[int, float] = field(default_factory=dict)

    def rewrite(self, text: str) -> str:
        """The README's ports and database names replaced by the sandbox's."""
        for port in {*_PORT_IN_URL.findall(text), *_PORT_OPTION.findall(text)}:
            if port != "5432":
                self.ports.setdefault(port, str(free_port()))
        text = _PORT_IN_URL.sub(
            lambda m: m.group(0).replace(m.group(1), self.ports.get(m.group(1), m.group(1))), text
        )
        text = _PORT_OPTION.sub(
            lambda m: m.group(0).replace(m.group(1), self.ports[m.group(1)]), text
        )
        created = _CREATEDB.match(strip_comment(text))
        if created:
            self.databases.setdefault(
                created.group(1), f"readme_{uuid.uuid4().hex[:8]}_{created.group(1)}"
            )
        for name, fresh in self.databases.items():
            text = re.sub(rf"(createdb\b.*\s){name}\s*$", rf"\g<1>{fresh}", text)
            text = re.sub(rf"(:5432/){name}\b", rf"\g<1>{fresh}", text)
        return text

    def script(self, text: str, env_out: Path) -> str:
        return (
            "set -a -o pipefail\n"
            f"{text}\n"
            "status=$?\n"
            f"env -0 > {shlex.quote(str(env_out))}\n"
            "exit $status\n"
        )

    def run(self, command: Command) -> None:
        text = self.rewrite(command.text)
        env_out = self.root / "env.out"
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", self.script(text, env_out)],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        self.logs.append(
            f"$ {text}  [{time.monotonic() - started:.1f} s]\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
        assert done.returncode == 0, (
            f"README.md:{command.line} failed ({done.returncode}): {text}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        carried = env_out.read_bytes().split(b"\0")
        self.env = dict(item.decode().split("=", 1) for item in carried if b"=" in item)
        if "PREFECT_API_URL" in self.env:
            self.prefect_api = self.env["PREFECT_API_URL"]

    def launch(self, command: Command, ready_url: str | None) -> None:
        """Start a long-running command in the background (``wait_ready`` waits for it)."""
        plain = self.rewrite(command.plain)
        if ready_url is not None and not _PORT_OPTION.search(plain):
            default = next(p for prefix, p in DEFAULT_PORTS.items() if plain.startswith(prefix))
            self.ports.setdefault(str(default), str(free_port()))
            plain += f" --port {self.ports[str(default)]}"
        log_path = self.root / f"background-{len(self.background)}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {REPO}/.venv/bin/{plain}"],
                cwd=REPO,
                env={**self.env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append((command, proc, log_path))
        if ready_url is not None:
            self.ready_urls[command.line] = ready_url.format(
                port=_PORT_OPTION.search(plain).group(1)
            )
        self.launched_at[command.line] = time.monotonic()

    def wait_ready(self, command: Command) -> None:
        url = self.ready_urls.get(command.line)
        if url is None:
            return
        proc, log_path = next((p, log) for c, p, log in self.background if c is command)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"README.md:{command.line} exited: {command.text}\n{log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    took = time.monotonic() - self.launched_at[command.line]
                    self.logs.append(f"$ {command.plain} &  [ready {took:.1f} s after its start]")
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"README.md:{command.line} not ready in {READY_TIMEOUT} s: {url}")
            time.sleep(0.5)

    def check_background(self) -> None:
        for command, proc, log_path in self.background:
            assert proc.poll() is None, (
                f"README.md:{command.line} stopped: {command.text}\n{log_path.read_text()[-3000:]}"
            )

    def wait_for_flow_runs(self, timeout: float = 120) -> int:
        """Every flow run on the sandbox's Prefect server completed (run by the worker)."""
        if self.prefect_api is None:
            return 0
        deadline = time.monotonic() + timeout
        while True:
            runs = httpx.post(f"{self.prefect_api}/flow_runs/filter", json={}, timeout=10).json()
            # Runs made by a command (`prefect deployment run`), not the schedules' future runs.
            states = [run["state_type"] for run in runs if not run["auto_scheduled"]]
            if states and all(s == "COMPLETED" for s in states):
                return len(states)
            failed = [s for s in states if s in ("FAILED", "CRASHED", "CANCELLED")]
            assert not failed, (runs, *[p[2].read_text()[-3000:] for p in self.background])
            if time.monotonic() > deadline:
                pytest.fail(f"flow runs not completed in {timeout} s: {states}")
            time.sleep(1)

    def stop(self) -> None:
        for _, proc, _ in reversed(self.background):
            stop_process_group(proc)


# The two newest seasons of the shared snapshot: real teams, players and dates (the README's
# examples use them), small enough to ingest and train in seconds.
SANDBOX_SEASONS = ("2022-23", "2023-24")


def _sliced_snapshot(data_dir: Path, folder: Path) -> Path:
    """A snapshot folder of links to the regular seasons ``SANDBOX_SEASONS`` of ``data_dir``."""
    for kind in ("team_game_logs", "player_game_logs"):
        (folder / kind / "regular_season").mkdir(parents=True)
        for season in SANDBOX_SEASONS:
            source = data_dir / kind / "regular_season" / f"{season}.csv.gz"
            (folder / kind / "regular_season" / f"{season}.csv.gz").symlink_to(source)
    return folder


def _trained_registry(state: Path, snapshot: Path) -> None:
    """The slice ingested into the sandbox store and the models answering by default (the
    README's calls name none) trained and promoted, with the platform's own flows."""
    from core.settings import Settings
    from flows.ingest import ingest_flow
    from flows.training import run_training

    settings = Settings(state_dir=state, data_dir=snapshot, log_level="WARNING")
    ingest_flow(source="snapshot", settings=settings)
    summary = run_training(
        settings, models=[settings.default_game_model, settings.default_points_model]
    )
    assert all(model["promoted"] for model in summary.models), summary.models


@pytest.fixture
def sandbox(tmp_path, data_dir) -> Iterator[Sandbox]:
    state = tmp_path / "state"
    (tmp_path / "curl").mkdir()
    (tmp_path / "curl/.curlrc").write_text("--fail-with-body\n--max-time 60\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBA_", "PREFECT_"))}
    env.update(
        NBA_STATE_DIR=str(state),
        NBA_DATA_DIR=str(_sliced_snapshot(data_dir, tmp_path / "snapshot")),
        NBA_LOG_LEVEL="WARNING",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        CURL_HOME=str(tmp_path / "curl"),
        DO_NOT_TRACK="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        BENTOML_DO_NOT_TRACK="true",
        BENTOML_HOME=str(tmp_path / "bentoml"),
    )
    box = Sandbox(tmp_path, env)
    try:
        yield box
    finally:
        box.stop()
        _drop(box.databases.values())


def _drop(names) -> None:
    from sqlalchemy import create_engine, text

    names = list(names)
    if not names:
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.snapshot
@pytest.mark.usefixtures("prefect_harness")  # for the setup's flows, not the README's commands
def test_readme_commands_run_in_a_sandbox(sandbox):
    commands = [c for c in readme_commands(README.read_text()) if not covered_elsewhere(c)]
    early = early_servers(commands)
    # Servers that do not read the platform's state start while it is built.
    for command in early:
        if not command.plain.startswith("nba-mlops"):
            sandbox.launch(command, background_url(command))
    started = time.monotonic()
    _trained_registry(Path(sandbox.env["NBA_STATE_DIR"]), Path(sandbox.env["NBA_DATA_DIR"]))
    sandbox.logs.append(f"(sandbox store and champions: {time.monotonic() - started:.1f} s)")
    for command in early:
        if command.plain.startswith("nba-mlops"):
            sandbox.launch(command, background_url(command))
    for command in commands:
        url = background_url(command)
        if url is not False:
            if command not in early:
                sandbox.launch(command, url)
            sandbox.wait_ready(command)
        else:
            sandbox.run(command)
    sandbox.check_background()
    started = time.monotonic()
    completed = sandbox.wait_for_flow_runs()
    sandbox.logs.append(
        f"({completed} flow run(s) completed: waited {time.monotonic() - started:.1f} s)"
    )
    sandbox.check_background()
    print("\n".join(sandbox.logs))
    assert commands
    if any("deployment run" in c.plain for c in commands):
        assert completed >= 1
