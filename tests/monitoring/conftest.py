"""A real slice of the shared snapshot: two regular seasons of game features, built once."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def season_features(data_dir) -> pd.DataFrame:
    """Game features of the 2021-22 and 2022-23 regular seasons, with each row's season day."""
    from features import build_game_features
    from ingest.normalize import games_from_team_games, normalize_team_games
    from ingest.schema import REGULAR
    from ingest.snapshot import SnapshotSource
    from monitoring.windows import season_day, season_starts

    source = SnapshotSource(data_dir)
    team_games = pd.concat(
        [
            normalize_team_games(source.team_game_log(s, REGULAR), s, REGULAR)
            for s in ("2021-22", "2022-23")
        ],
        ignore_index=True,
    )
    games = games_from_team_games(team_games)
    frame = build_game_features(games, team_games)
    frame["season_day"] = season_day(frame, season_starts(frame))
    return frame
