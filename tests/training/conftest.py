"""Fixtures for the training tests; the generators live in ``training_synthetic``."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.training.training_synthetic import (
    FAST_PARAMS,
    GAME_FEATURES,
    PLAYER_FEATURES,
    make_game_frame,
    make_player_frame,
)
from training.backtest import BacktestResult, walk_forward


@pytest.fixture(scope="session")
def game_frame() -> pd.DataFrame:
    return make_game_frame()


@pytest.fixture(scope="session")
def player_frame() -> pd.DataFrame:
    return make_player_frame()


@pytest.fixture(scope="session")
def backtest(game_frame, player_frame) -> BacktestResult:
    """One shared walk-forward run on the two last seasons (read-only in tests)."""
    return walk_forward(
        game_frame,
        player_frame,
        ["2018-19", "2019-20"],
        params=FAST_PARAMS,
        game_features=GAME_FEATURES,
        player_features=PLAYER_FEATURES,
    )
