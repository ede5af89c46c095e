"""Synthetic feature frames that follow the features contract (CONTRACTS.md), with signal.

Games: every team has a latent strength per season (persistent across seasons); the home team
wins when ``3 + 8 * (s_home - s_away) + noise > 0``. The feature columns are noisy views of the
strengths (recent margins, Elo), plus pure-noise rest days. Players: every player-season has a
true scoring mean; ``pts_avg_season`` / ``pts_avg_10`` / ``min_avg_season`` are computed from
the simulated earlier games exactly as the contract defines them, and ``role_pts`` is a sharper
noisy view of the true mean, so a model can beat the season average.

The tests use their own feature names (passed as ``feature_names``), so they do not depend on the
features package being present.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.params import (
    DEFAULT_PARAMS,
    GameForestParams,
    GameTreeParams,
)

GAME_FEATURES = (
    "home_margin_avg_10",
    "away_margin_avg_10",
    "home_rest_days",
    "away_rest_days",
    "elo_diff",
)
PLAYER_FEATURES = ("pts_avg_season", "pts_avg_10", "min_avg_season", "role_pts", "is_home")

GAME_SEASONS = tuple(f"{y}-{(y + 1) % 100:02d}" for y in range(2012, 2020))
PLAYER_SEASONS = tuple(f"{y}-{(y + 1) % 100:02d}" for y in range(2015, 2020))

# Small and fast versions of the defaults (the defaults themselves are exercised once).
FAST_PARAMS = {
    **DEFAULT_PARAMS,
    "game-tree": GameTreeParams(max_depth=4, min_samples_leaf=40, calibration_folds=3),
    "game-forest": GameForestParams(
        n_estimators=40, max_depth=6, min_samples_leaf=20, n_jobs=1, calibration_folds=3
    ),
}


def _game_id(season: str, prefix: str, number: int) -> str:
    return f"{prefix}{season[2:4]}{number:05d}"


def make_game_frame(
    seasons=GAME_SEASONS, games_per_season: int = 400, n_teams: int = 12, seed: int = 0
) -> pd.DataFrame:
    """A game feature frame: contract columns + GAME_FEATURES + baseline inputs."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, n_teams)
    rows = []
    for season in seasons:
        strength = 0.6 * strength + rng.normal(0, 0.8, n_teams)
        start = pd.Timestamp(f"{season[:4]}-11-01")
        wins = np.zeros(n_teams)
        played = np.zeros(n_teams)
        n_playoffs = 20
        for i in range(games_per_season + n_playoffs):
            home, away = rng.choice(n_teams, 2, replace=False)
            playoff = i >= games_per_season
            diff = strength[home] - strength[away]
            home_win = float(3 + 8 * diff + rng.normal(0, 12) > 0)
            rows.append(
                {
                    "game_id": _game_id(season, "004" if playoff else "002", i),
                    "game_date": start + pd.Timedelta(days=i // 6),
                    "season": season,
                    "season_type": "playoffs" if playoff else "regular",
                    "home_team_id": 1610612700 + home,
                    "away_team_id": 1610612700 + away,
                    "neutral_site": False,
                    "home_win": home_win,
                    "home_margin_avg_10": 8 * strength[home] + rng.normal(0, 5),
                    "away_margin_avg_10": 8 * strength[away] + rng.normal(0, 5),
                    "home_rest_days": float(rng.integers(1, 5)),
                    "away_rest_days": float(rng.integers(1, 5)),
                    "elo_diff": 100 * diff + rng.normal(0, 60),
                    "home_win_pct": wins[home] / played[home] if played[home] else 0.5,
                    "away_win_pct": wins[away] / played[away] if played[away] else 0.5,
                    "elo_home_prob": 1 / (1 + np.exp(-(0.25 + 0.9 * diff + rng.normal(0, 0.4)))),
                }
            )
            wins[home] += home_win
            wins[away] += 1 - home_win
            played[[home, away]] += 1
    frame = pd.DataFrame(rows)
    # A team's first games have no recent margin yet.
    frame.loc[frame.index % 50 == 0, "home_margin_avg_10"] = np.nan
    return frame.sort_values(["game_date", "game_id"], ignore_index=True)


def make_player_frame(
    seasons=PLAYER_SEASONS, n_players: int = 40, games: int = 30, seed: int = 1
) -> pd.DataFrame:
    """A player feature frame: contract columns + PLAYER_FEATURES + baseline inputs."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 5.0, n_players)
    rows = []
    for season in seasons:
        mean = np.clip(0.7 * base + 0.3 * rng.gamma(2.0, 5.0, n_players), 1, 35)
        start = pd.Timestamp(f"{season[:4]}-11-01")
        for g in range(games):
            for p in range(n_players):
                minutes = float(np.clip(8 + 1.1 * mean[p] + rng.normal(0, 4), 1, 44))
                rows.append(
                    {
                        "game_id": _game_id(season, "002", g * 100 + p // 2),
                        "player_id": 200 + p,
                        "team_id": 1610612700 + p % 10,
                        "opponent_team_id": 1610612700 + (p + 1) % 10,
                        "game_date": start + pd.Timedelta(days=2 * g),
                        "season": season,
                        "is_home": float(p % 2 == 0),
                        "pts": float(max(0.0, mean[p] + rng.normal(0, 5))),
                        "minutes": minutes,
                        "role_pts": mean[p] + rng.normal(0, 1.5),
                    }
                )
    frame = pd.DataFrame(rows).sort_values(["game_date", "game_id", "player_id"], ignore_index=True)
    by_season = frame.groupby(["player_id", "season"], sort=False)
    frame["pts_avg_season"] = by_season["pts"].transform(lambda s: s.shift(1).expanding().mean())
    frame["min_avg_season"] = by_season["minutes"].transform(
        lambda s: s.shift(1).expanding().mean()
    )
    frame["pts_avg_10"] = frame.groupby("player_id", sort=False)["pts"].transform(
        lambda s: s.shift(1).rolling(10, min_periods=1).mean()
    )
    return frame.drop(columns=["minutes"])
