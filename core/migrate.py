"""Schema migrations (Alembic), run programmatically so every entry point can bring a store up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (idempotent). A database stamped with a revision
    this project does not have (another application's, such as MLflow's own store) is a
    ValueError saying so, and is left unchanged."""
    from alembic.util.exc import CommandError

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except CommandError as exc:
        if "Can't locate revision" not in str(exc):
            raise
        url = engine.url.render_as_string(hide_password=True)
        raise ValueError(
            f"the database {url} is not this project's store: its schema revision is unknown "
            f"here ({exc}); point NBA_DATABASE_URL (or NBA_STATE_DIR) at the store of nba-mlops"
        ) from None


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
