"""Evidently reports on a real slice of the snapshot: drift is found when a shift is injected
and not found between two halves of the same window."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features import GAME_FEATURES
from monitoring.performance import summarize_performance
from monitoring.reports import (
    feature_drift_report,
    performance_report,
    prediction_drift_report,
)
from monitoring.store import save_report

THRESHOLD = 0.3
COMMON = dict(
    task="game",
    model_name="game-logistic",
    model_version="1",
    reference_window="2022-23 days 60-73",
    current_window="2022-23 days 74-87",
)
# Scoring, rating and margin features: about 40% of the columns.
SHIFTED = [
    c for c in GAME_FEATURES if any(k in c for k in ("pts_", "rating", "pace", "margin_avg"))
]


@pytest.fixture(scope="module")
def halves(season_features):
    """Four weeks of 2022-23 (days 60-87, ~200 games) cut into two consecutive halves."""
    window = season_features.loc[
        (season_features["season"] == "2022-23") & season_features["season_day"].between(60, 87)
    ]
    first = window.loc[window["season_day"] < 74].reset_index(drop=True)
    second = window.loc[window["season_day"] >= 74].reset_index(drop=True)
    assert min(len(first), len(second)) > 80
    return first, second


def test_no_drift_between_two_halves_of_the_same_window(halves):
    first, second = halves
    # without the figures (the same metrics and tests: the next test but one)
    result = feature_drift_report(first, second, GAME_FEATURES, THRESHOLD, widgets=False, **COMMON)
    assert result.drift_detected is False
    assert result.share_drifted < THRESHOLD
    assert result.details["columns"] == len(GAME_FEATURES)
    # the summary matches the snapshot's own per-column verdicts
    assert result.details["drifted_columns"] == round(result.share_drifted * len(GAME_FEATURES))


def test_an_injected_shift_is_found(halves):
    first, second = halves
    shifted = second.copy()
    for column in SHIFTED:
        shifted[column] = shifted[column] + first[column].std()
    assert len(SHIFTED) / len(GAME_FEATURES) > THRESHOLD
    result = feature_drift_report(first, shifted, GAME_FEATURES, THRESHOLD, widgets=False, **COMMON)
    assert result.drift_detected is True
    assert result.share_drifted >= len(SHIFTED) / len(GAME_FEATURES) * 0.9
    drifted = set(result.details["drifted"])
    assert len(drifted & set(SHIFTED)) >= 0.9 * len(SHIFTED)
    assert {c["column"] for c in result.details["top_drifted"]} <= drifted
    assert result.failed_tests >= result.details["drifted_columns"]


def test_prediction_drift_on_elo_probabilities(halves):
    first, second = halves
    same = prediction_drift_report(first["elo_home_prob"], second["elo_home_prob"], **COMMON)
    assert same.drift_detected is False and same.share_drifted == 0.0
    moved = (second["elo_home_prob"] + 0.15).clip(0, 1)
    drifted = prediction_drift_report(first["elo_home_prob"], moved, **COMMON)
    assert drifted.drift_detected is True and drifted.failed_tests >= 1
    assert drifted.details["current"]["mean"] > drifted.details["reference"]["mean"] + 0.1


def test_performance_report_fails_its_test_only_past_the_threshold(halves):
    _, second = halves
    joined = pd.DataFrame({"home_win": second["home_win"], "prediction": second["elo_home_prob"]})
    live = float(
        -np.mean(
            joined["home_win"] * np.log(joined["prediction"])
            + (1 - joined["home_win"]) * np.log(1 - joined["prediction"])
        )
    )
    ok = summarize_performance("game", joined, {"log_loss": live - 0.01}, 0.02, min_rows=50)
    bad = summarize_performance("game", joined, {"log_loss": live - 0.05}, 0.02, min_rows=50)
    fine = performance_report(joined, ok, **{k: v for k, v in COMMON.items() if k != "task"})
    worse = performance_report(joined, bad, **{k: v for k, v in COMMON.items() if k != "task"})
    assert (fine.failed_tests, fine.drift_detected) == (0, False)
    assert (worse.failed_tests, worse.drift_detected) == (1, True)
    assert worse.details["performance"]["live"]["log_loss"] == pytest.approx(live)


def _result(report) -> str:
    """What a check keeps of a report: its summary and Evidently's metrics and tests."""
    return json.dumps(
        {"summary": report.summary(), "evidently": report.snapshot.dict()},
        sort_keys=True,
        default=str,
    )


def _figures(report) -> int:
    return sum(len(m.get_widgets()) for m in report.snapshot.metric_results.values())


def test_reports_without_figures_find_the_same_drift(halves, tmp_path):
    """Without an HTML page the drift reports skip Evidently's figures: same metrics, tests
    and summary; a later report with figures still has them."""
    first, second = halves
    shifted = second.copy()
    for column in SHIFTED:
        shifted[column] = shifted[column] + first[column].std()
    # four shifted columns and four others: the figures cost about a second per column
    columns = [*SHIFTED[:4], *[c for c in GAME_FEATURES if c not in SHIFTED][:4]]
    full = feature_drift_report(first, shifted, columns, THRESHOLD, **COMMON)
    bare = feature_drift_report(first, shifted, columns, THRESHOLD, widgets=False, **COMMON)
    again = feature_drift_report(first, shifted, columns, THRESHOLD, **COMMON)
    assert full.drift_detected is True and 0 < full.details["drifted_columns"] < len(columns)
    assert _result(bare) == _result(full) == _result(again)
    # each column's drift draws its figures (two per column) only in the reports with a page
    assert _figures(full) == _figures(again) >= 2 * len(columns) > _figures(bare)
    assert (full.widgets, bare.widgets) == (True, False)

    moved = (second["elo_home_prob"] + 0.15).clip(0, 1)
    kept = prediction_drift_report(first["elo_home_prob"], moved, **COMMON)
    lean = prediction_drift_report(first["elo_home_prob"], moved, widgets=False, **COMMON)
    assert _result(lean) == _result(kept) and kept.drift_detected is True

    folder = tmp_path / "check"
    html_path, json_path = save_report(bare, folder, {"check_id": "x"}, html_report=False)
    assert html_path is None
    assert json.loads(json_path.read_text())["evidently"] == full.snapshot.dict()
    with pytest.raises(ValueError, match="without its figures"):
        save_report(bare, folder, {"check_id": "x"}, html_report=True)


def test_figures_are_skipped_only_inside_the_block_even_when_it_fails():
    """``_figures_skipped`` swaps Evidently's ``ValueDrift`` drawing for one that draws nothing,
    and puts Evidently's back on the way out, also when the block raises."""
    from evidently.metrics.column_statistics import ValueDriftCalculation

    from monitoring.reports import _figures_skipped

    draw = ValueDriftCalculation.__dict__["_render"]
    with pytest.raises(RuntimeError), _figures_skipped():
        assert ValueDriftCalculation._render(None, None, None, None) == []
        raise RuntimeError("the report failed")
    assert ValueDriftCalculation.__dict__["_render"] is draw
