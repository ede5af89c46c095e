"""The model registry: the only package that talks to MLflow.

Log and register trained models, gate and promote them with the ``champion`` / ``challenger``
aliases, roll back, and read them for serving and the CLI. Every function takes the tracking
URI explicitly; nothing is configured at import, and ``mlflow`` is imported only when a function
that needs it runs (the names below are loaded on first access).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CHALLENGER": "registry.client",
    "CHAMPION": "registry.client",
    "RegistryError": "registry.client",
    "RegistryUnavailable": "registry.client",
    "check_tracking": "registry.client",
    "redact_uri": "registry.client",
    "fluent_tracking": "registry.client",
    "pinned_requirements": "registry.client",
    "RegisteredVersion": "registry.runs",
    "log_training_run": "registry.runs",
    "DEFAULT_POLICIES": "registry.gate",
    "METRIC_HIGHER_IS_BETTER": "registry.gate",
    "GateDecision": "registry.gate",
    "GatePolicy": "registry.gate",
    "evaluate_gate": "registry.gate",
    "gate_and_promote": "registry.promotion",
    "is_recorded_champion": "registry.promotion",
    "promote": "registry.promotion",
    "rollback": "registry.promotion",
    "ModelVersionInfo": "registry.versions",
    "get_champion": "registry.versions",
    "get_version": "registry.versions",
    "list_registered": "registry.versions",
    "load_local_model": "registry.versions",
    "load_model": "registry.versions",
    "mlflow_ui_command": "registry.ui",
    "mlflow_ui_env": "registry.ui",
}

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_POLICIES",
    "METRIC_HIGHER_IS_BETTER",
    "GateDecision",
    "GatePolicy",
    "ModelVersionInfo",
    "RegisteredVersion",
    "RegistryError",
    "RegistryUnavailable",
    "check_tracking",
    "evaluate_gate",
    "fluent_tracking",
    "gate_and_promote",
    "get_champion",
    "get_version",
    "is_recorded_champion",
    "list_registered",
    "load_local_model",
    "load_model",
    "log_training_run",
    "mlflow_ui_command",
    "mlflow_ui_env",
    "pinned_requirements",
    "promote",
    "redact_uri",
    "rollback",
]

if TYPE_CHECKING:
    from registry.client import (
        CHALLENGER,
        CHAMPION,
        RegistryError,
        RegistryUnavailable,
        check_tracking,
        fluent_tracking,
        pinned_requirements,
        redact_uri,
    )
    from registry.gate import (
        DEFAULT_POLICIES,
        METRIC_HIGHER_IS_BETTER,
        GateDecision,
        GatePolicy,
        evaluate_gate,
    )
    from registry.promotion import gate_and_promote, is_recorded_champion, promote, rollback
    from registry.runs import RegisteredVersion, log_training_run
    from registry.ui import mlflow_ui_command, mlflow_ui_env
    from registry.versions import (
        ModelVersionInfo,
        get_champion,
        get_version,
        list_registered,
        load_local_model,
        load_model,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'registry' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
