"""Gate, promotion, rollback and the audit trail on a real MLflow store."""

from __future__ import annotations

import pytest

from registry import (
    DEFAULT_POLICIES,
    GatePolicy,
    RegistryError,
    evaluate_gate,
    gate_and_promote,
    get_champion,
    get_version,
    load_model,
    promote,
    rollback,
)

NAME = "game-logistic"


def _client(store):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store.tracking_uri)


def _audit(engine) -> list[tuple]:
    from sqlalchemy import select

    from core.db import ModelMetadata, session_scope

    with session_scope(engine) as session:
        rows = session.scalars(select(ModelMetadata).order_by(ModelMetadata.id)).all()
    return [(row.version, row.action, row.alias, row.actor) for row in rows]


def test_first_version_becomes_champion(store, register, game_metrics):
    register(game_metrics(log_loss=0.65))

    decision = gate_and_promote(store.tracking_uri, NAME, "1")

    assert decision.promote is True
    assert decision.reason == "no champion yet"
    champion = get_champion(store.tracking_uri, NAME)
    assert champion.version == "1"
    assert set(champion.aliases) == {"champion", "challenger"}
    assert champion.tags["gate_decision"] == "promote"
    assert champion.tags["gate_season"] == "2023-24"
    assert "previous_champion" not in champion.tags


def test_better_challenger_is_promoted_and_previous_recorded(store, register, game_metrics):
    register(game_metrics(log_loss=0.65))
    gate_and_promote(store.tracking_uri, NAME, "1")
    register(game_metrics(log_loss=0.63))

    decision = gate_and_promote(store.tracking_uri, NAME, "2")

    assert decision.promote is True
    assert decision.season == "2023-24"
    assert decision.champion_version == "1"
    assert decision.challenger["log_loss"] == pytest.approx(0.63)
    assert decision.champion["log_loss"] == pytest.approx(0.65)
    champion = get_champion(store.tracking_uri, NAME)
    assert champion.version == "2"
    assert champion.tags["previous_champion"] == "1"
    assert champion.tags["gate_decision"] == "promote"
    assert "0.6500 -> 0.6300" in champion.tags["gate_reason"]
    assert str(_client(store).get_model_version_by_alias(NAME, "challenger").version) == "2"


@pytest.mark.parametrize(
    ("challenger_values", "reason_part"),
    [
        ({"log_loss": 0.67}, "not better"),
        ({"log_loss": 0.6495}, "below margin"),  # better, but by less than the 0.001 margin
        ({"log_loss": 0.63, "brier": 0.24}, "brier"),  # primary better, brier worse by 0.01
        ({"log_loss": 0.63, "accuracy": 0.58}, "accuracy"),  # accuracy dropped by 0.04
    ],
)
def test_challenger_not_good_enough_is_refused(
    store, register, game_metrics, challenger_values, reason_part
):
    register(game_metrics(log_loss=0.65))
    gate_and_promote(store.tracking_uri, NAME, "1")
    register(game_metrics(**challenger_values))

    decision = gate_and_promote(store.tracking_uri, NAME, "2")

    assert decision.promote is False
    assert reason_part in decision.reason
    assert get_champion(store.tracking_uri, NAME).version == "1"
    refused = get_version(store.tracking_uri, NAME, "2")
    assert refused.aliases == ("challenger",)
    assert refused.tags["gate_decision"] == "refuse"
    assert reason_part in refused.tags["gate_reason"]
    assert refused.tags["gate_season"] == "2023-24"


def test_metrics_are_compared_on_the_same_season(store, register, game_metrics):
    # v1 was evaluated on 2023-24 (and 2022-23). v2 is evaluated on 2024-25, where it looks far
    # better, but on 2023-24, the latest season both have, it is worse: it must be refused.
    register({**game_metrics("2023-24", log_loss=0.66), "log_loss.2022-23": 0.70})
    gate_and_promote(store.tracking_uri, NAME, "1")
    register(
        {
            **game_metrics("2023-24", log_loss=0.67),
            **game_metrics("2024-25", log_loss=0.55),  # last: its plain keys are 2024-25's
            "log_loss.2022-23": 0.60,
            "baseline.baseline-elo.log_loss": 0.50,
        },
        eval_season="2024-25",
        train_seasons=("2022-23", "2023-24"),
    )

    decision = evaluate_gate(store.tracking_uri, NAME, "2")

    assert decision.promote is False
    assert decision.season == "2023-24"
    assert decision.challenger["log_loss"] == pytest.approx(0.67)
    assert decision.champion["log_loss"] == pytest.approx(0.66)
    assert get_version(store.tracking_uri, NAME, "2").metrics["log_loss"] == pytest.approx(0.55)
    # evaluate_gate only reads: no alias, no tag
    assert get_version(store.tracking_uri, NAME, "2").aliases == ()


def test_the_candidates_eval_season_is_preferred(store, register, game_metrics):
    # Both have 2022-23 and 2023-24; the candidate is worse on 2022-23 but better on its own
    # evaluation season 2023-24, the one the gate must use.
    register({**game_metrics("2023-24", log_loss=0.66), "log_loss.2022-23": 0.60})
    gate_and_promote(store.tracking_uri, NAME, "1")
    register({**game_metrics("2023-24", log_loss=0.64), "log_loss.2022-23": 0.70})

    decision = gate_and_promote(store.tracking_uri, NAME, "2")

    assert decision.season == "2023-24"
    assert decision.promote is True


def test_custom_policy_is_used(store, register, game_metrics):
    register(game_metrics(log_loss=0.65))
    gate_and_promote(store.tracking_uri, NAME, "1")
    register(game_metrics(log_loss=0.64))

    strict = GatePolicy("log_loss", margin=0.05)
    decision = gate_and_promote(store.tracking_uri, NAME, "2", strict)

    assert decision.promote is False
    assert "below margin" in decision.reason


def test_rollback_restores_previous_champion(store, register, game_metrics):
    for value in (0.65, 0.63, 0.61):
        version = register(game_metrics(log_loss=value)).version
        assert gate_and_promote(store.tracking_uri, NAME, version).promote

    assert rollback(store.tracking_uri, NAME, actor="alice") == "2"
    assert get_champion(store.tracking_uri, NAME).version == "2"
    model, info = load_model(store.tracking_uri, NAME, "champion")
    assert info.version == "2"
    assert hasattr(model, "predict_proba")
    demoted = get_version(store.tracking_uri, NAME, "3")
    assert demoted.tags["rolled_back_by"] == "alice"
    assert "champion" not in demoted.aliases

    assert rollback(store.tracking_uri, NAME, actor="alice") == "1"
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(store.tracking_uri, NAME, actor="alice")
    assert get_champion(store.tracking_uri, NAME).version == "1"


def test_rollback_without_champion_is_an_error(store, register, game_metrics):
    register(game_metrics())
    with pytest.raises(RegistryError, match="no champion"):
        rollback(store.tracking_uri, NAME, actor="alice")


def test_manual_promotion_then_rollback(store, register, game_metrics):
    register(game_metrics(log_loss=0.65))
    gate_and_promote(store.tracking_uri, NAME, "1")
    register(game_metrics(log_loss=0.70))
    assert not gate_and_promote(store.tracking_uri, NAME, "2").promote

    with pytest.raises(ValueError, match="reason"):
        promote(store.tracking_uri, NAME, "2", actor="bob", reason=" ")
    assert promote(store.tracking_uri, NAME, "2", actor="bob", reason="hotfix") == "2"

    champion = get_champion(store.tracking_uri, NAME)
    assert champion.version == "2"
    assert champion.tags["previous_champion"] == "1"
    assert champion.tags["champion_actor"] == "bob"
    assert champion.tags["champion_reason"] == "hotfix"
    assert rollback(store.tracking_uri, NAME, actor="bob") == "1"
    assert get_champion(store.tracking_uri, NAME).version == "1"


def test_alias_set_by_hand_is_the_champion(store, register, game_metrics):
    register(game_metrics(log_loss=0.65))
    register(game_metrics(log_loss=0.66))
    gate_and_promote(store.tracking_uri, NAME, "1")

    # what the MLflow UI does when someone moves the alias
    _client(store).set_registered_model_alias(NAME, "champion", "2")

    champion = get_champion(store.tracking_uri, NAME)
    assert champion.version == "2"
    assert champion.metrics["log_loss"] == pytest.approx(0.66)
    _, info = load_model(store.tracking_uri, NAME, "champion")
    assert info.version == "2"


def test_rollback_after_a_promotion_in_the_mlflow_ui(store, register, game_metrics, app_engine):
    """The alias moved by hand in the UI carries no platform record: rollback goes back to the
    last champion the platform recorded, and says so in model_metadata."""
    register(game_metrics(log_loss=0.65), engine=app_engine)
    gate_and_promote(store.tracking_uri, NAME, "1", engine=app_engine)
    register(game_metrics(log_loss=0.66), engine=app_engine)
    register(game_metrics(log_loss=0.67), engine=app_engine)
    _client(store).set_registered_model_alias(NAME, "champion", "3")  # the UI's move

    assert rollback(store.tracking_uri, NAME, actor="alice", engine=app_engine) == "1"
    assert get_champion(store.tracking_uri, NAME).version == "1"
    assert _audit(app_engine)[-1] == ("1", "rollback", "champion", "alice")
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(store.tracking_uri, NAME, actor="alice")  # without the audit trail: no guess


def test_a_forced_promotion_records_a_champion_the_ui_crowned(
    store, register, game_metrics, app_engine
):
    """Forcing the version the UI made champion records that move, with its reason and the
    champion it replaced; forcing it again, or without the audit trail, changes nothing."""
    register(game_metrics(log_loss=0.65), engine=app_engine)
    gate_and_promote(store.tracking_uri, NAME, "1", engine=app_engine)
    register(game_metrics(log_loss=0.66), engine=app_engine)
    _client(store).set_registered_model_alias(NAME, "champion", "2")  # the UI's move
    assert promote(store.tracking_uri, NAME, "2", actor="bob", reason="x") == "2"
    assert len(_audit(app_engine)) == 3  # without the engine nothing is recorded

    assert promote(store.tracking_uri, NAME, "2", actor="bob", reason="ui", engine=app_engine)
    assert _audit(app_engine)[-1] == ("2", "promote", "champion", "bob")
    champion = get_champion(store.tracking_uri, NAME)
    assert (champion.tags["champion_reason"], champion.tags["previous_champion"]) == ("ui", "1")
    promote(store.tracking_uri, NAME, "2", actor="bob", reason="again", engine=app_engine)
    assert len(_audit(app_engine)) == 4
    assert rollback(store.tracking_uri, NAME, actor="bob", engine=app_engine) == "1"


@pytest.mark.parametrize("moved_to", ["2", "4"], ids=["once-crowned", "never-crowned"])
def test_rollback_after_the_ui_moved_the_champion_off_the_recorded_one(
    store, register, game_metrics, app_engine, moved_to
):
    """A version crowned by the platform earlier still carries that crowning's tags: rollback
    after the UI moved the alias to it goes back to the champion the UI replaced (the last
    one recorded), not to the version's old predecessor."""
    for value in (0.65, 0.66, 0.67, 0.68):
        register(game_metrics(log_loss=value), engine=app_engine)
    gate_and_promote(store.tracking_uri, NAME, "1", engine=app_engine)
    promote(store.tracking_uri, NAME, "2", actor="bob", reason="a", engine=app_engine)
    promote(store.tracking_uri, NAME, "3", actor="bob", reason="b", engine=app_engine)
    _client(store).set_registered_model_alias(NAME, "champion", moved_to)  # the UI's move

    assert rollback(store.tracking_uri, NAME, actor="alice", engine=app_engine) == "3"
    assert get_champion(store.tracking_uri, NAME).version == "3"
    assert _audit(app_engine)[-1] == ("3", "rollback", "champion", "alice")
    assert get_version(store.tracking_uri, NAME, moved_to).tags["rolled_back_by"] == "alice"
    # the platform's own record again: the next rollback follows the tags as before
    assert rollback(store.tracking_uri, NAME, actor="alice", engine=app_engine) == "2"


def test_every_action_is_recorded_in_model_metadata(store, register, game_metrics, app_engine):
    from sqlalchemy import select

    from core.db import ModelMetadata, session_scope

    register(game_metrics(log_loss=0.65), engine=app_engine)
    gate_and_promote(store.tracking_uri, NAME, "1", engine=app_engine)
    register(game_metrics(log_loss=0.63), engine=app_engine)
    gate_and_promote(store.tracking_uri, NAME, "2", engine=app_engine)
    register(game_metrics(log_loss=0.70), engine=app_engine)
    gate_and_promote(store.tracking_uri, NAME, "3", engine=app_engine, actor="nightly")
    rollback(store.tracking_uri, NAME, actor="alice", reason="bad picks", engine=app_engine)
    promote(store.tracking_uri, NAME, "3", actor="bob", reason="trial", engine=app_engine)

    assert _audit(app_engine) == [
        ("1", "register", None, "training_flow"),
        ("1", "promote", "champion", "training_flow"),
        ("2", "register", None, "training_flow"),
        ("2", "promote", "champion", "training_flow"),
        ("3", "register", None, "training_flow"),
        ("3", "refuse", "challenger", "nightly"),
        ("1", "rollback", "champion", "alice"),
        ("3", "promote", "champion", "bob"),
    ]
    with session_scope(app_engine) as session:
        rows = session.scalars(select(ModelMetadata).order_by(ModelMetadata.id)).all()
    promoted, refused, rolled_back = rows[3], rows[5], rows[6]
    assert promoted.metrics["season"] == "2023-24"
    assert promoted.metrics["challenger"]["log_loss"] == pytest.approx(0.63)
    assert promoted.metrics["champion"]["log_loss"] == pytest.approx(0.65)
    assert "previous champion v1" in promoted.reason
    assert refused.metrics["challenger"]["log_loss"] == pytest.approx(0.70)
    assert "not better" in refused.reason
    assert "bad picks" in rolled_back.reason
    assert get_champion(store.tracking_uri, NAME).version == "3"


@pytest.mark.parametrize(("window_log_loss", "promoted"), [(0.60, True), (0.66, False)])
def test_the_gate_judges_an_in_season_challenger_on_its_window(
    store, register, game_metrics, app_engine, window_log_loss, promoted
):
    """Champion and challenger have the same season score (same walk-forward); the window
    scores (challenger fit before it, champion as served) decide, and say so."""
    from sqlalchemy import select

    from core.db import ModelMetadata, session_scope

    register(game_metrics(log_loss=0.65), engine=app_engine)
    gate_and_promote(store.tracking_uri, NAME, "1", engine=app_engine)
    window = {"window.log_loss": window_log_loss, "window.champion.log_loss": 0.63}
    tags = {
        "eval_window": "2024-01-02..2024-01-29",
        "eval_window_champion_version": "1",
        "eval_window_fit_through": "2024-01-01",
        "eval_window_games": "196",
        "fit_through": "2024-01-29",
    }
    register({**game_metrics(log_loss=0.65), **window}, engine=app_engine, tags=tags)

    decision = gate_and_promote(store.tracking_uri, NAME, "2", engine=app_engine)

    assert decision.promote is promoted and decision.basis == "window"
    assert get_champion(store.tracking_uri, NAME).version == ("2" if promoted else "1")
    version = get_version(store.tracking_uri, NAME, "2")
    assert version.tags["gate_basis"] == "window"
    assert version.tags["gate_window"] == "2024-01-02..2024-01-29"
    with session_scope(app_engine) as session:
        row = session.scalars(
            select(ModelMetadata).where(
                ModelMetadata.version == "2", ModelMetadata.action != "register"
            )
        ).one()
    assert row.action == ("promote" if promoted else "refuse")
    assert "in-season window 2024-01-02..2024-01-29, 196 games" in row.reason
    assert row.metrics["basis"] == "window"
    assert row.metrics["champion"]["log_loss"] == pytest.approx(0.63)


@pytest.mark.parametrize("evidence", ["task tag", "signature"])
def test_a_version_of_the_other_task_is_never_promoted_not_even_by_force(
    store, register, game_metrics, evidence
):
    """A game model registered under a points model's name is refused by the gate and by
    force, and moves no alias; without a task tag (registered by hand) its signature tells."""
    register(game_metrics(log_loss=0.65), name="player-ridge")
    if evidence == "signature":
        _client(store).delete_model_version_tag("player-ridge", "1", "task")
        assert get_version(store.tracking_uri, "player-ridge", "1").task is None
    expected = f"player-ridge v1 is a game model (its {evidence}); player-ridge serves points"
    with pytest.raises(RegistryError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        promote(store.tracking_uri, "player-ridge", "1", actor="bob", reason="try")
    with pytest.raises(RegistryError, match="is a game model"):
        gate_and_promote(store.tracking_uri, "player-ridge", "1", DEFAULT_POLICIES["points"])
    assert get_version(store.tracking_uri, "player-ridge", "1").aliases == ()
    # crowned outside the platform (the MLflow UI): the CLI still refuses to endorse it
    _client(store).set_registered_model_alias("player-ridge", "champion", "1")
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(
        app,
        ["promote", "player-ridge", "1"],
        env={"NBA_MLFLOW_TRACKING_URI": store.tracking_uri, "NBA_STATE_DIR": str(store.root)},
    )
    assert result.exit_code == 2 and "is a game model" in result.output, result.output
