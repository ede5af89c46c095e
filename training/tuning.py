"""Hyperparameter search by inner walk-forward validation (never on a test season).

``validate_grid`` scores every combination of a small grid for one model on *validation* seasons
(each trained on the seasons before it, as in the backtest) and returns one row per combination.
Pick validation seasons that all come before the first test season; ``check_before`` enforces it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from ingest.schema import season_start_year
from training.backtest import Progress, walk_forward
from training.models import GAME, task_of
from training.params import DEFAULT_PARAMS


def check_before(validation_seasons: Sequence[str], first_test_season: str) -> None:
    """Raise ValueError unless every validation season precedes the first test season."""
    late = [
        s
        for s in validation_seasons
        if season_start_year(s) >= season_start_year(first_test_season)
    ]
    if late:
        raise ValueError(f"validation seasons {late} are not before the test season")


def validate_grid(
    frame: pd.DataFrame,
    name: str,
    grid: Mapping[str, Sequence[Any]],
    validation_seasons: Sequence[str],
    *,
    first_test_season: str | None = None,
    feature_names: Sequence[str] | None = None,
    progress: Progress | None = None,
    **walk_forward_options: Any,
) -> pd.DataFrame:
    """One row per grid point: the parameters, the mean validation metrics, and the primary
    metric per validation season; sorted by the primary metric (log loss / MAE)."""
    if first_test_season is not None:
        check_before(validation_seasons, first_test_season)
    task = task_of(name)
    primary = "log_loss" if task == GAME else "mae"
    keys = list(grid)
    rows = []
    for values in itertools.product(*(grid[k] for k in keys)):
        params = replace(DEFAULT_PARAMS[name], **dict(zip(keys, values, strict=True)))
        result = walk_forward(
            frame if task == GAME else None,
            None if task == GAME else frame,
            validation_seasons,
            params={name: params},
            models=[name],
            progress=progress,
            game_features=feature_names if task == GAME else None,
            player_features=None if task == GAME else feature_names,
            intervals=False,  # the grid is judged on its metrics alone
            **walk_forward_options,
        )
        per_season = result.metrics[task][name]
        row = dict(zip(keys, values, strict=True))
        row.update(result.mean(task, name))
        row.update({f"{primary}.{s}": m[primary] for s, m in per_season.items()})
        row["fit_seconds"] = sum(v for k, v in result.fit_seconds.items() if k.startswith(name))
        rows.append(row)
    return pd.DataFrame(rows).sort_values(primary, ignore_index=True)
