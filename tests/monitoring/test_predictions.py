"""Reading the prediction log as of a day: what was made after it is not seen (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.db import make_engine
from core.migrate import upgrade
from monitoring.predictions import log_predictions, read_predictions

MODEL = "game-logistic"


def _row(request_id: str, game_date: date, made: datetime, p: float) -> dict:
    return {
        "request_id": request_id,
        "created_at": made,
        "endpoint": "/api/predict/simple",
        "model_name": MODEL,
        "model_version": "1",
        "game_date": game_date,
        "home_team_id": 1610612738,
        "away_team_id": 1610612747,
        "inputs": {"features": {"elo_home_prob": 0.5}},
        "outputs": {"home_win_probability": p},
    }


def test_predictions_made_after_the_check_day_are_not_read(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    as_of = date(2024, 1, 15)
    log_predictions(
        engine,
        [
            _row("on-time", date(2024, 1, 14), datetime(2024, 1, 14, 18, tzinfo=UTC), 0.6),
            # the evening of the 14th in Los Angeles: still the day before the check
            _row("evening", date(2024, 1, 13), datetime(2024, 1, 15, 6, tzinfo=UTC), 0.7),
            _row("after", date(2024, 1, 12), datetime(2024, 2, 1, 12, tzinfo=UTC), 0.9),
        ],
    )
    everything = read_predictions(engine, [MODEL], date(2024, 1, 1), as_of)
    assert set(everything["request_id"]) == {"on-time", "evening", "after"}
    seen = read_predictions(engine, [MODEL], date(2024, 1, 1), as_of, made_before=as_of)
    assert sorted(seen["request_id"]) == ["evening", "on-time"]
