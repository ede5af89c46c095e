import pytest

from tests.training.training_synthetic import PLAYER_FEATURES
from training.tuning import check_before, validate_grid


def test_validation_seasons_must_precede_the_test_seasons():
    check_before(["2017-18", "2018-19"], "2019-20")
    with pytest.raises(ValueError, match="2019-20"):
        check_before(["2018-19", "2019-20"], "2019-20")


def test_validate_grid_scores_every_combination(player_frame):
    table = validate_grid(
        player_frame,
        "player-ridge",
        {"alpha": [1.0, 1e6]},
        ["2017-18", "2018-19"],
        first_test_season="2019-20",
        feature_names=PLAYER_FEATURES,
    )
    assert table["alpha"].tolist() == [1.0, 1e6]  # sorted by MAE: huge alpha underfits
    assert {"mae", "mae_rotation", "mae.2017-18", "mae.2018-19", "n"} <= set(table.columns)
    assert table.loc[0, "mae"] < table.loc[1, "mae"]
    with pytest.raises(ValueError, match="not before"):
        validate_grid(
            player_frame,
            "player-ridge",
            {"alpha": [1.0]},
            ["2019-20"],
            first_test_season="2019-20",
            feature_names=PLAYER_FEATURES,
        )
