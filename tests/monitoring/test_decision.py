"""When a check retrains: thresholds crossed, cooldown, new data."""

from __future__ import annotations

from datetime import date

import pytest

from monitoring.decision import RetrainPolicy, decide

POLICY = RetrainPolicy(cooldown_days=7, min_new_games=50)
AS_OF = date(2024, 1, 15)


def test_no_alert_no_retrain():
    decision = decide(
        "game", "game-logistic", [], as_of=AS_OF, last_retrain=None, new_games=500, policy=POLICY
    )
    assert not decision.alert and not decision.retrain and decision.blocked is None


@pytest.mark.parametrize(
    ("last_retrain", "new_games", "allowed", "retrain", "blocked"),
    [
        (None, 500, True, True, None),
        (date(2024, 1, 8), 500, True, True, None),  # exactly the cooldown ago
        (date(2024, 1, 9), 500, True, False, "cooldown"),
        (None, 49, True, False, "only 49 new games"),
        (None, 500, False, False, "retraining is off"),
    ],
)
def test_an_alert_retrains_unless_blocked(last_retrain, new_games, allowed, retrain, blocked):
    decision = decide(
        "game",
        "game-logistic",
        ["feature drift"],
        as_of=AS_OF,
        last_retrain=last_retrain,
        new_games=new_games,
        policy=POLICY,
        allowed=allowed,
    )
    assert decision.alert and decision.retrain is retrain
    if blocked is None:
        assert decision.blocked is None
    else:
        assert blocked in decision.blocked


def test_policy_refuses_negative_values():
    with pytest.raises(ValueError):
        RetrainPolicy(cooldown_days=-1)
