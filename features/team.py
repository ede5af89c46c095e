"""Team histories: each team's played games with the opponent's box score, and as-of team states.

``build_team_log`` pairs the two rows of every played game (``team_games``), ``build_team_state``
computes rolling, exponentially weighted and season-to-date values per team (each row includes its
own game) plus the Elo rating after the game, and ``team_features`` reads a team's state as of
the day before a target date and turns it into features (with fills when there is no history).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import (
    as_dates,
    days_between,
    end_of_day,
    lookup_before,
    rolling_counts,
    rolling_slope,
    rolling_sums,
)
from features.catalog import WINDOWS
from features.elo import EloParams, regress_to_mean, run_elo

# Windows (WINDOWS, from the catalog) and half-lives count games, of any season.
RATING_WINDOW = 10
TREND_WINDOW = 10
EWM_HALFLIFE = 12.0
HOME_EDGE_HALFLIFE = 60.0
REST_CAP = 7.0
FT_WEIGHT = 0.44
# Elo points per point of margin (FiveThirtyEight: spread = Elo difference / 28).
ELO_PER_POINT = 28.0
# League three-point % used by the luck adjustment: the trailing two years of games.
LEAGUE_FG3_WINDOW = "730D"
# League rating and pace that team numbers are compared with: the trailing year of games (the
# league's scoring level drifts by several points per 100 possessions over a decade).
LEAGUE_TRAILING_WINDOW = "365D"

# League-average fills when nothing earlier exists at all (the very first day of the data).
DEFAULT_PTS = 100.0
DEFAULT_POSS = 95.0
DEFAULT_PACE = 95.0
DEFAULT_FG3_RATE = 0.35

_BOX = ("pts", "fga", "oreb", "tov", "fta", "fg3m", "fg3a")


def possessions(box: pd.DataFrame, prefix: str = "") -> pd.Series:
    """Box-score possessions estimate: FGA - OREB + TOV + 0.44 * FTA."""
    return (
        box[f"{prefix}fga"]
        - box[f"{prefix}oreb"]
        + box[f"{prefix}tov"]
        + FT_WEIGHT * box[f"{prefix}fta"]
    )


def build_team_log(team_games: pd.DataFrame) -> pd.DataFrame:
    """One row per played (game, team) with the opponent's numbers, sorted by team and time.

    Rows without points (not played) are ignored. Columns: ``game_id, game_date, season, team_id,
    opp_team_id, venue`` (+1 home, -1 away, 0 neutral site), ``pts, opp_pts, margin, win,
    poss`` (the average of both teams' possession estimates), ``minutes``, ``fg3m, fg3a,
    opp_fg3m, opp_fg3a``.
    """
    cols = ["game_id", "game_date", "season", "team_id", "is_home", "minutes", *_BOX]
    tg = team_games.loc[team_games["pts"].notna(), cols].copy()
    tg["game_id"] = tg["game_id"].astype(str)
    tg["game_date"] = as_dates(tg["game_date"])
    tg["team_id"] = tg["team_id"].astype("int64")
    tg["is_home"] = tg["is_home"].astype(bool)
    opp = tg[["game_id", "team_id", "is_home", *_BOX]].rename(
        columns={c: f"opp_{c}" for c in ("team_id", "is_home", *_BOX)}
    )
    log = tg.merge(opp, on="game_id", how="inner")
    log = log.loc[log["team_id"] != log["opp_team_id"]]
    out = pd.DataFrame(
        {
            "game_id": log["game_id"].to_numpy(),
            "game_date": log["game_date"].to_numpy(),
            "season": log["season"].astype(str).to_numpy(),
            "team_id": log["team_id"].to_numpy(),
            "opp_team_id": log["opp_team_id"].to_numpy(),
            "venue": (log["is_home"].astype(int) - log["opp_is_home"].astype(int)).to_numpy(),
            "pts": log["pts"].astype(float).to_numpy(),
            "opp_pts": log["opp_pts"].astype(float).to_numpy(),
            "poss": 0.5 * (possessions(log) + possessions(log, "opp_")).to_numpy(),
            "minutes": log["minutes"].astype(float).to_numpy(),
            "fg3m": log["fg3m"].astype(float).to_numpy(),
            "fg3a": log["fg3a"].astype(float).to_numpy(),
            "opp_fg3m": log["opp_fg3m"].astype(float).to_numpy(),
            "opp_fg3a": log["opp_fg3a"].astype(float).to_numpy(),
        }
    )
    out["margin"] = out["pts"] - out["opp_pts"]
    out["win"] = (out["margin"] > 0).astype(float)
    return out.sort_values(["team_id", "game_date", "game_id"], ignore_index=True)


def played_games(log: pd.DataFrame) -> pd.DataFrame:
    """One row per played game from a team log (the home side; for neutral sites the smaller ID)."""
    home_side = (log["venue"] == 1) | ((log["venue"] == 0) & (log["team_id"] < log["opp_team_id"]))
    games = log.loc[home_side, ["game_id", "game_date", "season", "team_id", "opp_team_id"]]
    games = games.rename(columns={"team_id": "home_team_id", "opp_team_id": "away_team_id"})
    games["neutral_site"] = log.loc[home_side, "venue"].to_numpy() == 0
    games["margin"] = log.loc[home_side, "margin"].to_numpy()
    return games.sort_values(["game_date", "game_id"], ignore_index=True)


def league_fg3_rate(log: pd.DataFrame) -> pd.Series:
    """League three-point % over the trailing two years of games, up to each game's day (incl.)."""
    daily = log.groupby("game_date", sort=True)[["fg3m", "fg3a"]].sum()
    trailing = daily.rolling(LEAGUE_FG3_WINDOW).sum()
    rate = (trailing["fg3m"] / trailing["fg3a"]).fillna(DEFAULT_FG3_RATE)
    return log["game_date"].map(rate)


def attach_elo(log: pd.DataFrame, params: EloParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The team log with ``elo_pre, opp_elo_pre, elo_post, hfa_pre`` of every team-game, and
    the league home advantage at the end of every game day (``game_date, league_hfa``)."""
    games = played_games(log)
    elo = pd.concat([games, run_elo(games, params)], axis=1)
    cols = ["game_id", "hfa_pre"]
    home = elo[[*cols, "home_team_id", "home_elo_pre", "away_elo_pre", "home_elo_post"]]
    away = elo[[*cols, "away_team_id", "away_elo_pre", "home_elo_pre", "away_elo_post"]]
    names = [*cols, "team_id", "elo_pre", "opp_elo_pre", "elo_post"]
    sides = pd.concat([home.set_axis(names, axis=1), away.set_axis(names, axis=1)])
    log = log.merge(sides, on=["game_id", "team_id"], how="left", validate="one_to_one")
    daily = elo.groupby("game_date", sort=True)["hfa_post"].last()
    hfa = pd.DataFrame({"game_date": daily.index, "league_hfa": daily.to_numpy()})
    return log, hfa


def _season_streak(log: pd.DataFrame) -> np.ndarray:
    """Signed run length of the current win (+) or loss (-) streak within the season."""
    sign = np.where(log["win"].to_numpy() > 0, 1, -1)
    team = log["team_id"].to_numpy()
    season = log["season"].to_numpy()
    new_run = np.ones(len(log), dtype=bool)
    new_run[1:] = (sign[1:] != sign[:-1]) | (team[1:] != team[:-1]) | (season[1:] != season[:-1])
    run_id = np.cumsum(new_run)
    length = pd.Series(run_id).groupby(run_id).cumcount().to_numpy() + 1
    return sign * length


def adjusted_margins(log: pd.DataFrame, params: EloParams) -> pd.DataFrame:
    """Per team-game: ``adj_margin`` (opponent- and venue-adjusted) and ``luck_margin`` (the same
    with the opponent's three-point makes replaced by its attempts x the league rate)."""
    venue_pts = log["venue"] * log["hfa_pre"] / ELO_PER_POINT
    opp_strength = (log["opp_elo_pre"] - params.mean) / ELO_PER_POINT
    adj = log["margin"] - venue_pts + opp_strength
    luck = 3.0 * (log["opp_fg3a"] * league_fg3_rate(log) - log["opp_fg3m"])
    return pd.DataFrame({"adj_margin": adj, "luck_margin": adj + luck}, index=log.index)


def build_team_state(
    log: pd.DataFrame, params: EloParams | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per team and game day, the team's numbers once that day's game is in; and the league's
    running means per day (``build_league_state``).

    Rolling sums cover any season (the last N games); ``season_*`` counts reset with each season.
    """
    params = params or EloParams()
    log, hfa = attach_elo(log, params)
    log = log.sort_values(["team_id", "game_date", "game_id"], ignore_index=True)
    log = pd.concat([log, adjusted_margins(log, params)], axis=1)
    keys = ["team_id"]
    state = log[["team_id", "game_date", "season", "elo_post"]].copy()
    state["last_date"] = log["game_date"]

    for w in WINDOWS:
        sums = rolling_sums(log, keys, ["pts", "opp_pts"], w)
        state[f"n_{w}"] = rolling_counts(log, keys, w)
        state[f"pts_sum_{w}"] = sums[:, 0]
        state[f"opp_pts_sum_{w}"] = sums[:, 1]

    rated = ["pts", "opp_pts", "poss", "minutes", "adj_margin", "luck_margin"]
    sums = rolling_sums(log, keys, rated, RATING_WINDOW)
    for i, name in enumerate(rated):
        state[f"r_{name}_sum"] = sums[:, i]
    state["r_n"] = rolling_counts(log, keys, RATING_WINDOW)
    state["margin_trend"] = rolling_slope(log, keys, "margin", TREND_WINDOW)

    grouped = log.groupby("team_id", sort=False)
    for name in ("margin", "adj_margin", "luck_margin"):
        state[f"{name}_ewm"] = grouped[name].ewm(halflife=EWM_HALFLIFE).mean().to_numpy()
    at_home = log["adj_margin"].where(log["venue"] == 1)
    away = log["adj_margin"].where(log["venue"] == -1)
    home_ewm = at_home.groupby(log["team_id"]).ewm(halflife=HOME_EDGE_HALFLIFE).mean()
    away_ewm = away.groupby(log["team_id"]).ewm(halflife=HOME_EDGE_HALFLIFE).mean()
    state["home_edge"] = (home_ewm.to_numpy() - away_ewm.to_numpy()) / 2.0

    season_keys = [log["team_id"], log["season"]]
    flags = pd.DataFrame(
        {
            "season_games": 1.0,
            "season_wins": log["win"],
            "season_home_games": (log["venue"] == 1).astype(float),
            "season_home_wins": ((log["venue"] == 1) & (log["win"] > 0)).astype(float),
            "season_away_games": (log["venue"] == -1).astype(float),
            "season_away_wins": ((log["venue"] == -1) & (log["win"] > 0)).astype(float),
        }
    )
    counts = flags.groupby(season_keys, sort=False).cumsum()
    state[counts.columns] = counts.to_numpy()
    state["streak"] = _season_streak(log)
    state["prev_date"] = grouped["game_date"].shift(1).to_numpy()
    return end_of_day(state, keys), build_league_state(log, hfa)


def build_league_state(log: pd.DataFrame, hfa: pd.DataFrame) -> pd.DataFrame:
    """League-wide numbers per day (the day's games included): running means since the first
    game (fills for teams without history), the rating (points per 100 possessions) and pace of
    the trailing year of games (``league_rating_1y``, ``league_pace_1y``) and home advantage."""
    daily = log.groupby("game_date", sort=True)[["pts", "poss", "minutes"]].agg(["sum", "count"])
    cum = daily.cumsum()
    sums = daily.xs("sum", axis=1, level=1)
    trailing = sums.rolling(LEAGUE_TRAILING_WINDOW).sum()
    league = pd.DataFrame(
        {
            "game_date": cum.index,
            "league_pts": (cum[("pts", "sum")] / cum[("pts", "count")]).to_numpy(),
            "league_poss": (cum[("poss", "sum")] / cum[("poss", "count")]).to_numpy(),
            "league_pace": (240.0 * cum[("poss", "sum")] / cum[("minutes", "sum")]).to_numpy(),
            "league_rating_1y": (100.0 * trailing["pts"] / trailing["poss"]).to_numpy(),
            "league_pace_1y": (240.0 * trailing["poss"] / trailing["minutes"]).to_numpy(),
        }
    )
    return league.merge(hfa, on="game_date", how="left")


def lookup_league(
    targets: pd.DataFrame, league: pd.DataFrame, params: EloParams | None = None
) -> pd.DataFrame:
    """League means as of the day before each target date (defaults when nothing earlier)."""
    params = params or EloParams()
    left = targets[["game_date"]].assign(_key=0)
    found = lookup_before(left, league.assign(_key=0), by=["_key"])
    return found.fillna(
        {
            "league_pts": DEFAULT_PTS,
            "league_poss": DEFAULT_POSS,
            "league_pace": DEFAULT_PACE,
            "league_rating_1y": 100.0 * DEFAULT_PTS / DEFAULT_POSS,
            "league_pace_1y": DEFAULT_PACE,
            "league_hfa": params.home_advantage,
        }
    )


def _ratio(num: np.ndarray, den: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, fill)


def team_features(
    targets: pd.DataFrame,
    state: pd.DataFrame,
    league: pd.DataFrame,
    params: EloParams | None = None,
) -> pd.DataFrame:
    """Features of ``targets`` (``team_id, game_date, season``) from the team's earlier games.

    Returns a frame aligned with ``targets``, without NaN: a team with no earlier game gets the
    league means (points), 0 (margins, streak, trend), 0.5 (win %), the rest cap and the mean Elo.
    ``league_hfa`` (the Elo home advantage as of the day before) is included, and
    ``def_rating_rel_10`` / ``pace_rel_10``: the last-10 numbers minus the league's of the
    trailing year (0 without history).
    """
    params = params or EloParams()
    f = lookup_before(targets[["team_id", "game_date"]], state, by=["team_id"])
    lg = lookup_league(targets, league, params)
    has = f["last_date"].notna().to_numpy()
    same_season = has & (f["season"].to_numpy() == targets["season"].astype(str).to_numpy())
    league_pts = lg["league_pts"].to_numpy()
    league_rating = 100.0 * league_pts / lg["league_poss"].to_numpy()
    out = pd.DataFrame(index=targets.index)

    for w in WINDOWS:
        n = f[f"n_{w}"].to_numpy()
        pts = _ratio(f[f"pts_sum_{w}"].to_numpy(), n, league_pts)
        opp = _ratio(f[f"opp_pts_sum_{w}"].to_numpy(), n, league_pts)
        out[f"pts_for_avg_{w}"] = pts
        out[f"pts_against_avg_{w}"] = opp
        out[f"margin_avg_{w}"] = pts - opp

    poss = f["r_poss_sum"].to_numpy()
    out["off_rating_10"] = _ratio(100.0 * f["r_pts_sum"].to_numpy(), poss, league_rating)
    out["def_rating_10"] = _ratio(100.0 * f["r_opp_pts_sum"].to_numpy(), poss, league_rating)
    out["net_rating_10"] = out["off_rating_10"] - out["def_rating_10"]
    out["pace_10"] = _ratio(
        240.0 * poss, f["r_minutes_sum"].to_numpy(), lg["league_pace"].to_numpy()
    )
    rated = poss > 0
    out["def_rating_rel_10"] = np.where(
        rated, out["def_rating_10"] - lg["league_rating_1y"].to_numpy(), 0.0
    )
    out["pace_rel_10"] = np.where(rated, out["pace_10"] - lg["league_pace_1y"].to_numpy(), 0.0)
    n10 = f["r_n"].to_numpy()
    out["adj_margin_avg_10"] = _ratio(f["r_adj_margin_sum"].to_numpy(), n10, 0.0)
    out["luck_margin_avg_10"] = _ratio(f["r_luck_margin_sum"].to_numpy(), n10, 0.0)
    for name in ("margin_ewm", "adj_margin_ewm", "luck_margin_ewm", "home_edge"):
        out[name] = np.nan_to_num(np.where(has, f[name].to_numpy(), 0.0))
    out["margin_trend_10"] = np.where(has, f["margin_trend"].to_numpy(), 0.0)

    def season_count(name: str) -> np.ndarray:
        return np.where(same_season, f[name].to_numpy(), 0.0)

    games, wins = season_count("season_games"), season_count("season_wins")
    out["season_games"] = games
    out["win_pct"] = _ratio(wins, games, 0.5)
    out["home_win_pct_smoothed"] = (season_count("season_home_wins") + 1.0) / (
        season_count("season_home_games") + 2.0
    )
    out["away_win_pct_smoothed"] = (season_count("season_away_wins") + 1.0) / (
        season_count("season_away_games") + 2.0
    )
    out["streak"] = season_count("streak")

    rest = days_between(targets["game_date"], f["last_date"])
    out["rest_days"] = np.where(same_season, np.minimum(rest, REST_CAP), REST_CAP)
    out["b2b"] = (out["rest_days"] == 1.0).astype(float)
    two_back = days_between(targets["game_date"], f["prev_date"])
    out["three_in_four"] = (same_season & (two_back <= 3.0)).astype(float)

    elo = f["elo_post"].to_numpy()
    out["elo"] = np.where(
        same_season, elo, np.where(has, regress_to_mean(elo, params), params.mean)
    )
    out["league_hfa"] = lg["league_hfa"].to_numpy()
    return out
