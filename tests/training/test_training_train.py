import numpy as np
import pytest
from matplotlib.figure import Figure

from tests.training.training_synthetic import FAST_PARAMS, GAME_FEATURES, PLAYER_FEATURES
from training.baselines import GAME_BASELINES, POINTS_BASELINES
from training.models import GAME_MODELS, POINTS_MODELS
from training.train import TrainedModel, train_final


@pytest.fixture(scope="module")
def trained(game_frame, player_frame) -> list[TrainedModel]:
    return train_final(
        game_frame,
        player_frame,
        eval_season="2018-19",
        params=FAST_PARAMS,
        game_features=GAME_FEATURES,
        player_features=PLAYER_FEATURES,
    )


def test_one_trained_model_per_model_name(trained):
    assert [t.name for t in trained] == [*GAME_MODELS, *POINTS_MODELS]
    assert {t.task for t in trained if t.name in GAME_MODELS} == {"game"}
    assert {t.task for t in trained if t.name in POINTS_MODELS} == {"points"}


def test_metric_keys(trained, backtest):
    for t in trained:
        baselines = GAME_BASELINES if t.task == "game" else POINTS_BASELINES
        primary = "log_loss" if t.task == "game" else "mae"
        assert t.metrics[primary] == t.metrics[f"{primary}.2018-19"]
        for b in baselines:
            assert f"baseline.{b}.{primary}" in t.metrics
        assert all(isinstance(v, float) and np.isfinite(v) for v in t.metrics.values())
        # identical to the walk-forward evaluation of the same season
        expected = backtest.metrics[t.task][t.name]["2018-19"][primary]
        assert t.metrics[primary] == pytest.approx(expected)


def test_final_models_are_refit_through_the_eval_season_only(trained):
    for t in trained:
        assert t.eval_season == "2018-19"
        assert t.train_seasons[-1] == "2018-19"
        assert "2019-20" not in t.train_seasons


def test_final_model_serves_its_input_example(trained):
    for t in trained:
        assert list(t.input_example.columns) == list(t.feature_names)
        assert len(t.input_example) == 5
        if t.task == "game":
            p = t.model.predict_proba(t.input_example)[:, 1]
            assert ((p > 0) & (p < 1)).all()
        else:
            assert np.isfinite(t.model.predict(t.input_example)).all()
        assert t.params == FAST_PARAMS[t.name].as_dict()


def test_figures(trained):
    for t in trained:
        expected = {"calibration", "roc"} if t.task == "game" else {"residuals"}
        kind = "importances" if t.name in ("game-tree", "game-forest") else "coefficients"
        assert set(t.figures) == expected | {kind}
        assert all(isinstance(f, Figure) for f in t.figures.values())


def test_figures_stay_out_of_pyplot(trained):
    import matplotlib.pyplot as plt

    from training.plots import calibration_figure

    before = plt.get_fignums()
    calibration_figure([0, 1, 1], [0.2, 0.7, 0.9])
    assert plt.get_fignums() == before


def test_figures_render(trained, tmp_path):
    fig = trained[0].figures["calibration"]
    path = tmp_path / "calibration.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
