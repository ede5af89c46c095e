"""``nba-mlops``: the command line. Builds the settings, runs flows, prints a short summary.

Known failures (bad input, bad data, an unreachable service) end with a one-line reason on stderr
and a non-zero exit code; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.logfilters import WithoutMessage
from core.settings import DataDirError, Settings

app = typer.Typer(
    name="nba-mlops",
    help="NBA predictions end to end: ingest, validate, train, register, serve, monitor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
# Output that is no terminal (a file, a pipe, a pager, CI logs) would be laid out in rich's 80
# columns, tables cutting their cells ("game-logis…"); it gets this many instead. A terminal
# keeps its own width, and COLUMNS, when set, wins over both.
PIPED_WIDTH = 160


@app.callback()
def _wide_when_piped() -> None:
    for console in (out, err):
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = PIPED_WIDTH


def labelled(label: str, style: str, message: str) -> Text:
    """``label`` in ``style``, then ``message`` as plain text: brackets in it ("[pts]") are
    printed, not read as console markup."""
    return Text.assemble((label, style), " ", message)


EXIT_BAD_INPUT = 2
EXIT_BAD_DATA = 3
EXIT_UNAVAILABLE = 4

_TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "BENTOML_DO_NOT_TRACK": "true",
    # Without PREFECT_API_URL each command starts a temporary Prefect API; on a busy 2-core
    # machine it can need more than Prefect's default 20 s to come up.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def _login_name() -> str:
    """The name recorded for a person's promotion or rollback."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no USER/LOGNAME (some containers)
        return "cli"


def _expected_errors() -> dict[type[BaseException], int]:
    from sqlalchemy.exc import ArgumentError, OperationalError

    from ingest.errors import NBAApiError
    from ingest.validation import BatchValidationError
    from registry.client import RegistryError, RegistryUnavailable

    return {
        RegistryError: EXIT_BAD_INPUT,
        DataDirError: EXIT_BAD_INPUT,
        ValueError: EXIT_BAD_INPUT,
        ArgumentError: EXIT_BAD_INPUT,  # a database URL SQLAlchemy cannot read (or no driver)
        BatchValidationError: EXIT_BAD_DATA,
        NBAApiError: EXIT_UNAVAILABLE,
        OperationalError: EXIT_UNAVAILABLE,
        RegistryUnavailable: EXIT_UNAVAILABLE,
    }


class _NoTracebackOfExpectedFailures(logging.Filter):
    """Drop tracebacks of expected failures from Prefect's run loggers (the CLI states the reason)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and _exit_code(record.exc_info[1]) is not None:
            record.exc_info = None
            record.exc_text = None
        return True


TASK_COMPLETED = "Finished in state Completed("
_WITHOUT_TASK_COMPLETED = WithoutMessage(TASK_COMPLETED)  # one instance: added once
_WITHOUT_GX_DOCS = WithoutMessage("Created temporary directory")  # for its docs site


def _setup(settings: Settings) -> None:
    for key, value in _TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "great_expectations", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet = _NoTracebackOfExpectedFailures()
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        logging.getLogger(name).addFilter(quiet)
    # One line per finished task (an ingest has a hundred) says nothing the progress lines and
    # the summary do not; a task that fails, crashes or is cancelled is still logged.
    logging.getLogger("prefect.task_runs").addFilter(_WITHOUT_TASK_COMPLETED)
    # Great Expectations sets this one logger to INFO when it is imported, past the level above.
    logging.getLogger("great_expectations.data_context.types.base").addFilter(_WITHOUT_GX_DOCS)


def _reason(exc: BaseException) -> str:
    """What the CLI prints of an expected failure: a database error as one line (the driver's
    own first line, not SQLAlchemy's SQL echo and documentation link)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        return f"database: {type(exc.orig).__name__}: {first}"
    return str(exc)


def _fail(exc: BaseException, as_json: bool = False) -> typer.Exit:
    """The exit of an expected failure, its reason printed on stderr (and, with ``--json``, as
    ``{"error": ..., "exit_code": ...}`` on stdout); anything else is re-raised."""
    code = _exit_code(exc)
    if code is None:
        raise exc
    reason = _reason(exc)
    err.print(labelled("error:", "bold red", reason), soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps({"error": reason, "exit_code": code}) + "\n")
    return typer.Exit(code)


def _exit_code(exc: BaseException) -> int | None:
    """The exit code of an expected failure; None for anything else. A file that is not a
    database (a damaged ``nba.db`` or ``mlflow.db``, another file under its name) is SQLite's
    plain ``DatabaseError``: bad input. Its subclasses (integrity, SQL errors) are defects and
    keep their traceback."""
    from sqlalchemy.exc import DatabaseError

    if type(exc) is DatabaseError:
        return EXIT_BAD_INPUT
    return next((c for kind, c in _expected_errors().items() if isinstance(exc, kind)), None)


def _temporary_server_in_its_own_session() -> None:
    """Prefect's temporary API server (started for a flow run when no PREFECT_API_URL is set)
    runs in a session of its own. In this process's group, the terminal's Ctrl-C reached it too:
    it died at once while this process still had to record the stopped run through it, and the
    command hung on the dead API's retries. Now only this process gets the Ctrl-C, unwinds, and
    stops the server at exit, as it does on SIGTERM."""
    import subprocess
    from functools import partial

    from prefect.server.api.server import SubprocessASGIServer

    start = SubprocessASGIServer._run_uvicorn_command
    if getattr(start, "own_session", False):
        return

    def in_own_session(server):
        popen = subprocess.Popen
        subprocess.Popen = partial(popen, start_new_session=True)
        try:
            return start(server)
        finally:
            subprocess.Popen = popen

    in_own_session.own_session = True
    SubprocessASGIServer._run_uvicorn_command = in_own_session


def _prefect_home_ready() -> None:
    """Without PREFECT_API_URL, the temporary Prefect API keeps its database in PREFECT_HOME.
    Prefect makes only the last folder of that path; where it cannot, the server cannot start
    and the command would wait out its start-up timeout (120 s) before an unrelated error. The
    folder is made with its parents here, or the command stops at once with the reason."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return
    try:
        settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ValueError(f"PREFECT_HOME {settings.home} cannot be made ({why})") from None


@contextmanager
def running_flow(as_json: bool = False, stopped: Callable[[], str] | None = None) -> Iterator[None]:
    """Around a command's flow run: SIGTERM unwinds it (transactions roll back, the run is
    recorded as stopped, Prefect's temporary API server is stopped; exit code 143), and with
    ``--json`` stdout carries the JSON document alone: whatever the work writes there (MLflow's
    run links when tracking on a server) goes to stderr instead."""
    from core.processes import Terminated, sigterm_unwinds, stop_behind

    _prefect_home_ready()
    _temporary_server_in_its_own_session()
    to_stderr = redirect_stdout(sys.stderr) if as_json else nullcontext()
    try:
        with sigterm_unwinds(), to_stderr:
            try:
                yield
            except Exception as exc:  # an error raised while a library handled the stop
                stop = stop_behind(exc)
                if isinstance(stop, KeyboardInterrupt):
                    raise KeyboardInterrupt from exc
                if stop is not None:
                    raise Terminated from exc
                raise
    except Terminated as exc:
        note = stopped() if stopped is not None else "nothing half-written was kept"
        err.print(labelled("stopped:", "bold red", f"SIGTERM; {note}"))
        if as_json:
            doc = {"error": "stopped by SIGTERM", "exit_code": exc.code}
            sys.stdout.write(json.dumps(doc) + "\n")
        raise


def _settings(as_json: bool = False) -> Settings:
    from core.settings import InvalidSettings, load_settings

    try:
        settings = load_settings()
    except InvalidSettings as exc:
        raise _fail(exc, as_json) from None
    _setup(settings)
    return settings


@app.command()
def ingest(
    source: Annotated[
        str, typer.Option(help="snapshot (offline folder) or nba_api (live).")
    ] = "snapshot",
    seasons: Annotated[
        str | None,
        typer.Option(
            help="all | current | 2015-16:2023-24 | 2021-22,2022-23 (default: all in the snapshot)."
        ),
    ] = None,
    season_type: Annotated[str, typer.Option(help="regular, playoffs or all.")] = "all",
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Validate and compare every batch, even those unchanged since the last run.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest NBA game logs into the store: validated by Great Expectations, upserted atomically."""
    settings = _settings(as_json)
    from flows.ingest import ingest_flow, plan_ingest

    try:
        plan_ingest(source, seasons, season_type, settings)  # a bad request fails in a second
        with running_flow(as_json):
            summary = ingest_flow(
                source=source,
                seasons=seasons,
                season_type=season_type,
                settings=settings,
                full=full,
            )
    except Exception as exc:
        raise _fail(exc, as_json) from None
    if as_json:
        out.print_json(json.dumps(summary.as_dict(), default=str))
        return
    _print_ingest_summary(summary)


def _print_ingest_summary(summary) -> None:
    table = Table(title=f"ingest from {summary.source} ({summary.seconds:.1f} s)")
    for col in ("table", "inserted", "updated", "unchanged"):
        table.add_column(col, justify="right" if col != "table" else "left")
    for name, counts in {**summary.written, **summary.reference}.items():
        table.add_row(name, *(str(counts[k]) for k in ("inserted", "updated", "unchanged")))
    out.print(table)
    n_games = sum(b["games"] for b in summary.batches)
    dropped = sum(b.get("cancelled_team_rows", 0) for b in summary.batches)
    same = len(summary.unchanged_batches)
    if same == len(summary.batches):
        checked = f"all {same} batches unchanged since the last ingest (--full re-checks them)"
    else:
        checked = (
            f"{n_games} games in {len(summary.batches)} batches, "
            f"{len(summary.batches) - same} validated"
            + (f", {same} unchanged since the last ingest" if same else "")
            + f"; validation results in {', '.join(summary.validation_files)}"
        )
    out.print(f"{checked}; {dropped} team rows of cancelled games dropped")
    for line in summary.skipped:
        out.print(f"skipped: {line}")
    from flows.ingest import describe_kept

    for key, extra in summary.kept.items():
        out.print(f"kept: {describe_kept(key, extra)}")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the stable JSON shape.")] = False,
) -> None:
    """What the store holds: per season and season type, games, team rows and player rows."""
    settings = _settings(as_json)
    from flows.resources import NOTHING_STORED, open_store
    from ingest.storage import store_status

    try:
        settings.existing_store(NOTHING_STORED)
        rows = store_status(open_store(settings))
    except Exception as exc:
        raise _fail(exc, as_json) from None
    totals = {k: sum(r[k] for r in rows) for k in ("games", "team_rows", "player_rows")}
    doc = {
        "database": _masked_url(settings.resolved_database_url),
        "seasons": rows,
        "totals": totals,
    }
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    table = Table(title=f"store: {doc['database']}")
    cols = ("season", "season_type", "games", "team_rows", "player_rows", "first_date", "last_date")
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in cols))
    out.print(table)
    out.print(
        f"total: {totals['games']} games, {totals['team_rows']} team rows, {totals['player_rows']} player rows"
    )


def _masked_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def schedule(
    game_date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default: today).")
    ] = None,
) -> None:
    """Fetch a date's scoreboard (scheduled games) from stats.nba.com into the store."""
    settings = _settings()
    from flows.ingest import schedule_flow
    from flows.monitoring_cli import parse_day

    try:
        day = parse_day(game_date, "--date")
        result = schedule_flow(game_date=day, settings=settings)
    except Exception as exc:
        raise _fail(exc) from None
    out.print(f"{result['date']}: {result['games']} games stored")


@app.command("db-upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest revision (Alembic)."""
    settings = _settings()
    from core.migrate import current_revision
    from flows.resources import open_store

    try:
        engine = open_store(settings)
    except Exception as exc:
        raise _fail(exc) from None
    out.print(
        f"{_masked_url(settings.resolved_database_url)} at revision {current_revision(engine)}"
    )


@app.command()
def train(
    eval_season: Annotated[
        str | None, typer.Option(help="Season the gate's metrics come from (default: newest).")
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model names (default: all six).")
    ] = None,
    window_days: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Days of the in-season window the gate compares on when the season has games "
            "the champion was not fit on (0: the season decides; default "
            "NBA_IN_SEASON_WINDOW_DAYS).",
        ),
    ] = None,
    min_window_games: Annotated[
        int | None,
        typer.Option(min=1, help="Fewest games in that window (default NBA_IN_SEASON_MIN_GAMES)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Train a model even when its champion or challenger was trained on the same "
            "data, evaluation season, parameters and features.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train the six models on the store, register them in MLflow, promote through the gate."""
    settings = _settings(as_json)
    from flows.training import (
        TrainingIncomplete,
        check_eval_season,
        check_points_season,
        run_training,
        stored_player_seasons,
        stored_seasons,
        training_request,
    )
    from registry import check_tracking

    chosen = [m.strip() for m in models.split(",") if m.strip()] if models is not None else None
    try:
        if chosen == []:
            raise ValueError(f"--models names no model: {models!r}")
        # a bad request, an unreachable MLflow or store fail before a flow run starts
        names = training_request(chosen, eval_season)
        check_tracking(settings.resolved_mlflow_tracking_uri)
        check_eval_season(eval_season, stored_seasons(settings))
        check_points_season(eval_season, names, stored_player_seasons(settings))
        with running_flow(as_json):
            summary = run_training(
                settings,
                eval_season=eval_season,
                models=chosen,
                window_days=window_days,
                min_window_games=min_window_games,
                force=force,
            )
    except TrainingIncomplete as exc:
        # what was registered is shown, then the failure (the first one's exit code)
        _show_training(exc.summary, as_json, error=str(exc))
        code = _exit_code(exc.first) or 1
        err.print(labelled("error:", "bold red", str(exc)), soft_wrap=True)
        raise typer.Exit(code) from None
    except Exception as exc:
        raise _fail(exc, as_json) from None
    if summary.skipped and not summary.models and not summary.unchanged:
        raise _fail(ValueError("nothing trained: " + "; ".join(summary.skipped)), as_json)
    _show_training(summary, as_json)


def _show_training(summary, as_json: bool, error: str | None = None) -> None:
    if as_json:
        extra = {"error": error} if error else {}
        out.print_json(json.dumps({**summary.as_dict(), **extra}, default=str))
        return
    _print_training_summary(summary)


def _print_training_summary(summary) -> None:
    for line in summary.unchanged:
        out.print(f"not trained: {line} (--force trains it anyway)")
    for line in summary.skipped:
        out.print(labelled("not trained:", "yellow", line))
    for line in summary.failed:
        out.print(labelled("failed:", "bold red", line))
    if not summary.models:
        out.print("nothing trained, nothing registered")
        return
    table = Table(title=f"training ({summary.seconds:.0f} s)")
    for col in ("model", "version", "evaluated on", "metric", "decision"):
        table.add_column(col)
    for m in summary.models:
        metric = f"log loss {m['log_loss']:.4f}" if "log_loss" in m else f"MAE {m['mae']:.3f}"
        decision = ("champion: " if m["promoted"] else "challenger: ") + m["reason"]
        table.add_row(m["name"], m["version"], m["eval_season"], metric, decision)
    out.print(table)


@app.command()
def backtest(
    data_dir: Annotated[str, typer.Option(help="A folder with the snapshot's layout.")],
    test_seasons: Annotated[str, typer.Option(help="e.g. 2021-22,2022-23,2023-24")],
    out_dir: Annotated[
        str, typer.Option("--out", help="Where the report, its figures and the predictions go.")
    ] = "backtest",
) -> None:
    """Walk-forward backtest: for each test season, train on the seasons before it, score on it."""
    settings = _settings()
    from flows.training import check_backtest_request, run_backtest
    from ingest.schema import parse_seasons

    try:
        if not Path(data_dir).expanduser().is_dir():
            raise DataDirError(f"--data-dir {data_dir} is not a folder")
        seasons = parse_seasons(test_seasons, [])
        # checked before a flow run starts (and a temporary Prefect server with it)
        check_backtest_request(data_dir, seasons, out_dir)
        with running_flow():
            doc = run_backtest(settings, data_dir=data_dir, test_seasons=seasons, out=out_dir)
    except Exception as exc:
        raise _fail(exc) from None
    table = Table(title=f"backtest {', '.join(seasons)} (means over test seasons)")
    for col in ("model", "accuracy", "log loss", "brier"):
        table.add_column(col)
    for name, per in doc.get("game", {}).items():
        m = per["mean"]
        table.add_row(name, f"{m['accuracy']:.3f}", f"{m['log_loss']:.4f}", f"{m['brier']:.4f}")
    out.print(table)
    if doc.get("points"):
        ptable = Table(title="points (means over test seasons)")
        for col in ("model", "MAE", "MAE rotation", "RMSE"):
            ptable.add_column(col)
        for name, per in doc["points"].items():
            m = per["mean"]
            ptable.add_row(name, f"{m['mae']:.3f}", f"{m['mae_rotation']:.3f}", f"{m['rmse']:.3f}")
        out.print(ptable)
    scored = {s for per in doc.get("points", {}).values() for s in per if s != "mean"}
    unscored = [s for s in seasons if s not in scored]
    if unscored:
        missing = ", ".join(unscored)
        why = f"no player logs for {missing} in {data_dir} (see {out_dir}/backtest.md)"
        out.print(labelled("points not scored", "yellow", f"on {missing}: {why}"))
    predictions = [f"{out_dir}/predictions_{task}.csv.gz" for task, per in doc.items() if per]
    out.print(
        f"written: {out_dir}/backtest.md (with its figures, *.png), {out_dir}/backtest.json, "
        f"every scored row's predictions: {', '.join(predictions)}"
    )


def metric_text(key: str, value: float) -> str:
    """``key value`` for a table: a row count (``n``, ``n_rotation``, ...) in full with
    thousands separators, any other metric to 4 significant digits."""
    if key.split(".")[-1].startswith("n") and float(value).is_integer():
        return f"{key} {int(value):,}"
    return f"{key} {value:.4g}"


NO_MODEL = "no model is registered (run `nba-mlops train` first)"


def _require_registry(settings: Settings) -> None:
    """Commands on registered models never make the local MLflow store anew: without its state
    folder or store (a mistyped NBA_STATE_DIR, nothing trained yet) they stop with the reason and
    leave nothing behind. A configured tracking server is the server's to answer."""
    settings.existing_model_store(NO_MODEL)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Registered models, their versions, aliases and key metrics."""
    settings = _settings(as_json)
    from registry import list_registered

    try:
        _require_registry(settings)
        registered = list_registered(settings.resolved_mlflow_tracking_uri)
    except Exception as exc:
        raise _fail(exc, as_json) from None
    if as_json:
        sys.stdout.write(json.dumps(registered, indent=2, default=str) + "\n")
        return
    table = Table(title=f"models in {settings.resolved_mlflow_tracking_uri}")
    for col in ("model", "version", "aliases", "eval season", "metrics", "trained at"):
        table.add_column(col)
    for model in registered:
        for v in model["versions"]:
            metrics = ", ".join(metric_text(k, val) for k, val in sorted(v["metrics"].items()))
            table.add_row(
                model["name"],
                str(v["version"]),
                ",".join(v["aliases"]),
                v["eval_season"] or "-",  # a version registered by hand has no tags
                metrics,
                str(v["trained_at"] or "-")[:19],
            )
    out.print(table)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. game-logistic.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    reason: Annotated[
        str | None,
        typer.Option(help="Why the gate is overridden (recorded; required with --force only)."),
    ] = None,
    actor: Annotated[
        str | None, typer.Option(help="Who (recorded); default: the login name.")
    ] = None,
    gate: Annotated[
        bool, typer.Option("--gate", help="Pass the metric gate (the default).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Promote without the gate (needs --reason).")
    ] = False,
) -> None:
    """Make a version the champion: through the metric gate, or forced by a person.

    Exit code 1 when the gate refuses it."""
    if gate and force:
        raise _fail(ValueError("--gate and --force exclude each other: give one"))
    gate = not force
    if not gate and not (reason or "").strip():
        raise _fail(ValueError("--force needs --reason TEXT: say why the gate is overridden"))
    if gate and reason is not None:
        # It would be dropped: the gate records its own reason, the metrics it compared.
        raise _fail(ValueError("--reason goes with --force; the gate records its own reason"))
    actor = actor or _login_name()
    settings = _settings()
    from flows.resources import open_store
    from flows.training import gate_policy
    from registry import gate_and_promote, get_champion, get_version, is_recorded_champion
    from registry import promote as force_promote
    from training.models import task_of

    uri = settings.resolved_mlflow_tracking_uri
    try:
        policy = gate_policy(task_of(name), settings)  # an unknown name fails here, either way
        _require_registry(settings)
        engine = open_store(settings)
        # Both registry calls refuse a version of the other task first, champion or not.
        already = f"{name} v{{}} is already champion: nothing changed"
        if gate:
            decision = gate_and_promote(uri, name, version, policy, engine=engine, actor=actor)
            if decision.champion_version == decision.version:
                out.print(already.format(decision.version))
            elif not decision.promote:
                refused = f"{name} v{decision.version}: {decision.reason}"
                err.print(labelled("refused:", "bold red", refused))
                raise typer.Exit(1)
            else:
                out.print(f"{name} v{decision.version} is champion: {decision.reason}")
            return
        version = get_version(uri, name, version).version
        champion = get_champion(uri, name)
        unchanged = champion is not None and champion.version == version
        unchanged = unchanged and is_recorded_champion(champion, engine)
        force_promote(uri, name, version, actor=actor, reason=reason, engine=engine)
        if unchanged:
            out.print(already.format(version))
        else:
            out.print(f"{name} v{version} is champion (forced: {reason})")
    except typer.Exit:
        raise
    except Exception as exc:
        raise _fail(exc) from None


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. game-logistic.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with the rollback).")] = "rollback",
    actor: Annotated[
        str | None, typer.Option(help="Who (recorded); default: the login name.")
    ] = None,
) -> None:
    """Move the champion alias back to the version it replaced."""
    actor = actor or _login_name()
    settings = _settings()
    from flows.resources import open_store
    from registry import rollback as do_rollback
    from training.models import task_of

    try:
        task_of(name)  # an unknown name fails as it does for promote
        _require_registry(settings)
        version = do_rollback(
            settings.resolved_mlflow_tracking_uri,
            name,
            actor=actor,
            reason=reason.strip() or "rollback",
            engine=open_store(settings),
        )
    except Exception as exc:
        raise _fail(exc) from None
    out.print(f"{name}: champion is back to v{version}")


@app.command("mlflow-ui")
def mlflow_ui(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 5000,
) -> None:
    """Start the MLflow UI on the configured store, to compare runs and set aliases."""
    settings = _settings()
    from core.processes import check_port, run_in_foreground
    from registry import mlflow_ui_command, mlflow_ui_env

    try:
        if settings.mlflow_tracking_uri is None:
            settings.existing_state_dir(NO_MODEL)
        check_port(host, port)
        settings.ensure_state_dir()
        command = mlflow_ui_command(
            settings.resolved_mlflow_tracking_uri,
            host,
            port,
            artifact_location=settings.mlflow_artifact_location,
        )
    except Exception as exc:
        raise _fail(exc) from None
    out.print(f"MLflow UI on http://{host}:{port} (Ctrl-C stops it)")
    raise typer.Exit(run_in_foreground(command, env={**os.environ, **mlflow_ui_env()}))


@app.command()
def demo(
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running", help="Leave the prediction API running (Ctrl-C stops it)."),
    ] = False,
) -> None:
    """The main job end to end on the embedded defaults, from ingest to served predictions.

    Ingest every season, train the six models, register them in MLflow and promote champions
    through the gate, build the drift reports, then start the prediction API, make
    authenticated predictions of each kind and stop it.

    With the snapshot folder present (NBA_DATA_DIR or ../shared/data/nba) it ingests all of it;
    without it, the three latest complete seasons come from the live stats.nba.com API.
    """
    settings = _settings()
    from flows.ingest import ingest_flow
    from ingest.storage import store_status

    try:
        with running_flow():
            if settings.has_snapshot():
                out.rule("ingest: the offline snapshot")
                summary = ingest_flow(source="snapshot", settings=settings)
            else:
                out.rule("ingest: no snapshot folder, using the live stats.nba.com API")
                summary = ingest_flow(
                    source="nba_api", seasons=_recent_seasons(3), settings=settings
                )
            _print_ingest_summary(summary)
            from flows.resources import open_store

            rows = store_status(open_store(settings))
            totals = {k: sum(r[k] for r in rows) for k in ("games", "team_rows", "player_rows")}
            out.print(
                f"store {_masked_url(settings.resolved_database_url)}: {len(rows)} season batches, "
                f"{totals['games']} games, {totals['team_rows']} team rows, "
                f"{totals['player_rows']} player rows"
            )
            out.rule("train, register, gate and promote the six models")
            from flows.training import run_training

            _print_training_summary(run_training(settings))
            out.rule("monitor: drift and performance reports of the champions")
            from datetime import timedelta

            from flows.drift import drift_flow
            from flows.monitoring_cli import _print_check

            regular = [r for r in rows if r["last_date"] and r["season_type"] == "regular"]
            last_played = max(date.fromisoformat(r["last_date"]) for r in regular or rows)
            check = drift_flow(
                as_of=last_played + timedelta(days=1), retrain=False, settings=settings
            )
            _print_check(out, check, settings)
            from flows.demo import run_demo

            run_demo(settings, keep_running=keep_running)
    except Exception as exc:
        raise _fail(exc) from None


def _recent_seasons(n: int, today: date | None = None) -> str:
    """The ``n`` latest seasons that have finished their regular season, as a range spec."""
    from ingest.schema import season_label

    today = today or date.today()
    last_start = today.year - 1 if today.month >= 5 else today.year - 2
    return f"{season_label(last_start - n + 1)}:{season_label(last_start)}"


def _register_commands() -> None:
    from flows.monitoring_cli import register as register_monitoring
    from flows.serving_cli import register as register_serving

    register_serving(app)
    register_monitoring(app)


_register_commands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
