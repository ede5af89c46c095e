import importlib.util

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from tests.training.training_synthetic import FAST_PARAMS, GAME_FEATURES, PLAYER_FEATURES
from training.backtest import fit_estimator, train_rows
from training.models import (
    GAME_MODELS,
    POINTS_MODELS,
    feature_importances,
    importance_kind,
    is_calibrated,
    make_model,
    task_of,
)
from training.params import DEFAULT_PARAMS, GameLogisticParams, PlayerRidgeParams


def test_model_names_follow_the_contract():
    assert GAME_MODELS == ("game-logistic", "game-tree", "game-forest")
    assert POINTS_MODELS == ("player-linear", "player-ridge", "player-lasso")
    assert set(DEFAULT_PARAMS) == set(GAME_MODELS + POINTS_MODELS)
    assert [task_of(n) for n in GAME_MODELS + POINTS_MODELS] == ["game"] * 3 + ["points"] * 3
    with pytest.raises(ValueError, match="unknown model"):
        task_of("game-svm")


@pytest.mark.parametrize("name", GAME_MODELS + POINTS_MODELS)
def test_params_are_frozen_and_loggable(name):
    params = DEFAULT_PARAMS[name]
    logged = params.as_dict()
    assert logged and all(isinstance(k, str) for k in logged)
    with pytest.raises(AttributeError):
        params.__setattr__(next(iter(logged)), None)


def test_wrong_params_type_is_refused():
    with pytest.raises(TypeError, match="GameLogisticParams"):
        make_model("game-logistic", PlayerRidgeParams(), GAME_FEATURES)


@pytest.mark.parametrize("name", GAME_MODELS)
def test_game_pipeline_takes_the_feature_frame_directly(name, game_frame):
    train = game_frame.loc[train_rows(game_frame, "game", "2019-20")]
    model = make_model(name, FAST_PARAMS[name], GAME_FEATURES)
    assert isinstance(model, Pipeline)
    model.fit(train, train["home_win"])
    # Extra columns (ids, target) are ignored; shuffled column order and missing values are fine.
    test = game_frame.loc[game_frame["season"] == "2019-20"].iloc[:20]
    shuffled = test[list(reversed(test.columns))].copy()
    shuffled.loc[shuffled.index[0], "away_margin_avg_10"] = np.nan
    proba = model.predict_proba(shuffled)
    assert proba.shape == (20, 2)
    assert np.allclose(proba.sum(axis=1), 1)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert is_calibrated(name, FAST_PARAMS[name]) == isinstance(
        model.named_steps["model"], CalibratedClassifierCV
    )


@pytest.mark.parametrize("name", GAME_MODELS + POINTS_MODELS)
def test_importances_name_every_feature(name, game_frame, player_frame):
    frame, names = (
        (game_frame, GAME_FEATURES) if name in GAME_MODELS else (player_frame, PLAYER_FEATURES)
    )
    task = task_of(name)
    model = fit_estimator(
        name,
        frame.loc[train_rows(frame, task, "2019-20")],
        params=FAST_PARAMS[name],
        feature_names=names,
    )
    importances = feature_importances(model)
    assert set(names) <= set(importances.index)
    assert np.isfinite(importances.to_numpy()).all()
    expected = "importance" if name in ("game-tree", "game-forest") else "coefficient"
    assert importance_kind(model) == expected


def test_logistic_win_probability_is_monotonic_in_home_recent_margin(game_frame):
    """Raising the home team's recent margin never lowers its win probability."""
    train = game_frame.loc[train_rows(game_frame, "game", "2019-20")]
    model = fit_estimator("game-logistic", train, feature_names=GAME_FEATURES)
    rows = game_frame.loc[game_frame["season"] == "2019-20"].iloc[:100].copy()
    before = model.predict_proba(rows)[:, 1]
    for step in (1.0, 5.0, 20.0):
        raised = rows.assign(home_margin_avg_10=rows["home_margin_avg_10"].fillna(0) + step)
        after = model.predict_proba(raised)[:, 1]
        assert (after >= before - 1e-12).all()
        assert (after > before).mean() > 0.9
    # and raising the opponent's lowers it
    away = rows.assign(away_margin_avg_10=rows["away_margin_avg_10"] + 5)
    assert (model.predict_proba(away)[:, 1] <= before + 1e-12).all()


@pytest.mark.parametrize("name", GAME_MODELS)
def test_game_models_beat_the_home_baseline(name, backtest):
    model = backtest.mean("game", name)
    home = backtest.mean("game", "baseline-home")
    assert model["log_loss"] < home["log_loss"] - 0.05
    assert model["brier"] < home["brier"] - 0.02
    assert model["accuracy"] > home["accuracy"] + 0.05


@pytest.mark.parametrize("name", POINTS_MODELS)
def test_points_models_beat_the_season_average(name, backtest):
    model = backtest.mean("points", name)
    season_avg = backtest.mean("points", "baseline-season-avg")
    assert model["mae"] < season_avg["mae"] - 0.05
    assert model["mae_rotation"] < season_avg["mae_rotation"]


def test_calibrated_logistic_option(game_frame):
    train = game_frame.loc[train_rows(game_frame, "game", "2019-20")]
    params = GameLogisticParams(calibration="sigmoid", calibration_folds=3)
    model = fit_estimator("game-logistic", train, params=params, feature_names=GAME_FEATURES)
    assert isinstance(model.named_steps["model"], CalibratedClassifierCV)
    assert len(model.named_steps["model"].calibrated_classifiers_) == 3
    assert set(GAME_FEATURES) <= set(feature_importances(model).index)


@pytest.mark.skipif(
    importlib.util.find_spec("features") is None, reason="features package not present"
)
def test_default_feature_names_come_from_the_features_package():
    features = pytest.importorskip("features")
    if not hasattr(features, "GAME_FEATURES"):
        pytest.skip("features.GAME_FEATURES not defined yet")
    model = make_model("game-logistic")
    selected = model.named_steps["select"].transformers[0][2]
    assert tuple(selected) == tuple(features.GAME_FEATURES)
    model = make_model("player-ridge")
    assert tuple(model.named_steps["select"].transformers[0][2]) == tuple(features.PLAYER_FEATURES)


def test_make_model_does_not_need_a_fit_to_be_cloned():
    from sklearn.base import clone

    model = make_model("player-lasso", feature_names=PLAYER_FEATURES)
    assert clone(model).get_params()["model__alpha"] == DEFAULT_PARAMS["player-lasso"].alpha
