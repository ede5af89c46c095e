"""``training_flow``: validate -> features -> six models in parallel -> evaluate -> register ->
gate and promote; ``retrain_flow`` (the scheduled retrain) runs it on the task runner of the
environment's settings, for the models whose champions have not seen every stored game. ``backtest_flow``: walk-forward evaluation of a snapshot folder on its
own, one task per model and test season.

Whenever the evaluation season has regular-season games played after the champion's fit (while
it is under way, or after it when the champion is older), each model is also judged on an
in-season window: the same estimator fit through day D - k (k = ``window_days``, D the season's
last played regular-season day) and the served champion, as it is, are scored on the games of
(D - k, D]; the gate compares on those games. The registered version is that estimator refit on
every played game through D. A window too short (``min_window_games``) or impossible is recorded
on the version, and the gate compares on the season as before.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner

from core.processes import stop_behind
from core.settings import Settings
from flows.resources import open_store
from ingest.schema import REGULAR, season_spans, season_start_year

if TYPE_CHECKING:
    from training.backtest import BacktestResult

EXPERIMENT = "nba-models"


@dataclass
class StoreFrames:
    games: pd.DataFrame
    team_games: pd.DataFrame
    player_games: pd.DataFrame


@dataclass(frozen=True)
class WindowPlan:
    """What a model's in-season evaluation will be: a window and the champion it is scored
    against, or no window and why."""

    window: Any  # training.train.EvalWindow | None
    why: str
    champion: Any = None  # registry.versions.ModelVersionInfo | None
    champion_model: Any = None
    # the champion has no metrics for the evaluation season: scored there as served, or why not
    score_season: bool = False
    season_why: str = ""


@dataclass
class TrainingSummary:
    eval_season: str  # the game models'; ``eval_seasons`` has each task's
    models: list[dict[str, Any]] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    unchanged: list[str] = field(default_factory=list)  # models not retrained, and why
    eval_seasons: dict[str, str] = field(default_factory=dict)  # task -> evaluation season

    failed: list[str] = field(default_factory=list)  # models that failed, and why
    skipped: list[str] = field(default_factory=list)  # models the store has no rows for

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class TrainingIncomplete(Exception):
    """Some models failed after others were registered: ``summary`` says what was done (and
    ``failed`` what was not), ``first`` is the first failure."""

    def __init__(self, summary: TrainingSummary, first: BaseException) -> None:
        done = ", ".join(f"{m['name']} v{m['version']}" for m in summary.models)
        super().__init__(
            f"{len(summary.failed)} model(s) failed ({'; '.join(summary.failed)}); "
            f"registered before that or since: {done}"
        )
        self.summary = summary
        self.first = first


@task(name="load-store", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def load_store(engine) -> StoreFrames:
    """Every stored game, team row and player row (I/O: retried)."""
    from ingest.storage import read_games, read_player_games, read_team_games

    return StoreFrames(read_games(engine), read_team_games(engine), read_player_games(engine))


@task(name="validate-store", cache_policy=NO_CACHE)
def validate_store(frames: StoreFrames, validation_dir: Path) -> None:
    """The same Great Expectations suites as ingestion, over what training is about to read."""
    from ingest.validation import raise_for_failures, shared_validator

    if frames.team_games.empty:
        raise ValueError("the store holds no games: run `nba-mlops ingest` first")
    validator = shared_validator()
    reports = [validator.validate_team_games(frames.team_games, batch_name="training_team")]
    if not frames.player_games.empty:
        reports.append(
            validator.validate_player_games(
                frames.player_games, team_games=frames.team_games, batch_name="training_player"
            )
        )
    for report in reports:
        report.save(validation_dir)
    raise_for_failures(reports)


@task(name="build-features", cache_policy=NO_CACHE)
def build_features(
    frames: StoreFrames, players: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Game and player feature tables, as of each game (pure); no player table when the store
    holds no player rows or ``players`` is False (the game table still uses the player rows)."""
    from features import build_game_features, build_player_features

    game_frame = build_game_features(
        frames.games, frames.team_games, player_games=frames.player_games
    )
    player_frame = None
    if players and not frames.player_games.empty:
        player_frame = build_player_features(frames.player_games, frames.team_games, frames.games)
    return game_frame, player_frame


def player_seasons(frames: StoreFrames) -> set[str]:
    """The regular seasons of which the store holds player rows (pure)."""
    players = frames.player_games
    return set(players.loc[players["season_type"] == REGULAR, "season"].astype(str))


def seasons_without_player_logs(frames: StoreFrames, seasons: list[str]) -> list[str]:
    """The ``seasons`` of which the store holds no regular-season player row: nothing there for
    the points task to be scored on (pure)."""
    held = player_seasons(frames)
    return [s for s in seasons if s not in held]


def newest_player_season(frames: StoreFrames) -> str | None:
    """The newest regular season of which the store holds player rows: the points models'
    default evaluation season (the newest season's player logs may not be in yet)."""
    return max(player_seasons(frames), key=season_start_year, default=None)


def evaluation_seasons(
    frames: StoreFrames, game_frame: pd.DataFrame, names: list[str], eval_season: str | None
) -> dict[str, str]:
    """Each task's evaluation season: ``eval_season`` when asked for, else the newest played
    regular season for the game models and the newest with player rows for the points models.
    A ValueError, before anything is trained, when points models are asked to be evaluated on a
    season without player rows (pure)."""
    from training.models import GAME, POINTS, task_of

    seasons = {GAME: eval_season or latest_complete_season(game_frame)}
    points = [n for n in names if task_of(n) == POINTS]
    if eval_season is None:
        newest = newest_player_season(frames)
        if newest is not None:
            seasons[POINTS] = newest
    elif points and not frames.player_games.empty:
        if seasons_without_player_logs(frames, [eval_season]):
            raise ValueError(no_player_logs(eval_season, points, newest_player_season(frames)))
        seasons[POINTS] = eval_season
    return seasons


def no_player_logs(eval_season: str, points: list[str], newest: str | None) -> str:
    """Why points models cannot be evaluated on ``eval_season`` (no player rows there)."""
    return (
        f"evaluation season {eval_season} has no player game logs in the store: "
        f"{', '.join(points)} cannot be scored there; leave out --eval-season (the points "
        f"models are then evaluated on {newest}, the newest season with player logs) or train "
        "only the game models (--models)"
    )


def check_points_season(eval_season: str | None, names: list[str], held: set[str]) -> None:
    """``evaluation_seasons``' ValueError before a flow run: points models among ``names``
    asked to be evaluated on a season without player rows, while the store holds player rows
    of the seasons ``held`` (pure)."""
    from training.models import POINTS, task_of

    points = [n for n in names if task_of(n) == POINTS]
    if eval_season is None or not points or not held or eval_season in held:
        return
    raise ValueError(no_player_logs(eval_season, points, max(held, key=season_start_year)))


def stored_player_seasons(settings: Settings) -> set[str]:
    """The regular seasons of which the store holds player rows (an existing store)."""
    from ingest.storage import store_status

    return {
        row["season"]
        for row in store_status(open_store(settings))
        if row["season_type"] == REGULAR and row["player_rows"]
    }


def latest_complete_season(game_frame: pd.DataFrame) -> str:
    """The newest regular season with played games: the default evaluation season."""
    played = game_frame.loc[
        game_frame["home_win"].notna() & (game_frame["season_type"] == REGULAR), "season"
    ]
    if played.empty:
        raise ValueError("no played regular-season game in the store")
    return max(played.unique(), key=season_start_year)


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(name: str, game_frame, player_frame, eval_season: str, make_figures: bool = True):
    """One model: evaluated walk-forward on ``eval_season``, then refit through it (pure)."""
    from training.models import GAME, task_of
    from training.train import train_final

    is_game = task_of(name) == GAME
    if not is_game and player_frame is None:
        return None
    (trained,) = train_final(
        game_frame if is_game else None,
        None if is_game else player_frame,
        eval_season=eval_season,
        models=[name],
        make_figures=make_figures,
    )
    return trained


@task(name="read-champion", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_champion(tracking_uri: str, name: str):
    """The version the ``champion`` alias points to now, or None."""
    from registry import get_champion

    return get_champion(tracking_uri, name)


@task(name="load-champion-model", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def load_champion_model(tracking_uri: str, name: str, version: str):
    """The fitted model of that exact version, as it is served."""
    from registry import load_model

    model, _ = load_model(tracking_uri, name, version)
    return model


def champion_fit_through(info, frame: pd.DataFrame) -> pd.Timestamp:
    """The newest day the champion may have been fit on: its ``fit_through`` tag, or, for a
    version without one, the last day of any stored row of its training seasons (later than
    or equal to the real one, so a window after it never holds a game the champion saw)."""
    fit_through = info.fit_through
    if fit_through is not None:
        return fit_through
    seen = frame.loc[frame["season"].astype(str).isin(info.train_seasons), "game_date"]
    return seen.max() if len(seen) else frame["game_date"].max()


def plan_window(
    name: str,
    info,
    frame: pd.DataFrame,
    eval_season: str,
    days: int,
    min_games: int,
) -> WindowPlan:
    """The in-season window of one model against its champion ``info``, and whether that
    champion is to be scored on the evaluation season it has no metrics for (pure)."""
    from registry.gate import DEFAULT_POLICIES, season_metrics
    from training.models import task_of
    from training.train import choose_window, season_unseen_by

    if info is None:
        return WindowPlan(None, "no champion yet")
    task = task_of(name)
    fit_through = champion_fit_through(info, frame)
    window, why = choose_window(
        frame, task, eval_season, champion_fit_through=fit_through, days=days, min_games=min_games
    )
    own = season_metrics(info.metrics, info.eval_season).get(eval_season, {})
    if DEFAULT_POLICIES[task].primary_metric in own:
        return WindowPlan(window, why, info)
    season_why = season_unseen_by(frame, task, eval_season, fit_through)
    return WindowPlan(window, why, info, score_season=not season_why, season_why=season_why)


@task(name="score-window", cache_policy=NO_CACHE)
def score_on_window(name: str, frame: pd.DataFrame, plan: WindowPlan):
    """The challenger fit through the window's start and the served champion on the window's
    games (pure)."""
    from training.train import score_window

    return score_window(name, frame, plan.window, plan.champion_model)


@task(name="score-champion-on-season", cache_policy=NO_CACHE)
def score_champion_on_season(name: str, frame: pd.DataFrame, eval_season: str, plan: WindowPlan):
    """The served champion on the evaluation season's rows, which it was not fit on (pure)."""
    from training.models import task_of
    from training.train import score_on_season

    return score_on_season(frame, task_of(name), eval_season, plan.champion_model)


def window_record(
    trained, plan: WindowPlan | None, scores, season_scores=None
) -> tuple[dict, dict]:
    """The metrics and version tags of the in-season evaluation and of the champion served on
    the evaluation season (see ``registry.gate``)."""
    from registry.gate import (
        CHAMPION_WINDOW_PREFIX,
        FIT_THROUGH_TAG,
        SEASON_CHAMPION_FALLBACK_TAG,
        SEASON_CHAMPION_GAMES_TAG,
        SEASON_CHAMPION_PREFIX,
        SEASON_CHAMPION_TAG,
        WINDOW_CHAMPION_TAG,
        WINDOW_FALLBACK_TAG,
        WINDOW_FIT_TAG,
        WINDOW_GAMES_TAG,
        WINDOW_PREFIX,
        WINDOW_TAG,
    )

    tags = {FIT_THROUGH_TAG: trained.fit_through}
    metrics: dict[str, float] = {}
    if season_scores is not None:
        season = season_scores.season
        metrics.update(
            {f"{SEASON_CHAMPION_PREFIX}{k}.{season}": v for k, v in season_scores.champion.items()}
        )
        tags[SEASON_CHAMPION_TAG] = plan.champion.version
        tags[SEASON_CHAMPION_GAMES_TAG] = str(season_scores.n_games)
    elif plan is not None and plan.season_why:
        tags[SEASON_CHAMPION_FALLBACK_TAG] = plan.season_why
    if scores is None:
        if plan is not None and plan.champion is not None:
            tags[WINDOW_FALLBACK_TAG] = plan.why
        return metrics, tags
    metrics.update({f"{WINDOW_PREFIX}{k}": v for k, v in scores.challenger.items()})
    metrics.update({f"{CHAMPION_WINDOW_PREFIX}{k}": v for k, v in scores.champion.items()})
    tags.update(
        {
            WINDOW_TAG: scores.window.label,
            WINDOW_CHAMPION_TAG: plan.champion.version,
            WINDOW_FIT_TAG: scores.window.fit_through.date().isoformat(),
            WINDOW_GAMES_TAG: str(scores.n_games),
        }
    )
    return metrics, tags


@task(name="register-model", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def register_model(
    trained,
    settings: Settings,
    lineage: dict,
    engine,
    window: tuple[dict, dict] = ({}, {}),
):
    """Log the run (with the in-season ``window`` metrics and tags, if any) and register a new
    version (I/O; a failed attempt deletes the version it created, so a retry registers one)."""
    from registry import log_training_run
    from registry.versions import POINTS_INTERVAL_TAG

    window_metrics, window_tags = window
    if trained.interval is not None:
        window_tags = {**window_tags, POINTS_INTERVAL_TAG: trained.interval.to_json()}
    return log_training_run(
        tracking_uri=settings.resolved_mlflow_tracking_uri,
        artifact_location=settings.mlflow_artifact_location,
        experiment=EXPERIMENT,
        model_name=trained.name,
        task=trained.task,
        model=trained.model,
        params=trained.params,
        metrics={**trained.metrics, **window_metrics},
        feature_names=list(trained.feature_names),
        lineage=lineage,
        figures=trained.figures,
        input_example=trained.input_example,
        eval_season=trained.eval_season,
        train_seasons=list(trained.train_seasons),
        tags=window_tags,
        engine=engine,
    )


@task(name="gate-and-promote", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def gate_version(name: str, version: str, task_name: str, settings: Settings, engine):
    """The gate's decision on ``champion`` for a registered version (I/O; a failed attempt
    leaves the aliases as they were, so a retry decides once)."""
    from registry import gate_and_promote

    return gate_and_promote(
        settings.resolved_mlflow_tracking_uri,
        name,
        version,
        gate_policy(task_name, settings),
        engine=engine,
    )


def register_and_gate(
    trained,
    settings: Settings,
    lineage: dict,
    engine,
    window: tuple[dict, dict] = ({}, {}),
) -> dict[str, Any]:
    """Register a new version, then let the gate decide on ``champion``: two tasks, each retried
    on its own, so a failure of the gate never registers the model twice."""
    version = register_model(trained, settings, lineage, engine, window)
    decision = gate_version(trained.name, str(version.version), trained.task, settings, engine)
    window_metrics, _ = window
    primary = "log_loss" if trained.task == "game" else "mae"
    return {
        "name": trained.name,
        "version": str(version.version),
        "eval_season": trained.eval_season,
        "run_id": version.run_id,
        "promoted": decision.promote,
        "reason": decision.reason,
        "basis": decision.basis,
        "window": decision.window,
        "fit_through": trained.fit_through,
        primary: trained.metrics.get(primary),
        **{k: v for k, v in window_metrics.items() if k.endswith(f".{primary}")},
    }


def gate_policy(task: str, settings: Settings):
    """The default gate of ``task`` with the margin from the settings."""
    from registry import DEFAULT_POLICIES

    margin = settings.game_gate_margin if task == "game" else settings.points_gate_margin
    return replace(DEFAULT_POLICIES[task], margin=margin)


FINGERPRINT_TAG = "training_fingerprint"


def training_fingerprint(name: str, lineage: dict[str, Any]) -> str:
    """What a trained version is a function of: the stored input (its hash), the evaluation
    season, the model's parameters and features, and the versions of this package and
    scikit-learn. Two runs with the same fingerprint fit the same model and score it the same
    way on the evaluation season; which in-season window the gate judges it on is recorded
    apart (``registry.gate.WINDOW_TAG``)."""
    import hashlib
    from importlib.metadata import version

    from training.models import default_feature_names, task_of
    from training.params import DEFAULT_PARAMS

    basis = {
        "model": name,
        "input_hash": lineage["input_hash"],
        "eval_season": lineage["eval_season"],
        "params": DEFAULT_PARAMS[name].as_dict(),
        "features": list(default_feature_names(task_of(name))),
        "nba-mlops": version("nba-mlops"),
        "scikit-learn": version("scikit-learn"),
    }
    text = json.dumps(basis, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@task(name="read-same-training", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_same_training(
    tracking_uri: str, name: str, fingerprint: str, champion, window: str | None = None
) -> str:
    """The version a new training would repeat, as ``"champion v3"``; "" when there is none.

    ``champion`` (already read) with the same fingerprint: a new version would be the same fit
    as the one served, and could not beat it. The challenger with the same fingerprint and
    judged on the same in-season ``window`` label (None: on the season)."""
    from registry import CHALLENGER, CHAMPION, RegistryError, get_version
    from registry.gate import WINDOW_TAG

    if champion is not None and champion.tags.get(FINGERPRINT_TAG) == fingerprint:
        return f"{CHAMPION} v{champion.version}"
    try:
        challenger = get_version(tracking_uri, name, CHALLENGER)
    except RegistryError:
        return ""
    same_window = challenger.tags.get(WINDOW_TAG) == window
    if challenger.tags.get(FINGERPRINT_TAG) == fingerprint and same_window:
        return f"{CHALLENGER} v{challenger.version}"
    return ""


def _lineage(frames: StoreFrames, eval_season: str) -> dict[str, Any]:
    from ingest.storage import frame_digest

    return {
        "seasons": sorted(frames.games["season"].unique(), key=season_start_year),
        "eval_season": eval_season,
        "games": len(frames.games),
        "team_rows": len(frames.team_games),
        "player_rows": len(frames.player_games),
        "input_hash": frame_digest([frames.team_games, frames.player_games]),
    }


def training_request(models: list[str] | None, eval_season: str | None) -> list[str]:
    """The models a training run trains (default: all six), or a ValueError naming an unknown
    model or a malformed evaluation season; the CLI checks a request with it before a flow run
    starts."""
    from training.models import GAME_MODELS, POINTS_MODELS

    names = list(models or (*GAME_MODELS, *POINTS_MODELS))
    unknown = set(names) - set(GAME_MODELS) - set(POINTS_MODELS)
    if unknown:
        raise ValueError(
            f"unknown model(s) {sorted(unknown)}: choose from {GAME_MODELS + POINTS_MODELS}"
        )
    if eval_season is not None:
        season_start_year(eval_season)
    return names


def check_eval_season(eval_season: str | None, stored: Iterable[str]) -> None:
    """A ValueError when an asked-for evaluation season is not in the store, or is its oldest
    season (nothing before it to train on); also when the store holds no games at all, or one
    season only (the default evaluation season would then be its oldest)."""
    seasons = sorted(set(stored), key=season_start_year)
    if not seasons:
        raise ValueError("the store holds no games: run `nba-mlops ingest` first")
    if eval_season is None:
        if len(seasons) == 1:
            raise ValueError(
                f"the store holds one season ({seasons[0]}): training scores each model on a "
                "season after the ones it was fit on, so ingest at least one earlier season"
            )
        return
    if eval_season not in seasons:
        held = season_spans(seasons)
        raise ValueError(f"evaluation season {eval_season} is not in the store ({held})")
    if eval_season == seasons[0]:
        raise ValueError(
            f"evaluation season {eval_season} is the oldest in the store: no earlier season to "
            f"train on before scoring it (the store holds {season_spans(seasons)})"
        )


def stored_seasons(settings: Settings) -> list[str]:
    """The seasons in the store, or a ValueError when there is no store to read (no state folder
    or no SQLite file yet), without creating one."""
    from flows.resources import NOTHING_STORED
    from ingest.storage import read_seasons

    settings.existing_store(NOTHING_STORED)
    return read_seasons(open_store(settings))


def training_threads() -> int:
    """How many tasks of a training run go at once on threads: Prefect's
    PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS when set, else the machine's cores (at least
    two). More would only share the cores while holding more copies of the feature frames: on
    the full snapshot and 2 cores, the six models at once peaked at 2.4 GB, two at a time at
    1.6 GB, in the same time (``benchmarks/results/train.md``)."""
    chosen = get_current_settings().tasks.runner.thread_pool_max_workers
    return chosen or max(2, os.cpu_count() or 2)


@flow(
    name="training",
    log_prints=True,
    task_runner=ThreadPoolTaskRunner(max_workers=training_threads()),
)
def training_flow(
    eval_season: str | None = None,
    models: list[str] | None = None,
    settings: Settings | None = None,
    window_days: int | None = None,
    min_window_games: int | None = None,
    force: bool = False,
) -> TrainingSummary:
    """Train the six models on the store, register them in MLflow and promote through the gate.

    ``eval_season`` (default: the newest played regular season for the game models, the newest
    with player rows for the points models) is where the gate's metrics come from: each model is
    trained on the seasons before it, scored on it, then refit on all seasons through it for
    serving. When that season has games the champion was not fit on, the gate
    compares on the in-season window instead (``window_days``, ``min_window_games``: default
    ``settings.in_season_window_days`` and ``settings.in_season_min_games``; see the module).

    A model is not trained again, and ``unchanged`` says so, when its champion was fit on exactly
    this (``training_fingerprint``: same stored data, evaluation season, parameters, features and
    library versions), or its challenger was and was judged the same way (on the same in-season
    window, or on the season when none applies); ``force`` trains it anyway. Window settings
    that lead to the same judgement (none applies when the champion has seen every game) are
    the same training.
    """
    from registry import check_tracking
    from training.models import GAME, task_of

    logger = get_run_logger()
    settings = settings or Settings()
    names = training_request(models, eval_season)
    check_tracking(settings.resolved_mlflow_tracking_uri)  # fail now, not after training
    t0 = time.perf_counter()
    engine = open_store(settings)
    frames = load_store(engine)
    check_eval_season(eval_season, set(frames.games["season"].astype(str)))
    validate_store(frames, settings.validation_dir)
    game_frame, player_frame = build_features(frames)
    eval_seasons = evaluation_seasons(frames, game_frame, names, eval_season)
    season_of = {n: eval_seasons.get(task_of(n), eval_seasons[GAME]) for n in names}
    lineages = {kind: _lineage(frames, season) for kind, season in eval_seasons.items()}
    lineage_of = {n: lineages.get(task_of(n), lineages[GAME]) for n in names}
    days = settings.in_season_window_days if window_days is None else window_days
    min_games = settings.in_season_min_games if min_window_games is None else min_window_games
    uri = settings.resolved_mlflow_tracking_uri
    summary = TrainingSummary(
        eval_season=eval_seasons[GAME], lineage=lineages[GAME], eval_seasons=eval_seasons
    )
    if player_frame is None:
        for name in [n for n in names if task_of(n) != GAME]:
            names.remove(name)
            summary.skipped.append(
                f"{name}: the store holds no player game logs (ingest a snapshot with "
                "player_game_logs/, or from nba_api)"
            )
            logger.warning("not trained: %s", summary.skipped[-1])
    fingerprints = {n: training_fingerprint(n, lineage_of[n]) for n in names}
    champions = {n: read_champion(uri, n) for n in names}
    plans: dict[str, WindowPlan] = {}
    for name in names:
        frame = game_frame if task_of(name) == GAME else player_frame
        if frame is not None:
            plans[name] = plan_window(
                name, champions[name], frame, season_of[name], days, min_games
            )
    if not force:
        for name in list(names):
            window = plans[name].window if name in plans else None
            same = read_same_training(
                uri, name, fingerprints[name], champions[name], window.label if window else None
            )
            if same:
                names.remove(name)
                summary.unchanged.append(
                    f"{name}: {same} was trained on the same data, evaluation season, "
                    "parameters and features"
                )
                logger.info("not trained: %s (force trains it anyway)", summary.unchanged[-1])
    for kind, season in eval_seasons.items():
        chosen = [n for n in names if task_of(n) == kind]
        if chosen:
            logger.info("training %s, evaluated on %s", ", ".join(chosen), season)
    if not names:
        logger.info("training nothing")
    windows, seasons = {}, {}
    for name in names:
        if name not in plans:
            continue
        frame = game_frame if task_of(name) == GAME else player_frame
        plan = plans[name]
        logger.info("%s: %s", name, plan.why)
        if plan.window is not None or plan.score_season:
            model = load_champion_model(uri, name, plan.champion.version)
            plan = plans[name] = replace(plan, champion_model=model)
        if plan.window is not None:
            windows[name] = score_on_window.submit(name, frame, plan)
        if plan.score_season:
            logger.info(
                "%s: champion v%s has no metrics for %s; scoring it there as served",
                name,
                plan.champion.version,
                season_of[name],
            )
            seasons[name] = score_champion_on_season.submit(name, frame, season_of[name], plan)
    figures = settings.training_figures
    futures = [
        train_model.submit(n, game_frame, player_frame, season_of[n], make_figures=figures)
        for n in names
    ]
    first_failure: BaseException | None = None
    for name, future in zip(names, futures, strict=True):
        # One model's failure leaves the others to finish: what was registered stays reported.
        try:
            trained = future.result()
            if trained is None:
                continue
            scores = windows[name].result() if name in windows else None
            season_scores = seasons[name].result() if name in seasons else None
            metrics, tags = window_record(trained, plans.get(name), scores, season_scores)
            record = metrics, {**tags, FINGERPRINT_TAG: fingerprints[name]}
            outcome = register_and_gate(trained, settings, lineage_of[name], engine, record)
        except Exception as exc:
            if stop_behind(exc) is not None:  # stopped: an error a library raised on the way out
                raise
            first_failure = first_failure or exc
            summary.failed.append(f"{name}: {exc}")
            logger.error("%s failed: %s: %s", name, type(exc).__name__, exc)
            continue
        logger.info(
            "%s v%s: %s (%s)",
            outcome["name"],
            outcome["version"],
            "promoted to champion" if outcome["promoted"] else "kept as challenger",
            outcome["reason"],
        )
        summary.models.append(outcome)
    summary.seconds = round(time.perf_counter() - t0, 1)
    if first_failure is not None:
        if not summary.models:
            raise first_failure
        raise TrainingIncomplete(summary, first_failure)
    return summary


def task_runner_for(settings: Settings):
    """The Prefect task runner the settings ask for: Prefect's default thread pool, or Dask."""
    if settings.task_runner != "dask":
        return None
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None}
    )


def run_training(
    settings: Settings,
    eval_season: str | None = None,
    models: list[str] | None = None,
    window_days: int | None = None,
    min_window_games: int | None = None,
    force: bool = False,
) -> TrainingSummary:
    """``training_flow`` with the task runner of the settings (threads, or a Dask cluster)."""
    runner = task_runner_for(settings)
    flow_ = training_flow if runner is None else training_flow.with_options(task_runner=runner)
    return flow_(
        eval_season=eval_season,
        models=models,
        settings=settings,
        window_days=window_days,
        min_window_games=min_window_games,
        force=force,
    )


@task(
    name="backtest-fold",
    task_run_name="backtest-{name}-{test_season}",
    cache_policy=NO_CACHE,
)
def backtest_fold(frame: pd.DataFrame, task: str, test_season: str, name: str, plan):
    """One fold of the walk-forward: ``name`` fit on the seasons before ``test_season`` and
    scored on it (pure)."""
    from training.backtest import run_fold

    return run_fold(frame, task, test_season, name, plan)


def share_frame(frame: pd.DataFrame):
    """``frame`` as the argument of many tasks: on a Dask task runner, scattered to the cluster
    once (each task then carries a reference and workers copy it between them), else as is."""
    from prefect.context import FlowRunContext
    from prefect_dask import DaskTaskRunner

    runner = FlowRunContext.get().task_runner
    if isinstance(runner, DaskTaskRunner):
        return runner.client.scatter(frame)
    return frame


def check_backtest_request(data_dir: str, test_seasons: list[str], out: str) -> Path:
    """The output folder of a backtest, created, or a ValueError before anything is ingested:
    a malformed test season, one without a team log file in ``data_dir`` (or the oldest there:
    nothing before it to train on), or an ``out`` that cannot be a folder."""
    from ingest.snapshot import SnapshotSource

    for season in test_seasons:
        season_start_year(season)
    out_dir = Path(out).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out} is not a folder")
    source = SnapshotSource(Path(data_dir))
    held = sorted(source.team_seasons(REGULAR), key=season_start_year)
    missing = [s for s in test_seasons if s not in held]
    if missing:
        hint = source.uncompressed_hint(missing)
        where = f"{data_dir} (it holds {season_spans(held)})" if held else data_dir
        raise ValueError(f"test season(s) {', '.join(missing)} not in {where}{hint}")
    if held[0] in test_seasons:
        raise ValueError(
            f"test season {held[0]} is the oldest in {data_dir}: no earlier season to train on "
            "before scoring it"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    return out_dir


# On threads the folds run one at a time, as in ``walk_forward``: six concurrent folds on the full
# snapshot peaked at 4.1 GB instead of 1.0 GB, for more CPU time (docs/scaling.md, "Dask").
@flow(name="backtest", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=1))
def backtest_flow(data_dir: str, test_seasons: list[str], out: str) -> dict[str, Any]:
    """Walk-forward backtest of a snapshot folder: ingest it into a temporary store, build
    features, train on the seasons before each test season, score on it; write
    ``OUT/backtest.md`` and ``OUT/backtest.json``. Every model x test season is a
    ``backtest-fold`` task on the flow's task runner: one thread, or a Dask cluster through
    ``run_backtest``. A test season without player logs in the folder is scored for games only
    (the reason is logged and written in backtest.md); without any, no player features are
    built."""
    from flows.ingest import ingest_flow
    from ingest.snapshot import SnapshotSource
    from training.backtest import collect_backtest, plan_backtest, scored_rows
    from training.models import GAME, POINTS

    logger = get_run_logger()
    out_dir = check_backtest_request(data_dir, test_seasons, out)
    with tempfile.TemporaryDirectory(prefix="nba-backtest-") as tmp:
        # Its own store and MLflow store, whatever NBA_DATABASE_URL / NBA_MLFLOW_TRACKING_URI
        # point at: the backtest reads and writes nothing of the user's.
        settings = Settings(
            data_dir=Path(data_dir),
            state_dir=Path(tmp),
            database_url=None,
            mlflow_tracking_uri=None,
        )
        ingest_flow(source="snapshot", settings=settings)
        frames = load_store(open_store(settings))
        missing = [s for s in test_seasons if s not in set(frames.games["season"])]
        if missing:
            hint = SnapshotSource(Path(data_dir)).uncompressed_hint(missing)
            raise ValueError(f"test season(s) {', '.join(missing)} not in {data_dir}{hint}")
        skip = {
            (POINTS, s): f"no player logs for {s} in {data_dir}"
            for s in seasons_without_player_logs(frames, test_seasons)
        }
        for (task, _), why in skip.items():
            logger.warning("%s skipped: %s", task, why)
        players = len(skip) < len(set(test_seasons))
        game_frame, player_frame = build_features(frames, players=players)
    plan = plan_backtest(game_frame, player_frame, test_seasons, skip=skip)
    by_task = {GAME: game_frame, POINTS: player_frame}
    shared = {task: share_frame(by_task[task]) for task in plan.models}
    futures = [
        backtest_fold.submit(shared[task], task, season, name, plan)
        for task, season, name in plan.folds()
    ]
    tests = {
        (task, season): scored_rows(by_task[task], task, season)
        for task in plan.models
        for season in plan.seasons(task)
    }
    scores = []
    for future in futures:
        fold = future.result()
        logger.info(
            "%s %s: %s fitted on %s rows in %.1f s",
            fold.split.task,
            fold.split.test_season,
            fold.name,
            f"{fold.split.n_train:,}",
            fold.fit_seconds,
        )
        scores.append(fold)
    result = collect_backtest(plan, tests, scores)
    written = write_backtest(result, out_dir)
    logger.info("backtest written to %s: %s", out_dir, ", ".join(p.name for p in written))
    return result.to_dict()


# The files a backtest writes besides its report, by task.
BACKTEST_FILES = (
    "predictions_game.csv.gz",
    "predictions_points.csv.gz",
    "game_*.png",
    "points_*.png",
)
# Probabilities to 4 decimals, points to 2 (1.3 MB for three seasons of player-games).
PREDICTION_FORMAT = {"game": "%.4f", "points": "%.2f"}


def write_backtest(result: BacktestResult, out_dir: Path) -> list[Path]:
    """Write a backtest's report into ``out_dir``: ``backtest.json`` (the CONTRACTS shape),
    ``backtest.md``, its figures (PNG) and every scored row with each model's and baseline's
    prediction (``predictions_game.csv.gz``, ``predictions_points.csv.gz``; probabilities to 4
    decimals, points to 2). Returns the paths, report last. The files of this kind that an
    earlier backtest left in ``out_dir`` and this one does not write (a task no longer scored)
    are removed, so that the folder holds one backtest only."""
    earlier = {p for pattern in BACKTEST_FILES for p in out_dir.glob(pattern)}
    written = []
    for kind, frame in result.predictions.items():
        path = out_dir / f"predictions_{kind}.csv.gz"
        frame.to_csv(path, index=False, float_format=PREDICTION_FORMAT[kind])
        written.append(path)
    figures = result.figures()
    for name, (_, figure) in figures.items():
        figure.savefig(out_dir / name, dpi=110)
        written.append(out_dir / name)
    (out_dir / "backtest.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    captions = {name: caption for name, (caption, _) in figures.items()}
    (out_dir / "backtest.md").write_text(result.to_markdown(figures=captions))
    for path in earlier - set(written):
        path.unlink(missing_ok=True)
    return [*written, out_dir / "backtest.json", out_dir / "backtest.md"]


def run_backtest(
    settings: Settings, data_dir: str, test_seasons: list[str], out: str
) -> dict[str, Any]:
    """``backtest_flow`` with the task runner of the settings (threads, or a Dask cluster)."""
    runner = task_runner_for(settings)
    flow_ = backtest_flow if runner is None else backtest_flow.with_options(task_runner=runner)
    return flow_(data_dir=data_dir, test_seasons=test_seasons, out=out)


@task(name="read-games", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_stored_games(engine) -> pd.DataFrame:
    """Every stored game (I/O: retried)."""
    from ingest.storage import read_games

    return read_games(engine)


def new_games_of(info, games: pd.DataFrame) -> int | None:
    """Played games the champion ``info`` was not fit on, counted as the drift check counts
    them (``training.train.games_after_fit``); None without a champion or a record of its fit."""
    from training.train import games_after_fit

    if info is None:
        return None
    return games_after_fit(games, info.fit_through, info.train_seasons)


def with_new_games(champions: dict[str, Any], games: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The models worth retraining (no champion yet, or played games since its fit) and, for
    the others, why not (pure)."""
    kept, skipped = [], []
    for name, info in champions.items():
        if new_games_of(info, games) == 0:
            skipped.append(f"{name}: no game played since champion v{info.version}'s fit")
        else:
            kept.append(name)
    return kept, skipped


@flow(name="retrain", log_prints=True)
def retrain_flow(
    eval_season: str | None = None,
    models: list[str] | None = None,
    window_days: int | None = None,
    min_window_games: int | None = None,
    force: bool = False,
) -> TrainingSummary | None:
    """The scheduled retrain: ``training_flow`` (a subflow) with the settings of the NBA_*
    environment, on their task runner (``NBA_TASK_RUNNER``, ``NBA_DASK_ADDRESS``).

    A model whose champion was fit on every played game in the store is left out: the same
    data would register the same model again and move ``challenger`` to it. With no model left,
    nothing is trained or registered and the run returns None. ``force`` trains them anyway."""
    settings = Settings()
    names = training_request(models, eval_season)
    if not force:
        logger = get_run_logger()
        uri = settings.resolved_mlflow_tracking_uri
        games = read_stored_games(open_store(settings))
        names, skipped = with_new_games({n: read_champion(uri, n) for n in names}, games)
        for reason in skipped:
            logger.info("not retrained: %s (force=true trains it anyway)", reason)
        if not names:
            logger.info("no retrain: no new game since the champions' fit, nothing registered")
            return None
    return run_training(
        settings,
        eval_season=eval_season,
        models=names,
        window_days=window_days,
        min_window_games=min_window_games,
        force=force,
    )
