"""Raw stats.nba.com frames -> the normalized frames of ``ingest.schema``. Pure pandas.

Accepted raw shapes (what the sources return):
- team logs: ``LeagueGameLog`` (PlayerOrTeam=T; ``MIN`` = 240 player-minutes) and ``TeamGameLogs``
  (the snapshot's playoff files; ``MIN`` = 48.0 game minutes, ``GAME_DATE`` with a time part);
- player logs: ``LeagueGameLog`` (PlayerOrTeam=P) and the V3 box score (camelCase, ``minutes`` as
  ``MM:SS``, DNP rows with an empty ``minutes``).

Real-data quirks handled here on purpose:
- the cancelled game (2012-13 ``0021201214``) has an empty ``WL``: such rows are dropped;
- neutral-site games have ``@`` in both teams' ``MATCHUP``: ``neutral_site`` is set and neither
  team is home;
- ``GAME_ID`` stays a 10-character string (V3 box scores store it as a number without zeros).

A log missing a required column, or with a value that is not a number (IDs, box stats) or not a
date where one is required, is refused with ``SourceDataError`` naming the file (the frame's
``attrs["source"]``), the season and the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ingest.errors import SourceDataError
from ingest.schema import (
    BOX_STATS,
    GAME_COLUMNS,
    GAME_ID_PREFIX,
    PLAYER_GAME_COLUMNS,
    TEAM_GAME_COLUMNS,
)

_UPPER_STATS = {s: s.upper() for s in BOX_STATS}
_TEAM_COLUMNS = (
    "GAME_ID",
    "TEAM_ID",
    "GAME_DATE",
    "TEAM_ABBREVIATION",
    "MATCHUP",
    "WL",
    "MIN",
    *_UPPER_STATS.values(),
)
_PLAYER_COLUMNS = ("GAME_ID", "PLAYER_ID", "PLAYER_NAME", "TEAM_ID", "GAME_DATE", "MIN")

_V3_PLAYER_COLUMNS = {
    "gameId": "GAME_ID",
    "teamId": "TEAM_ID",
    "personId": "PLAYER_ID",
    "personName": "PLAYER_NAME",
    "game_date": "GAME_DATE",
    "fieldGoalsMade": "FGM",
    "fieldGoalsAttempted": "FGA",
    "threePointersMade": "FG3M",
    "threePointersAttempted": "FG3A",
    "freeThrowsMade": "FTM",
    "freeThrowsAttempted": "FTA",
    "reboundsOffensive": "OREB",
    "reboundsDefensive": "DREB",
    "reboundsTotal": "REB",
    "assists": "AST",
    "steals": "STL",
    "blocks": "BLK",
    "turnovers": "TOV",
    "foulsPersonal": "PF",
    "points": "PTS",
    "plusMinusPoints": "PLUS_MINUS",
}
_V3_NAMES = {upper: camel for camel, upper in _V3_PLAYER_COLUMNS.items()}


class _BadColumn(Exception):
    """Required columns are missing or one holds values of the wrong kind (see ``_refused``)."""

    def __init__(self, columns: Sequence[str], problem: str) -> None:
        super().__init__(f"{', '.join(columns)}: {problem}")
        self.columns, self.problem = list(columns), problem


def _refused(
    bad: _BadColumn, raw: pd.DataFrame, season: str, season_type: str, names=None
) -> SourceDataError:
    """``bad`` as the ``SourceDataError`` naming the file, the season and the raw column."""
    return SourceDataError(
        bad.problem,
        path=raw.attrs.get("source", "the source's game log"),
        season=season,
        season_type=season_type,
        column=", ".join((names or {}).get(c, c) for c in bad.columns),
    )


def _require(raw: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise _BadColumn(missing, "missing from the file")


def _invalid(values: pd.Series, bad: pd.Series, what: str) -> _BadColumn:
    shown = ", ".join(
        "empty" if pd.isna(v) else repr(v) for v in values[bad].drop_duplicates().head(3)
    )
    return _BadColumn(
        [str(values.name)], f"not {what} in {int(bad.sum())} of {len(values)} rows, e.g. {shown}"
    )


def _numbers(values: pd.Series, *, blanks: bool = False) -> pd.Series:
    """``values`` as floats; text that is not a number (and, unless ``blanks``, an empty value)
    refuses the log."""
    out = pd.to_numeric(values, errors="coerce").astype(float)
    bad = ~np.isfinite(out)
    if blanks:
        bad &= values.notna()
    if bad.any():
        raise _invalid(values, bad, "a number")
    return out


def _ids(values: pd.Series) -> pd.Series:
    return _numbers(values).astype("int64")


def normalize_game_id(values: pd.Series) -> pd.Series:
    """Game IDs as 10-character strings with their leading zeros (``41500212`` -> ``0041500212``)."""
    text = values.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    return text.str.zfill(10).astype(object)


def season_types(frame: pd.DataFrame) -> pd.Series:
    """``season_type`` of every row: the column if present (game frames), else from the game id
    prefix (player frames carry no ``season_type``: ``002`` regular, ``004`` playoffs)."""
    if "season_type" in frame.columns:
        return frame["season_type"].astype(str)
    prefix = frame["game_id"].astype(str).str.slice(0, 3)
    by_prefix = {v: k for k, v in GAME_ID_PREFIX.items()}
    return prefix.map(by_prefix).fillna("other")


def _dates(values: pd.Series) -> pd.Series:
    out = pd.to_datetime(values.astype(str).str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    if out.isna().any():
        raise _invalid(values, out.isna(), "a date (YYYY-MM-DD)")
    return out


def _int_stats(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({s: _numbers(raw[_UPPER_STATS[s]]).round() for s in BOX_STATS}).astype(
        "int64"
    )


def cancelled_rows(raw: pd.DataFrame) -> pd.Series:
    """Rows of games that were never played (empty ``WL``): True where cancelled."""
    return raw["WL"].isna() | (raw["WL"].astype(str).str.strip() == "")


def normalize_team_games(raw: pd.DataFrame, season: str, season_type: str) -> pd.DataFrame:
    """A raw team game log -> ``TEAM_GAME_COLUMNS``; cancelled games are dropped.

    Raises ``SourceDataError`` for a missing column or a value that is not a number or a date.
    """
    try:
        return _team_games(raw, season, season_type)
    except _BadColumn as bad:
        raise _refused(bad, raw, season, season_type) from None


def _team_games(raw: pd.DataFrame, season: str, season_type: str) -> pd.DataFrame:
    _require(raw, _TEAM_COLUMNS)
    played = raw.loc[~cancelled_rows(raw)]
    minutes = _numbers(played["MIN"], blanks=True)
    # TeamGameLogs reports game minutes (48.0); LeagueGameLog reports player-minutes (240).
    minutes = minutes.where(minutes >= 100, minutes * 5)
    matchup = played["MATCHUP"].astype(str).str.strip()
    game_id = normalize_game_id(played["GAME_ID"])
    away_marks = matchup.str.contains("@", regex=False).groupby(game_id.to_numpy()).transform("sum")
    neutral = away_marks.to_numpy() >= 2
    out = pd.DataFrame(
        {
            "game_id": game_id.to_numpy(),
            "team_id": _ids(played["TEAM_ID"]).to_numpy(),
            "season": season,
            "season_type": season_type,
            "game_date": _dates(played["GAME_DATE"]).to_numpy(),
            "team_abbreviation": played["TEAM_ABBREVIATION"].astype(str).to_numpy(),
            "matchup": matchup.to_numpy(),
            "is_home": (matchup.str.contains("vs.", regex=False).to_numpy() & ~neutral),
            "neutral_site": neutral,
            "wl": played["WL"].astype(str).str.strip().str.upper().to_numpy(),
            "minutes": minutes.to_numpy(),
        }
    )
    stats = _int_stats(played).reset_index(drop=True)
    out = pd.concat([out, stats], axis=1)
    return out.loc[:, list(TEAM_GAME_COLUMNS)].sort_values(
        ["game_date", "game_id", "team_id"], ignore_index=True
    )


def _minutes_from_clock(values: pd.Series) -> pd.Series:
    """``"34:12"`` -> 34.2 minutes; numbers pass through."""
    text = values.astype("string").str.strip()
    parts = text.str.split(":", n=1, expand=True)
    if parts.shape[1] == 1:
        return pd.to_numeric(text, errors="coerce").astype(float)
    mins = pd.to_numeric(parts[0], errors="coerce")
    secs = pd.to_numeric(parts[1], errors="coerce").fillna(0)
    return (mins + secs / 60.0).astype(float)


def normalize_player_games(raw: pd.DataFrame, season: str, season_type: str) -> pd.DataFrame:
    """A raw player game log or V3 box score -> ``PLAYER_GAME_COLUMNS``.

    Only players who played are kept (V3 DNP rows have no ``minutes``). Raises
    ``SourceDataError`` for a missing column or a value that is not a number or a date.
    """
    v3 = "personId" in raw.columns
    try:
        return _player_games(raw, season, season_type, v3)
    except _BadColumn as bad:
        raise _refused(bad, raw, season, season_type, _V3_NAMES if v3 else None) from None


def _player_games(raw: pd.DataFrame, season: str, season_type: str, v3: bool) -> pd.DataFrame:
    if v3:  # V3 box score
        _require(raw, [*_V3_PLAYER_COLUMNS, "minutes"])
        frame = raw.rename(columns=_V3_PLAYER_COLUMNS)
        frame = frame.loc[
            frame["minutes"].notna() & (frame["minutes"].astype(str).str.strip() != "")
        ]
        minutes = _minutes_from_clock(frame["minutes"])
    else:
        _require(raw, [*_PLAYER_COLUMNS, *_UPPER_STATS.values()])
        frame = raw
        minutes = _minutes_from_clock(frame["MIN"])
    out = pd.DataFrame(
        {
            "game_id": normalize_game_id(frame["GAME_ID"]).to_numpy(),
            "player_id": _ids(frame["PLAYER_ID"]).to_numpy(),
            "player_name": frame["PLAYER_NAME"].astype(str).to_numpy(),
            "team_id": _ids(frame["TEAM_ID"]).to_numpy(),
            "season": season,
            "season_type": season_type,
            "game_date": _dates(frame["GAME_DATE"]).to_numpy(),
            "minutes": minutes.round(2).to_numpy(),
        }
    )
    out = pd.concat([out, _int_stats(frame).reset_index(drop=True)], axis=1)
    return out.loc[:, list(PLAYER_GAME_COLUMNS)].sort_values(
        ["game_date", "game_id", "player_id"], ignore_index=True
    )


def games_from_team_games(team_games: pd.DataFrame) -> pd.DataFrame:
    """One row per game from its two team rows (``GAME_COLUMNS``).

    For neutral-site games the smaller team ID is listed as "home" (a stable, arbitrary choice);
    ``neutral_site`` tells features to apply no home advantage.
    """
    tg = team_games.sort_values(["game_id", "team_id"])
    first = tg.groupby("game_id", sort=False).nth(0).set_index("game_id")
    second = tg.groupby("game_id", sort=False).nth(1).set_index("game_id")
    second = second.reindex(first.index)
    first_home = first["is_home"].to_numpy() | (
        first["neutral_site"].to_numpy() & ~second["is_home"].fillna(False).to_numpy().astype(bool)
    )
    home = first.where(pd.Series(first_home, index=first.index), second, axis=0)
    away = second.where(pd.Series(first_home, index=first.index), first, axis=0)
    games = pd.DataFrame(
        {
            "game_id": first.index.to_numpy(),
            "season": first["season"].to_numpy(),
            "season_type": first["season_type"].to_numpy(),
            "game_date": first["game_date"].to_numpy(),
            "home_team_id": home["team_id"].to_numpy(),
            "away_team_id": away["team_id"].to_numpy(),
            "home_pts": home["pts"].to_numpy(),
            "away_pts": away["pts"].to_numpy(),
            "neutral_site": first["neutral_site"].to_numpy().astype(bool),
        }
    )
    games = games.dropna(subset=["home_team_id", "away_team_id"])
    for col in ("home_team_id", "away_team_id", "home_pts", "away_pts"):
        games[col] = games[col].astype("int64")
    return games.loc[:, list(GAME_COLUMNS)].sort_values(["game_date", "game_id"], ignore_index=True)
