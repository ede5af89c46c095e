"""``nba-mlops drift`` and ``nba-mlops replay``: registered on the main CLI by ``register``.

The helpers of ``flows.cli`` (settings, error handling, console) are imported inside the command
bodies: ``flows.cli`` imports this module while it builds the app.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import typer


def parse_day(value: str | None, option: str) -> date | None:
    """``value`` as a date (None stays None); a ValueError naming ``option`` otherwise."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{option} must be a date like 2024-01-31, got {value!r}") from None


def _not_after_today(day: date | None) -> date | None:
    from monitoring.windows import check_as_of

    return day and check_as_of(day, datetime.now(UTC).date(), "--as-of")


def _replay_stopped(state_dir: Path) -> str:
    """What a replay stopped by SIGTERM left: nothing before its first day, else the days
    replayed so far, which a new run cannot reuse."""
    from flows.replay import check_state_dir

    try:
        check_state_dir(state_dir)
    except ValueError:
        return (
            f"the days replayed so far are kept in {state_dir}; "
            "a new replay needs a new --state-dir"
        )
    return "nothing half-written was kept"


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _tasks(value: str) -> list[str]:
    from monitoring.predictions import GAME, POINTS

    names = _names(value)
    if not names or set(names) - {GAME, POINTS}:
        raise ValueError(f"--tasks must be {GAME}, {POINTS} or {GAME},{POINTS}, got {value!r}")
    return list(dict.fromkeys(names))  # game,game is game


def _days(value: int, option: str) -> int:
    from monitoring.windows import MAX_WINDOW_DAYS

    if value < 1:
        raise ValueError(f"{option} must be at least 1 day, got {value}")
    if value > MAX_WINDOW_DAYS:
        raise ValueError(f"{option} must be at most {MAX_WINDOW_DAYS} days (a year), got {value}")
    return value


def drift(
    as_of: Annotated[
        str | None,
        typer.Option(help="Day the check is made, YYYY-MM-DD; the window ends the day before."),
    ] = None,
    window_days: Annotated[int, typer.Option(help="Days of games in the drift window.")] = 14,
    performance_days: Annotated[
        int, typer.Option(help="Days of scored predictions for the performance report.")
    ] = 28,
    tasks: Annotated[str, typer.Option(help="game, points or game,points.")] = "game,points",
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain/--no-retrain",
            help="Retrain (through the promotion gate) when a threshold is crossed.",
        ),
    ] = False,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write the HTML reports.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Build the drift and performance reports of the champions now (HTML + JSON + index)."""
    from flows.cli import _fail, _settings, out, running_flow

    settings = _settings(as_json)
    from flows.drift import drift_flow

    try:
        # Options are checked here, before the flow starts: a typo is one line, not a failed run.
        options = {
            "as_of": _not_after_today(parse_day(as_of, "--as-of")),
            "window_days": _days(window_days, "--window-days"),
            "performance_days": _days(performance_days, "--performance-days"),
            "tasks": _tasks(tasks),
        }
        # checked before anything opens the stores, which would create them
        settings.existing_model_store("nothing to check (run `nba-mlops train` first)")
        with running_flow(as_json):
            summary = drift_flow(**options, retrain=retrain, html=html, settings=settings)
    except Exception as exc:
        raise _fail(exc, as_json) from None
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=1, default=str) + "\n")
        return
    _print_check(out, summary, settings)


def _print_check(out, summary, settings) -> None:
    from rich.table import Table

    from flows.cli import labelled

    table = Table(title=f"monitoring as of {summary.as_of} ({summary.seconds:.0f} s)")
    for col in ("model", "report", "current", "reference", "drifted", "detected", "failed tests"):
        table.add_column(col)
    thresholds = set()
    for t in summary.tasks:
        if t.get("skipped"):  # its reason is printed in full under the table
            table.add_row(t["model_name"], "none", "-", "-", "-", "-", "-")
            continue
        shift = t.get("prediction_shift")
        for r in t["reports"]:
            share = "" if r["share_drifted"] is None else f"{r['share_drifted']:.0%}"
            detected = r["drift_detected"]
            if r["kind"] == "performance":
                perf = r.get("performance", {})
                metric = perf.get("watched")
                live = perf.get("live", {}).get(metric)
                share = f"{metric} {live:.4f} (n={perf.get('n')})" if live is not None else ""
                held = perf.get("live", {}).get("interval_coverage")
                if held is not None:
                    level = perf["live"].get("interval_level", float("nan"))
                    share += f"; {level:.0%} intervals held {held:.0%}"
            elif r["kind"] == "predictions" and shift:
                # What decides a retrain (and the alerts below), not Evidently's own test, whose
                # verdict is in the report's page and in "failed tests".
                share, detected = f"distance {shift['distance']:.3f}", shift["crossed"]
                thresholds.add(shift["threshold"])
            table.add_row(
                f"{r['model_name']} v{r['model_version']}",
                r["kind"],
                r["current_window"],
                r["reference_window"],
                share,
                "yes" if detected else "no",
                str(r["failed_tests"]),
            )
    if thresholds:
        at = ", ".join(f">= {x:g}" if x > 0 else "never (threshold 0)" for x in sorted(thresholds))
        table.caption = (
            "predictions: normed Wasserstein distance of the predicted values from the "
            f"reference's; detected {at}"
        )
    out.print(table)
    for reason in summary.skipped:
        out.print(labelled("not reported:", "yellow", reason))
    for reason in summary.alerts:
        out.print(labelled("alert:", "yellow", reason))
    if not summary.reported:
        out.print("no report made: nothing was checked", highlight=False)
    elif not summary.alerts:
        out.print("no threshold crossed", highlight=False)
    out.print(f"action: {summary.action}", highlight=False)
    if summary.retrain:
        for m in summary.retrain["models"]:
            verdict = "promoted" if m["promoted"] else "refused"
            out.print(f"  {m['name']} v{m['version']}: {verdict} ({m['reason']})", highlight=False)
        for reason in [*summary.retrain.get("unchanged", []), *summary.retrain.get("skipped", [])]:
            out.print(f"  not trained: {reason}", highlight=False)
    out.print(
        f"reports: {summary.folder}" + (f"; index: {summary.index}" if summary.index else ""),
        highlight=False,
    )


def replay(
    season: Annotated[str, typer.Option(help="The season to replay, e.g. 2023-24.")] = "2023-24",
    trained_through: Annotated[
        str, typer.Option(help="Champions are trained on the seasons through this one.")
    ] = "2022-23",
    state_dir: Annotated[
        str | None,
        typer.Option(help="New state folder (store, MLflow, reports). Default: OUT/state."),
    ] = None,
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Where summary.md/.json go (default replay-SEASON).")
    ] = None,
    first_season: Annotated[
        str | None, typer.Option(help="Oldest season of history to ingest (default: all).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Stop after this day (YYYY-MM-DD).")] = None,
    days: Annotated[int | None, typer.Option(help="Stop after this many game days.")] = None,
    points: Annotated[
        bool, typer.Option("--points/--no-points", help="Also predict every player's points.")
    ] = False,
    models: Annotated[
        str | None,
        typer.Option(help="Models trained and retrained (default: the default game model)."),
    ] = None,
    season_type: Annotated[
        str, typer.Option(help="regular, or all (regular season then playoffs).")
    ] = "regular",
    drift_every: Annotated[int, typer.Option(help="Days between drift checks.")] = 7,
    window_days: Annotated[int, typer.Option(help="Days of games in the drift window.")] = 14,
    cooldown_days: Annotated[int, typer.Option(help="Least days between two retrains.")] = 28,
    html: Annotated[
        bool, typer.Option("--html/--no-html", help="Write the HTML of every weekly report.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Replay a season day by day on the offline snapshot, in a state folder of its own.

    Predict each day's games with the current champion, log them, ingest the results, check
    drift weekly (which may retrain and promote), then score the season against the baselines.
    """
    from flows.cli import _fail, _settings, out, running_flow

    settings = _settings(as_json)
    from flows.replay import plan_replay, replay_flow

    try:
        plan = plan_replay(  # a typo fails here, before a flow run (and its Prefect server) starts
            season,
            trained_through,
            state_dir,
            out_dir,
            first_season,
            points,
            _names(models),
            season_type,
            drift_every,
            window_days,
            cooldown_days,
            settings,
            max_days=days,
        )
        with running_flow(as_json, stopped=partial(_replay_stopped, plan.state)):
            summary = replay_flow(
                season=season,
                trained_through=trained_through,
                state_dir=state_dir,
                out=out_dir,
                first_season=first_season,
                until=parse_day(until, "--until"),
                max_days=days,
                points=points,
                models=_names(models),
                season_type=season_type,
                drift_every_days=drift_every,
                window_days=window_days,
                cooldown_days=cooldown_days,
                html=html,
                settings=settings,
            )
    except Exception as exc:
        raise _fail(exc, as_json) from None
    doc = summary.as_dict()
    if as_json:
        slim = {k: v for k, v in doc.items() if k != "check_details"}
        sys.stdout.write(json.dumps(slim, indent=1, default=str) + "\n")
        return
    _print_replay(out, doc)


def _print_replay(out, doc: dict) -> None:
    from rich.table import Table

    table = Table(
        title=f"replay {doc['season']}: {doc['games_predicted']} games over {doc['days']} days "
        f"({doc['seconds']:.0f} s)"
    )
    for col in ("predictor", "accuracy", "log loss", "Brier", "n"):
        table.add_column(col)
    for who, m in doc["games"]["metrics"].items():
        table.add_row(
            who,
            f"{m.get('accuracy', float('nan')):.3f}",
            f"{m.get('log_loss', float('nan')):.4f}",
            f"{m.get('brier', float('nan')):.4f}",
            str(m.get("n", "")),
        )
    out.print(table)
    if doc.get("points"):
        for who, m in doc["points"].items():
            out.print(f"points {who}: MAE {m['mae']:.3f}, RMSE {m['rmse']:.3f} (n={m['n']})")
    alerts = sum(1 for c in doc["checks"] if c["alerts"])
    out.print(
        f"{len(doc['checks'])} drift checks, {alerts} with alerts, {len(doc['retrains'])} retrains"
    )
    for r in doc["retrains"]:
        for m in r["models"]:
            verdict = "promoted" if m["promoted"] else "refused"
            out.print(
                f"  {r['as_of']}: {m['name']} v{m['version']} {verdict}: {m['reason']}",
                highlight=False,
            )
    out.print(f"summary: {doc['out']}/summary.md; state: {doc['state_dir']}")


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to the ``nba-mlops`` app."""
    app.command("drift")(drift)
    app.command("replay")(replay)
