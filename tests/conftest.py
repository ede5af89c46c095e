"""Shared fixtures: the snapshot folder, real PostgreSQL databases, a Prefect test harness, a
webhook receiver."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Telemetry off and Prefect state in a temporary home, before any library reads them.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-home-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Training runs of the tests log no figures (drawing them is most of a small league's training
# time): the models, params and metrics are the same. The tests of the figures turn them on
# (tests/flows/test_training_flow.py, tests/registry/test_registry_logging.py), and so do the
# README's commands (tests/test_readme.py clears every NBA_* setting).
os.environ.setdefault("NBA_TRAINING_FIGURES", "false")
# Password hashes made by the tests use bcrypt's lowest work factor: a login costs a few
# milliseconds instead of 0.3 s at the default 12. tests/serving/test_auth.py checks the default
# and that the setting is honoured; the README's commands run at the default.
BCRYPT_TEST_COST = int(os.environ.setdefault("NBA_BCRYPT_COST", "4"))

PG_ADMIN_URL = os.environ.get(
    "NBA_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def snapshot_dir() -> Path | None:
    """The shared NBA snapshot: NBA_DATA_DIR, else ../shared/data/nba beside the checkout."""
    path = Path(os.environ.get("NBA_DATA_DIR", REPO / "../shared/data/nba")).resolve()
    return path if (path / "team_game_logs").is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = snapshot_dir()
    if path is None:
        pytest.skip(
            "the shared NBA snapshot is absent (set NBA_DATA_DIR or put ../shared/data/nba beside "
            "the checkout); CI always has it"
        )
    return path


# The test-wide settings above, which clean_env and the test servers keep.
KEPT_SETTINGS = ("NBA_DATA_DIR", "NBA_TRAINING_FIGURES", "NBA_BCRYPT_COST")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No NBA_* setting leaks in from the caller's environment; state goes under tmp_path."""
    for key in list(os.environ):
        if key.startswith("NBA_") and key not in KEPT_SETTINGS:
            monkeypatch.delenv(key)
    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def _pg_admin_engine():
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    name = f"nba_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required for this test: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'nba.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test using this runs on SQLite and on the local PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nba.db'}"
    return request.getfixturevalue("pg_url")


def _untraced(function):
    """``function`` run with this thread's coverage tracer off, then on again.

    Under Python 3.11 a trace function slows every line of Python in the process about 2.2x,
    library code included, though coverage records only the project's packages. The calls in
    ``UNTRACED`` run no project code, so coverage has nothing to record in them: with the tracer
    off around them the suite's coverage is the same line for line, and the time is saved.
    ``sys.settrace(tracer)`` puts coverage's C tracer back as it was at the next call."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        tracer = sys.gettrace()
        if tracer is None:
            return function(*args, **kwargs)
        sys.settrace(None)
        try:
            return function(*args, **kwargs)
        finally:
            sys.settrace(tracer)

    return run


# Library entry points (module, class or None, name) that call back into no project code. Great
# Expectations runs the built-in expectations of ``ingest/validation.py`` on frames the project
# built beforehand (one batch: 1.7 s traced, 0.75 s not; tests/ingest/test_validation.py alone:
# 130 s -> 87 s). MLflow creates the tables of a new store with its Alembic migrations (1-2 s
# untraced, for every state folder a test makes). Evidently computes a report's metrics on the
# frames it is given; the one project function it calls, ``monitoring.reports._no_figures``, is
# also called directly by a test. The last two: tests/flows/test_drift_flow.py alone 183 s ->
# 160 s; the whole suite on two processes 844 s -> 834 s, 70 s less CPU time.
UNTRACED = (
    ("great_expectations.core.validation_definition", "ValidationDefinition", "run"),
    ("mlflow.store.db.utils", None, "_initialize_tables"),
    ("evidently.core.report", "Report", "run"),
)


def untraced_owner(module: str, owner: str | None):
    """What holds an ``UNTRACED`` entry's function: the class ``owner`` of ``module``, or the
    module itself."""
    import importlib

    target = importlib.import_module(module)
    return target if owner is None else getattr(target, owner)


@pytest.fixture(scope="session", autouse=True)
def _libraries_untraced():
    patch = pytest.MonkeyPatch()
    for module, owner, name in UNTRACED:
        target = untraced_owner(module, owner)
        patch.setattr(target, name, _untraced(getattr(target, name)))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (starting one costs 10-20 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


# Modules that take the longest (tens of seconds to two minutes: whole flows, servers, the
# README's commands), longest first, as measured under `make test` on 2 cores. They run first:
# a failure in them shows early, and pytest-xdist hands modules out in this order (``--dist
# loadscope --no-loadscope-reorder``: a module runs on one worker, its module fixtures built
# once; xdist's own reordering would put the modules with the most tests first instead), so no
# long module starts while the other worker is nearly done.
LONG_MODULES = (
    "tests/flows/test_ingest_flow.py",
    "tests/flows/test_drift_flow.py",
    "tests/flows/test_training_flow.py",
    "tests/ingest/test_validation.py",
    "tests/flows/test_replay.py",
    "tests/test_readme.py",
    "tests/serving/test_fuzz.py",
    "tests/flows/test_training_requests.py",
    "tests/flows/test_cli.py",
    "tests/registry/test_registry_promotion.py",
    "tests/flows/test_backtest_later_season.py",
    "tests/serving/test_degraded_mode.py",
    "tests/serving/test_state.py",
    "tests/test_deploy.py",
    "tests/flows/test_training_window.py",
    "tests/monitoring/test_deployments.py",
    "tests/features/test_player.py",
    "tests/flows/test_ingest_stop.py",
    "tests/registry/test_registry_s3.py",
    "tests/faults/test_ingest_faults.py",
    "tests/serving/test_ui_browser.py",
    "tests/serving/test_endpoints.py",
    "tests/flows/test_mlflow_ui_command.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONG_MODULES)}

    def key(item) -> int:
        path = Path(str(item.path)).resolve().relative_to(REPO).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: the order inside a module, and of the others, is kept


@pytest.fixture
def receiver():
    """A real local HTTP server taking webhook POSTs: its URL, the requests it received (JSON
    body and content type) and its handler class (set ``status`` to answer with another code)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        status = 200

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"body": json.loads(body), "type": self.headers["Content-Type"]})
            self.send_response(Handler.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, Handler
    server.shutdown()
    server.server_close()
