"""``FastPredictor``: the service's path from numpy rows through the fitted steps answers as the
pipeline does, without a scikit-learn warning per request, and leaves the pipeline untouched."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from serving.models import FastPredictor
from training.models import GAME_MODELS, POINTS_MODELS, make_model, task_of

COLUMNS = ["a", "b", "c"]


@pytest.mark.parametrize("name", [*GAME_MODELS, *POINTS_MODELS])
def test_the_fast_path_answers_as_the_pipeline_without_warnings(name):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=COLUMNS)
    frame.iloc[::7, 1] = np.nan  # imputed
    target = frame["a"].fillna(0) + rng.normal(scale=0.5, size=200)
    y = (target > 0).astype(int) if task_of(name) == "game" else target * 5 + 20
    model = make_model(name, feature_names=COLUMNS).fit(frame, y)
    predictor = FastPredictor(model, task_of(name))
    assert predictor.fast and predictor.columns == COLUMNS
    rows = frame.to_numpy()[:20]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = predictor.predict(rows)
        full = predictor.predict_full(rows)
    np.testing.assert_allclose(fast, full, atol=1e-9)
    assert predictor.verify(rows) <= 1e-9 and predictor.fast
    # the fast path works on a copy: the pipeline's own steps keep their column names
    impute = model.named_steps["select"].transformers_[0][1].steps[0][1]
    assert list(impute.feature_names_in_) == COLUMNS
