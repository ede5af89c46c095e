"""Reference predictors, scored on exactly the rows the models are scored on.

They are small scikit-learn style estimators (``fit(frame, y)`` returns self, learned state ends
in ``_``) that read the baseline-input columns of the feature frames (CONTRACTS):

- ``baseline-home``: P(home win) = the home-win rate of the training seasons, for every game. It
  always picks the home team, so its accuracy is the test season's home-win share.
- ``baseline-record``: the season-to-date record. P(home win) = logistic(a + b * (home_win_pct -
  away_win_pct)), with a and b fitted on the training seasons (a one-feature logistic
  regression). A pick is the home team when p >= 0.5: the better record wins, and the fitted
  intercept (home court) breaks ties and near-ties in favour of the home team.
- ``baseline-elo``: P(home win) = ``elo_home_prob`` (pre-game Elo, home advantage included).
- ``baseline-season-avg``: points = ``pts_avg_season``, else ``pts_avg_10``, else the training
  mean of points.
- ``baseline-last10``: points = ``pts_avg_10``, else ``pts_avg_season``, else the training mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression

GAME_BASELINES = ("baseline-home", "baseline-record", "baseline-elo")
POINTS_BASELINES = ("baseline-season-avg", "baseline-last10")
BASELINES = {"game": GAME_BASELINES, "points": POINTS_BASELINES}


def _target(y) -> np.ndarray:
    values = np.asarray(y, dtype=float).ravel()
    if values.size == 0 or np.isnan(values).any():
        raise ValueError("baselines are fitted on played rows only (non-empty, no NaN target)")
    return values


def _two_columns(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    return np.column_stack([1.0 - p, p])


class HomeBaseline(ClassifierMixin, BaseEstimator):
    """Always the home team, with the training home-win rate as its probability."""

    def fit(self, X: pd.DataFrame, y) -> HomeBaseline:
        self.home_rate_ = float(_target(y).mean())
        self.classes_ = np.array([0.0, 1.0])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return _two_columns(np.full(len(X), self.home_rate_))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(float)


class RecordBaseline(ClassifierMixin, BaseEstimator):
    """Season-to-date win% difference through a logistic mapping fitted on the training rows."""

    def _diff(self, X: pd.DataFrame) -> np.ndarray:
        diff = X["home_win_pct"].astype(float) - X["away_win_pct"].astype(float)
        return diff.fillna(0.0).to_numpy().reshape(-1, 1)

    def fit(self, X: pd.DataFrame, y) -> RecordBaseline:
        target = _target(y)
        self.mapping_ = LogisticRegression(C=1e6, max_iter=1000).fit(self._diff(X), target)
        self.intercept_ = float(self.mapping_.intercept_[0])
        self.slope_ = float(self.mapping_.coef_[0, 0])
        self.classes_ = np.array([0.0, 1.0])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return _two_columns(self.mapping_.predict_proba(self._diff(X))[:, 1])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(float)


class EloBaseline(ClassifierMixin, BaseEstimator):
    """The pre-game Elo probability as is; nothing is learned."""

    def fit(self, X: pd.DataFrame, y) -> EloBaseline:
        _target(y)
        self.classes_ = np.array([0.0, 1.0])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = X["elo_home_prob"].astype(float).fillna(0.5).to_numpy()
        return _two_columns(p)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(float)


class AverageBaseline(RegressorMixin, BaseEstimator):
    """A player's own average (``column``), then ``fallback``, then the training mean."""

    def __init__(self, column: str = "pts_avg_season", fallback: str = "pts_avg_10") -> None:
        self.column = column
        self.fallback = fallback

    def fit(self, X: pd.DataFrame, y) -> AverageBaseline:
        self.train_mean_ = float(_target(y).mean())
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        first = X[self.column].astype(float)
        second = X[self.fallback].astype(float)
        return first.fillna(second).fillna(self.train_mean_).to_numpy()


def make_baseline(name: str) -> BaseEstimator:
    """An unfitted baseline estimator by name."""
    match name:
        case "baseline-home":
            return HomeBaseline()
        case "baseline-record":
            return RecordBaseline()
        case "baseline-elo":
            return EloBaseline()
        case "baseline-season-avg":
            return AverageBaseline("pts_avg_season", "pts_avg_10")
        case "baseline-last10":
            return AverageBaseline("pts_avg_10", "pts_avg_season")
    raise ValueError(
        f"unknown baseline {name!r}; expected one of {GAME_BASELINES + POINTS_BASELINES}"
    )
