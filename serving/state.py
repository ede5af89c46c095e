"""Features of requests, as of their date, from state built once over the stored games.

``build_game_features`` / ``build_player_features`` rebuild every team's and player's history on
each call (~0.6 s and ~1.6 s over all stored games): right for training, far too slow per request.
Here the same ``features`` functions build the histories once (``build_team_log``,
``build_team_state``, ``build_h2h_state``, ``build_player_log``, ``build_player_state``, ...), and
a request only runs the as-of lookups (``team_features``, ``h2h_features``,
``history_features_from_state``) and the final assembly, which follows ``build_*_features``
line for line. ``tests/serving/test_state.py`` checks the results equal the builders' exactly.

Game features of one date are computed for every ordered pair of teams at once (one vectorized
pass, a few milliseconds) and kept for the next requests of that date.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.asof import as_dates, lookup_before
from features.catalog import (
    GAME_BASELINES,
    GAME_FEATURES,
    PLAYER_BASELINES,
    PLAYER_FEATURES,
)
from features.elo import EloParams
from features.game import build_h2h_state
from features.game import game_features_from_state as assemble_game_features
from features.player import (
    MISSED_CAP,
    build_lineup_state,
    build_player_league_state,
    build_player_log,
    build_player_state,
    clean_player_rows,
    history_features_from_state,
    player_context_features,
    team_side,
)
from features.roster import build_roster_state
from features.team import build_team_log, build_team_state
from ingest.schema import REGULAR, season_label

log = logging.getLogger(__name__)

GAME_OUTPUT = (*GAME_FEATURES, *(c for c in GAME_BASELINES if c not in GAME_FEATURES))
PLAYER_OUTPUT = (*PLAYER_FEATURES, *PLAYER_BASELINES)
# A new season is taken to start in September (the 2020 bubble ended in October: stored seasons
# are looked up first, this rule only dates days outside them).
SEASON_START_MONTH = 9


def season_of(day: pd.Timestamp, ranges: dict[str, tuple[pd.Timestamp, pd.Timestamp]]) -> str:
    """The season a date belongs to: the stored season whose games span it, else by the month."""
    for season, (first, last) in ranges.items():
        if first <= day <= last:
            return season
    year = day.year if day.month >= SEASON_START_MONTH else day.year - 1
    return season_label(year)


def game_features_from_state(
    target: pd.DataFrame,
    state: pd.DataFrame,
    league: pd.DataFrame,
    h2h_state: pd.DataFrame,
    params: EloParams,
    roster_state: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``GAME_OUTPUT`` of ``target`` (unplayed games), assembled by ``features/``."""
    out = assemble_game_features(target, state, league, h2h_state, params, roster_state)
    return out.loc[:, [c for c in GAME_OUTPUT if c in out.columns]]


@dataclass(frozen=True)
class GameRow:
    """The features of one requested game."""

    season: str
    vector: np.ndarray  # in GAME_OUTPUT order

    def as_dict(self, names: tuple[str, ...] = GAME_OUTPUT) -> dict[str, float]:
        return {name: float(value) for name, value in zip(names, self.vector, strict=True)}


class DateTable:
    """Every ordered pair of teams on one date (on home court and at a neutral site)."""

    def __init__(self, season: str, index: dict[tuple[int, int, bool], int], matrix: np.ndarray):
        self.season = season
        self.index = index
        self.matrix = matrix

    def row(self, home: int, away: int, neutral: bool) -> GameRow:
        return GameRow(self.season, self.matrix[self.index[(home, away, neutral)]])


class PlayerHistory:
    """A player's stored games in short: id, name, last team, per-season spans."""

    def __init__(self, player_id: int, name: str, team_id: int, last_date: pd.Timestamp):
        self.player_id = player_id
        self.name = name
        self.team_id = team_id
        self.last_date = last_date


class FeatureState:
    """Team, head-to-head and player histories of every stored game, read-only once built.

    ``games``, ``team_games`` and ``player_games`` are the store's frames (``ingest.storage``).
    """

    def __init__(
        self,
        games: pd.DataFrame,
        team_games: pd.DataFrame,
        player_games: pd.DataFrame | None = None,
        params: EloParams | None = None,
        cache_dates: int = 32,
        team_ids: Iterable[int] = (),
    ) -> None:
        self.params = params or EloParams()
        team_log = build_team_log(team_games)
        self.team_state, self.league = build_team_state(team_log, self.params)
        self.h2h_state = build_h2h_state(team_log)
        # Who played each team's last game (the roster features), as build_game_features does
        # when given the player logs.
        self.roster_state = (
            build_roster_state(player_games, team_games)
            if player_games is not None and len(player_games)
            else None
        )
        dates = as_dates(games["game_date"]) if len(games) else pd.Series([], dtype="M8[ns]")
        spans = pd.DataFrame({"season": games["season"].astype(str), "game_date": dates})
        grouped = spans.groupby("season")["game_date"]
        self.season_ranges = {
            season: (first, last)
            for season, first, last in zip(
                grouped.min().index, grouped.min(), grouped.max(), strict=True
            )
        }
        self.last_game_date = dates.max() if len(dates) else None
        self._game_days = np.sort(dates.dropna().unique().astype("M8[ns]"))
        played = {int(t) for t in team_games["team_id"].unique()} if len(team_games) else set()
        self.team_ids = sorted(played | {int(t) for t in team_ids})
        self._tables: OrderedDict[pd.Timestamp, DateTable] = OrderedDict()
        self._cache_dates = cache_dates
        self._lock = threading.Lock()
        self._team_slices = {
            int(team): frame for team, frame in self.team_state.groupby("team_id", sort=False)
        }
        self._players: dict[int, PlayerHistory] = {}
        self._player_teams: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._player_state: dict[int, pd.DataFrame] = {}
        self._lineup: dict[int, pd.DataFrame] = {}
        self.player_league = None
        if player_games is not None and len(player_games):
            self._build_players(player_games, team_games)
        self.game_columns, self.player_columns = self._probe()

    def _probe(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The feature columns this code computes (a catalog name it does not compute would make
        a model needing it unservable: the model check refuses it with that name)."""
        day = (self.last_game_date or pd.Timestamp("2000-01-01")) + pd.Timedelta(days=1)
        game_columns: tuple[str, ...] = ()
        if len(self.team_ids) >= 2:
            home, away = self.team_ids[:2]
            target = pd.DataFrame(
                {
                    "season": [self.season_of(day)],
                    "season_type": [REGULAR],
                    "game_date": pd.Series([day.to_datetime64()], dtype="M8[ns]"),
                    "home_team_id": np.array([home], dtype="int64"),
                    "away_team_id": np.array([away], dtype="int64"),
                    "neutral_site": [False],
                }
            )
            frame = game_features_from_state(
                target,
                self.team_state,
                self.league,
                self.h2h_state,
                self.params,
                self.roster_state,
            )
            game_columns = tuple(frame.columns)
        player_columns: tuple[str, ...] = ()
        if self._players and len(self.team_ids) >= 2:
            history = next(iter(self._players.values()))
            opponent = next(t for t in self.team_ids if t != history.team_id)
            try:
                _, values = self.player_row(history.player_id, history.team_id, opponent, day, True)
            except Exception:  # points models will be refused, naming what is missing
                log.exception("player features cannot be computed from the stored games")
            else:
                player_columns = tuple(values)
        return game_columns, player_columns

    # Games --------------------------------------------------------------------------------------
    def season_of(self, day: pd.Timestamp) -> str:
        return season_of(day, self.season_ranges)

    def history_through(self, day: date | pd.Timestamp) -> date | None:
        """The last stored game day before ``day``: the features of a game on ``day`` know the
        games up to it and none after (None: no stored game before ``day``)."""
        at = np.searchsorted(self._game_days, pd.Timestamp(day).to_datetime64(), side="left")
        return pd.Timestamp(self._game_days[at - 1]).date() if at else None

    def game_row(
        self, home: int, away: int, day: date | pd.Timestamp, neutral: bool = False
    ) -> GameRow:
        """The features of ``home`` v ``away`` on ``day`` (from games strictly before it)."""
        table = self.date_table(pd.Timestamp(day).normalize())
        return table.row(int(home), int(away), bool(neutral))

    def has_table(self, day: date | pd.Timestamp) -> bool:
        """Whether the features of ``day`` are already computed (a lookup, no work)."""
        return pd.Timestamp(day).normalize() in self._tables

    def date_table(self, day: pd.Timestamp) -> DateTable:
        """Every pair's features on ``day``, computed on first use and kept (LRU of dates)."""
        key = pd.Timestamp(day).normalize()
        with self._lock:
            table = self._tables.get(key)
            if table is not None:
                self._tables.move_to_end(key)
                return table
        table = self._build_table(key, tuple(self.team_ids))
        with self._lock:
            self._tables[key] = table
            while len(self._tables) > self._cache_dates:
                self._tables.popitem(last=False)
        return table

    def _build_table(self, day: pd.Timestamp, team_ids: tuple[int, ...]) -> DateTable:
        season = self.season_of(day)
        pairs = [(h, a) for h in team_ids for a in team_ids if h != a]
        n = len(pairs)
        homes = np.array([p[0] for p in pairs] * 2, dtype="int64")
        aways = np.array([p[1] for p in pairs] * 2, dtype="int64")
        neutral = np.repeat([False, True], n)
        target = pd.DataFrame(
            {
                "season": season,
                "season_type": REGULAR,
                "game_date": pd.Series(np.repeat(day.to_datetime64(), 2 * n), dtype="M8[ns]"),
                "home_team_id": homes,
                "away_team_id": aways,
                "neutral_site": neutral,
            }
        )
        frame = game_features_from_state(
            target, self.team_state, self.league, self.h2h_state, self.params, self.roster_state
        )
        index = {
            (int(h), int(a), bool(x)): i
            for i, (h, a, x) in enumerate(zip(homes, aways, neutral, strict=True))
        }
        # Always GAME_OUTPUT columns (NaN for any the code does not compute: models needing one
        # are refused when loaded), so a model's column positions never shift.
        matrix = frame.reindex(columns=list(GAME_OUTPUT)).to_numpy(dtype=float)
        return DateTable(season, index, matrix)

    # Players ------------------------------------------------------------------------------------
    def _build_players(self, player_games: pd.DataFrame, team_games: pd.DataFrame) -> None:
        target = clean_player_rows(player_games)
        log = build_player_log(target, team_games)
        self._player_state = {
            int(pid): frame for pid, frame in build_player_state(log).groupby("player_id")
        }
        self.player_league = build_player_league_state(log)
        self._lineup = {
            int(team): frame for team, frame in build_lineup_state(log).groupby("team_id")
        }
        for pid, rows in log.groupby("player_id", sort=False):
            self._player_teams[int(pid)] = (
                rows["game_date"].to_numpy(dtype="M8[ns]"),
                rows["team_id"].to_numpy(dtype="int64"),
            )
        last = player_games.sort_values(["game_date", "game_id"]).drop_duplicates(
            "player_id", keep="last"
        )
        for row in last.itertuples(index=False):
            self._players[int(row.player_id)] = PlayerHistory(
                int(row.player_id),
                str(row.player_name),
                int(row.team_id),
                pd.Timestamp(row.game_date),
            )

    @property
    def players(self) -> dict[int, PlayerHistory]:
        return self._players

    def _last_player_game(
        self, player_id: int, day: date | pd.Timestamp
    ) -> tuple[pd.Timestamp, int] | None:
        """(day, team) of the player's last stored game before ``day`` (None without one)."""
        found = self._player_teams.get(int(player_id))
        if found is None:
            return None
        dates, teams = found
        i = int(np.searchsorted(dates, pd.Timestamp(day).to_datetime64(), side="left")) - 1
        return (pd.Timestamp(dates[i]), int(teams[i])) if i >= 0 else None

    def player_team_on(self, player_id: int, day: pd.Timestamp) -> int | None:
        """The team of the player's last stored game before ``day`` (None without one)."""
        last = self._last_player_game(player_id, day)
        return last[1] if last else None

    def player_history_through(self, player_id: int, day: date | pd.Timestamp) -> date | None:
        """The day of the player's last stored game before ``day``: his features know his
        games up to it (None: he has no stored game before ``day``)."""
        last = self._last_player_game(player_id, day)
        return last[0].date() if last else None

    def player_row(
        self,
        player_id: int,
        team_id: int,
        opponent_id: int,
        day: date | pd.Timestamp,
        is_home: bool,
    ) -> tuple[str, dict[str, float]]:
        """(season, ``PLAYER_FEATURES`` + baselines) of one player-game to predict."""
        day = pd.Timestamp(day).normalize()
        season = self.season_of(day)
        target = pd.DataFrame(
            {
                "player_id": np.array([player_id], dtype="int64"),
                "team_id": np.array([team_id], dtype="int64"),
                "season": [season],
                "game_date": pd.Series([day.to_datetime64()], dtype="M8[ns]"),
                "opponent_team_id": np.array([opponent_id], dtype="int64"),
                "is_home": [bool(is_home)],
            }
        )
        frame = self.player_features(target)
        values = frame.iloc[0]
        return season, {name: float(values[name]) for name in frame.columns}

    def _player_slice(self, player_ids) -> pd.DataFrame:
        frames = [self._player_state[p] for p in pd.unique(player_ids) if p in self._player_state]
        if frames:
            return pd.concat(frames, ignore_index=True)
        empty = next(iter(self._player_state.values()), None)
        if empty is None:
            raise LookupError("no player history stored")
        return empty.iloc[0:0]

    def _team_rows(self, team_ids, source: dict[int, pd.DataFrame], like: pd.DataFrame):
        frames = [source[t] for t in pd.unique(team_ids) if t in source]
        return pd.concat(frames, ignore_index=True) if frames else like.iloc[0:0]

    def player_features(self, target: pd.DataFrame) -> pd.DataFrame:
        """``PLAYER_OUTPUT`` for request rows (``player_id, team_id, season, game_date,
        opponent_team_id, is_home``), as ``build_player_features`` assembles them."""
        if self.player_league is None:
            raise LookupError("no player history stored")
        history = history_features_from_state(
            target, self._player_slice(target["player_id"]), self.player_league
        )
        own, opp, after_last = self._team_sides(target, history["last_date"])
        # features.player._games_missed, with the team's games through the day after the
        # player's last game taken from the same team-side lookup.
        seen = history["last_date"].notna().to_numpy()
        missed = np.where(
            seen, own["season_games"].to_numpy() - after_last["season_games"].to_numpy(), 0.0
        )
        context = player_context_features(
            target, own, opp, np.clip(missed, 0.0, MISSED_CAP), self._lineup_gap(target)
        )
        out = pd.concat([history, context], axis=1)
        return out.loc[:, [c for c in PLAYER_OUTPUT if c in out.columns]]

    def _team_sides(
        self, target: pd.DataFrame, last_date: pd.Series
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """``features.player.team_side`` for the player's team, the opponent and the player's
        team on the day after his last game, in one lookup (three frames aligned with target)."""
        day_after = pd.to_datetime(last_date).fillna(target["game_date"]) + pd.Timedelta(days=1)
        keys = pd.concat(
            [
                target[["team_id", "game_date", "season"]],
                target[["opponent_team_id", "game_date", "season"]].rename(
                    columns={"opponent_team_id": "team_id"}
                ),
                pd.DataFrame(
                    {
                        "team_id": target["team_id"],
                        "game_date": day_after,
                        "season": target["season"],
                    }
                ),
            ],
            ignore_index=True,
        )
        keys["game_date"] = keys["game_date"].astype("M8[ns]")
        state = self._team_rows(keys["team_id"], self._team_slices, self.team_state)
        sides = team_side(keys, state, self.league, self.params)
        n = len(target)
        parts = [sides.iloc[i * n : (i + 1) * n].set_axis(target.index) for i in range(3)]
        return parts[0], parts[1], parts[2]

    def _lineup_gap(self, target: pd.DataFrame) -> pd.Series:
        """``features.player.lineup_features`` on the precomputed lineup state."""
        like = next(iter(self._lineup.values()))
        state = self._team_rows(target["team_id"], self._lineup, like)
        found = lookup_before(target[["team_id", "game_date"]], state, ["team_id"])
        same_season = found["season"].to_numpy() == target["season"].to_numpy()
        gap = np.where(same_season, found["scoring_gap"].to_numpy(), 0.0)
        return pd.Series(np.nan_to_num(gap), index=target.index, name="team_scoring_gap")
