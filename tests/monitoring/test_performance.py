"""Logged predictions joined with played games: every played game counts exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring.performance import (
    baseline_metrics,
    join_game_results,
    join_points_results,
    summarize_performance,
)
from monitoring.predictions import with_day

BOS, LAL, GSW, NYK = 1610612738, 1610612747, 1610612744, 1610612752


def _games() -> pd.DataFrame:
    """Three played games on two days and one scheduled (no score yet)."""
    return pd.DataFrame(
        {
            "game_id": ["0022300001", "0022300002", "0022300003", "0022300004"],
            "season": "2023-24",
            "season_type": "regular",
            "game_date": pd.to_datetime(["2023-11-01", "2023-11-01", "2023-11-02", "2023-11-03"]),
            "home_team_id": [BOS, GSW, LAL, BOS],
            "away_team_id": [LAL, NYK, BOS, NYK],
            "home_pts": [110.0, 99.0, 120.0, np.nan],
            "away_pts": [100.0, 104.0, 101.0, np.nan],
            "neutral_site": False,
        }
    )


def _prediction(i, day, home, away, p, *, hour=12, version="1", game_id=None, elo=0.5):
    return {
        "id": i,
        "request_id": f"r{i}",
        "created_at": datetime(2023, 11, int(day[-2:]), hour, tzinfo=UTC),
        "endpoint": "/api/predict/simple",
        "model_name": "game-logistic",
        "model_version": version,
        "game_date": pd.Timestamp(day).date() if home else None,
        "game_id": game_id,
        "home_team_id": home,
        "away_team_id": away,
        "player_id": None,
        "inputs": {"features": {"elo_home_prob": elo}},
        "outputs": {"home_win_probability": p},
    }


@pytest.fixture
def log() -> pd.DataFrame:
    rows = [
        # game 1 asked three times (a cached repeat, then a newer version): the last one counts
        _prediction(1, "2023-11-01", BOS, LAL, 0.30, hour=9),
        _prediction(2, "2023-11-01", BOS, LAL, 0.30, hour=10),
        _prediction(3, "2023-11-01", BOS, LAL, 0.80, hour=11, version="2"),
        # game 2 once, with a synthetic request id (no game_id): joined on date and teams
        _prediction(4, "2023-11-01", GSW, NYK, 0.40, elo=0.45),
        # game 3 never predicted; game 4 predicted but not played yet
        _prediction(5, "2023-11-03", BOS, NYK, 0.60),
        # a game that does not exist (wrong home team for that day)
        _prediction(6, "2023-11-02", NYK, GSW, 0.50),
        # an explicit feature vector: no game named, never joined
        _prediction(7, "2023-11-02", None, None, 0.55),
    ]
    return with_day(pd.DataFrame(rows), None, None)


def test_every_played_game_counts_once(log):
    joined = join_game_results(log, _games())
    assert joined["game_id"].tolist() == ["0022300001", "0022300002"]
    assert joined["game_id"].is_unique
    first = joined.iloc[0]
    assert first["prediction"] == pytest.approx(0.80) and first["model_version"] == "2"
    assert joined["home_win"].tolist() == [1.0, 0.0]
    assert joined["elo_home_prob"].tolist() == [0.5, 0.45]


def test_the_join_does_not_depend_on_row_order(log):
    shuffled = log.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(
        join_game_results(shuffled, _games()), join_game_results(log, _games())
    )


def test_a_game_played_later_joins_once_its_result_is_stored(log):
    games = _games()
    assert "0022300004" not in set(join_game_results(log, games)["game_id"])
    games.loc[3, ["home_pts", "away_pts"]] = [101.0, 95.0]
    joined = join_game_results(log, games)
    assert joined["game_id"].tolist() == ["0022300001", "0022300002", "0022300004"]


def test_performance_against_the_backtest(log):
    joined = join_game_results(log, _games())
    live = -(np.log(0.80) + np.log(0.60)) / 2  # 0.367
    drop = summarize_performance("game", joined, {"log_loss": 0.30}, threshold=0.02, min_rows=2)
    assert drop.n == 2
    assert drop.live["log_loss"] == pytest.approx(live)
    assert drop.rise == pytest.approx(live - 0.30)
    assert drop.dropped is True
    within = summarize_performance("game", joined, {"log_loss": 0.36}, threshold=0.02, min_rows=2)
    assert within.dropped is False
    few = summarize_performance("game", joined, {"log_loss": 0.30}, threshold=0.02, min_rows=3)
    assert few.rise > 0.02 and few.dropped is False  # too few games to call it a drop
    assert sum(row["count"] for row in drop.calibration) == 2


def test_baselines_are_scored_on_the_same_games(log):
    joined = join_game_results(log, _games())
    scored = baseline_metrics(joined, home_rate=0.55)
    assert {k: v["n"] for k, v in scored.items()} == {
        "model": 2,
        "baseline-home": 2,
        "baseline-elo": 2,
    }
    assert scored["baseline-home"]["accuracy"] == 0.5  # home won game 1, lost game 2
    assert scored["baseline-elo"]["log_loss"] == pytest.approx(-(np.log(0.5) + np.log(0.55)) / 2)


def test_points_join_counts_each_player_game_once():
    player_games = pd.DataFrame(
        {
            "game_id": ["0022300001", "0022300001", "0022300003"],
            "player_id": [1, 2, 1],
            "team_id": [BOS, LAL, BOS],
            "season": "2023-24",
            "game_date": pd.to_datetime(["2023-11-01", "2023-11-01", "2023-11-02"]),
            "pts": [20, 8, 31],
        }
    )
    base = {
        "request_id": "r",
        "endpoint": "/api/predict/player",
        "model_name": "player-ridge",
        "model_version": "1",
        "game_id": None,
        "home_team_id": BOS,
        "away_team_id": LAL,
        "inputs": {},
    }
    rows = [
        {
            **base,
            "id": 1,
            "created_at": datetime(2023, 11, 1, 9, tzinfo=UTC),
            "game_date": pd.Timestamp("2023-11-01").date(),
            "player_id": 1,
            "outputs": {"predicted_points": 15.0},
        },
        {
            **base,
            "id": 2,
            "created_at": datetime(2023, 11, 1, 10, tzinfo=UTC),
            "game_date": pd.Timestamp("2023-11-01").date(),
            "player_id": 1,
            "outputs": {
                "predicted_points": 18.0,
                "interval": {"low": 15.0, "high": 21.0, "level": 0.8},  # holds his 20
            },
        },
        {
            **base,
            "id": 3,
            "created_at": datetime(2023, 11, 2, 9, tzinfo=UTC),
            "game_date": pd.Timestamp("2023-11-02").date(),
            "player_id": 1,
            "outputs": {
                "predicted_points": 25.0,
                "interval": {"low": 20.0, "high": 30.0, "level": 0.8},  # misses his 31
            },
        },
        {
            **base,
            "id": 4,
            "created_at": datetime(2023, 11, 2, 9, tzinfo=UTC),
            "game_date": pd.Timestamp("2023-11-02").date(),
            "player_id": 2,
            "outputs": {"predicted_points": 9.0},
        },
    ]
    joined = join_points_results(with_day(pd.DataFrame(rows), None, None), player_games)
    assert list(zip(joined["player_id"], joined["prediction"], joined["pts"], strict=True)) == [
        (1, 18.0, 20.0),
        (1, 25.0, 31.0),
    ]
    summary = summarize_performance("points", joined, {"mae": 3.0}, threshold=0.3, min_rows=2)
    assert summary.live["mae"] == pytest.approx(4.0) and summary.dropped
    # the logged intervals held one of the two: their live coverage, next to their level
    assert summary.live["interval_coverage"] == pytest.approx(0.5)
    assert summary.live["n_interval"] == 2 and summary.live["interval_level"] == 0.8
    unlogged = joined.assign(interval_low=np.nan, interval_high=np.nan)
    summary = summarize_performance("points", unlogged, {"mae": 3.0}, threshold=0.3, min_rows=2)
    assert "interval_coverage" not in summary.live and "n_interval" not in summary.live


def test_a_game_is_scored_with_the_last_prediction_made_before_its_day_ended(log):
    again = _prediction(8, "2023-11-01", GSW, NYK, 0.95)
    again["created_at"] = datetime(2023, 11, 3, 1, tzinfo=UTC)  # two days after game 2
    evening = _prediction(9, "2023-11-01", BOS, LAL, 0.65)
    evening["created_at"] = datetime(2023, 11, 2, 1, 30, tzinfo=UTC)  # 20:30 in New York
    rows = [*log.drop(columns="day").to_dict("records"), again, evening]
    joined = join_game_results(with_day(pd.DataFrame(rows), None, None), _games())
    by_game = joined.set_index("game_id")["prediction"]
    assert by_game["0022300001"] == pytest.approx(0.65)  # made on its day, US time
    assert by_game["0022300002"] == pytest.approx(0.40)  # the one made after it is not used
