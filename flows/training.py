"""``training_flow``: validate -> features -> six models in parallel -> evaluate -> register ->
gate and promote. ``backtest_flow``: walk-forward evaluation of a snapshot folder on its own."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.settings import Settings
from flows.resources import open_store
from ingest.schema import REGULAR, season_start_year

EXPERIMENT = "nba-models"


@dataclass
class StoreFrames:
    games: pd.DataFrame
    team_games: pd.DataFrame
    player_games: pd.DataFrame


@dataclass
class TrainingSummary:
    eval_season: str
    models: list[dict[str, Any]] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@task(name="load-store", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def load_store(engine) -> StoreFrames:
    """Every stored game, team row and player row (I/O: retried)."""
    from ingest.storage import read_games, read_player_games, read_team_games

    return StoreFrames(read_games(engine), read_team_games(engine), read_player_games(engine))


@task(name="validate-store", cache_policy=NO_CACHE)
def validate_store(frames: StoreFrames, validation_dir: Path) -> None:
    """The same Great Expectations suites as ingestion, over what training is about to read."""
    from ingest.validation import BatchValidator, raise_for_failures

    if frames.team_games.empty:
        raise ValueError("the store holds no games: run `nba-mlops ingest` first")
    validator = BatchValidator()
    reports = [validator.validate_team_games(frames.team_games, batch_name="training_team")]
    if not frames.player_games.empty:
        reports.append(
            validator.validate_player_games(frames.player_games, batch_name="training_player")
        )
    for report in reports:
        report.save(validation_dir)
    raise_for_failures(reports)


@task(name="build-features", cache_policy=NO_CACHE)
def build_features(frames: StoreFrames) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Game and player feature tables, as of each game (pure)."""
    from features import build_game_features, build_player_features

    game_frame = build_game_features(frames.games, frames.team_games)
    player_frame = None
    if not frames.player_games.empty:
        player_frame = build_player_features(frames.player_games, frames.team_games, frames.games)
    return game_frame, player_frame


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


@task(name="register-and-gate", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def register_and_gate(trained, settings: Settings, lineage: dict, engine) -> dict[str, Any]:
    """Log the run, register a new version, then let the gate decide on ``champion`` (I/O)."""
    from registry import gate_and_promote, log_training_run

    version = log_training_run(
        tracking_uri=settings.resolved_mlflow_tracking_uri,
        artifact_location=settings.mlflow_artifact_location,
        experiment=EXPERIMENT,
        model_name=trained.name,
        task=trained.task,
        model=trained.model,
        params=trained.params,
        metrics=trained.metrics,
        feature_names=list(trained.feature_names),
        lineage=lineage,
        figures=trained.figures,
        input_example=trained.input_example,
        eval_season=trained.eval_season,
        train_seasons=list(trained.train_seasons),
        engine=engine,
    )
    decision = gate_and_promote(
        settings.resolved_mlflow_tracking_uri,
        trained.name,
        version.version,
        gate_policy(trained.task, settings),
        engine=engine,
    )
    primary = "log_loss" if trained.task == "game" else "mae"
    return {
        "name": trained.name,
        "version": str(version.version),
        "run_id": version.run_id,
        "promoted": decision.promote,
        "reason": decision.reason,
        primary: trained.metrics.get(primary),
    }


def gate_policy(task: str, settings: Settings):
    """The default gate of ``task`` with the margin from the settings."""
    from dataclasses import replace

    from registry import DEFAULT_POLICIES

    margin = settings.game_gate_margin if task == "game" else settings.points_gate_margin
    return replace(DEFAULT_POLICIES[task], margin=margin)


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


@flow(name="training", log_prints=True)
def training_flow(
    eval_season: str | None = None,
    models: list[str] | None = None,
    settings: Settings | None = None,
) -> TrainingSummary:
    """Train the six models on the store, register them in MLflow and promote through the gate.

    ``eval_season`` (default: the newest played regular season) is where the gate's metrics come
    from: each model is trained on the seasons before it, scored on it, then refit on all seasons
    through it for serving.
    """
    from training.models import GAME_MODELS, POINTS_MODELS

    logger = get_run_logger()
    settings = settings or Settings()
    t0 = time.perf_counter()
    engine = open_store(settings)
    frames = load_store(engine)
    validate_store(frames, settings.validation_dir)
    game_frame, player_frame = build_features(frames)
    eval_season = eval_season or latest_complete_season(game_frame)
    season_start_year(eval_season)
    lineage = _lineage(frames, eval_season)
    names = list(models or (*GAME_MODELS, *POINTS_MODELS))
    unknown = set(names) - set(GAME_MODELS) - set(POINTS_MODELS)
    if unknown:
        raise ValueError(
            f"unknown model(s) {sorted(unknown)}: choose from {GAME_MODELS + POINTS_MODELS}"
        )
    logger.info("training %s, evaluated on %s", ", ".join(names), eval_season)
    futures = [train_model.submit(n, game_frame, player_frame, eval_season) for n in names]
    summary = TrainingSummary(eval_season=eval_season, lineage=lineage)
    for future in futures:
        trained = future.result()
        if trained is None:
            continue
        outcome = register_and_gate(trained, settings, lineage, engine)
        logger.info(
            "%s v%s: %s (%s)",
            outcome["name"],
            outcome["version"],
            "promoted to champion" if outcome["promoted"] else "kept as challenger",
            outcome["reason"],
        )
        summary.models.append(outcome)
    summary.seconds = round(time.perf_counter() - t0, 1)
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
    settings: Settings, eval_season: str | None = None, models: list[str] | None = None
) -> TrainingSummary:
    """``training_flow`` with the task runner of the settings (threads, or a Dask cluster)."""
    runner = task_runner_for(settings)
    flow_ = training_flow if runner is None else training_flow.with_options(task_runner=runner)
    return flow_(eval_season=eval_season, models=models, settings=settings)


@flow(name="backtest", log_prints=True)
def backtest_flow(data_dir: str, test_seasons: list[str], out: str) -> dict[str, Any]:
    """Walk-forward backtest of a snapshot folder: ingest it into a temporary store, build
    features, train on the seasons before each test season, score on it; write
    ``OUT/backtest.md`` and ``OUT/backtest.json``."""
    from flows.ingest import ingest_flow
    from training.backtest import walk_forward

    logger = get_run_logger()
    for season in test_seasons:
        season_start_year(season)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nba-backtest-") as tmp:
        settings = Settings(data_dir=Path(data_dir), state_dir=Path(tmp))
        ingest_flow(source="snapshot", settings=settings)
        frames = load_store(open_store(settings))
        game_frame, player_frame = build_features(frames)
    missing = [s for s in test_seasons if s not in set(game_frame["season"])]
    if missing:
        raise ValueError(f"test season(s) {', '.join(missing)} not in {data_dir}")
    result = walk_forward(
        game_frame, player_frame, test_seasons, progress=lambda msg: logger.info(msg)
    )
    doc = result.to_dict()
    (out_dir / "backtest.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out_dir / "backtest.md").write_text(result.to_markdown())
    logger.info("backtest written to %s", out_dir)
    return doc
