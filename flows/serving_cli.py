"""``nba-mlops serve`` and ``nba-mlops users``: registered on the main CLI by ``register``."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICE = "serving.service:PredictionService"


def serve_command(host: str, port: int) -> list[str]:
    """``bentoml serve`` for the prediction service, from the repository's working directory."""
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
        "--working-dir",
        str(REPO_ROOT),
    ]


def settings_env(settings) -> dict[str, str]:
    """The settings as ``NBA_*`` variables (paths resolved), so the server process sees exactly
    these whatever its working directory."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        key = f"NBA_{name.upper()}"
        env[key] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return env


def serve_env(environment: str, jwt_secret: str | None) -> tuple[dict[str, str], bool]:
    """The server's environment; in development without a secret, a fresh one shared by every
    worker (returned flag True: tokens end when the server stops)."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "DO_NOT_TRACK": "1"}
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    generated = False
    if not jwt_secret and environment != "production":
        env["NBA_JWT_SECRET"] = secrets.token_urlsafe(48)
        generated = True
    return env, generated


def register(app: typer.Typer) -> None:
    """Add the serving commands to the ``nba-mlops`` app."""
    app.command()(serve)
    users = typer.Typer(
        help="API users: add, list, disable, enable, password.", no_args_is_help=True
    )
    users.command("add")(users_add)
    users.command("list")(users_list)
    users.command("disable")(users_disable)
    users.command("enable")(users_enable)
    users.command("password")(users_password)
    app.add_typer(users, name="users")


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 3000,
) -> None:
    """Start the prediction API (`bentoml serve` underneath); Ctrl-C stops it."""
    from flows.cli import _fail, _settings, err, out

    settings = _settings()
    try:
        from core.processes import check_port
        from serving.auth import resolve_secret

        resolve_secret(settings.environment, settings.jwt_secret)
        check_port(host, port)
        engine = _engine(settings)
        try:
            notes = readiness_notes(engine)
        finally:
            engine.dispose()  # the service opens its own; none is held while it runs
    except Exception as exc:
        raise _fail(exc) from None
    for note in notes:
        err.print(f"[yellow]{note}[/]")
    env, generated = serve_env(settings.environment, settings.jwt_secret)
    env.update(settings_env(settings))
    if generated:
        err.print(
            "[yellow]NBA_JWT_SECRET is not set: using a random secret for this run "
            "(tokens stop working when the server stops)[/]"
        )
    out.print(
        f"prediction API on http://{host}:{port} (docs: http://{host}:{port}/, "
        f"health: http://{host}:{port}/api/health); Ctrl-C stops it"
    )
    from core.processes import run_in_foreground

    # Ctrl-C and SIGTERM reach every worker, which stops gracefully (the service flushes its
    # buffered rows); only what still runs after the grace period is killed.
    raise typer.Exit(run_in_foreground(serve_command(host, port), env=env, cwd=REPO_ROOT))


def readiness_notes(engine) -> list[str]:
    """What a server on this store would lack, each with the command that provides it: games
    (predictions answer 503 without them) and an active API user (nobody could log in)."""
    from sqlalchemy import func, select

    from core.db import Game, User

    with engine.connect() as conn:
        games = conn.scalar(select(func.count()).select_from(Game))
        users = conn.scalar(select(func.count()).select_from(User).where(User.is_active))
    notes = []
    if not games:
        notes.append(
            "the store holds no games: predictions answer 503 until `nba-mlops ingest` has run"
        )
    if not users:
        notes.append(
            "no active API user: nobody can log in; add one with "
            "`nba-mlops users add NAME --password-stdin`"
        )
    return notes


def _engine(settings):
    from flows.resources import open_store

    return open_store(settings)


NO_USERS = "no API user is stored (add one with `nba-mlops users add NAME --password-stdin`)"


def _users_store(settings):
    """The store of a command that reads or changes existing users: a local state folder that
    does not exist is refused (a ValueError), not made anew (a mistyped NBA_STATE_DIR)."""
    if settings.database_url is None:
        settings.existing_state_dir(NO_USERS)
    return _engine(settings)


def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="May load and unload models.")] = False,
) -> None:
    """Create an API user (bcrypt-hashed password; the password itself is never stored)."""
    from flows.cli import _fail, _settings, out

    settings = _settings()
    password = _password_from_stdin(password_stdin)
    from serving.auth import add_user

    try:
        user = add_user(
            _engine(settings),
            name,
            password,
            "admin" if admin else "user",
            cost=settings.bcrypt_cost,
        )
    except Exception as exc:
        raise _fail(exc) from None
    out.print(f"user {user.username} added (role {user.role})")


def users_list() -> None:
    """Every API user: role, active or disabled, last login."""
    from rich.table import Table

    from flows.cli import _fail, _settings, out
    from serving.auth import list_users

    settings = _settings()
    try:
        rows = list_users(_users_store(settings))
    except Exception as exc:
        raise _fail(exc) from None
    table = Table(title="API users")
    for col in ("user", "role", "active", "created", "last login"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            row.username,
            row.role,
            "yes" if row.is_active else "disabled",
            str(row.created_at)[:19] if row.created_at else "",
            str(row.last_login)[:19] if row.last_login else "",
        )
    out.print(table)


def users_disable(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Disable a user: logins are refused and its tokens stop working (within one poll)."""
    from serving.auth import disable_user

    _change_user(name, lambda engine, _: disable_user(engine, name), "disabled")


def users_enable(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Enable a disabled user again: it can log in, and its unexpired tokens work again."""
    from serving.auth import enable_user

    _change_user(name, lambda engine, _: enable_user(engine, name), "enabled")


def users_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input.")
    ] = False,
) -> None:
    """Set a user's password. Tokens issued before stay valid until they expire
    (NBA_JWT_EXPIRY_MINUTES); disable the user to stop them at once."""
    from serving.auth import set_password

    password = _password_from_stdin(password_stdin)
    _change_user(
        name,
        lambda engine, settings: set_password(engine, name, password, cost=settings.bcrypt_cost),
        "has a new password",
    )


def _password_from_stdin(password_stdin: bool) -> str:
    from flows.cli import EXIT_BAD_INPUT, err

    if not password_stdin:
        err.print("[bold red]error:[/] give the password on standard input with --password-stdin")
        raise typer.Exit(EXIT_BAD_INPUT)
    return sys.stdin.readline().rstrip("\r\n")


def _change_user(name: str, change, done: str) -> None:
    """Apply ``change(engine, settings)`` (True if the user exists) and say what was done."""
    from flows.cli import EXIT_BAD_INPUT, _fail, _settings, err, labelled, out

    settings = _settings()
    try:
        found = change(_users_store(settings), settings)
    except Exception as exc:
        raise _fail(exc) from None
    if not found:
        err.print(labelled("error:", "bold red", f"no user named {name!r}"))
        raise typer.Exit(EXIT_BAD_INPUT)
    out.print(f"user {name} {done}")
