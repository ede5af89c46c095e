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


def test_normed_wasserstein_is_zero_for_the_same_sample_and_grows_with_a_shift():
    import numpy as np

    from monitoring.decision import normed_wasserstein

    rng = np.random.default_rng(0)
    reference = rng.normal(0.55, 0.15, 400)
    assert normed_wasserstein(reference, reference) == 0.0
    # moving every value by half a standard deviation moves the distance by about 0.5
    assert normed_wasserstein(reference, reference + 0.075) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError):
        normed_wasserstein([0.5], [0.5, 0.6])


@pytest.mark.parametrize(
    ("distance", "threshold", "n_current", "alerts"),
    [
        (0.31, 0.3, 100, True),
        (0.30, 0.3, 100, True),  # reaching the threshold is enough
        (0.29, 0.3, 100, False),
        (0.90, 0.0, 100, False),  # 0 turns the trigger off
        (0.90, 0.3, 29, False),  # too few predictions in the window
    ],
)
def test_prediction_drift_alerts_on_its_own(distance, threshold, n_current, alerts):
    from monitoring.decision import PredictionShift, alert_reasons

    shift = PredictionShift(
        model_name="game-logistic",
        distance=distance,
        threshold=threshold,
        n_reference=200,
        n_current=n_current,
        current_window="2024-01-01..2024-01-14",
        min_rows=30,
    )
    reasons = alert_reasons(None, None, shift)
    assert bool(reasons) is alerts and shift.as_dict()["crossed"] is alerts
    if alerts:
        assert "game-logistic prediction drift" in reasons[0] and f"{distance:.3f}" in reasons[0]
        decision = decide(
            "game",
            "game-logistic",
            reasons,
            as_of=AS_OF,
            last_retrain=None,
            new_games=500,
            policy=POLICY,
        )
        assert decision.retrain is True
