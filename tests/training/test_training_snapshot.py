"""A real walk-forward season from the shared snapshot: sane numbers, no leak (skipped without it).

Trained on three seasons only to stay fast; the full backtest is run by the training flow.
"""

from __future__ import annotations

import pandas as pd
import pytest

from ingest.normalize import games_from_team_games, normalize_player_games, normalize_team_games
from ingest.snapshot import SnapshotSource
from training.backtest import walk_forward

pytestmark = [pytest.mark.snapshot, pytest.mark.slow]
TEAM_SEASONS = ("2019-20", "2020-21", "2021-22", "2022-23")
PLAYER_SEASONS = ("2020-21", "2021-22", "2022-23")


@pytest.fixture(scope="module")
def real_backtest(data_dir):
    from features.game import build_game_features
    from features.player import build_player_features

    source = SnapshotSource(data_dir)
    team_games = pd.concat(
        [
            normalize_team_games(source.team_game_log(s, "regular"), s, "regular")
            for s in TEAM_SEASONS
        ],
        ignore_index=True,
    )
    games = games_from_team_games(team_games)
    players = pd.concat(
        [
            normalize_player_games(source.player_game_log(s, "regular"), s, "regular")
            for s in PLAYER_SEASONS
        ],
        ignore_index=True,
    )
    return walk_forward(
        build_game_features(games, team_games),
        build_player_features(players, team_games, games),
        ["2022-23"],
        models=["game-logistic", "player-ridge"],
    )


def test_real_game_season_is_sane_and_leak_free(real_backtest):
    game = {name: m["2022-23"] for name, m in real_backtest.game.items()}
    assert game["game-logistic"]["n"] == 1230
    # NBA pre-game models land around 62-68%: above 70% over a season means a leak
    assert 0.58 < game["game-logistic"]["accuracy"] < 0.70
    assert game["game-logistic"]["log_loss"] < game["baseline-home"]["log_loss"] - 0.02
    assert game["game-logistic"]["log_loss"] < game["baseline-record"]["log_loss"]


def test_real_points_season_beats_the_baselines_without_a_leak(real_backtest):
    points = {name: m["2022-23"] for name, m in real_backtest.points.items()}
    ridge = points["player-ridge"]
    assert ridge["mae"] < points["baseline-season-avg"]["mae"]
    assert ridge["mae_rotation"] < points["baseline-last10"]["mae_rotation"]
    assert ridge["mae"] > 3.5  # a game's points are noisy: a much lower error means a leak
    assert 0.3 < ridge["n_rotation"] / ridge["n"] < 0.8
