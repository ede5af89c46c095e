"""``ingest_flow``: read a source, normalize, validate every batch, then write all batches, the
teams and players and the run's ``ingest_runs`` row in one transaction."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, insert
from sqlalchemy.exc import SQLAlchemyError

from core.db import IngestRun, utcnow
from core.processes import stop_behind
from core.settings import Settings
from flows.resources import open_store
from ingest.normalize import (
    cancelled_rows,
    games_from_team_games,
    normalize_player_games,
    normalize_team_games,
)
from ingest.schema import PLAYOFFS, REGULAR, SEASON_TYPES, parse_seasons, season_spans
from ingest.storage import (
    HELD_ROWS,
    Batch,
    WriteCounts,
    batch_digest,
    batch_key,
    batch_rows,
    frame_digest,
    held_rows,
    unchanged_batches,
    upsert_batches,
    upsert_reference,
    write_schedule,
)

SOURCES = ("snapshot", "nba_api")


@dataclass
class IngestSummary:
    source: str
    season_type: str
    seasons: list[str]
    batches: list[dict[str, Any]] = field(default_factory=list)
    written: dict[str, dict[str, int]] = field(default_factory=dict)
    reference: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    unchanged_batches: list[str] = field(default_factory=list)
    validation_files: list[str] = field(default_factory=list)
    input_hash: str = ""
    digests: dict[str, str] = field(default_factory=dict)
    # per batch: games, team rows, player rows in the store after the write
    held: dict[str, list[int]] = field(default_factory=dict)
    # per batch: rows the store keeps that the source no longer has (ingest never deletes)
    kept: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def make_source(name: str, settings: Settings):
    """The raw-frame source for ``name`` (``snapshot`` or ``nba_api``)."""
    if name == "snapshot":
        from ingest.snapshot import SnapshotSource

        return SnapshotSource(settings.resolved_data_dir())
    if name == "nba_api":
        from ingest.nba_api_source import NbaApiSource

        return NbaApiSource(
            timeout=settings.nba_api_timeout,
            retries=settings.nba_api_retries,
            backoff=settings.nba_api_backoff,
            pause=settings.nba_api_pause,
        )
    raise ValueError(f"unknown source {name!r}: choose one of {', '.join(SOURCES)}")


def plan_seasons(source, source_name: str, spec: str | None, season_type: str) -> list[str]:
    """The seasons to ingest for one season type."""
    available = source.seasons(season_type) if source_name == "snapshot" else []
    if source_name != "snapshot" and (spec is None or spec.strip().lower() == "all"):
        raise ValueError("--seasons is required with the nba_api source (e.g. 2021-22:2023-24)")
    return parse_seasons(spec, available)


def plan_ingest(
    source: str, seasons: str | None, season_type: str, settings: Settings
) -> tuple[Any, list[tuple[str, str]]]:
    """The source and the (season, season type) batches an ingest reads, or a ValueError naming
    what is wrong with the request. Reads no more than the snapshot's file listing, so the CLI
    checks a request with it before a flow run starts or a store is made."""
    types = SEASON_TYPES if season_type == "all" else (season_type,)
    if any(t not in SEASON_TYPES for t in types):
        raise ValueError(f"season type must be regular, playoffs or all, got {season_type!r}")
    src = make_source(source, settings)
    plan = [(s, t) for t in types for s in plan_seasons(src, source, seasons, t)]
    if source == "snapshot":
        if not any(src.seasons(t, recorded=True) for t in SEASON_TYPES):
            # a folder of no season at all (an empty one, or a parent of the snapshot's)
            raise ValueError(_nothing_to_ingest(src, source, []))
        held = {s for t in types for s in src.seasons(t, recorded=True)}
        missing = sorted({s for s, _ in plan} - held)
        if missing and held:
            raise ValueError(
                f"season(s) {', '.join(missing)} not in the snapshot {src.data_dir} (it holds "
                f"{season_spans(held)}, {'/'.join(types)}){src.uncompressed_hint(missing)}"
            )
    return src, plan


def _retry_unless_handled(task, task_run, state) -> bool:
    """The live source retries network errors itself and a broken file stays broken; a task
    retry is for anything else."""
    from ingest.errors import NBAApiError, SourceDataError

    try:
        state.result()
    except (NBAApiError, SourceDataError):
        return False
    except Exception:
        return True
    return False


@task(
    name="fetch-season",
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_unless_handled,
    cache_policy=NO_CACHE,
)
def fetch_season(source, season: str, season_type: str) -> dict[str, pd.DataFrame | None]:
    """Raw team and player logs of one season (I/O: retried)."""
    return {
        "team": source.team_game_log(season, season_type),
        "player": source.player_game_log(season, season_type),
    }


@task(name="normalize-season", cache_policy=NO_CACHE)
def normalize_season(raw: dict, season: str, season_type: str) -> Batch | None:
    """Normalized frames of one season; None when the source has no team log for it."""
    if raw["team"] is None or raw["team"].empty:
        return None
    team_games = normalize_team_games(raw["team"], season, season_type)
    cancelled = cancelled_rows(raw["team"])
    player_games = None
    if raw["player"] is not None and not raw["player"].empty:
        player_games = normalize_player_games(raw["player"], season, season_type)
    return Batch(
        season=season,
        season_type=season_type,
        team_games=team_games,
        games=games_from_team_games(team_games),
        player_games=player_games,
        dropped={"cancelled_team_rows": int(cancelled.sum())},
    )


@task(name="validate-batches", cache_policy=NO_CACHE)
def validate_batches(batches: list[Batch], validation_dir) -> list:
    """Great Expectations gate over all batches at once (one team and one player validation:
    every expectation is per row, per game or per season, so concatenating loses nothing).
    The results are saved whatever the outcome."""
    from ingest.validation import shared_validator

    validator = shared_validator()
    seasons = sorted({b.season for b in batches})
    label = seasons[0] if len(seasons) == 1 else f"{seasons[0]}_to_{seasons[-1]}"
    types = "_".join(sorted({b.season_type for b in batches}))
    team = pd.concat([b.team_games for b in batches], ignore_index=True)
    reports = [validator.validate_team_games(team, batch_name=f"{label}_{types}_team")]
    players = [b.player_games for b in batches if b.player_games is not None]
    if players:
        reports.append(
            validator.validate_player_games(
                pd.concat(players, ignore_index=True),
                team_games=team,
                batch_name=f"{label}_{types}_player",
            )
        )
    for report in reports:
        report.save(validation_dir)
    return reports


@task(name="write-store", retries=1, retry_delay_seconds=3, cache_policy=NO_CACHE)
def write_store(
    engine,
    fresh: list[Batch],
    batches: list[Batch],
    summary: IngestSummary,
    started,
    verify: bool = False,
) -> IngestSummary:
    """In ONE transaction: the ``fresh`` batches, the teams and players of all ``batches`` and
    the successful run's ``ingest_runs`` row. All of it lands or none does, so the digests a
    successful run records always describe what the store holds (I/O: retried; a retry starts
    over). ``summary.written`` holds the rows of the unchanged batches; returns a copy of
    ``summary`` with this write's counts added."""
    teams, players = reference_lists(batches)
    with engine.begin() as conn:
        written = upsert_batches(conn, fresh, verify)
        for name, unchanged in summary.written.items():
            written[name].add(WriteCounts(**unchanged))
        reference = upsert_reference(conn, teams, players)
        now = held_rows(conn)
        held = {key: now.get(key, [0, 0, 0]) for key in summary.digests}
        summary = replace(
            summary,
            written={k: v.as_dict() for k, v in written.items()},
            reference={k: v.as_dict() for k, v in reference.items()},
            held=held,
            kept=rows_kept(batches, held),
        )
        _record_run(conn, summary, "ok", None, started)
    return summary


def rows_kept(batches: list[Batch], held: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    """Per batch, the rows the store holds beyond the batch's: rows the source no longer has,
    which ingest keeps (it adds and corrects, never deletes)."""
    kept = {}
    for b in batches:
        key = batch_key(b.season, b.season_type)
        extra = [h - n for h, n in zip(held.get(key, [0, 0, 0]), batch_rows(b), strict=True)]
        if any(n > 0 for n in extra):
            kept[key] = dict(zip(HELD_ROWS, extra, strict=True))
    return kept


def describe_kept(key: str, extra: dict[str, int]) -> str:
    """One line on the rows of a batch that ingest kept though the source no longer has them."""
    rows = ", ".join(
        f"{n} {what.replace('_', ' ').removesuffix('s' if n == 1 else '')}"
        for what, n in extra.items()
        if n > 0
    )
    return f"{key}: {rows} the source no longer has (ingest never deletes)"


def reference_lists(batches: list[Batch]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Teams and players: nba_api's static lists, plus any player only seen in the logs."""
    from ingest.nba_api_source import NbaApiSource

    static = NbaApiSource()
    teams = static.teams()
    players = static.players()
    seen = [
        b.player_games[["player_id", "player_name"]] for b in batches if b.player_games is not None
    ]
    if seen:
        logged = pd.concat(seen).drop_duplicates("player_id", keep="last")
        extra = logged.loc[~logged["player_id"].isin(players["player_id"])]
        extra = extra.rename(columns={"player_name": "full_name"}).assign(is_active=None)
        players = pd.concat([players, extra[["player_id", "full_name", "is_active"]]])
    return teams, players


def _record_run(
    conn: Connection, summary: IngestSummary, status: str, message: str | None, started
) -> None:
    """The run's ``ingest_runs`` row, in the caller's transaction."""
    conn.execute(
        insert(IngestRun.__table__).values(
            source=summary.source,
            seasons=",".join(summary.seasons),
            season_type=summary.season_type,
            started_at=started,
            finished_at=utcnow(),
            status=status,
            counts={
                "written": summary.written,
                "batches": summary.batches,
                "digests": summary.digests if status == "ok" else {},
                "held": summary.held if status == "ok" else {},
            },
            input_hash=summary.input_hash or None,
            message=message,
        )
    )


def stop_reason(exc: BaseException) -> str:
    """How a run was stopped from outside: SIGTERM (Prefect's ``TerminationSignal`` inside a flow
    run, ``core.processes.Terminated`` outside it), Ctrl-C, or another exit."""
    signum = getattr(exc, "signal", None) or getattr(exc, "code", None)
    if signum in (signal.SIGTERM, 128 + signal.SIGTERM):
        return "stopped by SIGTERM"
    if isinstance(exc, KeyboardInterrupt) or signum == signal.SIGINT:
        return "stopped by Ctrl-C"
    return f"stopped: {type(exc).__name__}"


def _nothing_to_ingest(src, source: str, seasons: list[str]) -> str:
    """Why no batch was read: an empty snapshot folder, or seasons the source does not have."""
    if source == "snapshot" and not any(src.seasons(t) for t in SEASON_TYPES):
        return (
            f"nothing to ingest: the folder {src.data_dir} holds no season files"
            " (such as team_game_logs/regular_season/2023-24.csv.gz)" + src.uncompressed_hint()
        )
    return f"nothing to ingest: the source has none of {', '.join(seasons)}"


@flow(name="ingest", log_prints=True)
def ingest_flow(
    source: str = "snapshot",
    seasons: str | None = None,
    season_type: str = "all",
    settings: Settings | None = None,
    full: bool = False,
) -> IngestSummary:
    """Ingest seasons from ``source`` into the store: validated, upserted, in one transaction.

    ``seasons``: ``all`` (snapshot only), ``2015-16:2023-24`` or ``2021-22,2022-23``.
    ``season_type``: ``regular``, ``playoffs`` or ``all``.
    Incremental: a batch whose content digest equals the one recorded by the last successful
    ingest of that season and type, with the same row counts in the store, is neither validated
    nor written again. ``full=True`` validates and compares every row regardless.
    """
    from ingest.validation import raise_for_failures

    logger = get_run_logger()
    settings = settings or Settings()
    started, t0 = utcnow(), time.perf_counter()
    src, plan = plan_ingest(source, seasons, season_type, settings)
    engine = open_store(settings)
    summary = IngestSummary(
        source=source, season_type=season_type, seasons=sorted({s for s, _ in plan})
    )
    misnamed = src.misnamed_files() if source == "snapshot" else []
    for name in misnamed:
        summary.skipped.append(f"{name}: not read (season files are named like 2023-24.csv.gz)")
        logger.warning("%s", summary.skipped[-1])
    batches: list[Batch] = []
    try:
        for i, (season, stype) in enumerate(plan, start=1):
            raw = fetch_season(src, season, stype)
            batch = normalize_season(raw, season, stype)
            if batch is None and raw["player"] is not None and not raw["player"].empty:
                read, expected = (
                    (f" ({src.player_file(season, stype)})", f" ({src.team_file(season, stype)})")
                    if source == "snapshot"
                    else ("", "")
                )
                raise ValueError(
                    f"{season} {stype}: the source has player logs{read} but no team game log"
                    f"{expected}, and player rows are stored only with their games"
                    + (f"; not read: {', '.join(misnamed)}" if misnamed else "")
                )
            if batch is None:
                summary.skipped.append(f"{season} {stype}: no team game log in the source")
                logger.info(
                    "[%d/%d] %s %s: not in the source, skipped", i, len(plan), season, stype
                )
                continue
            batches.append(batch)
            if batch.player_games is None:
                summary.skipped.append(
                    f"{season} {stype}: no player log in the source; its games have team rows only"
                )
                logger.warning("%s", summary.skipped[-1])
            info = {
                "season": season,
                "season_type": stype,
                "games": len(batch.games),
                "team_rows": len(batch.team_games),
                "player_rows": 0 if batch.player_games is None else len(batch.player_games),
                **batch.dropped,
            }
            summary.batches.append(info)
            logger.info(
                "[%d/%d] %s %s: %d games, %d team rows, %d player rows",
                i,
                len(plan),
                season,
                stype,
                info["games"],
                info["team_rows"],
                info["player_rows"],
            )
        if not batches:
            raise ValueError(_nothing_to_ingest(src, source, summary.seasons))
        summary.input_hash = frame_digest(
            f for b in batches for f in (b.team_games, b.player_games) if f is not None
        )
        digests = {batch_key(b.season, b.season_type): batch_digest(b) for b in batches}
        same = set() if full else unchanged_batches(engine, batches)
        fresh = [b for b in batches if batch_key(b.season, b.season_type) not in same]
        summary.unchanged_batches = sorted(same)
        if same:
            logger.info(
                "%d of %d batches unchanged since the last ingest: not validated or written again"
                " (use --full to force)",
                len(same),
                len(batches),
            )
        written = {k: WriteCounts() for k in ("games", "team_games", "player_games")}
        for b in batches:
            if batch_key(b.season, b.season_type) in same:
                written["games"].unchanged += len(b.games)
                written["team_games"].unchanged += len(b.team_games)
                written["player_games"].unchanged += (
                    0 if b.player_games is None else len(b.player_games)
                )
        if fresh:
            reports = validate_batches(fresh, settings.validation_dir)
            summary.validation_files = [str(settings.validation_dir)]
            raise_for_failures(reports)
            logger.info("validation passed: %d batches", len(fresh))
        summary.written = {k: v.as_dict() for k, v in written.items()}
        summary.digests = digests
        summary = write_store(engine, fresh, batches, summary, started, verify=full)
        for key, extra in summary.kept.items():
            logger.warning("kept: %s", describe_kept(key, extra))
    except BaseException as exc:  # a stop (SIGTERM, Ctrl-C) is recorded too
        summary.seconds = round(time.perf_counter() - t0, 2)
        # a stop, also behind an error a library raised while handling it, or another exit
        stop = stop_behind(exc) or (None if isinstance(exc, Exception) else exc)
        message = str(exc) if stop is None else stop_reason(stop)
        try:
            with engine.begin() as conn:
                _record_run(conn, summary, "failed", message[:2000], started)
        except SQLAlchemyError as record_exc:  # the store itself is down: keep the real error
            logger.warning("could not record the failed run: %s", record_exc.__class__.__name__)
        raise
    summary.seconds = round(time.perf_counter() - t0, 2)
    return summary


@flow(name="ingest-schedule", log_prints=True)
def schedule_flow(game_date: date | None = None, settings: Settings | None = None) -> dict:
    """Fetch one date's scoreboard (scheduled games) through nba_api and store it."""
    settings = settings or Settings()
    game_date = game_date or date.today()
    src = make_source("nba_api", settings)
    fetch = task(
        name="fetch-scoreboard",
        retries=2,
        retry_delay_seconds=10,
        retry_condition_fn=_retry_unless_handled,
        cache_policy=NO_CACHE,
    )
    frame = fetch(src.scoreboard)(game_date)
    counts = write_schedule(open_store(settings), frame) if len(frame) else None
    get_run_logger().info("scoreboard %s: %d games", game_date, len(frame))
    return {
        "date": str(game_date),
        "games": len(frame),
        "written": counts.as_dict() if counts else {},
    }


__all__ = ["PLAYOFFS", "REGULAR", "SOURCES", "IngestSummary", "ingest_flow", "schedule_flow"]
