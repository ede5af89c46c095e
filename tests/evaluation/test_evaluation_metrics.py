import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss, r2_score, roc_auc_score

from evaluation.metrics import (
    calibration_table,
    expected_calibration_error,
    game_metrics,
    mean_metrics,
    points_metrics,
    rotation_mask,
)


def test_calibration_table_and_ece_on_a_hand_case():
    # bins: 0.05 -> bin 0; 0.15, 0.15 -> bin 1; 0.95 and 1.0 -> bin 9 (1.0 joins the last bin)
    p = [0.05, 0.15, 0.15, 0.95, 1.0]
    y = [0, 1, 0, 1, 0]
    table = calibration_table(y, p)
    assert table["bin"].tolist() == [0, 1, 9]
    assert table["count"].tolist() == [1, 2, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.05, 0.15, 0.975])
    assert table["observed"].tolist() == pytest.approx([0.0, 0.5, 0.5])
    # (1*0.05 + 2*0.35 + 2*0.475) / 5
    assert expected_calibration_error(y, p) == pytest.approx((0.05 + 0.70 + 0.95) / 5)


def test_bin_edges_are_left_closed():
    table = calibration_table([1, 1], [0.1, 0.2])
    assert table["bin"].tolist() == [1, 2]


def test_perfectly_calibrated_constant_has_zero_ece():
    assert expected_calibration_error([1, 0, 1, 0], [0.5] * 4) == pytest.approx(0.0)


def test_game_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200).astype(float)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    m = game_metrics(y, p)
    assert m["n"] == 200
    assert m["accuracy"] == pytest.approx(np.mean((p >= 0.5) == (y == 1)))
    assert m["log_loss"] == pytest.approx(log_loss(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert set(m) == {"accuracy", "log_loss", "brier", "roc_auc", "ece", "n"}


def test_game_metrics_edge_cases():
    m = game_metrics([1.0, 1.0], [0.5, 1.0])
    assert m["accuracy"] == 1.0  # p == 0.5 picks the home team
    assert math.isnan(m["roc_auc"])  # one class only
    assert math.isfinite(game_metrics([0.0], [1.0])["log_loss"])  # clipped
    with pytest.raises(ValueError, match="NaN"):
        game_metrics([1.0, np.nan], [0.5, 0.5])


def test_rotation_mask_follows_the_contract():
    frame = pd.DataFrame(
        {
            "min_avg_season": [25.0, 20.0, 19.9, np.nan, 30.0],
            "pts_avg_season": [10.0, 8.0, 8.0, np.nan, np.nan],  # NaN = first game of season
        }
    )
    assert rotation_mask(frame).tolist() == [True, True, False, False, False]


def test_points_metrics_hand_case():
    y = np.array([10.0, 20.0, 30.0, 0.0])
    pred = np.array([12.0, 17.0, 30.0, 4.0])
    rot = np.array([True, True, False, False])
    m = points_metrics(y, pred, rot)
    assert m["mae"] == pytest.approx((2 + 3 + 0 + 4) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((4 + 9 + 0 + 16) / 4))
    assert m["r2"] == pytest.approx(r2_score(y, pred))
    assert m["mae_rotation"] == pytest.approx(2.5)
    assert (m["n"], m["n_rotation"]) == (4, 2)
    assert math.isnan(points_metrics(y, pred, np.zeros(4, bool))["mae_rotation"])


def test_mean_metrics_averages_seasons_and_sums_counts():
    per_season = {
        "a": {"mae": 1.0, "n": 10, "n_rotation": 3},
        "b": {"mae": 3.0, "n": 30, "n_rotation": 1},
    }
    assert mean_metrics(per_season) == {"mae": 2.0, "n": 40, "n_rotation": 4}
