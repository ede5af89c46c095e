"""``nba-mlops users ...`` and ``nba-mlops serve`` as a user runs them."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from core.db import User
from flows.serving_cli import serve_command, serve_env
from tests.conftest import BCRYPT_TEST_COST

runner = CliRunner()


@pytest.fixture
def cli_env(stack, tmp_path) -> dict[str, str]:
    return {"NBA_DATABASE_URL": stack.database_url, "NBA_STATE_DIR": str(tmp_path / "state")}


def invoke(args: list[str], env: dict[str, str | None], stdin: str | None = None):
    from flows.cli import app

    return runner.invoke(app, args, input=stdin, env=env)


def test_users_add_list_disable(cli_env, stack):
    added = invoke(["users", "add", "erin", "--password-stdin"], cli_env, "erin-password-1\n")
    assert added.exit_code == 0, added.output
    assert "erin added (role user)" in added.output
    admin = invoke(
        ["users", "add", "frank", "--password-stdin", "--admin"], cli_env, "frank-password-1\n"
    )
    assert admin.exit_code == 0, admin.output
    listed = invoke(["users", "list"], cli_env)
    assert listed.exit_code == 0
    assert "erin" in listed.output and "frank" in listed.output and "admin" in listed.output
    disabled = invoke(["users", "disable", "erin"], cli_env)
    assert disabled.exit_code == 0
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                select(User.username, User.is_active).where(User.username.in_(["erin", "frank"]))
            ).all()
        )
        stored = conn.execute(select(User.password_hash).where(User.username == "erin")).scalar()
    engine.dispose()
    assert rows == {"erin": False, "frank": True}
    # NBA_BCRYPT_COST is the tests' (tests/conftest.py), not the default 12: the command
    # hashes at the configured work factor.
    assert stored.startswith(f"$2b${BCRYPT_TEST_COST:02d}$") and "erin-password-1" not in stored


def test_users_enable_and_password_restore_a_user(cli_env, stack):
    from serving.auth import authenticate

    added = invoke(["users", "add", "hana", "--password-stdin"], cli_env, "hana-password-1\n")
    assert added.exit_code == 0, added.output
    assert invoke(["users", "disable", "hana"], cli_env).exit_code == 0
    engine = create_engine(stack.database_url)
    assert authenticate(engine, "hana", "hana-password-1") is None
    enabled = invoke(["users", "enable", "hana"], cli_env)
    assert enabled.exit_code == 0 and "user hana enabled" in enabled.output
    assert authenticate(engine, "hana", "hana-password-1") is not None
    changed = invoke(["users", "password", "hana", "--password-stdin"], cli_env, "hana-new-pass\n")
    assert changed.exit_code == 0, changed.output
    assert authenticate(engine, "hana", "hana-password-1") is None
    assert authenticate(engine, "hana", "hana-new-pass") is not None
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash).where(User.username == "hana")).scalar()
    assert stored.startswith(f"$2b${BCRYPT_TEST_COST:02d}$")
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "add", "gina"], None, "--password-stdin"),
        (["users", "add", "gina", "--password-stdin"], "short\n", "at least 8"),
        (["users", "add", "gina", "--password-stdin"], "tab\tpassword1\n", "control characters"),
        (["users", "add", "alice", "--password-stdin"], "long-enough-1\n", "already exists"),
        (["users", "disable", "nobody-at-all"], None, "no user named"),
        (["users", "enable", "nobody-at-all"], None, "no user named"),
        (["users", "password", "nobody-at-all", "--password-stdin"], "long-enough-1\n", "no user"),
        (["users", "password", "alice", "--password-stdin"], "short\n", "at least 8"),
        (["users", "password", "alice"], None, "--password-stdin"),
    ],
)
def test_user_commands_fail_with_a_reason(cli_env, args, stdin, message):
    result = invoke(args, cli_env, stdin)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["users", "list"], None),
        (["users", "disable", "erin"], None),
        (["users", "enable", "erin"], None),
        (["users", "password", "erin", "--password-stdin"], "long-enough-1\n"),
    ],
)
def test_user_commands_refuse_a_state_folder_that_does_not_exist(tmp_path, args, stdin):
    """A mistyped NBA_STATE_DIR is refused, as `status` and `models` refuse it: no new empty
    store that lists no user."""
    missing = tmp_path / "no-such-state"
    result = invoke(args, {"NBA_STATE_DIR": str(missing), "NBA_DATABASE_URL": None}, stdin)
    assert result.exit_code == 2, result.output
    assert f"the state folder {missing} does not exist: no API user is stored" in result.output
    assert not missing.exists()


def test_users_add_makes_the_store_of_a_new_state_folder(tmp_path):
    """The README's first step on a fresh machine: `users add` before anything else."""
    env = {"NBA_STATE_DIR": str(tmp_path / "new-state"), "NBA_DATABASE_URL": None}
    added = invoke(["users", "add", "ivy", "--password-stdin"], env, "ivy-password-1\n")
    assert added.exit_code == 0, added.output
    listed = invoke(["users", "list"], env)
    assert listed.exit_code == 0 and "ivy" in listed.output, listed.output


def test_serve_runs_bentoml_serve_on_the_service():
    command = serve_command("127.0.0.1", 3123)
    assert command[:4] == [sys.executable, "-m", "bentoml", "serve"]
    assert "serving.service:PredictionService" in command
    assert command[command.index("--port") + 1] == "3123"
    assert command[command.index("--host") + 1] == "127.0.0.1"


def test_serve_shares_one_secret_with_its_workers_in_development(monkeypatch):
    monkeypatch.delenv("NBA_JWT_SECRET", raising=False)
    env, generated = serve_env("development", None)
    assert generated and len(env["NBA_JWT_SECRET"]) >= 32
    env, generated = serve_env("production", None)
    assert not generated and "NBA_JWT_SECRET" not in env


def test_serve_refuses_production_without_a_secret(tmp_path):
    result = invoke(
        ["serve", "--port", "3999"],
        {"NBA_ENVIRONMENT": "production", "NBA_STATE_DIR": str(tmp_path), "NBA_JWT_SECRET": None},
    )
    assert result.exit_code == 2
    assert "NBA_JWT_SECRET" in result.output


def test_serve_says_what_a_new_store_lacks_before_it_starts(tmp_path, stack):
    """An empty store: no games, no user; each note names the command that fixes it. The
    serving stack's store has both: nothing to say."""
    from sqlalchemy import create_engine

    from core.settings import Settings
    from flows.resources import open_store
    from flows.serving_cli import readiness_notes

    empty = open_store(Settings(state_dir=tmp_path / "new"))
    assert readiness_notes(empty) == [
        "the store holds no games: predictions answer 503 until `nba-mlops ingest` has run",
        "no active API user: nobody can log in; add one with "
        "`nba-mlops users add NAME --password-stdin`",
    ]
    ready = create_engine(stack.database_url)
    try:
        assert readiness_notes(ready) == []
    finally:
        ready.dispose()
