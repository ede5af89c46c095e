"""Quick model experiments on the validation seasons (second and third rounds of
model_selection.md).

    .venv/bin/python benchmarks/model_experiments.py games     # roster-strength variants
    .venv/bin/python benchmarks/model_experiments.py points    # target transforms, weights, ...

Validation only: for each season S of 2018-19, 2019-20, 2020-21, fit on every earlier season,
score S (``training.backtest`` row selection, the pipelines of ``training.models``). The test
seasons are never touched here. The snapshot's frames and the product feature frames are cached
under ``.cache/model_experiments/`` (delete the folder to rebuild). Prints one line per variant:
the mean and the per-season numbers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from features_data import (  # noqa: E402
    games_from_team_games,
    load_player_games,
    load_team_games,
)

import features  # noqa: E402
from features.asof import end_of_day, lookup_before, rolling_counts, rolling_sums  # noqa: E402
from features.game import build_game_features  # noqa: E402
from features.player import build_player_features  # noqa: E402
from features.roster import build_roster_state, game_scores, roster_features  # noqa: E402
from training.backtest import eval_rows, predict, score, time_order, train_rows  # noqa: E402
from training.models import make_model  # noqa: E402
from training.params import GameLogisticParams  # noqa: E402

CACHE = HERE.parent / ".cache" / "model_experiments"
VALIDATION = ("2018-19", "2019-20", "2020-21")
Weights = Callable[[pd.DataFrame, str], np.ndarray]


def cached_frames() -> dict[str, pd.DataFrame]:
    """The snapshot's team, game and player frames and both feature frames (built once)."""
    names = ("team_games", "games", "player_games", "game_features", "player_features")
    if not all((CACHE / f"{n}.parquet").exists() for n in names):
        CACHE.mkdir(parents=True, exist_ok=True)
        team_games = load_team_games()
        games = games_from_team_games(team_games)
        player_games = load_player_games()
        built = {
            "team_games": team_games,
            "games": games,
            "player_games": player_games,
            "game_features": build_game_features(games, team_games, player_games=player_games),
            "player_features": build_player_features(player_games, team_games, games),
        }
        for name, frame in built.items():
            frame.to_parquet(CACHE / f"{name}.parquet")
    return {n: pd.read_parquet(CACHE / f"{n}.parquet") for n in names}


def _season_weights(half_life: float) -> Weights:
    def weights(train: pd.DataFrame, season: str) -> np.ndarray:
        years = train["season"].str.slice(0, 4).astype(int).to_numpy()
        return 0.5 ** ((int(season[:4]) - years) / half_life)

    return weights


def validate(
    task: str,
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    *,
    name: str,
    params=None,
    model: Callable[[Sequence[str]], object] | None = None,
    weights: Weights | None = None,
) -> tuple[float, list[float]]:
    """Mean and per-season validation log loss (games) or rotation MAE (points)."""
    target = "home_win" if task == "game" else "pts"
    key = "log_loss" if task == "game" else "mae_rotation"
    values = []
    for season in VALIDATION:
        train = time_order(frame.loc[train_rows(frame, task, season)])
        test = time_order(frame.loc[eval_rows(frame, task, season)])
        estimator = model(feature_names) if model else make_model(name, params, feature_names)
        fit_params = {} if weights is None else {"model__sample_weight": weights(train, season)}
        estimator.fit(train, train[target].to_numpy(float), **fit_params)
        values.append(score(task, test, predict(estimator, test, task))[key])
    return float(np.mean(values)), [round(v, 4) for v in values]


def report(label: str, result: tuple[float, list[float]]) -> None:
    mean, seasons = result
    print(f"{label:<60} {mean:.4f}  {seasons}", flush=True)


# Games -----------------------------------------------------------------------------------------
def lineup_levels(
    player_games: pd.DataFrame, team_games: pd.DataFrame, window: int
) -> pd.DataFrame:
    """Per team and day (end of day): the summed last-``window`` means of points, plus-minus and
    game score of the players who played the team's game that day, and the gap between the
    team's usual game-score sum (its last 10 games) and that day's."""
    p = player_games.assign(gs=game_scores(player_games), pm=player_games["plus_minus"])
    p = p.sort_values(["player_id", "game_date", "game_id"], ignore_index=True)
    stats = ["pts", "pm", "gs"]
    means = (
        rolling_sums(p, ["player_id"], stats, window)
        / rolling_counts(p, ["player_id"], window)[:, None]
    )
    p[[f"level_{s}" for s in stats]] = means
    sums = p.groupby(["team_id", "game_id"])[[f"level_{s}" for s in stats]].sum().reset_index()
    teams = team_games[["team_id", "game_id", "game_date", "season"]].merge(
        sums, on=["team_id", "game_id"], how="left"
    )
    teams = teams.sort_values(["team_id", "game_date", "game_id"], ignore_index=True)
    known = teams.dropna(subset=["level_gs"]).reset_index(drop=True)
    usual = rolling_sums(known, ["team_id"], ["level_gs"], 10)[:, 0]
    known["gap_gs"] = usual / rolling_counts(known, ["team_id"], 10) - known["level_gs"]
    teams = teams.merge(known[["team_id", "game_id", "gap_gs"]], how="left")
    return end_of_day(teams, ["team_id"])


def with_sides(frame: pd.DataFrame, state: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` plus ``home_/away_/diff_`` of ``columns`` from the previous game this season
    (0 unless both sides are known)."""
    out = frame.copy()
    sides = {}
    for side in ("home", "away"):
        keys = pd.DataFrame(
            {"team_id": frame[f"{side}_team_id"], "game_date": frame["game_date"]},
            index=frame.index,
        )
        found = lookup_before(keys, state, ["team_id"])
        same = found["season"].to_numpy() == frame["season"].to_numpy()
        sides[side] = {c: np.where(same, found[c].to_numpy(float), np.nan) for c in columns}
    both = np.isfinite(sides["home"][columns[0]]) & np.isfinite(sides["away"][columns[0]])
    for c in columns:
        for side in ("home", "away"):
            out[f"{side}_{c}"] = np.where(both, sides[side][c], 0.0)
        out[f"diff_{c}"] = out[f"home_{c}"] - out[f"away_{c}"]
    return out


def run_games(frames: dict[str, pd.DataFrame]) -> None:
    catalog = features.catalog
    roster = {*catalog.GAME_ROSTER_FEATURES, *catalog.GAME_INTERACTION_FEATURES}
    base = [c for c in features.GAME_FEATURES if c not in roster]
    game_frame = frames["game_features"]
    logistic = {"task": "game", "name": "game-logistic"}
    report(
        "reference (no roster features)", validate(frame=game_frame, feature_names=base, **logistic)
    )
    known = ["roster_known"]
    for window in (20, 40, 60, 120):
        state = lineup_levels(frames["player_games"], frames["team_games"], window)
        wide = with_sides(game_frame, state, ["level_pts", "level_pm", "level_gs", "gap_gs"])
        for label, cols in (
            ("gap of game scores", ["diff_gap_gs"]),
            ("plus-minus level, diff", ["diff_level_pm"]),
            ("game-score level, diff", ["diff_level_gs"]),
            ("game-score level, sides + diff", ["home_level_gs", "away_level_gs", "diff_level_gs"]),
        ):
            result = validate(frame=wide, feature_names=[*base, *cols, *known], **logistic)
            report(f"N={window}: {label}", result)
    product = list(features.GAME_FEATURES)
    report(
        "product roster features (N=60), no Elo interaction",
        validate(
            frame=game_frame,
            feature_names=[c for c in product if c not in catalog.GAME_INTERACTION_FEATURES],
            **logistic,
        ),
    )
    report("product features", validate(frame=game_frame, feature_names=product, **logistic))
    flag = game_frame["roster_known"].to_numpy()
    pairs = [c for c in product if c.startswith("diff_") and c not in roster]
    wide = game_frame.assign(
        **{f"known_x_{c}": flag * game_frame[c].fillna(game_frame[c].mean()) for c in pairs}
    )
    report(
        "product + roster_known x every other diff_ feature",
        validate(
            frame=wide,
            feature_names=[*product, *(f"known_x_{c}" for c in pairs if c != "diff_elo")],
            **logistic,
        ),
    )
    for c in (0.003, 0.03):
        result = validate(
            frame=game_frame, feature_names=product, params=GameLogisticParams(C=c), **logistic
        )
        report(f"product, C={c}", result)
    for half_life in (4, 8):
        result = validate(
            frame=game_frame, feature_names=product, weights=_season_weights(half_life), **logistic
        )
        report(f"product, season weights half-life {half_life}", result)
    for name in ("game-forest", "game-tree"):
        report(f"{name}, product", validate("game", game_frame, product, name=name))


# Points ----------------------------------------------------------------------------------------
def _transformed(func, inverse) -> Callable[[Sequence[str]], object]:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    def build(feature_names: Sequence[str]):
        ridge = make_model("player-ridge", None, feature_names)
        model = TransformedTargetRegressor(
            ridge.named_steps["model"], func=func, inverse_func=inverse
        )
        return Pipeline([("select", ridge.named_steps["select"]), ("model", model)])

    return build


def run_points(frames: dict[str, pd.DataFrame]) -> None:
    player_frame = frames["player_features"]
    names = list(features.PLAYER_FEATURES)
    ridge = {"task": "points", "name": "player-ridge"}
    report("reference", validate(frame=player_frame, feature_names=names, **ridge))
    for label, func, inverse in (("sqrt", np.sqrt, np.square), ("log1p", np.log1p, np.expm1)):
        result = validate(
            frame=player_frame, feature_names=names, model=_transformed(func, inverse), **ridge
        )
        report(f"target {label}", result)
    for half_life in (2, 4):
        result = validate(
            frame=player_frame,
            feature_names=names,
            weights=_season_weights(half_life),
            **ridge,
        )
        report(f"season weights half-life {half_life}", result)
    state = build_roster_state(frames["player_games"], frames["team_games"])
    sides = pd.DataFrame(
        {
            "home_team_id": player_frame["team_id"],
            "away_team_id": player_frame["opponent_team_id"],
            "game_date": player_frame["game_date"],
            "season": player_frame["season"],
        }
    )
    strength = roster_features(sides, state)
    wide = player_frame.assign(
        own_roster_gs=strength["home_roster_gs"],
        opp_roster_gs=strength["away_roster_gs"],
        roster_known=strength["roster_known"],
    )
    extra = ["own_roster_gs", "opp_roster_gs", "roster_known"]
    report(
        "own and opponent roster strength",
        validate(frame=wide, feature_names=[*names, *extra], **ridge),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=("games", "points"))
    args = parser.parse_args(argv)
    frames = cached_frames()
    (run_games if args.task == "games" else run_points)(frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
