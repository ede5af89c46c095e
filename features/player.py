"""Player features: one row per player-game, built only from games of earlier dates.

A player's history is his played rows of ``player_games`` (rows with NaN points are requests to
predict and never feed any state). The opponent and home/away of a row come from ``games`` (or,
failing that, the other team of the game in ``team_games``, or the request row's own
``opponent_team_id`` / ``is_home`` columns); the opponent's and the player's team's recent
numbers come from the team states of ``features.team``.

Serving a prediction: build the request with ``player_request_frame(...)``, append it to the
player's history and call ``build_player_features(player_games, team_games, games)``. Either
append the matching game row too (``features.game.game_request_frame(home, away, date, season)``:
its default ``game_id`` equals the request's when both sides are given), or pass
``opponent_team_id`` and ``is_home`` to ``player_request_frame``, which carries them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import (
    as_dates,
    days_between,
    end_of_day,
    lookup_before,
    require_columns,
    rolling_counts,
    rolling_slope,
    rolling_sums,
)
from features.catalog import (
    PLAYER_BASELINES,
    PLAYER_FEATURES,
    PLAYER_ID_COLUMNS,
    PLAYER_STATS,
    PLAYER_WINDOWS,
)
from features.elo import EloParams
from features.game import TEAM_GAMES_REQUIRED, request_game_id
from features.team import FT_WEIGHT, REST_CAP, build_team_log, build_team_state, team_features

PLAYER_GAMES_REQUIRED = (
    "game_id",
    "player_id",
    "team_id",
    "season",
    "game_date",
    "minutes",
    "pts",
    "fga",
    "fta",
    "fg3a",
    "tov",
)
GAMES_REQUIRED = ("game_id", "home_team_id", "away_team_id", "neutral_site")
PTS_EWM_HALFLIFE = 8.0
# Half-lives (games) of the minutes EWMs and of the points-per-minute EWMs (ratio of the points
# and minutes EWMs of the same half-life).
MIN_EWM_HALFLIVES = (3, 10)
PER_MIN_EWM_HALFLIVES = (10, 20)
MIN_TREND_WINDOW = 10
CAREER_CAP = 82.0
MISSED_CAP = 20.0
LINEUP_WINDOW = 10
# Per player-game means used when nothing earlier exists at all.
DEFAULT_PLAYER_MEANS = {
    "pts": 10.0,
    "min": 22.0,
    "fga": 8.0,
    "fta": 2.0,
    "fg3a": 3.0,
    "usage": 0.5,
}
_SUMMED = ("pts", "min", "fga", "fta", "fg3a", "usage_num", "team_fga", "share_fga")


def clean_player_rows(player_games: pd.DataFrame) -> pd.DataFrame:
    """Player rows in time order with clean dtypes (a copy: the input is never touched); the
    optional ``opponent_team_id`` / ``is_home`` columns are kept when present."""
    extra = [c for c in ("opponent_team_id", "is_home") if c in player_games.columns]
    target = player_games.loc[:, [*PLAYER_GAMES_REQUIRED, *extra]].copy()
    target["game_id"] = target["game_id"].astype(str)
    target["player_id"] = target["player_id"].astype("int64")
    target["team_id"] = target["team_id"].astype("int64")
    target["season"] = target["season"].astype(str)
    target["game_date"] = as_dates(target["game_date"])
    for col in ("minutes", "pts", "fga", "fta", "fg3a", "tov"):
        target[col] = target[col].astype(float)
    return target.sort_values(
        ["game_date", "game_id", "player_id"], kind="stable", ignore_index=True
    )


def opponents(target: pd.DataFrame, team_games: pd.DataFrame, games: pd.DataFrame) -> pd.DataFrame:
    """``opponent_team_id`` and ``is_home`` of each player row (aligned with ``target``).

    From ``games`` first, then the other team of the game in ``team_games``, then the row's own
    columns (requests). A row with no known opponent gets ``opponent_team_id`` -1.
    """
    g = games.loc[:, list(GAMES_REQUIRED)].copy()
    g["game_id"] = g["game_id"].astype(str)
    g["neutral_site"] = g["neutral_site"].astype("boolean").fillna(False).astype(bool)
    g = g.drop_duplicates("game_id", keep="last")
    pairs = pd.concat(
        [
            pd.DataFrame(
                {
                    "game_id": g["game_id"],
                    "team_id": g["home_team_id"].astype("int64"),
                    "opp": g["away_team_id"].astype("int64"),
                    "home": ~g["neutral_site"],
                }
            ),
            pd.DataFrame(
                {
                    "game_id": g["game_id"],
                    "team_id": g["away_team_id"].astype("int64"),
                    "opp": g["home_team_id"].astype("int64"),
                    "home": False,
                }
            ),
        ]
    )
    tg = team_games[["game_id", "team_id", "is_home"]].copy()
    tg["game_id"] = tg["game_id"].astype(str)
    tg["team_id"] = tg["team_id"].astype("int64")
    other = tg.merge(tg, on="game_id", suffixes=("", "_other"))
    other = other.loc[other["team_id"] != other["team_id_other"]]
    from_tg = pd.DataFrame(
        {
            "game_id": other["game_id"],
            "team_id": other["team_id"],
            "opp": other["team_id_other"],
            "home": other["is_home"].astype(bool),
        }
    )
    keys = target[["game_id", "team_id"]]
    found = keys.merge(pairs.drop_duplicates(["game_id", "team_id"]), how="left")
    backup = keys.merge(from_tg.drop_duplicates(["game_id", "team_id"]), how="left")
    opp = found["opp"].fillna(backup["opp"])
    home = found["home"].astype("boolean").fillna(backup["home"].astype("boolean"))
    if "opponent_team_id" in target.columns:
        opp = opp.fillna(pd.Series(target["opponent_team_id"].to_numpy(), index=opp.index))
    if "is_home" in target.columns:
        home = home.fillna(
            pd.Series(target["is_home"].to_numpy(), index=home.index).astype("boolean")
        )
    return pd.DataFrame(
        {
            "opponent_team_id": opp.fillna(-1).astype("int64").to_numpy(),
            "is_home": home.fillna(False).astype(bool).to_numpy(),
        },
        index=target.index,
    )


def build_player_log(target: pd.DataFrame, team_games: pd.DataFrame) -> pd.DataFrame:
    """Played player rows (points known, minutes > 0) by player and time, with team FGA."""
    played = target.loc[target["pts"].notna() & (target["minutes"] > 0)]
    team_fga = team_games[["game_id", "team_id", "fga"]].copy()
    team_fga["game_id"] = team_fga["game_id"].astype(str)
    team_fga["team_id"] = team_fga["team_id"].astype("int64")
    team_fga = team_fga.drop_duplicates(["game_id", "team_id"]).rename(columns={"fga": "team_fga"})
    log = played.merge(team_fga, on=["game_id", "team_id"], how="left")
    known = log["team_fga"].notna() & (log["team_fga"] > 0)
    log["team_fga"] = log["team_fga"].where(known, 0.0).astype(float)
    log["share_fga"] = log["fga"].where(known, 0.0)
    log["min"] = log["minutes"]
    log["usage_num"] = log["fga"] + FT_WEIGHT * log["fta"] + log["tov"].fillna(0.0)
    return log.sort_values(["player_id", "game_date", "game_id"], ignore_index=True)


def build_player_state(log: pd.DataFrame) -> pd.DataFrame:
    """Per player and game day, his sums and EWMs once that day's game is in, and the totals of
    his previous season (``prev_*``)."""
    keys = ["player_id"]
    cols: dict[str, np.ndarray] = {
        "player_id": log["player_id"].to_numpy(),
        "game_date": log["game_date"].to_numpy(),
        "season": log["season"].to_numpy(),
        "last_date": log["game_date"].to_numpy(),
    }
    for w in PLAYER_WINDOWS:
        sums = rolling_sums(log, keys, _SUMMED, w)
        cols[f"n_{w}"] = rolling_counts(log, keys, w)
        for i, name in enumerate(_SUMMED):
            cols[f"{name}_sum_{w}"] = sums[:, i]
    season = log[list(_SUMMED)].groupby([log["player_id"], log["season"]], sort=False).cumsum()
    for name in _SUMMED:
        cols[f"{name}_sum_season"] = season[name].to_numpy()
    cols["n_season"] = log.groupby(["player_id", "season"], sort=False).cumcount().to_numpy() + 1
    cols["career_games"] = log.groupby("player_id", sort=False).cumcount().to_numpy() + 1
    grouped = log.groupby("player_id", sort=False)

    def ewm(column: str, halflife: float) -> np.ndarray:
        return grouped[column].ewm(halflife=halflife).mean().to_numpy()

    cols["pts_ewm"] = ewm("pts", PTS_EWM_HALFLIFE)
    for h in MIN_EWM_HALFLIVES:
        cols[f"min_ewm_{h}"] = ewm("min", h)
    for h in PER_MIN_EWM_HALFLIVES:
        minutes = cols[f"min_ewm_{h}"] if h in MIN_EWM_HALFLIVES else ewm("min", h)
        cols[f"pts_per_min_ewm_{h}"] = ewm("pts", h) / minutes
    cols["min_trend"] = rolling_slope(log, keys, "min", MIN_TREND_WINDOW)
    state = pd.DataFrame(cols)
    state = pd.concat([state, _previous_season_totals(state)], axis=1)
    return end_of_day(state, keys)


def previous_season_label(season: str) -> str:
    """``"2018-19"`` -> ``"2017-18"``."""
    start = int(str(season)[:4]) - 1
    return f"{start}-{(start + 1) % 100:02d}"


def _previous_season_labels(seasons: pd.Series) -> np.ndarray:
    labels = {s: previous_season_label(s) for s in pd.unique(seasons)}
    return seasons.map(labels).to_numpy()


_SEASON_TOTALS = ("pts_sum_season", "min_sum_season", "n_season")


def _previous_season_totals(state: pd.DataFrame) -> pd.DataFrame:
    """Per player row: ``prev_pts_sum_season``, ``prev_min_sum_season``, ``prev_n_season``, the
    player's totals of the season just before the row's (NaN when he did not play in it).

    Read at his first game of each season from his previous row (the last game of the season
    before, if that is the one), then carried through the season: only earlier rows are used.
    """
    before = state.groupby("player_id", sort=False)[["season", *_SEASON_TOTALS]].shift(1)
    starts = state["n_season"].to_numpy() == 1
    follows = before["season"].to_numpy() == _previous_season_labels(state["season"])
    carried = before[list(_SEASON_TOTALS)].astype(float)
    carried.loc[~(starts & follows)] = np.nan
    first = carried.groupby([state["player_id"], state["season"]], sort=False).transform("first")
    return first.add_prefix("prev_")


def build_player_league_state(log: pd.DataFrame) -> pd.DataFrame:
    """League means per player-game up to each day (fills for players without history)."""
    daily = log.groupby("game_date", sort=True)[["pts", "min", "fga", "fta", "fg3a", "usage_num"]]
    cum = daily.sum().cumsum()
    count = daily.size().cumsum()
    league = pd.DataFrame({"game_date": cum.index})
    for stat in ("pts", "min", "fga", "fta", "fg3a"):
        league[f"league_{stat}"] = (cum[stat] / count).to_numpy()
    league["league_usage"] = (cum["usage_num"] / cum["min"]).to_numpy()
    return league


def _mean(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def player_history_features(target: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """Player features of ``target`` rows from his earlier games (aligned with ``target``).

    Also returns ``last_date`` (the player's previous game, NaT without one) for the callers.
    """
    return history_features_from_state(
        target, build_player_state(log), build_player_league_state(log)
    )


def history_features_from_state(
    target: pd.DataFrame, state: pd.DataFrame, league_state: pd.DataFrame
) -> pd.DataFrame:
    """``player_history_features`` from a precomputed ``build_player_state`` (all players, or
    at least the target's) and ``build_player_league_state``: only the as-of lookups and the
    assembly run here, so a service can keep the states and answer requests cheaply."""
    f = lookup_before(target[["player_id", "game_date"]], state, by=["player_id"])
    league = lookup_before(
        target[["game_date"]].assign(_key=0),
        league_state.assign(_key=0),
        by=["_key"],
    )
    has = f["last_date"].notna().to_numpy()
    same_season = has & (f["season"].to_numpy() == target["season"].to_numpy())
    out = pd.DataFrame(index=target.index)

    def window_mean(stat: str, w: int | str) -> np.ndarray:
        num, den = f"{stat}_sum_{w}", f"n_{w}"
        if stat == "usage":
            num, den = f"usage_num_sum_{w}", f"min_sum_{w}"
        values = _mean(f[num].to_numpy(), f[den].to_numpy())
        return np.where(same_season, values, np.nan) if w == "season" else values

    raw = {(s, w): window_mean(s, w) for s in PLAYER_STATS for w in (*PLAYER_WINDOWS, "season")}
    out["pts_avg_season"] = raw[("pts", "season")]
    out["pts_avg_10"] = raw[("pts", 10)]
    out["min_avg_season"] = raw[("min", "season")]

    for stat in PLAYER_STATS:
        prior = league[f"league_{stat}"].fillna(DEFAULT_PLAYER_MEANS[stat]).to_numpy()
        season = raw[(stat, "season")]
        last10 = raw[(stat, 10)]
        out[f"player_{stat}_avg_season"] = np.where(
            np.isnan(season), np.where(np.isnan(last10), prior, last10), season
        )
        for w in PLAYER_WINDOWS:
            values = raw[(stat, w)]
            out[f"player_{stat}_avg_{w}"] = np.where(
                np.isnan(values), out[f"player_{stat}_avg_season"], values
            )

    league_pts = league["league_pts"].fillna(DEFAULT_PLAYER_MEANS["pts"]).to_numpy()
    league_min = league["league_min"].fillna(DEFAULT_PLAYER_MEANS["min"]).to_numpy()
    out["player_pts_ewm"] = np.where(has, f["pts_ewm"].to_numpy(), league_pts)
    for h in MIN_EWM_HALFLIVES:
        out[f"player_min_ewm_{h}"] = np.where(has, f[f"min_ewm_{h}"].to_numpy(), league_min)
    for h in PER_MIN_EWM_HALFLIVES:
        rate = f[f"pts_per_min_ewm_{h}"].to_numpy()
        out[f"player_pts_per_min_ewm_{h}"] = np.where(has, rate, league_pts / league_min)
    out = pd.concat([out, _previous_season_features(target, f, same_season)], axis=1)
    share = _mean(f["share_fga_sum_10"].to_numpy(), f["team_fga_sum_10"].to_numpy())
    out["player_fga_share_10"] = np.nan_to_num(share, nan=0.0)
    out["player_min_trend_10"] = np.where(has, f["min_trend"].to_numpy(), 0.0)
    out["player_season_games"] = np.where(same_season, f["n_season"].to_numpy(), 0.0)
    out["player_career_games"] = np.minimum(
        np.where(has, f["career_games"].to_numpy(), 0.0), CAREER_CAP
    )
    rest = days_between(target["game_date"], f["last_date"])
    out["player_rest_days"] = np.where(same_season, np.minimum(rest, REST_CAP), REST_CAP)
    out["player_b2b"] = (out["player_rest_days"] == 1.0).astype(float)
    out["last_date"] = np.where(same_season, f["last_date"], np.datetime64("NaT"))
    return out


def _previous_season_features(
    target: pd.DataFrame, found: pd.DataFrame, same_season: np.ndarray
) -> pd.DataFrame:
    """The player's points and minutes per game in the season before the target's and his games
    in it (all 0 when he did not play in it: with the game count, a linear model learns a
    separate intercept for those rows).

    ``found`` is his state as of the day before: from the target's season, it carries the
    previous season's totals; from the season just before, its own season totals are complete.
    """
    last_season = found["season"].to_numpy() == _previous_season_labels(target["season"])
    totals = {
        name: np.where(
            same_season,
            found[f"prev_{name}"].to_numpy(dtype=float),
            np.where(last_season, found[name].to_numpy(dtype=float), np.nan),
        )
        for name in _SEASON_TOTALS
    }
    games = np.nan_to_num(totals["n_season"], nan=0.0)
    out = pd.DataFrame(index=target.index)
    for stat in ("pts", "min"):
        mean = _mean(np.nan_to_num(totals[f"{stat}_sum_season"]), games)
        out[f"player_{stat}_prev_season"] = np.nan_to_num(mean, nan=0.0)
    out["player_prev_season_games"] = games
    return out


def build_lineup_state(log: pd.DataFrame) -> pd.DataFrame:
    """Per team and game day: ``scoring_gap``, the team's usual scoring minus that of its players
    who played that day (each player's last-10 mean points, his game included). A star out
    injured shows as a positive gap in the games he misses."""
    sums = rolling_sums(log, ["player_id"], ["pts"], 10)[:, 0]
    rows = log[["team_id", "game_date", "game_id", "season"]].assign(
        scoring=sums / rolling_counts(log, ["player_id"], 10)
    )
    per_game = rows.groupby(["team_id", "game_date", "game_id", "season"], sort=True)
    avail = per_game["scoring"].sum().reset_index()
    typical = rolling_sums(avail, ["team_id"], ["scoring"], LINEUP_WINDOW)[:, 0] / rolling_counts(
        avail, ["team_id"], LINEUP_WINDOW
    )
    state = avail[["team_id", "game_date", "season"]].assign(scoring_gap=typical - avail["scoring"])
    return end_of_day(state, ["team_id"])


def lineup_features(target: pd.DataFrame, log: pd.DataFrame) -> pd.Series:
    """The player's team's ``scoring_gap`` in its last game before the target (0 across seasons)."""
    found = lookup_before(target[["team_id", "game_date"]], build_lineup_state(log), ["team_id"])
    same_season = found["season"].to_numpy() == target["season"].to_numpy()
    gap = np.where(same_season, found["scoring_gap"].to_numpy(), 0.0)
    return pd.Series(np.nan_to_num(gap), index=target.index, name="team_scoring_gap")


_TEAM_COLUMNS = (
    "pts_for_avg_10",
    "pts_against_avg_10",
    "def_rating_10",
    "def_rating_rel_10",
    "pace_10",
    "pace_rel_10",
    "elo",
    "league_hfa",
    "season_games",
)


def team_side(
    keys: pd.DataFrame, state: pd.DataFrame, league: pd.DataFrame, params: EloParams
) -> pd.DataFrame:
    """Team features for unique (team, date, season) keys, merged back onto ``keys``."""
    unique = keys.drop_duplicates(ignore_index=True)
    feats = team_features(unique, state, league, params)
    table = pd.concat([unique, feats[list(_TEAM_COLUMNS)]], axis=1)
    merged = keys.merge(table, on=["team_id", "game_date", "season"], how="left")
    return merged.set_index(keys.index)


def _games_missed(
    target: pd.DataFrame,
    last_date: pd.Series,
    team_games_before: pd.Series,
    state: pd.DataFrame,
    league: pd.DataFrame,
    params: EloParams,
) -> np.ndarray:
    """Team games this season between the player's previous game and this one (capped)."""
    seen = last_date.notna().to_numpy()
    day_after = pd.to_datetime(last_date).fillna(target["game_date"]) + pd.Timedelta(days=1)
    keys = pd.DataFrame(
        {"team_id": target["team_id"], "game_date": day_after, "season": target["season"]},
        index=target.index,
    )
    through = team_side(keys, state, league, params)["season_games"].to_numpy()
    missed = np.where(seen, team_games_before.to_numpy() - through, 0.0)
    return np.clip(missed, 0.0, MISSED_CAP)


def player_context_features(
    target: pd.DataFrame,
    own: pd.DataFrame,
    opp: pd.DataFrame,
    games_missed: np.ndarray,
    scoring_gap: pd.Series,
) -> pd.DataFrame:
    """The game-context features of player rows: home/away, absences, and the numbers of his
    team (``own``) and of the opponent (``opp``), both from ``team_side`` (aligned with
    ``target``, which carries ``is_home``)."""
    hfa = np.where(target["is_home"], own["league_hfa"], 0.0)
    edge = own["elo"].to_numpy() - opp["elo"].to_numpy() + hfa
    return pd.DataFrame(
        {
            "player_games_missed": games_missed,
            "player_is_home": target["is_home"].astype(float),
            "team_pts_avg_10": own["pts_for_avg_10"],
            "team_pace_10": own["pace_10"],
            "team_scoring_gap": scoring_gap,
            "team_elo_edge": edge,
            "team_elo_edge_abs": np.abs(edge),
            "opp_pts_allowed_avg_10": opp["pts_against_avg_10"],
            "opp_def_rating_10": opp["def_rating_10"],
            "opp_pace_10": opp["pace_10"],
            "team_pace_rel_10": own["pace_rel_10"],
            "opp_def_rating_rel_10": opp["def_rating_rel_10"],
            "opp_pace_rel_10": opp["pace_rel_10"],
        },
        index=target.index,
    )


def build_player_features(
    player_games: pd.DataFrame,
    team_games: pd.DataFrame,
    games: pd.DataFrame,
    elo_params: EloParams | None = None,
) -> pd.DataFrame:
    """Features of every row of ``player_games`` from rows of earlier dates.

    Returns one row per player row in ``(game_date, game_id, player_id)`` order with
    ``PLAYER_ID_COLUMNS`` (``pts`` is the target, NaN for requests), ``PLAYER_FEATURES`` (never
    NaN) and the baselines ``pts_avg_season``, ``pts_avg_10``, ``min_avg_season`` (NaN without
    the history they need).
    """
    require_columns(player_games, PLAYER_GAMES_REQUIRED, "player_games")
    require_columns(team_games, TEAM_GAMES_REQUIRED, "team_games")
    require_columns(games, GAMES_REQUIRED, "games")
    params = elo_params or EloParams()
    target = clean_player_rows(player_games)
    side = opponents(target, team_games, games)
    target = target.drop(columns=[c for c in ("opponent_team_id", "is_home") if c in target])
    target = pd.concat([target, side], axis=1)
    log = build_player_log(target, team_games)
    history = player_history_features(target, log)

    state, league = build_team_state(build_team_log(team_games), params)
    own = team_side(target[["team_id", "game_date", "season"]], state, league, params)
    opp_keys = target[["opponent_team_id", "game_date", "season"]].rename(
        columns={"opponent_team_id": "team_id"}
    )
    opp = team_side(opp_keys, state, league, params)
    missed = _games_missed(target, history["last_date"], own["season_games"], state, league, params)
    context = player_context_features(target, own, opp, missed, lineup_features(target, log))
    out = pd.concat([target, history, context], axis=1)
    return out.loc[:, [*PLAYER_ID_COLUMNS, *PLAYER_FEATURES, *PLAYER_BASELINES]]


def player_request_frame(
    player_id: int,
    player_name: str,
    team_id: int,
    game_date: pd.Timestamp | str,
    season: str,
    is_home: bool,
    opponent_team_id: int | None = None,
    game_id: str | None = None,
    season_type: str = "regular",
) -> pd.DataFrame:
    """A one-row ``player_games`` frame (NaN stats) for a player-game to predict.

    The row also carries ``opponent_team_id`` and ``is_home``, used when ``games`` has no row for
    ``game_id``. The default ``game_id`` is ``features.game.request_game_id(home, date)`` when the
    opponent is known, so it matches ``game_request_frame(...)`` for the same game.
    """
    date = pd.Timestamp(game_date).normalize()
    if game_id is None:
        if opponent_team_id is not None:
            home = team_id if is_home else opponent_team_id
            game_id = request_game_id(home, date)
        else:
            game_id = f"8{date:%y%m%d}{int(team_id) % 1000:03d}"
    stats = (
        "minutes",
        "fgm",
        "fga",
        "fg3m",
        "fg3a",
        "ftm",
        "fta",
        "oreb",
        "dreb",
        "reb",
        "ast",
        "stl",
        "blk",
        "tov",
        "pf",
        "pts",
        "plus_minus",
    )
    row = {
        "game_id": [game_id],
        "player_id": [int(player_id)],
        "player_name": [player_name],
        "team_id": [int(team_id)],
        "season": [season],
        "season_type": [season_type],
        "game_date": pd.Series([date], dtype="datetime64[ns]"),
        **{s: [np.nan] for s in stats},
        "opponent_team_id": [np.nan if opponent_team_id is None else int(opponent_team_id)],
        "is_home": [bool(is_home)],
    }
    return pd.DataFrame(row)
