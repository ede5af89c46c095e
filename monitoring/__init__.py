"""Monitoring: drift and performance reports of the champions, and what to do about them.

- ``monitoring.windows``      current and phase-matched reference windows (pure)
- ``monitoring.predictions``  the ``predictions`` log: read, parse, append
- ``monitoring.performance``  logged predictions joined with played games; live metrics (pure)
- ``monitoring.reference``    a champion's reference rows and their cache
- ``monitoring.reports``      the Evidently reports: features, predictions, performance
- ``monitoring.decision``     thresholds, cooldown and new data: retrain or not (pure)
- ``monitoring.store``        report files, ``drift_reports`` rows, the index
- ``monitoring.tracking``     summaries and season scores on the champion's MLflow run
- ``monitoring.notify``       the log line and the webhook
- ``monitoring.replay``       the season replay's summary (pure)

The flows that use them are ``flows.drift`` and ``flows.replay``; ``flows.monitoring_cli``
holds their commands (``nba-mlops drift``, ``nba-mlops replay``).
"""
