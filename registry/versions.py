"""Reading the registry: versions, the champion, loaded models, a summary of every model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.client import CHAMPION, RegistryError, fluent_tracking, is_missing, mlflow_client

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

# A points version's interval, as JSON (written by the training flow, read by the service).
POINTS_INTERVAL_TAG = "points_interval"


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version with its run's metrics and params."""

    name: str
    version: str
    run_id: str | None
    source: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    created_at: datetime | None = None

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def task(self) -> str | None:
        return self.tags.get("task")

    @property
    def eval_season(self) -> str | None:
        return self.tags.get("eval_season")

    @property
    def train_seasons(self) -> list[str]:
        raw = self.tags.get("train_seasons", "")
        return [season for season in raw.split(",") if season]

    @property
    def fit_through(self) -> pd.Timestamp | None:
        """The newest day the version was fit on (its ``fit_through`` tag); None when untagged
        or unreadable."""
        import pandas as pd

        from registry.gate import FIT_THROUGH_TAG

        raw = self.tags.get(FIT_THROUGH_TAG) if self.tags else None
        try:
            return pd.Timestamp(raw) if raw else None
        except ValueError:
            return None

    @property
    def feature_names(self) -> list[str]:
        raw = self.tags.get("features", "")
        return [name for name in raw.split(",") if name]

    @property
    def points_interval(self) -> str | None:
        """A points version's interval (``evaluation.intervals.PointsInterval`` as JSON, its
        ``points_interval`` tag); None when untagged."""
        return self.tags.get(POINTS_INTERVAL_TAG) if self.tags else None

    def summary_metrics(self) -> dict[str, float]:
        """The plain metrics (the evaluation season's), without the ``metric.season`` copies."""
        return {key: value for key, value in self.metrics.items() if "." not in key}


def _timestamp(millis: int | None) -> datetime | None:
    return datetime.fromtimestamp(millis / 1000, tz=UTC) if millis else None


def version_info(client: MlflowClient, model_version: ModelVersion) -> ModelVersionInfo:
    """A :class:`ModelVersionInfo` from an MLflow ``ModelVersion`` (one extra call for the run)."""
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    if model_version.run_id:
        try:
            run = client.get_run(model_version.run_id)
        except Exception as exc:  # the run may have been deleted from the tracking store
            if not is_missing(exc):
                raise
        else:
            metrics = dict(run.data.metrics)
            params = dict(run.data.params)
    return ModelVersionInfo(
        name=model_version.name,
        version=str(model_version.version),
        run_id=model_version.run_id,
        source=model_version.source,
        aliases=tuple(model_version.aliases or ()),
        tags=dict(model_version.tags or {}),
        metrics=metrics,
        params=params,
        description=model_version.description or None,
        created_at=_timestamp(model_version.creation_timestamp),
    )


def resolve_version(client: MlflowClient, name: str, alias_or_version: str | int) -> str:
    """The version number an alias (``champion``) or a version (``3``, ``"3"``) stands for."""
    ref = str(alias_or_version)
    if ref.isdigit():
        return ref
    try:
        aliases = client.get_registered_model(name).aliases
    except Exception as exc:
        if is_missing(exc):
            raise RegistryError(f"no registered model named {name!r}") from exc
        raise
    if ref not in aliases:
        raise RegistryError(f"model {name!r} has no alias {ref!r} (aliases: {dict(aliases)})")
    return str(aliases[ref])


def get_version(tracking_uri: str, name: str, alias_or_version: str | int) -> ModelVersionInfo:
    """One version of ``name`` by alias or number; :class:`RegistryError` when there is none."""
    client = mlflow_client(tracking_uri)
    version = resolve_version(client, name, alias_or_version)
    try:
        model_version = client.get_model_version(name, version)
    except Exception as exc:
        if is_missing(exc):
            raise RegistryError(f"model {name!r} has no version {version}") from exc
        raise
    return version_info(client, model_version)


def get_champion(tracking_uri: str, name: str) -> ModelVersionInfo | None:
    """The version the ``champion`` alias points to, or None (no such model, or no champion)."""
    client = mlflow_client(tracking_uri)
    try:
        aliases = client.get_registered_model(name).aliases
    except Exception as exc:
        if is_missing(exc):
            return None
        raise
    if CHAMPION not in aliases:
        return None
    return version_info(client, client.get_model_version(name, str(aliases[CHAMPION])))


def load_model(
    tracking_uri: str,
    name: str,
    alias_or_version: str | int = CHAMPION,
    dst_path: str | Path | None = None,
) -> tuple[Any, ModelVersionInfo]:
    """The scikit-learn model (``predict_proba`` kept) of one version, and that version's info.

    The alias is resolved once, so the model and the info are always of the same version even
    if the alias moves meanwhile. With ``dst_path`` (an existing, empty folder) the model's files
    are downloaded there and loaded from there, so they can be kept (:func:`load_local_model`).
    """
    import mlflow.sklearn

    # MLflow draws a progress bar per download; in a log (the service's, a flow's) it is a line
    # of carriage returns per model. Off unless the environment asks for it.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    info = get_version(tracking_uri, name, alias_or_version)
    with fluent_tracking(tracking_uri):
        model = mlflow.sklearn.load_model(
            info.model_uri, dst_path=str(dst_path) if dst_path is not None else None
        )
    return model, info


def load_local_model(path: str | Path) -> Any:
    """A model saved by :func:`load_model` with ``dst_path``: the folder holding ``MLmodel``
    (found below ``path``), read without the tracking store."""
    import mlflow.sklearn

    root = Path(path)
    found = sorted(root.rglob("MLmodel"), key=lambda p: len(p.parts))
    if not found:
        raise RegistryError(f"no MLflow model under {root}")
    return mlflow.sklearn.load_model(str(found[0].parent))


def _model_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    escaped = name.replace("'", "\\'")
    versions = []
    page_token = None
    while True:
        page = client.search_model_versions(f"name = '{escaped}'", page_token=page_token)
        versions.extend(page)
        page_token = page.token
        if not page_token:
            break
    return sorted(versions, key=lambda version: int(version.version), reverse=True)


def list_registered(tracking_uri: str) -> list[dict[str, Any]]:
    """Every registered model with its aliases and versions (newest first), for the CLI and UI.

    Each version carries its task, seasons, plain metrics, gate decision and training date.
    """
    client = mlflow_client(tracking_uri)
    models = []
    page_token = None
    while True:
        page = client.search_registered_models(order_by=["name ASC"], page_token=page_token)
        models.extend(page)
        page_token = page.token
        if not page_token:
            break
    summary = []
    for registered in models:
        aliases = {alias: str(version) for alias, version in registered.aliases.items()}
        # search_model_versions leaves aliases empty: take them from the registered model.
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        versions = []
        for model_version in _model_versions(client, registered.name):
            info = version_info(client, model_version)
            versions.append(
                {
                    "version": info.version,
                    "aliases": sorted(set(info.aliases) | set(by_version.get(info.version, []))),
                    "run_id": info.run_id,
                    "task": info.task,
                    "eval_season": info.eval_season,
                    "train_seasons": info.train_seasons,
                    "metrics": info.summary_metrics(),
                    "gate_decision": info.tags.get("gate_decision"),
                    "trained_at": info.created_at.isoformat() if info.created_at else None,
                }
            )
        summary.append(
            {
                "name": registered.name,
                "description": registered.description or None,
                "aliases": aliases,
                "champion": aliases.get(CHAMPION),
                "latest_version": versions[0]["version"] if versions else None,
                "versions": versions,
            }
        )
    return summary
