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

from core.settings import redact_uri

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


class RegistryUnavailable(ConnectionError):
    """The MLflow tracking store cannot be reached (server down, database down)."""


# Seconds to wait for the tracking store before calling it unreachable.
CHECK_TIMEOUT = 3.0
_SQL_SCHEMES = ("postgresql", "mysql", "mssql")


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_tracking(tracking_uri: str, timeout: float = CHECK_TIMEOUT) -> None:
    """Raise :class:`RegistryUnavailable` unless the tracking store answers within ``timeout``.

    An ``http(s)://`` server must answer its ``/health`` route; a ``postgresql://`` (or other
    SQL server) store must accept a connection. A local store (``sqlite:///``, a folder) is
    always reachable. Without this check an MLflow client retries a dead server for minutes.
    """
    scheme = tracking_uri.split(":", 1)[0].lower()
    shown = redact_uri(tracking_uri)
    if scheme in ("http", "https"):
        import requests

        url = tracking_uri.rstrip("/") + "/health"
        try:
            response = requests.get(url, timeout=timeout)
        except requests.RequestException as exc:
            raise RegistryUnavailable(
                f"MLflow tracking server {shown} is unreachable ({_first_line(exc)})"
            ) from exc
        if response.status_code != 200:
            raise RegistryUnavailable(
                f"MLflow tracking server {shown} is not healthy (HTTP {response.status_code})"
            )
        return
    if scheme.split("+", 1)[0] in _SQL_SCHEMES:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import NullPool

        seconds = max(1, round(timeout))
        args = {"connect_timeout": seconds} if not scheme.startswith("mssql") else {}
        engine = create_engine(tracking_uri, connect_args=args, poolclass=NullPool)
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            cause = exc.orig if getattr(exc, "orig", None) is not None else exc
            raise RegistryUnavailable(
                f"MLflow tracking database {shown} is unreachable ({_first_line(cause)})"
            ) from exc
        finally:
            engine.dispose()


def mlflow_client(tracking_uri: str) -> MlflowClient:
    """A client bound to ``tracking_uri`` for tracking and the model registry alike, once the
    store answers (:class:`RegistryUnavailable` in seconds otherwise, see :func:`check_tracking`)."""
    from mlflow import MlflowClient

    check_tracking(tracking_uri)
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
