"""Small normalized frames (``ingest.schema`` shapes) built by hand for the feature tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.schema import BOX_STATS, GAME_COLUMNS, PLAYER_GAME_COLUMNS, TEAM_GAME_COLUMNS

# (game_id, date, season, home_team_id, away_team_id, home_pts, away_pts[, neutral_site])
GameSpec = tuple


def _box(pts: float, seed: int) -> dict[str, float]:
    """A consistent team box score with ``pts`` points (deterministic from ``seed``)."""
    rng = np.random.default_rng(seed)
    fg3m = int(rng.integers(8, 15))
    ftm = int(rng.integers(10, 20))
    fg2m = max(int((pts - 3 * fg3m - ftm) // 2), 0)
    ftm = int(pts - 3 * fg3m - 2 * fg2m)
    oreb, dreb = int(rng.integers(6, 14)), int(rng.integers(28, 40))
    return {
        "fgm": fg2m + fg3m,
        "fga": fg2m + fg3m + int(rng.integers(40, 50)),
        "fg3m": fg3m,
        "fg3a": fg3m + int(rng.integers(15, 25)),
        "ftm": ftm,
        "fta": ftm + int(rng.integers(0, 8)),
        "oreb": oreb,
        "dreb": dreb,
        "reb": oreb + dreb,
        "ast": int(rng.integers(18, 32)),
        "stl": int(rng.integers(4, 12)),
        "blk": int(rng.integers(2, 8)),
        "tov": int(rng.integers(8, 18)),
        "pf": int(rng.integers(14, 24)),
        "pts": pts,
    }


def team_games_from(specs: Iterable[GameSpec]) -> pd.DataFrame:
    """Two ``TEAM_GAME_COLUMNS`` rows per played game spec."""
    rows = []
    for spec in specs:
        game_id, date, season, home, away, hp, ap = spec[:7]
        neutral = bool(spec[7]) if len(spec) > 7 else False
        for team, opp, pts, opp_pts, at_home in (
            (home, away, hp, ap, True),
            (away, home, ap, hp, False),
        ):
            box = _box(pts, seed=int(game_id) * 2 + int(at_home))
            rows.append(
                {
                    "game_id": game_id,
                    "team_id": team,
                    "season": season,
                    "season_type": "regular",
                    "game_date": pd.Timestamp(date),
                    "team_abbreviation": f"T{team}",
                    "matchup": f"T{team} {'vs.' if at_home and not neutral else '@'} T{opp}",
                    "is_home": at_home and not neutral,
                    "neutral_site": neutral,
                    "wl": "W" if pts > opp_pts else "L",
                    "minutes": 240.0,
                    **box,
                    "plus_minus": pts - opp_pts,
                }
            )
    frame = pd.DataFrame(rows, columns=list(TEAM_GAME_COLUMNS))
    frame["game_date"] = frame["game_date"].astype("datetime64[ns]")
    return frame


def games_from(specs: Iterable[GameSpec]) -> pd.DataFrame:
    """One ``GAME_COLUMNS`` row per spec (``home_pts`` NaN for a request)."""
    rows = []
    for spec in specs:
        game_id, date, season, home, away, hp, ap = spec[:7]
        neutral = bool(spec[7]) if len(spec) > 7 else False
        rows.append(
            {
                "game_id": game_id,
                "season": season,
                "season_type": "regular",
                "game_date": pd.Timestamp(date),
                "home_team_id": home,
                "away_team_id": away,
                "home_pts": float(hp) if hp is not None else np.nan,
                "away_pts": float(ap) if ap is not None else np.nan,
                "neutral_site": neutral,
            }
        )
    frame = pd.DataFrame(rows, columns=list(GAME_COLUMNS))
    frame["game_date"] = frame["game_date"].astype("datetime64[ns]")
    return frame


def random_specs(
    n_days: int = 40,
    teams: tuple[int, ...] = (1, 2, 3, 4, 5, 6),
    seasons: tuple[str, ...] = ("2021-22", "2022-23"),
    seed: int = 0,
) -> list[GameSpec]:
    """A league: every team plays at most once a day; team 1 is strong, team 6 weak."""
    rng = np.random.default_rng(seed)
    specs, n = [], 0
    for s_i, season in enumerate(seasons):
        start = pd.Timestamp(f"{season[:4]}-10-20")
        for day in range(n_days):
            date = start + pd.Timedelta(days=int(day * 1.5))
            order = rng.permutation(len(teams))
            # 2 games a day, the remaining teams rest (varied rest days)
            for a, b in ((order[0], order[1]), (order[2], order[3])):
                n += 1
                home, away = teams[a], teams[b]
                edge = (away - home) * 2.0 + 3.0
                hp = int(110 + edge / 2 + rng.normal(0, 10))
                ap = int(110 - edge / 2 + rng.normal(0, 10))
                if hp == ap:
                    hp += 1
                specs.append((f"00{22 + s_i}{n:05d}", date, season, home, away, hp, ap))
    return specs


def player_games_from(team_games: pd.DataFrame, per_team: int = 3, seed: int = 0) -> pd.DataFrame:
    """``per_team`` players per team (IDs team*100 + k) playing every team game."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in team_games.sort_values(["game_date", "game_id", "team_id"]).itertuples(index=False):
        for k in range(per_team):
            minutes = float(36 - 8 * k + rng.integers(-4, 5))
            pts = int(max(0, 25 - 7 * k + rng.integers(-8, 9)))
            fga = int(pts * 0.8 + rng.integers(0, 4))
            row = {s: 0 for s in BOX_STATS}
            row.update(
                {
                    "game_id": r.game_id,
                    "player_id": r.team_id * 100 + k,
                    "player_name": f"P{r.team_id * 100 + k}",
                    "team_id": r.team_id,
                    "season": r.season,
                    "season_type": r.season_type,
                    "game_date": r.game_date,
                    "minutes": minutes,
                    "pts": pts,
                    "fga": fga,
                    "fgm": pts // 2,
                    "fta": int(rng.integers(0, 8)),
                    "fg3a": int(rng.integers(0, 9)),
                    "tov": int(rng.integers(0, 5)),
                }
            )
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(PLAYER_GAME_COLUMNS))
    frame["game_date"] = frame["game_date"].astype("datetime64[ns]")
    return frame


# --- the shared snapshot (for the snapshot tests only) ---------------------------------------


def load_snapshot_team_games(data_dir: Path, seasons: Iterable[str]) -> pd.DataFrame:
    """Regular-season team logs -> ``TEAM_GAME_COLUMNS`` (cancelled games dropped)."""
    frames = []
    for season in seasons:
        raw = pd.read_csv(
            data_dir / "team_game_logs" / "regular_season" / f"{season}.csv.gz",
            dtype={"GAME_ID": str, "WL": str},
        )
        raw = raw.loc[raw["WL"].fillna("").str.strip() != ""]
        away = raw["MATCHUP"].str.contains("@", regex=False)
        neutral = away.groupby(raw["GAME_ID"]).transform("sum") >= 2
        frame = pd.DataFrame(
            {
                "game_id": raw["GAME_ID"],
                "team_id": raw["TEAM_ID"].astype("int64"),
                "season": season,
                "season_type": "regular",
                "game_date": pd.to_datetime(raw["GAME_DATE"]),
                "team_abbreviation": raw["TEAM_ABBREVIATION"],
                "matchup": raw["MATCHUP"],
                "is_home": raw["MATCHUP"].str.contains("vs.", regex=False) & ~neutral,
                "neutral_site": neutral,
                "wl": raw["WL"],
                "minutes": raw["MIN"].astype(float),
                **{s: raw[s.upper()].astype("int64") for s in BOX_STATS},
            }
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).loc[:, list(TEAM_GAME_COLUMNS)]


def games_from_team_games(team_games: pd.DataFrame) -> pd.DataFrame:
    """One ``GAME_COLUMNS`` row per game; neutral-site games list the smaller team ID as home."""
    tg = team_games.sort_values(["game_id", "team_id"])
    first = tg.groupby("game_id").nth(0).set_index("game_id")
    second = tg.groupby("game_id").nth(1).set_index("game_id").reindex(first.index)
    first_home = first["is_home"] | (first["neutral_site"] & ~second["is_home"])
    home = first.where(first_home, second, axis=0)
    away = second.where(first_home, first, axis=0)
    return pd.DataFrame(
        {
            "game_id": first.index.to_numpy(),
            "season": first["season"].to_numpy(),
            "season_type": first["season_type"].to_numpy(),
            "game_date": first["game_date"].to_numpy(),
            "home_team_id": home["team_id"].astype("int64").to_numpy(),
            "away_team_id": away["team_id"].astype("int64").to_numpy(),
            "home_pts": home["pts"].astype(float).to_numpy(),
            "away_pts": away["pts"].astype(float).to_numpy(),
            "neutral_site": first["neutral_site"].astype(bool).to_numpy(),
        }
    )


def load_snapshot_player_games(data_dir: Path, seasons: Iterable[str]) -> pd.DataFrame:
    """Regular-season player logs -> ``PLAYER_GAME_COLUMNS`` (rows with 0 minutes dropped)."""
    frames = []
    for season in seasons:
        raw = pd.read_csv(
            data_dir / "player_game_logs" / "regular_season" / f"{season}.csv.gz",
            dtype={"GAME_ID": str},
        )
        frame = pd.DataFrame(
            {
                "game_id": raw["GAME_ID"],
                "player_id": raw["PLAYER_ID"].astype("int64"),
                "player_name": raw["PLAYER_NAME"],
                "team_id": raw["TEAM_ID"].astype("int64"),
                "season": season,
                "season_type": "regular",
                "game_date": pd.to_datetime(raw["GAME_DATE"]),
                "minutes": raw["MIN"].astype(float),
                **{s: raw[s.upper()].astype("int64") for s in BOX_STATS},
            }
        )
        frames.append(frame.loc[frame["minutes"] > 0])
    return pd.concat(frames, ignore_index=True).loc[:, list(PLAYER_GAME_COLUMNS)]
