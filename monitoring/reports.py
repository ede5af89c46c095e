"""The Evidently reports: feature drift, prediction drift and live performance.

Each builder runs one Evidently ``Report`` (tests included) and returns a :class:`ReportResult`:
the Evidently snapshot (for the HTML and JSON files) and a plain summary (for the database, the
index and the champion's MLflow run). Nothing is written here.

Drift tests are Evidently's defaults for the column type and sample size (numerical columns:
Kolmogorov-Smirnov p < 0.05 up to 1,000 reference rows, normed Wasserstein distance > 0.1
above; columns with at most five values: chi-square / Jensen-Shannon). Drift is *declared* when
the share of drifted columns reaches the threshold (Evidently's "Share of Drifted Columns" test
fails).

Evidently draws the plotly figures of the HTML page while it computes (a drift report over 79
columns spends about three quarters of its time on them), and the JSON result holds none of
them. The drift builders take ``widgets``: with ``widgets=False`` (no HTML page to write) they
run the metrics ``DataDriftPreset`` is made of (``DriftedColumnsCount`` and one ``ValueDrift``
per column, the preset's defaults), without the figures: the metrics, the tests and
``snapshot.dict()`` are the same, and the snapshot has no page (``ReportResult.widgets``).
Evidently 0.7 has no switch for a ``ValueDrift``'s own figures: while such a run lasts, its
private ``ValueDriftCalculation._render`` is replaced by one drawing nothing (runs are
serialized). ``tests/monitoring/test_drift_reports.py`` checks that both ways give the same
results, so an Evidently upgrade that moves this shows up there.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from monitoring.performance import PerformanceSummary
from monitoring.predictions import GAME

FEATURES = "features"
PREDICTIONS = "predictions"
PERFORMANCE = "performance"
KINDS = (FEATURES, PREDICTIONS, PERFORMANCE)
TOP_DRIFTED = 10
# Fewer scored rows than this give no performance report (Evidently needs both classes, and a
# handful of games says nothing).
MIN_PERFORMANCE_ROWS = 20
# Evidently runs one at a time: a run without figures changes how ValueDrift renders while it
# lasts (``_figures_skipped``), which must not reach a run that draws them.
_RUN_LOCK = threading.Lock()


@dataclass
class ReportResult:
    """One built report: what it compared, what it found, and the Evidently snapshot."""

    kind: str
    task: str
    model_name: str
    model_version: str
    reference_window: str
    current_window: str
    n_reference: int
    n_current: int
    drift_detected: bool
    share_drifted: float | None
    failed_tests: int
    details: dict[str, Any] = field(default_factory=dict)
    snapshot: Any = None
    # False when built without Evidently's figures: the snapshot then has no HTML page.
    widgets: bool = True

    @property
    def name(self) -> str:
        """File stem: ``features-game-logistic-v3``."""
        return f"{self.kind}-{self.model_name}-v{self.model_version}"

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "task": self.task,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "reference_window": self.reference_window,
            "current_window": self.current_window,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drift_detected": self.drift_detected,
            "share_drifted": self.share_drifted,
            "failed_tests": self.failed_tests,
            **self.details,
        }


def _no_figures(self, *args, **kwargs) -> list:
    return []


@contextmanager
def _figures_skipped() -> Iterator[None]:
    """``ValueDrift`` computed without its two plotly figures (its ``_render``, the only place
    it draws them), restored afterwards."""
    from evidently.metrics.column_statistics import ValueDriftCalculation

    render = ValueDriftCalculation.__dict__["_render"]
    ValueDriftCalculation._render = _no_figures
    try:
        yield
    finally:
        ValueDriftCalculation._render = render


def _run(
    metrics: list,
    current: pd.DataFrame,
    reference: pd.DataFrame | None,
    definition,
    widgets: bool = True,
):
    from evidently import Dataset, Report

    figures = nullcontext() if widgets else _figures_skipped()
    with _RUN_LOCK, figures, warnings.catch_warnings():
        # Evidently's correlation widgets divide by a zero std for constant columns.
        warnings.simplefilter("ignore", RuntimeWarning)
        return Report(metrics, include_tests=True).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=None
            if reference is None
            else Dataset.from_pandas(reference, data_definition=definition),
        )


def drift_metrics(columns: Sequence[str], drift_share: float, widgets: bool = True) -> list:
    """Evidently's ``DataDriftPreset`` over ``columns``; without ``widgets``, the metrics it
    generates (the share of drifted columns, then each column's drift) and not its summary
    table, which only the HTML page shows."""
    from evidently.presets import DataDriftPreset

    if widgets:
        return [DataDriftPreset(columns=list(columns), drift_share=drift_share)]
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    return [
        DriftedColumnsCount(columns=list(columns), drift_share=drift_share),
        *(ValueDrift(column=c) for c in columns),
    ]


def _status(test: dict) -> str:
    return str(test.get("status", "")).rsplit(".", 1)[-1].upper()


def failed_tests(snapshot_dict: dict) -> list[str]:
    """Names of the failed tests of an Evidently snapshot (``Snapshot.dict()``)."""
    return [t.get("name", "") for t in snapshot_dict.get("tests", []) if _status(t) == "FAIL"]


def column_drift(snapshot_dict: dict) -> list[dict[str, Any]]:
    """Per column: ``column``, ``method``, ``threshold``, ``score`` and ``drifted`` (its drift
    test failed), from the ``ValueDrift`` metrics of a snapshot."""
    status = {
        t["metric_config"]["metric_id"]: _status(t)
        for t in snapshot_dict.get("tests", [])
        if "metric_config" in t and "ValueDrift" in str(t["metric_config"].get("params", {}))
    }
    rows = []
    for metric in snapshot_dict.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        score = metric.get("value")
        rows.append(
            {
                "column": config.get("column"),
                "method": config.get("method"),
                "threshold": config.get("threshold"),
                "score": float(score) if isinstance(score, int | float) else None,
                "drifted": status.get(metric["id"]) == "FAIL",
            }
        )
    return rows


def _top_drifted(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drifted = [c for c in columns if c["drifted"]]

    def strength(c: dict[str, Any]) -> float:
        score = c["score"] if c["score"] is not None else 0.0
        # p-values: smaller is stronger; distances: larger is stronger.
        return -score if "p_value" in str(c["method"]) else score

    return sorted(drifted, key=strength, reverse=True)[:TOP_DRIFTED]


def feature_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    drift_share: float,
    *,
    task: str,
    model_name: str,
    model_version: str,
    reference_window: str,
    current_window: str,
    widgets: bool = True,
) -> ReportResult:
    """Evidently data drift of the model's feature ``columns``, current window vs reference
    (``widgets=False``: without the figures of the HTML page, see the module)."""
    from evidently import DataDefinition

    cols = [c for c in columns if c in reference.columns and c in current.columns]
    if not cols:
        raise ValueError("no feature column in both the reference and the current data")
    definition = DataDefinition(numerical_columns=cols)
    snapshot = _run(
        drift_metrics(cols, drift_share, widgets),
        current.loc[:, cols].astype(float),
        reference.loc[:, cols].astype(float),
        definition,
        widgets,
    )
    doc = snapshot.dict()
    per_column = column_drift(doc)
    drifted = [c["column"] for c in per_column if c["drifted"]]
    share = len(drifted) / len(per_column) if per_column else 0.0
    return ReportResult(
        kind=FEATURES,
        task=task,
        model_name=model_name,
        model_version=model_version,
        reference_window=reference_window,
        current_window=current_window,
        n_reference=len(reference),
        n_current=len(current),
        drift_detected=share >= drift_share,
        share_drifted=share,
        failed_tests=len(failed_tests(doc)),
        details={
            "threshold": drift_share,
            "columns": len(per_column),
            "drifted_columns": len(drifted),
            "drifted": drifted,
            "top_drifted": _top_drifted(per_column),
        },
        snapshot=snapshot,
        widgets=widgets,
    )


def _describe(values: pd.Series) -> dict[str, float]:
    v = values.dropna().astype(float)
    if v.empty:
        return {"n": 0}
    q = np.quantile(v, [0.1, 0.5, 0.9])
    return {
        "n": len(v),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=0)),
        "p10": float(q[0]),
        "p50": float(q[1]),
        "p90": float(q[2]),
    }


def prediction_drift_report(
    reference: pd.Series,
    current: pd.Series,
    *,
    task: str,
    model_name: str,
    model_version: str,
    reference_window: str,
    current_window: str,
    widgets: bool = True,
) -> ReportResult:
    """Evidently drift of the predicted values (P(home win) or points), current vs reference
    (``widgets=False``: without the figures of the HTML page)."""
    from evidently import DataDefinition

    column = "home_win_probability" if task == GAME else "predicted_points"
    ref = pd.DataFrame({column: reference.astype(float).to_numpy()})
    cur = pd.DataFrame({column: current.astype(float).to_numpy()})
    definition = DataDefinition(numerical_columns=[column])
    snapshot = _run(drift_metrics([column], 0.5, widgets), cur, ref, definition, widgets)
    doc = snapshot.dict()
    per_column = column_drift(doc)
    drifted = bool(per_column and per_column[0]["drifted"])
    return ReportResult(
        kind=PREDICTIONS,
        task=task,
        model_name=model_name,
        model_version=model_version,
        reference_window=reference_window,
        current_window=current_window,
        n_reference=len(ref),
        n_current=len(cur),
        drift_detected=drifted,
        share_drifted=1.0 if drifted else 0.0,
        failed_tests=len(failed_tests(doc)),
        details={
            "column": column,
            "test": per_column[0] if per_column else None,
            "reference": _describe(ref[column]),
            "current": _describe(cur[column]),
        },
        snapshot=snapshot,
        widgets=widgets,
    )


def performance_report(
    joined: pd.DataFrame,
    performance: PerformanceSummary,
    *,
    model_name: str,
    model_version: str,
    reference_window: str,
    current_window: str,
) -> ReportResult | None:
    """Evidently classification (games) or regression (points) quality of the scored
    predictions, with one test: the watched metric (log loss, MAE) at most its backtest figure
    plus the threshold. None when fewer than ``MIN_PERFORMANCE_ROWS`` rows are scored."""
    from evidently import BinaryClassification, DataDefinition, Regression
    from evidently.presets import ClassificationPreset, RegressionPreset
    from evidently.tests import lte

    if len(joined) < MIN_PERFORMANCE_ROWS:
        return None
    limit = None
    if performance.enough_rows and performance.watched in performance.backtest:
        limit = performance.backtest[performance.watched] + performance.threshold
    tests = [lte(limit)] if limit is not None else []
    none: list = []
    if performance.task == GAME:
        if joined["home_win"].nunique() < 2:
            return None
        frame = pd.DataFrame(
            {
                "target": joined["home_win"].astype(int).to_numpy(),
                "prediction": joined["prediction"].astype(float).to_numpy(),
            }
        )
        definition = DataDefinition(
            classification=[BinaryClassification(target="target", prediction_probas="prediction")],
            numerical_columns=["prediction"],
        )
        preset = ClassificationPreset(
            logloss_tests=tests,
            accuracy_tests=none,
            precision_tests=none,
            recall_tests=none,
            f1score_tests=none,
            rocauc_tests=none,
            tpr_tests=none,
            tnr_tests=none,
            fpr_tests=none,
            fnr_tests=none,
        )
    else:
        frame = pd.DataFrame(
            {
                "target": joined["pts"].astype(float).to_numpy(),
                "prediction": joined["prediction"].astype(float).to_numpy(),
            }
        )
        definition = DataDefinition(
            regression=[Regression(target="target", prediction="prediction")],
            numerical_columns=["target", "prediction"],
        )
        preset = RegressionPreset(
            mae_tests=tests,
            mean_error_tests=none,
            mape_tests=none,
            rmse_tests=none,
            r2score_tests=none,
            abs_max_error_tests=none,
        )
    snapshot = _run([preset], frame, None, definition)
    doc = snapshot.dict()
    return ReportResult(
        kind=PERFORMANCE,
        task=performance.task,
        model_name=model_name,
        model_version=model_version,
        reference_window=reference_window,
        current_window=current_window,
        n_reference=0,
        n_current=len(joined),
        drift_detected=performance.dropped,
        share_drifted=None,
        failed_tests=len(failed_tests(doc)),
        details={"performance": performance.as_dict(), "test_limit": limit},
        snapshot=snapshot,
    )
