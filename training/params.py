"""Hyperparameters per model: small frozen dataclasses, one per registered model name.

``DEFAULT_PARAMS`` was chosen by inner walk-forward validation on seasons *before* the test
seasons: validation seasons 2018-19, 2019-20 and 2020-21, each trained on every earlier season
(``training.tuning.validate_grid``); the test seasons 2021-22 ... 2023-24 were not used to choose
anything. The full log of what was tried is ``benchmarks/results/model_selection.md``. Mean
validation numbers (regular seasons of the shared snapshot, features of this commit):

- game-logistic, ``C=0.01``, no extra calibrator: log loss 0.6185, accuracy 65.7%, Brier 0.2148
  with the roster features and the Elo interaction; C 0.003 / 0.03 gave 0.6188 / 0.6185. Before
  them (0.6229 / 65.3% / 0.2169) C from 0.003 to 1 was all within 0.0003: the inputs are
  standardised and the small C keeps ~80 correlated rolling-form features from trading large
  opposite coefficients. There, a sigmoid calibrator on top gave 0.6228, isotonic 0.6235: the
  logistic model stays uncalibrated (its ECE is in every backtest report), and training on the
  last 8/12/16 seasons only gave 0.6248/0.6239/0.6233: every earlier season is used.
- game-tree, ``max_depth=4, min_samples_leaf=50``: log loss 0.6298. A single tree is the readable
  reference model.
- game-forest, 100 trees, ``max_depth=10, min_samples_leaf=20, max_features=0.1``, sigmoid on 5
  folds: log loss 0.6257.
- player-ridge ``alpha=10``: MAE 4.490, rotation MAE 5.064, flat from 1 to 100 (300: 5.067).
  player-lasso ``alpha=0.001``: MAE 4.491, rotation 5.064 (0.003: 5.066; 0.01: 5.071). All three
  linear models end within 0.01 points of each other; a gradient-boosted regressor (absolute
  error loss) on the same inputs was no better (rotation MAE 5.06), so points accuracy is bounded
  by the information in the features, not by the linear form.

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
    alpha: float = 0.001
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
