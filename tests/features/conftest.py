"""Fixtures for the feature tests: a small hand-checked schedule and a random league."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.features.frames import (
    games_from,
    player_games_from,
    random_specs,
    team_games_from,
)

# Team 1's games are hand-checked in test_game.py (margins: +10, -5, +20, +10, -1, +5, +6, then a
# new season). Teams 2-4 fill the schedule.
HAND_SPECS = [
    ("0022200001", "2022-10-20", "2022-23", 1, 2, 110, 100),
    ("0022200002", "2022-10-21", "2022-23", 3, 1, 105, 100),
    ("0022200003", "2022-10-21", "2022-23", 4, 2, 99, 101),
    ("0022200004", "2022-10-23", "2022-23", 1, 4, 120, 100),
    ("0022200005", "2022-10-24", "2022-23", 2, 1, 90, 100),
    ("0022200006", "2022-10-24", "2022-23", 3, 4, 111, 104),
    ("0022200007", "2022-10-27", "2022-23", 1, 3, 100, 101),
    ("0022200008", "2022-10-29", "2022-23", 4, 1, 95, 100),
    ("0022200009", "2022-11-05", "2022-23", 1, 2, 108, 102),
    ("0022300001", "2023-10-20", "2023-24", 1, 3, 99, 97),
]


@pytest.fixture
def hand_specs() -> list[tuple]:
    return list(HAND_SPECS)


@pytest.fixture
def hand_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return games_from(HAND_SPECS), team_games_from(HAND_SPECS)


@pytest.fixture(scope="session")
def league_specs() -> list[tuple]:
    return random_specs(n_days=40, seed=3)


@pytest.fixture
def league(league_specs) -> tuple[pd.DataFrame, pd.DataFrame]:
    return games_from(league_specs), team_games_from(league_specs)


@pytest.fixture
def league_players(league) -> pd.DataFrame:
    return player_games_from(league[1], per_team=3, seed=1)
