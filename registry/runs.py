"""Logging a trained model as an MLflow run and registering it as a new model version."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.logfilters import WithoutMessage
from registry.audit import record_action
from registry.client import RegistryError, fluent_tracking, mlflow_client, pinned_requirements

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow import MlflowClient
    from sqlalchemy import Engine

TASKS = ("game", "points")
_MAX_PARAM = 6000  # MLflow's limit on a param value
_MAX_TAG = 8000  # and on a tag value
_BATCH = 100  # params (and tags) per log_batch call
_INVALID_KEY = re.compile(r"[^\w\-. /:]")

# Notices MLflow logs with every model it saves that say nothing about this platform's models:
# the caution about loading pickled models (the registry serves only models it logged itself),
# and the pip version it cannot find (the environment is installed by uv, without pip; each
# model's requirements are pinned in its requirements.txt all the same).
ROUTINE_NOTICES = {
    "mlflow.sklearn": "Saving scikit-learn models in the pickle or cloudpickle format",
    "mlflow.utils.environment": "Failed to resolve installed pip version",
}


for _name, _start in ROUTINE_NOTICES.items():
    logging.getLogger(_name).addFilter(WithoutMessage(_start))


@dataclass(frozen=True)
class RegisteredVersion:
    """Where a logged model ended up."""

    name: str
    version: str
    run_id: str
    model_uri: str


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings as ``a.b`` keys with string values, ready to be MLflow params."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = _INVALID_KEY.sub("_", f"{prefix}{key}")
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        flat[name] = text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."
    return flat


def describe_version(
    model_name: str, task: str, train_seasons: Sequence[str], eval_season: str, run_id: str
) -> str:
    """The version description: what it was fit on, where its gate metrics come from."""
    from registry.gate import DEFAULT_POLICIES

    fit = ", ".join(train_seasons) or "(no season recorded)"
    primary = DEFAULT_POLICIES[task].primary_metric if task in DEFAULT_POLICIES else "metric"
    if eval_season in train_seasons:
        origin = (
            f"come from the walk-forward evaluation on season {eval_season}: the same estimator "
            f"trained on the seasons before {eval_season}, scored on {eval_season}; this version "
            f"was then refit through {eval_season}, to serve the seasons after it"
        )
    else:
        origin = f"are its scores on season {eval_season}, which was held out of the fit"
    return (
        f"{model_name} ({task}) fit on season(s) {fit}. Its gate metrics (`{primary}` etc., "
        f"also logged as `<metric>.{eval_season}`) {origin}. Other `<metric>.<season>` keys "
        f"are evaluations on other seasons; see run {run_id}."
    )


def _experiment_id(client: MlflowClient, experiment: str, artifact_location: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        try:
            return client.create_experiment(experiment, artifact_location=artifact_location)
        except Exception as exc:  # created meanwhile by another process
            if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise
            found = client.get_experiment_by_name(experiment)
    if found.lifecycle_stage != "active":
        raise RegistryError(
            f"experiment {experiment!r} is deleted: restore it (MLflow UI) or use another name"
        )
    return found.experiment_id


def _log_values(
    client: MlflowClient,
    run_id: str,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
) -> None:
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    items = list(params.items())
    for start in range(0, len(items), _BATCH):
        chunk = items[start : start + _BATCH]
        client.log_batch(run_id, params=[Param(key, value) for key, value in chunk])
    values = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
    for start in range(0, len(values), 1000):
        client.log_batch(run_id, metrics=values[start : start + 1000])


def _check_inputs(
    task: str,
    metrics: Mapping[str, float],
    feature_names: Sequence[str],
    input_example: pd.DataFrame,
) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if list(input_example.columns) != list(feature_names):
        raise ValueError(
            "input_example columns must be the feature names, in order: "
            f"missing {sorted(set(feature_names) - set(input_example.columns))}, "
            f"extra {sorted(set(input_example.columns) - set(feature_names))}"
        )
    bad = {key: value for key, value in metrics.items() if not math.isfinite(float(value))}
    if bad:
        raise ValueError(f"metrics must be finite numbers: {bad}")


def _abandon(client: MlflowClient, run_id: str, model_name: str, version: str | None) -> None:
    """After a failure: the run marked FAILED and a version registered without its tags deleted
    (best effort, the store may be what failed), so no half-registered version is left to serve."""
    with suppress(Exception):
        client.set_terminated(run_id, status="FAILED")
    if version is not None:
        with suppress(Exception):
            client.delete_model_version(model_name, version)


def log_training_run(
    *,
    tracking_uri: str,
    artifact_location: str,
    experiment: str,
    model_name: str,
    task: str,
    model: Any,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    feature_names: Sequence[str],
    lineage: Mapping[str, Any],
    figures: Mapping[str, Figure] | None,
    input_example: pd.DataFrame,
    eval_season: str,
    train_seasons: Sequence[str],
    tags: Mapping[str, str] | None = None,
    engine: Engine | None = None,
    actor: str = "training_flow",
    pip_requirements: Sequence[str] | None = None,
) -> RegisteredVersion:
    """Log one fitted model with its evidence as a run, and register it as a new version.

    The run gets ``params``, ``metrics`` (keys ``metric`` / ``metric.season``, see
    docs/CONTRACTS.md), the feature list (``features.json`` and a ``features`` tag), the lineage
    (``data.*`` params and ``lineage.json``) and ``figures`` as PNGs under ``figures/``. The
    model is saved with cloudpickle (skops refuses trees) with a signature, an input example and
    pinned requirements, then registered under ``model_name``; the version is tagged with
    ``task``, ``eval_season``, ``train_seasons`` and described. ``artifact_location`` is used
    only if ``experiment`` has to be created. With ``engine``, a ``register`` row is written
    to ``model_metadata``.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    _check_inputs(task, metrics, feature_names, input_example)
    if mlflow.active_run() is not None:
        raise RegistryError(
            "an MLflow run is already active in this thread; registry runs are not nested"
        )
    client = mlflow_client(tracking_uri)
    experiment_id = _experiment_id(client, experiment, artifact_location)
    features = list(feature_names)
    features_tag = ",".join(features)
    if len(features_tag) > _MAX_TAG:
        features_tag = features_tag[: _MAX_TAG - 40] + f"... ({len(features)} in features.json)"
    common_tags = {
        "task": task,
        "eval_season": eval_season,
        "train_seasons": ",".join(train_seasons),
        "features": features_tag,
    }
    run_tags = {**dict(tags or {}), **common_tags, "model_name": model_name}
    run = client.create_run(experiment_id, run_name=f"{model_name}-{eval_season}", tags=run_tags)
    run_id = run.info.run_id
    example = input_example.head(5)
    try:
        _log_values(
            client,
            run_id,
            {**flatten(params), **flatten(lineage, "data.")},
            metrics,
        )
        client.log_dict(run_id, {"features": features, "count": len(features)}, "features.json")
        client.log_dict(run_id, json.loads(json.dumps(lineage, default=str)), "lineage.json")
        for figure_name, figure in (figures or {}).items():
            client.log_figure(run_id, figure, f"figures/{figure_name}.png")
        # What the platform serves: P(home win) for a game model, points for a points model;
        # MLflow's generic loader (pyfunc, `mlflow models serve`) answers the same.
        predict_fn = "predict_proba" if task == "game" else "predict"
        signature = infer_signature(example, getattr(model, predict_fn)(example))
        with fluent_tracking(tracking_uri), mlflow.start_run(run_id=run_id):
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=model_name,
                signature=signature,
                input_example=example,
                pyfunc_predict_fn=predict_fn,
                pip_requirements=list(pip_requirements or pinned_requirements()),
                serialization_format="cloudpickle",
            )
    except BaseException:
        _abandon(client, run_id, model_name, None)
        raise
    version = str(info.registered_model_version)
    description = describe_version(model_name, task, train_seasons, eval_season, run_id)
    try:
        for key, value in {**dict(tags or {}), **common_tags}.items():
            client.set_model_version_tag(model_name, version, key, str(value)[:_MAX_TAG])
        client.update_model_version(model_name, version, description=description)
    except BaseException:
        _abandon(client, run_id, model_name, version)
        raise
    if engine is not None:
        record_action(
            engine,
            model_name=model_name,
            version=version,
            action="register",
            actor=actor,
            metrics=dict(metrics),
            reason=description,
        )
    return RegisteredVersion(
        name=model_name,
        version=version,
        run_id=run_id,
        model_uri=f"models:/{model_name}/{version}",
    )
