"""``replay_flow``: replay a real season day by day on the offline snapshot, in its own state.

0. Every argument is checked before anything is written or ingested (the seasons against the
   snapshot's files, the state and output folders by making them and removing them again,
   ``until`` / ``max_days`` against the season's game days, read from the season's own file): a
   bad one fails in about a second and leaves the state folder unused. ``plan_replay`` holds the
   checks that read no season; the command runs it before the flow.
1. A state folder of its own (SQLite store, MLflow store, reports): the user's registry is never
   touched. If the replay fails before its first day (a broken file, a refused batch, a failed
   training, SIGTERM), what it made there is removed: the same command can run again.
2. Ingest the snapshot's seasons through ``trained_through`` (``ingest_flow``), train the chosen
   models and promote champions (``training_flow``, evaluated on ``trained_through``).
3. For each game day of ``season``: predict the day's games with the current game champion
   (features computed by ``features/`` from the store as it stands: only earlier games are in
   it) and log them in ``predictions``, as the service would; optionally the players' points;
   then store the day's results (team, game and player rows). Every ``drift_every_days`` days,
   run ``drift_flow`` on the log, which may retrain and, through the gate, promote.
4. Score the logged predictions against the results next to the baselines (home team, Elo) on
   the same games, and write ``summary.md`` and ``summary.json``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.settings import Settings
from flows.ingest import _retry_unless_handled
from flows.resources import open_store
from ingest.errors import SourceDataError
from ingest.schema import (
    BOX_STATS,
    PLAYOFFS,
    REGULAR,
    parse_seasons,
    season_spans,
    season_start_year,
)
from monitoring.predictions import json_value
from monitoring.windows import MAX_WINDOW_DAYS

if TYPE_CHECKING:
    from evaluation.intervals import PointsInterval

SEASON_TYPE_CHOICES = {"regular": (REGULAR,), "all": (REGULAR, PLAYOFFS)}
# Predictions are stamped at noon UTC of the game day: before any NBA tip-off.
PREDICTION_HOUR = 12


@dataclass
class ReplaySummary:
    season: str
    trained_through: str
    state_dir: str
    out: str
    doc: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"season": self.season, "state_dir": self.state_dir, "out": self.out, **self.doc}


@dataclass
class Mirror:
    """The store's games in memory, kept equal to it by appending what each day writes."""

    games: pd.DataFrame
    team_games: pd.DataFrame
    player_games: pd.DataFrame | None

    def append(self, batch) -> None:
        self.games = pd.concat([self.games, batch.games[self.games.columns]], ignore_index=True)
        self.team_games = pd.concat(
            [self.team_games, batch.team_games[self.team_games.columns]], ignore_index=True
        )
        if self.player_games is not None and batch.player_games is not None:
            self.player_games = pd.concat(
                [self.player_games, batch.player_games[self.player_games.columns]],
                ignore_index=True,
            )


# Pure ------------------------------------------------------------------------------------------
def game_requests(day_games: pd.DataFrame) -> pd.DataFrame:
    """The day's games as prediction requests: same ids, teams and date, no score."""
    requests = day_games.copy()
    requests["home_pts"] = np.nan
    requests["away_pts"] = np.nan
    return requests


def player_requests(day_players: pd.DataFrame) -> pd.DataFrame:
    """The day's player-games as requests: who plays for whom, no box score."""
    requests = day_players.copy()
    for col in ("minutes", *BOX_STATS):
        if col in requests:
            requests[col] = np.nan
    return requests


@task(name="predict-games", cache_policy=NO_CACHE)
def predict_games(mirror: Mirror, day_games: pd.DataFrame, model, columns: list[str]):
    """Features of the day's games from the stored games (all dated before the day) and the
    champion's P(home win).

    ``build_game_features`` builds the team, head-to-head and roster histories from the team
    (and player) rows and returns a row per game it is given: the day's requests alone are
    passed, so the features of the stored games, which nothing here uses, are not recomputed.
    """
    from features import build_game_features

    requests = game_requests(day_games)
    feats = build_game_features(requests, mirror.team_games, player_games=mirror.player_games)
    p = np.asarray(model.predict_proba(feats))[:, 1]
    return feats, p


@task(name="predict-points", cache_policy=NO_CACHE)
def predict_points(mirror: Mirror, day_games: pd.DataFrame, day_players: pd.DataFrame, model):
    """Player features of the day's player-games from the stored games and predicted points."""
    from features import build_player_features

    requests = player_requests(day_players)
    feats = build_player_features(
        pd.concat([mirror.player_games, requests], ignore_index=True),
        mirror.team_games,
        pd.concat([mirror.games, game_requests(day_games)], ignore_index=True),
    )
    key = set(zip(requests["game_id"], requests["player_id"], strict=True))
    mask = [k in key for k in zip(feats["game_id"], feats["player_id"], strict=True)]
    feats = feats.loc[mask].reset_index(drop=True)
    return feats, np.clip(np.asarray(model.predict(feats), dtype=float), 0.0, None)


def game_rows(
    feats: pd.DataFrame, p: np.ndarray, name: str, version: str, columns: list[str], day: date
) -> list[dict[str, Any]]:
    """``predictions`` rows for the day's games, shaped as the service logs them."""
    created = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=PREDICTION_HOUR
    )
    rows = []
    for row, prob in zip(feats.itertuples(index=False), p, strict=True):
        prob = float(prob)
        values = {c: getattr(row, c) for c in columns}
        rows.append(
            {
                "request_id": f"replay:{row.game_id}",
                "created_at": created,
                "username": "replay",
                "endpoint": "replay",
                "model_name": name,
                "model_version": str(version),
                "game_date": day,
                "game_id": row.game_id,
                "home_team_id": int(row.home_team_id),
                "away_team_id": int(row.away_team_id),
                "inputs": {
                    "request": {
                        "home_team_id": int(row.home_team_id),
                        "away_team_id": int(row.away_team_id),
                        "game_date": day.isoformat(),
                        "season": row.season,
                    },
                    "features": values,
                },
                "outputs": {
                    "predicted_winner": "home" if prob >= 0.5 else "away",
                    "home_win_probability": prob,
                    "away_win_probability": 1.0 - prob,
                    "confidence": max(prob, 1.0 - prob),
                },
                "cached": False,
            }
        )
    return rows


def version_interval(info) -> PointsInterval | None:
    """A registered points version's interval (its ``points_interval`` tag), None without."""
    from evaluation.intervals import PointsInterval

    raw = info.points_interval
    return PointsInterval.from_json(raw) if raw else None


def points_rows(
    feats: pd.DataFrame,
    points: np.ndarray,
    day_games: pd.DataFrame,
    name: str,
    version: str,
    columns: list[str],
    day: date,
    interval: PointsInterval | None = None,
    eval_season: str | None = None,
) -> list[dict[str, Any]]:
    """The prediction-log rows of one day's points predictions, each with its interval as the
    service returns it when the version has one (``interval``, from ``eval_season``)."""
    created = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=PREDICTION_HOUR
    )
    teams = day_games.set_index("game_id")[["home_team_id", "away_team_id"]]
    rows = []
    for row, value in zip(feats.itertuples(index=False), points, strict=True):
        home, away = teams.loc[row.game_id]
        rows.append(
            {
                "request_id": f"replay:{row.game_id}:{row.player_id}",
                "created_at": created,
                "username": "replay",
                "endpoint": "replay",
                "model_name": name,
                "model_version": str(version),
                "game_date": day,
                "game_id": row.game_id,
                "home_team_id": int(home),
                "away_team_id": int(away),
                "player_id": int(row.player_id),
                "inputs": {
                    "request": {"player_id": int(row.player_id), "game_date": day.isoformat()},
                    "features": {c: getattr(row, c) for c in columns},
                },
                "outputs": {
                    "predicted_points": float(value),
                    **(
                        {"interval": interval.answer(float(value), eval_season)}
                        if interval is not None
                        else {}
                    ),
                },
                "cached": False,
            }
        )
    return rows


def day_batch(batches: list, day: pd.Timestamp):
    """The rows of ``day`` from the season's batches, as one ``Batch`` (None on no game)."""
    from ingest.storage import Batch

    for batch in batches:
        games = batch.games.loc[batch.games["game_date"] == day]
        if games.empty:
            continue
        players = None
        if batch.player_games is not None:
            players = batch.player_games.loc[batch.player_games["game_date"] == day]
        return Batch(
            season=batch.season,
            season_type=batch.season_type,
            team_games=batch.team_games.loc[batch.team_games["game_date"] == day],
            games=games,
            player_games=players,
        )
    return None


# I/O -------------------------------------------------------------------------------------------
@task(name="log-predictions", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def log_day_predictions(engine, rows: list[dict[str, Any]]) -> int:
    from monitoring.predictions import log_predictions

    return log_predictions(engine, rows)


@task(name="store-results", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def store_results(engine, batch) -> dict[str, dict[str, int]]:
    """Write the day's results (upserts: a retry is safe)."""
    from ingest.storage import write_batches

    return {k: v.as_dict() for k, v in write_batches(engine, [batch]).items()}


@task(name="load-champion", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def load_champion(tracking_uri: str, name: str):
    from registry import RegistryError, load_model

    try:
        return load_model(tracking_uri, name)
    except RegistryError as exc:
        raise ValueError(f"{name} has no champion after training: {exc}") from exc


@task(name="read-store", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_store(engine, with_players: bool) -> Mirror:
    from ingest.storage import read_games, read_player_games, read_team_games

    players = read_player_games(engine) if with_players else None
    return Mirror(read_games(engine), read_team_games(engine), players)


@task(name="read-replay-log", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_replay_log(engine, names: list[str], start: date, end: date) -> pd.DataFrame:
    from monitoring.predictions import read_predictions

    return read_predictions(engine, names, start, end)


# Setup -----------------------------------------------------------------------------------------
def check_state_dir(state_dir: Path) -> Path:
    """The resolved state folder, refused if it already holds a store."""
    state = state_dir.expanduser().resolve()
    for name in ("nba.db", "mlflow.db"):
        if (state / name).exists():
            raise ValueError(
                f"{state} already holds a store ({name}): give the replay a new --state-dir"
            )
    return state


def missing_folders(path: Path) -> list[Path]:
    """``path`` and the folders above it that do not exist, deepest first."""
    return [p for p in (path, *path.parents) if not p.exists()]


def check_folder(path: Path, option: str) -> None:
    """A ValueError naming ``option`` unless the replay can make folders in ``path``: it is made
    (with the folders missing on its way) and a folder made in it, then what was made is removed."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option}: {path} is a file, not a folder")
    missing = missing_folders(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path):
            pass
    except OSError as exc:
        raise ValueError(
            f"{option}: cannot make the folder {path} ({exc.strerror}: {exc.filename})"
        ) from None
    finally:
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)


@contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """If the block fails, remove what it added to ``folder``: the folder itself (and those above
    it) when they did not exist, else the entries it added. A link is removed, never followed."""
    missing = missing_folders(folder)
    before = set() if missing else set(folder.iterdir())
    try:
        yield
    except BaseException:
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)
        else:
            for path in set(folder.iterdir()) - before:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        raise


def name_data_file(exc: SourceDataError, view: Path, data_dir: Path) -> None:
    """Make ``exc`` name the broken file in the user's data folder, not through ``view``."""
    exc.path = exc.path.replace(str(view), str(data_dir), 1)
    exc.args = tuple(str(a).replace(str(view), str(data_dir), 1) for a in exc.args)


def replay_settings(base: Settings, state_dir: Path) -> Settings:
    """The user's settings (thresholds, data folder) on a state folder of the replay's own:
    local SQLite store and MLflow store, whatever the environment points at."""
    state = check_state_dir(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    return base.model_copy(
        update={
            "state_dir": state,
            "database_url": None,
            "mlflow_tracking_uri": None,
            "data_dir": base.resolved_data_dir(),
            "webhook_url": None,
        }
    )


def team_logs_view(data_dir: Path, state_dir: Path) -> Path:
    """A snapshot folder holding only the team game logs (linked, or copied where links are
    not allowed): without points, the replay's store needs no player rows, which keeps every
    ingest, validation and retrain to the team tables."""
    from ingest.snapshot import TEAM_DIRS

    view = state_dir / "snapshot-team-logs"
    for sub in TEAM_DIRS.values():
        source, target = data_dir / sub, view / sub
        if not source.is_dir() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(source, target_is_directory=True)
        except OSError:
            shutil.copytree(source, target)
    return view


def season_year(value: str, option: str) -> int:
    """The start year of a season option, or a ValueError naming the option."""
    try:
        return season_start_year(value)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None


def history_spec(available: list[str], first: str | None, last: str, snapshot: str) -> str:
    """The ``ingest`` season range from ``first`` (default: the oldest available) to ``last``:
    each of its seasons has a team game log in the snapshot (``snapshot`` names it and what it
    holds), and one at least comes before ``last``, the initial training's evaluation season."""
    if last not in available:
        raise ValueError(f"--trained-through {last} is not in {snapshot}")
    if first is not None and first not in available:
        season_year(first, "--first-season")
        raise ValueError(f"--first-season {first} is not in {snapshot}")
    start = first or min(available, key=season_start_year)
    if season_start_year(start) > season_start_year(last):
        raise ValueError(f"--first-season {start} is after --trained-through {last}")
    if start == last:
        raise ValueError(
            f"{'--first-season' if first else 'the oldest season'} {start} leaves no season "
            f"before --trained-through {last} to train on"
        )
    missing = [s for s in parse_seasons(f"{start}:{last}", available) if s not in available]
    if missing:
        raise ValueError(
            f"season(s) {season_spans(missing)} of the history {start}:{last} are not in "
            f"{snapshot}: give a --first-season after them"
        )
    return f"{start}:{last}"


def check_arguments(
    season: str,
    trained_through: str,
    season_type: str,
    models: list[str],
    points: bool,
    drift_every_days: int,
    window_days: int,
    cooldown_days: int,
    max_days: int | None = None,
) -> None:
    """The checks that need no data: season order, choices and counts. Raises ValueError."""
    from training.models import GAME_MODELS, POINTS_MODELS

    if season_year(trained_through, "--trained-through") >= season_year(season, "--season"):
        raise ValueError(f"--trained-through {trained_through} must be before --season {season}")
    if season_type not in SEASON_TYPE_CHOICES:
        raise ValueError(f"--season-type must be regular or all, got {season_type!r}")
    if drift_every_days < 1:
        raise ValueError(f"--drift-every must be >= 1, got {drift_every_days}")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValueError(f"--window-days must be 1 to {MAX_WINDOW_DAYS}, got {window_days}")
    if cooldown_days < 0:
        raise ValueError(f"--cooldown-days must be >= 0, got {cooldown_days}")
    if max_days is not None and max_days < 1:
        raise ValueError(f"--days must be >= 1, got {max_days}")
    unknown = [m for m in models if m not in GAME_MODELS + POINTS_MODELS]
    if unknown:
        raise ValueError(f"--models: unknown {unknown}; choose from {GAME_MODELS + POINTS_MODELS}")
    if not points and any(m in POINTS_MODELS for m in models):
        raise ValueError("--models names a points model: add --points (the store gets players)")


@dataclass(frozen=True)
class ReplayPlan:
    """A replay's checked arguments."""

    models: list[str]
    out_dir: Path
    state: Path
    history: str  # the ``ingest`` season range of the history


def plan_replay(
    season: str,
    trained_through: str,
    state_dir: str | None,
    out: str | None,
    first_season: str | None,
    points: bool,
    models: list[str] | None,
    season_type: str,
    drift_every_days: int,
    window_days: int,
    cooldown_days: int,
    settings: Settings,
    max_days: int | None = None,
) -> ReplayPlan:
    """Every check of a replay's arguments that reads no season: the choices and counts, the
    models, the seasons against the snapshot's file list, and the output and state folders
    (made and removed again). ``nba-mlops replay`` runs it before the flow run starts, so a typo
    fails in about a second; the flow runs it again. Raises ValueError."""
    from ingest.snapshot import SnapshotSource

    game_model = settings.default_game_model
    points_model = settings.default_points_model
    models = list(models or ([game_model, points_model] if points else [game_model]))
    check_arguments(
        season,
        trained_through,
        season_type,
        models,
        points,
        drift_every_days,
        window_days,
        cooldown_days,
        max_days,
    )
    if game_model not in models or (points and points_model not in models):
        raise ValueError(
            f"--models must include the game model {game_model}"
            + (f" and the points model {points_model}" if points else "")
        )
    out_dir = Path(out or f"replay-{season}").expanduser().resolve()
    state = check_state_dir(Path(state_dir) if state_dir else out_dir / "state")
    data_dir = settings.resolved_data_dir()
    available = SnapshotSource(data_dir).team_seasons(REGULAR)
    spans = season_spans(available) if available else "no team game log"
    snapshot = f"the snapshot {data_dir} ({spans})"
    history = history_spec(available, first_season, trained_through, snapshot)
    if season not in available:
        raise ValueError(f"season {season} is not in {snapshot}")
    check_folder(out_dir, "--out")
    check_folder(state, "--state-dir" if state_dir else "--out")
    return ReplayPlan(models, out_dir, state, history)


def replay_days(
    batches: list, season: str, until: date | None, max_days: int | None
) -> list[pd.Timestamp]:
    """The game days to replay: the season's, through ``until``, the first ``max_days``.
    ``until`` must fall within the season's game days and ``max_days`` (>= 1, checked with the
    other arguments) within their number."""
    all_days = sorted(
        pd.Timestamp(d) for d in pd.concat([b.games["game_date"] for b in batches]).unique()
    )
    first, last = all_days[0].date(), all_days[-1].date()
    span = f"{season} {'/'.join(b.season_type for b in batches)} runs {first}..{last}"
    if until is not None and not first <= until <= last:
        raise ValueError(f"--until {until} is outside the season: {span}")
    days = [d for d in all_days if until is None or d.date() <= until]
    if max_days is not None:
        if max_days > len(days):
            through = f" through {until}" if until is not None else ""
            raise ValueError(
                f"--days {max_days} is more than the {len(days)} game days{through}: {span}"
            )
        days = days[:max_days]
    return days


@task(
    name="read-season",
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_unless_handled,  # a broken file stays broken: not read twice
    cache_policy=NO_CACHE,
)
def read_season(data_dir: Path, season: str, season_type: str, points: bool) -> dict:
    """The season's raw logs from the snapshot, as the replay's store gets them: with
    ``points`` whatever ``SnapshotSource`` reads (the CSVs, else a recorded response); without,
    the team CSVs alone (what ``team_logs_view`` shows)."""
    from ingest.snapshot import SnapshotSource

    source = SnapshotSource(data_dir)
    if points:
        return {
            "team": source.team_game_log(season, season_type),
            "player": source.player_game_log(season, season_type),
        }
    if season not in source.team_seasons(season_type):
        return {"team": None, "player": None}
    return {"team": source.team_game_log(season, season_type), "player": None}


# The flow --------------------------------------------------------------------------------------
@flow(name="season-replay", log_prints=True)
def replay_flow(
    season: str = "2023-24",
    trained_through: str = "2022-23",
    state_dir: str | None = None,
    out: str | None = None,
    first_season: str | None = None,
    until: date | None = None,
    max_days: int | None = None,
    points: bool = False,
    models: list[str] | None = None,
    season_type: str = "regular",
    drift_every_days: int = 7,
    window_days: int = 14,
    cooldown_days: int = 28,
    html: bool = False,
    settings: Settings | None = None,
) -> ReplaySummary:
    """Replay ``season`` day by day with champions trained through ``trained_through``.

    ``state_dir`` (default ``<out>/state``) must hold no store yet; ``out`` (default
    ``replay-<season>``) receives ``summary.md`` and ``summary.json``. ``until`` / ``max_days``
    stop early; ``points`` also predicts every player-game (slower); ``models`` are the models
    trained and retrained (default: the default game model, plus the default points model with
    ``points``).
    """
    from flows.drift import drift_flow
    from flows.ingest import ingest_flow, normalize_season, validate_batches
    from flows.training import training_flow
    from ingest.validation import raise_for_failures
    from monitoring.performance import baseline_metrics, join_game_results, join_points_results
    from monitoring.predictions import feature_rows, latest_per_target
    from monitoring.replay import (
        check_row,
        home_win_rate,
        monthly_metrics,
        points_summary,
        render_markdown,
    )

    logger = get_run_logger()
    t_start = time.perf_counter()
    base = settings or Settings()
    plan = plan_replay(
        season,
        trained_through,
        state_dir,
        out,
        first_season,
        points,
        models,
        season_type,
        drift_every_days,
        window_days,
        cooldown_days,
        base,
        max_days,
    )
    models, out_dir, state, spec = plan.models, plan.out_dir, plan.state, plan.history
    game_model, points_model = base.default_game_model, base.default_points_model
    # Everything is checked against the snapshot's files before the state folder is made.
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data_dir = base.resolved_data_dir()
    batches = []
    for stype in SEASON_TYPE_CHOICES[season_type]:
        batch = normalize_season(read_season(data_dir, season, stype, points), season, stype)
        if batch is not None:
            batches.append(batch)
    if not batches:  # listed, but no rows of this season type
        raise ValueError(f"season {season} has no games in the snapshot {data_dir}")
    days = replay_days(batches, season, until, max_days)
    timings["load season"] = time.perf_counter() - t

    # A failure before the first day removes what it made: the same command can run again.
    with removed_on_failure(state):
        rs = replay_settings(base, state)
        t = time.perf_counter()
        raise_for_failures(validate_batches(batches, rs.validation_dir))
        timings["load season"] += time.perf_counter() - t
        if not points:
            rs = rs.model_copy(update={"data_dir": team_logs_view(data_dir, rs.state_dir)})

        t = time.perf_counter()
        logger.info("replay state in %s; ingesting %s", rs.state_dir, spec)
        try:
            ingest_flow(source="snapshot", seasons=spec, season_type="all", settings=rs)
        except SourceDataError as exc:
            name_data_file(exc, rs.resolved_data_dir(), data_dir)
            raise
        timings["ingest history"] = time.perf_counter() - t

        t = time.perf_counter()
        initial = training_flow(eval_season=trained_through, models=models, settings=rs)
        timings["initial training"] = time.perf_counter() - t

        t = time.perf_counter()
        engine = open_store(rs)
        uri = rs.resolved_mlflow_tracking_uri
        mirror = read_store(engine, with_players=points)
        model, info = load_champion(uri, game_model)
        p_model, p_info = load_champion(uri, points_model) if points else (None, None)
        timings["load champions"] = time.perf_counter() - t

    first_day = days[0].date()
    champions = [
        {
            "from": first_day.isoformat(),
            "model": game_model,
            "version": info.version,
            "how": f"initial training, evaluated on {initial.eval_season}",
        }
    ]
    if points:
        champions.append(
            {
                "from": first_day.isoformat(),
                "model": points_model,
                "version": p_info.version,
                "how": f"initial training, evaluated on {initial.eval_season}",
            }
        )
    home_rate = home_win_rate(mirror.games, info.train_seasons)
    next_check = first_day + timedelta(days=drift_every_days)
    checks, retrains = [], []
    n_games = n_players = 0
    timings.update({"days": 0.0, "drift checks": 0.0, "retrains": 0.0})
    for i, ts in enumerate(days, start=1):
        t = time.perf_counter()
        day = ts.date()
        batch = day_batch(batches, ts)
        feats, p = predict_games(mirror, batch.games, model, list(info.feature_names))
        rows = game_rows(feats, p, game_model, info.version, list(info.feature_names), day)
        if points and batch.player_games is not None and len(batch.player_games):
            pf, pts = predict_points(mirror, batch.games, batch.player_games, p_model)
            rows += points_rows(
                pf,
                pts,
                batch.games,
                points_model,
                p_info.version,
                list(p_info.feature_names),
                day,
                interval=version_interval(p_info),
                eval_season=p_info.eval_season,
            )
            n_players += len(pf)
        log_day_predictions(engine, rows)
        store_results(engine, batch)
        mirror.append(batch)
        n_games += len(feats)
        timings["days"] += time.perf_counter() - t
        logger.info(
            "[%d/%d] %s: %d games predicted by %s v%s, results stored (%.0f s)",
            i,
            len(days),
            day,
            len(feats),
            game_model,
            info.version,
            time.perf_counter() - t_start,
        )
        as_of = day + timedelta(days=1)
        if as_of < next_check or i == len(days):
            continue
        while next_check <= as_of:
            next_check += timedelta(days=drift_every_days)
        t = time.perf_counter()
        check = drift_flow(
            as_of=as_of,
            window_days=window_days,
            tasks=["game", "points"] if points else ["game"],
            retrain_models=models,
            cooldown_days=cooldown_days,
            html=html,
            settings=rs,
        )
        elapsed = time.perf_counter() - t
        doc = check.as_dict()
        checks.append(doc)
        if check.retrain is not None:
            timings["retrains"] += check.retrain["seconds"]
            elapsed -= check.retrain["seconds"]
            retrains.append({"as_of": as_of.isoformat(), **check.retrain})
            for outcome in check.retrain["models"]:
                if not outcome["promoted"]:
                    continue
                champions.append(
                    {
                        "from": as_of.isoformat(),
                        "model": outcome["name"],
                        "version": outcome["version"],
                        "how": f"promoted by the gate: {outcome['reason']}",
                    }
                )
                if outcome["name"] == game_model:
                    model, info = load_champion(uri, game_model)
                elif points and outcome["name"] == points_model:
                    p_model, p_info = load_champion(uri, points_model)
        timings["drift checks"] += elapsed
        logger.info("check %s: %s", as_of, check.action)

    t = time.perf_counter()
    last_day = days[-1].date()
    end = last_day + timedelta(days=1)
    stored = read_store(engine, with_players=points)
    logged = read_replay_log(engine, [game_model], first_day, end)
    joined = join_game_results(logged, stored.games)
    scored = baseline_metrics(joined, home_rate)
    points_doc = {}
    if points:
        p_logged = read_replay_log(engine, [points_model], first_day, end)
        p_joined = join_points_results(p_logged, stored.player_games)
        latest = latest_per_target(p_logged, "points")
        season_avg = latest[["day", "player_id"]].assign(
            player_pts_avg_season=feature_rows(latest, ["player_pts_avg_season"]).iloc[:, 0]
        )
        season_avg["player_id"] = season_avg["player_id"].astype("int64")
        p_joined = p_joined.merge(
            season_avg.rename(columns={"day": "game_date"}),
            on=["game_date", "player_id"],
            how="left",
        )
        points_doc = points_summary(p_joined)
    timings["final scoring"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    doc = {
        "season": season,
        "trained_through": trained_through,
        "history": spec,
        "season_type": season_type,
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "days": len(days),
        "games_predicted": n_games,
        "player_predictions": n_players,
        "drift_every_days": drift_every_days,
        "window_days": window_days,
        "cooldown_days": cooldown_days,
        "models": models,
        "thresholds": {
            "drift_share": rs.drift_share_threshold,
            "log_loss_drop": rs.log_loss_drop_threshold,
            "mae_drop": rs.mae_drop_threshold,
        },
        "games": {
            "n": int(scored.get("model", {}).get("n", 0)) if scored else 0,
            "home_rate": home_rate,
            "metrics": scored,
            "monthly": monthly_metrics(joined, home_rate),
        },
        "points": points_doc,
        "champions": champions,
        "initial_training": initial.models,
        "checks": [check_row(c) for c in checks],
        "check_details": checks,
        "retrains": retrains,
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "seconds": round(timings["total"], 1),
        "state_dir": str(rs.state_dir),
        "reports_dir": str(rs.reports_dir),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(json_value(doc), indent=1) + "\n")
    (out_dir / "summary.md").write_text(render_markdown(doc))
    logger.info("replay summary written to %s", out_dir)
    return ReplaySummary(
        season=season,
        trained_through=trained_through,
        state_dir=str(rs.state_dir),
        out=str(out_dir),
        doc=doc,
    )
