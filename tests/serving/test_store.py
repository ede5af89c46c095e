"""The store's fingerprint: the service reloads when the stored games change, and only then."""

from __future__ import annotations

import pytest

from core.db import make_engine
from core.settings import Settings
from ingest.storage import Batch, write_batches
from serving.store import fingerprint
from tests.serving.conftest import SEASONS, pg_database, season_batch, write_store


def _corrected(batch: Batch) -> Batch:
    """The batch with its first game's home score raised by 10 points (as a stats correction
    would arrive): same games, same counts, same dates."""
    games = batch.games.copy()
    team_games = batch.team_games.copy()
    game_id = games["game_id"].iloc[0]
    games.loc[games.index[0], "home_pts"] += 10
    home = (team_games["game_id"] == game_id) & (
        team_games["team_id"] == games["home_team_id"].iloc[0]
    )
    team_games.loc[home, ["pts", "plus_minus"]] += 10
    return Batch(batch.season, batch.season_type, team_games, games, batch.player_games)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, frames):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nba.db'}"
        write_store(url, frames)
        yield url
    else:
        with pg_database("nba_fingerprint") as url:
            write_store(url, frames)
            yield url


def test_a_corrected_score_changes_the_fingerprint_and_a_rerun_does_not(store_url, frames):
    engine = make_engine(store_url)
    before = fingerprint(engine)
    batch = season_batch(frames, SEASONS[-1])
    write_batches(engine, [batch])  # the same rows again: nothing changes
    assert fingerprint(engine) == before

    counts = write_batches(engine, [_corrected(batch)])
    assert counts["games"].updated == 1  # corrected in place: no new row, no new date
    assert fingerprint(engine) != before  # the poller reloads (serving/runtime.py refresh_data)
    engine.dispose()


def test_a_store_that_cannot_be_read_is_logged_once_not_on_every_poll(tmp_path):
    import logging

    from serving.runtime import Runtime

    settings = Settings(state_dir=tmp_path, jwt_secret="k" * 40)
    runtime = Runtime(settings, poll=False, log_to_stderr=False)
    runtime._migrate(runtime.engine())  # the tables, no games
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logging.getLogger("serving.runtime")
    logger.addHandler(handler)
    try:
        assert [runtime.refresh_data() for _ in range(3)] == [False, False, False]
    finally:
        logger.removeHandler(handler)
    errors = [r for r in seen if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["store could not be read"]
    assert runtime.data is None and runtime.data_error == errors[0].error
    runtime.engine().dispose()
