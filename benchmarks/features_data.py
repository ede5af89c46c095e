"""Load the shared snapshot into the normalized frames of ``ingest.schema`` (benchmarks only).

A small stand-alone loader so the feature benchmarks do not depend on ``ingest.normalize``
(written separately for the real pipeline). Regular seasons only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ingest.schema import BOX_STATS

REPO = Path(__file__).resolve().parents[1]
BOX = BOX_STATS  # the box-score columns of the normalized tables


def data_dir() -> Path:
    return Path(os.environ.get("NBA_DATA_DIR", REPO / "../shared/data/nba")).resolve()


def seasons_available(kind: str = "team_game_logs") -> list[str]:
    folder = data_dir() / kind / "regular_season"
    return sorted(p.name.removesuffix(".csv.gz") for p in folder.glob("*.csv.gz"))


def load_team_games(seasons: list[str] | None = None) -> pd.DataFrame:
    """Team game logs -> ``TEAM_GAME_COLUMNS`` (cancelled games dropped)."""
    frames = []
    for season in seasons or seasons_available():
        path = data_dir() / "team_game_logs" / "regular_season" / f"{season}.csv.gz"
        raw = pd.read_csv(path, dtype={"GAME_ID": str, "WL": str})
        raw = raw.loc[raw["WL"].notna() & (raw["WL"].str.strip() != "")]
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
            }
        )
        for col in BOX:
            frame[col] = raw[col.upper()].astype("int64")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def games_from_team_games(team_games: pd.DataFrame) -> pd.DataFrame:
    """One row per game; neutral-site games list the smaller team ID as home."""
    tg = team_games.sort_values(["game_id", "team_id"])
    first = tg.groupby("game_id").nth(0).set_index("game_id")
    second = tg.groupby("game_id").nth(1).set_index("game_id").reindex(first.index)
    first_home = first["is_home"] | (first["neutral_site"] & ~second["is_home"])
    home = first.where(first_home, second, axis=0)
    away = second.where(first_home, first, axis=0)
    games = pd.DataFrame(
        {
            "game_id": first.index,
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
    return games.sort_values(["game_date", "game_id"], ignore_index=True)


def load_player_games(seasons: list[str] | None = None) -> pd.DataFrame:
    """Player game logs -> ``PLAYER_GAME_COLUMNS``."""
    frames = []
    for season in seasons or seasons_available("player_game_logs"):
        path = data_dir() / "player_game_logs" / "regular_season" / f"{season}.csv.gz"
        raw = pd.read_csv(path, dtype={"GAME_ID": str})
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
            }
        )
        for col in BOX:
            frame[col] = raw[col.upper()].astype("int64")
        frames.append(frame.loc[frame["minutes"] > 0])
    return pd.concat(frames, ignore_index=True)
