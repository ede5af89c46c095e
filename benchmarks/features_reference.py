"""A straightforward per-game reference for the game features (benchmark and cross-check only).

For each game it filters the team's earlier rows out of the team log and computes the features
directly (tail/mean, a streak walk, ``np.polyfit``): slow, but easy to read and independent of the
vectorized grouped sums and as-of joins of ``features``. Elo is not recomputed (it is the same
sequential pass either way).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS = (5, 10, 20)
REST_CAP = 7.0


def team_log(team_games: pd.DataFrame) -> pd.DataFrame:
    """One row per (game, team) with the opponent's points and the game's possessions."""
    tg = team_games.loc[team_games["pts"].notna()].copy()
    tg["poss_own"] = tg["fga"] - tg["oreb"] + tg["tov"] + 0.44 * tg["fta"]
    opp = tg[["game_id", "team_id", "pts", "poss_own", "is_home"]].rename(
        columns={
            "team_id": "opp_team_id",
            "pts": "opp_pts",
            "poss_own": "opp_poss",
            "is_home": "opp_is_home",
        }
    )
    log = tg.merge(opp, on="game_id")
    log = log.loc[log["team_id"] != log["opp_team_id"]].copy()
    log["margin"] = log["pts"] - log["opp_pts"]
    log["poss"] = 0.5 * (log["poss_own"] + log["opp_poss"])
    log["venue"] = log["is_home"].astype(int) - log["opp_is_home"].astype(int)
    return log.sort_values(["game_date", "game_id"]).reset_index(drop=True)


def _side(log: pd.DataFrame, team: int, date: pd.Timestamp, season: str) -> dict[str, float]:
    hist = log[(log["team_id"] == team) & (log["game_date"] < date)]
    earlier = log[log["game_date"] < date]
    league_pts = earlier["pts"].mean() if len(earlier) else 100.0
    league_rating = 100 * league_pts / earlier["poss"].mean() if len(earlier) else 100 / 0.95
    league_pace = 240 * earlier["poss"].sum() / earlier["minutes"].sum() if len(earlier) else 95.0
    out: dict[str, float] = {}
    for w in WINDOWS:
        last = hist.tail(w)
        pts = last["pts"].mean() if len(last) else league_pts
        opp = last["opp_pts"].mean() if len(last) else league_pts
        out[f"pts_for_avg_{w}"] = pts
        out[f"pts_against_avg_{w}"] = opp
        out[f"margin_avg_{w}"] = pts - opp
    last10 = hist.tail(10)
    if len(last10):
        out["off_rating_10"] = 100 * last10["pts"].sum() / last10["poss"].sum()
        out["def_rating_10"] = 100 * last10["opp_pts"].sum() / last10["poss"].sum()
        out["pace_10"] = 240 * last10["poss"].sum() / last10["minutes"].sum()
    else:
        out["off_rating_10"] = out["def_rating_10"] = league_rating
        out["pace_10"] = league_pace
    if len(last10) >= 3:
        out["margin_trend_10"] = float(np.polyfit(np.arange(len(last10)), last10["margin"], 1)[0])
    else:
        out["margin_trend_10"] = 0.0

    season_hist = hist[hist["season"] == season]
    wins = (season_hist["margin"] > 0).to_numpy()
    out["season_games"] = float(len(season_hist))
    out["win_pct"] = wins.mean() if len(wins) else 0.5
    streak = 0
    for won in wins[::-1]:
        if streak == 0:
            streak = 1 if won else -1
        elif (streak > 0) == won:
            streak += 1 if won else -1
        else:
            break
    out["streak"] = float(streak)
    home = season_hist[season_hist["venue"] == 1]
    away = season_hist[season_hist["venue"] == -1]
    out["home_win_pct_smoothed"] = ((home["margin"] > 0).sum() + 1) / (len(home) + 2)
    out["away_win_pct_smoothed"] = ((away["margin"] > 0).sum() + 1) / (len(away) + 2)
    if len(season_hist):
        dates = season_hist["game_date"].to_numpy()
        rest = (date - pd.Timestamp(dates[-1])).days
        out["rest_days"] = float(min(rest, REST_CAP))
        two_back = (date - pd.Timestamp(dates[-2])).days if len(dates) >= 2 else 99
        out["three_in_four"] = float(two_back <= 3)
    else:
        out["rest_days"] = REST_CAP
        out["three_in_four"] = 0.0
    out["b2b"] = float(out["rest_days"] == 1.0)
    return out


def reference_game_features(games: pd.DataFrame, team_games: pd.DataFrame) -> pd.DataFrame:
    """The non-Elo game features of ``games``, one game at a time."""
    log = team_log(team_games)
    rows = []
    for g in games.itertuples(index=False):
        date = pd.Timestamp(g.game_date)
        feats: dict[str, object] = {"game_id": g.game_id}
        sides = {}
        for side, team in (("home", g.home_team_id), ("away", g.away_team_id)):
            sides[side] = _side(log, team, date, g.season)
            feats.update({f"{side}_{k}": v for k, v in sides[side].items()})
        for name in (
            "margin_avg_5",
            "margin_avg_10",
            "margin_avg_20",
            "win_pct",
            "streak",
            "rest_days",
            "margin_trend_10",
        ):
            feats[f"diff_{name}"] = sides["home"][name] - sides["away"][name]
        feats["home_home_win_pct"] = sides["home"]["home_win_pct_smoothed"]
        feats["away_away_win_pct"] = sides["away"]["away_win_pct_smoothed"]
        meetings = log[
            (log["team_id"] == g.home_team_id)
            & (log["opp_team_id"] == g.away_team_id)
            & (log["game_date"] < date)
        ].tail(5)
        feats["h2h_games"] = float(len(meetings))
        feats["h2h_home_win_pct"] = (meetings["margin"] > 0).mean() if len(meetings) else 0.5
        feats["h2h_home_margin_avg"] = meetings["margin"].mean() if len(meetings) else 0.0
        rows.append(feats)
    return pd.DataFrame(rows)
