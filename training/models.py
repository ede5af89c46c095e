"""The estimators: one scikit-learn ``Pipeline`` per model name.

Every pipeline starts with a ``ColumnTransformer`` that selects the feature columns *by name*, so
it accepts the feature frame of ``features.build_game_features`` / ``build_player_features``
directly (extra columns such as ids, dates and targets are dropped). Missing feature values (a
team's first game, a player's first game of a season) are imputed with the training mean and,
for the linear models, flagged with a missing-indicator column.

Game classifiers return calibrated probabilities. Trees and forests are wrapped in
``CalibratedClassifierCV`` with a sigmoid fitted on contiguous (unshuffled) folds of the
*training* rows: each fold's calibrator sees rows its classifier did not, and no test row is used.
The logistic regression is calibrated by construction (its loss is the log loss); its default is
no extra calibrator (see ``training.params``), and the backtest reports its ECE either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from core.settings import GAME_MODEL_NAMES, POINTS_MODEL_NAMES
from training.params import (
    DEFAULT_PARAMS,
    GameForestParams,
    GameLogisticParams,
    GameTreeParams,
    ModelParams,
    PlayerLassoParams,
    PlayerLinearParams,
    PlayerRidgeParams,
)

GAME_MODELS = GAME_MODEL_NAMES
POINTS_MODELS = POINTS_MODEL_NAMES

GAME = "game"
POINTS = "points"

_PARAM_TYPES: dict[str, type] = {
    "game-logistic": GameLogisticParams,
    "game-tree": GameTreeParams,
    "game-forest": GameForestParams,
    "player-linear": PlayerLinearParams,
    "player-ridge": PlayerRidgeParams,
    "player-lasso": PlayerLassoParams,
}


def task_of(name: str) -> str:
    """``"game"`` for the game classifiers, ``"points"`` for the points regressors."""
    if name in GAME_MODELS:
        return GAME
    if name in POINTS_MODELS:
        return POINTS
    raise ValueError(f"unknown model {name!r}; expected one of {GAME_MODELS + POINTS_MODELS}")


def default_feature_names(task: str) -> tuple[str, ...]:
    """The features package's column list for a task (imported lazily, at call time)."""
    import features  # at call time: nothing is imported from features/ before it is needed

    if task == GAME:
        return tuple(features.GAME_FEATURES)
    if task == POINTS:
        return tuple(features.PLAYER_FEATURES)
    raise ValueError(f"unknown task {task!r}")


def is_calibrated(name: str, params: ModelParams | None = None) -> bool:
    """Whether the game model's probabilities go through a separate calibrator."""
    if task_of(name) != GAME:
        return False
    params = params if params is not None else DEFAULT_PARAMS[name]
    return params.calibration != "none"


def _check_params(name: str, params: ModelParams | None) -> ModelParams:
    params = params if params is not None else DEFAULT_PARAMS[name]
    expected = _PARAM_TYPES[name]
    if not isinstance(params, expected):
        raise TypeError(f"{name} takes {expected.__name__}, got {type(params).__name__}")
    return params


def _select(
    feature_names: Sequence[str], *, scale: bool, indicate_missing: bool
) -> ColumnTransformer:
    steps: list[tuple[str, BaseEstimator]] = [
        (
            "impute",
            SimpleImputer(
                strategy="mean", add_indicator=indicate_missing, keep_empty_features=True
            ),
        )
    ]
    if scale:
        steps.append(("scale", StandardScaler()))
    return ColumnTransformer(
        [("features", Pipeline(steps), list(feature_names))],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def _calibrated(estimator: BaseEstimator, method: str, folds: int) -> BaseEstimator:
    if method == "none":
        return estimator
    # Unshuffled folds: the caller passes rows in time order, so every calibration fold is a
    # contiguous stretch of the training seasons.
    return CalibratedClassifierCV(
        estimator, method=method, cv=KFold(n_splits=folds, shuffle=False), ensemble=True
    )


def _estimator(name: str, params: ModelParams) -> tuple[BaseEstimator, bool, bool]:
    """(estimator, scale inputs?, add missing indicators?)."""
    match params:
        case GameLogisticParams():
            base = LogisticRegression(C=params.C, max_iter=params.max_iter)
            return _calibrated(base, params.calibration, params.calibration_folds), True, True
        case GameTreeParams():
            base = DecisionTreeClassifier(
                max_depth=params.max_depth,
                min_samples_leaf=params.min_samples_leaf,
                random_state=params.random_state,
            )
            return _calibrated(base, params.calibration, params.calibration_folds), False, False
        case GameForestParams():
            base = RandomForestClassifier(
                n_estimators=params.n_estimators,
                max_depth=params.max_depth,
                min_samples_leaf=params.min_samples_leaf,
                max_features=params.max_features,
                n_jobs=params.n_jobs,
                random_state=params.random_state,
            )
            return _calibrated(base, params.calibration, params.calibration_folds), False, False
        case PlayerLinearParams():
            return LinearRegression(fit_intercept=params.fit_intercept), True, True
        case PlayerRidgeParams():
            return Ridge(alpha=params.alpha), True, True
        case PlayerLassoParams():
            # A precomputed Gram matrix: many rows, few columns (same solution, about 2x faster).
            lasso = Lasso(alpha=params.alpha, max_iter=params.max_iter, precompute=True)
            return lasso, True, True
    raise TypeError(f"no estimator for {name} with {type(params).__name__}")  # pragma: no cover


def make_model(
    name: str,
    params: ModelParams | None = None,
    feature_names: Sequence[str] | None = None,
) -> Pipeline:
    """An unfitted pipeline ``select -> model`` for a model name.

    ``params`` defaults to ``DEFAULT_PARAMS[name]``; ``feature_names`` to the features package's
    ``GAME_FEATURES`` / ``PLAYER_FEATURES``. Fit it on rows in time order (the calibration folds
    are contiguous). Game pipelines expose ``predict_proba``; column 1 is P(home win).
    """
    task = task_of(name)
    params = _check_params(name, params)
    names = tuple(feature_names) if feature_names is not None else default_feature_names(task)
    if not names:
        raise ValueError(f"{name}: no feature columns")
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: duplicate feature names")
    estimator, scale, indicate = _estimator(name, params)
    return Pipeline(
        [("select", _select(names, scale=scale, indicate_missing=indicate)), ("model", estimator)]
    )


def _attribute(estimator: BaseEstimator) -> np.ndarray:
    if isinstance(estimator, CalibratedClassifierCV):
        values = [_attribute(c.estimator) for c in estimator.calibrated_classifiers_]
        return np.mean(values, axis=0)
    if hasattr(estimator, "coef_"):
        return np.ravel(estimator.coef_)
    if hasattr(estimator, "feature_importances_"):
        return np.asarray(estimator.feature_importances_, dtype=float)
    raise TypeError(f"{type(estimator).__name__} has neither coef_ nor feature_importances_")


def feature_importances(model: Pipeline) -> pd.Series:
    """Per input column of the fitted model: coefficients (linear models, on standardised
    inputs, signed) or impurity importances (trees, averaged over calibration folds).

    The index holds the selected feature names plus ``missingindicator_*`` columns if any.
    """
    names = model.named_steps["select"].get_feature_names_out()
    values = _attribute(model.named_steps["model"])
    return pd.Series(values, index=pd.Index(names, name="feature"), name="importance")


def importance_kind(model: Pipeline) -> str:
    """``"coefficient"`` or ``"importance"``: how to read ``feature_importances``."""
    est = model.named_steps["model"]
    if isinstance(est, CalibratedClassifierCV):
        est = est.estimator
    linear = LogisticRegression | LinearRegression | Ridge | Lasso
    return "coefficient" if isinstance(est, linear) else "importance"
