"""Quick model experiments on the validation seasons (second, third and fifth rounds of
model_selection.md).

    .venv/bin/python benchmarks/model_experiments.py games     # roster-strength variants
    .venv/bin/python benchmarks/model_experiments.py points    # target transforms, weights, ...
    .venv/bin/python benchmarks/model_experiments.py round5    # playoff rows, penalties, blends

Validation only: for each season S of 2018-19, 2019-20, 2020-21, fit on every earlier season,
score S (``training.backtest`` row selection, the pipelines of ``training.models``). The test
seasons are never touched here. The snapshot's frames and the product feature frames are cached
under ``.cache/model_experiments/`` (delete the folder to rebuild). Prints one line per variant:
the mean and the per-season numbers. ``round5 --long`` also compares the variants that do not
need player logs walk-forward on every season from 2005-06 to 2020-21 (still before the test
seasons).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
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
LONG = tuple(f"{y}-{(y + 1) % 100:02d}" for y in range(2005, 2021))  # 2005-06 .. 2020-21
FIRST_TEST_YEAR = 2021  # 2021-22 on are the test seasons: never scored here
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


def store_game_features() -> pd.DataFrame:
    """The game feature frame of the product's store (built once): the rows ``ingest_flow``
    writes (``ingest.snapshot`` read through ``ingest.normalize``, without the SQLite round
    trip), i.e. the regular seasons plus the playoff team logs (2010-11 on) and playoff player
    box scores, so playoff games feed the as-of histories and are rows of the frame
    (``season_type == "playoffs"``, used for training only with ``train_playoffs``)."""
    path = CACHE / "game_features_store.parquet"
    if not path.exists():
        from features_data import data_dir

        from ingest.normalize import games_from_team_games as store_games
        from ingest.normalize import normalize_player_games, normalize_team_games
        from ingest.schema import SEASON_TYPES
        from ingest.snapshot import SnapshotSource

        source = SnapshotSource(data_dir())
        teams, players = [], []
        for season_type in SEASON_TYPES:
            for season in source.seasons(season_type):
                raw = source.team_game_log(season, season_type)
                if raw is not None and not raw.empty:
                    teams.append(normalize_team_games(raw, season, season_type))
                raw = source.player_game_log(season, season_type)
                if raw is not None and not raw.empty:
                    players.append(normalize_player_games(raw, season, season_type))
        team_games = pd.concat(teams, ignore_index=True)
        games = pd.concat([store_games(t) for t in teams], ignore_index=True)
        games = games.sort_values(["game_date", "game_id"], ignore_index=True)
        player_games = pd.concat(players, ignore_index=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        build_game_features(games, team_games, player_games=player_games).to_parquet(path)
    return pd.read_parquet(path)


def _season_weights(half_life: float) -> Weights:
    def weights(train: pd.DataFrame, season: str) -> np.ndarray:
        years = train["season"].str.slice(0, 4).astype(int).to_numpy()
        return 0.5 ** ((int(season[:4]) - years) / half_life)

    return weights


def season_predictions(
    task: str,
    frame: pd.DataFrame,
    build: Callable[[], object],
    *,
    weights: Weights | None = None,
    train_playoffs: bool = False,
    seasons: Sequence[str] = VALIDATION,
) -> Iterator[tuple[str, pd.DataFrame, np.ndarray]]:
    """For each season: its scored rows and the predictions of ``build()`` fitted on every
    earlier season (regular season, plus playoffs with ``train_playoffs``)."""
    target = "home_win" if task == "game" else "pts"
    for season in seasons:
        if int(season[:4]) >= FIRST_TEST_YEAR:
            raise ValueError(f"{season} is a test season")
        rows = train_rows(frame, task, season, train_playoffs=train_playoffs)
        train = time_order(frame.loc[rows])
        test = time_order(frame.loc[eval_rows(frame, task, season)])
        estimator = build()
        fit_params = {} if weights is None else {"model__sample_weight": weights(train, season)}
        estimator.fit(train, train[target].to_numpy(float), **fit_params)
        yield season, test, predict(estimator, test, task)


def validate(
    task: str,
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    *,
    name: str,
    params=None,
    model: Callable[[Sequence[str]], object] | None = None,
    weights: Weights | None = None,
    train_playoffs: bool = False,
    seasons: Sequence[str] = VALIDATION,
) -> tuple[float, list[float]]:
    """Mean and per-season validation log loss (games) or rotation MAE (points)."""
    key = "log_loss" if task == "game" else "mae_rotation"

    def build():
        return model(feature_names) if model else make_model(name, params, feature_names)

    folds = season_predictions(
        task, frame, build, weights=weights, train_playoffs=train_playoffs, seasons=seasons
    )
    values = [score(task, test, predicted)[key] for _, test, predicted in folds]
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


# Fifth round --------------------------------------------------------------------------------
Folds = Iterator[tuple[str, pd.DataFrame, np.ndarray]]


def report_games(label: str, folds: Folds) -> dict[str, dict[str, float]]:
    """Print the mean and per-season log loss, mean accuracy and Brier; return the metrics."""
    metrics = {season: score("game", test, predicted) for season, test, predicted in folds}
    losses = [m["log_loss"] for m in metrics.values()]
    accuracy = np.mean([m["accuracy"] for m in metrics.values()])
    brier = np.mean([m["brier"] for m in metrics.values()])
    seasons = " / ".join(f"{v:.4f}" for v in losses)
    print(
        f"{label:<60} {np.mean(losses):.4f} ({seasons})  {100 * accuracy:.1f}%  {brier:.4f}",
        flush=True,
    )
    return metrics


def report_gain(label: str, base: dict, candidate: dict) -> None:
    """Per season, how much lower the candidate's log loss is than the base's."""
    gains = np.array([base[s]["log_loss"] - candidate[s]["log_loss"] for s in base])
    print(
        f"{label}: mean gain {gains.mean():+.4f}, better in {(gains > 0).sum()} and worse in "
        f"{(gains < 0).sum()} of {gains.size} seasons "
        f"(from {gains.min():+.4f} to {gains.max():+.4f})",
        flush=True,
    )


def _logistic(names: Sequence[str], **options) -> Callable[[], object]:
    """game-logistic's pipeline, its LogisticRegression replaced by one with ``options``."""
    from sklearn.linear_model import LogisticRegression

    def build():
        pipeline = make_model("game-logistic", None, names)
        if options:
            pipeline.set_params(model=LogisticRegression(**options))
        return pipeline

    return build


def _boosting(names: Sequence[str]) -> Callable[[], object]:
    """A small, strongly regularised gradient-boosted classifier on the raw inputs."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    def build():
        pipeline = make_model("game-tree", None, names)
        model = HistGradientBoostingClassifier(
            learning_rate=0.03,
            max_iter=300,
            max_leaf_nodes=8,
            min_samples_leaf=200,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=0,
        )
        return pipeline.set_params(model=model)

    return build


def run_round5(frames: dict[str, pd.DataFrame], long: bool) -> None:
    names = list(features.GAME_FEATURES)
    loader = frames["game_features"]
    store = store_game_features()
    store = store.assign(is_playoffs=(store["season_type"] == "playoffs").astype(float))
    flagged = [*names, "is_playoffs"]
    report_games("reference (benchmark loader, regular seasons)", _folds(loader, names))

    # 1. Playoff games as training rows; the same store frame (playoffs in the histories).
    report_games("store frame, train_playoffs=False", _folds(store, names))
    report_games("store frame, train_playoffs=True", _folds(store, names, train_playoffs=True))
    report_games(
        "store frame, train_playoffs=True + is_playoffs column",
        _folds(store, flagged, train_playoffs=True),
    )

    # 2. L1 / elastic-net penalties (saga); l1_ratio 0 is the product's L2 penalty.
    for c in (0.003, 0.01, 0.03, 0.1):
        for ratio in (0.0, 0.1, 0.2, 0.3, 0.5, 1.0):
            build = _logistic(names, C=c, l1_ratio=ratio, solver="saga", max_iter=5000, tol=1e-5)
            report_games(f"saga C={c} l1_ratio={ratio}", season_predictions("game", loader, build))

    # 3. game-logistic averaged with a nonlinear model fitted on the same rows.
    others = {
        "game-forest": lambda: make_model("game-forest", None, names),
        "boosting": _boosting(names),
    }
    logistic = list(season_predictions("game", loader, _logistic(names)))
    for other, build in others.items():
        predicted = [p for _, _, p in season_predictions("game", loader, build)]
        for weight in (0.1, 0.2, 0.3, 0.5, 1.0):
            folds = (
                (season, test, (1 - weight) * p + weight * q)
                for (season, test, p), q in zip(logistic, predicted, strict=True)
            )
            report_games(f"{1 - weight:.1f} logistic + {weight:.1f} {other}", folds)

    if not long:
        return
    print(f"\nwalk-forward on {LONG[0]}..{LONG[-1]}:")
    base = report_games("store frame, train_playoffs=False", _folds(store, names, LONG))
    for label, cols in (("train_playoffs=True", names), ("+ is_playoffs", flagged)):
        result = report_games(label, _folds(store, cols, LONG, train_playoffs=True))
        report_gain(label, base, result)
    base = report_games("reference", _folds(loader, names, LONG))
    build = _logistic(names, C=0.03, l1_ratio=0.2, solver="saga", max_iter=5000, tol=1e-5)
    result = report_games(
        "saga C=0.03 l1_ratio=0.2", season_predictions("game", loader, build, seasons=LONG)
    )
    report_gain("saga C=0.03 l1_ratio=0.2", base, result)


def _folds(
    frame: pd.DataFrame,
    names: Sequence[str],
    seasons: Sequence[str] = VALIDATION,
    *,
    train_playoffs: bool = False,
) -> Folds:
    return season_predictions(
        "game", frame, _logistic(names), seasons=seasons, train_playoffs=train_playoffs
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=("games", "points", "round5"))
    parser.add_argument(
        "--long", action="store_true", help="round5: also walk forward on 2005-06..2020-21"
    )
    args = parser.parse_args(argv)
    frames = cached_frames()
    if args.task == "round5":
        run_round5(frames, args.long)
    else:
        (run_games if args.task == "games" else run_points)(frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
