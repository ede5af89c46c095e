"""Small, consistent raw NBA frames (the stats.nba.com column layout) built by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TEAMS = [
    (1610612738, "BOS", "Boston Celtics"),
    (1610612747, "LAL", "Los Angeles Lakers"),
    (1610612744, "GSW", "Golden State Warriors"),
    (1610612752, "NYK", "New York Knicks"),
]

TEAM_COLUMNS = [
    "SEASON_ID",
    "TEAM_ID",
    "TEAM_ABBREVIATION",
    "TEAM_NAME",
    "GAME_ID",
    "GAME_DATE",
    "MATCHUP",
    "WL",
    "MIN",
    "FGM",
    "FGA",
    "FG_PCT",
    "FG3M",
    "FG3A",
    "FG3_PCT",
    "FTM",
    "FTA",
    "FT_PCT",
    "OREB",
    "DREB",
    "REB",
    "AST",
    "STL",
    "BLK",
    "TOV",
    "PF",
    "PTS",
    "PLUS_MINUS",
    "VIDEO_AVAILABLE",
]


def _box(rng: np.random.Generator, pts_target: int) -> dict:
    fg3m = int(rng.integers(8, 16))
    ftm = int(rng.integers(10, 22))
    fg2m = max((pts_target - 3 * fg3m - ftm) // 2, 10)
    ftm = pts_target - 3 * fg3m - 2 * fg2m
    if ftm < 0:
        fg3m += ftm  # keep the total exact
        ftm = 0
    fgm = fg2m + fg3m
    oreb, dreb = int(rng.integers(6, 14)), int(rng.integers(28, 40))
    return {
        "FGM": fgm,
        "FGA": fgm + int(rng.integers(40, 50)),
        "FG3M": fg3m,
        "FG3A": fg3m + int(rng.integers(15, 25)),
        "FTM": ftm,
        "FTA": ftm + int(rng.integers(0, 8)),
        "OREB": oreb,
        "DREB": dreb,
        "REB": oreb + dreb,
        "AST": int(rng.integers(18, 32)),
        "STL": int(rng.integers(4, 12)),
        "BLK": int(rng.integers(2, 8)),
        "TOV": int(rng.integers(8, 18)),
        "PF": int(rng.integers(14, 24)),
        "PTS": 3 * fg3m + 2 * fg2m + ftm,
    }


def team_game_log(
    season: str = "2022-23", n_days: int = 10, seed: int = 0, prefix: str = "002"
) -> pd.DataFrame:
    """Two games a day between four teams, in LeagueGameLog (PlayerOrTeam=T) layout."""
    rng = np.random.default_rng(seed)
    start_year = int(season[:4])
    first_day = pd.Timestamp(f"{start_year}-10-20")
    rows, n = [], 0
    for day in range(n_days):
        order = rng.permutation(len(TEAMS))
        for a, b in ((order[0], order[1]), (order[2], order[3])):
            n += 1
            game_id = f"{prefix}{start_year % 100:02d}{n:05d}"
            home, away = TEAMS[a], TEAMS[b]
            hp, ap = int(rng.integers(95, 130)), int(rng.integers(90, 125))
            if hp == ap:
                hp += 1
            date = (first_day + pd.Timedelta(days=2 * day)).strftime("%Y-%m-%d")
            for team, opp, pts, opp_pts, home_side in (
                (home, away, hp, ap, True),
                (away, home, ap, hp, False),
            ):
                box = _box(rng, pts)
                rows.append(
                    {
                        "SEASON_ID": f"2{start_year}",
                        "TEAM_ID": team[0],
                        "TEAM_ABBREVIATION": team[1],
                        "TEAM_NAME": team[2],
                        "GAME_ID": game_id,
                        "GAME_DATE": date,
                        "MATCHUP": f"{team[1]} vs. {opp[1]}"
                        if home_side
                        else f"{team[1]} @ {opp[1]}",
                        "WL": "W" if pts > opp_pts else "L",
                        "MIN": 240,
                        **box,
                        "FG_PCT": round(box["FGM"] / box["FGA"], 3),
                        "FG3_PCT": round(box["FG3M"] / box["FG3A"], 3),
                        "FT_PCT": round(box["FTM"] / box["FTA"], 3) if box["FTA"] else None,
                        "PLUS_MINUS": pts - opp_pts,
                        "VIDEO_AVAILABLE": 1,
                    }
                )
    return pd.DataFrame(rows, columns=TEAM_COLUMNS)


def player_game_log(team_log: pd.DataFrame, players_per_team: int = 3) -> pd.DataFrame:
    """Player rows whose points add up to no more than the team's, in LeagueGameLog (P) layout."""
    rows = []
    for r in team_log.itertuples(index=False):
        share = r.PTS // (players_per_team + 1)
        for k in range(players_per_team):
            pid = int(r.TEAM_ID) % 100000 * 10 + k
            rows.append(
                {
                    "SEASON_ID": r.SEASON_ID,
                    "PLAYER_ID": pid,
                    "PLAYER_NAME": f"Player {pid}",
                    "TEAM_ID": r.TEAM_ID,
                    "TEAM_ABBREVIATION": r.TEAM_ABBREVIATION,
                    "TEAM_NAME": r.TEAM_NAME,
                    "GAME_ID": r.GAME_ID,
                    "GAME_DATE": r.GAME_DATE,
                    "MATCHUP": r.MATCHUP,
                    "WL": r.WL,
                    "MIN": 30 - k,
                    "PTS": share,
                    "FGM": share // 2,
                    "FGA": share // 2 + 5,
                    "FG_PCT": 0.5,
                    "FG3M": 0,
                    "FG3A": 1,
                    "FG3_PCT": 0.0,
                    "FTM": share % 2,
                    "FTA": 2,
                    "FT_PCT": 0.5,
                    "OREB": 1,
                    "DREB": 4,
                    "REB": 5,
                    "AST": 3,
                    "STL": 1,
                    "BLK": 0,
                    "TOV": 2,
                    "PF": 2,
                    "PLUS_MINUS": 0,
                    "SEASON_LABEL": f"{str(r.SEASON_ID)[1:]}-{(int(str(r.SEASON_ID)[1:]) + 1) % 100:02d}",
                }
            )
    return pd.DataFrame(rows)


def write_snapshot(folder: Path, seasons: dict[str, pd.DataFrame], players: bool = True) -> Path:
    """A folder with the snapshot's layout holding the given regular-season team logs."""
    team_dir = folder / "team_game_logs" / "regular_season"
    team_dir.mkdir(parents=True, exist_ok=True)
    player_dir = folder / "player_game_logs" / "regular_season"
    player_dir.mkdir(parents=True, exist_ok=True)
    for season, log in seasons.items():
        log.to_csv(team_dir / f"{season}.csv.gz", index=False)
        if players:
            player_game_log(log).to_csv(player_dir / f"{season}.csv.gz", index=False)
    return folder


DAMAGES = ("truncated", "not gzip", "header only", "zero bytes")


def damage_file(path: Path, how: str) -> Path:
    """Break a snapshot ``.csv.gz`` in place, one of ``DAMAGES``: cut in the middle, stored
    without gzip, only its header line kept, or emptied."""
    import gzip

    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "not gzip":
        path.write_bytes(gzip.decompress(data))
    elif how == "header only":
        path.write_bytes(gzip.compress(gzip.decompress(data).split(b"\n", 1)[0] + b"\n"))
    elif how == "zero bytes":
        path.write_bytes(b"")
    else:
        raise ValueError(f"unknown damage {how!r}: one of {', '.join(DAMAGES)}")
    return path


def with_value(log: pd.DataFrame, column: str, value, row: int = 1) -> pd.DataFrame:
    """A copy of ``log`` with ``value`` (any type, None for empty) in one cell of ``column``."""
    out = log.astype({column: object})
    out.loc[row, column] = value
    return out


def small_league(folder: Path, seasons: tuple[str, ...]) -> Path:
    """``seasons`` of 30 game days each, team and player logs, in the snapshot's layout."""
    logs = {s: team_game_log(s, n_days=30, seed=i) for i, s in enumerate(seasons)}
    return write_snapshot(folder, logs)


def raise_error_behind_a_stop(*args, **kwargs) -> None:
    """Raise what Prefect's task engine raises when SIGTERM lands before its task run exists: a
    ValueError from inside its handler of the ``TerminationSignal``."""
    import signal

    from prefect.exceptions import TerminationSignal

    try:
        raise TerminationSignal(signal=signal.SIGTERM)
    except TerminationSignal:
        raise ValueError("Task run is not set")  # noqa: B904 (as the library raises it)
