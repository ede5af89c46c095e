"""The database schema (SQLAlchemy 2) and the engine. Migrations live in ``core/migrations``.

The same schema runs on SQLite (the default) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "teams"

    team_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    abbreviation: Mapped[str] = mapped_column(String(8), index=True)
    full_name: Mapped[str] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(64))
    nickname: Mapped[str | None] = mapped_column(String(64))


class Player(Base):
    __tablename__ = "players"

    player_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    full_name: Mapped[str] = mapped_column(String(128), index=True)
    is_active: Mapped[bool | None] = mapped_column(Boolean)


class Game(Base):
    __tablename__ = "games"

    game_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    season: Mapped[str] = mapped_column(String(7))
    season_type: Mapped[str] = mapped_column(String(16))
    game_date: Mapped[date] = mapped_column(Date, index=True)
    home_team_id: Mapped[int] = mapped_column(BigInteger)
    away_team_id: Mapped[int] = mapped_column(BigInteger)
    home_pts: Mapped[int] = mapped_column(Integer)
    away_pts: Mapped[int] = mapped_column(Integer)
    neutral_site: Mapped[bool] = mapped_column(Boolean, default=False)
    row_hash: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_games_season", "season", "season_type"),)


class BoxStats:
    """The counting stats of a box score (see ``ingest.schema.BOX_STATS``)."""

    fgm: Mapped[int] = mapped_column(Integer)
    fga: Mapped[int] = mapped_column(Integer)
    fg3m: Mapped[int] = mapped_column(Integer)
    fg3a: Mapped[int] = mapped_column(Integer)
    ftm: Mapped[int] = mapped_column(Integer)
    fta: Mapped[int] = mapped_column(Integer)
    oreb: Mapped[int] = mapped_column(Integer)
    dreb: Mapped[int] = mapped_column(Integer)
    reb: Mapped[int] = mapped_column(Integer)
    ast: Mapped[int] = mapped_column(Integer)
    stl: Mapped[int] = mapped_column(Integer)
    blk: Mapped[int] = mapped_column(Integer)
    tov: Mapped[int] = mapped_column(Integer)
    pf: Mapped[int] = mapped_column(Integer)
    pts: Mapped[int] = mapped_column(Integer)
    plus_minus: Mapped[int] = mapped_column(Integer)


class TeamGame(BoxStats, Base):
    """A team's box score in one game."""

    __tablename__ = "team_games"

    game_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    team_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    season: Mapped[str] = mapped_column(String(7))
    season_type: Mapped[str] = mapped_column(String(16))
    game_date: Mapped[date] = mapped_column(Date)
    team_abbreviation: Mapped[str] = mapped_column(String(8))
    matchup: Mapped[str] = mapped_column(String(16))
    is_home: Mapped[bool] = mapped_column(Boolean)
    neutral_site: Mapped[bool] = mapped_column(Boolean)
    wl: Mapped[str] = mapped_column(String(1))
    minutes: Mapped[float] = mapped_column(Float)
    row_hash: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_team_games_season", "season", "season_type"),)


class PlayerGame(BoxStats, Base):
    """A player's box score in one game he played."""

    __tablename__ = "player_games"

    game_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    player_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    player_name: Mapped[str] = mapped_column(String(128))
    team_id: Mapped[int] = mapped_column(BigInteger)
    season: Mapped[str] = mapped_column(String(7))
    season_type: Mapped[str] = mapped_column(String(16))
    game_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[float] = mapped_column(Float)
    row_hash: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_player_games_season", "season", "season_type"),
        Index("ix_player_games_player", "player_id", "game_date"),
    )


class ScheduledGame(Base):
    """A game from a scoreboard: scheduled, live or final."""

    __tablename__ = "scheduled_games"

    game_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    game_date: Mapped[date] = mapped_column(Date, index=True)
    season: Mapped[str] = mapped_column(String(7))
    home_team_id: Mapped[int] = mapped_column(BigInteger)
    away_team_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestRun(Base):
    """One ingest command or flow run: what it read, what it wrote, how it ended."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    seasons: Mapped[str] = mapped_column(Text)
    season_type: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict | None] = mapped_column(JSON)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)


class ModelMetadata(Base):
    """Every registration, promotion, refusal and rollback of a registered model version."""

    __tablename__ = "model_metadata"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # register | promote | refuse | rollback
    alias: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    metrics: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """An API user: bcrypt password hash only, never the password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="user")  # user | admin
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Prediction(Base):
    """One served prediction: who asked, which model version answered, what in and out."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    username: Mapped[str | None] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(64), index=True)
    model_version: Mapped[str] = mapped_column(String(16))
    # The game or player-game predicted, when known (joins with results for monitoring).
    game_date: Mapped[date | None] = mapped_column(Date, index=True)
    game_id: Mapped[str | None] = mapped_column(String(10))
    home_team_id: Mapped[int | None] = mapped_column(BigInteger)
    away_team_id: Mapped[int | None] = mapped_column(BigInteger)
    player_id: Mapped[int | None] = mapped_column(BigInteger)
    inputs: Mapped[dict | None] = mapped_column(JSON)  # the request and the feature values used
    outputs: Mapped[dict | None] = mapped_column(JSON)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditLog(Base):
    """Logins, model loads and unloads, promotions: who did what, when, from where."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    request_id: Mapped[str | None] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str | None] = mapped_column(String(128))
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict | None] = mapped_column(JSON)


class DriftReport(Base):
    """The summary of one monitoring report; the full HTML and JSON live in the reports folder."""

    __tablename__ = "drift_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # features | predictions | performance
    model_name: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(16))
    reference_window: Mapped[str | None] = mapped_column(String(64))
    current_window: Mapped[str | None] = mapped_column(String(64))
    share_drifted: Mapped[float | None] = mapped_column(Float)
    drift_detected: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_tests: Mapped[int] = mapped_column(Integer, default=0)
    html_path: Mapped[str | None] = mapped_column(Text)
    json_path: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict | None] = mapped_column(JSON)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; for SQLite the parent folder is created and foreign keys are on."""
    if url.startswith("sqlite:///"):
        db_path = url.removeprefix("sqlite:///")
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    except ImportError as exc:  # a dialect whose driver is not installed (mysql://, ...)
        raise ValueError(
            f"no database driver for {url.split(':', 1)[0]}:// ({exc.name} is not installed); "
            "the platform ships SQLite and PostgreSQL (postgresql+psycopg2://)"
        ) from exc
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - driver callback
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
