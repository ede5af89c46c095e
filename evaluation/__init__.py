"""Evaluation: how predictions are scored, shared by training (backtests, the gate), monitoring
(live performance of the champions) and serving (the interval a points version carries).
Pure numpy / pandas / scikit-learn; it imports no other package of the project.

- ``evaluation.metrics``    game / points metrics, calibration table, rotation filter
- ``evaluation.intervals``  points prediction intervals from out-of-sample residuals
"""
