"""Hyperparameters per model: small frozen dataclasses, one per registered model name.

``DEFAULT_PARAMS`` was chosen by inner walk-forward validation on seasons *before* the test
seasons: validation seasons 2018-19, 2019-20 and 2020-21, each trained on every earlier season
(``training.tuning.validate_grid``); the test seasons 2021-22 ... 2023-24 were not used to choose
anything. Mean validation numbers (with the features of this commit):

- game-logistic, ``C=0.01``, no extra calibrator: log loss 0.6225 (C from 0.003 to 0.05 all within
  0.0001-0.0005: the inputs are standardised and the small C keeps ~80 correlated rolling-form
  features from trading large opposite coefficients). A sigmoid calibrator on top gave 0.6224:
  not worth five extra fits, so the logistic model is reported uncalibrated (its ECE is in every
  backtest report). Recency weighting of older seasons (half-lives 2-8 seasons), a 5- or 10-season
  window and adding playoff rows all changed log loss by <= 0.001 and were left out.
- game-tree, ``max_depth=4, min_samples_leaf=50``: log loss 0.6285 (depth 3: 0.6317; depth 6-8:
  0.629-0.633). A single tree is the readable reference model.
- game-forest, 100 trees, ``max_depth=10, min_samples_leaf=20, max_features=0.1``, sigmoid on 5
  folds: log loss 0.6261. 200 trees: 0.6260 at twice the cost; ``max_features=0.33``: 0.6267 at
  four times the cost; shallower or leafier forests 0.627-0.629.
- player-ridge ``alpha=10``: MAE 4.523, flat from 0.1 to 100 (1000: 4.527). player-lasso
  ``alpha=0.01``: MAE 4.526; 0.001 gave 4.523 but took 20x longer to converge; 0.03-0.1 were worse.
  All three linear models end within 0.01 points of each other; a gradient-boosted regressor on
  the same features was no better (rotation MAE 5.07-5.11), so points accuracy is bounded by the
  features, not by the linear form.

Trees and the forest get their probabilities calibrated with a sigmoid fitted on contiguous,
time-ordered folds of the *training* seasons (``calibration_folds``); no test row is ever used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CalibrationMethod = Literal["sigmoid", "isotonic", "none"]


@dataclass(frozen=True)
class _Params:
    def as_dict(self) -> dict[str, Any]:
        """Plain ``{name: value}`` for logging (MLflow params, reports)."""
        return asdict(self)


@dataclass(frozen=True)
class GameLogisticParams(_Params):
    C: float = 0.01
    max_iter: int = 2000
    calibration: CalibrationMethod = "none"
    calibration_folds: int = 5


@dataclass(frozen=True)
class GameTreeParams(_Params):
    max_depth: int = 4
    min_samples_leaf: int = 50
    random_state: int = 0
    calibration: CalibrationMethod = "sigmoid"
    calibration_folds: int = 5


@dataclass(frozen=True)
class GameForestParams(_Params):
    n_estimators: int = 100
    max_depth: int | None = 10
    min_samples_leaf: int = 20
    max_features: float | str = 0.1
    n_jobs: int = 2
    random_state: int = 0
    calibration: CalibrationMethod = "sigmoid"
    calibration_folds: int = 5


@dataclass(frozen=True)
class PlayerLinearParams(_Params):
    fit_intercept: bool = True


@dataclass(frozen=True)
class PlayerRidgeParams(_Params):
    alpha: float = 10.0


@dataclass(frozen=True)
class PlayerLassoParams(_Params):
    alpha: float = 0.01
    max_iter: int = 5000


ModelParams = (
    GameLogisticParams
    | GameTreeParams
    | GameForestParams
    | PlayerLinearParams
    | PlayerRidgeParams
    | PlayerLassoParams
)

DEFAULT_PARAMS: dict[str, ModelParams] = {
    "game-logistic": GameLogisticParams(),
    "game-tree": GameTreeParams(),
    "game-forest": GameForestParams(),
    "player-linear": PlayerLinearParams(),
    "player-ridge": PlayerRidgeParams(),
    "player-lasso": PlayerLassoParams(),
}
