"""Reading and writing the normalized tables through SQLAlchemy (SQLite and PostgreSQL).

Writes are idempotent upserts inside one transaction: each row carries a content hash, rows whose
key is new are inserted, rows whose hash changed are replaced, identical rows are left alone. If
anything fails the transaction rolls back and the store is as it was.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, Engine, Table, and_, delete, func, insert, select, tuple_

from core.db import Game, IngestRun, Player, PlayerGame, ScheduledGame, Team, TeamGame
from ingest.schema import (
    GAME_COLUMNS,
    GAME_KEY,
    PLAYER_GAME_COLUMNS,
    PLAYER_GAME_KEY,
    TEAM_GAME_COLUMNS,
    TEAM_GAME_KEY,
    season_start_year,
)

log = logging.getLogger(__name__)

_CHUNK = 5_000


@dataclass
class Batch:
    """Normalized frames of one season and season type, ready to write."""

    season: str
    season_type: str
    team_games: pd.DataFrame
    games: pd.DataFrame
    player_games: pd.DataFrame | None = None
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: WriteCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def row_hashes(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """A stable 64-bit content hash per row (signed, to fit a BIGINT)."""
    return pd.util.hash_pandas_object(frame.loc[:, list(columns)], index=False).astype("int64")


def frame_digest(frames: Iterable[pd.DataFrame]) -> str:
    """SHA-256 over the row hashes of several frames: the lineage hash of an input."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def batch_key(season: str, season_type: str) -> str:
    return f"{season} {season_type}"


def batch_digest(batch: Batch) -> str:
    """Content digest of one normalized batch (what an unchanged re-ingest reproduces)."""
    frames = [batch.games, batch.team_games]
    if batch.player_games is not None:
        frames.append(batch.player_games)
    return frame_digest(frames)


def stored_digests(engine: Engine) -> dict[str, tuple[str, list[int] | None]]:
    """Per batch key, the digest recorded by the latest successful ingest that wrote it, and
    the rows the store held of that season and type after it (None before they were recorded)."""
    out: dict[str, tuple[str, list[int] | None]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(IngestRun.counts).where(IngestRun.status == "ok").order_by(IngestRun.id.desc())
        ).all()
    for (counts,) in rows:
        held = (counts or {}).get("held") or {}
        for key, digest in ((counts or {}).get("digests") or {}).items():
            out.setdefault(key, (digest, held.get(key)))
    return out


def last_ingest(engine: Engine) -> datetime | None:
    """When the newest successful ingest finished, in UTC (None: none has). SQLite gives the
    stored UTC time back without its zone; PostgreSQL with it."""
    with engine.connect() as conn:
        finished = conn.execute(
            select(func.max(IngestRun.finished_at)).where(IngestRun.status == "ok")
        ).scalar_one()
    if finished is None or finished.tzinfo is not None:
        return finished
    return finished.replace(tzinfo=UTC)


def batch_rows(batch: Batch) -> list[int]:
    """Games, team rows and player rows of one batch."""
    players = 0 if batch.player_games is None else len(batch.player_games)
    return [len(batch.games), len(batch.team_games), players]


def unchanged_batches(engine: Engine, batches: Sequence[Batch]) -> set[str]:
    """Keys of the batches the store already holds exactly: same digest as the last successful
    ingest of that season and type, and the store holds the rows it held after that ingest
    (the batch's own rows, plus any the source no longer has, which ingest keeps)."""
    known = stored_digests(engine)
    if not known:
        return set()
    with engine.connect() as conn:
        now = held_rows(conn)
    same = set()
    for b in batches:
        key = batch_key(b.season, b.season_type)
        digest, held = known.get(key, (None, None))
        if digest == batch_digest(b) and now.get(key) == (held or batch_rows(b)):
            same.add(key)
    return same


HELD_ROWS = ("games", "team_rows", "player_rows")  # the order of held_rows and batch_rows


def held_rows(conn: Connection) -> dict[str, list[int]]:
    """Per batch key, the games, team rows and player rows the store holds."""
    out: dict[str, list[int]] = {}
    for i, table in enumerate((Game.__table__, TeamGame.__table__, PlayerGame.__table__)):
        stmt = select(table.c.season, table.c.season_type, func.count()).group_by(
            table.c.season, table.c.season_type
        )
        for season, season_type, n in conn.execute(stmt):
            out.setdefault(batch_key(season, season_type), [0, 0, 0])[i] = int(n)
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date
    return out.to_dict("records")


def _insert(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, table, frame)
        return
    for start in range(0, len(frame), _CHUNK):
        conn.execute(insert(table), _records(frame.iloc[start : start + _CHUNK]))


def _copy_postgres(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """PostgreSQL's COPY: an order of magnitude faster than INSERT for bulk rows."""
    import io

    buf = io.StringIO()
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    out.to_csv(buf, index=False, header=False, na_rep="\\N")
    buf.seek(0)
    cols = ", ".join(f'"{c}"' for c in out.columns)
    dbapi = conn.connection.driver_connection
    with dbapi.cursor() as cur:
        cur.copy_expert(f"COPY {table.name} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)


def upsert_frame(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    columns: Sequence[str],
    key: Sequence[str],
    scope: dict[str, object],
    verify: bool = False,
) -> WriteCounts:
    """Upsert ``frame`` into ``table`` by content hash, comparing only rows inside ``scope``.

    ``scope`` (column -> value) limits the existing rows read for comparison, e.g. one season and
    season type. Rows of the scope that are absent from ``frame`` are kept (ingest only adds and
    corrects; it never deletes). ``verify`` hashes the stored values themselves instead of
    trusting their ``row_hash`` (``ingest --full``: a row edited outside the platform is
    rewritten).
    """
    frame = frame.loc[:, list(columns)].copy()
    frame["row_hash"] = row_hashes(frame, columns).to_numpy()
    key_cols = [table.c[k] for k in key]
    where = and_(*(table.c[c] == v for c, v in scope.items()))
    if verify:
        stored = pd.DataFrame(
            conn.execute(select(*(table.c[c] for c in columns)).where(where)).all(),
            columns=list(columns),
        )
        existing = stored.loc[:, list(key)].assign(
            row_hash=row_hashes(_like(stored, frame), columns).to_numpy()
        )
    else:
        existing = pd.DataFrame(
            conn.execute(select(*key_cols, table.c.row_hash).where(where)).all(),
            columns=[*key, "row_hash"],
        )
    merged = frame.merge(existing, on=list(key), how="left", suffixes=("", "_old"))
    new = merged["row_hash_old"].isna()
    changed = ~new & (merged["row_hash_old"] != merged["row_hash"])
    counts = WriteCounts(
        inserted=int(new.sum()), updated=int(changed.sum()), unchanged=int((~new & ~changed).sum())
    )
    if changed.any():
        stale = merged.loc[changed, list(key)]
        for start in range(0, len(stale), _CHUNK):
            part = stale.iloc[start : start + _CHUNK]
            keys = list(part.itertuples(index=False, name=None))
            if len(key) == 1:
                conn.execute(delete(table).where(key_cols[0].in_([k[0] for k in keys])))
            else:
                conn.execute(delete(table).where(tuple_(*key_cols).in_(keys)))
    to_write = merged.loc[new | changed, [*columns, "row_hash"]]
    if len(to_write):
        _insert(conn, table, to_write)
    return counts


def _like(stored: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``stored`` (values read back from the database) with the dtypes of ``frame`` (the
    normalized batch), so equal values hash equal."""
    out = stored.copy()
    for column in stored.columns:
        if len(out) and out[column].dtype != frame[column].dtype:
            out[column] = out[column].astype(frame[column].dtype)
    return out


def write_batches(engine: Engine, batches: Sequence[Batch]) -> dict[str, WriteCounts]:
    """Write every batch in ONE transaction: all of them land, or none does."""
    with engine.begin() as conn:
        return upsert_batches(conn, batches)


def upsert_batches(
    conn: Connection, batches: Sequence[Batch], verify: bool = False
) -> dict[str, WriteCounts]:
    """Upsert every batch in the caller's transaction (``conn``); ``verify``: see
    :func:`upsert_frame`."""
    totals = {"games": WriteCounts(), "team_games": WriteCounts(), "player_games": WriteCounts()}
    for batch in batches:
        scope = {"season": batch.season, "season_type": batch.season_type}
        totals["games"].add(
            upsert_frame(conn, Game.__table__, batch.games, GAME_COLUMNS, GAME_KEY, scope, verify)
        )
        totals["team_games"].add(
            upsert_frame(
                conn,
                TeamGame.__table__,
                batch.team_games,
                TEAM_GAME_COLUMNS,
                TEAM_GAME_KEY,
                scope,
                verify,
            )
        )
        if batch.player_games is not None and len(batch.player_games):
            totals["player_games"].add(
                upsert_frame(
                    conn,
                    PlayerGame.__table__,
                    batch.player_games,
                    PLAYER_GAME_COLUMNS,
                    PLAYER_GAME_KEY,
                    scope,
                    verify,
                )
            )
        log.info("wrote %s %s", batch.season, batch.season_type)
    return totals


def _upsert_by_id(conn: Connection, table: Table, frame: pd.DataFrame, id_col: str) -> WriteCounts:
    """Small reference tables: insert new ids, update rows whose values changed."""
    cols = list(frame.columns)
    existing = pd.DataFrame(conn.execute(select(*(table.c[c] for c in cols))).all(), columns=cols)
    merged = frame.merge(existing, on=id_col, how="left", suffixes=("", "_old"), indicator=True)
    new = merged["_merge"] == "left_only"
    other = [c for c in cols if c != id_col]
    differs = pd.Series(False, index=merged.index)
    for c in other:
        a, b = merged[c], merged[f"{c}_old"]
        differs |= ~((a == b) | (a.isna() & b.isna()))
    changed = ~new & differs
    if new.any():
        conn.execute(insert(table), _records(merged.loc[new, cols]))
    for row in _records(merged.loc[changed, cols]):
        conn.execute(
            table.update()
            .where(table.c[id_col] == row[id_col])
            .values(**{c: row[c] for c in other})
        )
    return WriteCounts(int(new.sum()), int(changed.sum()), int((~new & ~changed).sum()))


def write_reference(
    engine: Engine, teams: pd.DataFrame | None, players: pd.DataFrame | None
) -> dict[str, WriteCounts]:
    """Upsert the teams and players lists (one transaction)."""
    with engine.begin() as conn:
        return upsert_reference(conn, teams, players)


def upsert_reference(
    conn: Connection, teams: pd.DataFrame | None, players: pd.DataFrame | None
) -> dict[str, WriteCounts]:
    """Upsert the teams and players lists in the caller's transaction (``conn``)."""
    out: dict[str, WriteCounts] = {}
    if teams is not None and len(teams):
        out["teams"] = _upsert_by_id(
            conn,
            Team.__table__,
            teams.loc[:, ["team_id", "abbreviation", "full_name", "city", "nickname"]],
            "team_id",
        )
    if players is not None and len(players):
        out["players"] = _upsert_by_id(
            conn,
            Player.__table__,
            players.loc[:, ["player_id", "full_name", "is_active"]],
            "player_id",
        )
    return out


def write_schedule(engine: Engine, schedule: pd.DataFrame) -> WriteCounts:
    """Upsert scoreboard rows (scheduled, live or final games) by game_id."""
    cols = ["game_id", "game_date", "season", "home_team_id", "away_team_id", "status"]
    with engine.begin() as conn:
        return _upsert_by_id(conn, ScheduledGame.__table__, schedule.loc[:, cols], "game_id")


# Reading ---------------------------------------------------------------------------------------
def _read(engine: Engine, table: Table, columns: Sequence[str], seasons, season_type):
    stmt = select(*(table.c[c] for c in columns))
    if seasons:
        stmt = stmt.where(table.c.season.in_(list(seasons)))
    if season_type:
        stmt = stmt.where(table.c.season_type == season_type)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(stmt).all(), columns=list(columns))
    if "game_date" in frame:
        frame["game_date"] = pd.to_datetime(frame["game_date"])
    for col in ("is_home", "neutral_site"):
        if col in frame:
            frame[col] = frame[col].astype(bool)
    return frame.sort_values(["game_date", *columns[:2]], ignore_index=True)


def read_games(engine: Engine, seasons=None, season_type: str | None = None) -> pd.DataFrame:
    return _read(engine, Game.__table__, GAME_COLUMNS, seasons, season_type)


def read_team_games(engine: Engine, seasons=None, season_type: str | None = None) -> pd.DataFrame:
    return _read(engine, TeamGame.__table__, TEAM_GAME_COLUMNS, seasons, season_type)


def read_player_games(engine: Engine, seasons=None, season_type: str | None = None) -> pd.DataFrame:
    return _read(engine, PlayerGame.__table__, PLAYER_GAME_COLUMNS, seasons, season_type)


def read_seasons(engine: Engine) -> list[str]:
    """The seasons with a stored game, oldest first."""
    with engine.connect() as conn:
        seasons = conn.execute(select(Game.season).distinct()).scalars().all()
    return sorted(seasons, key=season_start_year)


def read_teams(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(Team.__table__)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in Team.__table__.c])


def store_status(engine: Engine) -> list[dict]:
    """Per season and season type: games, team rows and player rows, ordered by season."""
    counts: dict[tuple[str, str], dict] = {}
    with engine.connect() as conn:
        for key, rows in held_rows(conn).items():
            season, season_type = key.split(" ", 1)
            counts[(season, season_type)] = {
                "season": season,
                "season_type": season_type,
                **dict(zip(HELD_ROWS, rows, strict=True)),
            }
        for (season, season_type), entry in counts.items():
            first, last = conn.execute(
                select(func.min(Game.game_date), func.max(Game.game_date)).where(
                    Game.season == season, Game.season_type == season_type
                )
            ).one()
            entry["first_date"] = str(first) if first else None
            entry["last_date"] = str(last) if last else None
    return [counts[k] for k in sorted(counts, key=lambda k: (k[0], k[1] != "regular", k[1]))]
