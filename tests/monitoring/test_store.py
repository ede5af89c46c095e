"""Reports on disk and in ``drift_reports`` (SQLite and PostgreSQL), and the index."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from core.db import DriftReport, make_engine
from core.migrate import upgrade
from monitoring.reports import feature_drift_report, prediction_drift_report
from monitoring.store import (
    annotate_reports,
    check_folder,
    last_retrain_day,
    record_reports,
    save_report,
    write_index,
)

COLUMNS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(7)
    reference = pd.DataFrame(rng.normal(size=(300, 4)), columns=COLUMNS)
    current = pd.DataFrame(rng.normal(size=(120, 4)), columns=COLUMNS)
    current[["a", "b"]] += 2.0  # half the columns move
    common = dict(
        task="game",
        model_name="game-logistic",
        model_version="3",
        reference_window="2022-23 days 20-47",
        current_window="2023-11-01..2023-11-14",
    )
    features = feature_drift_report(reference, current, COLUMNS, 0.3, **common)
    predictions = prediction_drift_report(reference["c"].abs(), current["c"].abs(), **common)
    return features, predictions


def test_reports_are_saved_recorded_and_indexed(db_url, tmp_path, results):
    engine = make_engine(db_url)
    upgrade(engine)
    from flows.drift import decided_by_shift

    features, predictions = results
    # recorded as the drift check does: the distance between the predictions decides
    shift = {"distance": 0.123, "threshold": 0.3, "crossed": False}
    predictions = decided_by_shift(predictions, shift)
    assert decided_by_shift(features, shift) is features
    folder = check_folder(tmp_path / "reports", date(2023, 11, 15), "abc123")
    context = {"check_id": "abc123", "as_of": "2023-11-15", "decision": {"retrain": True}}
    entries = [(r, *save_report(r, folder, context)) for r in (features, predictions)]
    for result, html_path, json_path in entries:
        assert html_path.stat().st_size > 10_000 and "<html" in html_path.read_text()[:2000].lower()
        # The page says what it compares, even when downloaded on its own.
        title = (
            f"{result.kind} report of game-logistic v3: current 2023-11-01..2023-11-14 "
            f"({result.n_current:,} rows) against reference 2022-23 days 20-47 "
            f"({result.n_reference:,} rows); check 2023-11-15 (abc123)"
        )
        page = html_path.read_text()
        assert f"<title>{title}</title>" in page and page.count("<title>") == 1
        assert "<body>\n<div" in page and f"nba-mlops · {title}</div>" in page
        doc = json.loads(json_path.read_text())
        assert doc["context"]["check_id"] == "abc123" and doc["evidently"]["metrics"]
    ids = record_reports(engine, entries, context, tmp_path / "reports")
    annotate_reports(engine, ids, {"retrain": {"models": [{"name": "game-logistic"}]}})

    with engine.connect() as conn:
        rows = conn.execute(select(DriftReport).order_by(DriftReport.id)).all()
    assert [r.kind for r in rows] == ["features", "predictions"]
    first = rows[0]
    assert (first.model_name, first.model_version) == ("game-logistic", "3")
    assert first.current_window == "2023-11-01..2023-11-14"
    assert first.reference_window == "2022-23 days 20-47"
    assert first.share_drifted == pytest.approx(0.5)
    assert first.drift_detected is True
    assert first.failed_tests == features.failed_tests >= 3  # two columns and the share test
    # relative to the reports folder, so a moved or copied state folder keeps its links
    assert first.html_path == "2023-11-15_abc123/features-game-logistic-v3.html"
    assert rows[1].json_path == "2023-11-15_abc123/predictions-game-logistic-v3.json"
    assert first.summary["as_of"] == "2023-11-15" and first.summary["retrain"]["models"]
    assert sorted(first.summary["drifted"]) == ["a", "b"]

    index = write_index(engine, tmp_path / "reports")
    listed = json.loads(index.read_text())
    assert [e["kind"] for e in listed] == ["predictions", "features"]  # newest first
    assert listed[1]["share_drifted"] == pytest.approx(0.5)
    assert (listed[0]["distance"], listed[0]["drift_detected"]) == (0.123, False)
    for page in ("index.md", "index.html"):
        assert "distance 0.123" in (tmp_path / "reports" / page).read_text()
    assert "features-game-logistic-v3.html" in (tmp_path / "reports/index.md").read_text()
    assert "2023-11-15_abc123/features" in (tmp_path / "reports/index.html").read_text()
    moved = tmp_path / "elsewhere" / "reports"
    shutil.move(tmp_path / "reports", moved)
    write_index(engine, moved)
    links = re.findall(r'href="([^"]+)"', (moved / "index.html").read_text())
    assert len(links) == 2 and all((moved / link).is_file() for link in links)
    assert last_retrain_day(engine, "game-logistic") == date(2023, 11, 15)
    assert last_retrain_day(engine, "player-ridge") is None
    engine.dispose()
