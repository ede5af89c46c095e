"""``nba-mlops backtest`` on a folder of the snapshot's layout that adds a later season.

The folder holds real files of the shared snapshot (linked, three seasons to stay fast) and a
2024-25 season written as the snapshot writes its files: 2023-24's rows moved one season on
(season and game IDs, dates 52 weeks later). The command is run as a user would, with nothing
but that folder; the later season is scored like any other.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from training.models import GAME_MODELS, POINTS_MODELS

pytestmark = [pytest.mark.snapshot, pytest.mark.slow]

TEAM_SEASONS = ("2021-22", "2022-23", "2023-24")
PLAYER_SEASONS = ("2022-23", "2023-24")
LOGS = {"team_game_logs": TEAM_SEASONS, "player_game_logs": PLAYER_SEASONS}


def one_season_on(raw: pd.DataFrame) -> pd.DataFrame:
    """2023-24's rows of a snapshot file as the same file of 2024-25 would hold them."""
    later = raw.copy()
    later["SEASON_ID"] = later["SEASON_ID"] + 1  # 22023 -> 22024
    later["GAME_ID"] = later["GAME_ID"].str.replace(r"^00223", "00224", regex=True)
    days = pd.to_datetime(later["GAME_DATE"]) + pd.Timedelta(weeks=52)
    later["GAME_DATE"] = days.dt.strftime("%Y-%m-%d")
    if "SEASON_LABEL" in later:
        later["SEASON_LABEL"] = "2024-25"
    return later


@pytest.fixture(scope="module")
def with_a_later_season(data_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("later")
    for logs, seasons in LOGS.items():
        regular = folder / logs / "regular_season"
        regular.mkdir(parents=True)
        for season in seasons:
            (regular / f"{season}.csv.gz").symlink_to(
                data_dir / logs / "regular_season" / f"{season}.csv.gz"
            )
        raw = pd.read_csv(regular / "2023-24.csv.gz", dtype={"GAME_ID": str})
        one_season_on(raw).to_csv(regular / "2024-25.csv.gz", index=False)
    return folder


def test_a_later_season_is_backtested_like_any_other(with_a_later_season, tmp_path, clean_env):
    out = tmp_path / "bt"
    args = ["--data-dir", str(with_a_later_season), "--test-seasons", "2024-25", "--out", str(out)]
    result = CliRunner().invoke(app, ["backtest", *args])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "backtest.json").read_text())
    games = {name: scores["2024-25"] for name, scores in doc["game"].items()}
    assert set(games) == {*GAME_MODELS, "baseline-home", "baseline-record", "baseline-elo"}
    assert {g["n"] for g in games.values()} == {1230}  # every regular-season game, once
    assert games["game-logistic"]["log_loss"] < games["baseline-home"]["log_loss"] - 0.02
    points = {name: scores["2024-25"] for name, scores in doc["points"].items()}
    assert set(points) == {*POINTS_MODELS, "baseline-season-avg", "baseline-last10"}
    assert len({p["n"] for p in points.values()}) == 1  # models and baselines on the same rows
    assert points["player-ridge"]["mae_rotation"] < points["baseline-last10"]["mae_rotation"]
    assert "2024-25" in (out / "backtest.md").read_text()
