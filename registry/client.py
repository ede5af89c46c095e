"""The MLflow connection: a client per call, the fluent API only inside a scope that restores.

Nothing here runs at import time; ``mlflow`` itself is imported inside the functions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION = "champion"
CHALLENGER = "challenger"

# Packages pinned into a logged model's requirements (MLflow would otherwise spend 10-18 s
# inferring them in a subprocess).
MODEL_PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")

_ENV_KEYS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# The fluent API's URIs are process-wide: two threads must not swap them under each other.
_FLUENT_LOCK = threading.RLock()


class RegistryError(RuntimeError):
    """A registry operation that cannot be done as asked (no champion, nothing to roll back...)."""


def mlflow_client(tracking_uri: str) -> MlflowClient:
    """A client bound to ``tracking_uri`` for tracking and the model registry alike."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextmanager
def fluent_tracking(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (tracking and registry) at ``tracking_uri`` for the block.

    On exit the previous module state and the ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``
    environment variables are restored exactly (MLflow's own ``set_tracking_uri(None)`` would
    delete an environment variable it did not set).
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with _FLUENT_LOCK:
        saved_env = {key: os.environ.get(key) for key in _ENV_KEYS}
        saved_tracking = tracking_utils._tracking_uri
        saved_registry = registry_utils._registry_uri
        try:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
            yield
        finally:
            mlflow.set_tracking_uri(saved_tracking)
            registry_utils._registry_uri = saved_registry
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def pinned_requirements(packages: tuple[str, ...] = MODEL_PACKAGES) -> list[str]:
    """``name==version`` for each installed package of ``packages`` (missing ones are skipped)."""
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def is_missing(exc: Exception) -> bool:
    """Whether an MLflow error says the thing asked for does not exist."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"
