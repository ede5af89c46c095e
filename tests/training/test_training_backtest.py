import json

import numpy as np
import pandas as pd
import pytest

import training.backtest as backtest_module
from evaluation.metrics import expected_calibration_error
from tests.training.training_synthetic import FAST_PARAMS, GAME_FEATURES, PLAYER_FEATURES
from training.backtest import eval_rows, plan_backtest, train_rows, walk_forward
from training.baselines import GAME_BASELINES, POINTS_BASELINES
from training.models import GAME_MODELS, POINTS_MODELS

GAME_KEYS = {"accuracy", "log_loss", "brier", "roc_auc", "ece", "n"}
POINTS_KEYS = {"mae", "rmse", "r2", "n", "mae_rotation", "n_rotation"}
TEST_SEASONS = ["2018-19", "2019-20"]


def test_json_has_exactly_the_contract_shape(backtest):
    out = backtest.to_dict()
    assert set(out) == {"game", "points"}
    assert list(out["game"]) == [*GAME_MODELS, *GAME_BASELINES]
    assert list(out["points"]) == [*POINTS_MODELS, *POINTS_BASELINES]
    for task, keys in (("game", GAME_KEYS), ("points", POINTS_KEYS)):
        for per_season in out[task].values():
            assert list(per_season) == [*TEST_SEASONS, "mean"]
            for metrics in per_season.values():
                assert set(metrics) == keys
                assert isinstance(metrics["n"], int)
    json.loads(json.dumps(out, allow_nan=False))  # strict JSON: no NaN


def test_models_and_baselines_are_scored_on_the_same_rows(backtest, game_frame):
    out = backtest.to_dict()
    for task in ("game", "points"):
        for season in TEST_SEASONS:
            counts = {name: m[season]["n"] for name, m in out[task].items()}
            assert len(set(counts.values())) == 1, counts
    expected = int(
        ((game_frame["season"] == "2019-20") & (game_frame["season_type"] == "regular")).sum()
    )
    assert out["game"]["game-logistic"]["2019-20"]["n"] == expected


def test_home_baseline_accuracy_is_the_home_win_share(backtest, game_frame):
    test = game_frame.loc[eval_rows(game_frame, "game", "2019-20")]
    got = backtest.game["baseline-home"]["2019-20"]
    assert got["accuracy"] == pytest.approx(test["home_win"].mean())
    train = game_frame.loc[train_rows(game_frame, "game", "2019-20")]
    predicted = backtest.predictions["game"].query("season == '2019-20'")["baseline-home"]
    assert np.allclose(predicted, train["home_win"].mean())


def test_walk_forward_trains_only_on_earlier_seasons(backtest):
    splits = [s for s in backtest.splits]
    assert {(s.task, s.test_season) for s in splits} == {
        (t, s) for t in ("game", "points") for s in TEST_SEASONS
    }
    for split in splits:
        start = int(split.test_season[:4])
        assert split.train_seasons, split
        assert all(int(s[:4]) < start for s in split.train_seasons), split
    game = {s.test_season: s.train_seasons for s in splits if s.task == "game"}
    assert game["2019-20"][-1] == "2018-19"  # expanding window: the previous season is used
    assert game["2019-20"][0] == "2012-13"


def _with_sentinel(frame, target, test_season, before):
    """A feature equal to the target from ``test_season`` on and uninformative (``before``)
    earlier: only a model that learned from the test season (or later) can use it."""
    out = frame.copy()
    late = out["season"].str.slice(0, 4).astype(int) >= int(test_season[:4])
    out["sentinel"] = np.where(late, out[target], before)
    return out


@pytest.fixture(scope="module")
def sentinel_frames(game_frame, player_frame):
    games = _with_sentinel(game_frame, "home_win", "2018-19", 0.5)
    players = _with_sentinel(player_frame, "pts", "2018-19", np.nan)
    return games, players


def _sentinel_run(games, players):
    return walk_forward(
        games,
        players,
        ["2018-19"],
        params=FAST_PARAMS,
        game_features=(*GAME_FEATURES, "sentinel"),
        player_features=(*PLAYER_FEATURES, "sentinel"),
    )


def test_sentinel_detects_no_leak(sentinel_frames):
    result = _sentinel_run(*sentinel_frames)
    for name in GAME_MODELS:
        assert result.game[name]["2018-19"]["accuracy"] < 0.9, name
    for name in POINTS_MODELS:
        assert result.points[name]["2018-19"]["mae"] > 3.0, name


def test_the_sentinel_would_catch_a_leak(sentinel_frames, monkeypatch):
    """Same run, but training also sees the test season: the sentinel gives the leak away."""

    def leaky(frame, task, test_season, **_):
        return frame[backtest_module.TARGET[task]].notna()

    monkeypatch.setattr(backtest_module, "train_rows", leaky)
    result = _sentinel_run(*sentinel_frames)
    assert min(result.game[n]["2018-19"]["accuracy"] for n in GAME_MODELS) > 0.9
    assert max(result.points[n]["2018-19"]["mae"] for n in POINTS_MODELS) < 2.0


def test_unplayed_and_playoff_rows_are_never_scored(game_frame):
    test = eval_rows(game_frame, "game", "2019-20")
    assert (game_frame.loc[test, "season_type"] == "regular").all()
    future = game_frame.loc[game_frame["season"] == "2019-20"].tail(5).copy()
    future["home_win"] = np.nan
    future["game_id"] = future["game_id"].str.replace("002", "009", n=1)
    with_future = pd.concat([game_frame, future], ignore_index=True)
    assert eval_rows(with_future, "game", "2019-20").sum() == test.sum()
    assert (
        train_rows(with_future, "game", "2020-21").sum()
        == train_rows(game_frame, "game", "2020-21").sum()
    )


def test_playoff_rows_join_training_only_when_asked(game_frame):
    regular = train_rows(game_frame, "game", "2019-20")
    both = train_rows(game_frame, "game", "2019-20", train_playoffs=True)
    extra = game_frame.loc[both & ~regular]
    assert len(extra) > 0 and (extra["season_type"] == "playoffs").all()
    assert extra["season"].str.slice(0, 4).astype(int).max() < 2019
    window = train_rows(game_frame, "game", "2019-20", max_train_seasons=2)
    assert set(game_frame.loc[window, "season"]) == {"2017-18", "2018-19"}


def test_player_rows_get_their_season_type_from_the_game_id(player_frame):
    frame = player_frame.copy()
    frame.loc[frame.index[:10], "game_id"] = "0041800001"
    frame.loc[frame.index[:10], "season"] = "2018-19"
    assert not eval_rows(frame, "points", "2018-19").iloc[:10].any()


def test_inputs_are_not_modified(game_frame, player_frame):
    games, players = game_frame.copy(), player_frame.copy()
    walk_forward(
        games,
        players,
        ["2019-20"],
        params=FAST_PARAMS,
        models=["game-logistic", "player-ridge"],
        game_features=GAME_FEATURES,
        player_features=PLAYER_FEATURES,
    )
    pd.testing.assert_frame_equal(games, game_frame)
    pd.testing.assert_frame_equal(players, player_frame)


@pytest.fixture(scope="module")
def logistic_only(game_frame):
    """game-logistic alone, on one test season, without the points frame; its progress lines."""
    messages = []
    result = walk_forward(
        game_frame,
        None,
        ["2019-20"],
        params=FAST_PARAMS,
        models=["game-logistic"],
        game_features=GAME_FEATURES,
        progress=messages.append,
    )
    return result, messages


def test_a_subset_of_models_and_a_missing_frame(logistic_only, game_frame):
    result, messages = logistic_only
    out = result.to_dict()
    assert out["points"] == {}
    assert list(out["game"]) == ["game-logistic", *GAME_BASELINES]
    assert any("game-logistic" in m for m in messages)
    with pytest.raises(ValueError, match="need the points frame"):
        walk_forward(
            game_frame, None, ["2019-20"], models=["player-ridge"], game_features=GAME_FEATURES
        )


def test_a_test_season_without_player_rows_is_scored_for_games_only(game_frame, player_frame):
    """A folder with team logs of the last test season but no player logs of it: the games are
    scored on both seasons, the points on the earlier one, and the report says why."""
    players = player_frame.loc[player_frame["season"] != "2019-20"]
    result = walk_forward(
        game_frame,
        players,
        TEST_SEASONS,
        params=FAST_PARAMS,
        game_features=GAME_FEATURES,
        player_features=PLAYER_FEATURES,
        skip={("points", "2019-20"): "no player logs for 2019-20 in DIR"},
    )
    out = result.to_dict()
    assert list(out["game"]["game-logistic"]) == [*TEST_SEASONS, "mean"]
    assert list(out["points"]) == [*POINTS_MODELS, *POINTS_BASELINES]
    assert all(list(per) == ["2018-19", "mean"] for per in out["points"].values())
    assert out["points"]["player-ridge"]["mean"] == out["points"]["player-ridge"]["2018-19"]
    assert set(result.predictions["points"]["season"]) == {"2018-19"}
    assert result.skipped == {("points", "2019-20"): "no player logs for 2019-20 in DIR"}
    assert "- points 2019-20: no player logs for 2019-20 in DIR" in result.to_markdown()


def test_a_task_without_any_test_row_is_left_out(game_frame, player_frame):
    players = player_frame.loc[player_frame["season"] != "2019-20"]
    plan = plan_backtest(
        game_frame,
        players,
        ["2019-20"],
        game_features=GAME_FEATURES,
        player_features=PLAYER_FEATURES,
    )
    assert list(plan.models) == ["game"]
    assert plan.folds() == [("game", "2019-20", n) for n in plan.estimators("game")]
    assert plan.skipped == {
        ("points", "2019-20"): "no regular-season rows with a known pts in 2019-20"
    }
    result = walk_forward(
        game_frame,
        players,
        ["2019-20"],
        params=FAST_PARAMS,
        game_features=GAME_FEATURES,
        player_features=PLAYER_FEATURES,
    )
    assert result.to_dict()["points"] == {}
    assert "## Player points" not in result.to_markdown()


@pytest.mark.parametrize("models", [["player-ridge"], ["game-logistic", "player-ridge"]])
def test_named_points_models_without_test_rows_are_an_error(game_frame, player_frame, models):
    players = player_frame.loc[player_frame["season"] != "2019-20"]
    with pytest.raises(ValueError, match=r"^points: no test rows for test season 2019-20 \("):
        plan_backtest(
            game_frame,
            players,
            TEST_SEASONS,
            models=models,
            game_features=GAME_FEATURES,
            player_features=PLAYER_FEATURES,
        )


def test_nothing_left_to_score_is_an_error(game_frame):
    games = game_frame.loc[game_frame["season"] != "2019-20"]
    with pytest.raises(ValueError, match=r"nothing to score: .*known home_win in 2019-20"):
        plan_backtest(games, None, ["2019-20"], game_features=GAME_FEATURES)


def test_a_season_without_training_rows_is_an_error(game_frame):
    with pytest.raises(ValueError, match="no training rows"):
        walk_forward(
            game_frame, None, ["2012-13"], models=["game-logistic"], game_features=GAME_FEATURES
        )


def test_predictions_are_kept_for_plots(backtest):
    games = backtest.predictions["game"]
    assert {"game_id", "season", "home_win", *GAME_MODELS, *GAME_BASELINES} <= set(games.columns)
    assert len(games) == sum(backtest.game["game-logistic"][s]["n"] for s in TEST_SEASONS)
    players = backtest.predictions["points"]
    assert {"player_id", "pts", "rotation", *POINTS_MODELS} <= set(players.columns)
    assert players["rotation"].sum() == sum(
        backtest.points["player-ridge"][s]["n_rotation"] for s in TEST_SEASONS
    )


def test_markdown_report(backtest):
    text = backtest.to_markdown()
    for needle in (
        "## Splits",
        "## Games",
        "## Player points",
        "## Calibration",
        "2012-13 … 2017-18",
        "baseline-elo",
        "baseline-last10",
        "**",
    ):
        assert needle in text, needle
    for name in GAME_MODELS:
        assert f"### {name}" in text
    # one calibration table per game model, 10 bins at most
    tables = backtest.calibration_tables()
    assert all(
        len(t) <= 10 and t["count"].sum() == len(backtest.predictions["game"])
        for t in tables.values()
    )


def test_the_best_model_is_the_lowest_primary_metric_of_the_models(backtest):
    assert backtest.best_model("game") == min(
        GAME_MODELS, key=lambda n: backtest.mean("game", n)["log_loss"]
    )
    assert backtest.best_model("points") == min(
        POINTS_MODELS, key=lambda n: backtest.mean("points", n)["mae_rotation"]
    )


def test_the_figures_draw_what_the_tables_say(backtest):
    figures = backtest.figures()
    assert list(figures) == [
        "game_calibration.png",
        "game_log_loss.png",
        "points_mae_rotation.png",
        "points_residuals.png",
        "points_interval_coverage.png",
    ]
    calibration = figures["game_calibration.png"][1].axes[0]
    # the diagonal, then one reliability line per game model and Elo, with its ECE
    games = backtest.predictions["game"]
    assert [line.get_label() for line in calibration.get_lines()][1:] == [
        f"{name} (ECE {expected_calibration_error(games['home_win'], games[name]):.3f})"
        for name in (*GAME_MODELS, "baseline-elo")
    ]
    seasons = figures["game_log_loss.png"][1].axes[0]
    for line in seasons.get_lines():
        name = line.get_label()
        expected = [backtest.game[name][s]["log_loss"] for s in TEST_SEASONS]
        assert list(line.get_ydata()) == pytest.approx(expected)
        assert (line.get_linestyle() == "--") == name.startswith("baseline-")
    mae = figures["points_mae_rotation.png"][1].axes[0]
    assert {line.get_label() for line in mae.get_lines()} == set(backtest.points)
    best = backtest.best_model("points")
    assert figures["points_residuals.png"][0].startswith(best)
    text = backtest.to_markdown(figures={n: c for n, (c, _) in figures.items()})
    for name, (caption, _) in figures.items():
        assert f"![{caption}]({name})" in text
    assert "## Figures" not in backtest.to_markdown()


def test_points_intervals_are_calibrated_before_the_test_season(backtest):
    """Each test season's interval comes from the last training season's residuals of a fit on
    the seasons before it; the report gives its coverage on the test season."""
    players = backtest.predictions["points"]
    coverage = backtest.interval_coverage()
    assert set(coverage) == set(POINTS_MODELS)
    for name in POINTS_MODELS:
        for season, previous in zip(TEST_SEASONS, ("2017-18", "2018-19"), strict=True):
            interval, half_width = backtest.intervals[name][season]
            assert interval.basis.startswith(f"residuals on {previous} ")
            assert half_width > 0
            rows = players.loc[players["season"] == season]
            low, high = interval.bounds(rows[name])
            assert (rows[f"{name}.low"].to_numpy(), rows[f"{name}.high"].to_numpy()) == (
                pytest.approx(low),
                pytest.approx(high),
            )
            c = coverage[name][season]
            inside = ((rows["pts"] >= low) & (rows["pts"] <= high)).mean()
            assert c["coverage"] == pytest.approx(inside) and c["n"] == len(rows)
            assert 0.6 < c["coverage"] < 0.95  # an 80% interval on new rows, roughly
    report = backtest.to_markdown()
    assert "## Points intervals (80%)" in report
    assert "No interval" not in report


def test_the_interval_does_not_see_the_test_season(player_frame, game_frame):
    """Scrambling the test season's points changes its coverage, never its interval."""

    def intervals(frame):
        result = walk_forward(
            None,
            frame,
            ["2019-20"],
            params=FAST_PARAMS,
            models=["player-ridge"],
            player_features=PLAYER_FEATURES,
        )
        return result.intervals["player-ridge"]["2019-20"]

    scrambled = player_frame.copy()
    test = scrambled["season"] == "2019-20"
    scrambled.loc[test, "pts"] = (
        scrambled.loc[test, "pts"].sample(frac=1, random_state=0).to_numpy()
    )
    assert intervals(scrambled) == intervals(player_frame)


def test_a_games_only_backtest_draws_the_game_figures(logistic_only):
    result, _ = logistic_only
    figures = result.figures()
    assert list(figures) == ["game_calibration.png", "game_log_loss.png"]
    labels = [line.get_label() for line in figures["game_calibration.png"][1].axes[0].get_lines()]
    assert labels[1:] == [
        f"{name} (ECE {result.game[name]['2019-20']['ece']:.3f})"
        for name in ("game-logistic", "baseline-elo")
    ]


def test_missing_feature_columns_are_named(game_frame):
    with pytest.raises(ValueError, match=r"lacks columns.*not_a_feature"):
        walk_forward(
            game_frame,
            None,
            ["2019-20"],
            models=["game-logistic"],
            game_features=(*GAME_FEATURES, "not_a_feature"),
        )
