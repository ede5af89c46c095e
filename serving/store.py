"""What the service reads from the store: games (as feature state), teams, players, schedule."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from serving.state import FeatureState

if TYPE_CHECKING:
    from sqlalchemy import Engine


# Letters that Unicode does not decompose into a base letter and a mark.
_PLAIN_LETTERS = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe", "ı": "i"})


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """A player name as searches and requests match it: any case, with or without accents
    ("doncic" finds "Luka Dončić"), spaces between words counted once. Cached: a search
    compares every stored name. The canonical decomposition (NFD) only splits accents off: the
    compatibility one (NFKD) would also turn look-alikes such as full-width letters into plain
    ones, and those are refused, not matched."""
    decomposed = unicodedata.normalize("NFD", " ".join(name.casefold().split()))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.translate(_PLAIN_LETTERS)


@dataclass(frozen=True)
class Team:
    team_id: int
    abbreviation: str
    name: str


@dataclass
class StoreData:
    """The stored games as feature state, and the names requests use."""

    state: FeatureState
    teams: dict[int, Team]
    by_abbreviation: dict[str, int]
    player_names: dict[str, list[int]]
    game_ids: dict[tuple[date, int, int], str]
    version: str
    counts: dict[str, int] = field(default_factory=dict)

    def team(self, abbreviation: str) -> Team | None:
        team_id = self.by_abbreviation.get(abbreviation.strip().upper())
        return self.teams.get(team_id) if team_id is not None else None

    def known_abbreviations(self) -> list[str]:
        return sorted(t.abbreviation for t in self.teams.values())

    def game_id(self, day: date, home: int, away: int) -> str | None:
        """The real ID of a stored or scheduled game, when the store has it."""
        return self.game_ids.get((day, home, away))


# Row hashes are summed modulo this prime: the sum of a few hundred thousand rows fits in 64 bits
# on every backend (SQLite's sum() raises on overflow), and a corrected row changes it.
_HASH_MODULUS = 1_000_000_007


def fingerprint(engine: Engine) -> str:
    """A short digest of what the store holds (row counts, latest dates and the sum of the game
    rows' content hashes): a change of it means new or corrected games, players or schedule rows
    to load."""
    from sqlalchemy import func, literal, select

    from core.db import Game, PlayerGame, ScheduledGame, Team, TeamGame

    parts = []
    with engine.connect() as conn:
        for table, column in (
            (TeamGame.__table__, "game_date"),
            (PlayerGame.__table__, "game_date"),
            (Game.__table__, "game_date"),
            (ScheduledGame.__table__, "updated_at"),
        ):
            content = (
                func.sum(table.c.row_hash % _HASH_MODULUS) if "row_hash" in table.c else literal(0)
            )
            count, latest, total = conn.execute(
                select(func.count(), func.max(table.c[column]), content)
            ).one()
            parts.append(f"{table.name}:{count}:{latest}:{total}")
        parts.append(
            f"teams:{conn.execute(select(func.count()).select_from(Team.__table__)).scalar()}"
        )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def _team_directory(teams: pd.DataFrame, team_games: pd.DataFrame) -> tuple[dict, dict]:
    """Teams by ID and by abbreviation: the teams table first, then every abbreviation a team
    has played under (``NJN`` still finds the Nets)."""
    by_id: dict[int, Team] = {}
    by_abbr: dict[str, int] = {}
    if len(team_games):
        latest = team_games.sort_values("game_date").drop_duplicates(
            "team_abbreviation", keep="last"
        )
        for row in latest.itertuples(index=False):
            by_abbr[str(row.team_abbreviation).upper()] = int(row.team_id)
        newest = team_games.sort_values("game_date").drop_duplicates("team_id", keep="last")
        for row in newest.itertuples(index=False):
            abbr = str(row.team_abbreviation).upper()
            by_id[int(row.team_id)] = Team(int(row.team_id), abbr, abbr)
    for row in teams.itertuples(index=False):
        abbr = str(row.abbreviation).upper()
        by_id[int(row.team_id)] = Team(int(row.team_id), abbr, str(row.full_name))
        by_abbr[abbr] = int(row.team_id)
    return by_id, by_abbr


def load_store_data(engine: Engine, version: str | None = None) -> StoreData:
    """Read every stored game, team, player and scheduled game; build the feature state."""
    from sqlalchemy import select

    from core.db import Player, ScheduledGame
    from ingest.storage import read_games, read_player_games, read_team_games, read_teams

    version = version or fingerprint(engine)
    games = read_games(engine)
    if games.empty:
        raise ValueError("the store holds no games: run `nba-mlops ingest` first")
    team_games = read_team_games(engine)
    player_games = read_player_games(engine)
    teams = read_teams(engine)
    with engine.connect() as conn:
        players = conn.execute(select(Player.player_id, Player.full_name)).all()
        scheduled = conn.execute(
            select(
                ScheduledGame.game_id,
                ScheduledGame.game_date,
                ScheduledGame.home_team_id,
                ScheduledGame.away_team_id,
            )
        ).all()
    by_id, by_abbr = _team_directory(teams, team_games)
    state = FeatureState(games, team_games, player_games, team_ids=by_id)
    names: dict[str, list[int]] = {}
    for player_id, history in state.players.items():
        names.setdefault(name_key(history.name), []).append(player_id)
    for player_id, full_name in players:
        if int(player_id) in state.players and full_name:
            ids = names.setdefault(name_key(str(full_name)), [])
            if int(player_id) not in ids:
                ids.append(int(player_id))
    game_ids: dict[tuple[date, int, int], str] = {}
    for row in scheduled:
        game_ids[(row.game_date, int(row.home_team_id), int(row.away_team_id))] = row.game_id
    if len(games):
        days = pd.to_datetime(games["game_date"]).dt.date
        for day, home, away, game_id in zip(
            days, games["home_team_id"], games["away_team_id"], games["game_id"], strict=True
        ):
            game_ids[(day, int(home), int(away))] = str(game_id)
    return StoreData(
        state=state,
        teams=by_id,
        by_abbreviation=by_abbr,
        player_names=names,
        game_ids=game_ids,
        version=version,
        counts={
            "games": len(games),
            "team_games": len(team_games),
            "player_games": len(player_games),
            "teams": len(by_id),
            "players": len(state.players),
        },
    )
