import numpy as np
import pytest

from evaluation.intervals import (
    PointsInterval,
    constant_interval,
    coverage,
    fit_interval,
)


def _heteroscedastic(n: int, seed: int):
    """Predictions from 0 to 35 points; the error's spread grows with the prediction, as the
    real residuals' do (sd 2 at 0 points, 9 at 35)."""
    rng = np.random.default_rng(seed)
    predicted = rng.uniform(0, 35, n)
    actual = np.maximum(0.0, predicted + rng.normal(0, 2 + 0.2 * predicted))
    return actual, predicted


def test_the_bins_cover_their_level_where_one_width_does_not():
    interval = fit_interval(*_heteroscedastic(40_000, seed=1))
    actual, predicted = _heteroscedastic(40_000, seed=2)  # new rows
    low, high = interval.bounds(predicted)
    half = constant_interval(*_heteroscedastic(40_000, seed=1))
    one_low, one_high = np.maximum(0, predicted - half), predicted + half
    small, large = predicted < 5, predicted >= 30
    assert coverage(actual, low, high) == pytest.approx(0.8, abs=0.01)
    for rows in (small, large):
        assert coverage(actual[rows], low[rows], high[rows]) == pytest.approx(0.8, abs=0.03)
    # the one-size rule: far too wide for the small predictions, too narrow for the large
    assert coverage(actual[small], one_low[small], one_high[small]) > 0.95
    assert coverage(actual[large], one_low[large], one_high[large]) < 0.7


def test_quantiles_on_a_hand_case():
    # residuals 0..99 in the bin below 5 points, 0..-99 from 5 up; the 10% and 90% quantiles
    predicted = np.r_[np.full(100, 2.0), np.full(100, 7.0)]
    residual = np.r_[np.arange(100.0), -np.arange(100.0)]
    interval = fit_interval(predicted + residual, predicted, edges=(5.0,))
    assert interval.upper_edges == (5.0,)
    assert interval.rows == (100, 100)
    assert interval.low == pytest.approx((9.9, -89.1))
    assert interval.high == pytest.approx((89.1, -9.9))
    low, high = interval.bounds([2.0, 7.0, 100.0])
    assert low == pytest.approx([11.9, 0.0, 10.9])  # never below 0 points
    assert high == pytest.approx([91.1, 0.0, 90.1])


def test_a_bin_with_too_few_rows_joins_its_neighbour():
    predicted = np.r_[np.full(300, 3.0), np.full(300, 12.0), np.full(20, 33.0)]
    interval = fit_interval(predicted, predicted, min_rows=100)
    # 5-10, 15-20, 20-25 and 25-30 are empty, 30+ holds 20 rows: all merged away
    assert interval.rows == (300, 320)
    (edge,) = interval.upper_edges  # one edge left, between the two groups
    assert 3.0 < edge <= 12.0
    few = fit_interval([1.0, 2.0], [1.0, 2.0], min_rows=100)
    assert few.upper_edges == () and few.rows == (2,)


def test_it_round_trips_through_json_and_refuses_anything_else():
    interval = fit_interval(*_heteroscedastic(2_000, seed=3), basis="2023-24 residuals")
    assert PointsInterval.from_json(interval.to_json()) == interval
    for bad in (
        "{}",
        "[1, 2]",
        '{"level": 0.8, "upper_edges": [5], "low": [1], "high": [2], "rows": [3]}',
        "not json",
    ):
        with pytest.raises(ValueError, match="not a points interval"):
            PointsInterval.from_json(bad)


@pytest.mark.parametrize(
    ("actual", "predicted", "level", "message"),
    [
        ([], [], 0.8, "at least one"),
        ([1.0], [1.0, 2.0], 0.8, "as many"),
        ([np.nan], [1.0], 0.8, "NaN"),
        ([1.0], [1.0], 1.0, "level"),
    ],
)
def test_bad_input_is_refused(actual, predicted, level, message):
    with pytest.raises(ValueError, match=message):
        fit_interval(actual, predicted, level=level)
