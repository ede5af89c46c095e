"""Idempotent upserts and all-or-nothing writes, on SQLite and on the local PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.db import Game, PlayerGame, TeamGame, make_engine
from core.migrate import current_revision, head_revision, upgrade
from ingest.normalize import games_from_team_games, normalize_player_games, normalize_team_games
from ingest.storage import (
    Batch,
    read_games,
    read_player_games,
    read_team_games,
    store_status,
    write_batches,
)
from tests.builders import player_game_log, team_game_log


def make_batch(season="2022-23", n_days=5, seed=0) -> Batch:
    raw = team_game_log(season, n_days=n_days, seed=seed)
    tg = normalize_team_games(raw, season, "regular")
    pg = normalize_player_games(player_game_log(raw), season, "regular")
    return Batch(season, "regular", tg, games_from_team_games(tg), pg)


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Game.__table__, TeamGame.__table__, PlayerGame.__table__)
        )


def test_migrations_reach_head_and_rerun_is_a_no_op(engine):
    assert current_revision(engine) == head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_reingesting_changes_nothing_and_new_games_append(engine):
    batch = make_batch(n_days=5)
    first = write_batches(engine, [batch])
    assert first["games"].inserted == 10 and first["team_games"].inserted == 20
    assert counts(engine) == (10, 20, 60)
    again = write_batches(engine, [make_batch(n_days=5)])
    assert again["team_games"].as_dict() == {"inserted": 0, "updated": 0, "unchanged": 20}
    assert again["player_games"].inserted == 0 and again["player_games"].unchanged == 60
    more = write_batches(engine, [make_batch(n_days=7)])  # same first 5 days, 2 more
    assert more["games"].inserted == 4 and more["games"].unchanged == 10
    assert counts(engine) == (14, 28, 84)


def test_a_corrected_row_is_updated_in_place(engine):
    batch = make_batch(n_days=2)
    write_batches(engine, [batch])
    fixed = make_batch(n_days=2)
    fixed.team_games.loc[0, "ast"] += 1
    result = write_batches(engine, [fixed])
    assert result["team_games"].updated == 1 and result["team_games"].inserted == 0
    stored = read_team_games(engine).set_index(["game_id", "team_id"])
    key = (fixed.team_games.loc[0, "game_id"], fixed.team_games.loc[0, "team_id"])
    assert stored.loc[key, "ast"] == fixed.team_games.loc[0, "ast"]
    assert counts(engine) == (4, 8, 24)


def test_failure_mid_write_leaves_the_store_as_it_was(engine):
    write_batches(engine, [make_batch("2021-22", n_days=3)])
    before = (counts(engine), read_team_games(engine))
    good = make_batch("2022-23", n_days=3)
    bad = make_batch("2023-24", n_days=3)
    bad.player_games.loc[0, "player_name"] = None  # NOT NULL violation in the last table written
    with pytest.raises(Exception, match=r"(?i)null"):
        write_batches(engine, [good, bad])
    assert counts(engine) == before[0]
    pd.testing.assert_frame_equal(read_team_games(engine), before[1])


def test_round_trip_keeps_types_and_values(engine):
    batch = make_batch(n_days=3)
    write_batches(engine, [batch])
    pd.testing.assert_frame_equal(read_team_games(engine), batch.team_games, check_dtype=False)
    pd.testing.assert_frame_equal(read_games(engine), batch.games, check_dtype=False)
    pg = read_player_games(engine)
    assert pg["game_id"].map(len).eq(10).all()
    assert len(pg) == len(batch.player_games)


def test_status_counts_per_season(engine):
    write_batches(engine, [make_batch("2021-22", n_days=2), make_batch("2022-23", n_days=3)])
    rows = store_status(engine)
    assert [(r["season"], r["games"], r["team_rows"], r["player_rows"]) for r in rows] == [
        ("2021-22", 4, 8, 24),
        ("2022-23", 6, 12, 36),
    ]
    assert rows[0]["first_date"] == "2021-10-20"
