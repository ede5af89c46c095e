"""Monitoring results on the champion's MLflow run (through ``registry.client``).

Live figures are logged as ``monitoring.<task>.<name>`` metrics (one step per check, so the run
shows their history); these keys never look like the ``<metric>.<season>`` keys the promotion
gate compares. The check's summary is attached as ``monitoring/<as_of>_<check id>.json``.

:func:`log_season_scores` is the one exception: it writes ``<metric>.<season>`` keys, the
champion's scores on a season it was *not* trained on, so the gate can compare a challenger
evaluated on that season with the champion on the same games (docs/CONTRACTS.md: other
``<metric>.<season>`` keys are evaluations on other seasons).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from registry.client import mlflow_client


def _metrics(values: Mapping[str, Any], step: int):
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [
        Metric(key, float(value), now, step)
        for key, value in values.items()
        if isinstance(value, int | float) and math.isfinite(float(value))
    ]


def log_check(
    tracking_uri: str,
    run_id: str,
    metrics: Mapping[str, float],
    summary: Mapping[str, Any],
    artifact_file: str,
    step: int,
) -> None:
    """Log ``metrics`` (at ``step``) and ``summary`` (as a JSON artifact) on run ``run_id``."""
    client = mlflow_client(tracking_uri)
    values = _metrics(metrics, step)
    if values:
        client.log_batch(run_id, metrics=values)
    client.log_dict(run_id, dict(summary), artifact_file)


def log_season_scores(
    tracking_uri: str, run_id: str, season: str, scores: Mapping[str, float], step: int
) -> dict[str, float]:
    """Log ``scores`` as ``<metric>.<season>`` on run ``run_id`` at ``step`` (the number of
    rows scored, so the newest evaluation is the one MLflow reports). Returns what was logged."""
    keyed = {f"{name}.{season}": value for name, value in scores.items() if name != "n"}
    values = _metrics(keyed, step)
    if values:
        mlflow_client(tracking_uri).log_batch(run_id, metrics=values)
    return {m.key: m.value for m in values}
