"""Moving the ``champion`` alias: through the gate, by hand, or back (rollback).

Every move is written as model-version tags in MLflow (visible in its UI) and, when an engine is
given, as a row of ``model_metadata``. The version a champion replaced is kept in its
``previous_champion`` tag: that is what :func:`rollback` goes back to, unless the alias was moved
outside the platform since its last recorded move (then it goes back to that recorded champion).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from registry.audit import last_recorded_champion, record_action
from registry.client import CHALLENGER, CHAMPION, RegistryError, mlflow_client
from registry.gate import GateDecision, GatePolicy, decide, policy_for
from registry.versions import ModelVersionInfo, get_champion, get_version

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from sqlalchemy import Engine

PREVIOUS_CHAMPION_TAG = "previous_champion"
_MAX_TAG = 5000  # MLflow allows 8000 characters in a tag value
# What a registered model predicts, from its name (docs/CONTRACTS.md): a champion must match.
NAME_TASKS = {"game-": "game", "player-": "points"}


def task_of_name(name: str) -> str | None:
    """The task a model of that name serves (``game-*``: game, ``player-*``: points), or None."""
    return next((task for prefix, task in NAME_TASKS.items() if name.startswith(prefix)), None)


def signature_task(tracking_uri: str, candidate: ModelVersionInfo) -> str | None:
    """The task the version's saved signature answers: two probability columns for a game
    model, one number a row for points; None without a signature."""
    import mlflow.models

    from registry.client import fluent_tracking

    with fluent_tracking(tracking_uri):
        signature = mlflow.models.get_model_info(candidate.model_uri).signature
    if signature is None or signature.outputs is None:
        return None
    shapes = [spec.get("tensor-spec", {}).get("shape") for spec in signature.outputs.to_dict()]
    if shapes == [(-1, 2)]:
        return "game"
    if shapes == [(-1,)]:
        return "points"
    return None


def check_task(tracking_uri: str, candidate: ModelVersionInfo) -> None:
    """Raise :class:`RegistryError` when the version predicts another task than its model's
    name says (its ``task`` tag, or else its signature): such a version is never champion or
    challenger, not even by force."""
    expected = task_of_name(candidate.name)
    if expected is None:
        return
    found, evidence = candidate.task, "task tag"
    if found is None:
        found, evidence = signature_task(tracking_uri, candidate), "signature"
    if found is not None and found != expected:
        raise RegistryError(
            f"{candidate.name} v{candidate.version} is a {found} model (its {evidence}); "
            f"{candidate.name} serves {expected} predictions, so it cannot be promoted"
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _set_tags(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value)[:_MAX_TAG])


def _crown(
    client: MlflowClient,
    name: str,
    version: str,
    previous: ModelVersionInfo | None,
    *,
    action: str,
    actor: str,
    reason: str,
) -> None:
    """Point ``champion`` at ``version``; remember the version it replaces (unless a rollback)."""
    tags = {
        "champion_action": action,
        "champion_actor": actor,
        "champion_reason": reason,
        "champion_since": _now(),
    }
    if action != "rollback" and previous is not None and previous.version != version:
        tags[PREVIOUS_CHAMPION_TAG] = previous.version
    _set_tags(client, name, version, tags)
    client.set_registered_model_alias(name, CHAMPION, version)


@contextmanager
def aliases_kept_on_failure(client: MlflowClient, name: str) -> Iterator[None]:
    """Put ``champion`` and ``challenger`` back where they were if the block fails (a lost
    store, a refused audit row): a registration that fails half way moves no alias."""
    before = dict(client.get_registered_model(name).aliases)
    try:
        yield
    except BaseException:
        for alias in (CHAMPION, CHALLENGER):
            with suppress(Exception):  # best effort: the store may be the thing that failed
                if alias in before:
                    client.set_registered_model_alias(name, alias, str(before[alias]))
                else:
                    client.delete_registered_model_alias(name, alias)
        raise


def gate_and_promote(
    tracking_uri: str,
    name: str,
    version: str | int,
    policy: GatePolicy | None = None,
    *,
    engine: Engine | None = None,
    actor: str = "training_flow",
) -> GateDecision:
    """Make ``version`` the challenger, then the champion if it passes the gate.

    ``policy`` defaults to ``DEFAULT_POLICIES[task]``. The decision is tagged on the version
    (``gate_decision``, ``gate_reason``, ``gate_season``, ``gate_basis``: ``season`` or
    ``window``, ``gate_window``: the in-season window's days) and recorded in ``model_metadata``
    (action ``promote`` or ``refuse``) when ``engine`` is given. A refused version leaves the
    champion as it was.
    """
    client = mlflow_client(tracking_uri)
    candidate = get_version(tracking_uri, name, version)
    check_task(tracking_uri, candidate)
    champion = get_champion(tracking_uri, name)
    decision = decide(candidate, champion, policy_for(candidate, policy))
    if champion is not None and champion.version == candidate.version:
        return decision  # nothing to move, nothing to record

    with aliases_kept_on_failure(client, name):
        client.set_registered_model_alias(name, CHALLENGER, candidate.version)
        _set_tags(
            client,
            name,
            candidate.version,
            {
                "gate_decision": "promote" if decision.promote else "refuse",
                "gate_reason": decision.reason,
                "gate_season": decision.season,
                "gate_basis": decision.basis,
                "gate_window": decision.window,
                "gate_champion_version": decision.champion_version or "",
                "gate_time": _now(),
            },
        )
        if decision.promote:
            _crown(
                client,
                name,
                candidate.version,
                champion,
                action="gate",
                actor=actor,
                reason=decision.reason,
            )
        if engine is not None:
            reason = decision.reason
            if decision.promote and champion is not None:
                reason = f"{reason}; previous champion v{champion.version}"
            record_action(
                engine,
                model_name=name,
                version=candidate.version,
                action="promote" if decision.promote else "refuse",
                alias=CHAMPION if decision.promote else CHALLENGER,
                actor=actor,
                metrics=decision.as_record(),
                reason=reason,
            )
    return decision


def is_recorded_champion(champion: ModelVersionInfo | None, engine: Engine | None) -> bool:
    """Whether ``champion`` (the version the alias points to) is the champion as the platform
    recorded it: always without ``engine``; with it, the last promotion or rollback in
    ``model_metadata`` is of that version. A forced promotion of it then changes nothing."""
    if champion is None:
        return False
    return engine is None or last_recorded_champion(engine, champion.name) == champion.version


def promote(
    tracking_uri: str,
    name: str,
    version: str | int,
    *,
    actor: str,
    reason: str,
    engine: Engine | None = None,
) -> str:
    """Make ``version`` the champion by a person's decision, without the gate.

    The replaced champion is remembered for :func:`rollback`. Returns the new champion version.
    A version that is champion already is left as it is, unless (with ``engine``) the alias was
    put on it outside the platform, the MLflow UI, since the last recorded move: then the
    promotion is recorded now, with ``reason``, and rollback returns to the last recorded one.
    """
    if not reason.strip():
        raise ValueError("a manual promotion needs a reason")
    client = mlflow_client(tracking_uri)
    candidate = get_version(tracking_uri, name, version)
    check_task(tracking_uri, candidate)
    champion = get_champion(tracking_uri, name)
    if champion is not None and champion.version == candidate.version:
        if is_recorded_champion(champion, engine):
            return candidate.version
        recorded = last_recorded_champion(engine, name)
        champion = None  # the alias was moved outside the platform: it replaced ``recorded``
        if recorded is not None:
            with suppress(RegistryError):
                champion = get_version(tracking_uri, name, recorded)
    _crown(client, name, candidate.version, champion, action="manual", actor=actor, reason=reason)
    if engine is not None:
        previous = f"; previous champion v{champion.version}" if champion else ""
        record_action(
            engine,
            model_name=name,
            version=candidate.version,
            action="promote",
            alias=CHAMPION,
            actor=actor,
            metrics=candidate.summary_metrics(),
            reason=f"manual: {reason}{previous}",
        )
    return candidate.version


def rollback(
    tracking_uri: str,
    name: str,
    *,
    actor: str,
    reason: str = "rollback",
    engine: Engine | None = None,
) -> str:
    """Move ``champion`` back to the version it replaced; returns that version.

    With ``engine``, a champion other than the last one recorded in ``model_metadata`` was put
    there outside the platform (the MLflow UI): rollback returns to that recorded champion.
    Otherwise the predecessor is the champion's ``previous_champion`` tag. Raises
    :class:`RegistryError` when there is no champion or no predecessor. Rolling back again goes
    one step further back.
    """
    client = mlflow_client(tracking_uri)
    current = get_champion(tracking_uri, name)
    if current is None:
        raise RegistryError(f"model {name!r} has no champion to roll back")
    recorded = last_recorded_champion(engine, name) if engine is not None else None
    if recorded is not None and recorded != current.version:
        # The alias was moved outside the platform (the MLflow UI): the version's own tags, if
        # any, are from an older crowning; back to the last champion the platform recorded.
        previous_version = recorded
    else:
        previous_version = current.tags.get(PREVIOUS_CHAMPION_TAG)
    if not previous_version:
        raise RegistryError(
            f"cannot roll back {name!r}: champion v{current.version} has no previous champion "
            f"recorded (tag {PREVIOUS_CHAMPION_TAG!r}); promote a version by hand instead"
        )
    try:
        previous = get_version(tracking_uri, name, previous_version)
    except RegistryError as exc:
        raise RegistryError(
            f"cannot roll back {name!r} to v{previous_version}: that version no longer exists"
        ) from exc
    _set_tags(
        client,
        name,
        current.version,
        {"rolled_back_by": actor, "rolled_back_reason": reason, "rolled_back_at": _now()},
    )
    text = f"rollback from v{current.version}: {reason}"
    _crown(client, name, previous.version, None, action="rollback", actor=actor, reason=text)
    if engine is not None:
        record_action(
            engine,
            model_name=name,
            version=previous.version,
            action="rollback",
            alias=CHAMPION,
            actor=actor,
            metrics=previous.summary_metrics(),
            reason=text,
        )
    return previous.version
