"""Roster strength of a game's two teams from the player logs: who played the team's last game.

A team's box-score form (``features.team``) reacts slowly to a star's injury, a rest night or
an off-season trade. Here each player carries his own recent level, the mean Hollinger game
score of his last ``ROSTER_WINDOW`` games (any team, any season), and a team is the sum of the
levels of the players who played its previous game. As everywhere in ``features``, a game sees
only rows dated strictly before it: the previous game's players and their levels through that
game.

Player logs may cover fewer seasons than team logs (the shared snapshot has them from 2015-16):
a side whose previous game has no player rows, or lies in an earlier season, is unknown, and a
game with an unknown side gets 0 for the strengths and ``roster_known`` 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import (
    as_dates,
    end_of_day,
    lookup_before,
    require_columns,
    rolling_counts,
    rolling_sums,
)
from features.catalog import GAME_ROSTER_FEATURES

# Games in a player's level (his last N games, the current one included).
ROSTER_WINDOW = 60
# Hollinger's game score: points + 0.4 FGM - 0.7 FGA - 0.4 (FTA - FTM) + 0.7 OREB + 0.3 DREB
# + STL + 0.7 AST + 0.7 BLK - 0.4 PF - TOV.
GAME_SCORE_WEIGHTS = {
    "pts": 1.0,
    "fgm": 0.4,
    "fga": -0.7,
    "fta": -0.4,
    "ftm": 0.4,
    "oreb": 0.7,
    "dreb": 0.3,
    "stl": 1.0,
    "ast": 0.7,
    "blk": 0.7,
    "pf": -0.4,
    "tov": -1.0,
}
ROSTER_PLAYER_COLUMNS = (
    "game_id",
    "player_id",
    "team_id",
    "game_date",
    "minutes",
    *GAME_SCORE_WEIGHTS,
)
ROSTER_TEAM_COLUMNS = ("game_id", "team_id", "season", "game_date", "pts")


def game_scores(box: pd.DataFrame) -> np.ndarray:
    """Hollinger game score of each player row (``GAME_SCORE_WEIGHTS``)."""
    return sum(w * box[c].astype(float).to_numpy() for c, w in GAME_SCORE_WEIGHTS.items())


def build_roster_state(player_games: pd.DataFrame, team_games: pd.DataFrame) -> pd.DataFrame:
    """Per team and game day: ``roster_gs``, the summed levels (mean game score over each one's
    last ``ROSTER_WINDOW`` games, that day's included) of the players who played the team's game
    that day; NaN when that team game has no player rows. Rows without points (requests) or
    without minutes are not games played."""
    require_columns(player_games, ROSTER_PLAYER_COLUMNS, "player_games")
    require_columns(team_games, ROSTER_TEAM_COLUMNS, "team_games")
    played = player_games["pts"].notna() & (player_games["minutes"] > 0)
    box = player_games.loc[played, list(ROSTER_PLAYER_COLUMNS)]
    players = pd.DataFrame(
        {
            "game_id": box["game_id"].astype(str).to_numpy(),
            "player_id": box["player_id"].astype("int64").to_numpy(),
            "team_id": box["team_id"].astype("int64").to_numpy(),
            "game_date": as_dates(box["game_date"]).to_numpy(),
            "gs": game_scores(box.fillna({c: 0.0 for c in GAME_SCORE_WEIGHTS})),
        }
    )
    players = players.sort_values(["player_id", "game_date", "game_id"], ignore_index=True)
    sums = rolling_sums(players, ["player_id"], ["gs"], ROSTER_WINDOW)[:, 0]
    players["level"] = sums / rolling_counts(players, ["player_id"], ROSTER_WINDOW)
    per_game = players.groupby(["team_id", "game_id"], sort=False)["level"].sum()

    teams = team_games.loc[team_games["pts"].notna(), list(ROSTER_TEAM_COLUMNS[:4])].copy()
    teams["game_id"] = teams["game_id"].astype(str)
    teams["team_id"] = teams["team_id"].astype("int64")
    teams["season"] = teams["season"].astype(str)
    teams["game_date"] = as_dates(teams["game_date"])
    teams = teams.drop_duplicates(["team_id", "game_id"]).merge(
        per_game.rename("roster_gs").reset_index(), on=["team_id", "game_id"], how="left"
    )
    teams = teams.sort_values(["team_id", "game_date", "game_id"], ignore_index=True)
    return end_of_day(teams[["team_id", "game_date", "season", "roster_gs"]], ["team_id"])


def roster_features(target: pd.DataFrame, roster_state: pd.DataFrame | None) -> pd.DataFrame:
    """``GAME_ROSTER_FEATURES`` of ``target`` games (``home_team_id, away_team_id, game_date,
    season``) from ``build_roster_state``: each side's ``roster_gs`` of its previous game this
    season, their difference and ``roster_known``; all 0 unless both sides are known (and all 0
    without a state)."""
    values = {}
    for side in ("home", "away"):
        if roster_state is None:
            values[side] = np.full(len(target), np.nan)
            continue
        keys = pd.DataFrame(
            {
                "team_id": target[f"{side}_team_id"].astype("int64").to_numpy(),
                "game_date": target["game_date"].to_numpy(),
            },
            index=target.index,
        )
        found = lookup_before(keys, roster_state, by=["team_id"])
        same_season = found["season"].to_numpy() == target["season"].astype(str).to_numpy()
        values[side] = np.where(same_season, found["roster_gs"].to_numpy(dtype=float), np.nan)
    known = np.isfinite(values["home"]) & np.isfinite(values["away"])
    home = np.where(known, values["home"], 0.0)
    away = np.where(known, values["away"], 0.0)
    columns = (home, away, home - away, known.astype(float))
    return pd.DataFrame(dict(zip(GAME_ROSTER_FEATURES, columns, strict=True)), index=target.index)
