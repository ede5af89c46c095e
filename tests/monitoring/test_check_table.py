"""The table ``nba-mlops drift`` prints: it agrees with the alerts under it."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from flows.monitoring_cli import _print_check


def _report(kind: str, drift_detected: bool, share: float | None) -> dict:
    return {
        "model_name": "game-logistic",
        "model_version": "3",
        "kind": kind,
        "current_window": "2024-02-16..2024-02-29",
        "reference_window": "2023-24 days 87-114",
        "share_drifted": share,
        "drift_detected": drift_detected,
        "failed_tests": 0,
    }


def _printed(threshold: float, distance: float, crossed: bool, *more_tasks: dict) -> list[str]:
    shift = {"distance": distance, "threshold": threshold, "crossed": crossed}
    task = {
        "model_name": "game-logistic",
        "reports": [_report("features", False, 0.21), _report("predictions", False, 0.0)],
        "prediction_shift": shift,
    }
    summary = SimpleNamespace(
        as_of="2024-03-01",
        seconds=1.0,
        tasks=[task, *more_tasks],
        skipped=[],
        alerts=["game-logistic prediction drift: ..."] if crossed else [],
        reported=True,
        action="none",
        retrain=None,
        folder="reports/2024-03-01",
        index=None,
    )
    console = Console(record=True, width=160)
    _print_check(console, summary, settings=None)
    return console.export_text().splitlines()


def test_the_predictions_row_shows_the_distance_that_decides_not_evidentlys_test():
    """Evidently's test saw no drift in the predictions, the platform's distance crossed its
    threshold (and alerted): the row says "yes", with that distance."""
    lines = _printed(threshold=0.3, distance=0.316, crossed=True)
    (row,) = [line for line in lines if "predictions" in line and "│" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[4:6] == ["distance 0.316", "yes"]
    (features,) = [line for line in lines if "features" in line and "│" in line]
    assert [c.strip() for c in features.split("│")[1:-1]][4:6] == ["21%", "no"]
    assert any("detected >= 0.3" in line for line in lines)


def test_a_threshold_of_zero_is_said_to_never_detect():
    lines = _printed(threshold=0.0, distance=0.9, crossed=False)
    (row,) = [line for line in lines if "predictions" in line and "│" in line]
    assert [c.strip() for c in row.split("│")[1:-1]][4:6] == ["distance 0.900", "no"]
    assert any("detected never (threshold 0)" in line for line in lines)


def test_the_points_performance_row_says_how_often_the_intervals_held():
    live = {"mae": 5.2051, "interval_coverage": 0.7731, "interval_level": 0.8, "n_interval": 812}
    report = {
        **_report("performance", False, None),
        "model_name": "player-ridge",
        "performance": {"watched": "mae", "n": 812, "live": live},
    }
    lines = _printed(0.3, 0.1, False, {"model_name": "player-ridge", "reports": [report]})
    (row,) = [line for line in lines if "performance" in line and "│" in line]
    cell = [c.strip() for c in row.split("│")[1:-1]][4]
    assert cell == "mae 5.2051 (n=812); 80% intervals held 77%"
