"""Features of real seasons from the shared snapshot (skipped when it is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from features import GAME_FEATURES, PLAYER_FEATURES
from features.game import build_game_features
from features.player import build_player_features
from tests.features.frames import (
    games_from_team_games,
    load_snapshot_player_games,
    load_snapshot_team_games,
)

pytestmark = pytest.mark.snapshot
SEASONS = ("2021-22", "2022-23")


@pytest.fixture(scope="module")
def real(data_dir):
    team_games = load_snapshot_team_games(data_dir, SEASONS)
    games = games_from_team_games(team_games)
    return games, team_games


def test_real_game_features(real):
    games, team_games = real
    out = build_game_features(games, team_games)
    assert len(out) == 2 * 1230
    assert not out.loc[:, list(GAME_FEATURES)].isna().any().any()
    late = out.loc[out["season"] == "2022-23"]
    # measured on 2022-23: 0.198 (last-10 margin), 0.250 (EWM margin), 0.260 (Elo probability)
    assert late["diff_margin_avg_10"].corr(late["home_win"]) > 0.15
    assert late["diff_margin_ewm"].corr(late["home_win"]) > 0.22
    assert late["elo_home_prob"].corr(late["home_win"]) > 0.22
    # the Elo favourite wins clearly more often than not, and probabilities are sane
    favourite_won = (late["elo_home_prob"] > 0.5) == (late["home_win"] == 1.0)
    assert favourite_won.mean() > 0.6
    assert late["elo_home_prob"].between(0.03, 0.97).all()
    assert late["home_rest_days"].between(1, 7).all()


def test_real_player_features(real, data_dir):
    games, team_games = real
    players = load_snapshot_player_games(data_dir, SEASONS[1:])
    out = build_player_features(players, team_games, games)
    assert len(out) == len(players)
    assert not out.loc[:, list(PLAYER_FEATURES)].isna().any().any()
    rotation = out.loc[out["min_avg_season"] >= 20]
    assert 0.3 < len(rotation) / len(out) < 0.8
    err_last10 = np.abs(rotation["pts_avg_10"] - rotation["pts"]).mean()
    assert 4.0 < err_last10 < 7.0
    assert rotation["player_pts_ewm"].corr(rotation["pts"]) > 0.5
