"""Prometheus metrics of the prediction service, in a registry of its own (``/api/metrics``)."""

from __future__ import annotations

import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class ServiceMetrics:
    """Every metric the service exports; one instance per service process."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: one line per counter
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = time.time()
        r = self.registry
        self.predictions = Counter(
            "nba_predictions",
            "Predictions served, by model, version and endpoint.",
            ["model", "version", "endpoint"],
            registry=r,
        )
        self.latency = Histogram(
            "nba_request_latency_seconds",
            "Time to answer an /api request, by endpoint and status class.",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter(
            "nba_cache_hits", "Prediction cache hits.", ["endpoint"], registry=r
        )
        self.cache_misses = Counter(
            "nba_cache_misses", "Prediction cache misses.", ["endpoint"], registry=r
        )
        self.cache_errors = Counter(
            "nba_cache_errors", "Cache calls that failed (answer served uncached).", registry=r
        )
        self.errors = Counter(
            "nba_errors",
            "Answers with a 4xx or 5xx status, by endpoint and status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.auth_failures = Counter(
            "nba_auth_failures",
            "Rejected credentials or tokens, by reason.",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "nba_rate_limited", "Requests answered 429, by limit.", ["limit"], registry=r
        )
        self.models_loaded = Gauge(
            "nba_models_loaded", "Model versions held in memory.", registry=r
        )
        self.model_serving = Gauge(
            "nba_model_serving",
            "1 for the version each model name is answering with.",
            ["model", "version"],
            registry=r,
        )
        self.model_load_failures = Counter(
            "nba_model_load_failures", "Versions that failed to load.", ["model"], registry=r
        )
        self.records_written = Counter(
            "nba_records_written", "Rows written to the database, by table.", ["table"], registry=r
        )
        self.records_pending = Gauge(
            "nba_records_pending", "Rows waiting to be written to the database.", registry=r
        )
        self.records_dropped = Counter(
            "nba_records_dropped", "Rows given up (buffer and spool full).", registry=r
        )
        self.db_errors = Counter(
            "nba_database_errors", "Failed writes to the database (rows kept).", registry=r
        )
        self.uptime = Gauge("nba_uptime_seconds", "Seconds since the service started.", registry=r)
        self.uptime.set_function(lambda: time.time() - self.started)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def set_serving(self, serving: dict[str, str], loaded: int) -> None:
        """Publish which version each model answers with and how many versions are loaded."""
        self.model_serving.clear()
        for name, version in serving.items():
            self.model_serving.labels(model=name, version=version).set(1)
        self.models_loaded.set(loaded)
