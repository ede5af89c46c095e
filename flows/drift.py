"""``drift_flow``: build the monitoring reports of the champions; retrain when a threshold is
crossed (the new versions still go through the promotion gate); notify.

For each task (``game``: the default game model, ``points``: the default points model):

1. the champion's reference: the features of the last season of its training window, at the
   same point of the season as the current window (phase-matched), with its predictions; only
   rows dated before the window's start (and on or before the version's ``fit_through``), and
   the season before when that cut leaves too few rows at the window's point of the season;
2. the current window (the ``window_days`` before ``as_of``): the feature vectors and
   predictions the champion's version logged in ``predictions`` (made before ``as_of``), or,
   when too few were logged, the stored games of the window with features computed by
   ``features/``;
3. three Evidently reports: feature drift, prediction drift, performance (logged predictions
   joined with played games over ``performance_days``, against the champion's backtest);
4. the reports are saved (HTML + JSON), recorded in ``drift_reports``, indexed, and summarized
   on the champion's MLflow run.

Then the decision (``monitoring.decision``): feature drift, prediction drift (the normed
Wasserstein distance of the predicted values, ``settings.prediction_drift_threshold``) or a
performance drop alerts; an alert retrains the models of its task through ``training_flow``
unless a cooldown or a lack of new data blocks it, or the store holds played games dated on or
after ``as_of`` (training uses the whole store: a retrain "as of" a past day would see them).
Before retraining on the current season, each champion that never saw that season is scored on
its games before ``as_of``, so the gate can compare both versions on the same games when no
in-season window can be used (``training_flow`` prefers the window).
Alerts are logged and POSTed to ``settings.webhook_url``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.settings import Settings, redact_uri
from flows.resources import open_store
from ingest.schema import season_spans
from monitoring.decision import (
    PredictionShift,
    RetrainPolicy,
    alert_reasons,
    decide,
    normed_wasserstein,
)
from monitoring.performance import (
    join_game_results,
    join_points_results,
    summarize_performance,
)
from monitoring.predictions import (
    GAME,
    POINTS,
    feature_rows,
    latest_per_target,
    predicted_values,
    read_predictions,
)
from monitoring.reference import (
    PREDICTION,
    cache_path,
    is_past,
    load_cached,
    model_predictions,
    reference_cutoff,
    reference_rows,
    save_cached,
    seasons_before,
    truncated_too_far,
    window_rows,
    with_predictions,
)
from monitoring.reference import (
    reference_seasons as reference_seasons_of,
)
from monitoring.reports import (
    ReportResult,
    feature_drift_report,
    performance_report,
    prediction_drift_report,
)
from monitoring.windows import (
    PhaseRange,
    Window,
    check_as_of,
    phase_matched,
    phase_of,
    season_of,
    season_starts,
)

TASKS = (GAME, POINTS)
# A retrain is evaluated on the season being played once it has this many played games.
MIN_EVAL_GAMES = 50
EPOCH = date(1970, 1, 1)


@dataclass
class StoreData:
    """The stored games a check reads. Team and player rows (the game features' roster columns
    need the player rows too) are loaded only when features must be computed (no cached
    reference, too few logged vectors, a season to score)."""

    games: pd.DataFrame
    team_games: pd.DataFrame | None = None
    player_games: pd.DataFrame | None = None
    _features: dict[tuple[str, tuple[str, ...] | None], pd.DataFrame] = field(default_factory=dict)

    def features(self, task_name: str, seasons: Sequence[str] | None = None) -> pd.DataFrame:
        """The feature table of ``task_name``; for the games of ``seasons`` only when given
        (game features: every stored game still feeds the histories, the rows of the other
        seasons are just not computed)."""
        if self.team_games is None:
            raise RuntimeError("team games not loaded: call load_history first")
        key = (task_name, None if seasons is None or task_name != GAME else tuple(seasons))
        if key not in self._features:
            from features import build_game_features, build_player_features

            if task_name == GAME:
                games = self.games
                if seasons is not None:
                    games = games.loc[games["season"].astype(str).isin(list(seasons))]
                # the roster features need the player rows, as in training and serving
                frame = build_game_features(games, self.team_games, player_games=self.player_games)
            else:
                if self.player_games is None or self.player_games.empty:
                    raise ValueError("the store holds no player games")
                frame = build_player_features(self.player_games, self.team_games, self.games)
            self._features[key] = frame
        return self._features[key]

    def starts(self) -> dict[str, pd.Timestamp]:
        regular = self.games.loc[self.games["season_type"] == "regular"]
        return season_starts(regular)


@dataclass
class TaskCheck:
    task: str
    model_name: str
    model_version: str | None = None
    skipped: str | None = None
    skipped_reports: list[str] = field(default_factory=list)
    current_source: str | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)
    performance: dict[str, Any] | None = None
    prediction_shift: dict[str, Any] | None = None
    decision: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class DriftCheckSummary:
    check_id: str
    as_of: str
    window: str
    folder: str
    tasks: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    action: str = "none"
    season_scores: list[dict[str, Any]] = field(default_factory=list)
    retrain: dict[str, Any] | None = None
    notified: bool | None = None  # the webhook's delivery; None: no alert, or no webhook set
    skipped: list[str] = field(default_factory=list)  # "<task>: <report not made and why>"
    index: str | None = None  # the index page, when this check rewrote it
    seconds: float = 0.0

    @property
    def retrained(self) -> bool:
        return self.retrain is not None

    @property
    def reported(self) -> bool:
        """Whether any report was made (else there was nothing to find a threshold crossed in)."""
        return any(t.get("reports") for t in self.tasks)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


# I/O tasks -------------------------------------------------------------------------------------
@task(name="load-games", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def load_games(engine) -> StoreData:
    """Every stored game (the performance join and the season calendar need them)."""
    from ingest.storage import read_games

    return StoreData(read_games(engine))


@task(name="load-history", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def load_history(engine, data: StoreData, with_players: bool) -> StoreData:
    """``data`` with the team rows (and the player rows) the feature tables are built from."""
    from ingest.storage import read_player_games, read_team_games

    team_games = data.team_games if data.team_games is not None else read_team_games(engine)
    players = data.player_games
    if with_players and players is None:
        players = read_player_games(engine)
    return StoreData(data.games, team_games, players)


@task(name="read-champion", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_champion(tracking_uri: str, name: str):
    from registry import get_champion

    return get_champion(tracking_uri, name)


@lru_cache(maxsize=16)
def _cached_model(tracking_uri: str, name: str, version: str):
    from registry import load_model

    model, _ = load_model(tracking_uri, name, version)
    return model


@task(name="load-champion-model", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def load_champion_model(tracking_uri: str, name: str, version: str):
    """The model of one version (kept in memory: a version never changes)."""
    return _cached_model(tracking_uri, name, version)


@task(name="read-prediction-log", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_prediction_log(engine, name: str, start: date, end: date) -> pd.DataFrame:
    """The log of ``name`` for the game days ``[start, end)``, made before the day before
    ``end`` ended (``monitoring.predictions.day_end``)."""
    return read_predictions(engine, [name], start, end, made_before=end)


@task(name="read-cached-reference", retries=1, retry_delay_seconds=3, cache_policy=NO_CACHE)
def read_cached_reference(path) -> pd.DataFrame | None:
    return load_cached(path)


@task(name="save-reference", retries=1, retry_delay_seconds=3, cache_policy=NO_CACHE)
def save_reference(path, frame: pd.DataFrame) -> None:
    save_cached(path, frame)


@task(name="build-reference", cache_policy=NO_CACHE)
def build_reference(
    data: StoreData,
    model,
    task_name: str,
    seasons: list[str],
    before: pd.Timestamp | None = None,
    phase: PhaseRange | None = None,
) -> tuple[pd.DataFrame, bool]:
    """The champion's reference rows (dated before ``before``) with its predictions, and whether
    the cut left too few rows at ``phase`` of the season (pure)."""
    frame, starts = data.features(task_name, seasons), data.starts()
    whole = reference_rows(frame, task_name, seasons, starts)
    rows = whole
    if before is not None:
        dates = pd.to_datetime(whole["game_date"]).dt.normalize()
        rows = whole.loc[dates < pd.Timestamp(before)].reset_index(drop=True)
    if rows.empty:
        raise ValueError(
            f"no played regular-season rows of {', '.join(seasons)} before "
            f"{before.date() if before is not None else 'now'} in the store"
        )
    short = phase is not None and truncated_too_far(rows, len(whole), phase)
    return with_predictions(rows, model, task_name), short


class NoReference(ValueError):
    """No stored game before a check's window: there is nothing to compare the window with."""


def champion_reference(
    engine,
    data: StoreData,
    model,
    info,
    task_name: str,
    seasons: list[str],
    window: Window,
    cache_dir,
) -> tuple[pd.DataFrame, list[str], StoreData]:
    """The reference of the champion for ``window``: rows of ``seasons`` dated before the
    window's start (and not after the version's ``fit_through``); when that cut leaves too few
    rows at the window's point of the season, the seasons before. Seasons that are over are
    read from (and saved to) the cache; a season still being played is always computed."""
    before = reference_cutoff(window.start, info.fit_through)
    played = data.games.loc[
        (data.games["season_type"] == "regular") & data.games["home_pts"].notna(), "game_date"
    ]
    if not (pd.to_datetime(played) < before).any():
        held = season_spans(data.games["season"].astype(str)) if len(data.games) else "none"
        raise NoReference(
            f"no played regular-season game in the store before {before.date()} to compare "
            f"with (it holds {held})"
        )
    phase = current_phase(window, data)
    fallback: tuple[pd.DataFrame, list[str]] | None = None
    for candidate in (seasons, seasons_before(seasons)):
        past = is_past(candidate, window.start)
        path = cache_path(cache_dir, info.name, info.version, candidate) if past else None
        reference = read_cached_reference(path) if path is not None else None
        if reference is not None:
            return reference, candidate, data
        data = load_history(engine, data, with_players=True)
        try:
            # a past season's reference is cached for every check: no phase-dependent choice
            reference, short = build_reference(
                data, model, task_name, candidate, before, None if past else phase
            )
        except ValueError:
            if fallback is not None:
                return (*fallback, data)
            if candidate is seasons:
                continue  # nothing of these seasons before the window: the seasons before
            raise
        if path is not None:
            save_reference(path, reference)
        if not short or fallback is not None:
            return reference, candidate, data
        fallback = (reference, candidate)
    return (*fallback, data)  # the second candidate returns, raises or leaves the fallback set


def current_phase(window: Window, data: StoreData) -> PhaseRange:
    """The days of its season the window covers."""
    start = data.starts().get(season_of(window.last_day), pd.Timestamp(window.start))
    return phase_of(window, start)


# Pure work -------------------------------------------------------------------------------------
def of_version(logged: pd.DataFrame, version: str) -> pd.DataFrame:
    """The logged rows made by ``version`` (the champion's): another version's vectors and
    predictions are not the champion's behaviour."""
    if logged.empty:
        return logged
    return logged.loc[logged["model_version"].astype(str) == str(version)].reset_index(drop=True)


def current_features(
    logged: pd.DataFrame,
    data: StoreData,
    task_name: str,
    columns: list[str],
    window: Window,
    min_rows: int,
) -> tuple[pd.DataFrame, str]:
    """Feature vectors of the window: the logged ones (one per game or player-game), or the
    stored games of the window through ``features/`` when fewer than ``min_rows`` were logged."""
    in_window = logged.loc[window.contains(logged["day"])] if not logged.empty else logged
    if len(in_window):
        latest = latest_per_target(in_window, task_name)
        feats = feature_rows(latest, columns)
        feats = feats.loc[feats.notna().any(axis=1)]
        if len(feats) >= min_rows:
            return feats.reset_index(drop=True), "predictions"
    rows = window_rows(data.features(task_name), window)
    return rows.reset_index(drop=True), "store"


def logged_vectors(logged: pd.DataFrame, task_name: str, columns: list[str], window: Window) -> int:
    """How many distinct games (player-games) of the window have logged feature vectors."""
    if logged.empty:
        return 0
    in_window = logged.loc[window.contains(logged["day"])]
    if in_window.empty:
        return 0
    feats = feature_rows(latest_per_target(in_window, task_name), columns)
    return int(feats.notna().any(axis=1).sum())


def current_predictions(
    logged: pd.DataFrame, current: pd.DataFrame, source: str, model, task_name: str, window: Window
) -> pd.Series:
    """Predicted values of the window: logged ones, or the champion's on the store rows."""
    if source == "predictions":
        in_window = logged.loc[window.contains(logged["day"])]
        values = predicted_values(latest_per_target(in_window, task_name), task_name)
        return values.dropna().reset_index(drop=True)
    return pd.Series(model_predictions(model, current, task_name))


@task(name="build-reports", cache_policy=NO_CACHE)
def build_reports(
    *,
    task_name: str,
    info,
    model,
    reference: pd.DataFrame,
    seasons: list[str],
    logged: pd.DataFrame,
    data: StoreData,
    window: Window,
    performance_window: Window,
    settings: Settings,
    min_current_rows: int,
    min_performance_rows: int,
    html: bool = True,
) -> tuple[list[ReportResult], Any, str, PredictionShift | None, list[str]]:
    """Feature drift, prediction drift and performance of one champion, how far its
    predictions moved, and why any report was not made (pure). Without ``html`` the drift
    reports skip the figures of the HTML pages (same results). ``logged`` holds only the
    champion's version's rows."""
    columns = [c for c in info.feature_names if c in reference.columns]
    if not columns:
        from features import GAME_FEATURES, PLAYER_FEATURES

        columns = list(GAME_FEATURES if task_name == GAME else PLAYER_FEATURES)
    current, source = current_features(logged, data, task_name, columns, window, min_current_rows)
    ref_rows, ref_label = phase_matched(reference, current_phase(window, data))
    ref_window = f"{'/'.join(seasons)} {ref_label}"
    common = dict(
        task=task_name,
        model_name=info.name,
        model_version=info.version,
        reference_window=ref_window,
        current_window=window.label,
    )
    results: list[ReportResult] = []
    skipped: list[str] = []
    shift = None
    if len(current) < 2:
        skipped.append(f"features, predictions: {len(current)} game(s) in {window.label} (need 2)")
    else:
        results.append(
            feature_drift_report(
                ref_rows, current, columns, settings.drift_share_threshold, widgets=html, **common
            )
        )
        preds = current_predictions(logged, current, source, model, task_name, window)
        if len(preds) < 2:
            skipped.append(f"predictions: {len(preds)} predicted value(s) in {window.label}")
        else:
            results.append(
                prediction_drift_report(ref_rows[PREDICTION], preds, widgets=html, **common)
            )
            shift = PredictionShift(
                model_name=info.name,
                distance=normed_wasserstein(ref_rows[PREDICTION], preds),
                threshold=settings.prediction_drift_threshold,
                n_reference=len(ref_rows),
                n_current=len(preds),
                current_window=window.label,
                min_rows=min_current_rows,
            )
    scored = logged.loc[performance_window.contains(logged["day"])] if not logged.empty else logged
    if task_name == GAME:
        joined = join_game_results(scored, data.games)
        threshold = settings.log_loss_drop_threshold
    else:
        joined = join_points_results(scored, data.player_games)
        threshold = settings.mae_drop_threshold
    performance = summarize_performance(
        task_name, joined, info.summary_metrics(), threshold, min_performance_rows
    )
    report = performance_report(
        joined,
        performance,
        model_name=info.name,
        model_version=info.version,
        reference_window=f"backtest {info.eval_season}",
        current_window=performance_window.label,
    )
    if report is not None:
        results.append(report)
    else:
        skipped.append(
            f"performance: {len(joined)} scored prediction(s) of v{info.version} in "
            f"{performance_window.label}"
        )
    return results, performance, source, shift, skipped


# Writing ---------------------------------------------------------------------------------------
@task(name="save-reports", retries=1, retry_delay_seconds=3, cache_policy=NO_CACHE)
def save_reports(results: list[ReportResult], folder, context: dict, html: bool) -> list:
    from monitoring.store import save_report

    return [(r, *save_report(r, folder, context, html_report=html)) for r in results]


@task(name="record-reports", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def record(engine, entries: list, context: dict, reports_dir) -> list[int]:
    from monitoring.store import record_reports, write_index

    ids = record_reports(engine, entries, context, reports_dir)
    write_index(engine, reports_dir)
    return ids


@task(name="annotate-reports", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def annotate(engine, ids: list[int], extra: dict) -> None:
    from monitoring.store import annotate_reports

    annotate_reports(engine, ids, extra)


@task(name="log-to-champion-run", retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE)
def log_to_champion(
    tracking_uri: str, info, check: TaskCheck, results: list[ReportResult], as_of: date, doc
):
    from monitoring.tracking import log_check

    prefix = f"monitoring.{check.task}"
    metrics: dict[str, float] = {}
    for r in results:
        if r.kind == "features":
            metrics[f"{prefix}.feature_drift_share"] = r.share_drifted or 0.0
        elif r.kind == "predictions":
            metrics[f"{prefix}.prediction_drift"] = 1.0 if r.drift_detected else 0.0
    if check.prediction_shift:
        metrics[f"{prefix}.prediction_shift"] = check.prediction_shift["distance"]
    if check.performance:
        for key, value in check.performance.get("live", {}).items():
            metrics[f"{prefix}.live_{key}"] = value
        if check.performance.get("rise") is not None:
            metrics[f"{prefix}.live_rise"] = check.performance["rise"]
    log_check(
        tracking_uri,
        info.run_id,
        metrics,
        doc,
        f"monitoring/{as_of.isoformat()}_{doc['check_id']}.json",
        step=(as_of - EPOCH).days,
    )


@task(name="notify", retries=0, cache_policy=NO_CACHE)
def send_notification(event: dict, webhook_url: str | None) -> bool | None:
    from monitoring.notify import notify

    return notify(event, webhook_url, logger=get_run_logger())


@task(name="score-champion-on-season", retries=1, retry_delay_seconds=3, cache_policy=NO_CACHE)
def score_champion_on_season(
    tracking_uri: str, name: str, season: str, data: StoreData, before: date
) -> dict[str, Any] | None:
    """Score the champion of ``name`` on the played regular-season games of ``season`` dated
    before ``before`` (the check's ``as_of``) and log the scores on its run as
    ``<metric>.<season>``, unless it was trained on that season."""
    from monitoring.tracking import log_season_scores
    from registry import get_champion
    from training.backtest import eval_rows, score
    from training.models import task_of

    info = get_champion(tracking_uri, name)
    if info is None or season in info.train_seasons:
        return None
    task_name = task_of(name)
    frame = data.features(task_name, [season])
    dated = pd.to_datetime(frame["game_date"]).dt.normalize() < pd.Timestamp(before)
    rows = frame.loc[eval_rows(frame, task_name, season) & dated]
    if rows.empty:
        return None
    model = _cached_model(tracking_uri, name, info.version)
    scores = score(task_name, rows, model_predictions(model, rows, task_name))
    logged = log_season_scores(tracking_uri, info.run_id, season, scores, step=len(rows))
    return {"model": name, "version": info.version, "season": season, "n": len(rows), **logged}


# The flow --------------------------------------------------------------------------------------
def _played(games: pd.DataFrame) -> pd.DataFrame:
    return games.loc[games["home_pts"].notna() & games["away_pts"].notna()]


def _new_games(info, data: StoreData, as_of: date) -> int | None:
    """Played games dated after the version's ``fit_through`` (without that tag: of seasons
    outside its training seasons) and before ``as_of``; None when the version records neither."""
    from training.train import games_after_fit

    return games_after_fit(
        data.games, info.fit_through, info.train_seasons, before=pd.Timestamp(as_of)
    )


def _played_from(data: StoreData, as_of: date) -> int:
    """Played games dated on or after ``as_of`` (a retrain on the whole store would see them)."""
    days = pd.to_datetime(_played(data.games)["game_date"]).dt.normalize()
    return int((days >= pd.Timestamp(as_of)).sum())


def _eval_season(data: StoreData, as_of: date, min_games: int) -> str | None:
    """The season being played, when enough of its regular-season games are stored."""
    season = season_of(as_of - timedelta(days=1))
    played = data.games.loc[
        (data.games["season"] == season)
        & (data.games["season_type"] == "regular")
        & data.games["home_pts"].notna()
        & (pd.to_datetime(data.games["game_date"]) < pd.Timestamp(as_of))
    ]
    return season if len(played) >= min_games else None


def decided_by_shift(result: ReportResult, shift: dict[str, Any]) -> ReportResult:
    """A predictions report as recorded: detected when the distance between the predictions
    crosses its threshold (what decides a retrain), the distance in its details; Evidently's own
    test stays in ``test`` and on its page. Other reports unchanged."""
    if result.kind != "predictions":
        return result
    details = {**result.details, "prediction_shift": shift}
    return replace(result, drift_detected=shift["crossed"], share_drifted=None, details=details)


def stale_store(engine, games: pd.DataFrame, as_of: date, days: int) -> str | None:
    """The alert of a store whose last successful ingest finished more than ``days`` days
    before ``as_of`` (None when it is fresh): its checks would find no new game day after day
    and say only "no report made"."""
    from ingest.storage import last_ingest

    finished = last_ingest(engine)
    age = None if finished is None else (as_of - finished.date()).days
    if age is not None and age <= days:
        return None
    newest = pd.to_datetime(games["game_date"]).max() if len(games) else None
    when = (
        "no ingest of the store has succeeded"
        if finished is None
        else f"the store's last successful ingest finished {finished:%Y-%m-%d %H:%M} UTC, "
        f"{age} days before {as_of} (NBA_STALE_INGEST_DAYS {days})"
    )
    held = f"its newest game is of {newest:%Y-%m-%d}" if newest is not None else "it holds no game"
    return f"stale store: {when}; {held}. Check the daily-ingest deployment's runs"


def _retrain_models(
    triggered: set[str], allowed: list[str] | None, has_champion: Callable[[str], bool]
) -> list[str]:
    """The models a retrain of the ``triggered`` tasks trains: those of ``allowed`` of these
    tasks or, by default, every model of these tasks that has a champion (a model never
    trained is not brought in by a drift alert: with no champion to beat, the gate would crown
    it)."""
    from training.models import GAME_MODELS, POINTS_MODELS, task_of

    if allowed:
        return [name for name in allowed if task_of(name) in triggered]
    pool = [name for name in (*GAME_MODELS, *POINTS_MODELS) if task_of(name) in triggered]
    return [name for name in pool if has_champion(name)]


@flow(name="drift-check", log_prints=True)
def drift_flow(
    as_of: date | None = None,
    window_days: int = 14,
    performance_days: int = 28,
    tasks: list[str] | None = None,
    game_model: str | None = None,
    points_model: str | None = None,
    retrain: bool = True,
    retrain_models: list[str] | None = None,
    cooldown_days: int = 7,
    min_new_games: int = 50,
    reference_seasons: int = 1,
    min_current_rows: int = 30,
    min_performance_rows: int = 100,
    html: bool = True,
    settings: Settings | None = None,
) -> DriftCheckSummary:
    """Build the monitoring reports of the champions as of ``as_of`` (default: today) and act
    on them: retrain through ``training_flow`` (still gated) and notify when a threshold is
    crossed. Returns what was found and done. Raises ``RegistryError`` (the run fails) when no
    checked task has a champion; a task without one among others is skipped with a warning."""
    logger = get_run_logger()
    settings = settings or Settings()
    t0 = time.perf_counter()
    today = datetime.now(UTC).date()
    as_of = check_as_of(as_of or today, today)
    chosen = list(dict.fromkeys(tasks or TASKS))  # a task named twice is checked once
    if set(chosen) - set(TASKS):
        raise ValueError(f"tasks must be among {TASKS}, got {chosen}")
    policy = RetrainPolicy(cooldown_days=cooldown_days, min_new_games=min_new_games)
    window = Window.trailing(as_of, window_days)
    performance_window = Window.trailing(as_of, performance_days)
    engine = open_store(settings)
    uri = settings.resolved_mlflow_tracking_uri
    names = {
        GAME: game_model or settings.default_game_model,
        POINTS: points_model or settings.default_points_model,
    }
    check_id = uuid.uuid4().hex[:8]
    from monitoring.store import check_folder, last_retrain_day

    folder = check_folder(settings.reports_dir, as_of, check_id)
    summary = DriftCheckSummary(
        check_id=check_id, as_of=as_of.isoformat(), window=window.label, folder=str(folder)
    )
    data = load_games(engine)
    checks: list[tuple[TaskCheck, Any, list[ReportResult]]] = []
    for task_name in chosen:
        name = names[task_name]
        check = TaskCheck(task=task_name, model_name=name)
        info = read_champion(uri, name)
        if info is None:
            check.skipped = f"{name} has no champion: train first"
            checks.append((check, None, []))
            continue
        if task_name == POINTS:
            # The performance join needs the player rows: load them for this task.
            data = load_history(engine, data, with_players=True)
            if data.player_games is None or data.player_games.empty:
                check.skipped = "the store holds no player games"
                checks.append((check, info, []))
                continue
        check.model_version = info.version
        model = load_champion_model(uri, name, info.version)
        seasons = reference_seasons_of(info.train_seasons, info.eval_season, reference_seasons)
        try:
            reference, seasons, data = champion_reference(
                engine,
                data,
                model,
                info,
                task_name,
                seasons,
                window,
                settings.reports_dir / "reference",
            )
        except NoReference as exc:
            check.skipped = f"no reference: {exc}"
            logger.info("%s: not reported (%s)", task_name, check.skipped)
            checks.append((check, info, []))
            continue
        start = min(window.start, performance_window.start)
        logged = of_version(read_prediction_log(engine, name, start, as_of), info.version)
        columns = list(info.feature_names)
        if logged_vectors(logged, task_name, columns, window) < min_current_rows:
            data = load_history(engine, data, with_players=True)
        results, performance, source, shift, skipped = build_reports(
            task_name=task_name,
            info=info,
            model=model,
            reference=reference,
            seasons=seasons,
            logged=logged,
            data=data,
            window=window,
            performance_window=performance_window,
            settings=settings,
            min_current_rows=min_current_rows,
            min_performance_rows=min_performance_rows,
            html=html,
        )
        check.current_source = source
        check.skipped_reports = skipped
        if not results:
            check.skipped = "no report: " + "; ".join(skipped)
        for reason in skipped:
            logger.info("%s: not reported (%s)", task_name, reason)
        check.performance = performance.as_dict()
        check.prediction_shift = shift.as_dict() if shift is not None else None
        if shift is not None:
            results = [decided_by_shift(r, check.prediction_shift) for r in results]
        features_result = next((r for r in results if r.kind == "features"), None)
        reasons = alert_reasons(features_result, performance, shift)
        decision = decide(
            task_name,
            name,
            reasons,
            as_of=as_of,
            last_retrain=last_retrain_day(engine, name),
            new_games=_new_games(info, data, as_of),
            later_games=_played_from(data, as_of),
            policy=policy,
            allowed=retrain,
        )
        check.decision = decision.as_dict()
        summary.alerts.extend(reasons)
        for r in results:
            logger.info(
                "%s %s v%s: %s vs %s, %s, %d failed tests",
                r.kind,
                r.model_name,
                r.model_version,
                r.current_window,
                r.reference_window,
                "DETECTED" if r.drift_detected else "ok",
                r.failed_tests,
            )
        checks.append((check, info, results))

    missing = [c.model_name for c, info, _ in checks if info is None]
    if len(missing) == len(checks):
        # Nothing to watch (a store never trained, a mistyped NBA_STATE_DIR): the run fails, so
        # a scheduled check does not show Completed while monitoring is blind.
        from registry.client import RegistryError

        raise RegistryError(
            f"no champion of {', '.join(missing)} in {redact_uri(uri)}: nothing to check "
            "(train first, or check NBA_STATE_DIR / NBA_MLFLOW_TRACKING_URI)"
        )
    for name in missing:
        logger.warning("%s has no champion: not checked (train first)", name)
    stale = stale_store(engine, data.games, as_of, settings.stale_ingest_days)
    if stale:
        logger.warning("monitoring %s: %s", as_of, stale)
        summary.alerts.append(stale)

    triggered = {c.task for c, _, _ in checks if c.decision.get("retrain")}
    blocked = [
        f"{c.task}: {c.decision['blocked']}" for c, _, _ in checks if c.decision.get("blocked")
    ]
    models = (
        _retrain_models(triggered, retrain_models, lambda n: read_champion(uri, n) is not None)
        if triggered
        else []
    )
    if triggered and not models:
        among = retrain_models if retrain_models else "the models with a champion"
        summary.action = f"no retrain: no model of {', '.join(sorted(triggered))} among {among}"
        triggered = set()
    elif triggered:
        eval_season = _eval_season(data, as_of, min_games=MIN_EVAL_GAMES)
        summary.action = f"retrain {', '.join(models)} (evaluated on {eval_season or 'latest'})"
    elif blocked:
        summary.action = "no retrain: " + "; ".join(blocked)

    recorded: list[int] = []
    context_base = {"check_id": check_id, "as_of": as_of.isoformat(), "action": summary.action}
    for check, info, results in checks:
        if check.skipped and not check.skipped_reports:
            summary.skipped.append(f"{check.task}: {check.skipped}")
        summary.skipped.extend(f"{check.task}: {reason}" for reason in check.skipped_reports)
        if not results:
            summary.tasks.append(check.as_dict())
            continue
        context = {
            **context_base,
            "decision": check.decision,
            "current_source": check.current_source,
        }
        entries = save_reports(results, folder, context, html)
        ids = record(engine, entries, context, settings.reports_dir)
        recorded.extend(ids)
        summary.index = str(settings.reports_dir / "index.html")
        check.reports = [
            {**r.summary(), "id": i, "html_path": str(h) if h else None, "json_path": str(j)}
            for (r, h, j), i in zip(entries, ids, strict=True)
        ]
        summary.tasks.append(check.as_dict())
        log_to_champion(uri, info, check, results, as_of, {**context_base, **check.as_dict()})

    if triggered:
        from flows.training import TrainingIncomplete, run_training

        if eval_season is not None:
            data = load_history(engine, data, with_players=True)
            for name in models:
                scored = score_champion_on_season(uri, name, eval_season, data, as_of)
                if scored:
                    summary.season_scores.append(scored)
        logger.info("retraining %s: %s", ", ".join(models), "; ".join(summary.alerts))
        try:
            # The task runner of the settings: threads, or the Dask cluster of NBA_DASK_ADDRESS.
            trained = run_training(settings, eval_season=eval_season, models=models)
        except Exception as exc:
            # Recorded and notified, then the check fails: a broken retrain must be seen. The
            # models registered before a failure (``TrainingIncomplete``) are kept in the record.
            done = exc.summary.models if isinstance(exc, TrainingIncomplete) else []
            summary.retrain = {"error": f"{type(exc).__name__}: {exc}"[:2000], "models": done}
            summary.action += f"; the retrain failed: {summary.retrain['error']}"
            annotate(engine, recorded, {"retrain": summary.retrain})
            _finish(summary, folder, settings, t0)
            raise
        summary.retrain = {
            "eval_season": trained.eval_season,
            "models": trained.models,
            "unchanged": trained.unchanged,  # not trained again: same data as their champion
            "skipped": trained.skipped,  # not trained: no rows for them in the store
            "seconds": trained.seconds,
            "reasons": list(summary.alerts),
        }
        annotate(engine, recorded, {"retrain": summary.retrain})
        for outcome in trained.models:
            logger.info(
                "%s v%s: %s (%s)",
                outcome["name"],
                outcome["version"],
                "promoted" if outcome["promoted"] else "refused by the gate",
                outcome["reason"],
            )
    _finish(summary, folder, settings, t0)
    return summary


def _finish(summary: DriftCheckSummary, folder, settings: Settings, t0: float) -> None:
    """Notify (on alerts) and write ``check.json``."""
    if summary.alerts:
        event = {
            "event": "nba-mlops.monitoring.alert",
            "check_id": summary.check_id,
            "as_of": summary.as_of,
            "reasons": summary.alerts,
            "action": summary.action,
            "reports": str(folder),
            "retrain": summary.retrain,
        }
        summary.notified = send_notification(event, settings.webhook_url)
    elif summary.reported:
        get_run_logger().info("monitoring %s: no threshold crossed", summary.as_of)
    else:
        get_run_logger().warning(
            "monitoring %s: no report made (%s)", summary.as_of, "; ".join(summary.skipped)
        )
    summary.seconds = round(time.perf_counter() - t0, 2)
    _write_check(folder, summary, settings.reports_dir)


def _write_check(folder, summary: DriftCheckSummary, reports_dir) -> None:
    """``check.json``, its paths relative to the reports folder as in ``drift_reports`` (a
    state folder moved or copied keeps them right)."""
    import json

    from monitoring.predictions import json_value
    from monitoring.store import stored_path

    doc = json_value(summary.as_dict())
    doc["folder"] = stored_path(folder, reports_dir)
    doc["index"] = stored_path(summary.index, reports_dir)
    for task_doc in doc["tasks"]:
        for report in task_doc.get("reports") or []:
            for key in ("html_path", "json_path"):
                report[key] = stored_path(report[key], reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "check.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
