"""Where reports go: HTML and JSON files under the reports folder, a row per report in
``drift_reports``, and the index (``index.json``, ``index.md``, ``index.html``) rebuilt from
that table, so concurrent checks never lose an entry.

Layout::

    <reports_dir>/
      index.json  index.md  index.html        every report, newest first
      <as_of>_<check id>/
        features-game-logistic-v3.html  .json
        predictions-game-logistic-v3.html  .json
        performance-game-logistic-v3.html  .json
        check.json                          the check's decision and retrain outcome
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from core.db import DriftReport, session_scope
from monitoring.predictions import json_value
from monitoring.reports import ReportResult

INDEX_FIELDS = (
    "id",
    "created_at",
    "as_of",
    "kind",
    "task",
    "model_name",
    "model_version",
    "reference_window",
    "current_window",
    "share_drifted",
    "drift_detected",
    "failed_tests",
    "html_path",
    "json_path",
)


def check_folder(reports_dir: Path, as_of: date, check_id: str) -> Path:
    return Path(reports_dir) / f"{as_of.isoformat()}_{check_id}"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_title(result: ReportResult, context: dict[str, Any]) -> str:
    """What a report page compares, in one line: its page says it even when downloaded alone."""
    check = f"check {context.get('as_of', '?')} ({context.get('check_id', '?')})"
    return (
        f"{result.kind} report of {result.model_name} v{result.model_version}: current "
        f"{result.current_window} ({result.n_current:,} rows) against reference "
        f"{result.reference_window} ({result.n_reference:,} rows); {check}"
    )


def with_header(page: str, result: ReportResult, context: dict[str, Any]) -> str:
    """Evidently's page with the report's title as its ``<title>`` and a line above it."""
    import html
    import re

    title = html.escape(report_title(result, context))
    line = (
        '<div style="font: 14px sans-serif; padding: 8px 16px; background: #f1f3f5; '
        f'border-bottom: 1px solid #ccc">nba-mlops · {title}</div>'
    )
    page, titled = re.subn(r"<title>.*?</title>", f"<title>{title}</title>", page, count=1)
    if not titled:
        page = page.replace("</head>", f"<title>{title}</title></head>", 1)
    return page.replace("<body>", f"<body>\n{line}", 1)


def save_report(
    result: ReportResult, folder: Path, context: dict[str, Any], html_report: bool = True
) -> tuple[Path | None, Path]:
    """Write ``<name>.html`` (Evidently's self-contained page, titled with what it compares:
    :func:`report_title`) and ``<name>.json`` (the summary, the check's context and
    Evidently's own result) into ``folder``."""
    if html_report and result.snapshot is not None and not result.widgets:
        raise ValueError(f"{result.name} was built without its figures: it has no HTML page")
    folder.mkdir(parents=True, exist_ok=True)
    html_path = None
    if html_report and result.snapshot is not None:
        html_path = folder / f"{result.name}.html"
        result.snapshot.save_html(str(html_path))
        titled = with_header(html_path.read_text(encoding="utf-8"), result, context)
        _write_atomic(html_path, titled)
    doc = {
        "summary": json_value(result.summary()),
        "context": json_value(context),
        "evidently": json.loads(result.snapshot.json()) if result.snapshot is not None else None,
    }
    json_path = folder / f"{result.name}.json"
    _write_atomic(json_path, json.dumps(doc, indent=1, default=str) + "\n")
    return html_path, json_path


def stored_path(path: Path | None, reports_dir: Path) -> str | None:
    """A report file as written in ``drift_reports``: relative to the reports folder (POSIX),
    so a state folder that is moved or copied keeps working links; a file outside the folder
    keeps its absolute path."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(Path(reports_dir).resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def record_reports(
    engine: Engine,
    entries: Sequence[tuple[ReportResult, Path | None, Path]],
    context: dict[str, Any],
    reports_dir: Path,
) -> list[int]:
    """One ``drift_reports`` row per report (one transaction); returns their ids. Paths are
    stored relative to ``reports_dir`` (:func:`stored_path`)."""
    rows = []
    for result, html_path, json_path in entries:
        rows.append(
            DriftReport(
                kind=result.kind,
                model_name=result.model_name,
                model_version=str(result.model_version),
                reference_window=result.reference_window[:64],
                current_window=result.current_window[:64],
                share_drifted=result.share_drifted,
                drift_detected=bool(result.drift_detected),
                failed_tests=int(result.failed_tests),
                html_path=stored_path(html_path, reports_dir),
                json_path=stored_path(json_path, reports_dir),
                summary=json_value({**result.summary(), **context}),
            )
        )
    with session_scope(engine) as session:
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def report_rows(engine: Engine, limit: int | None = None) -> list[dict[str, Any]]:
    """The ``drift_reports`` rows as index entries, newest first."""
    table = DriftReport.__table__
    stmt = select(table).order_by(table.c.created_at.desc(), table.c.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    entries = []
    for row in rows:
        summary = row["summary"] or {}
        entries.append(
            {
                **{k: row[k] for k in INDEX_FIELDS if k in row},
                "as_of": summary.get("as_of"),
                "task": summary.get("task"),
                "check_id": summary.get("check_id"),
                "distance": (summary.get("prediction_shift") or {}).get("distance"),
            }
        )
    return entries


def _rel(path: str | None, root: Path) -> str:
    """A stored report path as a link from the index: stored paths are relative to the reports
    folder already; an absolute one (rows written before paths were stored relative) is made
    relative to it."""
    if not path:
        return ""
    if not Path(path).is_absolute():
        return path
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:
        return path


def _fmt_share(value: Any, distance: Any = None) -> str:
    """A features report's drifted share; a predictions report's distance."""
    if value is None:
        return "" if distance is None else f"distance {float(distance):.3f}"
    return f"{float(value):.0%}"


def write_index(engine: Engine, reports_dir: Path) -> Path:
    """Rebuild ``index.json``, ``index.md`` and ``index.html`` from ``drift_reports``."""
    root = Path(reports_dir)
    entries = report_rows(engine)
    for entry in entries:
        if isinstance(entry.get("created_at"), datetime):
            entry["created_at"] = entry["created_at"].isoformat(timespec="seconds")
    _write_atomic(root / "index.json", json.dumps(entries, indent=1, default=str) + "\n")
    header = (
        "| date | kind | model | version | current window | reference | drifted share or "
        "distance "
        "| detected | failed tests | report |"
    )
    lines = [
        "# Monitoring reports",
        "",
        "Newest first. `detected`: the share of drifted features, the distance between the "
        "predictions (normed Wasserstein) or the performance drop reaches its threshold.",
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    cells = []
    for e in entries:
        link = _rel(e["html_path"] or e["json_path"], root)
        lines.append(
            f"| {e['as_of'] or e['created_at']} | {e['kind']} | {e['model_name']} | "
            f"{e['model_version']} | {e['current_window']} | {e['reference_window']} | "
            f"{_fmt_share(e['share_drifted'], e['distance'])} | {'yes' if e['drift_detected'] else 'no'} | "
            f"{e['failed_tests']} | [{Path(link).name}]({link}) |"
        )
        cells.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    e["as_of"] or e["created_at"],
                    e["kind"],
                    e["model_name"],
                    e["model_version"],
                    e["current_window"],
                    e["reference_window"],
                    _fmt_share(e["share_drifted"], e["distance"]),
                    "yes" if e["drift_detected"] else "no",
                    e["failed_tests"],
                )
            )
            + f'<td><a href="{html.escape(link)}">{html.escape(Path(link).name)}</a></td></tr>'
        )
    _write_atomic(root / "index.md", "\n".join(lines) + "\n")
    page = (
        "<!doctype html><meta charset='utf-8'><title>Monitoring reports</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
        "</style><h1>Monitoring reports</h1><table><tr>"
        + "".join(
            f"<th>{h}</th>"
            for h in (
                "date",
                "kind",
                "model",
                "version",
                "current window",
                "reference",
                "drifted share",
                "detected",
                "failed tests",
                "report",
            )
        )
        + "</tr>"
        + "".join(cells)
        + "</table>\n"
    )
    _write_atomic(root / "index.html", page)
    return root / "index.json"


def last_retrain_day(engine: Engine, model_name: str) -> date | None:
    """The ``as_of`` day of the latest check that started a retrain of ``model_name``."""
    table = DriftReport.__table__
    stmt = (
        select(table.c.summary)
        .where(table.c.model_name == model_name)
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(200)
    )
    with engine.connect() as conn:
        for (summary,) in conn.execute(stmt):
            decision = (summary or {}).get("decision") or {}
            if decision.get("retrain") and summary.get("as_of"):
                return date.fromisoformat(str(summary["as_of"])[:10])
    return None


def annotate_reports(engine: Engine, ids: Sequence[int], extra: dict[str, Any]) -> None:
    """Merge ``extra`` into the ``summary`` of the given ``drift_reports`` rows (e.g. the
    outcome of the retrain their check started)."""
    if not ids:
        return
    with session_scope(engine) as session:
        for row in session.scalars(select(DriftReport).where(DriftReport.id.in_(list(ids)))):
            row.summary = json_value({**(row.summary or {}), **extra})
