"""The normalized tables every source produces, and the names shared across the platform.

Both sources (the snapshot folder and the live ``nba_api``) end in these frames, so validation,
storage and features see one shape whatever the origin.

``team_games``  one row per (game_id, team_id): a team's box score in one game.
``player_games`` one row per (game_id, player_id): a player's box score in one game he played.
``games``        one row per game_id, derived from ``team_games``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

REGULAR = "regular"
PLAYOFFS = "playoffs"
SEASON_TYPES = (REGULAR, PLAYOFFS)

# Prefix of stats.nba.com game IDs per season type (001 preseason, 003 all-star, 005 play-in).
GAME_ID_PREFIX = {REGULAR: "002", PLAYOFFS: "004"}

# nba_api's ``season_type_all_star`` / ``SeasonType`` parameter values.
API_SEASON_TYPE = {REGULAR: "Regular Season", PLAYOFFS: "Playoffs"}

BOX_STATS = (
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

TEAM_GAME_COLUMNS = (
    "game_id",  # str, 10 characters with leading zeros, e.g. "0022300061"
    "team_id",  # int
    "season",  # str, "2023-24"
    "season_type",  # "regular" | "playoffs"
    "game_date",  # datetime64[ns], midnight
    "team_abbreviation",  # str, as of that game (e.g. "NJN" before 2012)
    "matchup",  # str, "BOS vs. NYK" (home) or "BOS @ NYK" (away)
    "is_home",  # bool; for neutral-site games False for both teams
    "neutral_site",  # bool; MATCHUP has "@" on both sides
    "wl",  # "W" | "L"
    "minutes",  # float, game minutes x 5 for team rows (240 = regulation)
    *BOX_STATS,
)

PLAYER_GAME_COLUMNS = (
    "game_id",
    "player_id",  # int
    "player_name",  # str
    "team_id",
    "season",
    "season_type",
    "game_date",
    "minutes",  # float minutes played (> 0 for every stored row)
    *BOX_STATS,
)

GAME_COLUMNS = (
    "game_id",
    "season",
    "season_type",
    "game_date",
    "home_team_id",
    "away_team_id",
    "home_pts",
    "away_pts",
    "neutral_site",  # for neutral-site games home/away is an arbitrary but stable assignment
)

TEAM_GAME_KEY = ("game_id", "team_id")
PLAYER_GAME_KEY = ("game_id", "player_id")
GAME_KEY = ("game_id",)


def season_start_year(season: str) -> int:
    """``"2023-24"`` -> 2023. Raises ValueError for anything else."""
    parts = season.split("-")
    if (
        len(parts) != 2
        or len(parts[0]) != 4
        or len(parts[1]) != 2
        or not all(p.isascii() and p.isdigit() for p in parts)
    ):
        raise ValueError(f"season must look like '2023-24', got {season!r}")
    start = int(parts[0])
    if int(parts[1]) != (start + 1) % 100:
        raise ValueError(f"season {season!r}: the second year must follow the first")
    return start


def season_label(start_year: int) -> str:
    """2023 -> ``"2023-24"``."""
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def season_spans(seasons: Iterable[str]) -> str:
    """Seasons as runs of consecutive ones, every gap shown: ``"2000-01..2023-24, 2025-26"``
    (``"none"`` for none)."""
    years = sorted({season_start_year(s) for s in seasons})
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return (
        ", ".join(
            season_label(r[0]) if len(r) == 1 else f"{season_label(r[0])}..{season_label(r[-1])}"
            for r in runs
        )
        or "none"
    )


def current_season(today: date | None = None) -> str:
    """The season under way (or about to start) on ``today``: a season starts in October, and
    from August on the coming one is the current one."""
    today = today or date.today()
    return season_label(today.year if today.month >= 8 else today.year - 1)


def parse_seasons(spec: str | None, available: list[str], today: date | None = None) -> list[str]:
    """Seasons from a CLI spec: ``None``/``"all"`` (every available one), ``"current"`` (the
    season under way), ``"2015-16:2023-24"`` (an inclusive range), or ``"2021-22,2022-23"`` (a
    list). Raises ValueError on bad input."""
    if spec is None or spec.strip().lower() == "all":
        return sorted(available)
    if spec.strip().lower() == "current":
        return [current_season(today)]
    spec = spec.strip()
    if ":" in spec:
        first, _, last = spec.partition(":")
        start, end = season_start_year(first.strip()), season_start_year(last.strip())
        if end < start:
            raise ValueError(f"season range {spec!r} runs backwards")
        return [season_label(y) for y in range(start, end + 1)]
    seasons = [s.strip() for s in spec.split(",") if s.strip()]
    if not seasons:
        raise ValueError("no season given")
    for s in seasons:
        season_start_year(s)
    return sorted(dict.fromkeys(seasons))
