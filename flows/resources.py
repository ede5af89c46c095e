"""Shared resources of the entry points: the store (engine, migrated)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from core.db import make_engine
from core.migrate import upgrade
from core.settings import Settings

NOTHING_STORED = "nothing is stored (run `nba-mlops ingest` first)"


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def open_store(settings: Settings) -> Engine:
    """The store's engine, its schema migrated to the latest revision (once per process)."""
    if settings.database_url is None:
        settings.ensure_state_dir()
    return _engine_for(settings.resolved_database_url)
