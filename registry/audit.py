"""The audit trail of registry actions in the application database (``model_metadata``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

ACTIONS = ("register", "promote", "refuse", "rollback")


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats turned into None, so it stores as JSON anywhere."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def record_action(
    engine: Engine,
    *,
    model_name: str,
    version: str,
    action: str,
    actor: str,
    alias: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Append one row to ``model_metadata`` in its own transaction."""
    from core.db import ModelMetadata, session_scope

    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: expected one of {ACTIONS}")
    with session_scope(engine) as session:
        session.add(
            ModelMetadata(
                model_name=model_name,
                version=str(version),
                action=action,
                alias=alias,
                actor=actor,
                metrics=json_safe(dict(metrics)) if metrics is not None else None,
                reason=reason,
            )
        )


def last_recorded_champion(engine: Engine, model_name: str) -> str | None:
    """The newest version the platform made champion (a promotion or a rollback recorded in
    ``model_metadata``), or None."""
    from sqlalchemy import select

    from core.db import ModelMetadata, session_scope

    with session_scope(engine) as session:
        return session.scalar(
            select(ModelMetadata.version)
            .where(
                ModelMetadata.model_name == model_name,
                ModelMetadata.action.in_(("promote", "rollback")),
            )
            .order_by(ModelMetadata.id.desc())
            .limit(1)
        )
