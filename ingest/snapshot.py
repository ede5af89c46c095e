"""The offline snapshot folder (layout of ``../shared/data/nba``) as a source of raw frames.

Layout::

    team_game_logs/regular_season/<season>.csv.gz    LeagueGameLog (T)
    team_game_logs/playoffs/<season>.csv.gz          TeamGameLogs
    player_game_logs/regular_season/<season>.csv.gz  LeagueGameLog (P)
    player_box_scores/playoffs/<season>.csv.gz       V3 box scores, with DNP rows
    nba_api_responses/*.json + index.csv             recorded stats.nba.com responses

A season whose CSV is missing may still be served from a recorded ``leaguegamelog`` response
(the same JSON stats.nba.com sends), parsed by the live source's nba_api path. A CSV that exists
but cannot be read or holds no rows is refused (``SourceDataError``), not taken for a missing one.
An uncompressed ``<season>.csv`` is not read; the errors about a missing season name it.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from ingest.errors import SourceDataError
from ingest.schema import API_SEASON_TYPE, PLAYOFFS, REGULAR

_SEASON_FILE = re.compile(r"^(\d{4}-\d{2})\.csv\.gz$")
_UNCOMPRESSED_FILE = re.compile(r"^(\d{4}-\d{2})\.csv$")

TEAM_DIRS = {REGULAR: "team_game_logs/regular_season", PLAYOFFS: "team_game_logs/playoffs"}
PLAYER_DIRS = {REGULAR: "player_game_logs/regular_season", PLAYOFFS: "player_box_scores/playoffs"}
RESPONSES_DIR = "nba_api_responses"


def read_season_file(
    path: Path, season: str, season_type: str, dtype: dict[str, type]
) -> pd.DataFrame:
    """One season's CSV; a file that exists but cannot be read or holds no rows is refused
    (``SourceDataError``), never mistaken for a season missing from the snapshot. The frame's
    ``attrs["source"]`` names the file for the errors of normalization."""
    try:
        frame = pd.read_csv(path, dtype=dtype)
    except (
        EOFError,
        gzip.BadGzipFile,
        zlib.error,
        UnicodeDecodeError,
        pd.errors.EmptyDataError,
        pd.errors.ParserError,
    ) as exc:
        raise SourceDataError(
            f"unreadable ({exc.__class__.__name__}: {exc})",
            path=str(path),
            season=season,
            season_type=season_type,
        ) from exc
    if frame.empty:
        raise SourceDataError(
            "the file holds no rows", path=str(path), season=season, season_type=season_type
        )
    frame.attrs["source"] = str(path)
    return frame


class SnapshotSource:
    """Reads raw frames from a snapshot folder. Nothing is read until a method is called."""

    name = "snapshot"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def _seasons_in(self, sub: str) -> list[str]:
        folder = self.data_dir / sub
        if not folder.is_dir():
            return []
        found = (_SEASON_FILE.match(p.name) for p in folder.iterdir())
        return sorted(m.group(1) for m in found if m)

    def team_seasons(self, season_type: str) -> list[str]:
        return self._seasons_in(TEAM_DIRS[season_type])

    def player_seasons(self, season_type: str) -> list[str]:
        return self._seasons_in(PLAYER_DIRS[season_type])

    def seasons(self, season_type: str, *, recorded: bool = False) -> list[str]:
        """Seasons with a team or player file of ``season_type``; with ``recorded``, also those
        a recorded team ``leaguegamelog`` answers."""
        found = {*self.team_seasons(season_type), *self.player_seasons(season_type)}
        if recorded:
            found.update(self.recorded_seasons(season_type))
        return sorted(found)

    def recorded_seasons(self, season_type: str, player_or_team: str = "T") -> list[str]:
        """Seasons a recorded ``leaguegamelog`` response answers (team logs ``T``, player logs
        ``P``): ingested when asked for by name, not with ``all``."""
        if self.responses_dir is None:
            return []
        from ingest.recorded import RecordedResponses

        wanted = {("playerorteam", player_or_team), ("seasontype", API_SEASON_TYPE[season_type])}
        return sorted(
            dict(rec.key)["season"]
            for rec in RecordedResponses(self.responses_dir).recordings()
            if rec.endpoint == "leaguegamelog" and wanted <= rec.key and "season" in dict(rec.key)
        )

    def _layout_files(self) -> Iterator[tuple[str, str]]:
        """(season folder, file name) of every file in the layout's season folders, sorted."""
        for sub in (*TEAM_DIRS.values(), *PLAYER_DIRS.values()):
            folder = self.data_dir / sub
            if folder.is_dir():
                for path in sorted(folder.iterdir()):
                    yield sub, path.name

    def misnamed_files(self) -> list[str]:
        """Files of the layout's season folders that are not named like a season's
        (``2023-24.csv.gz``, or the refused ``2023-24.csv``): never read, so a season they were
        meant to hold is missing. Relative to the folder; hidden files are left out."""
        return [
            f"{sub}/{name}"
            for sub, name in self._layout_files()
            if not name.startswith(".")
            and not _SEASON_FILE.match(name)
            and not _UNCOMPRESSED_FILE.match(name)
        ]

    def uncompressed_files(self, seasons: Iterable[str] | None = None) -> list[str]:
        """The layout's season files stored as plain ``<season>.csv`` (of ``seasons``, default
        any), relative to the folder: never read, the snapshot's files are ``.csv.gz``."""
        wanted = None if seasons is None else set(seasons)
        found = []
        for sub, name in self._layout_files():
            match = _UNCOMPRESSED_FILE.match(name)
            if match and (wanted is None or match.group(1) in wanted):
                found.append(f"{sub}/{name}")
        return found

    def uncompressed_hint(self, seasons: Iterable[str] | None = None) -> str:
        """The end of a "season not in the snapshot" message: the uncompressed files of those
        seasons, if any ("" if none)."""
        files = self.uncompressed_files(seasons)
        if not files:
            return ""
        return (
            f"; found uncompressed {', '.join(files)}: season files are read only as"
            " <season>.csv.gz (gzip them)"
        )

    def team_file(self, season: str, season_type: str) -> str:
        """Where the team log of a season is read from, relative to the folder."""
        return f"{TEAM_DIRS[season_type]}/{season}.csv.gz"

    def player_file(self, season: str, season_type: str) -> str:
        """Where the player log of a season is read from: the file relative to the folder, or
        the recorded response when there is no file."""
        name = f"{PLAYER_DIRS[season_type]}/{season}.csv.gz"
        return name if (self.data_dir / name).exists() else "a recorded leaguegamelog response"

    def team_game_log(self, season: str, season_type: str) -> pd.DataFrame | None:
        path = self.data_dir / self.team_file(season, season_type)
        if not path.exists():
            return self._recorded("team_game_log", season, season_type)
        return read_season_file(path, season, season_type, {"GAME_ID": str, "WL": str})

    def player_game_log(self, season: str, season_type: str) -> pd.DataFrame | None:
        path = self.data_dir / PLAYER_DIRS[season_type] / f"{season}.csv.gz"
        if not path.exists():
            return self._recorded("player_game_log", season, season_type)
        return read_season_file(
            path, season, season_type, {"GAME_ID": str, "gameId": str, "minutes": str}
        )

    def _recorded(self, method: str, season: str, season_type: str) -> pd.DataFrame | None:
        """A season without a CSV, from a recorded ``leaguegamelog`` response if there is one."""
        if self.responses_dir is None:
            return None
        from ingest.errors import RecordingNotFound
        from ingest.nba_api_source import NbaApiSource
        from ingest.recorded import RecordedResponses

        source = NbaApiSource(send=RecordedResponses(self.responses_dir), retries=0, pause=0)
        try:
            return getattr(source, method)(season, season_type)
        except RecordingNotFound:
            return None

    @property
    def responses_dir(self) -> Path | None:
        folder = self.data_dir / RESPONSES_DIR
        return folder if (folder / "index.csv").exists() else None
