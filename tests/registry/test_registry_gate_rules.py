"""The gate's rules on hand-built metrics (pure: no MLflow store)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from registry.gate import (
    DEFAULT_POLICIES,
    GatePolicy,
    choose_season,
    compare_metrics,
    decide,
    season_metrics,
)
from registry.versions import ModelVersionInfo

GAME = DEFAULT_POLICIES["game"]
POINTS = DEFAULT_POLICIES["points"]
CHAMPION_GAME = {"log_loss": 0.650, "brier": 0.230, "accuracy": 0.620, "roc_auc": 0.660}
CHAMPION_POINTS = {"mae": 4.50, "rmse": 6.00, "r2": 0.40}


def _version(version: str, metrics: dict[str, float], eval_season: str) -> ModelVersionInfo:
    return ModelVersionInfo(
        name="game-logistic",
        version=version,
        run_id=f"run{version}",
        source="models:/m-x",
        aliases=(),
        tags={"task": "game", "eval_season": eval_season},
        metrics=metrics,
    )


@pytest.mark.parametrize(
    ("policy", "champion", "changes", "promote", "reason_part"),
    [
        (GAME, CHAMPION_GAME, {"log_loss": 0.640}, True, "better"),
        (GAME, CHAMPION_GAME, {"log_loss": 0.660}, False, "not better"),
        (GAME, CHAMPION_GAME, {"log_loss": 0.650}, False, "not better"),
        (GAME, CHAMPION_GAME, {"log_loss": 0.6495}, False, "below margin"),
        (GAME, CHAMPION_GAME, {"log_loss": 0.640, "brier": 0.233}, False, "brier"),
        (GAME, CHAMPION_GAME, {"log_loss": 0.640, "brier": 0.2315}, True, "brier within"),
        # accuracy: higher is better, so a drop is the worsening
        (GAME, CHAMPION_GAME, {"log_loss": 0.640, "accuracy": 0.605}, False, "accuracy"),
        (GAME, CHAMPION_GAME, {"log_loss": 0.640, "accuracy": 0.700}, True, "accuracy within"),
        (GAME, CHAMPION_GAME, {"log_loss": 0.640, "roc_auc": 0.640}, False, "roc_auc"),
        (POINTS, CHAMPION_POINTS, {"mae": 4.45}, True, "better"),
        (POINTS, CHAMPION_POINTS, {"mae": 4.495}, False, "below margin"),
        (POINTS, CHAMPION_POINTS, {"mae": 4.45, "rmse": 6.08}, False, "rmse"),
        (POINTS, CHAMPION_POINTS, {"mae": 4.45, "r2": 0.38}, False, "r2"),
        (POINTS, CHAMPION_POINTS, {"mae": 4.45, "r2": 0.60}, True, "r2 within"),
    ],
)
def test_compare_metrics(policy, champion, changes, promote, reason_part):
    challenger = {**champion, **changes}
    decided, reason = compare_metrics(challenger, champion, policy, "2023-24")
    assert decided is promote
    assert reason_part in reason


def test_higher_is_better_primary_metric():
    policy = GatePolicy("roc_auc", lower_is_better=False, margin=0.005)
    assert compare_metrics({"roc_auc": 0.70}, {"roc_auc": 0.69}, policy, "s")[0] is True
    assert compare_metrics({"roc_auc": 0.69}, {"roc_auc": 0.70}, policy, "s")[0] is False


def test_non_finite_primary_metric_is_refused():
    decided, reason = compare_metrics({"log_loss": float("nan")}, CHAMPION_GAME, GAME, "s")
    assert decided is False
    assert "not finite" in reason


def test_policy_rejects_negative_margin_and_is_immutable():
    with pytest.raises(ValueError, match="margin"):
        GatePolicy("mae", margin=-0.1)
    with pytest.raises(TypeError):
        GAME.tolerances["brier"] = 1.0


def test_season_metrics_groups_keys_and_fills_the_eval_season():
    metrics = {
        "log_loss": 0.60,
        "log_loss.2022-23": 0.62,
        "brier.2022-23": 0.24,
        "mae": 1.0,
        "baseline.baseline-elo.log_loss": 0.66,  # not a season key
    }
    assert season_metrics(metrics, "2023-24") == {
        "2022-23": {"log_loss": 0.62, "brier": 0.24},
        "2023-24": {"log_loss": 0.60, "mae": 1.0},
    }
    # an explicit metric.season key wins over the plain key for that season
    assert season_metrics({"log_loss": 0.5, "log_loss.2023-24": 0.6}, "2023-24") == {
        "2023-24": {"log_loss": 0.6}
    }


@pytest.mark.parametrize(
    ("challenger", "champion", "preferred", "expected"),
    [
        (["2022-23", "2023-24"], ["2022-23", "2023-24"], "2023-24", "2023-24"),
        (["2022-23", "2023-24"], ["2022-23", "2023-24"], "2022-23", "2022-23"),
        (["2021-22", "2022-23", "2024-25"], ["2021-22", "2022-23"], "2024-25", "2022-23"),
        (["2024-25"], ["2023-24"], "2024-25", None),
    ],
)
def test_choose_season(challenger, champion, preferred, expected):
    def seasons(names):
        return {name: {"log_loss": 0.6} for name in names}

    assert choose_season(seasons(challenger), seasons(champion), "log_loss", preferred) == expected


def test_decide_compares_on_the_common_season_not_the_plain_metrics():
    # The champion was evaluated on 2023-24. The challenger's own season is 2024-25, where its
    # plain log_loss looks much better; on 2023-24, the season both have, it is worse.
    champion = _version("1", {"log_loss": 0.66, "log_loss.2023-24": 0.66}, "2023-24")
    challenger = _version(
        "2", {"log_loss": 0.55, "log_loss.2024-25": 0.55, "log_loss.2023-24": 0.67}, "2024-25"
    )
    decision = decide(challenger, champion, GatePolicy("log_loss", margin=0.001))
    assert decision.promote is False
    assert decision.season == "2023-24"
    assert decision.challenger["log_loss"] == 0.67
    assert decision.champion["log_loss"] == 0.66


def test_decide_without_champion_promotes():
    decision = decide(_version("1", {"log_loss": 0.7}, "2023-24"), None, GAME)
    assert (decision.promote, decision.reason, decision.season) == (
        True,
        "no champion yet",
        "2023-24",
    )
    assert decision.champion is None


def test_decide_without_common_season_refuses_with_reason():
    champion = _version("1", {"log_loss.2022-23": 0.6}, "2022-23")
    challenger = _version("2", {"log_loss.2024-25": 0.5}, "2024-25")
    decision = decide(challenger, champion, GAME)
    assert decision.promote is False
    assert "no evaluation season" in decision.reason
    assert "2022-23" in decision.reason and "2024-25" in decision.reason


def _after_season_change(tags: dict[str, str]) -> tuple[ModelVersionInfo, ModelVersionInfo]:
    """Champion v1 evaluated on 2022-23; challenger v2 on 2023-24, with the champion's scores
    as served on 2023-24 recorded on it."""
    champion = _version("1", {**CHAMPION_GAME, "log_loss.2022-23": 0.65}, "2022-23")
    served = {f"champion.{k}.2023-24": v for k, v in CHAMPION_GAME.items()}
    challenger = _version("2", {**CHAMPION_GAME, "log_loss": 0.640, **served}, "2023-24")
    return replace(challenger, tags={**challenger.tags, **tags}), champion


def test_decide_after_a_season_change_compares_with_the_champion_as_served():
    challenger, champion = _after_season_change(
        {"eval_season_champion_version": "1", "eval_season_champion_games": "1230"}
    )
    decision = decide(challenger, champion, GAME)
    assert (decision.promote, decision.season, decision.basis) == (True, "2023-24", "season")
    assert decision.champion == CHAMPION_GAME
    assert "champion v1 as served on 2023-24 (1230 games)" in decision.reason
    worse = replace(challenger, metrics={**challenger.metrics, "log_loss": 0.66})
    assert decide(worse, champion, GAME).reason.startswith("not better: log_loss.2023-24")


@pytest.mark.parametrize(
    ("tags", "note"),
    [
        ({"eval_season_champion_version": "7"}, "are of v7, the champion is now v1"),
        ({"eval_season_champion_fallback": "the champion was fit through"}, "was fit through"),
        ({}, "has ['2022-23']"),
    ],
)
def test_decide_after_a_season_change_without_usable_served_scores_refuses(tags, note):
    challenger, champion = _after_season_change(tags)
    decision = decide(challenger, champion, GAME)
    assert decision.promote is False and "no evaluation season" in decision.reason
    assert note in decision.reason


@pytest.mark.parametrize(
    ("train_seasons", "expected"),
    [
        (["2021-22", "2022-23", "2023-24"], "walk-forward evaluation on season 2023-24"),
        (["2021-22", "2022-23"], "held out of the fit"),
    ],
)
def test_version_description_says_where_metrics_come_from(train_seasons, expected):
    from registry.runs import describe_version

    text = describe_version("game-logistic", "game", train_seasons, "2023-24", "abc")
    assert ", ".join(train_seasons) in text
    assert expected in text
    assert "`log_loss`" in text


# The in-season window -------------------------------------------------------------------------
SEASON_EQUAL = {"log_loss": 0.62, "log_loss.2023-24": 0.62}  # same walk-forward: no difference
WINDOW_TAGS = {
    "eval_window": "2024-01-02..2024-01-29",
    "eval_window_champion_version": "1",
    "eval_window_fit_through": "2024-01-01",
    "eval_window_games": "196",
    "fit_through": "2024-01-29",
}


def _windowed(version: str, challenger: dict, champion: dict, **tags: str) -> ModelVersionInfo:
    metrics = {**SEASON_EQUAL}
    metrics.update({f"window.{k}": v for k, v in challenger.items()})
    metrics.update({f"window.champion.{k}": v for k, v in champion.items()})
    info = _version(version, metrics, "2023-24")
    return replace(info, tags={**info.tags, **WINDOW_TAGS, **tags})


@pytest.mark.parametrize(
    ("challenger_log_loss", "promote", "reason_part"),
    [(0.630, True, "better: log_loss.window 0.6500 -> 0.6300"), (0.660, False, "not better")],
)
def test_decide_compares_an_in_season_challenger_on_the_window(
    challenger_log_loss, promote, reason_part
):
    champion = _version("1", SEASON_EQUAL, "2023-24")
    window_champion = {**CHAMPION_GAME}
    candidate = _windowed("2", {**CHAMPION_GAME, "log_loss": challenger_log_loss}, window_champion)
    decision = decide(candidate, champion, GAME)
    assert decision.promote is promote
    assert (decision.basis, decision.window) == ("window", "2024-01-02..2024-01-29")
    assert decision.challenger["log_loss"] == challenger_log_loss
    assert decision.champion["log_loss"] == 0.650  # the window score, not the season's 0.62
    assert reason_part in decision.reason
    for part in ("196 games", "fit through 2024-01-01", "refit through 2024-01-29"):
        assert part in decision.reason
    assert decision.as_record()["basis"] == "window"


def test_window_scores_of_another_champion_fall_back_to_the_season():
    champion = _version("3", SEASON_EQUAL, "2023-24")  # moved since the window was scored
    candidate = _windowed("4", {**CHAMPION_GAME, "log_loss": 0.5}, CHAMPION_GAME)
    decision = decide(candidate, champion, GAME)
    assert decision.promote is False and decision.basis == "season"
    assert decision.reason.startswith("not better: log_loss.2023-24")
    assert "scored champion v1, the champion is now v3" in decision.reason


def test_a_window_without_the_primary_metric_falls_back_to_the_season():
    champion = _version("1", SEASON_EQUAL, "2023-24")
    candidate = _windowed("2", {"brier": 0.2}, {"brier": 0.3})
    decision = decide(candidate, champion, GAME)
    assert decision.basis == "season" and "has no log_loss for both versions" in decision.reason


def test_a_too_short_window_is_recorded_and_the_season_decides():
    champion = _version("1", SEASON_EQUAL, "2023-24")
    info = _version("2", {"log_loss": 0.60, "log_loss.2023-24": 0.60}, "2023-24")
    why = "in-season window 2023-10-25..2023-11-21 holds 40 games (< 100)"
    candidate = replace(info, tags={**info.tags, "eval_window_fallback": why})
    decision = decide(candidate, champion, GAME)
    assert decision.promote is True and decision.basis == "season"
    assert decision.reason.startswith("better: log_loss.2023-24")
    assert f"season-level: {why}" in decision.reason


def test_window_metrics_split_challenger_and_champion():
    from registry.gate import window_metrics

    challenger, champion = window_metrics(
        {"window.log_loss": 0.6, "window.champion.log_loss": 0.7, "log_loss.2023-24": 0.5}
    )
    assert (challenger, champion) == ({"log_loss": 0.6}, {"log_loss": 0.7})
    assert season_metrics({"window.log_loss": 0.6, "window.champion.log_loss": 0.7}, None) == {}
