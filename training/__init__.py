"""Training: builds and evaluates estimators, returns objects and metrics, writes nothing.

- ``training.params``    frozen hyperparameter dataclasses, ``DEFAULT_PARAMS``
- ``training.models``    ``GAME_MODELS``, ``POINTS_MODELS``, ``make_model`` (sklearn Pipelines)
- ``training.baselines`` the five reference predictors
- ``training.backtest``  ``walk_forward`` -> ``BacktestResult`` (CONTRACTS JSON, Markdown)
- ``training.train``     ``train_final`` -> ``TrainedModel`` list for the registry
- ``training.plots``     matplotlib ``Figure`` objects (no pyplot state)
- ``training.tuning``    inner walk-forward validation of hyperparameter grids
"""
