"""The snapshot folder as a source: a season file that exists but cannot be read, or holds no
rows, is refused naming the file and the season; a missing one is a season not in the source."""

from __future__ import annotations

import pytest

from ingest.errors import SourceDataError
from ingest.snapshot import SnapshotSource
from ingest.validation import BatchValidationError
from tests.builders import DAMAGES, damage_file, team_game_log, write_snapshot


@pytest.fixture
def snapshot(tmp_path):
    return write_snapshot(tmp_path / "snap", {"2022-23": team_game_log("2022-23", n_days=3)})


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize(
    ("method", "folder"),
    [
        ("team_game_log", "team_game_logs/regular_season"),
        ("player_game_log", "player_game_logs/regular_season"),
    ],
)
def test_a_broken_season_file_is_refused_naming_it(snapshot, how, method, folder):
    path = damage_file(snapshot / folder / "2022-23.csv.gz", how)

    with pytest.raises(SourceDataError) as caught:
        getattr(SnapshotSource(snapshot), method)("2022-23", "regular")

    message = str(caught.value)
    assert message.startswith(f"{path} (2022-23 regular): ")
    assert "\n" not in message
    assert (caught.value.path, caught.value.season) == (str(path), "2022-23")
    assert isinstance(caught.value, BatchValidationError)  # refused like a failed batch


def test_a_missing_season_file_is_a_season_not_in_the_source(snapshot):
    source = SnapshotSource(snapshot)
    assert source.team_game_log("2021-22", "regular") is None
    assert len(source.team_game_log("2022-23", "regular")) == 12


def test_an_uncompressed_season_file_is_not_read_but_named(snapshot):
    log = team_game_log("2023-24", n_days=3)
    log.to_csv(snapshot / "team_game_logs" / "regular_season" / "2023-24.csv", index=False)
    source = SnapshotSource(snapshot)
    assert source.team_seasons("regular") == ["2022-23"]
    assert source.team_game_log("2023-24", "regular") is None
    assert source.uncompressed_files() == ["team_game_logs/regular_season/2023-24.csv"]
    assert source.uncompressed_files(["2022-23"]) == []
    hint = source.uncompressed_hint(["2023-24"])
    assert "team_game_logs/regular_season/2023-24.csv" in hint and ".csv.gz" in hint
    assert source.uncompressed_hint(["2022-23"]) == ""
