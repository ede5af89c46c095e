"""The replay summary's points section: MAE next to the season average, and how often the
logged intervals held the points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.replay import points_summary, render_markdown


def test_the_points_section_says_how_often_the_logged_intervals_held():
    joined = pd.DataFrame(
        {
            "pts": [20.0, 31.0, 4.0, 12.0],
            "prediction": [18.0, 25.0, 5.0, 10.0],
            "interval_low": [15.0, 20.0, 0.0, np.nan],  # the last row logged no interval
            "interval_high": [21.0, 30.0, 9.0, np.nan],
            "interval_level": [0.8, 0.8, 0.8, np.nan],
            "player_pts_avg_season": [17.0, 27.0, 6.0, 11.0],
        }
    )
    doc = points_summary(joined)
    assert doc["model"]["mae"] == pytest.approx((2 + 6 + 1 + 2) / 4)
    assert doc["model"]["interval_coverage"] == pytest.approx(2 / 3)
    assert doc["model"]["n_interval"] == 3
    assert "interval_coverage" not in doc["baseline-season-avg"]
    replay = {
        "season": "2023-24",
        "trained_through": "2022-23",
        "days": 1,
        "first_day": "2023-10-24",
        "last_day": "2023-10-24",
        "games_predicted": 2,
        "player_predictions": 4,
        "drift_every_days": 7,
        "checks": [],
        "seconds": 1.0,
        "games": {"n": 0, "home_rate": 0.55, "metrics": {}},
        "points": doc,
        "champions": [],
        "retrains": [],
        "timings": {},
    }
    text = render_markdown(replay)
    assert "| model | 2.750 |" in text and "| 66.7% of 3 (80% intervals) |" in text
    (avg,) = [line for line in text.splitlines() if line.startswith("| baseline-season-avg |")]
    assert avg.endswith("| 4 |  |")
