"""Game features: one row per game, built only from team games of earlier dates.

Both sides of a game read their team's state as of the day before the game (``features.team``);
the pair's head-to-head record and the Elo win probability are added, then home-minus-away
differences. Games without a score (requests to predict, possibly dated after the last played
game) get features from every earlier played game and never update any state.
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
from features.catalog import (
    GAME_BASELINES,
    GAME_DIFF_FEATURES,
    GAME_FEATURES,
    GAME_ID_COLUMNS,
    GAME_SIDE_FEATURES,
    H2H_WINDOW,
)
from features.elo import EloParams, win_probability
from features.roster import build_roster_state, roster_features
from features.team import build_team_log, build_team_state, team_features

GAMES_REQUIRED = (
    "game_id",
    "season",
    "season_type",
    "game_date",
    "home_team_id",
    "away_team_id",
    "home_pts",
    "away_pts",
    "neutral_site",
)
TEAM_GAMES_REQUIRED = (
    "game_id",
    "team_id",
    "season",
    "game_date",
    "is_home",
    "minutes",
    "pts",
    "fga",
    "oreb",
    "tov",
    "fta",
    "fg3m",
    "fg3a",
)


def _targets(games: pd.DataFrame) -> pd.DataFrame:
    """The games in contract order, with clean dtypes (a copy: the input is never touched)."""
    target = games.loc[:, list(GAMES_REQUIRED)].copy()
    target["game_id"] = target["game_id"].astype(str)
    target["season"] = target["season"].astype(str)
    target["game_date"] = as_dates(target["game_date"])
    target["home_team_id"] = target["home_team_id"].astype("int64")
    target["away_team_id"] = target["away_team_id"].astype("int64")
    target["home_pts"] = target["home_pts"].astype(float)
    target["away_pts"] = target["away_pts"].astype(float)
    target["neutral_site"] = target["neutral_site"].astype("boolean").fillna(False).astype(bool)
    return target.sort_values(["game_date", "game_id"], kind="stable", ignore_index=True)


def build_h2h_state(log: pd.DataFrame) -> pd.DataFrame:
    """Per (team, opponent, day): wins, margin sum and count over their last meetings."""
    pairs = log.sort_values(["team_id", "opp_team_id", "game_date", "game_id"], ignore_index=True)
    keys = ["team_id", "opp_team_id"]
    sums = rolling_sums(pairs, keys, ["win", "margin"], H2H_WINDOW)
    state = pd.DataFrame(
        {
            "team_id": pairs["team_id"],
            "opp_team_id": pairs["opp_team_id"],
            "game_date": pairs["game_date"],
            "h2h_n": rolling_counts(pairs, keys, H2H_WINDOW),
            "h2h_wins": sums[:, 0],
            "h2h_margin": sums[:, 1],
        }
    )
    return end_of_day(state, keys)


def h2h_features(target: pd.DataFrame, h2h_state: pd.DataFrame) -> pd.DataFrame:
    """The home team's record and mean margin in the pair's last meetings (any season)."""
    keys = target[["home_team_id", "away_team_id", "game_date"]].set_axis(
        ["team_id", "opp_team_id", "game_date"], axis=1
    )
    found = lookup_before(keys, h2h_state, by=["team_id", "opp_team_id"])
    n = found["h2h_n"].fillna(0.0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        win_pct = np.where(n > 0, found["h2h_wins"].to_numpy() / n, 0.5)
        margin = np.where(n > 0, found["h2h_margin"].to_numpy() / n, 0.0)
    return pd.DataFrame(
        {"h2h_games": n, "h2h_home_win_pct": win_pct, "h2h_home_margin_avg": margin},
        index=target.index,
    )


def _side(target: pd.DataFrame, side: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "team_id": target[f"{side}_team_id"].to_numpy(),
            "game_date": target["game_date"].to_numpy(),
            "season": target["season"].to_numpy(),
        },
        index=target.index,
    )


def game_features_from_state(
    target: pd.DataFrame,
    state: pd.DataFrame,
    league: pd.DataFrame,
    h2h_state: pd.DataFrame,
    params: EloParams,
    roster_state: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``GAME_FEATURES`` and the baseline inputs of ``target`` (``home_team_id, away_team_id,
    game_date, season, neutral_site``) from team, head-to-head and roster state built
    beforehand: the assembly shared by ``build_game_features`` and the service, which keeps its
    state between requests. Without ``roster_state`` (no player logs) the roster features are
    those of an unknown roster (``features.roster``)."""
    parts = []
    sides = {}
    for side in ("home", "away"):
        feats = team_features(_side(target, side), state, league, params)
        sides[side] = feats
        parts.append(feats[list(GAME_SIDE_FEATURES)].add_prefix(f"{side}_"))
    diffs = pd.DataFrame(
        {f"diff_{name}": sides["home"][name] - sides["away"][name] for name in GAME_DIFF_FEATURES},
        index=target.index,
    )
    venue = pd.DataFrame(
        {
            "home_court": (~target["neutral_site"]).astype(float),
            "home_home_win_pct": sides["home"]["home_win_pct_smoothed"],
            "home_home_edge": sides["home"]["home_edge"],
            "away_away_win_pct": sides["away"]["away_win_pct_smoothed"],
        },
        index=target.index,
    )
    venue["elo_home_adv"] = np.where(target["neutral_site"], 0.0, sides["home"]["league_hfa"])
    hfa = venue["elo_home_adv"].to_numpy()
    venue["elo_home_prob"] = win_probability(
        sides["home"]["elo"].to_numpy() - sides["away"]["elo"].to_numpy() + hfa
    )
    roster = roster_features(target, roster_state)
    interactions = pd.DataFrame(
        {"diff_elo_roster_known": diffs["diff_elo"] * roster["roster_known"]}, index=target.index
    )
    parts += [diffs, venue, h2h_features(target, h2h_state), roster, interactions]
    return pd.concat(parts, axis=1)


def build_game_features(
    games: pd.DataFrame,
    team_games: pd.DataFrame,
    elo_params: EloParams | None = None,
    player_games: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features of every row of ``games`` from the ``team_games`` (and, for the roster features,
    ``player_games``) rows of earlier dates.

    Returns one row per game in ``games.sort_values(["game_date", "game_id"])`` order with the
    id columns, ``home_win`` (NaN when unplayed), ``GAME_FEATURES`` (never NaN) and the baseline
    inputs ``home_win_pct``, ``away_win_pct`` and ``elo_home_prob``. Team rows without points are
    ignored, so requests never feed any state. Without ``player_games`` every game's roster is
    unknown (``roster_known`` 0); pass the player logs wherever the models are trained or served.
    """
    require_columns(games, GAMES_REQUIRED, "games")
    require_columns(team_games, TEAM_GAMES_REQUIRED, "team_games")
    params = elo_params or EloParams()
    target = _targets(games)
    log = build_team_log(team_games)
    state, league = build_team_state(log, params)

    roster = None if player_games is None else build_roster_state(player_games, team_games)
    features = game_features_from_state(
        target, state, league, build_h2h_state(log), params, roster_state=roster
    )
    out = pd.concat([target, features], axis=1)
    played = out["home_pts"].notna() & out["away_pts"].notna()
    out["home_win"] = np.where(played, (out["home_pts"] > out["away_pts"]).astype(float), np.nan)
    columns = [*GAME_ID_COLUMNS, *GAME_FEATURES]
    columns += [c for c in GAME_BASELINES if c not in columns]
    return out.loc[:, columns]


def request_game_id(home_team_id: int, game_date: pd.Timestamp | str) -> str:
    """A stable 10-character ID for a requested game: ``9`` + yymmdd + the home ID's last 3 digits.

    A team plays at most once a day, so (date, home team) identifies a game; real stats.nba.com
    IDs start with ``00`` and never collide with it.
    """
    return f"9{pd.Timestamp(game_date):%y%m%d}{int(home_team_id) % 1000:03d}"


def game_request_frame(
    home_team_id: int,
    away_team_id: int,
    game_date: pd.Timestamp | str,
    season: str,
    neutral_site: bool = False,
    season_type: str = "regular",
    game_id: str | None = None,
) -> pd.DataFrame:
    """A one-row ``games`` frame for a game to predict (no score).

    Serving appends it to the played games and calls ``build_game_features(games, team_games)``;
    the request's row is the one with this ``game_id`` (default ``request_game_id(...)``).
    """
    date = pd.Timestamp(game_date).normalize()
    return pd.DataFrame(
        {
            "game_id": [game_id or request_game_id(home_team_id, date)],
            "season": [season],
            "season_type": [season_type],
            "game_date": pd.Series([date], dtype="datetime64[ns]"),
            "home_team_id": [int(home_team_id)],
            "away_team_id": [int(away_team_id)],
            "home_pts": [np.nan],
            "away_pts": [np.nan],
            "neutral_site": [bool(neutral_site)],
        }
    )
