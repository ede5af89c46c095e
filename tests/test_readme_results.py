"""The README's results tables show what the committed backtest output says.

``benchmarks/results/backtest/backtest.json`` is written by the ``nba-mlops backtest`` command the
README quotes; every row of the README's two results tables must carry that file's means, rounded
as printed, and every model of the six must have a row.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO
from training.models import GAME_MODELS, POINTS_MODELS

RESULTS = json.loads(
    (REPO / "benchmarks" / "results" / "backtest" / "backtest.json").read_text(encoding="utf-8")
)
# Column order of each README table: (metric key, format of the printed value).
COLUMNS = {
    "game": [
        ("accuracy", lambda v: f"{v:.1%}"),
        ("log_loss", lambda v: f"{v:.4f}"),
        ("brier", lambda v: f"{v:.4f}"),
        ("roc_auc", lambda v: f"{v:.3f}"),
        ("ece", lambda v: f"{v:.3f}"),
    ],
    "points": [
        ("mae", lambda v: f"{v:.3f}"),
        ("mae_rotation", lambda v: f"{v:.3f}"),
        ("rmse", lambda v: f"{v:.3f}"),
        ("r2", lambda v: f"{v:.3f}"),
    ],
}
HEADERS = {"game": "| game model / baseline |", "points": "| points model / baseline |"}


def readme_rows(task: str) -> dict[str, list[str]]:
    """Name -> printed cells (bold marks removed) of one README results table."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADERS[task]))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("*", "") for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.mark.parametrize("task", ["game", "points"])
def test_the_readme_results_are_the_committed_backtest_means(task):
    rows = readme_rows(task)
    models = GAME_MODELS if task == "game" else POINTS_MODELS
    assert set(models) <= set(rows), f"README {task} table lacks {set(models) - set(rows)}"
    for name, cells in rows.items():
        means = RESULTS[task][name]["mean"]
        expected = [fmt(means[key]) for key, fmt in COLUMNS[task]]
        assert cells == expected, f"README {task} row {name}: {cells} != backtest.json {expected}"


def test_the_readme_names_the_best_game_log_loss_it_reports():
    text = re.sub(r"\s+", " ", (REPO / "README.md").read_text(encoding="utf-8"))
    best = min(RESULTS["game"][name]["mean"]["log_loss"] for name in GAME_MODELS)
    assert f"log loss {best:.4f} misses" in text or f"log loss {best:.4f} meets" in text
